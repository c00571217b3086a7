//! Math-Verify's `parse` with its default extraction (LaTeX and plain expressions): the same
//! patterns at the same priorities — "final answer is ... I hope" (0), "final answer ... is" and
//! `\boxed{}` (50), "answer:" (100), "answer" (200), any LaTeX environment or number (300) — each
//! priority's matches tried from the one ending last, the first that parses winning, and the text
//! of the first match tried kept as a fallback string.
//!
//! The regular expressions are matched by hand. Scans that could restart at every position (the
//! closing delimiter of an environment) go through cursors that only move forward, so each pass
//! over the text is linear.

use super::node::{Node, add_flat, mul_flat};
use super::normalize::{Boxed, normalize};
use super::parse::{number, parse_latex};

/// LaTeX longer than this is neither normalized nor parsed.
const MAX_LATEX: usize = 16_384;

/// What `parse` returns: the parsed value of the first match that parsed, and the string of the
/// first match tried.
#[derive(Debug, Default)]
pub(super) struct Extracted {
    pub value: Option<Node>,
    pub fallback: Option<String>,
}

#[derive(Clone, Copy, Debug)]
struct Group {
    start: usize,
    end: usize,
    /// Extracted with `boxed="last"` (the plain `\boxed{...}` pattern).
    last: bool,
    percent: bool,
}

#[derive(Clone, Debug)]
enum Kind {
    Latex(Vec<Group>),
    Expr(usize, usize),
    Number {
        int: (usize, usize),
        dec: Option<(usize, usize)>,
        percent: bool,
    },
}

#[derive(Clone, Debug)]
struct Candidate {
    start: usize,
    end: usize,
    kind: Kind,
}

fn is_space(c: char) -> bool {
    c.is_whitespace()
}

fn char_at(s: &str, i: usize) -> Option<char> {
    s.get(i..).and_then(|t| t.chars().next())
}

fn char_before(s: &str, i: usize) -> Option<char> {
    s[..i].chars().next_back()
}

/// The end of the run of whitespace starting at `i`.
fn skip_ws(s: &str, i: usize) -> usize {
    i + (s[i..].len() - s[i..].trim_start_matches(is_space).len())
}

/// The last position `.{0,n}` can end at after `from` (`newlines`: whether `.` matches one).
fn window_end(s: &str, from: usize, n: usize, newlines: bool) -> usize {
    let b = s.as_bytes();
    let limit = (from + n).min(b.len());
    if b[from..limit].is_ascii() {
        return if newlines {
            limit
        } else {
            memchr::memchr(b'\n', &b[from..limit]).map_or(limit, |k| from + k)
        };
    }
    let mut end = from;
    for (count, (i, c)) in s[from..].char_indices().enumerate() {
        if count == n || (!newlines && c == '\n') {
            break;
        }
        end = from + i + c.len_utf8();
    }
    end
}

/// Anchors ("answer", "final answer") beyond this many are not all tried: only the last ones,
/// which bounds the work on adversarial text (a real completion has a handful).
const MAX_ANCHORS: usize = 256;

/// Where the anchor phrases are: every "answer", any case (one pass over the text).
struct Anchors {
    answer: Vec<usize>,
}

impl Anchors {
    fn new(s: &str) -> Anchors {
        let b = s.as_bytes();
        let mut answer = Vec::new();
        let mut i = 0;
        while i + 6 <= b.len() {
            if b[i] | 0x20 == b'a' && b[i..i + 6].eq_ignore_ascii_case(b"answer") {
                answer.push(i);
                i += 6;
            } else {
                i += 1;
            }
        }
        Anchors { answer }
    }

    /// Occurrences of "answer", "final answer" or "final answer is" (any case), in order: the
    /// last `MAX_ANCHORS` of them.
    fn of(&self, s: &str, phrase: &str) -> impl Iterator<Item = usize> + use<> {
        let b = s.as_bytes();
        let (before, after) = match phrase {
            "final answer is" => ("final ", " is"),
            "final answer" => ("final ", ""),
            _ => ("", ""),
        };
        let mut found: Vec<usize> = self
            .answer
            .iter()
            .rev()
            .filter(|&&p| {
                p >= before.len()
                    && b[p - before.len()..p].eq_ignore_ascii_case(before.as_bytes())
                    && b.get(p + 6..p + 6 + after.len())
                        .is_some_and(|a| a.eq_ignore_ascii_case(after.as_bytes()))
            })
            .map(|&p| p - before.len())
            .take(MAX_ANCHORS)
            .collect();
        found.reverse();
        found.into_iter()
    }
}

/// The first occurrence of a needle at or after a position, remembered so that searches from
/// growing positions cost linear time in all.
struct Cursor<'a> {
    hay: &'a [u8],
    needle: &'static [u8],
    /// Built on first use (most texts never need most cursors).
    finder: Option<memchr::memmem::Finder<'static>>,
    from: usize,
    found: Option<usize>,
}

impl<'a> Cursor<'a> {
    fn new(hay: &'a [u8], needle: &'static [u8]) -> Self {
        Cursor {
            hay,
            needle,
            finder: None,
            from: usize::MAX,
            found: None,
        }
    }

    fn next(&mut self, from: usize) -> Option<usize> {
        if self.from <= from && self.found.is_none_or(|f| f >= from) {
            return self.found;
        }
        let found = if from >= self.hay.len() {
            None
        } else if self.needle.len() == 1 {
            memchr::memchr(self.needle[0], &self.hay[from..]).map(|p| p + from)
        } else {
            let needle = self.needle;
            let finder = self
                .finder
                .get_or_insert_with(|| memchr::memmem::Finder::new(needle));
            finder.find(&self.hay[from..]).map(|p| p + from)
        };
        self.from = from;
        self.found = found;
        found
    }
}

struct Cursors<'a> {
    display_dollar: Cursor<'a>,
    close_bracket: Cursor<'a>,
    close_paren: Cursor<'a>,
    newline: Cursor<'a>,
    dollar: Cursor<'a>,
}

impl<'a> Cursors<'a> {
    fn new(s: &'a str) -> Self {
        let b = s.as_bytes();
        Cursors {
            display_dollar: Cursor::new(b, b"$$"),
            close_bracket: Cursor::new(b, b"\\]"),
            close_paren: Cursor::new(b, b"\\)"),
            newline: Cursor::new(b, b"\n"),
            dollar: Cursor::new(b, b"$"),
        }
    }
}

/// The first position at or after a given one where a (position-independent) match succeeds,
/// remembered: anchors that search forward from growing positions share the scan.
struct NextMatch<T> {
    from: usize,
    found: Option<(usize, T)>,
}

impl<T: Clone> NextMatch<T> {
    fn new() -> Self {
        NextMatch {
            from: usize::MAX,
            found: None,
        }
    }

    /// The first success at or after `from`, at or before `limit`.
    /// `next(q)`: the next position at or after `q` worth trying (skips cheaply over the rest).
    fn get(
        &mut self,
        from: usize,
        limit: usize,
        len: usize,
        next: impl Fn(usize) -> usize,
        mut at: impl FnMut(usize) -> Option<T>,
    ) -> Option<(usize, T)> {
        let valid = self.from <= from && self.found.as_ref().is_none_or(|(p, _)| *p >= from);
        if !valid {
            self.from = from;
            self.found = None;
            let mut q = next(from);
            while q < len {
                if let Some(t) = at(q) {
                    self.found = Some((q, t));
                    break;
                }
                q = next(q + 1);
            }
        }
        self.found.clone().filter(|(p, _)| *p <= limit)
    }
}

// ---------------------------------------------------------------------------------------------
// LaTeX environments.

#[derive(Clone, Copy)]
struct Env {
    end: usize,
    content: (usize, usize),
}

/// One environment at `p` (`$$..$$`, `\[..\]`, `$..$`, `\(..\)`, ` [..] `, and in plain context
/// a bare `\frac{a}{b}` of numbers).
fn env_at(s: &str, p: usize, boxed: bool, cur: &mut Cursors) -> Option<Env> {
    let b = s.as_bytes();
    let c = *b.get(p)?;
    let not_escaped = |i: usize| i == 0 || b[i - 1] != b'\\';
    if c == b'$' && b.get(p + 1) == Some(&b'$') && not_escaped(p) && b.get(p + 2) != Some(&b'$') {
        let c0 = p + 2;
        if let Some(q) = cur.display_dollar.next(c0)
            && q > c0
            && b[q - 1] != b'\\'
        {
            return Some(Env {
                end: q + 2,
                content: (c0, q),
            });
        }
    }
    if c == b'\\' && b.get(p + 1) == Some(&b'[') && not_escaped(p) {
        let c0 = p + 2;
        if let Some(q) = cur.close_bracket.next(c0)
            && q > c0
            && b[q - 1] != b'\\'
        {
            return Some(Env {
                end: q + 2,
                content: (c0, q),
            });
        }
    }
    if c == b'$'
        && (p == 0 || (b[p - 1] != b'\\' && !b[p - 1].is_ascii_digit()))
        && b.get(p + 1) != Some(&b'$')
    {
        let c0 = p + 1;
        let newline = cur.newline.next(c0).unwrap_or(b.len());
        let mut i = c0;
        while let Some(q) = cur.dollar.next(i) {
            if q > newline {
                break;
            }
            if q == c0 {
                break;
            }
            if b[q - 1] == b'\\' {
                i = q + 1;
                continue;
            }
            return Some(Env {
                end: q + 1,
                content: (c0, q),
            });
        }
    }
    if c == b'\\' && b.get(p + 1) == Some(&b'(') && not_escaped(p) {
        let c0 = p + 2;
        if let Some(q) = cur.close_paren.next(c0)
            && q > c0
            && b[q - 1] != b'\\'
            && cur.newline.next(c0).is_none_or(|n| n > q)
        {
            return Some(Env {
                end: q + 2,
                content: (c0, q),
            });
        }
    }
    if let Some(ch) = char_at(s, p)
        && is_space(ch)
        && b.get(p + ch.len_utf8()) == Some(&b'[')
    {
        let c0 = p + ch.len_utf8() + 1;
        if let Some(q) = memchr::memchr3(b']', b'[', b'\n', &b[c0..]).map(|q| q + c0)
            && b[q] == b']'
            && q > c0
            && char_at(s, q + 1).is_some_and(is_space)
        {
            return Some(Env {
                end: q + 1 + char_at(s, q + 1).map_or(1, char::len_utf8),
                content: (c0, q),
            });
        }
    }
    if !boxed && (c == b'-' || c == b'\\') {
        let mut i = p;
        if c == b'-' {
            i += 1;
        }
        if s[i..].starts_with("\\frac{") {
            let mut j = i + 6;
            j = simple_number(b, j)?;
            if s[j..].starts_with("}{") {
                j = simple_number(b, j + 2)?;
                if b.get(j) == Some(&b'}') {
                    return Some(Env {
                        end: j + 1,
                        content: (p, j + 1),
                    });
                }
            }
        }
    }
    None
}

/// `-?\d+(?:[.,]\d+)?` at `i`: its end.
fn simple_number(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    let digits = b[i.min(b.len())..]
        .iter()
        .take_while(|d| d.is_ascii_digit())
        .count();
    if digits == 0 {
        return None;
    }
    i += digits;
    if matches!(b.get(i), Some(b'.' | b',')) {
        let more = b[i + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
        if more > 0 {
            i += 1 + more;
        }
    }
    Some(i)
}

/// The content of a boxed-context environment must hold `\boxed{` + something + `}`.
fn holds_boxed(s: &str, content: (usize, usize)) -> bool {
    let text = &s[content.0..content.1];
    if memchr::memchr(b'\\', text.as_bytes()).is_none() {
        return false;
    }
    match text.find("\\boxed{") {
        Some(at) => text[at + 7..].chars().skip(1).any(|c| c == '}'),
        None => false,
    }
}

/// `\s*` then an optional percent sign or word: (end, whether a percent followed).
fn percent_after(s: &str, end: usize) -> (usize, bool) {
    let w = skip_ws(s, end);
    let t = &s[w..];
    for (word, len) in [
        ("\\%", 2),
        ("%", 1),
        ("Percent", 7),
        ("percent", 7),
        ("Pct", 3),
        ("pct", 3),
    ] {
        if t.starts_with(word) {
            return (w + len, true);
        }
    }
    (w, false)
}

/// An environment at `p`, or at the whitespace just before it when `p` follows whitespace (the
/// ` [..] ` form starts with its space: `\s*` before it gives one back).
fn env_after_ws(s: &str, start: usize, boxed: bool, cur: &mut Cursors) -> Option<(usize, Env)> {
    let p = skip_ws(s, start);
    if let Some(env) = env_at(s, p, boxed, cur)
        && (!boxed || holds_boxed(s, env.content))
    {
        return Some((p, env));
    }
    if p > start {
        let q = p - char_before(s, p).map_or(1, char::len_utf8);
        if let Some(env) = env_at(s, q, boxed, cur)
            && (!boxed || holds_boxed(s, env.content))
        {
            return Some((q, env));
        }
    }
    None
}

/// `latex_envs_re` at `p`: an environment with its percent, then up to five more joined by
/// "and", "or" or commas. Returns the end and the groups.
fn latex_envs_at(s: &str, p: usize, boxed: bool, cur: &mut Cursors) -> Option<(usize, Vec<Group>)> {
    let env = env_at(s, p, boxed, cur)?;
    if boxed && !holds_boxed(s, env.content) {
        return None;
    }
    let (mut end, percent) = percent_after(s, env.end);
    let mut groups = vec![Group {
        start: env.content.0,
        end: env.content.1,
        last: false,
        percent,
    }];
    for _ in 0..5 {
        let w = skip_ws(s, end);
        let t = &s[w..];
        let sep = [",and", ",or", "and", "or", ","]
            .iter()
            .find(|x| t.starts_with(**x))
            .map(|x| x.len());
        let Some(sep) = sep else {
            break;
        };
        let Some((_, next)) = env_after_ws(s, w + sep, boxed, cur) else {
            break;
        };
        let (e, percent) = percent_after(s, next.end);
        groups.push(Group {
            start: next.content.0,
            end: next.content.1,
            last: false,
            percent,
        });
        end = e;
    }
    Some((end, groups))
}

/// The end of `\.?\s?I hope` at `at` (after `\s*` too when `skip_spaces`, as after LaTeX
/// environments, whose trailing `\s*` can give spaces back).
fn i_hope(s: &str, at: usize, skip_spaces: bool) -> Option<usize> {
    let mut t = &s[at..];
    if skip_spaces {
        t = t.trim_start_matches(is_space);
    }
    t = t.strip_prefix('.').unwrap_or(t);
    if let Some(c) = t.chars().next()
        && is_space(c)
    {
        t = &t[c.len_utf8()..];
    }
    t.starts_with("I hope").then(|| s.len() - t.len() + 6)
}

/// `latex_envs_re` after `\s*`: at the end of the spaces, or at the last space (` [..] `).
fn latex_envs_after_ws(s: &str, start: usize, cur: &mut Cursors) -> Option<(usize, Vec<Group>)> {
    let p = skip_ws(s, start);
    if let Some(found) = latex_envs_at(s, p, false, cur) {
        return Some(found);
    }
    if p > start {
        return latex_envs_at(
            s,
            p - char_before(s, p).map_or(1, char::len_utf8),
            false,
            cur,
        );
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Plain numbers and expressions.

struct NumMatch {
    end: usize,
    int: (usize, usize),
    dec: Option<(usize, usize)>,
    percent: bool,
}

fn digits(b: &[u8], i: usize) -> usize {
    b[i.min(b.len())..]
        .iter()
        .take_while(|d| d.is_ascii_digit())
        .count()
}

/// The number regex at `p`, with its optional percent.
fn number_at(s: &str, p: usize) -> Option<NumMatch> {
    let b = s.as_bytes();
    if p > 0 && b[p - 1].is_ascii_digit() {
        return None;
    }
    let neg = usize::from(b.get(p) == Some(&b'-'));
    let i = p + neg;
    let mut found: Option<(usize, usize, Option<Span>)> = None;
    // 1: -?[1-9]\d{0,2}(?:[ ,]\d{3})+ (\.\d+)?
    if b.get(i).is_some_and(|c| (b'1'..=b'9').contains(c)) {
        let more = digits(b, i + 1).min(2);
        for d in (0..=more).rev() {
            let mut j = i + 1 + d;
            let mut groups = 0;
            while matches!(b.get(j), Some(b' ' | b',')) && digits(b, j + 1) >= 3 {
                j += 4;
                groups += 1;
            }
            if groups > 0 {
                let dec = (b.get(j) == Some(&b'.') && digits(b, j + 1) > 0)
                    .then(|| (j, j + 1 + digits(b, j + 1)));
                found = Some((p, j, dec));
                break;
            }
        }
    }
    // 2: -?\d+[.,]\d+
    if found.is_none() {
        let n = digits(b, i);
        if n > 0 && matches!(b.get(i + n), Some(b'.' | b',')) && digits(b, i + n + 1) > 0 {
            let j = i + n;
            found = Some((p, j, Some((j, j + 1 + digits(b, j + 1)))));
        }
    }
    // 3: \.\d+
    if found.is_none() && b.get(p) == Some(&b'.') && digits(b, p + 1) > 0 {
        found = Some((p, p, Some((p, p + 1 + digits(b, p + 1)))));
    }
    // 4: -?\d+
    if found.is_none() {
        let n = digits(b, i);
        if n > 0 {
            found = Some((p, i + n, None));
        }
    }
    let (int_start, int_end, dec) = found?;
    let end = dec.map_or(int_end, |d| d.1);
    // (?P<percent>\s*(?:%|[Pp]ercent|\s*[Pp]ercentage|\s*[Pp]ct))?
    let w = skip_ws(s, end);
    let t = &s[w..];
    let pct_len = if t.starts_with('%') {
        Some(1)
    } else if t.starts_with("percent") || t.starts_with("Percent") {
        Some(7)
    } else if t.starts_with("pct") || t.starts_with("Pct") {
        Some(3)
    } else {
        None
    };
    Some(NumMatch {
        end: pct_len.map_or(end, |l| w + l),
        int: (int_start, int_end),
        dec,
        percent: pct_len.is_some(),
    })
}

const CURRENCIES: &str = "$€£¥₹₽₪₩₫฿₡₢₣₤₥₦₧₨₩₪₫₭₮₯₰₱₲₳₴₵₶₷₸₹₺₻₼₽₾₿";

fn is_expr_char(c: char) -> bool {
    c.is_ascii_digit() || c == '.' || is_space(c) || is_op(c)
}

fn is_op(c: char) -> bool {
    matches!(c, '+' | '-' | '*' | '×' | '/' | '^' | '(' | ')' | '÷')
}

/// `(?:\*\*)?(?:\.|,|:|\s|\)|\$|$)` at `i`: its length.
fn expr_suffix(s: &str, i: usize) -> Option<usize> {
    let class = |j: usize| -> Option<usize> {
        match char_at(s, j) {
            None => Some(0),
            Some(c) if matches!(c, '.' | ',' | ':' | ')' | '$') || is_space(c) => {
                Some(c.len_utf8())
            }
            _ => None,
        }
    };
    if s[i..].starts_with("**")
        && let Some(l) = class(i + 2)
    {
        return Some(2 + l);
    }
    class(i)
}

/// A byte range.
type Span = (usize, usize);

/// A run of expression characters: (first position scanned, run end, the last valid end as
/// (expression end, match end, end of the `C+` part), the last operator before it).
type Run = (usize, usize, Option<(usize, usize, usize)>, Option<usize>);

/// Per-run facts for the expression pattern, reused by every start in the same run.
#[derive(Default)]
struct RunCache {
    /// (first position scanned, run end, last valid end, last operator before it)
    run: Option<Run>,
}

struct ExprMatch {
    end: usize,
    expr: (usize, usize),
}

/// The expression pattern's body at `body` (after its prefix): `-?\(?-?\d C* O C+ \)?` and the
/// suffix.
fn expr_body_at(s: &str, body: usize, cache: &mut RunCache) -> Option<ExprMatch> {
    let b = s.as_bytes();
    let mut i = body;
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    if b.get(i) == Some(&b'(') {
        i += 1;
    }
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let h = i + 1;
    let fresh = match cache.run {
        Some((from, run_end, ..)) => !(from <= h && h <= run_end),
        None => true,
    };
    if fresh {
        let mut run_end = h;
        for (k, c) in s[h..].char_indices() {
            if !is_expr_char(c) {
                run_end = h + k;
                break;
            }
            run_end = h + k + c.len_utf8();
        }
        // The last end (scanning back) where the suffix holds: (end of expr, match end, e).
        let mut best: Option<(usize, usize, usize)> = None;
        let mut e = run_end;
        loop {
            if e < h {
                break;
            }
            if s.is_char_boundary(e) {
                let close = b.get(e) == Some(&b')');
                let with_paren = if close {
                    expr_suffix(s, e + 1).map(|l| (e + 1, e + 1 + l))
                } else {
                    None
                };
                if let Some((expr_end, end)) =
                    with_paren.or_else(|| expr_suffix(s, e).map(|l| (e, e + l)))
                {
                    best = Some((expr_end, end, e));
                    break;
                }
            }
            if e == 0 {
                break;
            }
            e -= 1;
        }
        // The last operator with at least one character after it before `e`.
        let last_op = best.and_then(|(_, _, e)| {
            s[h..e]
                .char_indices()
                .filter(|(k, c)| is_op(*c) && h + k + c.len_utf8() < e)
                .map(|(k, _)| h + k)
                .next_back()
        });
        cache.run = Some((h, run_end, best, last_op));
    }
    let (_, _, best, last_op) = cache.run?;
    let (expr_end, end, _) = best?;
    let op = last_op?;
    // Operators may sit in the head's own run before `h` (the `(` of the head).
    if op < h.saturating_sub(1) {
        return None;
    }
    Some(ExprMatch {
        end,
        expr: (body, expr_end),
    })
}

/// `(?:^|\s|=)(?:\*\*)?` at `p`: the positions the body can start at (at most two).
fn prefix_bodies(s: &str, p: usize) -> [Option<usize>; 2] {
    let stars = |q: usize| if s[q..].starts_with("**") { q + 2 } else { q };
    let first = (p == 0).then(|| stars(0));
    let second = char_at(s, p)
        .filter(|c| *c == '=' || is_space(*c))
        .map(|c| stars(p + c.len_utf8()));
    [first, second]
}

fn expr_with_anchors(s: &str, p: usize, cache: &mut RunCache) -> Option<Candidate> {
    for body in prefix_bodies(s, p).into_iter().flatten() {
        if let Some(m) = expr_body_at(s, body, cache) {
            return Some(Candidate {
                start: p,
                end: m.end,
                kind: Kind::Expr(m.expr.0, m.expr.1),
            });
        }
    }
    None
}

fn number_with_anchors(s: &str, p: usize) -> Option<Candidate> {
    for body in prefix_bodies(s, p).into_iter().flatten() {
        let mut q = body;
        if let Some(c) = char_at(s, q)
            && (c == '$' || (!c.is_ascii() && CURRENCIES.contains(c)))
        {
            q += c.len_utf8();
        }
        if let Some(m) = number_at(s, q) {
            return Some(Candidate {
                start: p,
                end: m.end,
                kind: Kind::Number {
                    int: m.int,
                    dec: m.dec,
                    percent: m.percent,
                },
            });
        }
    }
    None
}

/// A table of the bytes a pattern can start at (or just before: `[` for ` [..] `).
const fn byte_table(bytes: &[u8], high: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        table[bytes[i] as usize] = true;
        i += 1;
    }
    if high {
        // Lead bytes of non-ASCII characters (Unicode spaces).
        let mut b = 0xC0;
        while b < 256 {
            table[b] = true;
            b += 1;
        }
    }
    table
}

/// Where an environment can start: `$`, `\`, `-` (`-\frac`), or the space before `[`.
const ENV_BYTES: [bool; 256] = byte_table(b"$\\-[", false);
/// Where an expression or number prefix can be: whitespace or `=`.
const PREFIX_BYTES: [bool; 256] = byte_table(b"= \t\n\r\x0b\x0c", true);

/// The first position at or after `p` whose byte is in `table`.
fn skip_to(b: &[u8], mut p: usize, table: &[bool; 256]) -> usize {
    while p < b.len() && !table[b[p] as usize] {
        p += 1;
    }
    p
}

/// The first character boundary at or after `p`.
fn next_char_start(s: &str, mut p: usize) -> usize {
    while p < s.len() && !s.is_char_boundary(p) {
        p += 1;
    }
    p
}

/// The next position at or after `p` where an environment can start: a `$`, `\`, `-` byte, or
/// the whitespace character before a `[`.
fn next_env_start(s: &str, p: usize) -> usize {
    let b = s.as_bytes();
    let mut k = p;
    loop {
        k = skip_to(b, k, &ENV_BYTES);
        if k >= b.len() || b[k] != b'[' {
            return k;
        }
        if let Some(c) = char_before(s, k)
            && is_space(c)
            && k - c.len_utf8() >= p
        {
            return k - c.len_utf8();
        }
        k += 1;
    }
}

/// Whether a prefix `(?:^|\s|=)` can start at `p` (cheap test before matching).
fn may_prefix(s: &str, p: usize) -> bool {
    match s.as_bytes().get(p) {
        Some(b'=') => true,
        Some(c) if c.is_ascii() => c.is_ascii_whitespace() || *c == 0x0b,
        Some(_) => char_at(s, p).is_some_and(is_space),
        None => false,
    }
}

/// Whether an environment can start at `p` (cheap test before matching).
fn may_env(s: &str, p: usize) -> bool {
    let b = s.as_bytes();
    match b.get(p) {
        Some(b'$' | b'\\') => true,
        Some(b'-') => b.get(p + 1) == Some(&b'\\'),
        Some(c) if c.is_ascii() => b.get(p + 1) == Some(&b'['),
        Some(_) => {
            char_at(s, p).is_some_and(|c| is_space(c) && b.get(p + c.len_utf8()) == Some(&b'['))
        }
        None => false,
    }
}

fn expr_or_number(s: &str, p: usize, cache: &mut RunCache) -> [Option<Candidate>; 2] {
    // A body starts with a digit, `-`, `(`, `.`, `**` or a currency sign.
    let body_start = |q: usize| match s.as_bytes().get(q) {
        Some(c) if c.is_ascii() => {
            c.is_ascii_digit() || matches!(c, b'-' | b'(' | b'.' | b'*' | b'$')
        }
        Some(_) => true,
        None => false,
    };
    let after = char_at(s, p).map_or(p, |c| p + c.len_utf8());
    if !(body_start(after) || (p == 0 && body_start(0))) {
        return [None, None];
    }
    [expr_with_anchors(s, p, cache), number_with_anchors(s, p)]
}

/// `(?!\s*=)`
fn not_followed_by_equals(s: &str, end: usize) -> bool {
    !s[skip_ws(s, end)..].starts_with('=')
}

// ---------------------------------------------------------------------------------------------
// Collecting the matches of each priority.

fn collect(s: &str, priority: u32, out: &mut Vec<Candidate>, cur: &mut Cursors, anchors: &Anchors) {
    let mut cache = RunCache::default();
    match priority {
        0 => {
            // LaTeX: final answer is:? \s* envs \.?\s?I hope
            let mut from = 0;
            for at in anchors.of(s, "final answer is") {
                if at < from {
                    continue;
                }
                let mut i = at + 15;
                if s[i..].starts_with(':') {
                    i += 1;
                }
                if let Some((end, groups)) = latex_envs_after_ws(s, i, cur)
                    && let Some(hope) = i_hope(s, end, true)
                {
                    out.push(Candidate {
                        start: at,
                        end: hope,
                        kind: Kind::Latex(groups),
                    });
                    from = hope;
                }
            }
            // Expressions: final answer is:? \s* expr_or_number \.?\s?I hope
            let mut from = 0;
            for at in anchors.of(s, "final answer is") {
                if at < from {
                    continue;
                }
                let mut i = at + 15;
                if s[i..].starts_with(':') {
                    i += 1;
                }
                let w = skip_ws(s, i);
                let starts = [
                    (char_at(s, w) == Some('=')).then_some(w),
                    (w > i).then(|| w - char_before(s, w).map_or(1, char::len_utf8)),
                ];
                'starts: for p in starts.into_iter().flatten() {
                    for c in expr_or_number(s, p, &mut cache).into_iter().flatten() {
                        if let Some(hope) = i_hope(s, c.end, false) {
                            from = hope;
                            out.push(Candidate {
                                start: at,
                                end: hope,
                                kind: c.kind,
                            });
                            break 'starts;
                        }
                    }
                }
            }
        }
        50 => {
            // LaTeX: final answer.{0,100}?\s+is:?\s* envs
            let mut from = 0;
            for at in anchors.of(s, "final answer") {
                if at < from {
                    continue;
                }
                if let Some(end_groups) =
                    final_answer_is(s, at + 12, true, |q| latex_envs_after_ws(s, q, cur))
                {
                    from = end_groups.0;
                    out.push(Candidate {
                        start: at,
                        end: end_groups.0,
                        kind: Kind::Latex(end_groups.1),
                    });
                }
            }
            // Environments holding a \boxed{}.
            let b = s.as_bytes();
            let boxed = memchr::memmem::find(b, b"\\boxed{").is_some();
            let mut p = 0;
            while boxed && p < b.len() {
                p = next_env_start(s, p);
                if p < b.len()
                    && (matches!(b[p], b'$' | b'\\') || b.get(p + 1) == Some(&b'['))
                    && let Some((end, groups)) = latex_envs_at(s, p, true, cur)
                {
                    out.push(Candidate {
                        start: p,
                        end,
                        kind: Kind::Latex(groups),
                    });
                    p = end.max(p + 1);
                    continue;
                }
                p += 1;
            }
            // \boxed{.+} (greedy, to the last closing brace).
            if let Some(first) = memchr::memmem::find(b, b"\\boxed{")
                && let Some(last) = memchr::memrchr(b'}', b)
                && last > first + 7
            {
                out.push(Candidate {
                    start: first,
                    end: last + 1,
                    kind: Kind::Latex(vec![Group {
                        start: first,
                        end: last + 1,
                        last: true,
                        percent: false,
                    }]),
                });
            }
            // Expressions: final answer.{0,100}?\s+is:?expr_or_number
            let mut from = 0;
            for at in anchors.of(s, "final answer") {
                if at < from {
                    continue;
                }
                let found = final_answer_is(s, at + 12, false, |q| {
                    // No \s* here: the expression's own prefix is the character right after "is".
                    expr_or_number(s, q, &mut cache)
                        .into_iter()
                        .flatten()
                        .next()
                        .map(|c| (c.end, c.kind))
                });
                if let Some((end, kind)) = found {
                    from = end;
                    out.push(Candidate {
                        start: at,
                        end,
                        kind,
                    });
                }
            }
        }
        100 | 200 => {
            let colon = priority == 100;
            let mut envs = NextMatch::new();
            let mut from = 0;
            for at in anchors.of(s, "answer") {
                if at < from {
                    continue;
                }
                let Some(i) = after_answer(s, at, colon) else {
                    continue;
                };
                let limit = window_end(s, i, 50, true);
                let found = envs.get(
                    i,
                    limit,
                    s.len(),
                    |q| next_env_start(s, q),
                    |q| {
                        if may_env(s, q) {
                            latex_envs_at(s, q, false, cur)
                        } else {
                            None
                        }
                    },
                );
                if let Some((_, (end, groups))) = found {
                    from = end;
                    out.push(Candidate {
                        start: at,
                        end,
                        kind: Kind::Latex(groups),
                    });
                }
            }
            let mut exprs = NextMatch::new();
            let mut from = 0;
            for at in anchors.of(s, "answer") {
                if at < from {
                    continue;
                }
                let Some(i) = after_answer(s, at, colon) else {
                    continue;
                };
                if let Some(c) = answer_expr(s, i, &mut cache, &mut exprs) {
                    from = c.end;
                    out.push(Candidate {
                        start: at,
                        end: c.end,
                        kind: c.kind,
                    });
                }
            }
        }
        _ => {
            let b = s.as_bytes();
            let mut p = 0;
            while p < b.len() {
                p = next_env_start(s, p);
                if p < b.len()
                    && may_env(s, p)
                    && let Some((end, groups)) = latex_envs_at(s, p, false, cur)
                {
                    out.push(Candidate {
                        start: p,
                        end,
                        kind: Kind::Latex(groups),
                    });
                    p = end.max(p + 1);
                    continue;
                }
                p += 1;
            }
            // Both patterns need a digit.
            if !b.iter().any(u8::is_ascii_digit) {
                return;
            }
            let mut p = 0;
            while p < b.len() {
                if p > 0 {
                    p = skip_to(b, p, &PREFIX_BYTES);
                }
                if p < b.len()
                    && (p == 0 || may_prefix(s, p))
                    && let Some(c) = expr_with_anchors(s, p, &mut cache)
                {
                    p = c.end.max(p + 1);
                    out.push(c);
                    continue;
                }
                p += char_at(s, p).map_or(1, char::len_utf8);
            }
            // Numbers always parse: only the one ending last can be tried.
            let mut last = None;
            let mut p = 0;
            while p < b.len() {
                if p > 0 {
                    p = skip_to(b, p, &PREFIX_BYTES);
                }
                if p < b.len()
                    && (p == 0 || may_prefix(s, p))
                    && let Some(c) = number_with_anchors(s, p)
                {
                    p = c.end.max(p + 1);
                    last = Some(c);
                    continue;
                }
                p += char_at(s, p).map_or(1, char::len_utf8);
            }
            out.extend(last);
        }
    }
}

/// After `final answer`: `.{0,100}?\s+is\:?` then `rest` (`\s*` envs, or an expression right
/// after). The first `rest` that matches, trying the nearest "is" first.
fn final_answer_is<T>(
    s: &str,
    from: usize,
    latex: bool,
    mut rest: impl FnMut(usize) -> Option<(usize, T)>,
) -> Option<(usize, T)> {
    let end = window_end(s, from, 100, latex);
    // `\s+` starts within the window and may run past it; "is" follows it.
    let limit = skip_ws(s, end).saturating_add(2).min(s.len());
    let b = s.as_bytes();
    for k in memchr::memchr_iter(b'i', &b[from..limit]) {
        let w = from + k;
        if b.get(w + 1) != Some(&b's') {
            continue;
        }
        let run = s[from..w].trim_end_matches(is_space).len() + from;
        if run == w || run > end {
            continue;
        }
        let mut i = w + 2;
        if s[i..].starts_with(':') {
            i += 1;
        }
        if let Some(found) = rest(i) {
            return Some(found);
        }
    }
    None
}

/// `(?:.{0,100}=\s*|.{0,50}?){expr_or_number}(?!\s*=)` after "answer" (and its colon).
fn answer_expr(
    s: &str,
    from: usize,
    cache: &mut RunCache,
    lazy: &mut NextMatch<Candidate>,
) -> Option<Candidate> {
    let b = s.as_bytes();
    // Greedy: the last `=` within 100 characters first.
    let end = window_end(s, from, 100, false);
    let mut upto = (end + 1).min(b.len());
    while let Some(k) = memchr::memrchr(b'=', &b[from..upto]) {
        let q = from + k;
        upto = q;
        let w = skip_ws(s, q + 1);
        let starts = [
            (char_at(s, w) == Some('=')).then_some(w),
            (w > q + 1).then(|| w - char_before(s, w).map_or(1, char::len_utf8)),
        ];
        for p in starts.into_iter().flatten() {
            for c in expr_or_number(s, p, cache).into_iter().flatten() {
                if not_followed_by_equals(s, c.end) {
                    return Some(c);
                }
            }
        }
    }
    // Lazy: the nearest position within 50 characters.
    let limit = window_end(s, from, 50, false);
    lazy.get(
        from,
        limit,
        s.len(),
        |q| next_char_start(s, skip_to(s.as_bytes(), q, &PREFIX_BYTES)),
        |q| {
            if !may_prefix(s, q) {
                return None;
            }
            expr_or_number(s, q, cache)
                .into_iter()
                .flatten()
                .find(|c| not_followed_by_equals(s, c.end))
        },
    )
    .map(|(_, c)| c)
}

// ---------------------------------------------------------------------------------------------
// Extraction.

fn extract_candidate(s: &str, kind: &Kind) -> (Option<Node>, String) {
    match kind {
        Kind::Latex(groups) => {
            let mut values = Vec::with_capacity(groups.len());
            let mut strings = Vec::with_capacity(groups.len());
            for g in groups {
                let text = &s[g.start..g.end];
                if text.len() > MAX_LATEX {
                    // Far too long to be an answer: not normalized, not parsed.
                    values.push(None);
                    strings.push(text.trim().to_string());
                    continue;
                }
                let normalized = normalize(text, if g.last { Boxed::Last } else { Boxed::All });
                let value = parse_normalized(&normalized)
                    .and_then(|v| if g.percent { percent_of(v) } else { Some(v) });
                values.push(value);
                strings.push(normalized);
            }
            if values.len() > 1 && values.iter().all(Option::is_some) {
                let mut elements = Vec::new();
                for v in values.into_iter().flatten() {
                    match v {
                        Node::Set(items) => elements.extend(items),
                        other => elements.push(other),
                    }
                }
                return (Some(Node::Set(elements)), strings.join(" and "));
            }
            let first = values.into_iter().next().flatten();
            (first, strings.into_iter().next().unwrap_or_default())
        }
        Kind::Expr(a, b) => {
            let text = &s[*a..*b];
            (py_expr(text), text.to_string())
        }
        Kind::Number { int, dec, percent } => {
            let int_text: String = s[int.0..int.1]
                .chars()
                .filter(|c| *c != ',' && *c != ' ')
                .collect();
            let int_text = int_text.trim_start_matches('0');
            let int_text = if int_text.is_empty() { "0" } else { int_text };
            let dec_text = dec.map_or(String::new(), |d| s[d.0..d.1].replace(',', "."));
            let text = format!("{int_text}{dec_text}");
            let value = number(&text).map(|n| if *percent { Node::Pct(Box::new(n)) } else { n });
            (value, text)
        }
    }
}

/// `convert_to_pct`: only numbers and expressions can be percentages.
fn percent_of(v: Node) -> Option<Node> {
    if v.is_set()
        || v.is_relation()
        || matches!(v, Node::Tuple(_) | Node::Matrix(..) | Node::And(_))
    {
        return None;
    }
    Some(Node::Pct(Box::new(v)))
}

/// `parse_latex_cached`: the whole string, else (when it fails) the part after the last `=` of a
/// chain of three or more parts without commas.
pub(super) fn parse_normalized(latex: &str) -> Option<Node> {
    if let Some(v) = parse_latex(latex) {
        return Some(v);
    }
    let last = last_equation(latex)?;
    parse_latex(last)
}

fn last_equation(latex: &str) -> Option<&str> {
    if latex.contains([',', ';']) {
        return None;
    }
    let b = latex.as_bytes();
    let mut parts = 1;
    let mut last = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'=' && (i == 0 || !matches!(b[i - 1], b'\\' | b'<' | b'!' | b'>')) {
            parts += 1;
            last = i + 1;
        }
    }
    (parts > 2).then(|| &latex[last..])
}

/// Whether the whole text is one number as the number pattern reads it (`1 000`, `0,5`, `-3`,
/// `28 %`, `$5`).
pub(super) fn whole_number(t: &str) -> bool {
    let mut q = 0;
    if let Some(c) = t.chars().next()
        && CURRENCIES.contains(c)
    {
        q = c.len_utf8();
    }
    number_at(t, q).is_some_and(|m| m.end == t.len())
}

/// Runs Math-Verify's `parse` on `s`.
pub(super) fn extract(s: &str) -> Extracted {
    let mut fallback: Option<String> = None;
    let mut candidates = Vec::new();
    let mut cur = Cursors::new(s);
    let anchors = Anchors::new(s);
    for priority in [0, 50, 100, 200] {
        if let Some(value) = try_priority(
            s,
            priority,
            &mut candidates,
            &mut cur,
            &anchors,
            &mut fallback,
        ) {
            return Extracted {
                value: Some(value),
                fallback,
            };
        }
    }
    // The lowest priority (any environment, expression or number, the last one winning) looks at
    // the end of long texts only.
    let tail = &s[tail_start(s)..];
    let mut cur = Cursors::new(tail);
    let no_anchors = Anchors { answer: Vec::new() };
    let value = try_priority(
        tail,
        300,
        &mut candidates,
        &mut cur,
        &no_anchors,
        &mut fallback,
    );
    Extracted { value, fallback }
}

/// The matches of one priority, from the one ending last: the first that parses.
fn try_priority(
    s: &str,
    priority: u32,
    candidates: &mut Vec<Candidate>,
    cur: &mut Cursors,
    anchors: &Anchors,
    fallback: &mut Option<String>,
) -> Option<Node> {
    candidates.clear();
    collect(s, priority, candidates, cur, anchors);
    // Rightmost end first, then leftmost start; stable otherwise.
    candidates.sort_by(|a, b| b.end.cmp(&a.end).then(a.start.cmp(&b.start)));
    for c in candidates.iter() {
        let (value, text) = extract_candidate(s, &c.kind);
        if fallback.is_none() && !text.is_empty() {
            *fallback = Some(text);
        }
        if value.is_some() {
            return value;
        }
    }
    None
}

/// Texts longer than this are searched by the lowest-priority patterns in their end only.
const TAIL: usize = 65_536;

/// Where the searched end of a long text starts: the start of a line in its last `TAIL` bytes
/// (environments and numbers do not run across lines there), else a character boundary.
fn tail_start(s: &str) -> usize {
    if s.len() <= TAIL {
        return 0;
    }
    let from = s.len() - TAIL;
    match memchr::memchr(b'\n', &s.as_bytes()[from..]) {
        Some(k) => from + k + 1,
        None => (from..s.len())
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(s.len()),
    }
}

// ---------------------------------------------------------------------------------------------
// SymPy's parse_expr for the plain expressions the expression pattern captures.

/// Python arithmetic (`2/3.`, `(1/2)*(4/3)`, `2**-1`) as SymPy's `parse_expr(..., evaluate=False)`
/// reads it; `None` for anything Python would reject.
fn py_expr(text: &str) -> Option<Node> {
    if text.len() > 4_000 {
        return None;
    }
    let text = text.replace('\n', " ").replace('^', "**");
    let mut toks = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b' ' || c == b'\t' || c == b'\r' {
            i += 1;
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let mut float = false;
            if i < b.len() && b[i] == b'.' {
                float = true;
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            let lit = &text[start..i];
            if !float && lit.len() > 1 && lit.starts_with('0') && lit.bytes().any(|d| d != b'0') {
                return None;
            }
            toks.push(Py::Num(lit.to_string()));
        } else if text[i..].starts_with("**") {
            toks.push(Py::Pow);
            i += 2;
        } else {
            toks.push(match c {
                b'+' => Py::Op(b'+'),
                b'-' => Py::Op(b'-'),
                b'*' => Py::Op(b'*'),
                b'/' => Py::Op(b'/'),
                b'(' => Py::Open,
                b')' => Py::Close,
                _ => return None,
            });
            i += 1;
        }
    }
    let mut p = PyParser {
        toks,
        at: 0,
        depth: 0,
    };
    let node = p.sum()?;
    (p.at == p.toks.len()).then_some(node)
}

#[derive(Clone, PartialEq, Debug)]
enum Py {
    Num(String),
    Op(u8),
    Pow,
    Open,
    Close,
}

struct PyParser {
    toks: Vec<Py>,
    at: usize,
    depth: usize,
}

impl PyParser {
    fn peek(&self) -> Option<&Py> {
        self.toks.get(self.at)
    }

    fn deeper(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= super::node::MAX_DEPTH).then_some(())
    }

    fn sum(&mut self) -> Option<Node> {
        self.deeper()?;
        let mut node = self.term()?;
        while let Some(Py::Op(op @ (b'+' | b'-'))) = self.peek().cloned() {
            self.at += 1;
            let rhs = self.term()?;
            node = add_flat(
                node,
                if op == b'-' {
                    Node::Mul(vec![Node::Int(-1), rhs])
                } else {
                    rhs
                },
            );
        }
        self.depth -= 1;
        Some(node)
    }

    fn term(&mut self) -> Option<Node> {
        let mut node = self.factor()?;
        while let Some(Py::Op(op @ (b'*' | b'/'))) = self.peek().cloned() {
            self.at += 1;
            let rhs = self.factor()?;
            // Flattened, so that long products do not nest.
            node = mul_flat(
                node,
                if op == b'/' {
                    Node::Pow(Box::new(rhs), Box::new(Node::Int(-1)))
                } else {
                    rhs
                },
            );
        }
        Some(node)
    }

    fn factor(&mut self) -> Option<Node> {
        self.deeper()?;
        let node = match self.peek()? {
            Py::Op(b'-') => {
                self.at += 1;
                self.factor()?.negate()
            }
            Py::Op(b'+') => {
                self.at += 1;
                self.factor()?
            }
            _ => self.power()?,
        };
        self.depth -= 1;
        Some(node)
    }

    fn power(&mut self) -> Option<Node> {
        let base = self.atom()?;
        if self.peek() == Some(&Py::Pow) {
            self.at += 1;
            let exponent = self.factor()?;
            return Some(Node::Pow(Box::new(base), Box::new(exponent)));
        }
        Some(base)
    }

    fn atom(&mut self) -> Option<Node> {
        match self.peek()?.clone() {
            Py::Num(text) => {
                self.at += 1;
                if text.contains('.') {
                    Some(Node::Float(text.parse().ok()?))
                } else {
                    number(&text)
                }
            }
            Py::Open => {
                self.at += 1;
                let inner = self.sum()?;
                (self.peek() == Some(&Py::Close)).then_some(())?;
                self.at += 1;
                Some(inner)
            }
            _ => None,
        }
    }
}

/// Where the text after the anchor `answer` at `at` starts (after a `:` when `colon`; `None` when
/// the colon is wanted and missing).
fn after_answer(s: &str, at: usize, colon: bool) -> Option<usize> {
    let i = at + "answer".len();
    if !colon {
        return Some(i);
    }
    s[i..].starts_with(':').then_some(i + 1)
}
