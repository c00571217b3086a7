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

/// What a completion answers, as `examples/rewards/math.rlx` defines it: the last `\boxed{}`, else
/// the last `<answer>` content, else the whole text.
pub fn final_answer(text: &str) -> &str {
    boxed(text).or_else(|| answer_tag(text)).unwrap_or(text)
}

#[cfg(test)]
mod tests {
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
