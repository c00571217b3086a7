//! Mathematical equivalence as Hugging Face Math-Verify decides it: `math_equiv(answer, reference)`
//! is Math-Verify's `verify(parse(reference), parse(answer))` with its default extraction (LaTeX
//! and plain expressions) and comparison, computed natively and in bounded time.
//!
//! - Extraction (`find`): Math-Verify's patterns and priorities — "final answer is ... I hope",
//!   "final answer ... is", `\boxed{}`, "answer:", "answer", then any `$...$`, `\[...\]`, `\(...\)`
//!   environment, bare `\frac`, expression or number, the match ending last first.
//! - Normalization (`normalize`): latex2sympy2's `normalize_latex` (units, `\text`, `\left`,
//!   malformed `\frac12`, `\sqrt2`, "and"/"or" lists, percent words...).
//! - Parsing (`lexer`, `parse`): latex2sympy2's grammar, building numbers that remember whether
//!   they are integers, fractions or decimals, percentages, symbols, sets, tuples, intervals,
//!   matrices and relations.
//! - Comparison (`compare`): `sympy_expr_eq` — assignments (`x = 3`) reduced to their values,
//!   relations compared as relations, sets element by element, decimals rounded to six places,
//!   expressions with symbols evaluated at sample points.
//!
//! An answer without any LaTeX delimiter and that is not prose (as the content of a `\boxed{}` or
//! an `<answer>` tag, or a dataset's reference) is read as if written between dollars, as
//! Math-Verify's suite writes its answers; a bare number (`1 000`, `0,5`) is read as a number.
//!
//! Work is bounded: every scan is linear, the parser refuses nesting deeper than a fixed depth and
//! spends at most a budget proportional to its input, and very long integers are compared as
//! digit strings.

mod compare;
mod find;
mod lexer;
mod node;
mod normalize;
mod parse;
mod scalar;

use find::Extracted;

/// Longer answers are not read as one LaTeX expression.
const MAX_WRAPPED: usize = 4_000;

/// Whether `answer` is mathematically equal to `reference`, as Math-Verify would decide.
pub fn math_equiv(answer: &str, reference: &str) -> bool {
    let (a, b) = (answer.trim(), reference.trim());
    if a.is_empty() || b.is_empty() {
        return false;
    }
    if let (Some(x), Some(y)) = (integer_digits(a), integer_digits(b)) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (simple_number(a), simple_number(b))
        && let Some(equal) = x.equals(y)
    {
        return equal;
    }
    let gold = read(reference);
    if gold.value.is_none() && gold.fallback.is_none() {
        return false;
    }
    let pred = read(answer);
    compare::verify(&gold, &pred)
}

/// A plain integer (sign and digits only) as (negative, digits without leading zeros).
fn integer_digits(s: &str) -> Option<(bool, &str)> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = digits.trim_start_matches('0');
    Some((
        negative && !digits.is_empty(),
        if digits.is_empty() { "0" } else { digits },
    ))
}

/// The common answers read without the general machinery: integers, decimals, `a/b` and
/// `\frac{a}{b}` of integers, as Math-Verify reads them (a decimal is a SymPy `Float`, the others
/// exact).
#[derive(Clone, Copy, Debug)]
enum Simple {
    Exact(i128, i128),
    Decimal(f64),
}

impl Simple {
    /// Equality as Math-Verify decides it; `None` when it cannot be computed exactly here.
    fn equals(self, other: Simple) -> Option<bool> {
        Some(match (self, other) {
            (Simple::Exact(p, q), Simple::Exact(r, s)) => p.checked_mul(s)? == r.checked_mul(q)?,
            (Simple::Exact(p, q), Simple::Decimal(y))
            | (Simple::Decimal(y), Simple::Exact(p, q)) => {
                compare::rounds_alike(p as f64 / q as f64, y)
            }
            (Simple::Decimal(x), Simple::Decimal(y)) => compare::rounds_alike(x, y),
        })
    }
}

/// `-?\d+`, `-?\d*\.\d+`, `-?\d+/\d+`, `-?\(d|t|c)?frac{-?\d+}{-?\d+}`; `None` for anything
/// else (or too long, or a zero denominator).
fn simple_number(t: &str) -> Option<Simple> {
    if t.len() > 30 {
        return None;
    }
    let (negative, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let sign = if negative { -1 } else { 1 };
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    if digits(body) {
        return Some(Simple::Exact(sign * body.parse::<i128>().ok()?, 1));
    }
    if let Some((int, frac)) = body.split_once('.') {
        if (int.is_empty() || digits(int)) && digits(frac) {
            return Some(Simple::Decimal(t.parse().ok()?));
        }
        return None;
    }
    if let Some((p, q)) = body.split_once('/') {
        if negative || !digits(p) || !digits(q) {
            // `-3/4` is read as `\frac{-3}{4}` too, but keep the fast path to the plain form.
            return None;
        }
        let q: i128 = q.parse().ok()?;
        return (q != 0).then_some(Simple::Exact(p.parse().ok()?, q));
    }
    let rest = body.strip_prefix('\\')?;
    let rest = rest.strip_prefix(['d', 't', 'c']).unwrap_or(rest);
    let rest = rest.strip_prefix("frac{")?;
    let (p, rest) = rest.split_once("}{")?;
    let q = rest.strip_suffix('}')?;
    let int = |x: &str| -> Option<i128> {
        let (neg, d) = match x.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, x),
        };
        if !digits(d) {
            return None;
        }
        let v: i128 = d.parse().ok()?;
        Some(if neg { -v } else { v })
    };
    let (p, q) = (int(p)?, int(q)?);
    (q != 0).then_some(Simple::Exact(sign * p, q))
}

/// Math-Verify's `parse` of an answer: as written when it has LaTeX delimiters or is prose or a
/// bare number, else as if between dollars.
fn read(text: &str) -> Extracted {
    let t = text.trim();
    if t.is_empty() {
        return Extracted::default();
    }
    // Long text is no single expression (and would not parse): read it as written.
    if t.len() > MAX_WRAPPED || delimited(t) || prose(t) || find::whole_number(t) {
        return find::extract(text);
    }
    // `$$t$$`: the environment is the match ending last, so it is tried first.
    let normalized = normalize::normalize(t, normalize::Boxed::All);
    if let Some(value) = find::parse_normalized(&normalized) {
        let fallback = (!normalized.is_empty()).then_some(normalized);
        return Extracted {
            value: Some(value),
            fallback,
        };
    }
    find::extract(&format!("$${t}$$"))
}

/// Whether the text holds LaTeX math delimiters (a `$` not escaped as `\$`) or a box.
fn delimited(t: &str) -> bool {
    let b = t.as_bytes();
    memchr::memchr_iter(b'$', b).any(|at| at == 0 || b[at - 1] != b'\\')
        || memchr::memmem::find(b, b"\\(").is_some()
        || memchr::memmem::find(b, b"\\[").is_some()
        || memchr::memmem::find(b, b"\\boxed").is_some()
        || memchr::memmem::find(b, b"\\fbox").is_some()
}

/// Sentences rather than an expression: three or more words of two or more letters outside LaTeX
/// commands and `\text{}` (`2x + xy` has none), or the word "answer".
fn prose(t: &str) -> bool {
    let b = t.as_bytes();
    let mut words = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            let mut j = i + 1;
            while j < b.len() && b[j].is_ascii_alphabetic() {
                j += 1;
            }
            let name = &t[i + 1..j];
            if (name.starts_with("text")
                || name.starts_with("math")
                || name == "mbox"
                || name == "operatorname")
                && b.get(j) == Some(&b'{')
            {
                // Skip the braced argument.
                let mut depth = 0usize;
                let mut k = j;
                while k < b.len() {
                    match b[k] {
                        b'{' => depth += 1,
                        b'}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    k += 1;
                }
                i = k + 1;
                continue;
            }
            i = j.max(i + 1);
            continue;
        }
        if c.is_ascii_alphabetic()
            || (c >= 0x80 && t[i..].chars().next().is_some_and(char::is_alphabetic))
        {
            let word: &str = {
                let rest = &t[i..];
                let len = rest
                    .find(|ch: char| !ch.is_alphabetic())
                    .unwrap_or(rest.len());
                &rest[..len]
            };
            let j = i + word.len();
            if word.eq_ignore_ascii_case("answer") {
                return true;
            }
            if word.chars().nth(1).is_some() {
                words += 1;
                if words >= 3 {
                    return true;
                }
            }
            i = j;
            continue;
        }
        i += t[i..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// The value of an answer written as a number (`1,234.5`, `\frac{3}{4}`, `2.5e3`, `50%` as `0.5`,
/// `\sqrt{2}`), without variables; `None` when it is not one.
pub fn parse_number(text: &str) -> Option<f64> {
    scalar::parse_number(text)
}

/// Whether `answer` is a number within `tolerance` of `reference`, relative to the larger of
/// `|reference|` and 1.
pub fn numeric_close(answer: &str, reference: f64, tolerance: f64) -> bool {
    scalar::numeric_close(answer, reference, tolerance)
}

#[cfg(test)]
mod tests {
    use super::math_equiv;

    #[test]
    fn numbers_in_many_spellings() {
        let equal = [
            ("42", "42"),
            ("42", "42.0"),
            ("0.5", "\\frac{1}{2}"),
            ("\\dfrac{1}{2}", ".5"),
            ("\\tfrac12", "1/2"),
            ("1,234,567", "1234567"),
            ("3\\frac{1}{2}", "3.5"),
            ("-\\frac{3}{4}", "-0.75"),
            ("50\\%", "50"),
            ("2\\sqrt{2}", "\\sqrt{8}"),
            ("\\sqrt[3]{27}", "3"),
            ("2\\pi", "6.283185307"),
            ("$\\boxed{7}$", "7"),
            ("5 \\text{ cm}", "5"),
            ("90^\\circ", "90"),
            ("x = 3", "3"),
            ("\\left( 1, 2 \\right)", "(1,2)"),
            ("\\{1, 2, 3\\}", "\\{3, 2, 1\\}"),
            ("[1, 2)", "[1,2)"),
            ("(-\\infty, 3]", "(-\\infty,3]"),
            ("2x + 1", "1 + 2x"),
            ("x^2 - 1", "(x-1)(x+1)"),
            ("\\frac{a}{b}", "a/b"),
            ("007", "7"),
            ("5!", "120"),
            ("2, 3", "3, 2"),
            ("1000,99", "1000.99"),
            ("1 000", "1000"),
            ("The final answer is $3$. I hope it is correct.", "3"),
            ("Soucis : 2,74 $ a..", "2.74"),
            ("\\text{Evelyn}", "Evelyn"),
        ];
        for (a, b) in equal {
            assert!(math_equiv(a, b), "{a} should equal {b}");
            assert!(math_equiv(b, a), "{b} should equal {a}");
        }
    }

    #[test]
    fn different_answers_differ() {
        let different = [
            ("42", "43"),
            ("0.5", "\\frac{1}{3}"),
            ("[1, 2)", "(1, 2)"),
            ("(1, 2)", "(2, 1)"),
            ("\\{1, 2\\}", "\\{1, 2, 3\\}"),
            ("x^2", "2x"),
            ("x + 1", "y + 1"),
            ("", "0"),
            ("1234", "1,235"),
            ("3.14", "\\pi"),
            ("x > 5", "x < 5"),
            ("AZYUK2A", "2"),
        ];
        for (a, b) in different {
            assert!(!math_equiv(a, b), "{a} should not equal {b}");
        }
    }

    #[test]
    fn math_verify_rules() {
        // (answer, reference, Math-Verify's decision)
        let cases = [
            // Decimals round to six places; exact values compare exactly.
            ("0.333333", "\\frac{1}{3}", true),
            ("0.33", "\\frac{1}{3}", false),
            ("\\pi", "3.14159265", true),
            // A percentage equals its number (integers) and its fraction.
            ("28 percent", "$28\\%$", true),
            ("0.28", "28\\%", true),
            // Intervals, tuples and sets.
            ("(1, 2)", "(1,2)", true),
            ("(1, 2)", "[1, 2]", false),
            ("(3, 2, 1)", "\\{1,2,3\\}", true),
            ("\\{3,2,1\\}", "(1,2,3)", false),
            ("\\boxed{(3, 2)}", "$(p,q)=(3,2)$", true),
            ("(-793, 10)", "$-793 < a < 10$", true),
            ("x \\in [-2,7]", "$-2 \\le x \\le 7$", true),
            ("$-2 \\le x \\le 7$", "$x \\in [-2,7]$", false),
            // Relations: same relation, flipped, or scaled equations in several unknowns.
            ("5 \\geq x", "x \\leq 5", true),
            ("2x < 2", "x < 1", false),
            ("y=-\\frac{1}{2}x+\\frac{3}{4}", "2x+4y-3=0", true),
            ("11a+c", "7 = 11a+c", false),
            // Text answers and symbols.
            ("Evelyn", "\\text{Evelyn}", true),
            ("\\text{(C)}", "\\text{C}", true),
            ("x", "x^1", false),
            // Plain text is searched as Math-Verify searches it.
            (
                "The final answer is $28 \\%$. I hope it is correct.",
                "28\\%",
                true,
            ),
            (
                "so the number is 10 which is 1,000.99m\u{b2}",
                "1000.99",
                true,
            ),
            (
                "\\boxed{1} and \\boxed{2} and \\boxed{3}",
                "$${1,2,3}$$",
                true,
            ),
            (
                "\\boxed{1} no no no no no \\boxed{2}",
                "$\\boxed{1,2}$",
                false,
            ),
            ("AZYUK2A", "2", false),
            ("$12:00$", "$12:00$", true),
            ("$1:00$", "$12:00$", false),
        ];
        for (answer, reference, expected) in cases {
            assert_eq!(
                math_equiv(answer, reference),
                expected,
                "{answer:?} vs {reference:?}"
            );
        }
    }

    #[test]
    fn pathological_inputs_are_fast_and_safe() {
        let start = std::time::Instant::now();
        let deep = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(!math_equiv(&deep, "2"));
        let digits = "7".repeat(10_000);
        assert!(math_equiv(&digits, &digits.clone()));
        assert!(!math_equiv(&digits, &"7".repeat(9_999)));
        let megabyte = "x+".repeat(500_000);
        assert!(!math_equiv(&megabyte, "1"));
        let braces = "\\frac{".repeat(50_000);
        assert!(!math_equiv(&braces, "1"));
        let commas = "1,000".repeat(200_000);
        assert!(!math_equiv(&commas, "1"));
        // Text that makes every Math-Verify pattern try (and fail) everywhere.
        for unit in [
            "answer: ",
            "final answer is ",
            "$",
            " [",
            "\\[",
            "\\boxed{",
            "^(",
            "\\sqrt",
            "\\text{",
        ] {
            let text = unit.repeat(100_000 / unit.len());
            assert!(!math_equiv(&text, "1"), "{unit}");
        }
        let nested = format!("\\boxed{{{}}}", "\\frac{1}{".repeat(20_000));
        assert!(!math_equiv(&nested, "1"));
        // Short enough to be parsed: nesting stops at a fixed depth.
        for unit in ["x_", "f(", "-", "\\pm", "(", "\\sqrt{", "|", "x^", "5!"] {
            let text = format!("{}2", unit.repeat(3_900 / unit.len()));
            assert!(!math_equiv(&text, "1"), "{unit}");
        }
        // Debug builds are slow; the release figure (well under 10 ms each) is in the benchmark.
        assert!(
            start.elapsed().as_millis() < 3_000,
            "took {:?}",
            start.elapsed()
        );
    }
}
