//! Agreement of `math_equiv` with Math-Verify's decisions on the (gold, prediction) pairs of
//! Math-Verify's own test suite, in math_verify_suite.jsonl (labelled by
//! scripts/math_verify_suite.py with math-verify 0.9.0's default `verify(parse(gold), parse(pred))`).
//! Prints every disagreement.

#[test]
fn math_equiv_agrees_with_math_verify_on_its_suite() {
    let cases = include_str!("math_verify_suite.jsonl");
    let mut total = 0;
    let mut disagreements = Vec::new();
    for line in cases.lines() {
        let case: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let answer = case["answer"].as_str().expect("answer");
        let reference = case["reference"].as_str().expect("reference");
        let expected = case["equal"].as_bool().expect("equal");
        let source = case["source"].as_str().unwrap_or("");
        total += 1;
        if rlx_verify::math_equiv(answer, reference) != expected {
            disagreements.push(format!(
                "  [{source}] {answer:?} vs {reference:?}: Math-Verify says {expected}"
            ));
        }
    }
    let agreement = 1.0 - disagreements.len() as f64 / total as f64;
    println!(
        "agreement with Math-Verify's suite: {:.2}% of {total} pairs",
        agreement * 100.0
    );
    println!("{}", disagreements.join("\n"));
    assert!(total > 200);
    assert!(
        agreement >= 0.99,
        "agreement {:.2}% below 99%:\n{}",
        agreement * 100.0,
        disagreements.join("\n")
    );
}
