//! Agreement of `math_equiv` with Math-Verify's decisions on the pairs in math_verify_cases.jsonl
//! (labelled by scripts/math_verify_cases.py with math-verify 0.9.0). Prints every disagreement.

mod common;

#[test]
fn math_equiv_agrees_with_math_verify() {
    common::assert_agrees_with_math_verify(
        include_str!("math_verify_cases.jsonl"),
        "Math-Verify",
        1000,
    );
}
