//! Every example recipe whose policy is a `tiny(...)` model trains for a few steps on the CPU (the
//! others name Hugging Face folders that are not shipped): data loading, prompts, the SFT loss and
//! the first updates work on the recipes users start from.

use std::path::Path;

use rlx_compiler::driver::{self, CheckOptions};
use rlx_compiler::plan::StageKind;
use rlx_runtime::device::Cpu;
use rlx_runtime::train::{RunOptions, run};

fn recipes(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            recipes(&path, out);
        } else if path.extension().is_some_and(|e| e == "rlx") {
            out.push(path);
        }
    }
}

#[test]
fn examples_with_tiny_policies_train() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files = Vec::new();
    recipes(&root, &mut files);
    files.sort();
    let mut trained = Vec::new();
    for file in files {
        let (source, _) = driver::read_file(&file).unwrap();
        let analysis = driver::analyze(&source, driver::recipe_dir(&file), CheckOptions::default());
        let Some(mut plan) = analysis.plan else {
            continue;
        };
        let tiny = plan
            .models
            .iter()
            .any(|m| m.name == plan.policy && m.constructor == "tiny");
        if !tiny {
            continue;
        }
        // A smoke run in the debug profile: small batches and short rollouts.
        for stage in &mut plan.stages {
            match &mut stage.kind {
                StageKind::Sft(sft) => sft.batch = sft.batch.min(4),
                StageKind::Rl(rl) => {
                    rl.rollout.max_tokens = rl.rollout.max_tokens.min(8);
                    rl.batch = rl.algorithm.group * 2;
                }
            }
            stage.eval = None;
        }
        let out = std::env::temp_dir().join(format!(
            "rlx-example-{}-{}",
            file.file_stem().unwrap().to_string_lossy(),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&out);
        let options = RunOptions {
            max_steps: Some(2),
            save_every: 0,
            micro_batch: 8,
            ..RunOptions::new(out.clone())
        };
        let summary = run::<Cpu>(&plan, &options, &Default::default(), &mut |_| {})
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(summary.steps, 2, "{}", file.display());
        let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
        assert_eq!(metrics.lines().count(), 2);
        trained.push(file.file_name().unwrap().to_string_lossy().into_owned());
        let _ = std::fs::remove_dir_all(&out);
    }
    assert_eq!(
        trained,
        ["recipe.rlx", "countdown.rlx", "recipe.rlx"],
        "arith, countdown, modules"
    );
}
