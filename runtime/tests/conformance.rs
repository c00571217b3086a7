//! Conformance of the seed papers' recipes (`examples/papers/*.rlx`) with the papers' formulas:
//! reward values of hand-written completions, advantages of hand-made reward groups, schedule
//! values at chosen steps, and loss values of fixed log-probs, each against the value the paper's
//! formula gives, computed by hand in the test. The recipes are compiled as shipped; nothing is
//! trained.

use std::path::Path;

use burn::backend::NdArray;
use burn::tensor::{Tensor, TensorData};
use rlx_compiler::driver::{self, CheckOptions};
use rlx_compiler::plan::{Plan, RlPlan, StageKind, StagePlan, StepVars};
use rlx_reward::group::{advantages, mean};
use rlx_reward::{Backend, Item, Judge, StageRewards, StageScores, Value};
use rlx_runtime::loss::{LossInput, LossSettings, Shares, policy_loss};

type B = NdArray<f32>;

struct NoJudge;

impl Judge for NoJudge {
    fn score(&self, model: &str, _: &[(&str, &Value<'_>)]) -> Result<f64, String> {
        Err(format!("no judge `{model}` in these tests"))
    }
}

fn paper(name: &str) -> Plan {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/papers")
        .join(format!("{name}.rlx"));
    let (source, _) = driver::read_file(&path).unwrap();
    let analysis = driver::analyze(
        &source,
        driver::recipe_dir(&path),
        CheckOptions { data: false },
    );
    analysis.plan.unwrap_or_else(|| panic!("{name}: no plan"))
}

fn rl_stage<'p>(plan: &'p Plan, stage: &str) -> (&'p StagePlan, &'p RlPlan) {
    let found = plan
        .stages
        .iter()
        .find(|s| s.name == stage)
        .unwrap_or_else(|| panic!("no stage `{stage}`"));
    match &found.kind {
        StageKind::Rl(rl) => (found, rl),
        StageKind::Sft(_) => panic!("`{stage}` is not an RL stage"),
    }
}

fn at(stage_step: u64, stage_steps: u64) -> StepVars {
    StepVars {
        step: stage_step,
        stage_step,
        stage_steps,
    }
}

/// A completion: its text, its length in tokens and its group.
struct Sample<'a>(&'a str, i64, u64);

/// The stage's reward, terms, filter and advantage expression for completions of one row.
fn score(plan: &Plan, stage: &str, row: serde_json::Value, samples: &[Sample<'_>]) -> StageScores {
    let (stage, rl) = rl_stage(plan, stage);
    let row = row.as_object().unwrap().clone();
    let items: Vec<Item<'_>> = samples
        .iter()
        .map(|Sample(text, tokens, group)| Item {
            text,
            tokens: Some(*tokens),
            truncated: Some(false),
            row: &row,
            group: *group,
        })
        .collect();
    let rewards = StageRewards::new(rl, &stage.graph, Backend::Jit, 1).unwrap();
    rewards
        .score(&items, at(3, u64::from(rl.steps)), &NoJudge)
        .unwrap()
}

/// Completions of different rows in one group, 10 tokens each.
fn one_group<'a>(
    texts: &[(&'a str, &'a serde_json::Map<String, serde_json::Value>)],
) -> Vec<Item<'a>> {
    texts
        .iter()
        .map(|&(text, row)| Item {
            text,
            tokens: Some(10),
            truncated: Some(false),
            row,
            group: 0,
        })
        .collect()
}

fn term<'s>(scores: &'s StageScores, name: &str) -> &'s [f64] {
    &scores
        .terms
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no term `{name}`"))
        .1
}

fn close(got: &[f64], expected: &[f64]) {
    assert_eq!(got.len(), expected.len(), "{got:?} vs {expected:?}");
    for (g, e) in got.iter().zip(expected) {
        assert!((g - e).abs() < 1e-5, "{got:?} vs {expected:?}");
    }
}

/// A schedule's value at each of `steps` of a stage of `stage_steps`, against the paper's formula.
fn schedule_matches(
    schedule: &rlx_compiler::plan::Schedule,
    stage_steps: u64,
    steps: &[u64],
    formula: impl Fn(u64) -> f64,
) {
    for &step in steps {
        let got = schedule.at(at(step, stage_steps)).unwrap();
        let expected = formula(step);
        assert!(
            (got - expected).abs() <= 1e-12 * expected.abs().max(1e-6),
            "step {step}: {got} vs {expected}"
        );
    }
}

/// The sample standard deviation (n − 1), as `torch.std` computes the group's.
fn sample_std(values: &[f64]) -> f64 {
    let m = values.iter().sum::<f64>() / values.len() as f64;
    (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64).sqrt()
}

/// The stage's loss settings at a step, as the trainer builds them.
fn loss_settings(plan: &Plan, stage: &str, vars: StepVars) -> LossSettings {
    let (_, rl) = rl_stage(plan, stage);
    LossSettings::of(&rl.algorithm, rl.rollout.max_tokens, vars).unwrap()
}

/// The loss of sequences with per-token new and old log-probs (`None` pads) and advantages.
fn loss(settings: &LossSettings, new: &[&[f32]], old: &[&[f32]], advantages: &[f32]) -> f64 {
    let rows = new.len();
    let width = new.iter().map(|r| r.len()).max().unwrap();
    let pad = |rows: &[&[f32]]| -> Vec<f32> {
        rows.iter()
            .flat_map(|r| {
                r.iter()
                    .copied()
                    .chain(std::iter::repeat_n(0.0, width - r.len()))
            })
            .collect()
    };
    let mask: Vec<f32> = new
        .iter()
        .flat_map(|r| (0..width).map(move |j| if j < r.len() { 1.0 } else { 0.0 }))
        .collect();
    let device = Default::default();
    let tensor = |values: Vec<f32>| {
        Tensor::<B, 2>::from_data(TensorData::new(values, [rows, width]), &device)
    };
    let output = policy_loss(
        LossInput {
            log_probs: tensor(pad(new)),
            old_log_probs: tensor(pad(old)),
            ref_log_probs: None,
            advantages: Tensor::from_data(TensorData::new(advantages.to_vec(), [rows]), &device),
            mask: tensor(mask),
            entropy: None,
            kl_weights: None,
            masked_log_probs: None,
        },
        settings,
        Shares::WHOLE,
    );
    f64::from(output.loss.into_scalar())
}

/// Log-probs of whole sequences (no padding) for a loss with every extra input.
struct Extras<'a> {
    reference: &'a [&'a [f32]],
    masked: Option<&'a [&'a [f32]]>,
    kl_weights: Option<&'a [f32]>,
}

/// The loss of equal-length sequences with a reference, masked-image log-probs and KL weights.
fn loss_with(
    settings: &LossSettings,
    new: &[&[f32]],
    old: &[&[f32]],
    advantages: &[f32],
    extras: Extras<'_>,
) -> f64 {
    let (rows, width) = (new.len(), new[0].len());
    let device = Default::default();
    let tensor = |values: &[&[f32]]| {
        let flat: Vec<f32> = values.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::<B, 2>::from_data(TensorData::new(flat, [rows, width]), &device)
    };
    let output = policy_loss(
        LossInput {
            log_probs: tensor(new),
            old_log_probs: tensor(old),
            ref_log_probs: Some(tensor(extras.reference)),
            advantages: Tensor::from_data(TensorData::new(advantages.to_vec(), [rows]), &device),
            mask: Tensor::ones([rows, width], &device),
            entropy: None,
            kl_weights: extras
                .kl_weights
                .map(|w| Tensor::from_data(TensorData::new(w.to_vec(), [rows]), &device)),
            masked_log_probs: extras.masked.map(tensor),
        },
        settings,
        Shares::WHOLE,
    );
    f64::from(output.loss.into_scalar())
}

/// Schulman's k3 of one token, from the log-probs of the policy and of what it is compared with.
fn k3(new: f64, other: f64) -> f64 {
    let log_ratio = new - other;
    (-log_ratio).exp() - 1.0 + log_ratio
}

/// PPO's per-token objective min(ρA, clip(ρ, 1 − ε_low, 1 + ε_high)A).
fn clipped_objective(ratio: f64, advantage: f64, low: f64, high: f64) -> f64 {
    (ratio * advantage).min(ratio.clamp(1.0 - low, 1.0 + high) * advantage)
}

// ----- DAPO -----

#[test]
fn dapo_rewards_are_plus_minus_one_with_the_soft_overlong_penalty() {
    let plan = paper("dapo");
    let row = serde_json::json!({"prompt_text": "What is 17 + 25?", "answer": "42"});
    let (l_max, l_cache) = (20480.0, 4096.0);
    // R_len(y): 0 up to L_max − L_cache, ((L_max − L_cache) − |y|)/L_cache up to L_max, −1 beyond.
    let r_len = |y: f64| {
        if y <= l_max - l_cache {
            0.0
        } else if y <= l_max {
            ((l_max - l_cache) - y) / l_cache
        } else {
            -1.0
        }
    };
    let samples = [
        Sample("17 + 25 = 42\nAnswer: 42", 100, 0),
        Sample("Answer: 41", 18000, 0),
        Sample("no answer line", 21000, 0),
        Sample("so\nAnswer: 42", 20480, 0),
    ];
    let scores = score(&plan, "main", row, &samples);
    close(term(&scores, "correct"), &[1.0, -1.0, -1.0, 1.0]);
    close(
        term(&scores, "overlong"),
        &[r_len(100.0), r_len(18000.0), r_len(21000.0), r_len(20480.0)],
    );
    close(
        &scores.rewards,
        &[1.0, -1.0 + r_len(18000.0), -2.0, 1.0 + r_len(20480.0)],
    );
}

#[test]
fn dapo_keeps_only_groups_neither_all_right_nor_all_wrong() {
    let plan = paper("dapo");
    let row = serde_json::json!({"prompt_text": "What is 17 + 25?", "answer": "42"});
    let samples = [
        Sample("Answer: 42", 10, 0),
        Sample("Answer: 42", 10, 0),
        Sample("Answer: 42", 10, 1),
        Sample("Answer: 7", 10, 1),
        Sample("Answer: 7", 10, 2),
        Sample("Answer: 8", 10, 2),
    ];
    let kept = score(&plan, "main", row, &samples).kept.unwrap();
    assert_eq!(kept, [false, false, true, true, false, false]);
}

#[test]
fn dapo_advantages_are_group_normalised() {
    let plan = paper("dapo");
    let (_, rl) = rl_stage(&plan, "main");
    let rewards = [1.0, -1.0, -1.0, 1.0 - 0.25, -1.0, 1.0];
    let groups = [0, 0, 0, 1, 1, 1];
    let got = advantages(
        &rewards,
        &groups,
        rl.algorithm.baseline,
        rl.algorithm.scale,
        1e-6,
    );
    let mut expected = Vec::new();
    for g in rewards.chunks(3) {
        let (m, s) = (g.iter().sum::<f64>() / 3.0, sample_std(g));
        expected.extend(g.iter().map(|r| (r - m) / (s + 1e-6)));
    }
    close(&got, &expected);
}

#[test]
fn dapo_loss_is_token_level_with_clip_higher() {
    let plan = paper("dapo");
    let settings = loss_settings(&plan, "main", at(0, 1000));
    assert_eq!((settings.clip_low, settings.clip_high), (0.2, 0.28));
    // Sequence 1 (A = +1): ratios e^0.4 (clipped at 1.28) and e^0.1; sequence 2 (A = −1): ratios
    // e^−0.5 (clipped at 0.8), e^0.2, e^0.
    let new: [&[f32]; 2] = [&[-0.6, -0.9], &[-1.5, -0.8, -2.0]];
    let old: [&[f32]; 2] = [&[-1.0, -1.0], &[-1.0, -1.0, -2.0]];
    let advantages = [1.0, -1.0];
    let mut total = 0.0;
    for (i, (n, o)) in new.iter().zip(&old).enumerate() {
        for (a, b) in n.iter().zip(o.iter()) {
            let ratio = f64::from(a - b).exp();
            total += clipped_objective(ratio, advantages[i], 0.2, 0.28);
        }
    }
    // J = (1 / Σ|o_i|) Σ_i Σ_t min(ρA, clip(ρ)A): one mean over all 5 tokens.
    let expected = -total / 5.0;
    let got = loss(&settings, &new, &old, &[1.0, -1.0]);
    assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
}

#[test]
fn dapo_learning_rate_warms_up_linearly_for_20_steps_then_holds() {
    let plan = paper("dapo");
    // verl's constant schedule with warm-up: lr · min(1, step / warmup).
    schedule_matches(&plan.optimizer.lr, 1000, &[0, 5, 19, 20, 500], |s| {
        1e-6 * (s as f64 / 20.0).min(1.0)
    });
}

// ----- Dr. GRPO -----

#[test]
fn dr_grpo_advantages_drop_the_std_and_the_loss_divides_by_a_constant() {
    let plan = paper("dr_grpo");
    let row = serde_json::json!({"problem": "Simplify 6/8.", "answer": "\\frac{3}{4}", "level": 3});
    let samples = [
        Sample("\\boxed{\\frac{3}{4}}", 10, 0),
        Sample("\\boxed{0.75}", 10, 0),
        Sample("\\boxed{2}", 10, 0),
        Sample("3/4", 10, 0),
    ];
    let scores = score(&plan, "main", row, &samples);
    close(&scores.rewards, &[1.0, 1.0, 0.0, 1.0]);
    // Â_i = R_i − mean(R): no division by the std.
    let m = mean(&scores.rewards);
    let expected: Vec<f64> = scores.rewards.iter().map(|r| r - m).collect();
    close(scores.advantages.as_ref().unwrap(), &expected);

    let settings = loss_settings(&plan, "main", at(0, 400));
    assert_eq!(settings.norm_length, 3000.0);
    let new: [&[f32]; 2] = [&[-0.5, -0.7, -0.1], &[-2.0]];
    let old: [&[f32]; 2] = [&[-0.5, -0.6, -0.1], &[-1.9]];
    let adv = [0.25, -0.75];
    // Each sequence's token sum divided by the constant 3000, averaged over sequences.
    let mut expected = 0.0;
    for (i, (n, o)) in new.iter().zip(&old).enumerate() {
        let sum: f64 = n
            .iter()
            .zip(o.iter())
            .map(|(a, b)| clipped_objective(f64::from(a - b).exp(), adv[i], 0.2, 0.2))
            .sum();
        expected -= sum / 3000.0 / 2.0;
    }
    let got = loss(&settings, &new, &old, &[0.25, -0.75]);
    assert!((got - expected).abs() < 1e-8, "{got} vs {expected}");
}

// ----- Observe-R1 -----

#[test]
fn observe_r1_rewards_the_shortest_correct_response_and_weights_advantages_by_pass_rate() {
    let plan = paper("observe_r1");
    let row =
        serde_json::json!({"question": "How many squares?", "answer": "3", "difficulty": 0.5});
    let good = "<observe>three squares</observe><think>count</think><answer>3</answer>";
    let samples = [
        Sample(good, 150, 0),
        Sample(good, 120, 0),
        Sample("<think>count</think><answer>3</answer>", 90, 0),
        Sample(
            "<observe>x</observe><think>y</think><answer>4</answer>",
            60,
            0,
        ),
    ];
    let scores = score(&plan, "main", row.clone(), &samples);
    // acc + fmt (0.5 for observe → think → answer) + 0.2 for the shortest correct response when
    // it is longer than 100 tokens: the 120-token one (the 90-token one is shorter but too short
    // for the bonus, and it is the group's shortest correct, so nobody gets it).
    close(term(&scores, "format"), &[0.5, 0.5, 0.0, 0.5]);
    close(term(&scores, "shortest_bonus"), &[0.0, 0.0, 0.0, 0.0]);
    close(&scores.rewards, &[1.5, 1.5, 1.0, 0.5]);

    // Without the short one, the 120-token response is the shortest correct: +0.2.
    let samples = [
        Sample(good, 150, 0),
        Sample(good, 120, 0),
        Sample(
            "<observe>x</observe><think>y</think><answer>4</answer>",
            60,
            0,
        ),
    ];
    let scores = score(&plan, "main", row, &samples);
    close(term(&scores, "shortest_bonus"), &[0.0, 0.2, 0.0]);
    let rewards = [1.5, 1.7, 0.5];
    close(&scores.rewards, &rewards);
    // Â = 4σ·p(1−p)·(r − μ)/(σ_G + 1e-9), σ = 1.8, p = 2/3.
    let p: f64 = 2.0 / 3.0;
    let m = rewards.iter().sum::<f64>() / 3.0;
    let s = sample_std(&rewards);
    let expected: Vec<f64> = rewards
        .iter()
        .map(|r| 4.0 * 1.8 * p * (1.0 - p) * (r - m) / (s + 1e-9))
        .collect();
    close(scores.advantages.as_ref().unwrap(), &expected);
}

// ----- OThink-MR1 -----

#[test]
fn othink_mr1_kl_weight_ramps_up_over_the_first_half() {
    let plan = paper("othink_mr1");
    let (_, rl) = rl_stage(&plan, "main");
    let beta = &rl.algorithm.kl.as_ref().unwrap().beta;
    // β(step) = β_max · min(step / (0.5 · steps), 1), β_max = 0.04.
    schedule_matches(beta, 200, &[0, 25, 50, 100, 199], |s| {
        0.04 * (s as f64 / 100.0).min(1.0)
    });
}

// ----- VL-Cogito -----

#[test]
fn vl_cogito_weights_advantages_by_pass_rate_per_stage() {
    let plan = paper("vl_cogito");
    let row = serde_json::json!({"problem": "Area?", "answer": "9"});
    let right = "<think>3·3</think> \\boxed{9}";
    let wrong = "<think>3+3</think> \\boxed{6}";
    // Groups of 4 with 0, 1, 2 and 3 right answers: p = 0, 0.25, 0.5, 0.75.
    let mut samples = Vec::new();
    for (g, right_ones) in [0usize, 1, 2, 3].iter().enumerate() {
        for k in 0..4 {
            let text = if k < *right_ones { right } else { wrong };
            samples.push(Sample(text, 100, g as u64));
        }
    }
    let easy = |p: f64| {
        if p == 0.0 {
            0.0
        } else if p > 0.5 {
            1.0
        } else {
            ((p - 0.5) * std::f64::consts::PI).cos()
        }
    };
    let medium = |p: f64| {
        if p == 0.0 {
            0.0
        } else {
            ((p - 0.5) * std::f64::consts::PI).cos()
        }
    };
    let hard = |p: f64| {
        if p == 0.0 {
            0.25
        } else if p > 0.5 {
            ((p - 0.5) * std::f64::consts::PI).cos()
        } else {
            1.0
        }
    };
    for (stage, weight) in [
        ("easy", &easy as &dyn Fn(f64) -> f64),
        ("medium", &medium),
        ("hard", &hard),
    ] {
        let scores = score(&plan, stage, row.clone(), &samples);
        let mut expected = Vec::new();
        for (g, group) in scores.rewards.chunks(4).enumerate() {
            let p = g as f64 / 4.0;
            let (m, s) = (group.iter().sum::<f64>() / 4.0, sample_std(group));
            expected.extend(group.iter().map(|r| weight(p) * (r - m) / (s + 1e-6)));
        }
        close(scores.advantages.as_ref().unwrap(), &expected);
    }
}

#[test]
fn vl_cogito_hard_stage_penalises_short_and_repetitive_wrong_answers() {
    let plan = paper("vl_cogito");
    let row = serde_json::json!({"problem": "Area?", "answer": "9"});
    let wrong = "<think>3+3</think> \\boxed{6}";
    let samples = [
        Sample(wrong, 0, 0),
        Sample(wrong, 375, 0),
        Sample(wrong, 750, 0),
        Sample(wrong, 5000, 0),
        Sample("<think>3·3</think> \\boxed{9}", 10, 0),
    ];
    let scores = score(&plan, "hard", row, &samples);
    // Wrong answers: −0.25(1 + cos(πL/750)) below 750 tokens, 0 from 750, −0.5 from 4096.
    let len = |l: f64| -0.25 * (1.0 + (std::f64::consts::PI * l / 750.0).cos());
    close(
        term(&scores, "length"),
        &[len(0.0), len(375.0), 0.0, -0.5, 0.0],
    );
    // No repeated 20-gram in these short texts.
    close(term(&scores, "repetition"), &[0.0; 5]);
    // acc + 0.5·fmt + 0.5·len + rep.
    close(
        &scores.rewards,
        &[
            0.5 + 0.5 * len(0.0),
            0.5 + 0.5 * len(375.0),
            0.5,
            0.5 - 0.25,
            1.5,
        ],
    );
}

// ----- LMM-R1 -----

#[test]
fn lmm_r1_reinforce_baseline_subtracts_the_group_mean_then_normalises_the_batch() {
    let plan = paper("lmm_r1");
    let row = serde_json::json!({"problem": "What is 17 + 25?", "answer": "42"});
    let samples = [
        Sample("<think>add</think><answer>\\boxed{42}</answer>", 10, 0),
        Sample("<think>add</think><answer>41</answer>", 10, 0),
        Sample("<think>a</think><think>b</think><answer>42</answer>", 10, 0),
        Sample("\\boxed{42} <think>x</think>", 10, 0),
    ];
    let scores = score(&plan, "fre_text", row, &samples);
    // r = acc + 0.5·fmt; fmt needs exactly one <think> span followed by one <answer> span.
    close(&scores.rewards, &[1.5, 0.5, 1.0, 1.0]);

    let (_, rl) = rl_stage(&plan, "fre_text");
    let rewards = [1.5, 0.5, 1.0, 1.0, 0.0, 0.5, 0.5, 1.5];
    let groups = [0, 0, 0, 0, 1, 1, 1, 1];
    let got = advantages(
        &rewards,
        &groups,
        rl.algorithm.baseline,
        rl.algorithm.scale,
        1e-6,
    );
    let mut centred = Vec::new();
    for g in rewards.chunks(4) {
        let m = g.iter().sum::<f64>() / 4.0;
        centred.extend(g.iter().map(|r| r - m));
    }
    let s = sample_std(&centred);
    let expected: Vec<f64> = centred.iter().map(|a| a / (s + 1e-6)).collect();
    close(&got, &expected);
    assert!(rl.algorithm.kl_reward.is_some(), "the KL is in the reward");
}

// ----- Vision-R1, R1-V, RL with Cold Start -----

#[test]
fn vision_r1_ptst_keeps_group_times_length_and_rewards_only_format_and_answer_together() {
    let plan = paper("vision_r1");
    for (stage, group, tokens) in [("ptst_1", 16, 4096), ("ptst_2", 8, 8192)] {
        let (_, rl) = rl_stage(&plan, stage);
        assert_eq!((rl.algorithm.group, rl.rollout.max_tokens), (group, tokens));
        assert_eq!(group * tokens, 64 * 1024);
    }
    let row = serde_json::json!({"problem": "Area?", "answer": "9"});
    let samples = [
        Sample("<think>3·3</think><answer>9</answer>", 10, 0),
        Sample("<answer>9</answer>", 10, 0),
        Sample("<think>3+3</think><answer>6</answer>", 10, 0),
    ];
    close(
        &score(&plan, "ptst_1", row, &samples).rewards,
        &[1.0, 0.0, 0.0],
    );
}

#[test]
fn r1_v_rewards_accuracy_plus_format() {
    let plan = paper("r1_v");
    let row = serde_json::json!({"question": "How many red objects?", "count": 3});
    let samples = [
        Sample("<think>one, two, three</think> <answer>3</answer>", 10, 0),
        Sample("<think>one</think><answer>1</answer>", 10, 0),
        Sample("<answer>3</answer>", 10, 0),
        Sample("<think>\nmulti-line\n</think><answer>3</answer>", 10, 0),
    ];
    let scores = score(&plan, "main", row, &samples);
    // fmt: a fullmatch of <think>.*?</think>\s*<answer>.*?</answer> (`.` does not cross lines).
    close(&scores.rewards, &[2.0, 1.0, 1.0, 1.0]);
}

#[test]
fn rl_with_cold_start_rewards_accuracy_only() {
    let plan = paper("rl_cold_start");
    let row = serde_json::json!({"problem": "Area?", "answer": "9"});
    let samples = [
        Sample("\\boxed{9}", 10, 0),
        Sample("<think>so</think><answer>9</answer>", 10, 0),
        Sample("\\boxed{6}", 10, 0),
    ];
    close(
        &score(&plan, "grpo", row, &samples).rewards,
        &[1.0, 0.0, 0.0],
    );
    let (_, rl) = rl_stage(&plan, "grpo");
    assert_eq!(rl.algorithm.group, 10);
    assert_eq!((rl.batch, rl.minibatch), (5120, 1280));
    assert_eq!(rl.rollout.temperature, 0.7);
    let kl = rl.algorithm.kl.as_ref().unwrap();
    assert_eq!(kl.beta.at(at(0, 160)).unwrap(), 1e-2);
}

#[test]
fn vision_r1_cold_start_warms_up_over_5_percent_then_decays_by_cosine() {
    let plan = paper("vision_r1");
    let stage = plan.stages.iter().find(|s| s.name == "cold_start").unwrap();
    let lr = stage
        .lr
        .as_ref()
        .expect("the cold start's own learning rate");
    let (peak, steps) = (5e-6, 200u64);
    // transformers' get_cosine_schedule_with_warmup with warmup_ratio 0.05: ceil(0.05·200) = 10.
    let expected = |s: u64| {
        let warmup = 10.0;
        let s = s as f64;
        if s < warmup {
            peak * s / warmup
        } else {
            peak * 0.5
                * (1.0 + (std::f64::consts::PI * (s - warmup) / (steps as f64 - warmup)).cos())
        }
    };
    schedule_matches(lr, steps, &[0, 1, 9, 10, 55, 105, 199], expected);
}

// ----- WeThink -----

/// A judge that gives 1 when the answer it is shown equals the reference, else 0.25, and checks
/// that it is asked with the question, the reference and the response.
struct EchoJudge;

impl Judge for EchoJudge {
    fn score(&self, model: &str, args: &[(&str, &Value<'_>)]) -> Result<f64, String> {
        assert_eq!(model, "judge");
        let arg = |name: &str| {
            args.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
                .unwrap_or_else(|| panic!("the judge is not shown `{name}`"))
        };
        assert!(!arg("question").is_empty());
        Ok(if arg("response") == arg("reference") {
            1.0
        } else {
            0.25
        })
    }
}

#[test]
fn wethink_routes_each_row_to_rules_or_the_judge_by_its_reward_field() {
    let plan = paper("wethink");
    let (stage, rl) = rl_stage(&plan, "grpo");
    let rewards = StageRewards::new(rl, &stage.graph, Backend::Jit, 1).unwrap();
    let rule = serde_json::json!({"problem": "Perimeter?", "answer": "20", "category": "math",
        "abilities": "reasoning", "cot": "", "method": "rule"});
    let model = serde_json::json!({"problem": "Colour?", "answer": "blue", "category": "perception",
        "abilities": "recognition", "cot": "", "method": "model"});
    let (rule, model) = (rule.as_object().unwrap(), model.as_object().unwrap());
    let texts = [
        ("<think>4·5</think><answer>20</answer>", rule),
        ("<think>4+5</think><answer>9</answer>", rule),
        ("<answer>20</answer>", rule),
        ("<think>look</think><answer>blue</answer>", model),
        ("<think>look</think> <answer>navy</answer>", model),
    ];
    let items = one_group(&texts);
    let scores = rewards.score(&items, at(0, 234), &EchoJudge).unwrap();
    // 0.9·acc + 0.1·fmt; the judged rows score what the judge says.
    close(term(&scores, "accuracy"), &[1.0, 0.0, 1.0, 1.0, 0.25]);
    close(term(&scores, "format"), &[1.0, 1.0, 0.0, 1.0, 1.0]);
    close(&scores.rewards, &[1.0, 0.1, 0.9, 1.0, 0.9 * 0.25 + 0.1]);
}

// ----- UI-R1 -----

#[test]
fn ui_r1_rewards_format_action_type_and_a_click_inside_the_box() {
    let plan = paper("ui_r1");
    let click = serde_json::json!({"instruction": "open the settings", "action": "click",
        "bbox": [100.0, 40.0, 180.0, 80.0]});
    let samples = [
        Sample(
            "<think>the gear</think><answer>[{'action': 'click', 'coordinate': [150, 60]}]</answer>",
            10,
            0,
        ),
        Sample(
            "<think>the gear</think><answer>[{'action': 'click', 'coordinate': [20, 60]}]</answer>",
            10,
            0,
        ),
        Sample(
            "<think>scroll</think><answer>[{'action': 'scroll', 'coordinate': [150, 60]}]</answer>",
            10,
            0,
        ),
        Sample(
            "<answer>[{\"action\": \"click\", \"coordinate\": [101, 79]}]</answer>",
            10,
            0,
        ),
    ];
    let scores = score(&plan, "main", click, &samples);
    // fmt + 1[type] + 1[type and point in box].
    close(term(&scores, "format"), &[1.0, 1.0, 1.0, 0.0]);
    close(term(&scores, "action_type"), &[1.0, 1.0, 0.0, 1.0]);
    close(term(&scores, "action_args"), &[1.0, 0.0, 0.0, 1.0]);
    close(&scores.rewards, &[3.0, 2.0, 1.0, 2.0]);

    let back = serde_json::json!({"instruction": "go back", "action": "press_back",
        "bbox": [0.0, 0.0, 0.0, 0.0]});
    let samples = [Sample(
        "<think>back</think><answer>[{'action': 'press_back'}]</answer>",
        10,
        0,
    )];
    close(&score(&plan, "main", back, &samples).rewards, &[3.0]);
}

// ----- PixelThink -----

#[test]
fn pixelthink_scales_the_segmentation_reward_by_a_difficulty_budget() {
    let plan = paper("pixelthink");
    let row = |difficulty: f64| {
        serde_json::json!({"problem": "the red square", "bbox": [0.0, 0.0, 40.0, 40.0],
            "point_1": [10.0, 10.0], "point_2": [30.0, 30.0], "difficulty": difficulty,
            "uncertainty": 2.0})
    };
    let perfect = r#"<think>left</think><answer>{"bbox": [0, 0, 40, 40], "points_1": [10, 10], "points_2": [30, 30]}</answer>"#;
    // IoU 0.64 > 0.5, mean L1 5 < 10, second point outside the box: 1 + 1 + 1 + 1 + 0.
    let close_box = r#"<think>x</think><answer>{"bbox": [0, 0, 50, 50], "points_1": [10, 10], "points_2": [45, 45]}</answer>"#;
    let no_think =
        r#"<answer>{"bbox": [0, 0, 40, 40], "points_1": [10, 10], "points_2": [30, 30]}</answer>"#;
    let s = |length: f64, budget: f64| (1.0 - (length - budget).max(0.0) / 500.0).clamp(0.0, 1.0);
    // Hard rows (difficulty ≥ 5): B = 256 + 25·2 = 306.
    let samples = [
        Sample(perfect, 306, 0),
        Sample(perfect, 556, 0),
        Sample(perfect, 900, 0),
        Sample(close_box, 100, 0),
        Sample(no_think, 100, 0),
    ];
    let scores = score(&plan, "main", row(5.5), &samples);
    close(term(&scores, "points"), &[1.0, 1.0, 1.0, 0.0, 1.0]);
    close(term(&scores, "box_l1"), &[1.0, 1.0, 1.0, 1.0, 1.0]);
    close(
        &scores.rewards,
        &[5.0 * s(306.0, 306.0), 5.0 * s(556.0, 306.0), 0.0, 4.0, 4.0],
    );
    // Medium rows are not scaled; easy ones have a budget of 96 tokens.
    let long = [Sample(perfect, 556, 0)];
    close(&score(&plan, "main", row(4.0), &long).rewards, &[5.0]);
    close(
        &score(&plan, "main", row(2.0), &long).rewards,
        &[5.0 * s(556.0, 96.0)],
    );
}

// ----- SATORI-R1 -----

#[test]
fn satori_r1_adds_format_union_iou_answer_and_caption_similarity() {
    let plan = paper("satori_r1");
    let caption = "a red square on a white background";
    let row = serde_json::json!({"question": "What colour?", "possible_answers": ["red", "Red"],
        "caption": caption, "boxes": [[0.0, 0.0, 40.0, 40.0], [20.0, 0.0, 60.0, 20.0]]});
    let predicted = "a red square";
    let text = format!(
        "<caption>{predicted}</caption>\n<bbox>[[0, 0, 40, 40]]</bbox>\n<answer> red </answer>"
    );
    let samples = [
        Sample(&text, 10, 0),
        Sample(
            "<caption>x</caption><bbox>[1, 2]</bbox><answer>blue</answer>",
            10,
            0,
        ),
    ];
    let scores = score(&plan, "main", row, &samples);
    // The references' union: 40·40 + 40·20 − 20·20 = 2000; the prediction covers 1600 of it.
    let iou = 1600.0 / 2000.0;
    let similarity =
        (rlx_verify::bleu4(predicted, caption) + rlx_verify::rouge_l(predicted, caption)) / 2.0;
    close(term(&scores, "format"), &[1.0, 0.0]);
    close(term(&scores, "boxes"), &[iou, 0.0]);
    close(term(&scores, "answer"), &[1.0, 0.0]);
    close(&scores.rewards[..1], &[1.0 + iou + 1.0 + similarity]);
    assert!(similarity > 0.0 && similarity < 1.0);
}

// ----- Jigsaw-R1 -----

#[test]
fn jigsaw_r1_scores_the_share_of_patches_in_place_and_a_complete_answer() {
    let plan = paper("jigsaw_r1");
    let row = serde_json::json!({"question": "Solve the 4x1 puzzle.", "m": 4, "n": 1,
        "solution": [4, 1, 3, 2]});
    let samples = [
        Sample("4 1 3 2", 5, 0),
        Sample("4, 1, 2, 3", 5, 0),
        Sample("`1`; `2`\n`3` `4`", 5, 0),
        Sample("4 1 3", 5, 0),
        Sample("4 1 3 5", 5, 0),
        Sample("The answer is 4 1 3 2", 5, 0),
    ];
    let scores = score(&plan, "grid_4x1", row, &samples);
    // accuracy: patches in place / m·n, 0 unless the answer has m·n positions; format: m·n
    // positions, each in 1..=m·n, nothing else.
    close(term(&scores, "accuracy"), &[1.0, 0.5, 0.25, 0.0, 0.0, 0.0]);
    close(term(&scores, "format"), &[1.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
    close(&scores.rewards, &[2.0, 1.5, 1.25, 0.0, 0.0, 0.0]);
    let (_, rl) = rl_stage(&plan, "grid_3x1");
    assert_eq!((rl.steps, rl.batch, rl.algorithm.group), (1000, 512, 8));
}

// ----- APO -----

#[test]
fn apo_weights_the_kl_of_positive_advantages_by_difficulty_and_stretches_long_wrong_answers() {
    let plan = paper("apo");
    let row = serde_json::json!({"problem": "The side is 3. What is the area?", "answer": "9"});
    let scores = score(
        &plan,
        "main",
        row,
        &[
            Sample("<think>3·3</think><answer>9</answer>", 100, 0),
            Sample("<think>3 squared</think>\n<answer>9</answer>", 300, 0),
            Sample("<think>3+3+2</think><answer>8</answer>", 1200, 0),
            Sample("<answer>7</answer>", 50, 0),
        ],
    );
    // r = accuracy + 0.5·format.
    let rewards = [1.5, 1.5, 0.5, 0.0];
    close(&scores.rewards, &rewards);
    // GRPO's Â with ε = 1e-9; STCR: the wrong completion 1000 tokens longer than the correct
    // ones' mean (200) is stretched by 2 − 1.00001^(−1000); the short wrong one is not.
    let (m, s) = (mean(&rewards), sample_std(&rewards));
    let a: Vec<f64> = rewards.iter().map(|r| (r - m) / (s + 1e-9)).collect();
    let stretch = 2.0 - 1.00001f64.powf(-1000.0);
    close(
        scores.advantages.as_ref().unwrap(),
        &[a[0], a[1], a[2] * stretch, a[3]],
    );
    // DADS: p = 1/2, so d = 1/2; Â > 0 gets w = 1 − e^(−e·(1 − d)), the others 1.
    let w = 1.0 - (-std::f64::consts::E * 0.5).exp();
    close(scores.kl_weights.as_ref().unwrap(), &[w, w, 1.0, 1.0]);
    // A group all correct (d = 0) keeps weight 1; one with 1 of 4 correct gets 1 − e^(−e/4).
    let row = serde_json::json!({"problem": "?", "answer": "9"});
    let all = score(
        &plan,
        "main",
        row.clone(),
        &[
            Sample("<think>a</think><answer>9</answer>", 10, 0),
            Sample("<answer>9</answer>", 10, 0),
        ],
    );
    close(all.kl_weights.as_ref().unwrap(), &[1.0, 1.0]);
    let one = score(
        &plan,
        "main",
        row,
        &[
            Sample("<answer>9</answer>", 10, 0),
            Sample("<answer>1</answer>", 10, 0),
            Sample("<answer>2</answer>", 10, 0),
            Sample("<answer>3</answer>", 10, 0),
        ],
    );
    let w = 1.0 - (-std::f64::consts::E * 0.25).exp();
    close(one.kl_weights.as_ref().unwrap(), &[w, 1.0, 1.0, 1.0]);
    // A gold option letter: the answer names it and no other of a–f (as the code reads it).
    let letter = serde_json::json!({"problem": "?", "answer": "B"});
    let letters = score(
        &plan,
        "main",
        letter,
        &[
            Sample("<answer>b is right</answer>", 10, 0),
            Sample("<answer>b, not c</answer>", 10, 0),
        ],
    );
    close(term(&letters, "accuracy"), &[1.0, 0.0]);
}

#[test]
fn apo_loss_is_a_token_mean_plus_beta_times_the_weighted_sequence_mean_kl() {
    let plan = paper("apo");
    let settings = loss_settings(&plan, "main", at(0, 312));
    let new: [&[f32]; 2] = [&[-1.0, -0.5, -2.0], &[-0.3, -1.1, -0.7]];
    let old: [&[f32]; 2] = [&[-1.1, -0.5, -1.8], &[-0.4, -1.0, -0.7]];
    let reference: [&[f32]; 2] = [&[-1.2, -0.6, -2.1], &[-0.2, -1.3, -0.9]];
    let (advantages, weights) = ([1.2f32, -0.8], [0.4f32, 1.0]);
    let got = loss_with(
        &settings,
        &new,
        &old,
        &advantages,
        Extras {
            reference: &reference,
            masked: None,
            kl_weights: Some(&weights),
        },
    );
    // L = mean over all tokens of −min(ρA, clip(ρ, 0.8, 1.2)A)
    //   + 1e-3 · mean over sequences of w · (token mean of k3).
    let mut policy = 0.0;
    let mut kl = 0.0;
    for i in 0..2 {
        let mut sequence_kl = 0.0;
        for j in 0..3 {
            let ratio = (f64::from(new[i][j]) - f64::from(old[i][j])).exp();
            policy -= clipped_objective(ratio, f64::from(advantages[i]), 0.2, 0.2);
            sequence_kl += k3(f64::from(new[i][j]), f64::from(reference[i][j]));
        }
        kl += f64::from(weights[i]) * sequence_kl / 3.0;
    }
    let expected = policy / 6.0 + 1e-3 * kl / 2.0;
    assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
}

// ----- PAPO -----

#[test]
fn papo_rewards_the_boxed_answer_after_tidying_tags() {
    let plan = paper("papo");
    let row = serde_json::json!({"problem": "Perimeter?", "answer": "20"});
    let scores = score(
        &plan,
        "main",
        row,
        &[
            Sample("<think>4·5</think> so \\boxed{20}.", 10, 0),
            Sample("< think >4·5</ think > \\boxed{20}", 10, 0),
            Sample("\\boxed{20}", 10, 0),
            Sample("<think>4+5</think>\\boxed{9}", 10, 0),
        ],
    );
    // 0.9·accuracy + 0.1·format; white space around `<`, `>` and `/` is removed first.
    close(term(&scores, "accuracy"), &[1.0, 1.0, 1.0, 0.0]);
    close(term(&scores, "format"), &[1.0, 1.0, 0.0, 1.0]);
    close(&scores.rewards, &[1.0, 1.0, 0.9, 0.1]);
}

#[test]
fn papo_loss_subtracts_the_masked_image_kl_and_adds_both_entropies() {
    let plan = paper("papo");
    let settings = loss_settings(&plan, "main", at(5, 202));
    let new: [&[f32]; 2] = [&[-1.0, -0.5, -2.0], &[-0.3, -1.1, -0.7]];
    let old: [&[f32]; 2] = [&[-1.1, -0.5, -1.8], &[-0.4, -1.0, -0.7]];
    let reference: [&[f32]; 2] = [&[-1.2, -0.6, -2.1], &[-0.2, -1.3, -0.9]];
    let masked: [&[f32]; 2] = [&[-2.5, -0.9, -30.0], &[-0.3, -3.0, -1.5]];
    let advantages = [1.2f32, -0.8];
    let got = loss_with(
        &settings,
        &new,
        &old,
        &advantages,
        Extras {
            reference: &reference,
            masked: Some(&masked),
            kl_weights: None,
        },
    );
    // Per token: −min(ρA, clip(ρ, 0.8, 1.3)A), at most −3A for A < 0 (dual clip), + 0.01·k3 to
    // the reference − 0.02·k3 to the masked pass (log-ratio within ±20, estimate within ±10)
    // + 0.05·(−log p masked) + 0.05·(−log p); all token means.
    let mut total = 0.0;
    for i in 0..2 {
        for j in 0..3 {
            let (n, o) = (f64::from(new[i][j]), f64::from(old[i][j]));
            let a = f64::from(advantages[i]);
            let mut token = -clipped_objective((n - o).exp(), a, 0.2, 0.3);
            if a < 0.0 {
                token = token.min(-3.0 * a);
            }
            let m = f64::from(masked[i][j]);
            let log_ratio = (n - m).clamp(-20.0, 20.0);
            let perception = ((-log_ratio).exp() - 1.0 + log_ratio).clamp(-10.0, 10.0);
            total += token + 0.01 * k3(n, f64::from(reference[i][j])) - 0.02 * perception
                + 0.05 * -m
                + 0.05 * -n;
        }
    }
    let expected = total / 6.0;
    assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
}

#[test]
fn papo_annealing_takes_gamma_from_1e_2_to_0_over_half_the_steps() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/papers/papo.rlx");
    let (mut source, _) = driver::read_file(&path).unwrap();
    let annealed = source
        .text
        .replace("let annealing = false", "let annealing = true");
    assert_ne!(annealed, source.text);
    source.text = annealed;
    let analysis = driver::analyze(
        &source,
        driver::recipe_dir(&path),
        CheckOptions { data: false },
    );
    let plan = analysis.plan.expect("a plan");
    let (_, rl) = rl_stage(&plan, "main");
    let perception = rl.algorithm.perception.as_ref().unwrap();
    // verl's annealing controller: start + (end − start)·min(t / ⌊0.5·T⌋, 1), T = 202.
    let gamma = |t: u64| 1e-2 * (1.0 - (t as f64 / 101.0).min(1.0));
    schedule_matches(
        &perception.gamma,
        202,
        &[0, 1, 50, 100, 101, 150, 201],
        gamma,
    );
    // The entropy terms are scaled with it.
    let eta = |t: u64| 0.05 * (1.0 - (t as f64 / 101.0).min(1.0));
    schedule_matches(&perception.entropy, 202, &[0, 50, 101, 201], eta);
    schedule_matches(&perception.masked_entropy, 202, &[0, 50, 101, 201], eta);
}

// ----- OpenMMReasoner -----

/// Says 1 when the prediction spells the number out, and records what it was asked.
struct SpellingJudge(std::sync::Mutex<Vec<String>>);

impl Judge for SpellingJudge {
    fn score(&self, _: &str, args: &[(&str, &Value<'_>)]) -> Result<f64, String> {
        let prediction = args
            .iter()
            .find(|(name, _)| *name == "prediction")
            .map(|(_, v)| match v {
                Value::Text(t) => t.to_string(),
                other => other.to_string(),
            })
            .unwrap();
        let score = if prediction.contains("thirty-six") {
            1.0
        } else {
            0.0
        };
        self.0.lock().unwrap().push(prediction);
        Ok(score)
    }
}

#[test]
fn openmmreasoner_asks_the_judge_only_when_the_rules_say_zero() {
    let plan = paper("openmmreasoner");
    let (stage, rl) = rl_stage(&plan, "main");
    let rewards = StageRewards::new(rl, &stage.graph, Backend::Jit, 1).unwrap();
    let area = serde_json::json!({"problem": "Area?", "answer": "36 square centimetres"});
    let choice = serde_json::json!({"problem": "Which shape?", "answer": "B"});
    let (area, choice) = (area.as_object().unwrap(), choice.as_object().unwrap());
    let worked = "Area = 6 * 6, and with the units that makes the area of the square\n12";
    let texts = [
        (
            "<think>6·6</think><answer>36 square centimetres.</answer>",
            area,
        ),
        (
            "<think>6·6</think><answer>thirty-six square centimetres</answer>",
            area,
        ),
        (
            "<think>6+6</think><answer>12 square centimetres</answer>",
            area,
        ),
        ("I think it is twelve.", area),
        (worked, area),
        (
            "<think>x</think><answer>The answer is (B) square</answer>",
            choice,
        ),
        ("<think>x</think><answer>C</answer>", choice),
    ];
    let items = one_group(&texts);
    let judge = SpellingJudge(Default::default());
    let scores = rewards.score(&items, at(0, 1500), &judge).unwrap();
    // Format: 1 for think…answer, 0 for a short bare answer, 0.8 for a worked answer on a line.
    close(
        term(&scores, "format"),
        &[1.0, 1.0, 1.0, 0.0, 0.8, 1.0, 1.0],
    );
    close(
        term(&scores, "accuracy"),
        &[1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
    );
    close(&scores.rewards, &[1.0, 1.0, 0.1, 0.0, 0.08, 1.0, 0.1]);
    // Asked for the rule failures only; the short unformatted response a second time, whole.
    assert_eq!(
        *judge.0.lock().unwrap(),
        [
            "thirty-six square centimetres",
            "12 square centimetres",
            "",
            "I think it is twelve.",
            "12",
            "C",
        ]
    );
}

#[test]
fn openmmreasoner_runs_gspo_easiest_first() {
    let plan = paper("openmmreasoner");
    let (_, rl) = rl_stage(&plan, "main");
    let a = &rl.algorithm;
    assert!(a.sequence_ratio && a.kl.is_none() && a.kl_reward.is_none());
    assert_eq!((a.clip_low, a.clip_high, a.group), (3e-4, 4e-4, 16));
    // GSPO: one ratio per sequence, exp of the mean token log-ratio, clipped at 3e-4 / 4e-4.
    let settings = loss_settings(&plan, "main", at(0, 1500));
    let new: [&[f32]; 2] = [&[-1.0, -0.5], &[-0.3, -1.1, -0.7]];
    let old: [&[f32]; 2] = [&[-1.0001, -0.5], &[-0.4, -1.0, -0.7]];
    let got = loss(&settings, &new, &old, &[1.0, -2.0]);
    let ratio = |n: &[f32], o: &[f32]| {
        (n.iter().zip(o).map(|(a, b)| f64::from(a - b)).sum::<f64>() / n.len() as f64).exp()
    };
    let expected = -(clipped_objective(ratio(new[0], old[0]), 1.0, 3e-4, 4e-4)
        + clipped_objective(ratio(new[1], old[1]), -2.0, 3e-4, 4e-4))
        / 2.0;
    assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
}

// ----- Visionary-R1 -----

/// The reward pass as the trainer runs it with a `policy_chat` model: record the prompts the
/// chat is asked, answer them (here with `reply_to` instead of the policy), score again.
fn score_with_chat(
    plan: &Plan,
    items: &[Item<'_>],
    reply_to: impl Fn(&str) -> String,
) -> (StageScores, Vec<(String, String)>) {
    use rlx_reward::judge::{ChatSettings, Judges, PolicyChat};
    let (stage, rl) = rl_stage(plan, "main");
    let rewards = StageRewards::new(rl, &stage.graph, Backend::Jit, 1).unwrap();
    let reader = plan.models.iter().find(|m| m.name == "reader").unwrap();
    let mut judges = Judges::default();
    let chat = PolicyChat::new(ChatSettings::from_plan(reader).unwrap());
    judges.chats.insert("reader".into(), chat);
    let mut chats = Vec::new();
    let scores = rewards
        .score_judged(items, at(0, u64::from(rl.steps)), &judges, |chat, calls| {
            for (_, prompt) in &calls {
                let messages = chat.messages(prompt);
                chats.push((messages[0].1.clone(), messages[1].1.clone()));
            }
            let replies = calls.iter().map(|(_, p)| reply_to(p)).collect();
            chat.answer(calls, replies, 0.0);
            Ok(())
        })
        .unwrap();
    (scores, chats)
}

#[test]
fn visionary_r1_rewards_accuracy_format_and_the_policys_answer_from_the_caption() {
    let plan = paper("visionary_r1");
    let colour = serde_json::json!({"problem": "What colour is the square?",
        "solution": "<answer> red </answer>", "problem_type": "multiple choice"});
    let share = serde_json::json!({"problem": "What share is covered?",
        "solution": "<answer> 25 </answer>", "problem_type": "OCR"});
    let word = serde_json::json!({"problem": "Which word?",
        "solution": "<answer> Invoice </answer>", "problem_type": "OCR"});
    let free = serde_json::json!({"problem": "Where are the squares?",
        "solution": "<answer>two blue squares side by side near the top</answer>",
        "problem_type": "free-form"});
    let (colour, share) = (colour.as_object().unwrap(), share.as_object().unwrap());
    let (word, free) = (word.as_object().unwrap(), free.as_object().unwrap());
    let texts = [
        (
            "<info>a red square on white</info> <think>it is red</think> <answer>Red</answer>",
            colour,
        ),
        (
            "<info>the answer is red because it is red</info>\n<think>x</think><answer>blue</answer>",
            colour,
        ),
        ("<think>no caption</think><answer>red</answer>", colour),
        (
            "<info>a red\nsquare</info> <think>t</think> <answer>red</answer>",
            colour,
        ),
        (
            "<info>a quarter of the image</info> <think>t</think> <answer>25%</answer>",
            share,
        ),
        ("<answer>about 25 percent</answer>", share),
        (
            "<info>the word invoices</info> <think>t</think> <answer>invoices</answer>",
            word,
        ),
        (
            "<info>two blue squares at the top</info> <think>t</think> <answer>two blue square near the top</answer>",
            free,
        ),
    ];
    let items = one_group(&texts);
    // The policy's replies, by the caption it is shown.
    let reply_to = |prompt: &str| -> String {
        let caption = prompt
            .strip_prefix("Input Format:\nText:")
            .and_then(|rest| rest.split("\nQuestion:").next())
            .unwrap();
        match caption {
            "a red square on white" => "red",
            "the answer is red because it is red" => "Hacking Sample",
            "a quarter of the image" => "25",
            "the word invoices" => "Invoice",
            "two blue squares at the top" => "two blue squares",
            other => panic!("asked about {other:?}"),
        }
        .to_string()
    };
    let (scores, chats) = score_with_chat(&plan, &items, reply_to);
    // The chat: the code's system prompt, then its user turn; only completions with a caption on
    // one line are asked, each once, in the completions' order.
    let system = "You are an analytical assistant designed to evaluate texts and answer questions based on strict criteria. Follow these steps:\nAnalyze the Text: Check if the provided text contains answers, solutions, explanations, problem-solving, or interpretations (e.g., reasoning steps, conclusions, causal statements like 'because' or 'therefore'). If any such elements exist, classify the text as non-descriptive. \nDetermine Response: If the text is purely descriptive (e.g., objectively describing images, diagrams, or scenes without explanations/answers), answer the user's question using only the description in a single word or phrase. If the text is non-descriptive, respond with 'Hacking Sample'.";
    assert_eq!(chats.len(), 5);
    assert!(chats.iter().all(|(s, _)| s == system));
    assert_eq!(
        chats[0].1,
        "Input Format:\nText:a red square on white\nQuestion:What colour is the square?"
    );
    // OCR with a numeric gold: the first number, ÷ 100 after a trailing `%` (so "25%" ≠ 25);
    // else 1 − Levenshtein / longer length: "invoice" vs "invoices" is 1 − 1/8.
    // Free-form: mean F of ROUGE-1/2/L over Porter stems ("square" and "squares" agree): answer
    // two blue squar near the top (6) vs two blue squar side by side near the top (9):
    // R-1 P 1, R 6/9; R-2 4 of 5 and 8 bigrams; R-L LCS 6.
    let f = |p: f64, r: f64| 2.0 * p * r / (p + r);
    let rouge = |r1: f64, r2: f64, rl: f64| (r1 + r2 + rl) / 3.0;
    let free_answer = rouge(
        f(1.0, 6.0 / 9.0),
        f(4.0 / 5.0, 4.0 / 8.0),
        f(1.0, 6.0 / 9.0),
    );
    // The reply "two blue squares": R-1 3 of 3 and 9, R-2 2 of 2 and 8, R-L 3.
    let free_reply = rouge(f(1.0, 3.0 / 9.0), f(1.0, 2.0 / 8.0), f(1.0, 3.0 / 9.0));
    let accuracy = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.875, free_answer];
    let format = [1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
    let caption = [0.1, 0.0, 0.0, 0.0, 0.1, 0.0, 0.1, 0.1 * free_reply];
    close(term(&scores, "accuracy"), &accuracy);
    close(term(&scores, "format"), &format);
    close(term(&scores, "caption"), &caption);
    let total: Vec<f64> = (0..8)
        .map(|i| accuracy[i] + format[i] + caption[i])
        .collect();
    close(&scores.rewards, &total);
    // TRL's advantage: (r − mean) / (std + 1e-4), the group's sample std.
    let (m, s) = (mean(&total), sample_std(&total));
    let expected: Vec<f64> = total.iter().map(|r| (r - m) / (s + 1e-4)).collect();
    close(scores.advantages.as_ref().unwrap(), &expected);
}

#[test]
fn visionary_r1_anneals_its_kl_and_learning_rate_over_the_epoch() {
    let plan = paper("visionary_r1");
    let (_, rl) = rl_stage(&plan, "main");
    let steps = u64::from(rl.steps);
    assert_eq!(steps, 273_000 / 64);
    assert_eq!((rl.algorithm.group, rl.batch), (8, 8 * 8 * 8));
    // β/2·(1 + cos(π·epoch)), the epoch's share done.
    let beta = &rl.algorithm.kl.as_ref().unwrap().beta;
    schedule_matches(beta, steps, &[0, 1, steps / 2, steps - 1], |t| {
        0.02 * (1.0 + (std::f64::consts::PI * t as f64 / steps as f64).cos())
    });
    // transformers' linear schedule without warm-up: lr·(T − t)/T.
    schedule_matches(&plan.optimizer.lr, steps, &[0, 7, steps - 1], |t| {
        5e-7 * (steps - t) as f64 / steps as f64
    });
    let rollout = &rl.rollout;
    assert_eq!(
        (
            rollout.temperature,
            rollout.top_p,
            rollout.top_k,
            rollout.max_tokens
        ),
        (0.9, 0.9, 50, 256)
    );
}

#[test]
fn visionary_r1_loss_is_trls_token_mean_with_the_annealed_k3() {
    let plan = paper("visionary_r1");
    let (_, rl) = rl_stage(&plan, "main");
    let steps = u64::from(rl.steps);
    // Half-way through the epoch β = 0.02·(1 + cos(π/2)) = 0.02.
    let settings = loss_settings(&plan, "main", at(steps / 2, steps));
    let beta = 0.02 * (1.0 + (std::f64::consts::PI * (steps / 2) as f64 / steps as f64).cos());
    // TRL's one update per batch: the ratio exp(logp − logp.detach()) is 1.
    let new: [&[f32]; 2] = [&[-1.0, -0.5, -2.0], &[-0.3, -1.1, -0.7]];
    let reference: [&[f32]; 2] = [&[-1.2, -0.5, -1.0], &[-0.3, -1.6, -0.2]];
    let advantages = [0.8f32, -1.3];
    let got = loss_with(
        &settings,
        &new,
        &new,
        &advantages,
        Extras {
            reference: &reference,
            masked: None,
            kl_weights: None,
        },
    );
    // −mean over sequences of the token mean of (A − β·k3(π, π_ref)).
    let per_sequence = |i: usize| {
        let tokens = new[i].len() as f64;
        new[i]
            .iter()
            .zip(reference[i])
            .map(|(&n, &r)| f64::from(advantages[i]) - beta * k3(f64::from(n), f64::from(r)))
            .sum::<f64>()
            / tokens
    };
    let expected = -(per_sequence(0) + per_sequence(1)) / 2.0;
    assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
}
