//! latex2sympy2_extended's `normalize_latex` with the settings Math-Verify extracts with (basic
//! LaTeX, units, malformed operators, nits, boxed content): each regular expression of the
//! original is rewritten as a single left-to-right scan with the same leftmost-first semantics.
//! Every step is linear in its input (searches that could restart are bounded by cursors that only
//! move forward).

use std::borrow::Cow;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Boxed {
    /// Every `\boxed{}`, joined by commas (LaTeX environments).
    All,
    /// The last `\boxed{}` and those just before it separated by "and", "," ... (plain `\boxed`).
    Last,
}

pub(super) fn normalize(text: &str, boxed: Boxed) -> String {
    // Plain answers (digits, letters, operators, brackets) only need the unit and nit steps.
    let plain = text.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'+' | b'-' | b'*' | b'=' | b'(' | b')' | b'[' | b']' | b'<' | b'>' | b':'
            )
    }) && !["and", "or", "inf", "pct", "percent", "sqrt"]
        .iter()
        .any(|w| text.contains(w));
    let mut s: Cow<str> = if plain {
        Cow::Borrowed(text)
    } else {
        extract_boxed_content(text, boxed)
    };
    if !plain {
        basic_latex(&mut s);
    }
    units(&mut s);
    // nits
    if s.starts_with('.') {
        s = Cow::Owned(format!("0{s}"));
    }
    if s == "0.5" {
        s = Cow::Borrowed("\\frac{1}{2}");
    }
    if !plain {
        malformed_operators(&mut s);
    }
    s.trim().to_string()
}

fn apply(s: &mut Cow<str>, step: impl FnOnce(&str) -> Option<String>) {
    if let Some(new) = step(s) {
        *s = Cow::Owned(new);
    }
}

fn replace_all(s: &mut Cow<str>, from: &str, to: &str) {
    if s.contains(from) {
        *s = Cow::Owned(s.replace(from, to));
    }
}

// ---------------------------------------------------------------------------------------------
// Boxed content.

/// Python's `str.isspace` for the characters that matter.
fn is_space(c: char) -> bool {
    c.is_whitespace()
}

fn rfind_before(s: &str, pattern: &str, end: usize) -> Option<usize> {
    memchr::memmem::rfind(&s.as_bytes()[..end], pattern.as_bytes())
}

/// latex2sympy's `extract_boxed_content`.
pub(super) fn extract_boxed_content(text: &str, mode: Boxed) -> Cow<'_, str> {
    if memchr::memmem::find(text.as_bytes(), b"\\boxed").is_none()
        && memchr::memmem::find(text.as_bytes(), b"\\fbox").is_none()
    {
        return Cow::Borrowed(text);
    }
    let b = text.as_bytes();
    let mut results: Vec<&str> = Vec::new();
    let mut current = text.len();
    let mut max_pos = text.len();
    let mut last_boxed_start: Option<usize> = None;
    loop {
        let boxed = rfind_before(text, "\\boxed", current);
        let fbox = rfind_before(text, "\\fbox", current);
        let (start, command_end) = match (boxed, fbox) {
            (None, None) => break,
            (Some(x), Some(y)) if y > x => (y, y + 5),
            (Some(x), _) => (x, x + 6),
            (None, Some(y)) => (y, y + 5),
        };
        let mut next = command_end;
        while next < max_pos && text[next..].chars().next().is_some_and(is_space) {
            next += text[next..].chars().next().map_or(1, char::len_utf8);
        }
        if next >= max_pos {
            break;
        }
        if b[next] == b'{' {
            let mut depth = 1usize;
            let mut close = None;
            let mut i = next;
            while i + 1 < max_pos {
                i += 1;
                match b[i] {
                    b'{' => depth += 1,
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            close = Some(i);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let Some(close) = close else {
                if results.is_empty() {
                    results.push(&text[next..]);
                }
                break;
            };
            let content = text[next + 1..close].trim();
            if mode == Boxed::Last
                && let Some(later) = last_boxed_start
            {
                let previous = results.last().copied().unwrap_or("");
                let between = &text[close + 1..later.max(close + 1)];
                let count = between.chars().count();
                let joined =
                    count < 10 || (previous != content && count < 70 && has_separator(between));
                if !joined {
                    break;
                }
            }
            if results.last() != Some(&content) {
                results.push(content);
            }
            last_boxed_start = Some(start);
            max_pos = start;
        } else {
            if results.is_empty() {
                results.push(&text[next..]);
            }
            break;
        }
        current = start;
    }
    if results.is_empty() {
        return Cow::Borrowed(text);
    }
    if results.len() == 1 {
        return Cow::Borrowed(results[0]);
    }
    let mut out = String::new();
    for (i, r) in results.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r);
    }
    Cow::Owned(out)
}

/// `\b(and|or)\b|,|;`
fn has_separator(s: &str) -> bool {
    if s.contains([',', ';']) {
        return true;
    }
    for word in ["and", "or"] {
        let mut from = 0;
        while let Some(at) = s[from..].find(word) {
            let at = from + at;
            let before = s[..at].chars().next_back();
            let after = s[at + word.len()..].chars().next();
            if !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char) {
                return true;
            }
            from = at + word.len();
        }
    }
    false
}

/// Python's `\w`.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

// ---------------------------------------------------------------------------------------------
// Basic LaTeX.

fn basic_latex(s: &mut Cow<str>) {
    if s.contains('\\') {
        replace_all(s, "\\mathrm{T}", "T");
        replace_all(s, "\\mathrm{d}", "d");
        replace_all(s, "{\\rm d}", "d");
        replace_all(s, "\\left[\\begin{matrix}", "\\begin{bmatrix}");
        replace_all(s, "\\end{matrix}\\right]", "\\end{bmatrix}");
        apply(s, left_right);
    }
    if s.contains(")_{") {
        apply(s, permutations);
    }
    if s.contains(['\\', '$', '"', '\'']) {
        apply(s, to_remove);
    }
    apply(s, replace_in_latex);
    if s.contains(['\n', '\t']) {
        *s = Cow::Owned(s.replace(['\n', '\t'], " "));
    }
    if s.contains("\\\\") && !s.contains("matrix") {
        apply(s, command_slash_fix);
    }
}

const LEFT: &[&str] = &[
    "\\{",
    "{",
    "\\|",
    "|",
    "[",
    "(",
    "\\rbracl",
    "\\lgroup",
    "\\lbrace",
    "\\lbrack",
    "\\vert",
    "\\lvert",
    "\\lceil",
    "\\lfloor",
    "\\vert",
    "\\lvert",
    "\\langle",
    "\\llcorner",
    "\\ulcorner",
];
const RIGHT: &[&str] = &[
    "\\}",
    "}",
    "\\|",
    "|",
    "]",
    ")",
    "\\rbrack",
    "\\rgroup",
    "\\rbrace",
    "\\rbrack",
    "\\vert",
    "\\rvert",
    "\\rceil",
    "\\rfloor",
    "\\vert",
    "\\rvert",
    "\\rangle",
    "\\lrcorner",
    "\\urcorner",
];

/// `\m?left(X)` → `X`, `\m?right(X)` → `X` for the delimiters latex2sympy knows.
fn left_right(s: &str) -> Option<String> {
    if !s.contains("left") && !s.contains("right") {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut changed = false;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 1..];
        let tail_m = tail.strip_prefix('m').unwrap_or(tail);
        let mut matched = None;
        for (word, list) in [("left", LEFT), ("right", RIGHT)] {
            if let Some(after) = tail_m.strip_prefix(word)
                && let Some(delim) = list.iter().find(|d| after.starts_with(**d))
            {
                matched = Some((tail.len() - after.len() + delim.len(), *delim));
                break;
            }
        }
        match matched {
            Some((consumed, delim)) => {
                out.push_str(delim);
                rest = &tail[consumed..];
                changed = true;
            }
            None => {
                out.push('\\');
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    changed.then_some(out)
}

fn permutation_class(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'*' | b'/' | b'\\' | b' ')
}

/// `\(([a-zA-Z0-9+\-*/\\ ]+?)\)_{([a-zA-Z0-9+\-*/\\ ]+?)}` → `\frac{(\1)!}{((\1)-(\2))!}`
fn permutations(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'(' {
            let mut j = i + 1;
            while j < b.len() && permutation_class(b[j]) {
                j += 1;
            }
            if j > i + 1 && j < b.len() && b[j] == b')' && s[j + 1..].starts_with("_{") {
                let k0 = j + 3;
                let mut k = k0;
                while k < b.len() && permutation_class(b[k]) {
                    k += 1;
                }
                if k > k0 && k < b.len() && b[k] == b'}' {
                    let (n, r) = (&s[i + 1..j], &s[k0..k]);
                    out.push_str(&s[copied..i]);
                    out.push_str(&format!("\\frac{{({n})!}}{{(({n})-({r}))!}}"));
                    copied = k + 1;
                    i = k + 1;
                    continue;
                }
            }
        }
        i += 1;
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&s[copied..]);
    Some(out)
}

/// `\mathrm{th}`, `\!` (and following spaces), empty `\text{}`, dollars, quotes not after a
/// backslash, `\displaystyle`: removed.
fn to_remove(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut i = 0;
    let mut changed = false;
    while i < b.len() {
        let len = match b[i] {
            b'\\' => {
                let t = &s[i..];
                if t.starts_with("\\mathrm{th}") {
                    11
                } else if let Some(after) = t.strip_prefix("\\!") {
                    2 + after.len() - after.trim_start().len()
                } else if let Some(after) = t.strip_prefix("\\text") {
                    let a = after.trim_start();
                    match a.strip_prefix('{') {
                        Some(inner) if inner.trim_start().starts_with('}') => {
                            t.len() - inner.trim_start().len() + 1
                        }
                        _ => 0,
                    }
                } else if t.starts_with("\\$") {
                    2
                } else if t.starts_with("\\displaystyle") {
                    13
                } else {
                    0
                }
            }
            b'$' => 1,
            b'"' | b'\'' if i == 0 || b[i - 1] != b'\\' => 1,
            _ => 0,
        };
        if len > 0 {
            out.push_str(&s[copied..i]);
            i += len;
            copied = i;
            changed = true;
        } else {
            i += 1;
        }
    }
    if !changed {
        return None;
    }
    out.push_str(&s[copied..]);
    Some(out)
}

/// `\\\\(?=[a-zA-Z])` → `\\`
fn command_slash_fix(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut i = 0;
    while i + 2 < b.len() + 1 {
        if i + 2 < b.len() + 1
            && b[i] == b'\\'
            && b.get(i + 1) == Some(&b'\\')
            && b.get(i + 2).is_some_and(u8::is_ascii_alphabetic)
        {
            out.push_str(&s[copied..i]);
            out.push('\\');
            i += 2;
            copied = i;
        } else {
            i += 1;
        }
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&s[copied..]);
    Some(out)
}

fn ws_len(s: &str) -> usize {
    s.len() - s.trim_start().len()
}

/// Python's `\b` before position `at` of `s` (`at` starts a word character).
fn word_boundary_before(s: &str, at: usize) -> bool {
    !s[..at].chars().next_back().is_some_and(is_word_char)
}

fn word_boundary_after(s: &str, at: usize) -> bool {
    !s[at..].chars().next().is_some_and(is_word_char)
}

/// The replacements of latex2sympy's `to_replace_patterns`, applied as one alternation: at each
/// position, the first pattern that matches there.
fn replace_in_latex(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !(matches!(
            c,
            b'\\' | b'{' | b'~' | b',' | b'a' | b'o' | b'i' | b'p' | b' '
        ) || c.is_ascii_whitespace()
            || c >= 0x80)
        {
            i += 1;
            continue;
        }
        let t = &s[i..];
        let mut found: Option<(usize, &str)> = None;
        let lower_letter_before = s[..i]
            .chars()
            .next_back()
            .is_some_and(|p| p.is_ascii_alphabetic());
        let starts_ws = t.chars().next().is_some_and(is_space);
        // math, text, frac
        if c == b'\\' {
            if let Some(a) = t.strip_prefix("\\math")
                && (a.starts_with("rm") || a.starts_with("it") || a.starts_with("bf"))
            {
                found = Some((7, "\\text"));
            } else if let Some(a) = t.strip_prefix("\\text")
                && let Some(suffix) = ["normal", "bf", "it", "rm"]
                    .iter()
                    .find(|x| a.starts_with(**x))
            {
                found = Some((5 + suffix.len(), "\\text"));
            } else if t.len() >= 6
                && matches!(b[i + 1], b'd' | b't' | b'c')
                && t[2..].starts_with("frac")
            {
                found = Some((6, "\\frac"));
            }
        }
        // decimal_space: \s\.
        if found.is_none() && starts_ws {
            let w = t.chars().next().map_or(1, char::len_utf8);
            if t[w..].starts_with('.') {
                found = Some((w + 1, " 0."));
            }
        }
        // decimal_brace
        if found.is_none() && t.starts_with("{.") {
            found = Some((2, "{0."));
        }
        // approx
        if found.is_none() && t.starts_with("~=") {
            found = Some((2, "\\approx"));
        }
        // comma: \s*\{\s*,\s*\}
        if found.is_none() && (starts_ws || c == b'{') {
            let a = &t[ws_len(t)..];
            if let Some(a) = a.strip_prefix('{') {
                let a = &a[ws_len(a)..];
                if let Some(a) = a.strip_prefix(',') {
                    let a = &a[ws_len(a)..];
                    if let Some(a) = a.strip_prefix('}') {
                        found = Some((t.len() - a.len(), ","));
                    }
                }
            }
        }
        // and_or: (?<![a-zA-Z])(,?\s*(?:and|or))(?![a-zA-Z])
        if found.is_none()
            && !lower_letter_before
            && (c == b',' || starts_ws || c == b'a' || c == b'o')
        {
            let a = t.strip_prefix(',').unwrap_or(t);
            let a = &a[ws_len(a)..];
            for word in ["and", "or"] {
                if let Some(rest) = a.strip_prefix(word)
                    && !rest.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
                {
                    found = Some((t.len() - rest.len(), ","));
                    break;
                }
            }
        }
        // and_or_text: ,?\s*\\text{\s*(?:and|or)\s*}
        if found.is_none() && (c == b',' || starts_ws || c == b'\\') {
            let a = t.strip_prefix(',').unwrap_or(t);
            let a = &a[ws_len(a)..];
            if let Some(a) = a.strip_prefix("\\text{") {
                let a = &a[ws_len(a)..];
                for word in ["and", "or"] {
                    if let Some(rest) = a.strip_prefix(word) {
                        let rest = &rest[ws_len(rest)..];
                        if let Some(rest) = rest.strip_prefix('}') {
                            found = Some((t.len() - rest.len(), ","));
                            break;
                        }
                    }
                }
            }
        }
        // backslash_space: (?<!\\)\\\s
        if found.is_none()
            && c == b'\\'
            && (i == 0 || b[i - 1] != b'\\')
            && let Some(w) = t[1..].chars().next().filter(|ch| is_space(*ch))
        {
            found = Some((1 + w.len_utf8(), " "));
        }
        // infinity
        if found.is_none() && t.starts_with("infinity") {
            found = Some((8, "\\infty"));
        }
        // dot: ,?(\\ldots)
        if found.is_none() {
            if t.starts_with(",\\ldots") {
                found = Some((7, " "));
            } else if t.starts_with("\\ldots") {
                found = Some((6, " "));
            }
        }
        // percentage / percent / pct (\s*\bword\b) and their \text{} forms
        if found.is_none() {
            let w = ws_len(t);
            let word_at = i + w;
            for (word, text_form) in [
                ("percentage", "\\text{percentage}"),
                ("percent", "\\text{percent}"),
                ("pct", "\\text{pct}"),
            ] {
                if t[w..].starts_with(word)
                    && word_boundary_before(s, word_at)
                    && word_boundary_after(s, word_at + word.len())
                {
                    found = Some((w + word.len(), "\\%"));
                    break;
                }
                if t.starts_with(text_form) {
                    found = Some((text_form.len(), "%"));
                    break;
                }
            }
        }
        // inf: (?<!\\)inf(?!inity)
        if found.is_none()
            && t.starts_with("inf")
            && (i == 0 || b[i - 1] != b'\\')
            && !t[3..].starts_with("inity")
        {
            found = Some((3, "\\infty"));
        }
        // sqrt: " sqrt"
        if found.is_none() && t.starts_with(" sqrt") {
            found = Some((5, "\\sqrt"));
        }
        match found {
            Some((len, to)) => {
                out.push_str(&s[copied..i]);
                out.push_str(to);
                i += len;
                copied = i;
            }
            None => i += t.chars().next().map_or(1, char::len_utf8),
        }
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&s[copied..]);
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Units.

/// latex2sympy's unit words (note the missing comma that makes "integerpoint" one); `.` matches
/// any character, as in the original regular expression.
const UNITS: &[&str] = &[
    "integerpoint",
    "feet",
    "sue",
    "digit",
    "pound",
    "meal",
    "edge",
    "student",
    "children ticket",
    "multiple",
    "east",
    "degree",
    "mph",
    "kmph",
    "ft",
    "m square",
    " m east",
    "sq m",
    "deg",
    "mile",
    "q .",
    "monkey",
    "prime",
    "ratio",
    "profit of rs",
    "rd",
    "o",
    "gm",
    "p . m",
    "lb",
    "tile",
    "per",
    "dm",
    "lt",
    "gain",
    "ab",
    "way",
    "west",
    "a .",
    "b .",
    "c .",
    "d .",
    "e .",
    "f .",
    "g .",
    "h .",
    "t",
    "h",
    "no change",
    "men",
    "soldier",
    "pie",
    "bc",
    "excess",
    "st",
    "inches",
    "noon",
    "cent",
    "by",
    "gal",
    "kmh",
    "c",
    "acre",
    "rise",
    "a . m",
    "th",
    "π r 2",
    "sq",
    "mark",
    "l",
    "toy",
    "coin",
    "sq . m",
    "gallon",
    "° f",
    "profit",
    "minw",
    "yr",
    "women",
    "am",
    "pm",
    "hr",
    "cu cm",
    "square",
    "v â € ™",
    "are",
    "rupee",
    "rounds",
    "cubic",
    "cc",
    "mtr",
    "s",
    "ohm",
    "number",
    "kmph",
    "day",
    "hour",
    "minute",
    "min",
    "second",
    "man",
    "woman",
    "sec",
    "cube",
    "mt",
    "sq inch",
    "mp",
    "∏ cm ³",
    "hectare",
    "more",
    "sec",
    "unit",
    "cu . m",
    "cm 2",
    "rs .",
    "rs",
    "kg",
    "g",
    "month",
    "km",
    "m",
    "cm",
    "mm",
    "apple",
    "liter",
    "loss",
    "yard",
    "pure",
    "year",
    "increase",
    "decrease",
    "d",
    "less",
    "Surface",
    "litre",
    "pi sq m",
    "s .",
    "metre",
    "meter",
    "inch",
];

fn units(s: &mut Cow<str>) {
    // (\\(?:text|mbox){.*?})(\^\d|\{\^\d\})?$ → ""
    if s.contains("\\text{") || s.contains("\\mbox{") {
        let new = strip_trailing_text(s);
        if let Some(new) = new
            && !new.is_empty()
            && new != **s
        {
            *s = Cow::Owned(new);
        }
    }
    for _ in 0..2 {
        match strip_unit_word(s) {
            Some(new) if !new.is_empty() && new != **s => *s = Cow::Owned(new),
            _ => break,
        }
    }
}

fn strip_trailing_text(s: &str) -> Option<String> {
    let b = s.as_bytes();
    // The string must end in `}`, `}^d` or `}{^d}`.
    let n = b.len();
    let ends = [
        (n >= 1 && b[n - 1] == b'}').then(|| n - 1),
        (n >= 3 && b[n - 3] == b'}' && b[n - 2] == b'^' && b[n - 1].is_ascii_digit())
            .then(|| n - 3),
        (n >= 5
            && b[n - 5] == b'}'
            && &b[n - 4..n - 2] == b"{^"
            && b[n - 2].is_ascii_digit()
            && b[n - 1] == b'}')
            .then(|| n - 5),
    ];
    let last_close = ends.iter().flatten().copied().max()?;
    // The leftmost `\text{` or `\mbox{` whose brace opens before a valid closing brace.
    let mut from = 0;
    loop {
        let t = s[from..].find("\\text{").map(|p| (p + from, 6));
        let m = s[from..].find("\\mbox{").map(|p| (p + from, 6));
        let (at, len) = match (t, m) {
            (Some(x), Some(y)) => {
                if x.0 <= y.0 {
                    x
                } else {
                    y
                }
            }
            (Some(x), None) | (None, Some(x)) => x,
            (None, None) => return None,
        };
        if at + len - 1 < last_close
            && s[at + len..]
                .find('\n')
                .is_none_or(|nl| at + len + nl > last_close)
        {
            return Some(s[..at].trim().to_string());
        }
        from = at + 1;
    }
}

/// Whether `text` ends with `unit` (`.` in the unit matching any character but a newline):
/// the byte offset where the unit starts.
fn unit_start(text: &str, unit: &str) -> Option<usize> {
    let mut t = text.chars().rev();
    let mut at = text.len();
    for u in unit.chars().rev() {
        let c = t.next()?;
        if !(c == u || (u == '.' && c != '\n')) {
            return None;
        }
        at -= c.len_utf8();
    }
    Some(at)
}

/// `(\d|\}|\s)\s*(?:units)(?:s|es)?\s*$` → `\1`
fn strip_unit_word(s: &str) -> Option<String> {
    let t = s.trim_end();
    let last = t.chars().next_back()?;
    if !(last.is_alphabetic() || matches!(last, '.' | '³' | '™' | '2')) {
        return None;
    }
    if last == '2' && !t.contains('π') && !t.contains("cm 2") {
        return None;
    }
    let mut best: Option<usize> = None;
    let tb = t.as_bytes();
    let stems: [Option<&str>; 3] = [
        Some(t),
        tb.ends_with(b"s").then(|| &t[..t.len() - 1]),
        tb.ends_with(b"es").then(|| &t[..t.len() - 2]),
    ];
    for unit in UNITS {
        let u_last = *unit.as_bytes().last().unwrap_or(&b' ');
        for stem in stems.into_iter().flatten() {
            let stem_last = stem.as_bytes().last().copied();
            if !(stem_last == Some(u_last) || (u_last == b'.' && stem_last.is_some())) {
                continue;
            }
            let Some(k) = unit_start(stem, unit) else {
                continue;
            };
            // The character before the (possibly empty) run of spaces before the unit, or the
            // first of those spaces, is the group: the leftmost position that can start a match.
            let before = &s[..k];
            let run_start = before.trim_end_matches(is_space).len();
            let prev = before[..run_start].chars().next_back();
            let group = match prev {
                Some(p) if p.is_ascii_digit() || p == '}' => Some(run_start - p.len_utf8()),
                _ if run_start < k => Some(run_start),
                _ => None,
            };
            if let Some(g) = group {
                best = Some(best.map_or(g, |b: usize| b.min(g)));
            }
        }
    }
    let g = best?;
    let keep = g + s[g..].chars().next().map_or(1, char::len_utf8);
    Some(s[..keep].to_string())
}

// ---------------------------------------------------------------------------------------------
// Malformed operators.

fn malformed_operators(s: &mut Cow<str>) {
    if s.contains('^') {
        apply(s, caret_paren);
    }
    if s.contains("sqrt") {
        apply(s, sqrt_paren);
    }
    if s.contains("\\frac") {
        apply(s, |s| command_digits(s, "\\frac"));
    }
    if s.contains("\\log_") {
        apply(s, |s| command_digits(s, "\\log_"));
    }
    if s.contains("\\frac") {
        apply(s, frac_brace_digit);
        apply(s, frac_digit_brace);
    }
    if s.contains("\\sqrt") {
        apply(s, sqrt_digit);
    }
    replace_all(s, " sqrt", "\\sqrt");
    if s.contains("\\sqrt") {
        apply(s, fix_sqrt);
    }
    if s.contains("\\frac") {
        apply(s, fix_fracs);
    }
    if s.contains('/') {
        apply(s, fix_a_slash_b);
    }
}

/// One optional whitespace character at `at` (`\s?`): its length.
fn opt_ws(s: &str, at: usize) -> usize {
    s[at..]
        .chars()
        .next()
        .filter(|c| is_space(*c))
        .map_or(0, char::len_utf8)
}

/// A left-to-right substitution driver: `matcher(s, i)` returns the end of a match at `i` and its
/// replacement.
fn substitute(
    s: &str,
    first: u8,
    mut matcher: impl FnMut(&str, usize) -> Option<(usize, String)>,
) -> Option<String> {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    let mut changed = false;
    while let Some(at) = memchr::memchr(first, &b[i..]) {
        let at = i + at;
        match matcher(s, at) {
            Some((end, replacement)) => {
                out.push_str(&s[copied..at]);
                out.push_str(&replacement);
                copied = end;
                i = end.max(at + 1);
                changed = true;
            }
            None => i = at + 1,
        }
        if i >= b.len() {
            break;
        }
    }
    if !changed {
        return None;
    }
    out.push_str(&s[copied..]);
    Some(out)
}

/// The first `close` byte at or after `from` on the same line (`.` does not match newlines).
fn find_on_line(s: &str, from: usize, close: u8) -> Option<usize> {
    let b = &s.as_bytes()[from..];
    let at = memchr::memchr2(close, b'\n', b)?;
    (b[at] == close).then_some(from + at)
}

/// `\^\s?\((.*?)\)` → `^{\1}`
fn caret_paren(s: &str) -> Option<String> {
    // Cursor: the first `)` at or after a position, reused while positions grow.
    let mut cache: (usize, Option<usize>) = (usize::MAX, None);
    substitute(s, b'^', |s, at| {
        let mut j = at + 1;
        j += opt_ws(s, j);
        if s.as_bytes().get(j) != Some(&b'(') {
            return None;
        }
        let from = j + 1;
        let close = if cache.0 <= from && cache.1.is_none_or(|c| c >= from) {
            cache.1
        } else {
            let c = find_on_line(s, from, b')');
            cache = (from, c);
            c
        }?;
        Some((close + 1, format!("^{{{}}}", &s[from..close])))
    })
}

/// `sqrt\s?\((.*?)\)` → `\sqrt{\1}`
fn sqrt_paren(s: &str) -> Option<String> {
    substitute(s, b's', |s, at| {
        if !s[at..].starts_with("sqrt") {
            return None;
        }
        let mut j = at + 4;
        j += opt_ws(s, j);
        if s.as_bytes().get(j) != Some(&b'(') {
            return None;
        }
        let close = find_on_line(s, j + 1, b')')?;
        Some((close + 1, format!("\\sqrt{{{}}}", &s[j + 1..close])))
    })
}

fn digits_len(s: &str, at: usize) -> usize {
    s.as_bytes()[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count()
}

/// `\\frac\s?(\d)\s?(\d+)` → `\frac{\1}{\2}`, and the same for `\log_`: a command followed by a
/// digit and a number takes them as its two braced arguments.
fn command_digits(s: &str, command: &str) -> Option<String> {
    substitute(s, b'\\', |s, at| {
        if !s[at..].starts_with(command) {
            return None;
        }
        let mut j = at + command.len();
        j += opt_ws(s, j);
        if !s.as_bytes().get(j).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        let a = &s[j..j + 1];
        let mut k = j + 1;
        k += opt_ws(s, k);
        let n = digits_len(s, k);
        if n == 0 {
            return None;
        }
        Some((k + n, format!("{command}{{{a}}}{{{}}}", &s[k..k + n])))
    })
}

/// `\\frac\s?{(.*?)}\s?(\d)` → `\frac{\1}{\2}`: the first `}` (after the brace) followed by an
/// optional space and a digit closes the numerator.
fn frac_brace_digit(s: &str) -> Option<String> {
    let b = s.as_bytes();
    // Cursor over candidate closing braces, moving forward only.
    let mut cache: (usize, Option<usize>) = (usize::MAX, None);
    let mut find = |from: usize| -> Option<usize> {
        if cache.0 <= from && cache.1.is_none_or(|c| c >= from) {
            return cache.1;
        }
        let mut i = from;
        let found = loop {
            let Some(at) = memchr::memchr2(b'}', b'\n', &b[i..]) else {
                break None;
            };
            let at = i + at;
            if b[at] == b'\n' {
                break None;
            }
            let k = at + 1 + opt_ws(s, at + 1);
            if b.get(k).is_some_and(u8::is_ascii_digit) {
                break Some(at);
            }
            i = at + 1;
        };
        cache = (from, found);
        found
    };
    substitute(s, b'\\', |s, at| {
        if !s[at..].starts_with("\\frac") {
            return None;
        }
        let mut j = at + 5;
        j += opt_ws(s, j);
        if b.get(j) != Some(&b'{') {
            return None;
        }
        let close = find(j + 1)?;
        let k = close + 1 + opt_ws(s, close + 1);
        Some((
            k + 1,
            format!("\\frac{{{}}}{{{}}}", &s[j + 1..close], &s[k..k + 1]),
        ))
    })
}

/// `\\frac\s?(\d)\s?{(.*?)}` → `\frac{\1}{\2}`
fn frac_digit_brace(s: &str) -> Option<String> {
    substitute(s, b'\\', |s, at| {
        if !s[at..].starts_with("\\frac") {
            return None;
        }
        let mut j = at + 5;
        j += opt_ws(s, j);
        if !s.as_bytes().get(j).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        let a = &s[j..j + 1];
        let mut k = j + 1;
        k += opt_ws(s, k);
        if s.as_bytes().get(k) != Some(&b'{') {
            return None;
        }
        let close = find_on_line(s, k + 1, b'}')?;
        Some((close + 1, format!("\\frac{{{a}}}{{{}}}", &s[k + 1..close])))
    })
}

/// `\\sqrt\s?(\d)` → `\sqrt{\1}`
fn sqrt_digit(s: &str) -> Option<String> {
    substitute(s, b'\\', |s, at| {
        if !s[at..].starts_with("\\sqrt") {
            return None;
        }
        let mut j = at + 5;
        j += opt_ws(s, j);
        if !s.as_bytes().get(j).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        Some((j + 1, format!("\\sqrt{{{}}}", &s[j..j + 1])))
    })
}

/// hendrycks' `_fix_sqrt`: `\sqrt x` → `\sqrt{x}`.
fn fix_sqrt(s: &str) -> Option<String> {
    let mut parts = s.split("\\sqrt");
    let mut out = String::from(parts.next()?);
    let mut changed = false;
    for part in parts {
        let p = part.trim_start();
        match p.chars().next() {
            Some(c) if c != '{' && c != '[' => {
                out.push_str("\\sqrt{");
                out.push(c);
                out.push('}');
                out.push_str(&p[c.len_utf8()..]);
                changed = true;
            }
            _ => {
                out.push_str("\\sqrt");
                out.push_str(p);
                changed |= p.len() != part.len();
            }
        }
    }
    changed.then_some(out)
}

/// hendrycks' `_fix_fracs`: `\frac12` → `\frac{1}{2}`, `\frac1{2}` → `\frac{1}{2}`.
fn fix_fracs(s: &str) -> Option<String> {
    let mut parts = s.split("\\frac");
    let mut out = String::from(parts.next()?);
    let mut changed = false;
    for part in parts {
        let p = part.trim_start();
        changed |= p.len() != part.len();
        out.push_str("\\frac");
        if p.starts_with('{') {
            out.push_str(p);
            continue;
        }
        let mut chars = p.chars();
        let (Some(a), Some(b)) = (chars.next(), chars.next()) else {
            return None; // the original returns the text unchanged
        };
        let rest = chars.as_str();
        changed = true;
        if b != '{' {
            out.push('{');
            out.push(a);
            out.push_str("}{");
            out.push(b);
            out.push('}');
            out.push_str(rest);
        } else {
            out.push('{');
            out.push(a);
            out.push('}');
            out.push(b);
            out.push_str(rest);
        }
    }
    changed.then_some(out)
}

/// hendrycks' `_fix_a_slash_b`: a whole `int/int` becomes `\frac{int}{int}`.
fn fix_a_slash_b(s: &str) -> Option<String> {
    let mut parts = s.split('/');
    let (a, b) = (parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (x, y) = (python_int(a)?, python_int(b)?);
    (format!("{x}/{y}") == s).then(|| format!("\\frac{{{x}}}{{{y}}}"))
}

/// Python's `int(text)`: optional spaces and sign, digits (underscores between digits allowed).
fn python_int(text: &str) -> Option<i128> {
    let t = text.trim();
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}
