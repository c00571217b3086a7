//! `cargo bench -p rlx-reward --bench rewards`: completions/s of the rewards of
//! examples/rewards/math.rlx — `format`, `accuracy` (the math reward) and `weighted` (WeThink-style
//! 0.9·accuracy + 0.1·format) — on generated typical completions (200–2,000 characters), side by
//! side: the verifiers called directly from Rust, the reference interpreter, compiled code on one
//! thread and on every core, and the same rewards in Python (scripts/reward_bench.py, with
//! Math-Verify) when `python3` can import `math_verify`.
//!
//! Targets (reward-engine issue), single thread: math ≥ 200,000/s, format ≥ 5,000,000/s.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use rlx_compiler::driver::{self, CheckOptions};
use rlx_compiler::lower::RewardGraph;
use rlx_compiler::plan::StepVars;
use rlx_reward::{Backend, Engine, Item, NoJudge};

#[path = "../tests/common/pathological.rs"]
mod pathological;

/// A deterministic set of completions in the shape models produce: reasoning, then a boxed or
/// tagged answer, sometimes right, sometimes wrong, sometimes malformed.
fn completions(count: usize) -> Vec<(String, String)> {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let filler =
        "We compute the quantity step by step, checking each intermediate result carefully. ";
    (0..count)
        .map(|i| {
            let numerator = (next() % 97 + 1) as i64;
            let denominator = (next() % 12 + 1) as i64;
            let reference = format!("\\frac{{{numerator}}}{{{denominator}}}");
            let reasoning = filler.repeat(2 + (next() % 22) as usize);
            let answer = match i % 5 {
                0 => format!("{:.6}", numerator as f64 / denominator as f64),
                1 => format!("\\dfrac{{{}}}{{{}}}", numerator * 2, denominator * 2),
                2 => format!("{}", numerator + 1),
                3 => format!("{numerator}/{denominator}"),
                _ => "x + 1".to_string(),
            };
            let text = match i % 3 {
                0 => format!("<think>{reasoning}</think>\n<answer>The answer is $\\boxed{{{answer}}}$.</answer>"),
                1 => format!("<think>{reasoning}</think> so <answer>{answer}</answer>"),
                _ => format!("{reasoning} Therefore the answer is $\\boxed{{{answer}}}$."),
            };
            (text, reference)
        })
        .collect()
}

fn lower(reward: &str) -> RewardGraph {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rewards/math.rlx");
    let (file, _) = driver::read_file(&path).expect("the example recipe");
    let analysis = driver::analyze_reward(
        &file,
        driver::recipe_dir(&path),
        CheckOptions { data: false },
        Some(reward),
    );
    analysis.reward.expect("no errors").expect("the reward")
}

/// Completions/s of `run` (which scores all `count` completions once), over about a second.
fn rate(count: usize, mut run: impl FnMut() -> f64) -> (f64, f64) {
    let mut total = run(); // warm up
    let start = Instant::now();
    let mut rounds = 0;
    while start.elapsed().as_secs_f64() < 1.0 {
        total = run();
        rounds += 1;
    }
    (
        (rounds * count) as f64 / start.elapsed().as_secs_f64(),
        total,
    )
}

fn engine_rate(
    graph: &RewardGraph,
    items: &[Item],
    backend: Backend,
    threads: usize,
) -> (f64, f64) {
    let engine = Engine::new(&graph.graph, &[graph.reward], backend, threads).expect("compiles");
    let step = StepVars {
        step: 0,
        stage_step: 0,
        stage_steps: 0,
    };
    rate(items.len(), || {
        engine
            .score(black_box(items), step, &NoJudge)
            .expect("scores")
            .iter()
            .sum()
    })
}

/// The Python figures, when Math-Verify is installed.
fn python(set: &[(String, String)]) -> Option<serde_json::Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/reward_bench.py");
    let input = std::env::temp_dir().join(format!("rlx-reward-bench-{}.jsonl", std::process::id()));
    let lines: String = set
        .iter()
        .map(|(text, answer)| {
            format!(
                "{}\n",
                serde_json::json!({"completion": text, "answer": answer})
            )
        })
        .collect();
    std::fs::write(&input, lines).ok()?;
    let output = std::process::Command::new("python3")
        .arg(&script)
        .arg(&input)
        .arg("1.0")
        .output()
        .ok();
    let _ = std::fs::remove_file(&input);
    let output = output?;
    if !output.status.success() {
        return None;
    }
    serde_json::from_slice(&output.stdout).ok()
}

fn main() {
    let set = completions(2_000);
    let rows: Vec<serde_json::Map<String, serde_json::Value>> = set
        .iter()
        .map(|(_, answer)| {
            let mut row = serde_json::Map::new();
            row.insert("answer".into(), serde_json::Value::String(answer.clone()));
            row
        })
        .collect();
    let items: Vec<Item> = set
        .iter()
        .zip(&rows)
        .enumerate()
        .map(|(i, ((text, _), row))| Item {
            text,
            tokens: None,
            truncated: None,
            row,
            group: (i / 8) as u64,
        })
        .collect();
    let mean_len = set.iter().map(|(t, _)| t.len()).sum::<usize>() / set.len();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "rlx-reward: {} completions of {mean_len} characters on average; {cores} cores",
        set.len()
    );
    let only_one = std::env::var_os("RLX_BENCH_ONLY").is_some();
    let python = if only_one { None } else { python(&set) };
    type Direct<'s> = Box<dyn Fn() -> f64 + 's>;
    let direct: [(&str, Direct); 3] = [
        (
            "format",
            Box::new(|| {
                set.iter()
                    .filter(|(t, _)| rlx_verify::think_answer(black_box(t)))
                    .count() as f64
            }),
        ),
        (
            "accuracy",
            Box::new(|| {
                set.iter()
                    .filter(|(t, r)| {
                        rlx_verify::math_equiv(rlx_verify::final_answer(black_box(t)), r)
                    })
                    .count() as f64
            }),
        ),
        (
            "weighted",
            Box::new(|| {
                set.iter()
                    .map(|(t, r)| {
                        let accuracy = f64::from(u8::from(rlx_verify::math_equiv(
                            rlx_verify::final_answer(black_box(t)),
                            r,
                        )));
                        let format = f64::from(u8::from(rlx_verify::think_answer(t)));
                        0.9 * accuracy + 0.1 * format
                    })
                    .sum()
            }),
        ),
    ];
    println!(
        "  {:<9} {:>14} {:>14} {:>14} {:>14} {:>14}   JIT 1 thread / Python",
        "reward",
        "direct Rust",
        "interpreter",
        "JIT 1 thread",
        format!("JIT {cores} threads"),
        "Python"
    );
    // `RLX_BENCH_ONLY=format` measures one reward (for profiling).
    let only = std::env::var("RLX_BENCH_ONLY").ok();
    let mut single = Vec::new();
    for (name, direct) in direct {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let graph = lower(name);
        let (direct_rate, direct_total) = rate(set.len(), direct);
        let (interpreted, interpreted_total) = engine_rate(&graph, &items, Backend::Interpreter, 1);
        let (compiled, compiled_total) = engine_rate(&graph, &items, Backend::Jit, 1);
        let (parallel, parallel_total) = engine_rate(&graph, &items, Backend::Jit, 0);
        assert!(
            (direct_total - compiled_total).abs() < 1e-6
                && interpreted_total == compiled_total
                && parallel_total == compiled_total,
            "{name}: the walkers disagree ({direct_total} {interpreted_total} {compiled_total} {parallel_total})"
        );
        let python_rate = python
            .as_ref()
            .and_then(|p| p[name.replace("accuracy", "math")].as_f64());
        println!(
            "  {name:<9} {direct_rate:>14.0} {interpreted:>14.0} {compiled:>14.0} {parallel:>14.0} {:>14} {:>12}",
            python_rate.map_or("-".to_string(), |r| format!("{r:.0}")),
            python_rate.map_or("-".to_string(), |r| format!("{:.0}x", compiled / r)),
        );
        single.push(compiled);
    }
    if python.is_none() {
        println!("  Python: not measured (pip install math-verify==0.9.0 to compare)");
    }
    if only.is_some() {
        return;
    }
    println!(
        "  targets, JIT single thread: math >= 200,000/s -> {}; format >= 5,000,000/s -> {}",
        if single[1] >= 2e5 { "met" } else { "NOT met" },
        if single[0] >= 5e6 { "met" } else { "NOT met" }
    );
    pathological_times();
}

/// The slowest call of each native on each pathological input (target: under 10 ms).
fn pathological_times() {
    let natives = pathological::natives();
    println!("pathological inputs: the slowest native call on each (target < 10 ms)");
    let mut worst_overall: f64 = 0.0;
    for (what, text) in pathological::inputs() {
        let (slowest, name) = natives
            .iter()
            .map(|(name, params)| (pathological::call_all(name, params, &text), name.as_str()))
            .fold((0.0, ""), |a, b| if b.0 > a.0 { b } else { a });
        worst_overall = worst_overall.max(slowest);
        println!("  {what:<34} {:>8.3} ms  ({name})", slowest * 1e3);
    }
    println!(
        "  target: every call < 10 ms -> {}",
        if worst_overall < 0.010 {
            "met"
        } else {
            "NOT met"
        }
    );
}
