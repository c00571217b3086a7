//! Agreement of `math_equiv` with Math-Verify's decisions on the (gold, prediction) pairs of
//! Math-Verify's own test suite, in math_verify_suite.jsonl (labelled by
//! scripts/math_verify_suite.py with math-verify 0.9.0's default `verify(parse(gold), parse(pred))`).
//! Prints every disagreement.

mod common;

#[test]
fn math_equiv_agrees_with_math_verify_on_its_suite() {
    common::assert_agrees_with_math_verify(
        include_str!("math_verify_suite.jsonl"),
        "Math-Verify's suite",
        200,
    );
}
