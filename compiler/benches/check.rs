//! `cargo bench -p rlx-compiler --bench check`: time to parse, resolve, type-check and lower to the
//! plan a generated 5,000-line recipe, first without its data files, then with them.
//! Targets: the front end under 20 ms (issue 2); the whole check with data contracts under 50 ms
//! (issue 3).

use std::path::Path;
use std::time::Instant;

use rlx_compiler::driver::{self, CheckOptions};

/// This benchmark times the front end (issue 2); its data files do not exist.
const NO_DATA: CheckOptions = CheckOptions { data: false };
use rlx_compiler::source::SourceFile;

#[path = "common/recipe.rs"]
mod recipe;
use recipe::generated_recipe;

fn main() {
    let text = generated_recipe(5_000);
    let line_count = text.lines().count();
    let file = SourceFile::new("generated.rlx", text);
    let analysis = driver::analyze(&file, Path::new("."), NO_DATA);
    assert!(
        analysis.diagnostics.is_empty(),
        "the generated recipe should check clean: {:?}",
        analysis.diagnostics
    );
    let plan = analysis
        .plan
        .expect("the generated recipe lowers to a plan");

    let iterations = 50;
    let mut times = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        let diagnostics = driver::check_source(&file, Path::new("."), NO_DATA);
        times.push(start.elapsed().as_secs_f64() * 1e3);
        assert!(diagnostics.is_empty());
    }
    times.sort_by(f64::total_cmp);
    let median = times[iterations / 2];
    let phase = |f: &dyn Fn()| {
        let mut t: Vec<f64> = (0..iterations)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        t.sort_by(f64::total_cmp);
        t[iterations / 2]
    };
    let lex = phase(&|| {
        std::hint::black_box(rlx_lang::lexer::lex(&file.text));
    });
    let parse = phase(&|| {
        std::hint::black_box(rlx_lang::parse(&file.text));
    });
    let parsed = rlx_lang::parse(&file.text);
    let locals = Default::default();
    let lower = phase(&|| {
        std::hint::black_box(rlx_compiler::lower::lower(
            &rlx_compiler::lower::LowerInput {
                module: &parsed.module,
                source: &file,
                locals: &locals,
                base_dir: ".".into(),
            },
        ));
    });
    let json = plan.to_json();
    let serialise = phase(&|| {
        std::hint::black_box(plan.to_json());
    });
    let bytes = file.text.len();
    println!(
        "check (parse, resolve, type check, lower to the plan) of a {line_count}-line recipe ({} KiB), {iterations} runs:",
        bytes / 1024
    );
    println!(
        "  median {median:.2} ms, min {:.2} ms, max {:.2} ms",
        times[0],
        times[iterations - 1]
    );
    println!(
        "  {:.0} lines/ms, {:.1} MiB/s",
        line_count as f64 / median,
        bytes as f64 / 1048576.0 / (median / 1e3)
    );
    println!(
        "  phases (median): lex {lex:.2} ms, lex + parse {parse:.2} ms, resolve + type check {:.2} ms, lower {lower:.2} ms",
        median - parse - lower
    );
    println!(
        "  plan: {} stages, {} graph nodes, {} KiB of JSON written in {serialise:.2} ms",
        plan.stages.len(),
        plan.stages
            .iter()
            .map(|s| s.graph.nodes.len())
            .sum::<usize>(),
        json.len() / 1024
    );
    println!(
        "  front end (without lowering) target: < 20 ms -> {}",
        if median - lower < 20.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    with_data(&file, iterations);
}

/// The same recipe with its data contracts: every dataset gets a JSON Lines file of 1,000 rows.
fn with_data(file: &SourceFile, iterations: usize) {
    let dir = std::env::temp_dir().join(format!("rlx-bench-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("data")).expect("temp dir");
    let row = r#"{"problem": "What is 6 times 7?", "answer": "42", "level": 3, "reward": "rule", "refined_cot": "6 times 7 is 42."}"#;
    let rows = format!("{row}\n").repeat(1_000);
    let datasets = file.text.matches("dataset data_").count();
    for b in 0..datasets {
        std::fs::write(dir.join(format!("data/set_{b}.jsonl")), &rows).expect("data file");
    }
    let diagnostics = driver::check_source(file, &dir, CheckOptions::default());
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let mut times: Vec<f64> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(driver::check_source(file, &dir, CheckOptions::default()));
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let median = times[iterations / 2];
    println!(
        "with data contracts ({datasets} datasets of 1,000 JSON Lines rows; the recipe shares 8,000 checked rows):"
    );
    println!("  median {median:.2} ms, min {:.2} ms", times[0]);
    println!(
        "  target (type checker issue): < 50 ms -> {}",
        if median < 50.0 { "met" } else { "NOT met" }
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
}
