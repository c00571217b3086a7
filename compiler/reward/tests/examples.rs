//! Every RL stage of every example recipe: its reward graph (reward, terms, filter, advantage)
//! compiles, scores synthetic completions of rows shaped like its dataset with both walkers, and
//! the two agree.

use std::path::{Path, PathBuf};

use rlx_compiler::driver::{self, CheckOptions};
use rlx_compiler::plan::{Op, StageKind, StepVars};
use rlx_reward::{Backend, Item, Judge, StageRewards, Value};

/// A judge that answers from what it is shown, so that its score depends on the completion.
struct LengthJudge;

impl Judge for LengthJudge {
    fn score(&self, _model: &str, args: &[(&str, &Value<'_>)]) -> Result<f64, String> {
        let shown: usize = args.iter().map(|(_, v)| v.to_string().len()).sum();
        Ok((shown % 7) as f64 / 7.0)
    }
}

fn synthetic(ty: &str, i: usize) -> serde_json::Value {
    match ty.trim_end_matches('?') {
        "float" => serde_json::json!(0.5 * i as f64),
        "int" => serde_json::json!(i as i64 + 2),
        "bool" => serde_json::json!(i.is_multiple_of(2)),
        "box" => serde_json::json!([0, 0, 10 + i, 10]),
        t if t.starts_with("list[box") => serde_json::json!([[0, 0, 5, 5], [5, 5, 10, 10]]),
        t if t.starts_with("list[") => serde_json::json!([]),
        _ => serde_json::json!(["3", "\\frac{1}{2}", "B", "[0, 0, 10, 10]"][i % 4]),
    }
}

const TEXTS: &[&str] = &[
    "<think>so</think>\n<answer>3</answer>",
    "<think>x</think><answer>\\boxed{\\frac{1}{2}}</answer>",
    "<observe>a</observe><think>b</think><answer>[0, 0, 10, 10]</answer>",
    "The answer is B.",
    "",
    "<answer>17 + 3 = 20</answer>",
];

fn examples(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            examples(&path, out);
        } else if path.extension().is_some_and(|e| e == "rlx") {
            out.push(path);
        }
    }
}

#[test]
fn every_example_stage_scores_alike_with_both_walkers() {
    let mut paths = Vec::new();
    examples(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples"),
        &mut paths,
    );
    paths.sort();
    let mut stages = 0;
    for path in &paths {
        let (file, _) = driver::read_file(path).unwrap();
        let analysis = driver::analyze(
            &file,
            driver::recipe_dir(path),
            CheckOptions { data: false },
        );
        let Some(plan) = analysis.plan else {
            continue;
        };
        for stage in &plan.stages {
            let StageKind::Rl(rl) = &stage.kind else {
                continue;
            };
            let fields: Vec<(String, String)> = stage
                .graph
                .nodes
                .iter()
                .filter_map(|n| match &n.op {
                    Op::Row { field } => Some((field.clone(), n.ty.clone())),
                    _ => None,
                })
                .collect();
            let rows: Vec<serde_json::Map<String, serde_json::Value>> = (0..12)
                .map(|i| {
                    fields
                        .iter()
                        .map(|(f, ty)| (f.clone(), synthetic(ty, i)))
                        .collect()
                })
                .collect();
            let items: Vec<Item> = rows
                .iter()
                .enumerate()
                .map(|(i, row)| Item {
                    text: TEXTS[i % TEXTS.len()],
                    tokens: Some(100 * i as i64),
                    truncated: Some(i % 5 == 0),
                    row,
                    group: (i / 4) as u64,
                })
                .collect();
            let step = StepVars {
                step: 7,
                stage_step: 7,
                stage_steps: rl.steps as u64,
            };
            let scored: Vec<_> = [Backend::Interpreter, Backend::Jit]
                .into_iter()
                .map(|backend| {
                    let rewards =
                        StageRewards::new(rl, &stage.graph, backend, 1).unwrap_or_else(|e| {
                            panic!("{}: stage `{}`: {e}", path.display(), stage.name)
                        });
                    rewards
                        .score(&items, step, &LengthJudge)
                        .unwrap_or_else(|e| {
                            panic!("{}: stage `{}`: {e}", path.display(), stage.name)
                        })
                })
                .collect();
            assert_eq!(
                scored[0],
                scored[1],
                "{}: stage `{}`",
                path.display(),
                stage.name
            );
            assert_eq!(scored[0].terms.len(), rl.terms.len());
            assert_eq!(scored[0].kept.is_some(), rl.filter.is_some());
            stages += 1;
        }
    }
    assert!(stages >= 10, "only {stages} RL stages among the examples");
}
