//! The policy-gradient loss of the plan's algorithm settings: token or sequence (GSPO) ratios,
//! asymmetric clipping (ε_low, ε_high: DAPO's clip-higher), dual clip, a KL penalty with the k1/k2/k3
//! estimators, an entropy bonus, and the three aggregations (token_mean, seq_mean_token_mean,
//! seq_mean_token_sum_norm). Written on Burn tensors, so gradients flow through the new log-probs.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rlx_compiler::plan::{Aggregation, AlgorithmPlan, KlEstimator, Schedule, StepVars};

/// The settings the loss reads (from the plan's `AlgorithmPlan`, with the step's schedules).
#[derive(Clone, Debug, PartialEq)]
pub struct LossSettings {
    pub clip_low: f64,
    pub clip_high: f64,
    pub dual_clip: Option<f64>,
    pub sequence_ratio: bool,
    pub aggregate: Aggregation,
    /// The divisor of `seq_mean_token_sum_norm`.
    pub norm_length: f64,
    /// A KL penalty in the loss.
    pub kl: Option<KlSettings>,
    pub entropy: f64,
    /// PAPO's perception terms.
    pub perception: Option<PerceptionSettings>,
}

/// A KL penalty in the loss at one step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KlSettings {
    pub estimator: KlEstimator,
    pub beta: f64,
    pub aggregate: Aggregation,
}

/// PAPO's coefficients at one step: γ of the perception KL, η of the masked and real entropies.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PerceptionSettings {
    pub gamma: f64,
    pub masked_entropy: f64,
    pub entropy: f64,
}

impl LossSettings {
    /// The settings of `algorithm` at a step: the schedules' values then, and
    /// `seq_mean_token_sum_norm` divides by `norm_length`, or by the rollout's `max_tokens`.
    pub fn of(
        algorithm: &AlgorithmPlan,
        max_tokens: u32,
        vars: StepVars,
    ) -> Result<LossSettings, String> {
        let at = |s: &Schedule| s.at(vars).map_err(|e| e.message);
        let kl = match &algorithm.kl {
            Some(kl) => Some(KlSettings {
                estimator: kl.estimator,
                beta: at(&kl.beta)?,
                aggregate: kl.aggregate.unwrap_or(algorithm.aggregate),
            }),
            None => None,
        };
        let perception = match &algorithm.perception {
            Some(p) => Some(PerceptionSettings {
                gamma: at(&p.gamma)?,
                masked_entropy: at(&p.masked_entropy)?,
                entropy: at(&p.entropy)?,
            }),
            None => None,
        };
        let norm_length = if algorithm.norm_length == 0 {
            max_tokens
        } else {
            algorithm.norm_length
        };
        Ok(LossSettings {
            clip_low: algorithm.clip_low,
            clip_high: algorithm.clip_high,
            dual_clip: algorithm.dual_clip,
            sequence_ratio: algorithm.sequence_ratio,
            aggregate: algorithm.aggregate,
            norm_length: f64::from(norm_length),
            kl,
            entropy: algorithm.entropy,
            perception,
        })
    }
}

/// One mini-batch: per-token log-probs `[sequences, tokens]` of the policy being trained, of the
/// policy that sampled, and of the reference; the advantage of each sequence; which tokens count
/// (1) or are padding (0); the per-token entropy when there is a bonus; the KL weight of each
/// sequence (DADS); and the sampled tokens' log-probs under masked images (PAPO, no gradient).
pub struct LossInput<B: Backend> {
    pub log_probs: Tensor<B, 2>,
    pub old_log_probs: Tensor<B, 2>,
    pub ref_log_probs: Option<Tensor<B, 2>>,
    pub advantages: Tensor<B, 1>,
    pub mask: Tensor<B, 2>,
    pub entropy: Option<Tensor<B, 2>>,
    pub kl_weights: Option<Tensor<B, 1>>,
    pub masked_log_probs: Option<Tensor<B, 2>>,
}

/// What part of a mini-batch a micro-batch is: its share of the tokens and of the sequences. A
/// term averaged over tokens counts by the first, one averaged over sequences by the second, so
/// the micro-batches' losses add up to the mini-batch's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shares {
    pub tokens: f64,
    pub sequences: f64,
}

impl Shares {
    pub const WHOLE: Shares = Shares {
        tokens: 1.0,
        sequences: 1.0,
    };

    /// The share of a term averaged by `aggregate`.
    pub fn of(&self, aggregate: Aggregation) -> f64 {
        match aggregate {
            Aggregation::TokenMean => self.tokens,
            _ => self.sequences,
        }
    }
}

/// The loss to minimise (this micro-batch's share of it), and for metrics the mean KL to the
/// reference and the mean perception KL (unscaled).
pub struct LossOutput<B: Backend> {
    pub loss: Tensor<B, 1>,
    pub kl: Option<Tensor<B, 1>>,
    pub perception_kl: Option<Tensor<B, 1>>,
}

pub fn policy_loss<B: Backend>(
    input: LossInput<B>,
    settings: &LossSettings,
    shares: Shares,
) -> LossOutput<B> {
    let [sequences, tokens] = input.log_probs.dims();
    let mask = input.mask;
    let lengths = mask.clone().sum_dim(1).clamp_min(1.0); // [N, 1]
    let delta = (input.log_probs.clone() - input.old_log_probs) * mask.clone();
    let log_ratio = if settings.sequence_ratio {
        // GSPO: the length-normalised sequence ratio, the same for every token of the sequence.
        (delta.sum_dim(1) / lengths.clone()).repeat_dim(1, tokens)
    } else {
        delta
    };
    let ratio = log_ratio.exp();
    let advantages = input
        .advantages
        .reshape([sequences, 1])
        .repeat_dim(1, tokens);
    let unclipped = ratio.clone() * advantages.clone();
    let clipped =
        ratio.clamp(1.0 - settings.clip_low, 1.0 + settings.clip_high) * advantages.clone();
    // PPO's objective min(rA, clip(r)A), as a loss.
    let mut per_token = unclipped.clone().min_pair(clipped).neg();
    if let Some(c) = settings.dual_clip {
        // Dual clip: for negative advantages the loss is at most −c·A.
        let bound = advantages.clone().neg() * c;
        let negative = advantages.lower_elem(0.0);
        let capped = per_token.clone().min_pair(bound);
        per_token = per_token.mask_where(negative, capped);
    }
    if let (Some(entropy), true) = (input.entropy, settings.entropy != 0.0) {
        per_token = per_token - entropy * settings.entropy;
    }
    let mean = |values: Tensor<B, 2>, aggregate: Aggregation| {
        aggregate_tokens(
            values,
            mask.clone(),
            lengths.clone(),
            aggregate,
            settings.norm_length,
        )
    };
    let mut loss = mean(per_token, settings.aggregate) * shares.of(settings.aggregate);
    let mut kl_mean = None;
    if let (Some(kl), Some(reference)) = (settings.kl, input.ref_log_probs) {
        let per_token = estimate(kl.estimator, input.log_probs.clone(), reference);
        let weighted = match input.kl_weights {
            Some(weights) => per_token.clone() * weights.reshape([sequences, 1]),
            None => per_token.clone(),
        };
        kl_mean = Some(mean(per_token, kl.aggregate));
        loss = loss + mean(weighted, kl.aggregate) * (kl.beta * shares.of(kl.aggregate));
    }
    let mut perception_kl = None;
    if let (Some(p), Some(masked)) = (settings.perception, input.masked_log_probs) {
        // verl's low_var_kl: the log-ratio clamped to ±20, the estimate to ±10.
        let log_ratio = (input.log_probs.clone() - masked.clone()).clamp(-20.0, 20.0);
        let kl = (log_ratio.clone().neg().exp() - 1.0 + log_ratio).clamp(-10.0, 10.0);
        let kl_value = mean(kl, settings.aggregate);
        perception_kl = Some(kl_value.clone());
        // −γ·KL: the policy is pushed to depend on the image.
        loss = loss - kl_value * (p.gamma * shares.of(settings.aggregate));
        // η·(−log p), each a token mean (PAPO's masked_mean, whatever the policy aggregation).
        let token_mean = |values: Tensor<B, 2>| mean(values, Aggregation::TokenMean);
        loss = loss
            + token_mean(masked.neg()) * (p.masked_entropy * shares.tokens)
            + token_mean(input.log_probs.neg()) * (p.entropy * shares.tokens);
    }
    LossOutput {
        loss,
        kl: kl_mean,
        perception_kl,
    }
}

/// KL(π‖π_ref) per token from log-probs: k1 = log r, k2 = (log r)²/2, k3 = r⁻¹ − 1 + log r with
/// r = π/π_ref (Schulman's estimators; k3 is GRPO's).
pub fn estimate<B: Backend>(
    estimator: KlEstimator,
    log_probs: Tensor<B, 2>,
    reference: Tensor<B, 2>,
) -> Tensor<B, 2> {
    let log_ratio = log_probs - reference;
    match estimator {
        KlEstimator::K1 => log_ratio,
        KlEstimator::K2 => log_ratio.powf_scalar(2.0) * 0.5,
        KlEstimator::K3 => log_ratio.clone().neg().exp() - 1.0 + log_ratio,
    }
}

fn aggregate_tokens<B: Backend>(
    per_token: Tensor<B, 2>,
    mask: Tensor<B, 2>,
    lengths: Tensor<B, 2>,
    aggregate: Aggregation,
    norm_length: f64,
) -> Tensor<B, 1> {
    let masked = per_token * mask.clone();
    match aggregate {
        Aggregation::TokenMean => masked.sum() / mask.sum().clamp_min(1.0),
        Aggregation::SeqMeanTokenMean => (masked.sum_dim(1) / lengths).mean(),
        Aggregation::SeqMeanTokenSumNorm => masked.sum_dim(1).mean() / norm_length.max(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use burn::tensor::TensorData;

    type B = NdArray<f32>;

    fn t2(rows: &[&[f32]]) -> Tensor<B, 2> {
        let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_data(
            TensorData::new(flat, [rows.len(), rows[0].len()]),
            &Default::default(),
        )
    }

    fn t1(values: &[f32]) -> Tensor<B, 1> {
        Tensor::from_data(
            TensorData::new(values.to_vec(), [values.len()]),
            &Default::default(),
        )
    }

    fn scalar(t: Tensor<B, 1>) -> f64 {
        f64::from(t.into_data().to_vec::<f32>().unwrap()[0])
    }

    /// Two sequences: the first 3 tokens long, the second 2 (one padding token).
    fn input(reference: bool) -> LossInput<B> {
        LossInput {
            log_probs: t2(&[&[-1.0, -0.5, -2.0], &[-0.2, -1.2, -9.0]]),
            old_log_probs: t2(&[&[-1.1, -0.5, -1.5], &[-0.4, -1.0, -3.0]]),
            ref_log_probs: reference.then(|| t2(&[&[-1.2, -0.4, -2.0], &[-0.2, -1.0, -1.0]])),
            advantages: t1(&[1.0, -2.0]),
            mask: t2(&[&[1.0, 1.0, 1.0], &[1.0, 1.0, 0.0]]),
            entropy: None,
            kl_weights: None,
            masked_log_probs: None,
        }
    }

    fn settings(aggregate: Aggregation) -> LossSettings {
        LossSettings {
            clip_low: 0.2,
            clip_high: 0.28,
            dual_clip: None,
            sequence_ratio: false,
            aggregate,
            norm_length: 4.0,
            kl: None,
            entropy: 0.0,
            perception: None,
        }
    }

    /// The clipped loss of one token, by the PPO formula written out.
    fn token_loss(new: f64, old: f64, a: f64, low: f64, high: f64) -> f64 {
        let r = (new - old).exp();
        -(r * a).min(r.clamp(1.0 - low, 1.0 + high) * a)
    }

    fn hand_losses() -> [Vec<f64>; 2] {
        let l = |n, o, a| token_loss(n, o, a, 0.2, 0.28);
        [
            vec![l(-1.0, -1.1, 1.0), l(-0.5, -0.5, 1.0), l(-2.0, -1.5, 1.0)],
            vec![l(-0.2, -0.4, -2.0), l(-1.2, -1.0, -2.0)],
        ]
    }

    #[test]
    fn the_three_aggregations_match_their_formulas() {
        let [a, b] = hand_losses();
        let all: f64 = a.iter().chain(&b).sum();
        let token_mean = all / 5.0;
        let seq_mean = (a.iter().sum::<f64>() / 3.0 + b.iter().sum::<f64>() / 2.0) / 2.0;
        let sum_norm = (a.iter().sum::<f64>() + b.iter().sum::<f64>()) / 2.0 / 4.0;
        for (aggregation, expected) in [
            (Aggregation::TokenMean, token_mean),
            (Aggregation::SeqMeanTokenMean, seq_mean),
            (Aggregation::SeqMeanTokenSumNorm, sum_norm),
        ] {
            let got = scalar(policy_loss(input(false), &settings(aggregation), Shares::WHOLE).loss);
            assert!(
                (got - expected).abs() < 1e-5,
                "{aggregation:?}: {got} vs {expected}"
            );
        }
    }

    #[test]
    fn clip_higher_dual_clip_and_sequence_ratios() {
        // Dual clip at 3: with A = −2 a token whose ratio is e^1.5 would lose 8.96; it is capped
        // at 6. Without the dual clip it is not.
        let mut dual = settings(Aggregation::TokenMean);
        dual.dual_clip = Some(3.0);
        let mut far = input(false);
        far.old_log_probs = t2(&[&[-1.1, -0.5, -1.5], &[-1.7, -1.0, -3.0]]);
        let [a, b] = hand_losses();
        let big = token_loss(-0.2, -1.7, -2.0, 0.2, 0.28);
        assert!(big > 8.9);
        let expected = (a.iter().sum::<f64>() + 6.0 + b[1]) / 5.0;
        let got = scalar(policy_loss(far, &dual, Shares::WHOLE).loss);
        assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
        let mut far = input(false);
        far.old_log_probs = t2(&[&[-1.1, -0.5, -1.5], &[-1.7, -1.0, -3.0]]);
        let undamped =
            scalar(policy_loss(far, &settings(Aggregation::TokenMean), Shares::WHOLE).loss);
        assert!((undamped - (a.iter().sum::<f64>() + big + b[1]) / 5.0).abs() < 1e-5);
        // GSPO: one ratio per sequence, exp(mean of the token log-ratios).
        let mut gspo = settings(Aggregation::SeqMeanTokenMean);
        gspo.sequence_ratio = true;
        let r1 = ((0.1 + 0.0 - 0.5) / 3.0f64).exp();
        let r2 = ((0.2 - 0.2) / 2.0f64).exp();
        let clipped = |r: f64, a: f64| -(r * a).min(r.clamp(0.8, 1.28) * a);
        let expected = (clipped(r1, 1.0) + clipped(r2, -2.0)) / 2.0;
        let got = scalar(policy_loss(input(false), &gspo, Shares::WHOLE).loss);
        assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
    }

    #[test]
    fn kl_estimators_and_the_penalty() {
        let new = [-1.0f64, -0.5, -2.0, -0.2, -1.2];
        let reference = [-1.2f64, -0.4, -2.0, -0.2, -1.0];
        for estimator in [KlEstimator::K1, KlEstimator::K2, KlEstimator::K3] {
            let per_token: Vec<f64> = new
                .iter()
                .zip(&reference)
                .map(|(n, r)| {
                    let log_r = n - r;
                    match estimator {
                        KlEstimator::K1 => log_r,
                        KlEstimator::K2 => log_r * log_r / 2.0,
                        KlEstimator::K3 => (-log_r).exp() - 1.0 + log_r,
                    }
                })
                .collect();
            let mut with_kl = settings(Aggregation::TokenMean);
            with_kl.kl = Some(KlSettings {
                estimator,
                beta: 0.04,
                aggregate: Aggregation::TokenMean,
            });
            let out = policy_loss(input(true), &with_kl, Shares::WHOLE);
            let kl = per_token.iter().sum::<f64>() / 5.0;
            assert!((scalar(out.kl.unwrap()) - kl).abs() < 1e-5, "{estimator:?}");
            let [a, b] = hand_losses();
            let expected = (a.iter().chain(&b).sum::<f64>()) / 5.0 + 0.04 * kl;
            assert!((scalar(out.loss) - expected).abs() < 1e-5, "{estimator:?}");
        }
    }
}
