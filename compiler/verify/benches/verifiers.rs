//! `cargo bench -p rlx-verify --bench verifiers`: single-thread completions/s of the format check and
//! of the math reward (answer extraction + math equivalence) on generated typical completions
//! (200–2,000 characters). Targets (reward-engine issue): math ≥ 200,000/s, format ≥ 5,000,000/s.

use std::hint::black_box;
use std::time::Instant;

/// A deterministic set of completions in the shape models produce: reasoning, then a boxed or tagged
/// answer, sometimes right, sometimes wrong, sometimes malformed.
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
            let text = if i % 2 == 0 {
                format!("<think>{reasoning}</think>\n<answer>The answer is $\\boxed{{{answer}}}$.</answer>")
            } else {
                format!("<think>{reasoning}</think> so <answer>{answer}</answer>")
            };
            (text, reference)
        })
        .collect()
}

fn rate(label: &str, count: usize, mut run: impl FnMut() -> usize) -> f64 {
    run(); // warm up
    let start = Instant::now();
    let mut rounds = 0;
    let mut positives = 0;
    while start.elapsed().as_secs_f64() < 1.0 {
        positives += run();
        rounds += 1;
    }
    let per_second = (rounds * count) as f64 / start.elapsed().as_secs_f64();
    println!(
        "  {label:<34} {per_second:>12.0} completions/s  ({} positive per round)",
        positives / rounds
    );
    per_second
}

fn main() {
    let set = completions(2_000);
    let mean_len = set.iter().map(|(t, _)| t.len()).sum::<usize>() / set.len();
    println!(
        "rlx-verify, single thread, {} completions of {mean_len} characters on average:",
        set.len()
    );
    let format = rate("format (think_answer)", set.len(), || {
        set.iter()
            .filter(|(text, _)| rlx_verify::think_answer(black_box(text)))
            .count()
    });
    let math = rate("math (final_answer + math_equiv)", set.len(), || {
        set.iter()
            .filter(|(text, reference)| {
                rlx_verify::math_equiv(rlx_verify::final_answer(black_box(text)), reference)
            })
            .count()
    });
    println!(
        "  targets: format >= 5,000,000/s -> {}; math >= 200,000/s -> {}",
        if format >= 5e6 { "met" } else { "NOT met" },
        if math >= 2e5 { "met" } else { "NOT met" }
    );
}
