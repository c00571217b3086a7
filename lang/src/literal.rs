//! Decoding and checking of literal tokens. Checks report diagnostics once, before parsing; decoding is
//! lenient so the parser can always build a node.

use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;

/// Diagnostics for a number or string literal token (`raw` as written, starting at byte `start`).
pub fn check_int(raw: &str, span: Span) -> Option<Diagnostic> {
    match raw.replace('_', "").parse::<i64>() {
        Ok(_) => None,
        Err(_) => Some(
            Diagnostic::new(
                Code::E0105,
                span,
                format!("integer literal `{raw}` is too large"),
            )
            .with_label("out of range")
            .with_help(format!(
                "the largest integer is {}; write a float such as `1e19` for larger values",
                i64::MAX
            )),
        ),
    }
}

pub fn check_float(raw: &str, span: Span) -> Option<Diagnostic> {
    match raw.replace('_', "").parse::<f64>() {
        Ok(value) if value.is_finite() => None,
        _ => Some(
            Diagnostic::new(
                Code::E0105,
                span,
                format!("float literal `{raw}` is out of range"),
            )
            .with_label("too large for a 64-bit float"),
        ),
    }
}

pub fn parse_int(raw: &str) -> i64 {
    raw.replace('_', "").parse().unwrap_or(0)
}

pub fn parse_float(raw: &str) -> f64 {
    raw.replace('_', "").parse().unwrap_or(0.0)
}

/// Reports every unknown or malformed escape in a string token.
pub fn check_escapes(raw: &str, start: usize) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let mut chars = raw.char_indices().peekable();
    while let Some((offset, c)) = chars.next() {
        if c != '\\' {
            continue;
        }
        let Some((_, escaped)) = chars.next() else {
            break;
        };
        let escape_span = Span::new(start + offset, start + offset + 1 + escaped.len_utf8());
        match escaped {
            'n' | 't' | 'r' | '0' | '\\' | '"' | '\n' => {}
            'u' => {
                let rest = &raw[offset + 2..];
                let code = rest.strip_prefix('{').and_then(|r| r.split_once('}')).map(|(hex, _)| hex);
                let valid = code.and_then(|hex| u32::from_str_radix(hex, 16).ok()).and_then(char::from_u32);
                let length = code.map_or(0, |hex| hex.len() + 2);
                if valid.is_none() {
                    let span = Span::new(escape_span.start, escape_span.end + length);
                    diagnostics.push(
                        Diagnostic::new(Code::E0103, span, "invalid unicode escape")
                            .with_label("not a valid `\\u{...}` escape")
                            .with_help("write a unicode escape as `\\u{1F600}`: one to six hex digits in braces"),
                    );
                }
                for _ in 0..length {
                    chars.next();
                }
            }
            other => diagnostics.push(
                Diagnostic::new(Code::E0103, escape_span, format!("unknown escape `\\{}`", other.escape_debug()))
                    .with_label("unknown escape")
                    .with_help("the escapes are \\n \\t \\r \\0 \\\\ \\\" and \\u{...}; write `\\\\` for a backslash"),
            ),
        }
    }
    diagnostics
}

/// The value of a one-line string token (quotes included in `raw`).
pub fn decode_string(raw: &str) -> String {
    let inner = raw.strip_prefix('"').unwrap_or(raw);
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    unescape(inner)
}

/// The value of a `"""` string: a leading newline dropped, the common indentation removed, and a last
/// line of only spaces dropped, so a prompt can be indented with the code around it.
pub fn decode_triple_string(raw: &str) -> String {
    let inner = raw.strip_prefix("\"\"\"").unwrap_or(raw);
    let inner = inner.strip_suffix("\"\"\"").unwrap_or(inner);
    let inner = inner
        .strip_prefix("\r\n")
        .or_else(|| inner.strip_prefix('\n'))
        .unwrap_or(inner);
    let mut lines: Vec<&str> = inner.split('\n').collect();
    if lines.len() > 1 && lines.last().is_some_and(|line| line.trim().is_empty()) {
        lines.pop();
    }
    let indent = lines
        .iter()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    let dedented: Vec<&str> = lines
        .iter()
        .map(|line| {
            if line.len() >= indent && line.is_char_boundary(indent) {
                &line[indent..]
            } else {
                line.trim_start()
            }
        })
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .collect();
    unescape(&dedented.join("\n"))
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('\n') => {
                // A backslash at the end of a line joins it with the next, without the indentation.
                let rest = chars.as_str().trim_start_matches([' ', '\t']);
                chars = rest.chars();
            }
            Some('u') => {
                let rest = chars.as_str();
                let decoded = rest
                    .strip_prefix('{')
                    .and_then(|r| r.split_once('}'))
                    .and_then(|(hex, tail)| {
                        Some((char::from_u32(u32::from_str_radix(hex, 16).ok()?)?, tail))
                    });
                match decoded {
                    Some((ch, tail)) => {
                        out.push(ch);
                        chars = tail.chars();
                    }
                    None => out.push_str("\\u"),
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triple_strings_are_dedented() {
        let raw = "\"\"\"\n    You think first.\n      Then answer.\n    \"\"\"";
        assert_eq!(
            decode_triple_string(raw),
            "You think first.\n  Then answer."
        );
    }

    #[test]
    fn escapes_decode_and_bad_ones_are_reported() {
        assert_eq!(decode_string(r#""a\n\"b\"\u{41}""#), "a\n\"b\"A");
        let diagnostics = check_escapes(r#""\q and \u{zz}""#, 10);
        assert_eq!(diagnostics.len(), 2);
        assert_eq!(diagnostics[0].span(), Span::new(11, 13));
        assert_eq!(diagnostics[1].code, Code::E0103);
    }

    #[test]
    fn overflowing_numbers_are_reported() {
        assert!(check_int("9223372036854775808", Span::new(0, 19)).is_some());
        assert!(check_int("1_000", Span::new(0, 5)).is_none());
        assert!(check_float("1e999", Span::new(0, 5)).is_some());
    }
}
