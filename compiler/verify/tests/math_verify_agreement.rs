//! Agreement of `math_equiv` with Math-Verify's decisions on the pairs in math_verify_cases.jsonl
//! (labelled by scripts/math_verify_cases.py with math-verify 0.9.0). Prints every disagreement.

#[test]
fn math_equiv_agrees_with_math_verify() {
    let cases = include_str!("math_verify_cases.jsonl");
    let mut total = 0;
    let mut disagreements = Vec::new();
    for line in cases.lines() {
        let case: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let answer = case["answer"].as_str().expect("answer");
        let reference = case["reference"].as_str().expect("reference");
        let expected = case["equal"].as_bool().expect("equal");
        total += 1;
        if rlx_verify::math_equiv(answer, reference) != expected {
            disagreements.push(format!(
                "  {answer:?} vs {reference:?}: Math-Verify says {expected}"
            ));
        }
    }
    let agreement = 1.0 - disagreements.len() as f64 / total as f64;
    println!(
        "agreement with Math-Verify: {:.2}% of {total} pairs",
        agreement * 100.0
    );
    println!("{}", disagreements.join("\n"));
    assert!(total > 1000);
    assert!(
        agreement >= 0.99,
        "agreement {:.2}% below 99%:\n{}",
        agreement * 100.0,
        disagreements.join("\n")
    );
}
