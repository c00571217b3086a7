//! `cargo bench -p rlx-lsp --bench latency`: what an editor waits for on a generated 2,000-line
//! recipe — the analysis behind the diagnostics after a change (the whole compiler: parse, resolve,
//! type check, lowering), and a completion. Targets (editor issue): diagnostics within 30 ms of a
//! change, completion within 10 ms.

use std::time::Instant;

use lsp_types::Uri;
use rlx_lsp::document::Document;

#[path = "../../benches/common/recipe.rs"]
mod recipe;

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let text = recipe::generated_recipe(2_000);
    let lines = text.lines().count();
    let uri: Uri = "file:///tmp/rlx-latency/generated.rlx".parse().unwrap();
    let mut version = 0;
    let mut analyse = |text: &str| {
        version += 1;
        let start = Instant::now();
        let document = Document::new(uri.clone(), text.to_string(), version, false);
        let diagnostics = rlx_lsp::features::diagnostics(&document);
        (
            start.elapsed().as_secs_f64() * 1e3,
            document,
            diagnostics.len(),
        )
    };
    let (_, document, clean) = analyse(&text);
    assert_eq!(clean, 0, "the generated recipe checks clean");
    // A change: a typo in the middle of the file, then its fix.
    let middle = text.len() / 2;
    let at = middle + text[middle..].find("math_equiv(").unwrap();
    let broken = format!(
        "{}math_equv({}",
        &text[..at],
        &text[at + "math_equiv(".len()..]
    );
    let mut change = Vec::new();
    for i in 0..30 {
        let (ms, _, found) = analyse(if i % 2 == 0 { &broken } else { &text });
        assert_eq!(found, usize::from(i % 2 == 0));
        change.push(ms);
    }
    // Completion after `ex.` in the middle, and of names in a stage block.
    let field = middle + text[middle..].find("ex.answer").unwrap() + 3;
    let block = text.rfind("steps = 10").unwrap();
    let mut completion = Vec::new();
    for i in 0..200 {
        let offset = if i % 2 == 0 { field } else { block };
        let start = Instant::now();
        let items = rlx_lsp::features::completion(&document, offset);
        completion.push(start.elapsed().as_secs_f64() * 1e3);
        assert!(!items.is_empty());
    }
    let (change, completion) = (median(change), median(completion));
    println!("rlx-lsp on a generated {lines}-line recipe (medians):");
    println!(
        "  diagnostics after a change {change:>8.2} ms   (target 30 ms: {})",
        if change <= 30.0 { "met" } else { "NOT met" }
    );
    println!(
        "  completion                 {completion:>8.3} ms   (target 10 ms: {})",
        if completion <= 10.0 { "met" } else { "NOT met" }
    );
}
