//! Agreement of `math_equiv` with Math-Verify's labels: each line of `cases` is
//! `{"answer", "reference", "equal", "source"?}`. Prints the agreement and every disagreement, and
//! asserts at least 99% over more than `at_least` pairs.

pub fn assert_agrees_with_math_verify(cases: &str, what: &str, at_least: usize) {
    let mut total = 0;
    let mut disagreements = Vec::new();
    for line in cases.lines() {
        let case: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let answer = case["answer"].as_str().expect("answer");
        let reference = case["reference"].as_str().expect("reference");
        let expected = case["equal"].as_bool().expect("equal");
        let source = case["source"]
            .as_str()
            .map_or(String::new(), |s| format!("[{s}] "));
        total += 1;
        if rlx_verify::math_equiv(answer, reference) != expected {
            disagreements.push(format!(
                "  {source}{answer:?} vs {reference:?}: Math-Verify says {expected}"
            ));
        }
    }
    let agreement = 1.0 - disagreements.len() as f64 / total as f64;
    println!(
        "agreement with {what}: {:.2}% of {total} pairs",
        agreement * 100.0
    );
    println!("{}", disagreements.join("\n"));
    assert!(total > at_least);
    assert!(
        agreement >= 0.99,
        "agreement {:.2}% below 99%:\n{}",
        agreement * 100.0,
        disagreements.join("\n")
    );
}
