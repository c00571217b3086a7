//! The policy: a Qwen2/Llama-style decoder — RMSNorm, rotate-half RoPE with a position per row
//! (left-padded batches), grouped-query attention with optional q/k/v biases, SwiGLU, tied or
//! separate output head — and its KV cache for decoding one token at a time.

use burn::module::Initializer;
use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::tensor::activation::{silu, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::vision::{ImageSlot, Vision, VisionConfig, splice};

/// The shape of a decoder (Hugging Face's Qwen2 `config.json` fields).
#[derive(Clone, Debug, PartialEq)]
pub struct DecoderConfig {
    pub vocab: usize,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub ffn: usize,
    pub rms_eps: f64,
    pub rope_theta: f64,
    /// Whether the output head is the token embedding (small Qwen2 models).
    pub tie_embeddings: bool,
    /// Whether q, k and v projections have biases (Qwen2: yes; Llama: no).
    pub qkv_bias: bool,
    /// The vision encoder of a vision-language model.
    pub vision: Option<VisionConfig>,
}

impl DecoderConfig {
    /// `tiny(...)` of the prelude: a model made from scratch for CPU recipes.
    pub fn tiny(
        hidden: usize,
        layers: usize,
        heads: usize,
        kv_heads: usize,
        ffn: usize,
        vocab: usize,
    ) -> Self {
        DecoderConfig {
            vocab,
            hidden,
            layers,
            heads,
            kv_heads,
            ffn,
            rms_eps: 1e-6,
            rope_theta: 10_000.0,
            tie_embeddings: true,
            qkv_bias: true,
            vision: None,
        }
    }

    pub fn head_dim(&self) -> usize {
        self.hidden / self.heads
    }

    /// Checks what the layers below assume.
    pub fn validate(&self) -> Result<(), String> {
        if self.heads == 0 || !self.hidden.is_multiple_of(self.heads) {
            return Err(format!(
                "hidden size {} is not a multiple of {} heads",
                self.hidden, self.heads
            ));
        }
        if self.kv_heads == 0 || !self.heads.is_multiple_of(self.kv_heads) {
            return Err(format!(
                "{} heads are not a multiple of {} key/value heads",
                self.heads, self.kv_heads
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return Err(format!(
                "the head size {} must be even for rotary positions",
                self.head_dim()
            ));
        }
        if let Some(vision) = &self.vision {
            vision.validate()?;
            if vision.image_token as usize >= self.vocab {
                return Err("the image placeholder token is outside the vocabulary".into());
            }
        }
        Ok(())
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> Decoder<B> {
        // Hugging Face's initialisation (`initializer_range` 0.02): a tied head over N(0, 1)
        // embeddings would start far too confident.
        let normal = Initializer::Normal {
            mean: 0.0,
            std: 0.02,
        };
        let linear = |d_in: usize, d_out: usize, bias: bool| {
            LinearConfig::new(d_in, d_out)
                .with_bias(bias)
                .with_initializer(normal.clone())
                .init(device)
        };
        let head_dim = self.head_dim();
        let layers = (0..self.layers)
            .map(|_| Layer {
                input_norm: RmsNormConfig::new(self.hidden)
                    .with_epsilon(self.rms_eps)
                    .init(device),
                q: linear(self.hidden, self.heads * head_dim, self.qkv_bias),
                k: linear(self.hidden, self.kv_heads * head_dim, self.qkv_bias),
                v: linear(self.hidden, self.kv_heads * head_dim, self.qkv_bias),
                o: linear(self.heads * head_dim, self.hidden, false),
                post_norm: RmsNormConfig::new(self.hidden)
                    .with_epsilon(self.rms_eps)
                    .init(device),
                gate: linear(self.hidden, self.ffn, false),
                up: linear(self.hidden, self.ffn, false),
                down: linear(self.ffn, self.hidden, false),
                heads: self.heads,
                kv_heads: self.kv_heads,
            })
            .collect();
        Decoder {
            embed: EmbeddingConfig::new(self.vocab, self.hidden)
                .with_initializer(normal.clone())
                .init(device),
            layers,
            norm: RmsNormConfig::new(self.hidden)
                .with_epsilon(self.rms_eps)
                .init(device),
            head: (!self.tie_embeddings).then(|| linear(self.hidden, self.vocab, false)),
            visual: self.vision.as_ref().map(|v| v.init(device)),
            rope_theta: self.rope_theta,
        }
    }
}

#[derive(Module, Debug)]
pub struct Layer<B: Backend> {
    pub input_norm: RmsNorm<B>,
    pub q: Linear<B>,
    pub k: Linear<B>,
    pub v: Linear<B>,
    pub o: Linear<B>,
    pub post_norm: RmsNorm<B>,
    pub gate: Linear<B>,
    pub up: Linear<B>,
    pub down: Linear<B>,
    pub heads: usize,
    pub kv_heads: usize,
}

#[derive(Module, Debug)]
pub struct Decoder<B: Backend> {
    pub embed: Embedding<B>,
    pub layers: Vec<Layer<B>>,
    pub norm: RmsNorm<B>,
    /// `None` when the head is tied to the embedding.
    pub head: Option<Linear<B>>,
    /// The vision encoder of a vision-language model.
    pub visual: Option<Vision<B>>,
    pub rope_theta: f64,
}

/// Keys and values of the tokens seen so far, per layer, and which of them are padding.
pub struct KvCache<B: Backend> {
    layers: Vec<Option<(Tensor<B, 4>, Tensor<B, 4>)>>,
    /// Per row, whether each cached position is a real token.
    real: Vec<Vec<bool>>,
}

impl<B: Backend> KvCache<B> {
    pub fn new(layers: usize, batch: usize) -> Self {
        KvCache {
            layers: (0..layers).map(|_| None).collect(),
            real: vec![Vec::new(); batch],
        }
    }

    /// Tokens cached so far (padding included).
    pub fn len(&self) -> usize {
        self.real.first().map_or(0, Vec::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a forward pass reads besides the weights: the tokens `[batch, time]`, each token's position
/// in its row (left padding makes them differ per row), which tokens are real, and the images
/// whose features replace placeholder tokens (a vision-language model's prompts).
pub struct Input<B: Backend> {
    pub tokens: Tensor<B, 2, Int>,
    pub positions: Vec<Vec<usize>>,
    pub real: Vec<Vec<bool>>,
    pub images: Vec<ImageSlot>,
}

impl<B: Backend> Decoder<B> {
    /// Logits `[batch, time, vocab]`. With a cache, the new tokens attend to the cached ones and
    /// are appended to it.
    pub fn forward(&self, input: Input<B>, cache: Option<&mut KvCache<B>>) -> Tensor<B, 3> {
        let x = self.hidden(input, cache);
        match &self.head {
            Some(head) => dense(head, x),
            None => {
                let [batch, time, hidden] = x.dims();
                let weight = self.embed.weight.val(); // [vocab, hidden]
                let vocab = weight.dims()[0];
                x.reshape([batch * time, hidden])
                    .matmul(weight.transpose())
                    .reshape([batch, time, vocab])
            }
        }
    }

    /// The image placeholder token, for a vision-language model.
    pub fn image_token(&self) -> Option<u32> {
        self.visual.as_ref().map(|v| v.image_token as u32)
    }

    /// The final hidden states `[batch, time, hidden]` (after the last norm).
    pub fn hidden(&self, input: Input<B>, mut cache: Option<&mut KvCache<B>>) -> Tensor<B, 3> {
        let device = input.tokens.device();
        let [batch, time] = input.tokens.dims();
        let past = cache.as_ref().map_or(0, |c| c.len());
        let head_dim = self
            .layers
            .first()
            .map_or(0, |l| l.q.weight.dims()[1] / l.heads);
        let (cos, sin) = rope_tables::<B>(&input.positions, head_dim, self.rope_theta, &device);
        // Which keys each query may see: earlier or same position, not padding.
        let mut keys_real: Vec<Vec<bool>> = match &cache {
            Some(c) => c.real.clone(),
            None => vec![Vec::new(); batch],
        };
        for (row, new) in keys_real.iter_mut().zip(&input.real) {
            row.extend_from_slice(new);
        }
        let total = past + time;
        // An additive mask, `[batch, 1, repeat·time, total]`: the query rows of the heads that
        // share a key/value head are stacked (see `Layer::forward`), so the rows repeat. A large
        // negative rather than −∞: a padding query with no visible key stays finite.
        let repeat = self.layers.first().map_or(1, |l| l.heads / l.kv_heads);
        let mut additive = Vec::with_capacity(batch * repeat * time * total);
        for row in &keys_real {
            for _ in 0..repeat {
                for t in 0..time {
                    additive.extend(row.iter().enumerate().map(|(j, real)| {
                        if *real && j <= past + t { 0.0f32 } else { -1e9 }
                    }));
                }
            }
        }
        let masked = Tensor::<B, 4>::from_data(
            TensorData::new(additive, [batch, 1, repeat * time, total]),
            &device,
        );
        let mut x = self.embed.forward(input.tokens);
        if !input.images.is_empty() {
            let vision = self
                .visual
                .as_ref()
                .expect("images are only placed for a vision-language model");
            x = splice(x, vision, &input.images);
        }
        for (index, layer) in self.layers.iter().enumerate() {
            let slot = cache.as_deref_mut().map(|c| &mut c.layers[index]);
            x = layer.forward(x, &cos, &sin, &masked, slot);
        }
        if let Some(cache) = cache {
            cache.real = keys_real;
        }
        self.norm.forward(x)
    }
}

impl<B: Backend> Layer<B> {
    fn forward(
        &self,
        x: Tensor<B, 3>,
        cos: &Tensor<B, 4>,
        sin: &Tensor<B, 4>,
        masked: &Tensor<B, 4>,
        cache: Option<&mut Option<(Tensor<B, 4>, Tensor<B, 4>)>>,
    ) -> Tensor<B, 3> {
        let [batch, time, _] = x.dims();
        let head_dim = self.q.weight.dims()[1] / self.heads;
        let h = self.input_norm.forward(x.clone());
        let split = |t: Tensor<B, 3>, heads: usize| {
            t.reshape([batch, time, heads, head_dim]).swap_dims(1, 2)
        };
        let q = rotate(split(dense(&self.q, h.clone()), self.heads), cos, sin);
        let mut k = rotate(split(dense(&self.k, h.clone()), self.kv_heads), cos, sin);
        let mut v = split(dense(&self.v, h), self.kv_heads);
        if let Some(slot) = cache {
            if let Some((past_k, past_v)) = slot.take() {
                k = Tensor::cat(vec![past_k, k], 2);
                v = Tensor::cat(vec![past_v, v], 2);
            }
            *slot = Some((k.clone(), v.clone()));
        }
        // Grouped-query attention without copying keys and values per head: the query heads
        // sharing key/value head g (heads g·r .. g·r + r − 1, as Hugging Face's `repeat_kv`
        // orders them) are stacked along the query axis and attend to g's keys in one matmul.
        let repeat = self.heads / self.kv_heads;
        let q = q.reshape([batch, self.kv_heads, repeat * time, head_dim]);
        let scores = q.matmul(k.swap_dims(2, 3)) / (head_dim as f64).sqrt();
        let scores = scores + masked.clone();
        let attended = softmax(scores, 3).matmul(v); // [batch, kv_heads, repeat·time, head_dim]
        let attended = attended
            .reshape([batch, self.heads, time, head_dim])
            .swap_dims(1, 2)
            .reshape([batch, time, self.heads * head_dim]);
        let x = x + dense(&self.o, attended);
        let h = self.post_norm.forward(x.clone());
        let mlp = dense(
            &self.down,
            silu(dense(&self.gate, h.clone())) * dense(&self.up, h),
        );
        x + mlp
    }
}

/// A linear layer over the last axis as one 2-D matmul: Burn's linear multiplies a 3-D input
/// block by block against the broadcast weight, packing the weight again for every block.
pub(crate) fn dense<B: Backend>(layer: &Linear<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    let [batch, time, width] = x.dims();
    let y = layer.forward(x.reshape([batch * time, width]));
    let out = y.dims()[1];
    y.reshape([batch, time, out])
}

/// `x·cos + rotate_half(x)·sin`, Hugging Face's rotary embedding (the two halves of the head, not
/// adjacent pairs).
pub(crate) fn rotate<B: Backend>(
    x: Tensor<B, 4>,
    cos: &Tensor<B, 4>,
    sin: &Tensor<B, 4>,
) -> Tensor<B, 4> {
    let half = x.dims()[3] / 2;
    let first = x.clone().narrow(3, 0, half);
    let second = x.clone().narrow(3, half, half);
    let rotated = Tensor::cat(vec![second.neg(), first], 3);
    x * cos.clone() + rotated * sin.clone()
}

/// cos and sin of each row's positions, `[batch, 1, time, head_dim]`, computed on the host.
fn rope_tables<B: Backend>(
    positions: &[Vec<usize>],
    head_dim: usize,
    theta: f64,
    device: &B::Device,
) -> (Tensor<B, 4>, Tensor<B, 4>) {
    let batch = positions.len();
    let time = positions.first().map_or(0, Vec::len);
    let half = head_dim / 2;
    let mut cos = Vec::with_capacity(batch * time * head_dim);
    let mut sin = Vec::with_capacity(batch * time * head_dim);
    for row in positions {
        for &p in row {
            // The two halves of the head share their frequencies.
            for _ in 0..2 {
                for i in 0..half {
                    let frequency = 1.0 / theta.powf(2.0 * i as f64 / head_dim as f64);
                    let angle = p as f64 * frequency;
                    cos.push(angle.cos() as f32);
                    sin.push(angle.sin() as f32);
                }
            }
        }
    }
    let shape = [batch, 1, time, head_dim];
    (
        Tensor::from_data(TensorData::new(cos, shape), device),
        Tensor::from_data(TensorData::new(sin, shape), device),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;

    type B = NdArray<f32>;

    /// Left-padded rows: positions count real tokens only.
    fn batch(rows: &[Vec<Option<i64>>]) -> (Vec<i64>, Vec<Vec<usize>>, Vec<Vec<bool>>) {
        let mut tokens = Vec::new();
        let mut positions = Vec::new();
        let mut real = Vec::new();
        for row in rows {
            let mut seen = 0usize;
            let mut p = Vec::new();
            let mut r = Vec::new();
            for token in row {
                tokens.push(token.unwrap_or(0));
                p.push(seen);
                seen += usize::from(token.is_some());
                r.push(token.is_some());
            }
            positions.push(p);
            real.push(r);
        }
        (tokens, positions, real)
    }

    fn input(
        rows: &[Vec<Option<i64>>],
        device: &burn::backend::ndarray::NdArrayDevice,
    ) -> Input<B> {
        let (tokens, positions, real) = batch(rows);
        let shape = [rows.len(), rows[0].len()];
        Input {
            tokens: Tensor::from_data(TensorData::new(tokens, shape), device),
            positions,
            real,
            images: Vec::new(),
        }
    }

    #[test]
    fn cached_decoding_matches_full_recomputation() {
        let device = Default::default();
        let config = DecoderConfig::tiny(32, 2, 4, 2, 64, 50);
        config.validate().unwrap();
        let model: Decoder<B> = config.init(&device);
        // Row 0 is left-padded by two.
        let rows = vec![
            vec![None, None, Some(5), Some(9), Some(3), Some(7), Some(11)],
            vec![
                Some(1),
                Some(2),
                Some(4),
                Some(8),
                Some(16),
                Some(32),
                Some(3),
            ],
        ];
        let full = model.forward(input(&rows, &device), None);
        let mut cache = KvCache::new(config.layers, 2);
        let prefix: Vec<Vec<Option<i64>>> = rows.iter().map(|r| r[..4].to_vec()).collect();
        let mut steps = vec![model.forward(input(&prefix, &device), Some(&mut cache))];
        for t in 4..7 {
            // Positions continue from the prefix: compute them from the whole row.
            let (_, positions, real) = batch(&rows);
            let tokens: Vec<i64> = rows.iter().map(|r| r[t].unwrap_or(0)).collect();
            let step = Input {
                tokens: Tensor::from_data(TensorData::new(tokens, [2, 1]), &device),
                positions: positions.iter().map(|p| vec![p[t]]).collect(),
                real: real.iter().map(|r| vec![r[t]]).collect(),
                images: Vec::new(),
            };
            steps.push(model.forward(step, Some(&mut cache)));
        }
        assert_eq!(cache.len(), 7);
        let cached = Tensor::cat(steps, 1);
        let (full, cached) = (
            full.into_data().to_vec::<f32>().unwrap(),
            cached.into_data().to_vec::<f32>().unwrap(),
        );
        let vocab = config.vocab;
        let (_, _, real) = batch(&rows);
        for (row, flags) in real.iter().enumerate() {
            for (t, is_real) in flags.iter().enumerate() {
                if !is_real {
                    continue;
                }
                for v in 0..vocab {
                    let at = (row * 7 + t) * vocab + v;
                    assert!(
                        (full[at] - cached[at]).abs() < 1e-4,
                        "row {row} t {t}: {} vs {}",
                        full[at],
                        cached[at]
                    );
                }
            }
        }
    }

    #[test]
    fn padding_does_not_change_a_row() {
        let device = Default::default();
        let config = DecoderConfig::tiny(32, 2, 4, 1, 64, 50);
        let model: Decoder<B> = config.init(&device);
        let alone = model.forward(input(&[vec![Some(5), Some(9), Some(3)]], &device), None);
        let padded = model.forward(
            input(&[vec![None, None, Some(5), Some(9), Some(3)]], &device),
            None,
        );
        let alone = alone.into_data().to_vec::<f32>().unwrap();
        let padded = padded.into_data().to_vec::<f32>().unwrap();
        let skip = 2 * config.vocab;
        for (a, b) in alone.iter().zip(&padded[skip..]) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }
}
