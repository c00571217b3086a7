//! Inputs that make careless verifiers quadratic, exponential or crash, and a call of every native
//! of the standard library on each of them (shared by tests/bounded.rs and the benchmark).

use std::borrow::Cow;

use rlx_reward::Value;

/// (what it is, the text).
pub fn inputs() -> Vec<(&'static str, String)> {
    let megabyte = 1 << 20;
    vec![
        (
            "1 MB of prose",
            "the answer is 42, or \\frac{1}{2}; ".repeat(megabyte / 34),
        ),
        (
            "100,000 nested braces",
            format!("\\boxed{{{}{}}}", "{".repeat(100_000), "}".repeat(100_000)),
        ),
        (
            "100,000 unclosed braces",
            format!("\\boxed{{{}", "{".repeat(100_000)),
        ),
        ("a 10,000-digit number", "9".repeat(10_000)),
        (
            "10,000 digits over 10,000 digits",
            format!("\\frac{{{}}}{{{}}}", "7".repeat(10_000), "3".repeat(10_000)),
        ),
        (
            "1 MB of tags",
            "<answer><think></answer>".repeat(megabyte / 24),
        ),
        ("1 MB of boxes", "[1, 2, 3, 4] ".repeat(megabyte / 13)),
        ("1 MB of parentheses", "(".repeat(megabyte)),
        ("nested powers", "2^".repeat(50_000) + "2"),
        ("1 MB without spaces", "x".repeat(megabyte)),
        ("1 MB of words", "to be or not ".repeat(megabyte / 13)),
    ]
}

/// Arguments for a parameter of type `ty`, the text parameters being `text`.
fn argument<'a>(ty: &str, text: &'a str) -> Value<'a> {
    match ty {
        "text" => Value::Text(Cow::Borrowed(text)),
        "int" => Value::Int(512),
        "float" => Value::Float(0.5),
        // Stemming, where a flag chooses it, is the costlier path.
        "bool" => Value::Bool(true),
        "box" => Value::Box([0.0, 0.0, 10.0, 10.0]),
        "list[text]" => Value::List(vec![
            Value::Text("think".into()),
            Value::Text("answer".into()),
        ]),
        "list[box]" => Value::List(
            rlx_verify::parse_boxes(text)
                .into_iter()
                .map(Value::Box)
                .chain(std::iter::once(Value::Box([1.0, 1.0, 5.0, 5.0])))
                .collect(),
        ),
        // A jigsaw of 100,000 patches, or the one the text spells.
        "list[int]" => Value::List(
            rlx_verify::parse_permutation(text, 1 << 20)
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| (1..=100_000).collect())
                .into_iter()
                .map(|v| Value::Int(v as i64))
                .collect(),
        ),
        other => panic!("no pathological argument for `{other}`"),
    }
}

/// Every native a reward can call, with its parameter types.
pub fn natives() -> Vec<(String, Vec<String>)> {
    rlx_reward::natives::declared()
        .into_iter()
        .map(|(_, f)| {
            let params = f
                .params
                .iter()
                .map(|p| {
                    p.ty.as_ref()
                        .map_or("_".to_string(), rlx_lang::format::type_text)
                })
                .collect();
            (f.name.name.clone(), params)
        })
        .collect()
}

/// Calls `name` with every text argument `text` (and, for two texts, also with a short second
/// one); returns the longest call in seconds.
pub fn call_all(name: &str, params: &[String], text: &str) -> f64 {
    let native = rlx_reward::natives::resolve(name, None).expect("resolves");
    let mut slowest: f64 = 0.0;
    for second in [text, "42"] {
        let mut texts = 0;
        let args: Vec<Value> = params
            .iter()
            .map(|ty| {
                let arg = if ty == "text" && texts == 1 {
                    argument(ty, second)
                } else {
                    argument(ty, text)
                };
                texts += usize::from(ty == "text");
                // A pattern that is a megabyte of prose is not what this measures.
                let takes_pattern = name.starts_with("regex") || name == "last_line_match";
                if takes_pattern && texts == 2 && ty == "text" {
                    return Value::Text("(a|b)*c".into());
                }
                arg
            })
            .collect();
        let start = std::time::Instant::now();
        let _ = std::hint::black_box(native.call(&args));
        slowest = slowest.max(start.elapsed().as_secs_f64());
    }
    slowest
}
