//! `rlxc run` (docs/cli.md): a tiny recipe trains to the end, writing metrics, evaluations and a
//! final folder; a second run into the same folder is refused; `--max-steps` then `--resume`
//! finishes the run; CUDA without the feature, bad data and recipe errors exit 1 with a message.

use std::path::{Path, PathBuf};
use std::process::Command;

fn rlxc(args: &[&str], dir: &Path) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_rlxc"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("rlxc runs");
    (
        output.status.code().expect("exit code"),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const RECIPE: &str = r#"use std::verify::numeric_close
use std::schedule::constant

dataset sums = jsonl("sums.jsonl") { question: text, answer: int, solution: text }

model policy = tiny(hidden = 16, layers = 1, heads = 2, kv_heads = 1, ffn = 32, vocab = 263)

prompt ask(ex: sums) = chat { user: ex.question }

reward accuracy(c: completion, ex: sums) -> float =
    if numeric_close(c.answer, ex.answer) { 1.0 } else { 0.0 }

train policy {
    optimizer = adamw(lr = constant(1e-3))
    stage warm = sft { data = sums, target = ex.solution, prompt = ask, epochs = 1, batch = 2 }
    stage climb = rl {
        data = sums
        prompt = ask
        reward = accuracy
        algorithm = grpo(group = 2)
        steps = 2
        batch = 4
        rollout { max_tokens = 4 }
        eval = eval(data = sums, every = 1, max_tokens = 4)
    }
}
"#;

fn project(name: &str, rows: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rlxc-run-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("recipe.rlx"), RECIPE).unwrap();
    std::fs::write(dir.join("sums.jsonl"), rows).unwrap();
    dir
}

const ROWS: &str = r#"{"question": "1+2=", "answer": 3, "solution": "<answer>3</answer>"}
{"question": "2+2=", "answer": 4, "solution": "<answer>4</answer>"}
"#;

#[test]
fn a_tiny_recipe_trains_and_a_stopped_run_resumes() {
    let dir = project("ok", ROWS);
    let (code, stderr) = rlxc(&["run", "recipe.rlx"], &dir);
    assert_eq!(code, 0, "{stderr}");
    // The default folder is named after the recipe's folder when the file is `recipe.rlx`.
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let out = dir.join("runs").join(&name);
    assert!(stderr.contains("stage `warm` (sft): 1 steps"), "{stderr}");
    assert!(
        stderr.contains("eval climb at step 0: accuracy"),
        "{stderr}"
    );
    assert!(stderr.contains("eval/accuracy/mean `climb`"), "{stderr}");
    assert!(out.join("final/model.safetensors").exists());
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 3);
    // Running again picks a new folder rather than touching the first.
    let (code, stderr) = rlxc(&["run", "recipe.rlx", "--max-steps", "1"], &dir);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(&format!("runs/{name}-2")), "{stderr}");
    // An explicit folder holding a run is refused; --resume continues it.
    let second = format!("runs/{name}-2");
    let (code, stderr) = rlxc(&["run", "recipe.rlx", "--out", &second], &dir);
    assert_eq!(code, 1);
    assert!(stderr.contains("holds a run already"), "{stderr}");
    let (code, stderr) = rlxc(&["run", "recipe.rlx", "--out", &second, "--resume"], &dir);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("resumed from"), "{stderr}");
    assert!(dir.join(&second).join("final").exists());
}

#[test]
fn cuda_bad_data_and_recipe_errors_exit_1_with_a_message() {
    let dir = project("errors", ROWS);
    if !cfg!(feature = "cuda") {
        let (code, stderr) = rlxc(
            &["run", "recipe.rlx", "--device", "cuda", "--out", "o"],
            &dir,
        );
        assert_eq!(code, 1);
        assert!(stderr.contains("built without CUDA"), "{stderr}");
    }
    // A line that is not JSON is named (by the data contract, before training starts).
    let mut rows = ROWS.to_string();
    rows.push_str("{\"question\": \"3+3=\", \"answer\": 6, \"solution\": \n");
    let bad = project("bad", &rows);
    let (code, stderr) = rlxc(&["run", "recipe.rlx", "--out", "o"], &bad);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("sums.jsonl") && stderr.contains("3"),
        "{stderr}"
    );
    std::fs::write(
        dir.join("recipe.rlx"),
        RECIPE.replace("grpo(group = 2)", "grpo(grup = 2)"),
    )
    .unwrap();
    let (code, stderr) = rlxc(&["run", "recipe.rlx", "--out", "o"], &dir);
    assert_eq!(code, 1);
    assert!(stderr.contains("grup"), "{stderr}");
}
