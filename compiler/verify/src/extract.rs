//! Answer extraction from completions. Every function is a single linear scan (or a bounded number
//! of them): no regex backtracking, no recursion, whatever the input.

/// The content of the last `\boxed{...}` or `\fbox{...}`, nested braces included; also `\boxed 5`.
/// An unclosed last box yields nothing.
pub fn boxed(text: &str) -> Option<&str> {
    // One backward pass over the backslashes finds the last box command.
    let start = memchr::memrchr_iter(b'\\', text.as_bytes()).find_map(|at| {
        let rest = &text[at..];
        ["\\boxed", "\\fbox"]
            .iter()
            .find(|command| rest.starts_with(**command))
            .map(|command| at + command.len())
    })?;
    let rest = &text[start..];
    let trimmed = rest.trim_start();
    if let Some(inside) = trimmed.strip_prefix('{') {
        let end = matching_brace(inside)?;
        return Some(&inside[..end]);
    }
    // `\boxed 5`: the following word.
    let word_end = trimmed
        .find(|c: char| c.is_whitespace() || c == '$')
        .unwrap_or(trimmed.len());
    (!trimmed.is_empty() && rest.len() != trimmed.len())
        .then(|| &trimmed[..word_end])
        .filter(|w| !w.is_empty())
}

/// The byte offset of the `}` closing a group whose `{` has just been consumed.
fn matching_brace(inside: &str) -> Option<usize> {
    let mut depth = 1usize;
    let bytes = inside.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1, // `\{` and `\}` are literal braces
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The content of the last `<name>...</name>`, trimmed.
pub fn tag<'t>(text: &'t str, name: &str) -> Option<&'t str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let end = memchr::memmem::rfind(text.as_bytes(), close.as_bytes())?;
    let start = memchr::memmem::rfind(&text.as_bytes()[..end], open.as_bytes())? + open.len();
    Some(text[start..end].trim())
}

/// The content of the last `<answer>...</answer>`.
pub fn answer_tag(text: &str) -> Option<&str> {
    tag(text, "answer")
}

/// The text after the last "Answer:" (any case, `**Answer:**` too), to the end of its line.
pub fn answer_line(text: &str) -> Option<&str> {
    let lower = text.to_ascii_lowercase();
    let at = lower.rfind("answer:")?;
    let rest = &text[at + "answer:".len()..];
    let line = rest.split('\n').next().unwrap_or(rest);
    let line = line
        .trim()
        .trim_start_matches("**")
        .trim_end_matches("**")
        .trim();
    (!line.is_empty()).then_some(line)
}

/// The last number in the text: digits with an optional sign, decimal part and thousands commas.
pub fn last_number(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut end = bytes.len();
    while end > 0 && !bytes[end - 1].is_ascii_digit() {
        end -= 1;
    }
    if end == 0 {
        return None;
    }
    let mut start = end;
    while start > 0 {
        let c = bytes[start - 1];
        let joins = (c == b'.' || c == b',') && start >= 2 && bytes[start - 2].is_ascii_digit();
        if c.is_ascii_digit() || joins {
            start -= 1;
        } else {
            break;
        }
    }
    if start > 0 && bytes[start - 1] == b'-' {
        start -= 1;
    }
    Some(&text[start..end])
}

/// The value of the first `key: value` pair named `key` in a JSON object, or a Python literal's
/// (`{'action': 'click'}`, as UI-R1's answers are written): a string's content without its
/// quotes, a list's or an object's text with its brackets, or a number's or word's text. Escapes
/// inside strings are skipped over, not decoded.
pub fn json_field<'t>(text: &'t str, key: &str) -> Option<&'t str> {
    let bytes = text.as_bytes();
    for quote in [b'"', b'\''] {
        let needle = [&[quote][..], key.as_bytes(), &[quote][..]].concat();
        for at in memchr::memmem::find_iter(bytes, &needle) {
            let after = text[at + needle.len()..].trim_start();
            if let Some(value) = after.strip_prefix(':') {
                return field_value(value.trim_start());
            }
        }
    }
    None
}

/// The first line from the bottom (blank lines skipped) where `find` finds something, and what it
/// found: OpenMMReasoner's fallback for an answer stated on its own ("... so the answer is 204").
pub fn last_line_match<'t>(
    text: &'t str,
    find: impl Fn(&'t str) -> Option<&'t str>,
) -> Option<&'t str> {
    text.trim()
        .split('\n')
        .rev()
        .filter(|line| !line.trim().is_empty())
        .find_map(find)
}

/// The value at the start of `rest`, as `json_field` reads it.
fn field_value(rest: &str) -> Option<&str> {
    let bytes = rest.as_bytes();
    match *bytes.first()? {
        quote @ (b'"' | b'\'') => {
            let end = string_end(&bytes[1..], quote)?;
            Some(&rest[1..1 + end])
        }
        open @ (b'[' | b'{') => {
            let close = if open == b'[' { b']' } else { b'}' };
            let (mut depth, mut i) = (0usize, 0usize);
            while i < bytes.len() {
                match bytes[i] {
                    q @ (b'"' | b'\'') => i += 1 + string_end(&bytes[i + 1..], q)?,
                    b if b == open => depth += 1,
                    b if b == close => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(&rest[..=i]);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            let end = rest.find([',', '}', ']', '\n']).unwrap_or(rest.len());
            Some(rest[..end].trim()).filter(|v| !v.is_empty())
        }
    }
}

/// The offset of the quote closing a string whose opening `quote` has been consumed.
fn string_end(bytes: &[u8], quote: u8) -> Option<usize> {
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b if b == quote => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// A jigsaw answer: the patch positions `1..=size` separated by spaces, commas, semicolons,
/// backticks or newlines (Jigsaw-R1's `process_jigsaw_string`); none when any part is not such a
/// number. The count is not checked here: a wrong count scores 0 where the answer is compared.
pub fn parse_permutation(text: &str, size: u64) -> Option<Vec<u64>> {
    let mut out = Vec::new();
    for part in text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '`')) {
        if part.is_empty() {
            continue;
        }
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let value: u64 = part.parse().ok()?;
        if !(1..=size).contains(&value) {
            return None;
        }
        out.push(value);
    }
    Some(out)
}

/// What a completion answers, as `examples/rewards/math.rlx` defines it: the last `\boxed{}`, else
/// the last `<answer>` content, else the whole text.
pub fn final_answer(text: &str) -> &str {
    boxed(text).or_else(|| answer_tag(text)).unwrap_or(text)
}

/// A completion's `answer` field: the content of its last `<answer>`, else of its last `\boxed{}`,
/// else its trimmed text.
pub fn completion_answer(text: &str) -> &str {
    answer_tag(text)
        .or_else(|| boxed(text))
        .unwrap_or(text.trim())
}

/// The text as Python's `float()` reads it: blanks around, a sign, then digits with an optional
/// point and exponent (`_` between digits), or `inf`, `infinity`, `nan` in any case; `None`
/// where `float()` raises. Only ASCII digits are read (Python also takes other scripts' digits).
pub fn python_float(text: &str) -> Option<f64> {
    let body = text.trim();
    let (negative, unsigned) = match body.as_bytes().first() {
        Some(b'-') => (true, &body[1..]),
        Some(b'+') => (false, &body[1..]),
        _ => (false, body),
    };
    let lower = unsigned.to_ascii_lowercase();
    let magnitude = match lower.as_str() {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        _ => plain_decimal(unsigned)?,
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// `digits [. digits] [e [sign] digits]` or `. digits [exponent]`, where digits may be grouped
/// by single underscores (PEP 515), without a sign.
fn plain_decimal(text: &str) -> Option<f64> {
    let bytes = text.as_bytes();
    let mut cleaned = String::with_capacity(text.len());
    let mut i = 0;
    // Digits with single underscores between them; how many digits were read.
    let digits = |i: &mut usize, cleaned: &mut String| -> Option<usize> {
        let mut count = 0;
        while *i < bytes.len() {
            match bytes[*i] {
                b'0'..=b'9' => {
                    cleaned.push(bytes[*i] as char);
                    count += 1;
                }
                b'_' if count > 0 && bytes.get(*i + 1).is_some_and(u8::is_ascii_digit) => {}
                b'_' => return None,
                _ => break,
            }
            *i += 1;
        }
        Some(count)
    };
    let whole = digits(&mut i, &mut cleaned)?;
    let mut fraction = 0;
    if bytes.get(i) == Some(&b'.') {
        cleaned.push('.');
        i += 1;
        fraction = digits(&mut i, &mut cleaned)?;
    }
    if whole + fraction == 0 {
        return None;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        cleaned.push('e');
        i += 1;
        if let Some(&sign @ (b'+' | b'-')) = bytes.get(i) {
            cleaned.push(sign as char);
            i += 1;
        }
        if digits(&mut i, &mut cleaned)? == 0 {
            return None;
        }
    }
    if i != bytes.len() {
        return None;
    }
    cleaned.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_as_python_float_reads_them() {
        let read = [
            ("3", 3.0),
            (" -2.5 ", -2.5),
            ("+.5", 0.5),
            ("5.", 5.0),
            ("1e3", 1000.0),
            ("1E-2", 0.01),
            ("1_000.000_1", 1000.0001),
            ("\t7\n", 7.0),
        ];
        for (text, value) in read {
            assert_eq!(python_float(text), Some(value), "{text:?}");
        }
        assert_eq!(python_float("-Infinity"), Some(f64::NEG_INFINITY));
        assert!(python_float("nan").unwrap().is_nan());
        let refused = [
            "", ".", "-", "1/4", "40%", "1e", "e3", "1__0", "_1", "1_", "1_.5", "1,000", "0x10",
            "two", "3 4", "1.2.3", "++1",
        ];
        for text in refused {
            assert_eq!(python_float(text), None, "{text:?}");
        }
    }

    use super::*;

    #[test]
    fn boxed_takes_the_last_box_with_nested_braces() {
        assert_eq!(
            boxed(r"so \boxed{1} or rather \boxed{\frac{1}{2}}."),
            Some(r"\frac{1}{2}")
        );
        assert_eq!(boxed(r"\fbox{x^{2}}"), Some("x^{2}"));
        assert_eq!(boxed(r"\boxed 5$"), Some("5"));
        assert_eq!(boxed(r"\boxed{\{1, 2\}}"), Some(r"\{1, 2\}"));
        assert_eq!(boxed(r"\boxed{unclosed"), None);
        assert_eq!(boxed("no box"), None);
    }

    #[test]
    fn tags_lines_and_numbers() {
        assert_eq!(
            answer_tag("<think>x</think><answer> 42 </answer>"),
            Some("42")
        );
        assert_eq!(answer_tag("<answer>unclosed"), None);
        assert_eq!(
            answer_line("so...\n**Answer:** 7 apples\nthanks"),
            Some("7 apples")
        );
        assert_eq!(last_number("we get 1,234.5 and then -3."), Some("-3"));
        assert_eq!(last_number("total 1,234,567 items"), Some("1,234,567"));
        assert_eq!(last_number("none here"), None);
        assert_eq!(final_answer("plain"), "plain");
    }

    #[test]
    fn pathological_inputs_are_linear() {
        let braces = format!("\\boxed{{{}{}", "{".repeat(100_000), "}".repeat(100_000));
        let start = std::time::Instant::now();
        assert_eq!(boxed(&braces), None);
        let digits = "9".repeat(10_000);
        assert_eq!(last_number(&digits).map(str::len), Some(10_000));
        let megabyte = "<answer>".repeat(130_000);
        assert_eq!(answer_tag(&megabyte), None);
        assert!(start.elapsed().as_millis() < 1000);
    }
}

/// The numbers of each innermost `[...]` or `(...)` group holding nothing but `count` numbers
/// separated by commas, in order of appearance. Each character is looked at a bounded number of
/// times: a group is read when its closing bracket is met, and groups do not overlap.
fn number_groups(text: &str, count: usize, mut found: impl FnMut(&[f64]) -> bool) {
    let bytes = text.as_bytes();
    let mut open: Option<usize> = None;
    let mut numbers = Vec::with_capacity(count);
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'[' | b'(' => open = Some(i + 1),
            b']' | b')' => {
                if let Some(start) = open.take()
                    && numbers_in(&text[start..i], count, &mut numbers)
                    && found(&numbers)
                {
                    return;
                }
            }
            _ => {}
        }
    }
}

/// Whether `inside` is exactly `count` comma-separated numbers, which are left in `out`.
fn numbers_in(inside: &str, count: usize, out: &mut Vec<f64>) -> bool {
    out.clear();
    for part in inside.split(',') {
        if out.len() == count {
            return false;
        }
        let part = part.trim();
        let plain = !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
        match part.parse::<f64>() {
            Ok(value) if plain && value.is_finite() => out.push(value),
            _ => return false,
        }
    }
    out.len() == count
}

/// The first box `[x1, y1, x2, y2]` (or with parentheses) in the text.
pub fn parse_box(text: &str) -> Option<[f64; 4]> {
    let mut first = None;
    number_groups(text, 4, |n| {
        first = Some([n[0], n[1], n[2], n[3]]);
        true
    });
    first
}

/// Every box `[x1, y1, x2, y2]` in the text, in order (at most 1,024).
pub fn parse_boxes(text: &str) -> Vec<[f64; 4]> {
    let mut boxes = Vec::new();
    number_groups(text, 4, |n| {
        boxes.push([n[0], n[1], n[2], n[3]]);
        boxes.len() >= 1024
    });
    boxes
}

/// The first point `[x, y]` (or `(x, y)`) in the text.
pub fn parse_point(text: &str) -> Option<[f64; 2]> {
    let mut first = None;
    number_groups(text, 2, |n| {
        first = Some([n[0], n[1]]);
        true
    });
    first
}

#[cfg(test)]
mod number_group_tests {
    use super::*;

    #[test]
    fn jigsaw_answers() {
        assert_eq!(parse_permutation("3 1, 2;`4`\n", 4), Some(vec![3, 1, 2, 4]));
        assert_eq!(parse_permutation("3 1 5", 4), None);
        assert_eq!(parse_permutation("3 one 2", 4), None);
        assert_eq!(parse_permutation("0 1", 4), None);
        assert_eq!(parse_permutation("", 4), Some(vec![]));
    }

    #[test]
    fn json_fields_of_json_and_python_literals() {
        let ui = "<answer>[{'action': 'click', 'coordinate': [120, 45]}]</answer>";
        assert_eq!(json_field(ui, "action"), Some("click"));
        assert_eq!(json_field(ui, "coordinate"), Some("[120, 45]"));
        let pixel = r#"{"bbox": [1, 2, 3, 4], "points_1": [2, 3], "label": "a \"cat\"", "n": 7}"#;
        assert_eq!(json_field(pixel, "bbox"), Some("[1, 2, 3, 4]"));
        assert_eq!(json_field(pixel, "points_1"), Some("[2, 3]"));
        assert_eq!(json_field(pixel, "label"), Some(r#"a \"cat\""#));
        assert_eq!(json_field(pixel, "n"), Some("7"));
        assert_eq!(
            json_field(r#"{"o": {"k": "}", "j": [1]}}"#, "o"),
            Some(r#"{"k": "}", "j": [1]}"#)
        );
        // A key mentioned as a value is not a field; missing, unclosed or empty values are none.
        assert_eq!(
            json_field(r#"{"a": "action", "action": "type"}"#, "action"),
            Some("type")
        );
        assert_eq!(json_field(r#"{"action": "cli"#, "action"), None);
        assert_eq!(json_field(r#"{"bbox": [1, 2"#, "bbox"), None);
        assert_eq!(json_field("{}", "action"), None);
        assert_eq!(json_field(r#"{"action": }"#, "action"), None);
    }

    #[test]
    fn boxes_and_points() {
        let text =
            r#"<answer>{"bbox_2d": [10, 20.5, 30, 40], "label": "cat"} and (1,2,3,4)</answer>"#;
        assert_eq!(parse_box(text), Some([10.0, 20.5, 30.0, 40.0]));
        assert_eq!(parse_boxes(text).len(), 2);
        assert_eq!(parse_box("[1, 2, 3]"), None);
        assert_eq!(parse_box("[1, 2, x, 4]"), None);
        assert_eq!(parse_point("click (12, -3.5)"), Some([12.0, -3.5]));
        assert_eq!(parse_point("[[1, 2]]"), Some([1.0, 2.0]));
        assert_eq!(parse_box("[inf, 1, 2, 3]"), None);
    }
}
