//! Rollouts: batched sampling with the KV cache — the prompts left-padded and prefilled together,
//! then one token per step for every unfinished row — with temperature, top-k, top-p, stop tokens
//! and a token limit. Choices are made on the host from a seeded generator, so a rollout is
//! reproducible from its seed whatever the backend.

use std::sync::Arc;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::model::{Decoder, Input, KvCache};
use crate::vision::{ImageSlot, Pixels, place_images};

#[derive(Clone, Debug, PartialEq)]
pub struct Sampling {
    /// 0 chooses the most likely token (greedy decoding).
    pub temperature: f64,
    /// Keep the smallest set of most likely tokens whose probability reaches this (1: all).
    pub top_p: f64,
    /// Keep this many most likely tokens (0: all).
    pub top_k: usize,
    pub max_tokens: usize,
    /// Tokens that end a completion (kept in it).
    pub stop: Vec<u32>,
    /// Token sequences that end a completion when it ends with one (stop strings).
    pub stop_sequences: Vec<Vec<u32>>,
}

impl Sampling {
    fn stops(&self, tokens: &[u32]) -> bool {
        tokens.last().is_some_and(|t| self.stop.contains(t))
            || self
                .stop_sequences
                .iter()
                .any(|s| !s.is_empty() && tokens.ends_with(s))
    }
}

/// A sampled completion.
#[derive(Clone, Debug, PartialEq)]
pub struct Sampled {
    pub tokens: Vec<u32>,
    /// The token limit stopped it rather than a stop token.
    pub truncated: bool,
}

/// A small, seedable generator (SplitMix64): the same seed gives the same rollouts.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.next_f64(); // (0, 1]: the logarithm is finite
        let v = self.next_f64();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Chooses a token from one row of logits.
pub fn choose(logits: &[f32], sampling: &Sampling, rng: &mut Rng) -> u32 {
    let argmax = || {
        logits
            .iter()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |best, (i, &l)| {
                if l > best.1 { (i, l) } else { best }
            })
            .0 as u32
    };
    if sampling.temperature <= 0.0 || sampling.top_k == 1 {
        return argmax();
    }
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    if sampling.top_k > 0 {
        order.truncate(sampling.top_k);
    }
    let top = f64::from(logits[order[0]]);
    let mut weights: Vec<f64> = order
        .iter()
        .map(|&i| ((f64::from(logits[i]) - top) / sampling.temperature).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    if sampling.top_p < 1.0 {
        let mut mass = 0.0;
        let keep = weights
            .iter()
            .position(|w| {
                mass += w / total;
                mass >= sampling.top_p
            })
            .map_or(weights.len(), |i| i + 1);
        weights.truncate(keep);
    }
    let total: f64 = weights.iter().sum();
    let mut draw = rng.next_f64() * total;
    for (i, w) in weights.iter().enumerate() {
        draw -= w;
        if draw < 0.0 {
            return order[i] as u32;
        }
    }
    order[weights.len() - 1] as u32
}

/// Samples a completion for each prompt.
pub fn generate<B: Backend>(
    model: &Decoder<B>,
    prompts: &[Vec<u32>],
    sampling: &Sampling,
    rng: &mut Rng,
    device: &B::Device,
) -> Vec<Sampled> {
    generate_with_images(model, prompts, &[], sampling, rng, device)
        .expect("text prompts place no images")
}

/// Samples a completion for each prompt, each with its images (one list per prompt, or none at
/// all for text prompts). The images enter once, when the prompts fill the cache.
pub fn generate_with_images<B: Backend>(
    model: &Decoder<B>,
    prompts: &[Vec<u32>],
    images: &[Vec<Arc<Pixels>>],
    sampling: &Sampling,
    rng: &mut Rng,
    device: &B::Device,
) -> Result<Vec<Sampled>, String> {
    let batch = prompts.len();
    let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let mut tokens = Vec::with_capacity(batch * longest);
    let mut positions = Vec::with_capacity(batch);
    let mut real = Vec::with_capacity(batch);
    for prompt in prompts {
        let pad = longest - prompt.len();
        tokens.extend(std::iter::repeat_n(0i64, pad).chain(prompt.iter().map(|&t| i64::from(t))));
        positions.push(
            (0..longest)
                .map(|i| i.saturating_sub(pad))
                .collect::<Vec<_>>(),
        );
        real.push((0..longest).map(|i| i >= pad).collect::<Vec<_>>());
    }
    let mut cache = KvCache::new(model.layers.len(), batch);
    let images = place(model, &tokens, longest, images)?;
    let input = Input {
        tokens: Tensor::<B, 2, Int>::from_data(TensorData::new(tokens, [batch, longest]), device),
        positions,
        real,
        images,
    };
    let mut logits = last_logits(model.forward(input, Some(&mut cache)));
    let mut out: Vec<Sampled> = (0..batch)
        .map(|_| Sampled {
            tokens: Vec::new(),
            truncated: false,
        })
        .collect();
    let mut finished = vec![false; batch];
    let mut next_position: Vec<usize> = prompts.iter().map(Vec::len).collect();
    for _ in 0..sampling.max_tokens {
        let mut step = Vec::with_capacity(batch);
        for (row, logits) in logits.iter().enumerate() {
            if finished[row] {
                step.push(0i64);
                continue;
            }
            let token = choose(logits, sampling, rng);
            out[row].tokens.push(token);
            finished[row] = sampling.stops(&out[row].tokens);
            step.push(i64::from(token));
        }
        if finished.iter().all(|f| *f) || out.iter().all(|o| o.tokens.len() >= sampling.max_tokens)
        {
            break;
        }
        let input = Input {
            tokens: Tensor::from_data(TensorData::new(step, [batch, 1]), device),
            positions: next_position.iter().map(|&p| vec![p]).collect(),
            // A finished row's further tokens are padding: nothing attends to them.
            real: finished.iter().map(|f| vec![!f]).collect(),
            images: Vec::new(),
        };
        next_position.iter_mut().for_each(|p| *p += 1);
        logits = last_logits(model.forward(input, Some(&mut cache)));
    }
    for (row, sampled) in out.iter_mut().enumerate() {
        sampled.truncated = !finished[row] && sampled.tokens.len() >= sampling.max_tokens;
    }
    Ok(out)
}

/// The slots of the rows' images in a `[rows, width]` block of tokens; none for text.
pub fn place<B: Backend>(
    model: &Decoder<B>,
    tokens: &[i64],
    width: usize,
    images: &[Vec<Arc<Pixels>>],
) -> Result<Vec<ImageSlot>, String> {
    if images.iter().all(Vec::is_empty) {
        return Ok(Vec::new());
    }
    let token = model
        .image_token()
        .ok_or("the prompts hold images, and the policy has no vision encoder")?;
    place_images(tokens, width, token, images)
}

/// The logits of each row's last position, on the host.
fn last_logits<B: Backend>(logits: Tensor<B, 3>) -> Vec<Vec<f32>> {
    let [batch, time, vocab] = logits.dims();
    let last = logits.narrow(1, time - 1, 1).reshape([batch, vocab]);
    let values = last.into_data().to_vec::<f32>().expect("f32 logits");
    values.chunks(vocab).map(<[f32]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DecoderConfig;
    use burn::backend::NdArray;

    type B = NdArray<f32>;

    fn sampling(temperature: f64, max_tokens: usize) -> Sampling {
        Sampling {
            temperature,
            top_p: 1.0,
            top_k: 0,
            max_tokens,
            stop: Vec::new(),
            stop_sequences: Vec::new(),
        }
    }

    #[test]
    fn greedy_decoding_is_the_argmax_of_full_recomputation() {
        let device = Default::default();
        let config = DecoderConfig::tiny(32, 2, 4, 2, 64, 40);
        let model: Decoder<B> = config.init(&device);
        let prompts = vec![vec![3, 4, 5], vec![7]];
        let sampled = generate(&model, &prompts, &sampling(0.0, 5), &mut Rng(1), &device);
        for (prompt, sampled) in prompts.iter().zip(&sampled) {
            assert_eq!(sampled.tokens.len(), 5);
            assert!(sampled.truncated);
            // Each token is the argmax of the model run on the prompt and the tokens before it.
            let mut sequence = prompt.clone();
            for &token in &sampled.tokens {
                let input = Input {
                    tokens: Tensor::from_data(
                        TensorData::new(
                            sequence.iter().map(|&t| i64::from(t)).collect::<Vec<_>>(),
                            [1, sequence.len()],
                        ),
                        &device,
                    ),
                    positions: vec![(0..sequence.len()).collect()],
                    real: vec![vec![true; sequence.len()]],
                    images: Vec::new(),
                };
                let logits = last_logits(model.forward(input, None));
                assert_eq!(token, choose(&logits[0], &sampling(0.0, 1), &mut Rng(0)));
                sequence.push(token);
            }
        }
    }

    #[test]
    fn sampling_is_reproducible_and_stops_at_stop_tokens() {
        let device = Default::default();
        let model: Decoder<B> = DecoderConfig::tiny(32, 1, 4, 2, 64, 12).init(&device);
        let prompts = vec![vec![1, 2], vec![3], vec![4, 5, 6]];
        // A random tiny model with a tied head mostly repeats its input: a high temperature makes
        // the choices differ between seeds.
        let mut settings = sampling(20.0, 30);
        let a = generate(&model, &prompts, &settings, &mut Rng(7), &device);
        let b = generate(&model, &prompts, &settings, &mut Rng(7), &device);
        assert_eq!(a, b);
        let c = generate(&model, &prompts, &settings, &mut Rng(8), &device);
        assert_ne!(a, c);
        settings.stop = vec![0, 1, 2, 3];
        for sampled in generate(&model, &prompts, &settings, &mut Rng(7), &device) {
            let stopped = sampled
                .tokens
                .iter()
                .position(|t| settings.stop.contains(t));
            match stopped {
                Some(at) => {
                    assert_eq!(at, sampled.tokens.len() - 1, "{sampled:?}");
                    assert!(!sampled.truncated);
                }
                None => assert!(sampled.truncated && sampled.tokens.len() == 30),
            }
        }
    }

    #[test]
    fn top_k_and_top_p_keep_only_the_likely_tokens() {
        let logits = [0.0f32, 5.0, 4.9, -3.0, 1.0];
        let mut rng = Rng(3);
        let k2 = Sampling {
            top_k: 2,
            ..sampling(1.0, 1)
        };
        let p = Sampling {
            top_p: 0.5,
            ..sampling(1.0, 1)
        };
        for _ in 0..200 {
            assert!(matches!(choose(&logits, &k2, &mut rng), 1 | 2));
            assert_eq!(choose(&logits, &p, &mut rng), 1);
        }
        let all = sampling(1.0, 1);
        let seen: std::collections::BTreeSet<u32> =
            (0..2000).map(|_| choose(&logits, &all, &mut rng)).collect();
        assert!(seen.contains(&0) && seen.contains(&4));
    }
}
