//! Training end to end on a tiny model: SFT then RL with metrics, evaluations and checkpoints;
//! resuming after a kill reproduces an uninterrupted run exactly; a diverging run stops with the
//! last good checkpoint intact; gradient accumulation equals one large batch.

use std::path::{Path, PathBuf};

use rlx_compiler::driver::{self, CheckOptions};
use rlx_compiler::plan::Plan;
use rlx_runtime::device::Cpu;
use rlx_runtime::train::{RunOptions, Summary, run};

const ROWS: &str = r#"{"question": "1+2=", "answer": 3, "solution": "<think>1+2=3</think><answer>3</answer>"}
{"question": "2+2=", "answer": 4, "solution": "<think>2+2=4</think><answer>4</answer>"}
{"question": "3+4=", "answer": 7, "solution": "<think>3+4=7</think><answer>7</answer>"}
{"question": "5+1=", "answer": 6, "solution": "<think>5+1=6</think><answer>6</answer>"}
{"question": "2+6=", "answer": 8, "solution": "<think>2+6=8</think><answer>8</answer>"}
{"question": "4+4=", "answer": 8, "solution": "<think>4+4=8</think><answer>8</answer>"}
"#;

fn recipe(stages: &str, lr: &str) -> String {
    format!(
        r#"use std::verify::numeric_close
use std::format::tag_count
use std::schedule::{{constant, warmup_cosine}}

dataset sums = jsonl("sums.jsonl") {{
    question: text
    answer: int
    solution: text
}}

model policy = tiny(hidden = 16, layers = 1, heads = 2, kv_heads = 1, ffn = 32, vocab = 263)

prompt ask(ex: sums) = chat {{
    user: ex.question
}}

reward accuracy(c: completion, ex: sums) -> float =
    if numeric_close(c.answer, ex.answer) {{ 1.0 }} else {{ 0.0 }}

reward shaped(c: completion, ex: sums) -> float =
    accuracy(c, ex) + 0.1 * min(len(c.text), 10) / 10.0

train policy {{
    optimizer = adamw(lr = {lr}, weight_decay = 0.01)
    seed = 3
{stages}
}}
"#
    )
}

const SFT_THEN_RL: &str = r#"
    stage warm = sft { data = sums, target = ex.solution, prompt = ask, epochs = 1, batch = 3 }
    stage climb = rl {
        data = sums
        prompt = ask
        reward = shaped
        algorithm = grpo(group = 4, epochs = 2, minibatch = 4)
        steps = 3
        batch = 8
        rollout { temperature = 1.0, max_tokens = 6 }
        eval = eval(data = sums, every = 2, max_tokens = 6)
    }"#;

fn compile(dir: &Path, text: &str) -> Plan {
    std::fs::write(dir.join("sums.jsonl"), ROWS).unwrap();
    let path = dir.join("recipe.rlx");
    std::fs::write(&path, text).unwrap();
    let (file, _) = driver::read_file(&path).unwrap();
    let analysis = driver::analyze(&file, dir, CheckOptions::default());
    assert!(
        analysis.diagnostics.iter().all(|d| !d.is_error()),
        "{:?}",
        analysis.diagnostics
    );
    analysis.plan.expect("a plan")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rlx-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn train(plan: &Plan, options: &RunOptions) -> Result<Summary, String> {
    run::<Cpu>(plan, options, &Default::default(), &mut |_| {})
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn sft_then_rl_writes_metrics_evaluations_and_a_final_folder() {
    let dir = scratch("full");
    let plan = compile(
        &dir,
        &recipe(SFT_THEN_RL, "warmup_cosine(peak = 1e-2, warmup = 2)"),
    );
    let options = RunOptions {
        save_every: 2,
        ..RunOptions::new(dir.join("out"))
    };
    let summary = train(&plan, &options).unwrap();
    // SFT: 6 rows in batches of 3 → 2 steps; then 3 RL steps.
    assert_eq!(summary.steps, 5);
    let metrics = lines(&dir.join("out/metrics.jsonl"));
    assert_eq!(metrics.len(), 5);
    assert_eq!(metrics[0]["stage"], "warm");
    assert!(metrics[0]["loss"].as_f64().unwrap() > 0.0);
    // warmup_cosine, as transformers computes it: peak · step / warmup during the warm-up.
    assert_eq!(metrics[0]["lr"].as_f64().unwrap(), 0.0);
    assert!((metrics[1]["lr"].as_f64().unwrap() - 0.5e-2).abs() < 1e-12);
    for line in &metrics[2..] {
        assert_eq!(line["stage"], "climb");
        for key in [
            "step",
            "reward/mean",
            "reward/shaped/mean",
            "reward/accuracy/mean",
            "loss",
            "kl",
            "lr",
            "tokens/generated",
            "time/rollout_s",
            "time/reward_s",
            "time/train_s",
        ] {
            assert!(line.get(key).is_some(), "{key} missing from {line}");
        }
        // grpo with epochs = 2 over mini-batches of 4 of 8 completions: 4 updates.
        assert_eq!(line["updates"], 4);
        assert!(line["kl"].as_f64().unwrap() >= 0.0);
    }
    // Evaluations at stage steps 0 and 2, then at the end (3).
    let evals = lines(&dir.join("out/eval.jsonl"));
    let at: Vec<u64> = evals
        .iter()
        .map(|e| e["stage_step"].as_u64().unwrap())
        .collect();
    assert_eq!(at, [0, 2, 3]);
    assert!(evals[0].get("eval/accuracy/mean").is_some());
    assert!(metrics[2].get("eval/accuracy/mean").is_some());
    let folder = summary.final_folder.unwrap();
    assert!(folder.join("model.safetensors").exists() && folder.join("config.json").exists());
    // Only complete checkpoints, the newest three.
    let names: Vec<String> = std::fs::read_dir(dir.join("out/checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| n.starts_with("step-")), "{names:?}");
    assert!(names.len() <= 3);
    // A second run into the same folder is refused: nothing is overwritten.
    let error = train(&plan, &options).unwrap_err();
    assert!(error.contains("holds a run already"), "{error}");
}

#[test]
fn resuming_after_a_kill_gives_the_weights_of_an_uninterrupted_run() {
    let dir = scratch("resume");
    let plan = compile(&dir, &recipe(SFT_THEN_RL, "constant(5e-3)"));
    let whole = train(&plan, &RunOptions::new(dir.join("whole"))).unwrap();

    // Killed after step 4 (the second RL step): the newest checkpoint is step 3's.
    let options = RunOptions {
        save_every: 3,
        halt_after: Some(4),
        ..RunOptions::new(dir.join("killed"))
    };
    let halted = train(&plan, &options).unwrap();
    assert_eq!(halted.steps, 4);
    assert!(halted.final_folder.is_none());
    let resumed = train(
        &plan,
        &RunOptions {
            resume: true,
            ..RunOptions::new(dir.join("killed"))
        },
    )
    .unwrap();
    assert_eq!(resumed.steps, 5);
    assert_eq!(whole.final_parameters.len(), resumed.final_parameters.len());
    for (a, b) in whole.final_parameters.iter().zip(&resumed.final_parameters) {
        assert_eq!(a.0, b.0);
        assert_eq!(a.2, b.2, "`{}` differs after resuming", a.0);
    }
    // The metrics of the resumed run replace those written after the checkpoint.
    let steps: Vec<u64> = lines(&dir.join("killed/metrics.jsonl"))
        .iter()
        .map(|l| l["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [0, 1, 2, 3, 4]);

    // Another plan is not resumed from these checkpoints.
    let other = compile(&dir, &recipe(SFT_THEN_RL, "constant(1e-3)"));
    let error = train(
        &other,
        &RunOptions {
            resume: true,
            ..RunOptions::new(dir.join("killed"))
        },
    )
    .unwrap_err();
    assert!(error.contains("another recipe or seed"), "{error}");
}

#[test]
fn a_diverging_run_stops_and_keeps_its_last_checkpoint() {
    let dir = scratch("nan");
    let stages = r#"
    stage warm = sft { data = sums, target = ex.solution, prompt = ask, epochs = 3, batch = 3 }"#;
    // A learning rate of 1e30 sends the weights to infinity after the first update.
    let plan = compile(&dir, &recipe(stages, "constant(1e30)"));
    let options = RunOptions {
        save_every: 1,
        ..RunOptions::new(dir.join("out"))
    };
    let error = train(&plan, &options).unwrap_err();
    assert!(error.contains("training stopped"), "{error}");
    assert!(error.contains("last good checkpoint"), "{error}");
    // The checkpoint named is complete and loads.
    let resumed = train(
        &plan,
        &RunOptions {
            resume: true,
            ..options.clone()
        },
    );
    assert!(resumed.unwrap_err().contains("training stopped"));
}

#[test]
fn gradient_accumulation_equals_one_large_batch() {
    let dir = scratch("accumulate");
    let stages = r#"
    stage warm = sft { data = sums, target = ex.solution, prompt = ask, epochs = 2, batch = 6 }"#;
    // A large ε makes AdamW's update proportional to the gradient: with the usual 1e-8, a
    // gradient that is zero up to rounding (an unused embedding row) becomes a full step of
    // either sign, and the comparison would test rounding rather than accumulation.
    let plan = compile(&dir, &recipe(stages, "constant(1e-2), eps = 1.0"));
    let whole = train(&plan, &RunOptions::new(dir.join("a"))).unwrap();
    let split = train(
        &plan,
        &RunOptions {
            micro_batch: 2,
            ..RunOptions::new(dir.join("b"))
        },
    )
    .unwrap();
    for (a, b) in whole.final_parameters.iter().zip(&split.final_parameters) {
        for (x, y) in a.2.iter().zip(&b.2) {
            assert!((x - y).abs() < 1e-5, "`{}`: {x} vs {y}", a.0);
        }
    }
}

#[test]
fn the_policy_answers_its_chat_prompts_before_scoring_and_the_same_seed_gives_the_same_replies() {
    // A reply fed into a second prompt: two rounds of answers before the reward is known.
    let text = r#"use std::schedule::constant

dataset sums = jsonl("sums.jsonl") {
    question: text
    answer: int
    solution: text
}

model policy = tiny(hidden = 16, layers = 1, heads = 2, kv_heads = 1, ffn = 32, vocab = 263)
model reader = policy_chat(system = "Answer briefly.", template = "Q: {q}", max_tokens = 3)

prompt ask(ex: sums) = chat {
    user: ex.question
}

reward echoed(c: completion, ex: sums) -> float = {
    let first = reader.reply(q = c.text);
    let second = reader.reply(q = first + ex.question);
    0.01 * len(first) + 0.001 * len(second)
}

train policy {
    optimizer = adamw(lr = constant(1e-3))
    seed = 3
    stage climb = rl {
        data = sums
        prompt = ask
        reward = echoed
        algorithm = grpo(group = 4)
        steps = 2
        batch = 8
        rollout { temperature = 1.0, max_tokens = 6 }
    }
}
"#;
    let mut runs = Vec::new();
    for attempt in 0..2 {
        let dir = scratch(&format!("policy-chat-{attempt}"));
        let plan = compile(&dir, text);
        let options = RunOptions {
            save_every: 0,
            ..RunOptions::new(dir.join("out"))
        };
        train(&plan, &options).unwrap();
        let metrics = lines(&dir.join("out/metrics.jsonl"));
        assert_eq!(metrics.len(), 2);
        for record in &metrics {
            // Every completion reads two replies of its own, each sampled once: the second
            // waits for the first instead of being asked with a stand-in for it.
            assert_eq!(record["judge/reader/asked"], 16, "{record}");
            assert_eq!(record["judge/reader/requests"], 16, "{record}");
            let reward = record["reward/mean"].as_f64().unwrap();
            assert!(reward.is_finite() && reward >= 0.0, "{record}");
        }
        runs.push(
            metrics
                .iter()
                .map(|r| (r["reward/mean"].clone(), r["loss"].clone()))
                .collect::<Vec<_>>(),
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert_eq!(runs[0], runs[1]);
}
