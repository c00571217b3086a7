//! The standard library's native functions over run-time values: the implementations behind the
//! `extern fn` declarations of `std::extract`, `std::format`, `std::length`, `std::verify` and the
//! prelude's math. Both the interpreter and compiled code call these, so they agree by construction
//! on everything but the numeric glue.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;

use regex::Regex;
use rlx_lang::ast::{ExternDecl, ExternFn, ItemKind};
use rlx_verify as verify;

use crate::value::Value;

pub type NativeFn = for<'a> fn(&[Value<'a>]) -> Result<Value<'a>, String>;

/// A native function of the graph, resolved once when a program is compiled.
#[derive(Clone, Debug)]
pub enum Native {
    Plain(NativeFn),
    /// `regex_match` (the whole text) or `regex_find` (anywhere); the pattern compiled ahead of
    /// time when it is a constant.
    Regex {
        whole: bool,
        fixed: Option<Arc<Regex>>,
    },
    /// `regex_replace`: every match replaced (`$1` names a group).
    Replace {
        fixed: Option<Arc<Regex>>,
    },
    /// `regex_capture`: the first match's first group (or the whole match).
    Capture {
        fixed: Option<Arc<Regex>>,
    },
}

/// Patterns whose compiled form would be larger than this are refused (the `regex` crate matches
/// in time linear in the text, so only compilation needs a bound).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The native called `function`; `pattern` is the constant second argument of a regex function.
pub fn resolve(function: &str, pattern: Option<&str>) -> Result<Native, String> {
    if let Some(whole) = match function {
        "regex_match" => Some(true),
        "regex_find" => Some(false),
        _ => None,
    } {
        let fixed = pattern
            .map(|p| compile_regex(p, whole).map(Arc::new))
            .transpose()?;
        return Ok(Native::Regex { whole, fixed });
    }
    if matches!(function, "regex_replace" | "regex_capture") {
        let fixed = pattern
            .map(|p| compile_regex(p, false).map(Arc::new))
            .transpose()?;
        return Ok(if function == "regex_replace" {
            Native::Replace { fixed }
        } else {
            Native::Capture { fixed }
        });
    }
    let plain: NativeFn = match function {
        "boxed" => |a| Ok(extract(&a[0], verify::boxed)),
        "answer_tag" => |a| Ok(extract(&a[0], verify::answer_tag)),
        "answer_line" => |a| Ok(extract(&a[0], verify::answer_line)),
        "last_number" => |a| Ok(extract(&a[0], verify::last_number)),
        "tag" => |a| {
            let name = text(a, 1)?;
            Ok(extract(&a[0], |s| verify::tag(s, name)))
        },
        "last_line_match" => |a| {
            let pattern = text(a, 1)?;
            let haystack = text(a, 0)?;
            with_regex(pattern, false, |r| {
                let found = verify::last_line_match(haystack, |line| {
                    let captures = r.captures(line)?;
                    Some(captures.get(1).or(captures.get(0))?.as_str())
                });
                found.map_or(Value::None, |m| Value::Text(Cow::Owned(m.to_string())))
            })
        },
        "parse_mcq" => |a| {
            Ok(verify::parse_mcq(text(a, 0)?)
                .map_or(Value::None, |c| Value::Text(Cow::Owned(c.to_string()))))
        },
        "trim" => |a| Ok(Value::Text(Cow::Owned(text(a, 0)?.trim().to_string()))),
        "lower" => |a| Ok(Value::Text(Cow::Owned(text(a, 0)?.to_lowercase()))),
        "strip_suffix" => |a| {
            let (t, suffix) = (text(a, 0)?, text(a, 1)?);
            Ok(Value::Text(Cow::Owned(
                t.strip_suffix(suffix).unwrap_or(t).to_string(),
            )))
        },
        "json_field" => |a| {
            let key = text(a, 1)?;
            Ok(extract(&a[0], |s| verify::json_field(s, key)))
        },
        "parse_permutation" => |a| {
            let size = u64::try_from(int(a, 1)?).unwrap_or(0);
            Ok(
                verify::parse_permutation(text(a, 0)?, size).map_or(Value::None, |p| {
                    Value::List(p.into_iter().map(|v| Value::Int(v as i64)).collect())
                }),
            )
        },
        "parse_box" => |a| Ok(verify::parse_box(text(a, 0)?).map_or(Value::None, Value::Box)),
        "parse_boxes" => |a| {
            Ok(Value::List(
                verify::parse_boxes(text(a, 0)?)
                    .into_iter()
                    .map(Value::Box)
                    .collect(),
            ))
        },
        "parse_point" => |a| {
            Ok(verify::parse_point(text(a, 0)?).map_or(Value::None, |p| {
                Value::List(vec![Value::Float(p[0]), Value::Float(p[1])])
            }))
        },
        "parse_number" => {
            |a| Ok(verify::parse_number(text(a, 0)?).map_or(Value::None, Value::Float))
        }
        "to_float" => |a| Ok(verify::python_float(text(a, 0)?).map_or(Value::None, Value::Float)),
        "think_answer" => |a| Ok(Value::Bool(verify::think_answer(text(a, 0)?))),
        "tags_in_order" => |a| {
            let tags = texts(a, 1)?;
            Ok(Value::Bool(verify::tags_in_order(text(a, 0)?, &tags)))
        },
        "tag_count" => |a| {
            Ok(Value::Int(
                verify::tag_count(text(a, 0)?, text(a, 1)?) as i64
            ))
        },
        "overlong_penalty" => |a| {
            Ok(Value::Float(verify::overlong_penalty(
                int(a, 0)?,
                int(a, 1)?,
                int(a, 2)?,
            )))
        },
        "cosine_length" => |a| {
            Ok(Value::Float(verify::cosine_length(
                int(a, 0)?,
                int(a, 1)?,
                number(a, 2)?,
                number(a, 3)?,
            )))
        },
        "ngram_repetition" => |a| {
            let n =
                usize::try_from(int(a, 1)?).map_err(|_| "n must not be negative".to_string())?;
            Ok(Value::Float(verify::ngram_repetition(text(a, 0)?, n)))
        },
        "word_count" => |a| Ok(Value::Int(text(a, 0)?.split_whitespace().count() as i64)),
        "math_equiv" => |a| Ok(Value::Bool(verify::math_equiv(text(a, 0)?, text(a, 1)?))),
        "choice_equiv" => |a| Ok(Value::Bool(verify::choice_equiv(text(a, 0)?, text(a, 1)?))),
        "numeric_close" => |a| {
            Ok(Value::Bool(verify::numeric_close(
                text(a, 0)?,
                number(a, 1)?,
                number(a, 2)?,
            )))
        },
        "exact_match" => |a| Ok(Value::Bool(verify::exact_match(text(a, 0)?, text(a, 1)?))),
        "one_of" => |a| {
            let choices = texts(a, 1)?;
            Ok(Value::Bool(verify::one_of(text(a, 0)?, &choices)))
        },
        "contains_match" => |a| {
            Ok(Value::Bool(verify::contains_match(
                text(a, 0)?,
                text(a, 1)?,
                number(a, 2)?,
            )))
        },
        "relaxed_match" => |a| Ok(Value::Bool(verify::relaxed_match(text(a, 0)?, text(a, 1)?))),
        "iou" => |a| Ok(Value::Float(verify::iou(&bbox(a, 0)?, &bbox(a, 1)?))),
        "box_union_iou" => |a| {
            Ok(Value::Float(verify::box_union_iou(
                &boxes(a, 0)?,
                &boxes(a, 1)?,
            )))
        },
        "position_match" => |a| {
            Ok(Value::Float(verify::position_match(
                &ints(a, 0)?,
                &ints(a, 1)?,
            )))
        },
        "point_in_box" => |a| {
            Ok(Value::Bool(verify::point_in_box(
                number(a, 0)?,
                number(a, 1)?,
                &bbox(a, 2)?,
            )))
        },
        "l1_distance" => |a| {
            Ok(Value::Float(verify::l1_distance(
                &bbox(a, 0)?,
                &bbox(a, 1)?,
            )))
        },
        "anls" => |a| Ok(Value::Float(verify::anls(text(a, 0)?, text(a, 1)?))),
        "edit_similarity" => |a| {
            Ok(Value::Float(verify::edit_similarity(
                text(a, 0)?,
                text(a, 1)?,
            )))
        },
        "rouge_n" => |a| {
            let n = usize::try_from(int(a, 2)?)
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| "n must be at least 1".to_string())?;
            Ok(Value::Float(verify::rouge_n(
                text(a, 0)?,
                text(a, 1)?,
                n,
                boolean(a, 3)?,
            )))
        },
        "rouge_l" => |a| {
            Ok(Value::Float(verify::rouge_l_with(
                text(a, 0)?,
                text(a, 1)?,
                boolean(a, 2)?,
            )))
        },
        "bleu4" => |a| Ok(Value::Float(verify::bleu4(text(a, 0)?, text(a, 1)?))),
        "min" => |a| Ok(Value::Float(min(number(a, 0)?, number(a, 1)?))),
        "max" => |a| Ok(Value::Float(max(number(a, 0)?, number(a, 1)?))),
        "clip" => |a| {
            Ok(Value::Float(clip(
                number(a, 0)?,
                number(a, 1)?,
                number(a, 2)?,
            )))
        },
        "abs" => |a| Ok(Value::Float(number(a, 0)?.abs())),
        "exp" => |a| Ok(Value::Float(number(a, 0)?.exp())),
        "log" => |a| Ok(Value::Float(number(a, 0)?.ln())),
        "cos" => |a| Ok(Value::Float(number(a, 0)?.cos())),
        "sin" => |a| Ok(Value::Float(number(a, 0)?.sin())),
        "sqrt" => |a| Ok(Value::Float(number(a, 0)?.sqrt())),
        "floor" => |a| Ok(Value::Float(number(a, 0)?.floor())),
        "ceil" => |a| Ok(Value::Float(number(a, 0)?.ceil())),
        "len" => |a| match &a[0] {
            Value::Text(t) => Ok(Value::Int(t.chars().count() as i64)),
            Value::List(items) => Ok(Value::Int(items.len() as i64)),
            other => Err(format!("len of {other}")),
        },
        other => return Err(format!("`{other}` cannot be computed in a reward")),
    };
    Ok(Native::Plain(plain))
}

impl Native {
    pub fn call<'a>(&self, args: &[Value<'a>]) -> Result<Value<'a>, String> {
        match self {
            Native::Plain(f) => f(args),
            Native::Regex { whole, fixed } => {
                let haystack = text(args, 0)?;
                let matched = match fixed {
                    Some(regex) => regex.is_match(haystack),
                    None => with_regex(text(args, 1)?, *whole, |r| r.is_match(haystack))?,
                };
                Ok(Value::Bool(matched))
            }
            Native::Replace { fixed } => {
                let haystack = text(args, 0)?;
                let replacement = text(args, 2)?;
                let replaced = match fixed {
                    Some(regex) => replace_bounded(regex, haystack, replacement)?,
                    None => with_regex(text(args, 1)?, false, |r| {
                        replace_bounded(r, haystack, replacement)
                    })??,
                };
                Ok(Value::Text(Cow::Owned(replaced)))
            }
            Native::Capture { fixed } => {
                let haystack = text(args, 0)?;
                let capture = |r: &Regex| {
                    let captures = r.captures(haystack)?;
                    Some(captures.get(1).or(captures.get(0))?.as_str().to_string())
                };
                let found = match fixed {
                    Some(regex) => capture(regex),
                    None => with_regex(text(args, 1)?, false, capture)?,
                };
                Ok(found.map_or(Value::None, |t| Value::Text(Cow::Owned(t))))
            }
        }
    }
}

/// The `extern fn`s of the standard library a reward can call, with their modules (not the
/// constructors of settings and schedules, which are not computed per completion).
pub fn declared() -> Vec<(&'static str, &'static ExternFn)> {
    let stdlib = rlx_compiler::stdlib::StdLib::get();
    let mut found = Vec::new();
    for (module, std_module) in &stdlib.modules {
        for item in &std_module.module.items {
            let ItemKind::Extern(ExternDecl::Fn(f)) = &item.kind else {
                continue;
            };
            let per_completion = !matches!(*module, "prelude" | "schedule")
                || crate::program::PER_COMPLETION_PRELUDE.contains(&f.name.name.as_str());
            if per_completion {
                found.push((*module, f));
            }
        }
    }
    found
}

/// `min` as the prelude defines it: the first when it is not greater (so NaN picks the second).
pub fn min(a: f64, b: f64) -> f64 {
    if a <= b { a } else { b }
}

pub fn max(a: f64, b: f64) -> f64 {
    if a >= b { a } else { b }
}

pub fn clip(x: f64, low: f64, high: f64) -> f64 {
    x.max(low).min(high)
}

/// The longest text a `regex_replace` may build: many matches times a long replacement would
/// otherwise grow without bound.
const REPLACED_LIMIT: usize = 64 << 20;

fn replace_bounded(regex: &Regex, haystack: &str, replacement: &str) -> Result<String, String> {
    let matches = regex.find_iter(haystack).count();
    let bound = matches
        .saturating_mul(replacement.len())
        .saturating_add(haystack.len());
    if bound > REPLACED_LIMIT {
        return Err(format!(
            "regex_replace would build a text of about {} MiB ({matches} matches × a {}-byte replacement), above the {} MiB limit",
            bound >> 20,
            replacement.len(),
            REPLACED_LIMIT >> 20
        ));
    }
    Ok(regex.replace_all(haystack, replacement).into_owned())
}

fn compile_regex(pattern: &str, whole: bool) -> Result<Regex, String> {
    let anchored = if whole {
        format!(r"\A(?:{pattern})\z")
    } else {
        pattern.to_string()
    };
    regex::RegexBuilder::new(&anchored)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("invalid regular expression {pattern:?}: {e}"))
}

thread_local! {
    /// Patterns that are not constants, compiled once per thread.
    static REGEX_CACHE: RefCell<Vec<(String, bool, Regex)>> = const { RefCell::new(Vec::new()) };
}

fn with_regex<T>(pattern: &str, whole: bool, f: impl FnOnce(&Regex) -> T) -> Result<T, String> {
    REGEX_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some((_, _, regex)) = cache.iter().find(|(p, w, _)| p == pattern && *w == whole) {
            return Ok(f(regex));
        }
        let regex = compile_regex(pattern, whole)?;
        let result = f(&regex);
        if cache.len() >= 64 {
            cache.remove(0);
        }
        cache.push((pattern.to_string(), whole, regex));
        Ok(result)
    })
}

/// An extraction from a text that borrows what it finds whenever the text is borrowed.
fn extract<'a>(value: &Value<'a>, find: impl for<'s> Fn(&'s str) -> Option<&'s str>) -> Value<'a> {
    match value {
        Value::Text(Cow::Borrowed(s)) => {
            find(s).map_or(Value::None, |t| Value::Text(Cow::Borrowed(t)))
        }
        Value::Text(Cow::Owned(s)) => {
            find(s).map_or(Value::None, |t| Value::Text(Cow::Owned(t.to_string())))
        }
        _ => Value::None,
    }
}

fn arg<'v, 'a>(args: &'v [Value<'a>], i: usize) -> Result<&'v Value<'a>, String> {
    args.get(i)
        .ok_or_else(|| format!("argument {} is missing", i + 1))
}

fn text<'v>(args: &'v [Value<'_>], i: usize) -> Result<&'v str, String> {
    match arg(args, i)? {
        Value::Text(t) => Ok(t),
        other => Err(format!("argument {} is {other}, not text", i + 1)),
    }
}

fn texts<'v>(args: &'v [Value<'_>], i: usize) -> Result<Vec<&'v str>, String> {
    match arg(args, i)? {
        Value::List(items) => items
            .iter()
            .map(|item| item.text().ok_or_else(|| format!("{item} is not text")))
            .collect(),
        other => Err(format!("argument {} is {other}, not a list of text", i + 1)),
    }
}

fn number(args: &[Value<'_>], i: usize) -> Result<f64, String> {
    let value = arg(args, i)?;
    value
        .as_f64()
        .ok_or_else(|| format!("argument {} is {value}, not a number", i + 1))
}

fn boolean(args: &[Value<'_>], i: usize) -> Result<bool, String> {
    match arg(args, i)? {
        Value::Bool(b) => Ok(*b),
        other => Err(format!("argument {} is {other}, not a bool", i + 1)),
    }
}

fn int(args: &[Value<'_>], i: usize) -> Result<i64, String> {
    match arg(args, i)? {
        Value::Int(v) => Ok(*v),
        Value::Float(v) if v.fract() == 0.0 => Ok(*v as i64),
        other => Err(format!("argument {} is {other}, not an integer", i + 1)),
    }
}

/// A list of non-negative whole numbers (JSON numbers arrive as ints or as floats).
fn ints(args: &[Value<'_>], i: usize) -> Result<Vec<u64>, String> {
    match arg(args, i)? {
        Value::List(items) => items
            .iter()
            .map(|item| match item.as_f64() {
                Some(v) if v >= 0.0 && v.fract() == 0.0 => Ok(v as u64),
                _ => Err(format!("{item} is not a whole number")),
            })
            .collect(),
        other => Err(format!(
            "argument {} is {other}, not a list of numbers",
            i + 1
        )),
    }
}

fn as_box(value: &Value<'_>) -> Result<[f64; 4], String> {
    match value {
        Value::Box(b) => Ok(*b),
        Value::List(items) | Value::Tuple(items) if items.len() == 4 => {
            let mut b = [0.0; 4];
            for (slot, item) in b.iter_mut().zip(items) {
                *slot = item
                    .as_f64()
                    .ok_or_else(|| format!("{value} is not a box"))?;
            }
            Ok(b)
        }
        other => Err(format!("{other} is not a box")),
    }
}

fn bbox(args: &[Value<'_>], i: usize) -> Result<[f64; 4], String> {
    as_box(arg(args, i)?)
}

fn boxes(args: &[Value<'_>], i: usize) -> Result<Vec<[f64; 4]>, String> {
    match arg(args, i)? {
        Value::List(items) => items.iter().map(as_box).collect(),
        other => Err(format!(
            "argument {} is {other}, not a list of boxes",
            i + 1
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call<'a>(function: &str, args: &[Value<'a>]) -> Value<'a> {
        resolve(function, None).unwrap().call(args).unwrap()
    }

    #[test]
    fn extraction_borrows_from_its_input() {
        let text = String::from(r"so \boxed{42}");
        let value = call("boxed", &[Value::Text(Cow::Borrowed(&text))]);
        assert!(matches!(value, Value::Text(Cow::Borrowed("42"))));
    }

    #[test]
    fn regexes_match_whole_or_anywhere() {
        let t = |s: &'static str| Value::Text(Cow::Borrowed(s));
        assert_eq!(
            call("regex_match", &[t("abc"), t("a.c")]),
            Value::Bool(true)
        );
        assert_eq!(
            call("regex_match", &[t("xabc"), t("a.c")]),
            Value::Bool(false)
        );
        assert_eq!(
            call("regex_find", &[t("xabc"), t("a.c")]),
            Value::Bool(true)
        );
        assert!(resolve("regex_find", Some("(")).is_err());
        let fixed = resolve("regex_match", Some("a|b")).unwrap();
        assert_eq!(
            fixed.call(&[t("b"), t("ignored")]).unwrap(),
            Value::Bool(true)
        );
    }

    #[test]
    fn regexes_replace_capture_and_find_on_the_last_line() {
        let t = |s: &'static str| Value::Text(Cow::Borrowed(s));
        let text = |v: Value<'_>| match v {
            Value::Text(t) => t.into_owned(),
            other => panic!("{other}"),
        };
        // PAPO's tidying of Qwen2.5-VL-32B's spaced tags.
        let tidy = call(
            "regex_replace",
            &[t("< think > a </ think >"), t(r"\s*(<|>|/)\s*"), t("$1")],
        );
        assert_eq!(text(tidy), "<think>a</think>");
        let first = call(
            "regex_capture",
            &[
                t("<answer>1</answer><answer>2</answer>"),
                t("<answer>(.*?)</answer>"),
            ],
        );
        assert_eq!(text(first), "1");
        assert_eq!(
            call("regex_capture", &[t("none"), t("<answer>")]),
            Value::None
        );
        let pattern = r"\b(\d+(?:\.\d+)?)\b(?:\s*\.?\s*$)";
        let found = call(
            "last_line_match",
            &[
                t("so 12 apples.\nthen 7\n\nno number here\n  \n"),
                t(pattern),
            ],
        );
        assert_eq!(text(found), "7");
        assert_eq!(
            call("last_line_match", &[t("7 apples"), t(pattern)]),
            Value::None
        );
        assert_eq!(text(call("strip_suffix", &[t(" 4.5. "), t(".")])), " 4.5. ");
        assert_eq!(text(call("strip_suffix", &[t("4.5."), t(".")])), "4.5");
    }

    #[test]
    fn similarities_take_their_flags_and_lower_lower_cases() {
        let t = |s: &'static str| Value::Text(Cow::Borrowed(s));
        let float = |v: Value<'_>| v.as_f64().expect("a number");
        let (answer, reference) = (t("running dogs"), t("the dog runs"));
        let rouge_1 = |stem| {
            float(call(
                "rouge_n",
                &[
                    answer.clone(),
                    reference.clone(),
                    Value::Int(1),
                    Value::Bool(stem),
                ],
            ))
        };
        assert_eq!(rouge_1(false), 0.0);
        assert!((rouge_1(true) - 0.8).abs() < 1e-12);
        let rouge_l = float(call(
            "rouge_l",
            &[answer.clone(), reference.clone(), Value::Bool(true)],
        ));
        assert!((rouge_l - 0.4).abs() < 1e-12);
        let zero = [answer, reference, Value::Int(0), Value::Bool(false)];
        assert!(resolve("rouge_n", None).unwrap().call(&zero).is_err());
        let similarity = float(call("edit_similarity", &[t("kitten"), t("sitting")]));
        assert!((similarity - 4.0 / 7.0).abs() < 1e-12);
        assert_eq!(
            call("lower", &[t("HeLLo ÀΣ")]),
            Value::Text(Cow::Borrowed("hello àς"))
        );
    }

    #[test]
    fn every_native_of_the_standard_library_resolves() {
        let declared = declared();
        for (module, f) in &declared {
            assert!(
                resolve(&f.name.name, None).is_ok(),
                "std::{module}::{} has no implementation",
                f.name.name
            );
        }
        assert!(
            declared.len() >= 40,
            "only {} natives found",
            declared.len()
        );
    }
}
