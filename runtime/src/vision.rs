//! The vision side of a vision-language policy, laid out as Qwen2-VL's: images resized so each side
//! is a multiple of `patch · merge` within pixel bounds (`smart_resize`), normalised with CLIP's
//! mean and deviation, cut into patches ordered so every `merge × merge` block is contiguous; a
//! patch embedding, transformer blocks with 2-D rotary positions (half the head for the row, half
//! for the column), and a merger that turns each block of patches into one decoder token. Module
//! names follow Hugging Face's `visual.*` (see `hf::hf_name`), so Qwen2-VL weights can be mapped
//! onto them (its Conv3d patch embedding summed over its two frames is this linear one).

use std::path::Path;
use std::sync::Arc;

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, sigmoid, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::model::{dense, rotate};

/// CLIP's normalisation, which Qwen2-VL's processor uses.
const MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
const STD: [f32; 3] = [0.268_629_5, 0.261_302_6, 0.275_777_1];

/// The shape of a vision encoder and how images are prepared for it.
#[derive(Clone, Debug, PartialEq)]
pub struct VisionConfig {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    /// Side of a square patch, in pixels.
    pub patch: usize,
    /// Side of the block of patches merged into one decoder token.
    pub merge: usize,
    pub min_pixels: usize,
    pub max_pixels: usize,
    /// The decoder's width, which the merger projects to.
    pub out_hidden: usize,
    /// The placeholder token whose embeddings the image's features replace.
    pub image_token: u32,
}

impl VisionConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.heads == 0 || !self.hidden.is_multiple_of(self.heads) {
            return Err(format!(
                "vision width {} is not a multiple of {} heads",
                self.hidden, self.heads
            ));
        }
        if !(self.hidden / self.heads).is_multiple_of(4) {
            return Err(format!(
                "the vision head size {} must be a multiple of 4 for 2-D rotary positions",
                self.hidden / self.heads
            ));
        }
        if self.patch == 0 || self.merge == 0 {
            return Err("`patch` must be positive".into());
        }
        if self.min_pixels > self.max_pixels {
            return Err(format!(
                "`min_pixels` {} is above `max_pixels` {}",
                self.min_pixels, self.max_pixels
            ));
        }
        Ok(())
    }

    /// The side every resized dimension is a multiple of.
    pub fn factor(&self) -> usize {
        self.patch * self.merge
    }

    /// The decoder tokens an image of `width × height` pixels takes.
    pub fn tokens_for(&self, width: usize, height: usize) -> Result<usize, String> {
        let (h, w) = smart_resize(
            height,
            width,
            self.factor(),
            self.min_pixels,
            self.max_pixels,
        )?;
        Ok(h * w / (self.factor() * self.factor()))
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> Vision<B> {
        let linear = |d_in: usize, d_out: usize| LinearConfig::new(d_in, d_out).init(device);
        let norm = |d: usize| LayerNormConfig::new(d).with_epsilon(1e-6).init(device);
        let merged = self.hidden * self.merge * self.merge;
        Vision {
            patch_embed: PatchEmbed {
                proj: LinearConfig::new(3 * self.patch * self.patch, self.hidden)
                    .with_bias(false)
                    .init(device),
            },
            blocks: (0..self.layers)
                .map(|_| VisionBlock {
                    norm1: norm(self.hidden),
                    attn: VisionAttention {
                        qkv: linear(self.hidden, 3 * self.hidden),
                        proj: linear(self.hidden, self.hidden),
                    },
                    norm2: norm(self.hidden),
                    mlp: VisionMlp {
                        fc1: linear(self.hidden, 4 * self.hidden),
                        fc2: linear(4 * self.hidden, self.hidden),
                    },
                })
                .collect(),
            merger: Merger {
                ln_q: norm(self.hidden),
                mlp0: linear(merged, merged),
                mlp2: linear(merged, self.out_hidden),
            },
            heads: self.heads,
            merge: self.merge,
            image_token: self.image_token as usize,
        }
    }
}

/// Qwen2-VL's `smart_resize`: `(height, width)` rounded to multiples of `factor`, scaled to keep
/// the pixel count within `[min_pixels, max_pixels]` and the aspect ratio about the same.
pub fn smart_resize(
    height: usize,
    width: usize,
    factor: usize,
    min_pixels: usize,
    max_pixels: usize,
) -> Result<(usize, usize), String> {
    if height == 0 || width == 0 {
        return Err(format!("the image is {width}×{height} pixels"));
    }
    if height.max(width) as f64 / height.min(width) as f64 > 200.0 {
        return Err(format!(
            "the image is {width}×{height} pixels: an aspect ratio above 200 cannot be resized"
        ));
    }
    let f = factor as f64;
    let (h, w) = (height as f64, width as f64);
    // Python's `round` (ties to even), as in transformers.
    let round = |x: f64| (x / f).round_ties_even() * f;
    let (mut h_bar, mut w_bar) = (round(h), round(w));
    if h_bar * w_bar > max_pixels as f64 {
        let beta = (h * w / max_pixels as f64).sqrt();
        h_bar = ((h / beta / f).floor() * f).max(f);
        w_bar = ((w / beta / f).floor() * f).max(f);
    } else if h_bar * w_bar < min_pixels as f64 {
        let beta = (min_pixels as f64 / (h * w)).sqrt();
        h_bar = (h * beta / f).ceil() * f;
        w_bar = (w * beta / f).ceil() * f;
    }
    Ok((h_bar as usize, w_bar as usize))
}

/// An image ready for the encoder: `[patches, 3·patch·patch]` values, patches in merge-block
/// order, and the grid of patches `(rows, columns)`.
#[derive(Debug, PartialEq)]
pub struct Pixels {
    pub grid: (usize, usize),
    pub values: Vec<f32>,
    pub merge: usize,
}

impl Pixels {
    pub fn patches(&self) -> usize {
        self.grid.0 * self.grid.1
    }

    /// The decoder tokens the image becomes.
    pub fn tokens(&self) -> usize {
        self.patches() / (self.merge * self.merge)
    }
}

/// Reads an image file (PNG, JPEG or WebP) and prepares it for the encoder.
pub fn load_image(path: &Path, config: &VisionConfig) -> Result<Pixels, String> {
    let image = read_rgb(path)?;
    prepare(&image, config).map_err(|e| format!("`{}`: {e}", path.display()))
}

/// An image file (PNG, JPEG or WebP) decoded to RGB.
fn read_rgb(path: &Path) -> Result<image::RgbImage, String> {
    let shown = path.display();
    Ok(image::ImageReader::open(path)
        .map_err(|e| format!("`{shown}`: cannot read the image: {e}"))?
        .with_guessed_format()
        .map_err(|e| format!("`{shown}`: cannot read the image: {e}"))?
        .decode()
        .map_err(|e| format!("`{shown}`: not a readable image: {e}"))?
        .to_rgb8())
}

/// Reads an image file and blackens `patch`-pixel squares of it, each with probability `prob`
/// (PAPO's `random_patch_blackening`: on the original pixels, before the resize), then prepares it.
pub fn load_masked_image(
    path: &Path,
    config: &VisionConfig,
    patch: u32,
    prob: f64,
    rng: &mut crate::sample::Rng,
) -> Result<Pixels, String> {
    let mut image = read_rgb(path)?;
    blacken_patches(&mut image, patch, prob, rng);
    prepare(&image, config).map_err(|e| format!("`{}`: {e}", path.display()))
}

/// Sets each `patch × patch` square (the last row and column of squares may be cut short) to
/// black with probability `prob`, squares in row-major order.
pub fn blacken_patches(
    image: &mut image::RgbImage,
    patch: u32,
    prob: f64,
    rng: &mut crate::sample::Rng,
) {
    let (width, height) = image.dimensions();
    let patch = patch.max(1);
    for y in (0..height).step_by(patch as usize) {
        for x in (0..width).step_by(patch as usize) {
            if rng.next_f64() < prob {
                for yy in y..(y + patch).min(height) {
                    for xx in x..(x + patch).min(width) {
                        image.put_pixel(xx, yy, image::Rgb([0, 0, 0]));
                    }
                }
            }
        }
    }
}

/// Resizes (bicubic, as Qwen2-VL's processor), normalises and cuts an image into patches.
pub fn prepare(image: &image::RgbImage, config: &VisionConfig) -> Result<Pixels, String> {
    let (width, height) = image.dimensions();
    let (h, w) = smart_resize(
        height as usize,
        width as usize,
        config.factor(),
        config.min_pixels,
        config.max_pixels,
    )?;
    let resized = if (w, h) == (width as usize, height as usize) {
        image.clone()
    } else {
        image::imageops::resize(
            image,
            w as u32,
            h as u32,
            image::imageops::FilterType::CatmullRom,
        )
    };
    let (p, m) = (config.patch, config.merge);
    let (rows, columns) = (h / p, w / p);
    let mut values = Vec::with_capacity(rows * columns * 3 * p * p);
    for (row, column) in patch_order(rows, columns, m) {
        for channel in 0..3 {
            for y in 0..p {
                for x in 0..p {
                    let pixel = resized.get_pixel((column * p + x) as u32, (row * p + y) as u32);
                    let value = f32::from(pixel[channel]) / 255.0;
                    values.push((value - MEAN[channel]) / STD[channel]);
                }
            }
        }
    }
    Ok(Pixels {
        grid: (rows, columns),
        values,
        merge: m,
    })
}

/// `(row, column)` of each patch: block by block of `merge × merge`, row-major inside a block.
fn patch_order(rows: usize, columns: usize, merge: usize) -> Vec<(usize, usize)> {
    let mut order = Vec::with_capacity(rows * columns);
    for block_row in 0..rows / merge {
        for block_column in 0..columns / merge {
            for r in 0..merge {
                for c in 0..merge {
                    order.push((block_row * merge + r, block_column * merge + c));
                }
            }
        }
    }
    order
}

#[derive(Module, Debug)]
pub struct PatchEmbed<B: Backend> {
    pub proj: Linear<B>,
}

#[derive(Module, Debug)]
pub struct VisionAttention<B: Backend> {
    pub qkv: Linear<B>,
    pub proj: Linear<B>,
}

#[derive(Module, Debug)]
pub struct VisionMlp<B: Backend> {
    pub fc1: Linear<B>,
    pub fc2: Linear<B>,
}

#[derive(Module, Debug)]
pub struct VisionBlock<B: Backend> {
    pub norm1: LayerNorm<B>,
    pub attn: VisionAttention<B>,
    pub norm2: LayerNorm<B>,
    pub mlp: VisionMlp<B>,
}

/// Hugging Face's `merger.mlp` is a Sequential (Linear, GELU, Linear): `mlp.0` and `mlp.2`.
#[derive(Module, Debug)]
pub struct Merger<B: Backend> {
    pub ln_q: LayerNorm<B>,
    pub mlp0: Linear<B>,
    pub mlp2: Linear<B>,
}

#[derive(Module, Debug)]
pub struct Vision<B: Backend> {
    pub patch_embed: PatchEmbed<B>,
    pub blocks: Vec<VisionBlock<B>>,
    pub merger: Merger<B>,
    pub heads: usize,
    pub merge: usize,
    pub image_token: usize,
}

impl<B: Backend> Vision<B> {
    /// The decoder-token features of each image, `[tokens, out_hidden]` each. Images of one grid
    /// go through the blocks together.
    pub fn forward(&self, images: &[&Pixels], device: &B::Device) -> Vec<Tensor<B, 2>> {
        let mut out: Vec<Option<Tensor<B, 2>>> = vec![None; images.len()];
        let mut grids: Vec<(usize, usize)> = images.iter().map(|i| i.grid).collect();
        grids.sort();
        grids.dedup();
        for grid in grids {
            let members: Vec<usize> = (0..images.len())
                .filter(|&i| images[i].grid == grid)
                .collect();
            let patches = images[members[0]].patches();
            let width = images[members[0]].values.len() / patches;
            let values: Vec<f32> = members
                .iter()
                .flat_map(|&i| images[i].values.iter().copied())
                .collect();
            let x = Tensor::<B, 3>::from_data(
                TensorData::new(values, [members.len(), patches, width]),
                device,
            );
            let features = self.encode(x, grid, device); // [n, tokens, out_hidden]
            for (k, &i) in members.iter().enumerate() {
                out[i] = Some(features.clone().narrow(0, k, 1).squeeze_dim::<2>(0));
            }
        }
        out.into_iter()
            .map(|t| t.expect("every image encoded"))
            .collect()
    }

    fn encode(&self, x: Tensor<B, 3>, grid: (usize, usize), device: &B::Device) -> Tensor<B, 3> {
        let [n, patches, _] = x.dims();
        let mut x = dense(&self.patch_embed.proj, x);
        let hidden = x.dims()[2];
        let head_dim = hidden / self.heads;
        let (cos, sin) = rope_2d::<B>(grid, self.merge, head_dim, device);
        for block in &self.blocks {
            let h = block.norm1.forward(x.clone());
            let qkv = dense(&block.attn.qkv, h).reshape([n, patches, 3, self.heads, head_dim]);
            let part = |i: usize| {
                qkv.clone()
                    .narrow(2, i, 1)
                    .reshape([n, patches, self.heads, head_dim])
                    .swap_dims(1, 2)
            };
            let q = rotate(part(0), &cos, &sin);
            let k = rotate(part(1), &cos, &sin);
            let scores = q.matmul(k.swap_dims(2, 3)) / (head_dim as f64).sqrt();
            let attended = softmax(scores, 3)
                .matmul(part(2))
                .swap_dims(1, 2)
                .reshape([n, patches, hidden]);
            x = x + dense(&block.attn.proj, attended);
            let h = block.norm2.forward(x.clone());
            let h = dense(&block.mlp.fc1, h);
            // QuickGELU, as in Qwen2-VL's vision blocks.
            let h = h.clone() * sigmoid(h * 1.702);
            x = x + dense(&block.mlp.fc2, h);
        }
        let blocks = self.merge * self.merge;
        let x = self
            .merger
            .ln_q
            .forward(x)
            .reshape([n, patches / blocks, hidden * blocks]);
        dense(&self.merger.mlp2, gelu(dense(&self.merger.mlp0, x)))
    }
}

/// Qwen2-VL's vision rotary table: a quarter of the head's frequencies turn with the patch's row,
/// a quarter with its column, and the two halves of the head repeat them. `[1, 1, patches, head]`.
fn rope_2d<B: Backend>(
    grid: (usize, usize),
    merge: usize,
    head_dim: usize,
    device: &B::Device,
) -> (Tensor<B, 4>, Tensor<B, 4>) {
    let quarter = head_dim / 4;
    let frequencies: Vec<f64> = (0..quarter)
        .map(|i| 1.0 / 10_000f64.powf(2.0 * i as f64 / (head_dim / 2) as f64))
        .collect();
    let order = patch_order(grid.0, grid.1, merge);
    let mut cos = Vec::with_capacity(order.len() * head_dim);
    let mut sin = Vec::with_capacity(order.len() * head_dim);
    for (row, column) in &order {
        for _ in 0..2 {
            for position in [*row, *column] {
                for f in &frequencies {
                    let angle = position as f64 * f;
                    cos.push(angle.cos() as f32);
                    sin.push(angle.sin() as f32);
                }
            }
        }
    }
    let shape = [1, 1, order.len(), head_dim];
    (
        Tensor::from_data(TensorData::new(cos, shape), device),
        Tensor::from_data(TensorData::new(sin, shape), device),
    )
}

/// Where an image's features go in a forward pass: its first placeholder, as a flat index
/// `row · time + column` into the batch; its `tokens()` placeholders follow one another.
#[derive(Clone, Debug)]
pub struct ImageSlot {
    pub pixels: Arc<Pixels>,
    pub start: usize,
}

/// The slots of each row's images, in order, found by scanning a `[rows, width]` block of token
/// ids for the placeholder token.
pub fn place_images(
    tokens: &[i64],
    width: usize,
    image_token: u32,
    images: &[Vec<Arc<Pixels>>],
) -> Result<Vec<ImageSlot>, String> {
    let mut slots = Vec::new();
    for (row, row_images) in images.iter().enumerate() {
        let ids = &tokens[row * width..(row + 1) * width];
        let mut at = 0;
        for pixels in row_images {
            let start = (at..width)
                .find(|&t| ids[t] == i64::from(image_token))
                .ok_or_else(|| format!("row {row} has fewer image placeholders than images"))?;
            let end = start + pixels.tokens();
            if end > width || ids[start..end].iter().any(|&t| t != i64::from(image_token)) {
                return Err(format!(
                    "row {row}: an image of {} tokens does not match its placeholders",
                    pixels.tokens()
                ));
            }
            slots.push(ImageSlot {
                pixels: pixels.clone(),
                start: row * width + start,
            });
            at = end;
        }
    }
    Ok(slots)
}

/// Embeddings `[batch, time, hidden]` with each image's placeholders replaced by its features.
/// One `select` over the embeddings and the features stacked keeps gradients flowing to both.
pub fn splice<B: Backend>(
    embeddings: Tensor<B, 3>,
    vision: &Vision<B>,
    slots: &[ImageSlot],
) -> Tensor<B, 3> {
    let device = embeddings.device();
    let [batch, time, hidden] = embeddings.dims();
    // Each distinct image is encoded once, however many rows show it (a group shares a prompt).
    let mut distinct: Vec<&Arc<Pixels>> = Vec::new();
    let mut which = Vec::with_capacity(slots.len());
    for slot in slots {
        match distinct.iter().position(|p| Arc::ptr_eq(p, &slot.pixels)) {
            Some(i) => which.push(i),
            None => {
                which.push(distinct.len());
                distinct.push(&slot.pixels);
            }
        }
    }
    let pixels: Vec<&Pixels> = distinct.iter().map(|p| p.as_ref()).collect();
    let features = vision.forward(&pixels, &device);
    let mut offsets = Vec::with_capacity(features.len());
    let mut total = batch * time;
    for f in &features {
        offsets.push(total);
        total += f.dims()[0];
    }
    let mut index: Vec<i64> = (0..(batch * time) as i64).collect();
    for (slot, &i) in slots.iter().zip(&which) {
        for k in 0..slot.pixels.tokens() {
            index[slot.start + k] = (offsets[i] + k) as i64;
        }
    }
    let mut stacked = vec![embeddings.reshape([batch * time, hidden])];
    stacked.extend(features);
    let index = Tensor::<B, 1, burn::tensor::Int>::from_data(
        TensorData::new(index, [batch * time]),
        &device,
    );
    Tensor::cat(stacked, 0)
        .select(0, index)
        .reshape([batch, time, hidden])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smart_resize_matches_qwen2_vl() {
        // Values from transformers' `smart_resize(h, w, factor=28, min_pixels=56*56,
        // max_pixels=28*28*1280)`.
        let (min, max) = (56 * 56, 28 * 28 * 1280);
        assert_eq!(smart_resize(480, 640, 28, min, max).unwrap(), (476, 644));
        assert_eq!(smart_resize(20, 30, 28, min, max).unwrap(), (56, 84));
        assert_eq!(smart_resize(2000, 3000, 28, min, max).unwrap(), (812, 1204));
        assert_eq!(smart_resize(13, 2000, 28, min, max).unwrap(), (28, 700));
        assert_eq!(smart_resize(42, 70, 28, min, max).unwrap(), (56, 56));
        assert!(smart_resize(10, 3000, 28, min, max).is_err());
    }

    #[test]
    fn patches_come_in_merge_blocks() {
        assert_eq!(
            patch_order(2, 4, 2),
            vec![
                (0, 0),
                (0, 1),
                (1, 0),
                (1, 1),
                (0, 2),
                (0, 3),
                (1, 2),
                (1, 3)
            ]
        );
    }
}
