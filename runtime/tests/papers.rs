//! The seed papers' recipes (`examples/papers/*.rlx`), each written with the paper's own model and
//! constants, run every one of their stages on the CPU: the policy is swapped for a tiny
//! vision-language model, the batches for two groups or two rows, the rollouts for a few tokens,
//! and each stage is cut to one epoch or one step over the shipped sample rows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rlx_compiler::driver::{self, CheckOptions};
use rlx_compiler::plan::{Plan, StageKind, Value};
use rlx_runtime::device::Cpu;
use rlx_runtime::train::{RunOptions, run};

fn papers() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/papers");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "rlx"))
        .collect();
    files.sort();
    files
}

fn plan_of(path: &Path) -> Plan {
    let (source, _) = driver::read_file(path).unwrap();
    let analysis = driver::analyze(&source, driver::recipe_dir(path), CheckOptions::default());
    let messages: Vec<String> = analysis
        .diagnostics
        .iter()
        .map(|d| d.message.clone())
        .collect();
    analysis
        .plan
        .unwrap_or_else(|| panic!("{}: {messages:?}", path.display()))
}

/// A vision-language policy small enough for a debug-profile test, in place of the paper's.
fn tiny_policy(plan: &mut Plan) {
    let policy = plan.policy.clone();
    let model = plan
        .models
        .iter_mut()
        .find(|m| m.name == policy)
        .expect("the policy's model");
    let int = |v: i64| Value::Int(v);
    model.constructor = "tiny_vl".into();
    model.args = BTreeMap::from([
        ("hidden".into(), int(32)),
        ("layers".into(), int(1)),
        ("heads".into(), int(2)),
        ("kv_heads".into(), int(1)),
        ("ffn".into(), int(64)),
        ("vocab".into(), int(266)),
        ("vision_hidden".into(), int(16)),
        ("vision_layers".into(), int(1)),
        ("vision_heads".into(), int(2)),
        ("patch".into(), int(14)),
        ("min_pixels".into(), int(28 * 28)),
        ("max_pixels".into(), int(56 * 56)),
    ]);
}

/// Judges behind a port nothing listens on, asked once: the runs take their declared fallback
/// (what a run does when its judge is down), whatever else runs on the machine.
fn unreachable_judges(plan: &mut Plan) {
    for model in &mut plan.models {
        if model.constructor == "judge_http" {
            model
                .args
                .insert("url".into(), Value::Text("http://127.0.0.1:1/v1".into()));
            model.args.insert("retries".into(), Value::Int(0));
        }
    }
}

/// A short run of each stage: one SFT epoch in batches of two rows; one RL step of two groups of
/// at most 4, mini-batches of one group where the recipe splits its batch, rollouts of a few tokens.
fn short_stages(plan: &mut Plan) {
    for stage in &mut plan.stages {
        match &mut stage.kind {
            StageKind::Sft(sft) => {
                sft.epochs = 1;
                sft.batch = 2;
            }
            StageKind::Rl(rl) => {
                rl.steps = 1;
                rl.algorithm.group = rl.algorithm.group.min(4);
                rl.batch = rl.algorithm.group * 2;
                if rl.minibatch > 0 {
                    rl.minibatch = rl.algorithm.group;
                }
                rl.rollout.max_tokens = rl.rollout.max_tokens.min(6);
            }
        }
        stage.eval = None;
    }
}

#[test]
fn every_paper_recipe_runs_each_of_its_stages() {
    let mut ran = Vec::new();
    // `RLX_PAPERS=apo,papo` runs only those (while working on them).
    let only = std::env::var("RLX_PAPERS").ok();
    for path in papers() {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        if only
            .as_ref()
            .is_some_and(|o| !o.split(',').any(|n| n == stem))
        {
            continue;
        }
        let mut plan = plan_of(&path);
        tiny_policy(&mut plan);
        unreachable_judges(&mut plan);
        short_stages(&mut plan);
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let out = std::env::temp_dir().join(format!("rlx-paper-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let options = RunOptions {
            save_every: 0,
            micro_batch: 8,
            ..RunOptions::new(out.clone())
        };
        let summary = run::<Cpu>(&plan, &options, &Default::default(), &mut |_| {})
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Every stage ran, in order, and its losses are numbers.
        let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
        let mut stages_run: Vec<String> = Vec::new();
        for line in metrics.lines() {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            let stage = record["stage"].as_str().unwrap().to_string();
            if stages_run.last() != Some(&stage) {
                stages_run.push(stage);
            }
            assert!(
                record["loss"].as_f64().is_some_and(f64::is_finite),
                "{}: {line}",
                path.display()
            );
        }
        let stages: Vec<&str> = plan.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(stages_run, stages, "{}", path.display());
        assert_eq!(summary.steps, metrics.lines().count() as u64);
        ran.push(name);
        let _ = std::fs::remove_dir_all(&out);
    }
    if only.is_none() {
        assert!(ran.len() >= 18, "{ran:?}");
    }
}
