//! Token log-probabilities of completions under a model: prompts left-padded to one width and
//! completions right-padded after them, so the logits that predict every completion token are one
//! slice of the output. The log-softmax is taken over that slice only (the prompt's positions
//! never reach the vocabulary-wide tensor).

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use std::sync::Arc;

use crate::model::{Decoder, Input};
use crate::sample::place;
use crate::vision::{ImageSlot, Pixels};

/// Prompts and completions laid out for one forward pass.
#[derive(Clone, Debug)]
pub struct Packed {
    pub rows: usize,
    /// Width of the left-padded prompts: completions start at this column.
    pub prompt_width: usize,
    /// Width of the right-padded completions.
    pub completion_width: usize,
    tokens: Vec<i64>,
    positions: Vec<Vec<usize>>,
    real: Vec<Vec<bool>>,
    /// The completion tokens, `[rows, completion_width]` (padding as 0).
    pub targets: Vec<i64>,
    /// 1 for completion tokens, 0 for padding, `[rows, completion_width]`.
    pub mask: Vec<f32>,
    /// The prompts' images and where their features go.
    pub images: Vec<ImageSlot>,
}

impl Packed {
    /// The same rows with each prompt's images placed (one list per row).
    pub fn with_images<B: Backend>(
        mut self,
        model: &Decoder<B>,
        images: &[Vec<Arc<Pixels>>],
    ) -> Result<Packed, String> {
        let width = self.prompt_width + self.completion_width;
        self.images = place(model, &self.tokens, width, images)?;
        Ok(self)
    }
}

pub fn pack(prompts: &[&[u32]], completions: &[&[u32]]) -> Packed {
    let rows = prompts.len();
    let prompt_width = prompts.iter().map(|p| p.len()).max().unwrap_or(0).max(1);
    let completion_width = completions
        .iter()
        .map(|c| c.len())
        .max()
        .unwrap_or(0)
        .max(1);
    let width = prompt_width + completion_width;
    let mut packed = Packed {
        rows,
        prompt_width,
        completion_width,
        tokens: Vec::with_capacity(rows * width),
        positions: Vec::with_capacity(rows),
        real: Vec::with_capacity(rows),
        targets: Vec::with_capacity(rows * completion_width),
        mask: Vec::with_capacity(rows * completion_width),
        images: Vec::new(),
    };
    for (prompt, completion) in prompts.iter().zip(completions) {
        let pad = prompt_width - prompt.len();
        let used = prompt.len() + completion.len();
        let row_tokens = std::iter::repeat_n(0, pad)
            .chain(
                prompt
                    .iter()
                    .chain(completion.iter())
                    .map(|&t| i64::from(t)),
            )
            .chain(std::iter::repeat_n(0, completion_width - completion.len()));
        packed.tokens.extend(row_tokens);
        packed.positions.push(
            (0..width)
                .map(|i| i.saturating_sub(pad).min(used.max(1) - 1))
                .collect(),
        );
        packed
            .real
            .push((0..width).map(|i| i >= pad && i < pad + used).collect());
        for j in 0..completion_width {
            packed
                .targets
                .push(completion.get(j).map_or(0, |&t| i64::from(t)));
            packed
                .mask
                .push(if j < completion.len() { 1.0 } else { 0.0 });
        }
    }
    packed
}

/// Per-token log-probs of the completions `[rows, completion_width]` (0 at padding), and the
/// per-token entropy of the model's distribution when asked.
pub fn token_log_probs<B: Backend>(
    model: &Decoder<B>,
    packed: &Packed,
    with_entropy: bool,
    device: &B::Device,
) -> (Tensor<B, 2>, Option<Tensor<B, 2>>) {
    let width = packed.prompt_width + packed.completion_width;
    let input = Input {
        tokens: Tensor::<B, 2, Int>::from_data(
            TensorData::new(packed.tokens.clone(), [packed.rows, width]),
            device,
        ),
        positions: packed.positions.clone(),
        real: packed.real.clone(),
        images: packed.images.clone(),
    };
    let logits = model.forward(input, None);
    // Position p predicts token p + 1: the completion's tokens are predicted from one earlier.
    let predicting = logits.narrow(1, packed.prompt_width - 1, packed.completion_width);
    let log_probs = log_softmax(predicting, 2);
    let targets = Tensor::<B, 2, Int>::from_data(
        TensorData::new(
            packed.targets.clone(),
            [packed.rows, packed.completion_width],
        ),
        device,
    );
    let mask = mask_tensor::<B>(packed, device);
    let chosen = log_probs
        .clone()
        .gather(2, targets.unsqueeze_dim(2))
        .squeeze_dim::<2>(2)
        * mask.clone();
    let entropy = with_entropy.then(|| {
        (log_probs.clone().exp() * log_probs)
            .sum_dim(2)
            .squeeze_dim::<2>(2)
            .neg()
            * mask
    });
    (chosen, entropy)
}

pub fn mask_tensor<B: Backend>(packed: &Packed, device: &B::Device) -> Tensor<B, 2> {
    Tensor::from_data(
        TensorData::new(packed.mask.clone(), [packed.rows, packed.completion_width]),
        device,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DecoderConfig;
    use burn::backend::NdArray;
    use burn::tensor::activation::log_softmax;

    type B = NdArray<f32>;

    #[test]
    fn log_probs_match_one_sequence_at_a_time() {
        let device = Default::default();
        let model: Decoder<B> = DecoderConfig::tiny(32, 2, 4, 2, 64, 30).init(&device);
        let prompts: Vec<Vec<u32>> = vec![vec![1, 2, 3], vec![4]];
        let completions: Vec<Vec<u32>> = vec![vec![5, 6], vec![7, 8, 9, 10]];
        fn refs(v: &[Vec<u32>]) -> Vec<&[u32]> {
            v.iter().map(|x| x.as_slice()).collect()
        }
        let packed = pack(&refs(&prompts), &refs(&completions));
        let (batched, _) = token_log_probs(&model, &packed, false, &device);
        let batched = batched.into_data().to_vec::<f32>().unwrap();
        for (row, (prompt, completion)) in prompts.iter().zip(&completions).enumerate() {
            let sequence: Vec<i64> = prompt.iter().chain(completion).map(|&t| t as i64).collect();
            let n = sequence.len();
            let logits = model.forward(
                Input {
                    tokens: Tensor::from_data(TensorData::new(sequence.clone(), [1, n]), &device),
                    positions: vec![(0..n).collect()],
                    real: vec![vec![true; n]],
                    images: Vec::new(),
                },
                None,
            );
            let all = log_softmax(logits, 2).into_data().to_vec::<f32>().unwrap();
            for (j, &token) in completion.iter().enumerate() {
                let at = prompt.len() + j - 1;
                let expected = all[at * 30 + token as usize];
                let got = batched[row * packed.completion_width + j];
                assert!(
                    (expected - got).abs() < 1e-4,
                    "row {row} token {j}: {got} vs {expected}"
                );
            }
            for j in completion.len()..packed.completion_width {
                assert_eq!(batched[row * packed.completion_width + j], 0.0);
            }
        }
    }
}
