//! Text matches, choice letters and format checks.

/// Exactly the same text.
pub fn exact_match(answer: &str, reference: &str) -> bool {
    answer == reference
}

/// Lower-cased, inner whitespace collapsed, outer whitespace and trailing punctuation removed. One
/// pass over the text.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            out.extend(c.to_lowercase());
        }
    }
    let kept = out
        .trim_end_matches(['.', '!', '?', ',', ';', ':', '。'])
        .trim_end()
        .len();
    out.truncate(kept);
    out
}

/// The same text after trimming, case folding, collapsing spaces and dropping final punctuation.
pub fn relaxed_match(answer: &str, reference: &str) -> bool {
    normalize(answer) == normalize(reference)
}

/// Whether the trimmed answer is exactly one of `choices` (SATORI-R1's `answer in possible_answers`).
pub fn one_of(answer: &str, choices: &[&str]) -> bool {
    let answer = answer.trim();
    choices.contains(&answer)
}

/// OpenMMReasoner's relaxed match: one text holds the other and the shorter is at least `portion`
/// of the longer's length (in characters), or the trimmed texts are equal.
pub fn contains_match(answer: &str, reference: &str, portion: f64) -> bool {
    let length = |t: &str| t.chars().count() as f64;
    (reference.contains(answer) && length(answer) >= portion * length(reference))
        || (answer.contains(reference) && length(reference) >= portion * length(answer))
        || answer.trim() == reference.trim()
}

/// The option letter (A–H) a free-form answer names, by OpenMMReasoner's `parse_mcq`: every
/// letter in every form — `(A)`, `A.`, `A:`, `A)`, `A `, `A-`, `A_`, `A=`, after an answer phrase,
/// at the start, at the end, `1. A` — is a candidate; the form of highest priority wins, then
/// the earliest position; a bare letter anywhere only when nothing else is found.
pub fn parse_mcq(text: &str) -> Option<char> {
    const CHOICES: [char; 8] = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H'];
    const PHRASES: [&str; 25] = [
        "the answer is",
        "answer is",
        "the correct answer is",
        "correct answer is",
        "the answer",
        "answer",
        "correct answer",
        "the correct answer",
        "the best answer is",
        "best answer is",
        "the best answer",
        "best answer",
        "the option is",
        "option is",
        "the correct option is",
        "correct option is",
        "the choice is",
        "choice is",
        "the correct choice is",
        "correct choice is",
        "i choose",
        "i select",
        "i pick",
        "my answer is",
        "my choice is",
    ];
    if text.trim().is_empty() {
        return None;
    }
    let mut core = text.trim();
    for c in [',', '.', '!', '?', ';', ':', '\'', '"'] {
        core = core.trim_matches(c);
    }
    let response = format!(" {core} ");
    let lower = response.to_ascii_lowercase();
    // (letter, position, priority), in the order the Python code finds them.
    let mut candidates: Vec<(char, usize, u8)> = Vec::new();
    let forms: [(&str, &str, u8); 8] = [
        ("(", ")", 6),
        ("", ".", 5),
        ("", ":", 4),
        ("", ")", 3),
        ("", " ", 2),
        ("", "-", 1),
        ("", "_", 1),
        ("", "=", 1),
    ];
    for (before, after, priority) in forms {
        for c in CHOICES {
            let form = format!("{before}{c}{after}");
            if let Some(at) = response.rfind(&form) {
                candidates.push((c, at, priority));
            }
        }
    }
    for phrase in PHRASES {
        if let Some(start) = lower.find(phrase) {
            for c in CHOICES {
                if let Some(at) = response[start..].find(c) {
                    candidates.push((c, start + at, 7));
                }
            }
        }
    }
    let stripped = response.trim();
    for c in CHOICES {
        if stripped.starts_with(c) {
            candidates.push((c, 0, 10));
        }
    }
    for c in CHOICES {
        if stripped.ends_with(c) {
            candidates.push((c, response.len() - 1, 9));
        }
    }
    for (i, c) in CHOICES.iter().enumerate() {
        if let Some(at) = response.rfind(&format!("{}. {c}", i + 1)) {
            candidates.push((*c, at, 8));
        }
    }
    if candidates.is_empty() {
        for c in CHOICES {
            if let Some(at) = response.rfind(c) {
                candidates.push((c, at, 0));
            }
        }
    }
    // Highest priority, then earliest position; the first found among equals (a stable sort).
    let mut best: Option<(char, usize, u8)> = None;
    for candidate in candidates {
        let better = match best {
            None => true,
            Some((_, at, priority)) => {
                candidate.2 > priority || (candidate.2 == priority && candidate.1 < at)
            }
        };
        if better {
            best = Some(candidate);
        }
    }
    best.map(|(c, _, _)| c)
}

/// The option letter a text names: `B`, `(B)`, `B.`, `B)`, `B:`, `[B]`, `option B`, `answer is B`.
pub fn choice_letter(text: &str) -> Option<char> {
    let trimmed = text.trim();
    let is_letter = |c: char| c.is_ascii_uppercase();
    // The whole text is a marked letter.
    let core = trimmed
        .trim_matches(|c: char| matches!(c, '(' | ')' | '[' | ']' | '{' | '}' | '*' | '$' | ' '))
        .trim_end_matches(['.', ':', ')']);
    let mut chars = core.chars();
    if let (Some(c), None) = (chars.next(), chars.next())
        && is_letter(c.to_ascii_uppercase())
        && (c.is_ascii_uppercase() || trimmed.len() <= 3)
    {
        return Some(c.to_ascii_uppercase());
    }
    // "B. 42", "(B) 42": a letter at the start followed by a delimiter.
    let bytes = trimmed.as_bytes();
    let start = usize::from(bytes.first() == Some(&b'('));
    if let Some(&c) = bytes.get(start)
        && is_letter(c as char)
        && bytes.get(start + 1).is_some_and(|d| b".):".contains(d))
    {
        return Some(c as char);
    }
    // "the answer is B", "option C".
    let lower = trimmed.to_ascii_lowercase();
    for marker in ["answer is", "option", "choice", "answer:"] {
        if let Some(at) = lower.rfind(marker) {
            let rest = trimmed[at + marker.len()..]
                .trim_start()
                .trim_start_matches(['(', '[', '*']);
            if let Some(c) = rest.chars().next()
                && is_letter(c.to_ascii_uppercase())
                && rest[c.len_utf8()..]
                    .chars()
                    .next()
                    .is_none_or(|n| !n.is_ascii_alphanumeric())
            {
                return Some(c.to_ascii_uppercase());
            }
        }
    }
    None
}

/// The last `bytes` bytes of `text` (at a character boundary).
fn tail(text: &str, bytes: usize) -> &str {
    let mut start = text.len().saturating_sub(bytes);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// The text of an option written `B. text` or `(B) text`.
fn option_text(reference: &str) -> Option<&str> {
    let trimmed = reference.trim();
    let rest = trimmed.strip_prefix('(').unwrap_or(trimmed);
    let mut chars = rest.char_indices();
    let (_, letter) = chars.next()?;
    let (at, delimiter) = chars.next()?;
    (letter.is_ascii_uppercase() && ".):".contains(delimiter))
        .then(|| rest[at + 1..].trim())
        .filter(|t| !t.is_empty())
}

/// The same choice: the letters agree, or the answer is the text of the reference's option.
pub fn choice_equiv(answer: &str, reference: &str) -> bool {
    // The choice a long text makes is at its end: only the last 4 KB of each are read.
    let (answer, reference) = (tail(answer, 4096), tail(reference, 4096));
    let expected = choice_letter(reference);
    if let (Some(given), Some(expected)) = (choice_letter(answer), expected) {
        return given == expected;
    }
    match option_text(reference) {
        Some(text) => relaxed_match(answer, text),
        None => false,
    }
}

/// `<think>...</think>` then `<answer>...</answer>`, each exactly once, nothing else around them but
/// whitespace (EasyR1's r1v format: a full match of `<think>.*?</think>\s*<answer>.*?</answer>`).
/// One pass over the `<` of the text.
pub fn think_answer(text: &str) -> bool {
    const TAGS: [&str; 4] = ["<think>", "</think>", "<answer>", "</answer>"];
    let mut positions = [usize::MAX; 4];
    for at in memchr::memchr_iter(b'<', text.as_bytes()) {
        let rest = &text[at..];
        if let Some(index) = TAGS.iter().position(|tag| rest.starts_with(tag)) {
            if positions[index] != usize::MAX {
                return false;
            }
            positions[index] = at;
        }
    }
    let [think, think_end, answer, answer_end] = positions;
    if positions.contains(&usize::MAX) {
        return false;
    }
    // The order first: the slices below assume it (a sampled completion may close a tag before
    // opening it).
    think_end > think
        && answer > think_end
        && answer_end > answer
        && text[..think].trim().is_empty()
        && text[think_end + TAGS[1].len()..answer].trim().is_empty()
        && text[answer_end + TAGS[3].len()..].trim().is_empty()
}

/// How many times `<name>` opens in the text.
pub fn tag_count(text: &str, name: &str) -> usize {
    text.matches(&format!("<{name}>")).count()
}

/// Each tag opens and closes exactly once, and the tags come in this order.
pub fn tags_in_order(text: &str, tags: &[&str]) -> bool {
    let mut position = 0;
    for tag in tags {
        let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
        if text.matches(&open).count() != 1 || text.matches(&close).count() != 1 {
            return false;
        }
        match (text.find(&open), text.find(&close)) {
            (Some(o), Some(c)) if o >= position && c > o => position = c + close.len(),
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_letters_as_openmmreasoner_parses_them() {
        for (text, letter) in [
            ("B", Some('B')),
            ("(C) a cube", Some('C')),
            ("The answer is (B) square", Some('B')),
            ("I choose D.", Some('D')),
            ("1. A", Some('A')),
            ("maybe E-ish", Some('E')),
            ("no capital letters here", None),
            ("", None),
        ] {
            assert_eq!(parse_mcq(text), letter, "{text}");
        }
        // The start outranks an answer phrase, a phrase outranks parentheses.
        assert_eq!(parse_mcq("A: the answer is (C)"), Some('A'));
        assert_eq!(parse_mcq("so (A) or the answer is C"), Some('C'));
    }

    #[test]
    fn containment_within_a_length_ratio() {
        assert!(contains_match("36 cm", "36 cm", 0.9));
        assert!(contains_match("square", "squares", 0.8));
        assert!(!contains_match("36", "36 square centimetres", 0.9));
        assert!(!contains_match("the answer is 36 cm", "36 cm", 0.9));
        assert!(contains_match(" x ", "x", 0.9));
    }

    #[test]
    fn choices() {
        for (answer, reference) in [
            ("B", "B"),
            ("(B)", "B"),
            ("b.", "(B)"),
            ("The answer is C.", "C"),
            ("option D", "D. 12"),
            ("12", "D. 12"),
        ] {
            assert!(choice_equiv(answer, reference), "{answer} ~ {reference}");
        }
        for (answer, reference) in [
            ("A", "B"),
            ("The answer is A", "B"),
            ("13", "D. 12"),
            ("Because", "B"),
        ] {
            assert!(!choice_equiv(answer, reference), "{answer} !~ {reference}");
        }
    }

    #[test]
    fn text_matches() {
        assert!(relaxed_match("  Paris. ", "paris"));
        assert!(one_of(" two ", &["2", "two"]));
        assert!(!one_of("Two", &["2", "two"]));
        assert!(!exact_match("Paris", "paris"));
    }

    #[test]
    fn formats() {
        assert!(think_answer("<think>a</think>\n<answer>b</answer>"));
        assert!(!think_answer("<think>a</think><answer>b</answer> extra"));
        assert!(!think_answer(
            "<think>a</think><think>b</think><answer>c</answer>"
        ));
        assert!(!think_answer("<answer>b</answer>"));
        // Tags out of order (a sampled completion from examples/wethink): false, no panic.
        assert!(!think_answer(
            "<think>0<answer>yel<|im_start|>ig</think>dht ow</answer>"
        ));
        assert!(!think_answer("</think><think><answer>a</answer>"));
        assert!(!think_answer("<think></answer></think><answer>"));
        assert!(tags_in_order(
            "<observe>o</observe><think>t</think><answer>a</answer>",
            &["observe", "think", "answer"]
        ));
        assert!(!tags_in_order(
            "<think>t</think><observe>o</observe><answer>a</answer>",
            &["observe", "think", "answer"]
        ));
        assert_eq!(tag_count("<a><a>", "a"), 2);
    }
}
