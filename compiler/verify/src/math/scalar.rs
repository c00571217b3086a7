//! The simple number reader behind `parse_number` and `numeric_close`: integers, decimals,
//! thousands separators, fractions, mixed numbers, percentages, scientific notation, `\sqrt` and
//! `\pi`, with units and LaTeX spacing stripped. Linear cleaning, a depth-bounded parser.

/// Deeper nesting than this is not parsed.
const MAX_DEPTH: usize = 64;
/// Longer answers are not parsed.
const MAX_PARSE_LEN: usize = 2_000;

/// The content of a `\boxed{...}` when the answer is written boxed.
fn unbox(s: &str) -> &str {
    crate::extract::boxed(s).unwrap_or(s)
}
// ---------------------------------------------------------------------------------------------
// Cleaning: LaTeX presentation that does not change the value.

const REMOVED: &[&str] = &[
    "\\left",
    "\\right",
    "\\displaystyle",
    "\\!",
    "\\,",
    "\\;",
    "\\:",
    "\\quad",
    "\\qquad",
    "\\ ",
    "~",
    "\\$",
    "$",
    "^\\circ",
    "^{\\circ}",
    "°",
    "\\circ",
    "\\bigl",
    "\\bigr",
    "\\Bigl",
    "\\Bigr",
    "\\big",
    "\\Big",
];

const REPLACED: &[(&str, &str)] = &[
    ("\\dfrac", "\\frac"),
    ("\\tfrac", "\\frac"),
    ("\\cdot", "*"),
    ("\\times", "*"),
    ("\\div", "/"),
    ("\\%", "%"),
    ("\\{", "⦃"),
    ("\\}", "⦄"),
    ("\\lbrace", "⦃"),
    ("\\rbrace", "⦄"),
    ("\\infty", "∞"),
    ("\\infin", "∞"),
    ("\\pi", "π"),
    ("−", "-"),
];

/// Unit words dropped after a number ("5 cm", "12 \text{ apples}" is not a unit and stays).
const UNITS: &[&str] = &[
    "cm", "mm", "m", "km", "kg", "g", "mg", "s", "sec", "seconds", "min", "minutes", "h", "hours",
    "hour", "days", "day", "degrees", "degree", "deg", "units", "unit", "dollars", "dollar",
    "cents", "meters", "meter", "inches", "inch", "feet", "ft", "miles", "mph", "percent", "sq",
    "square", "cubic", "l", "ml",
];

/// Strips what does not change the value. Linear in the input.
fn clean(input: &str) -> String {
    let mut s = input.trim();
    s = s
        .strip_prefix("\\(")
        .or_else(|| s.strip_prefix("\\["))
        .unwrap_or(s);
    s = s
        .strip_suffix("\\)")
        .or_else(|| s.strip_suffix("\\]"))
        .unwrap_or(s);
    // Most answers are plain ("42", "3/4"): skip the LaTeX passes when nothing can match.
    let latex = s.contains(['\\', '~', '$', '^', '°', '−']);
    let unwrapped;
    let rewritten;
    if latex {
        unwrapped = unwrap_text_commands(s);
        rewritten = rewrite_presentation(&unwrapped);
        s = &rewritten;
    }
    let s = s.trim().trim_end_matches(['.', '。']).trim();
    // Units follow a space ("5 cm").
    let s = if s.contains(' ') {
        strip_units(s)
    } else {
        s.to_string()
    };
    let s = if s.contains(',') {
        remove_thousands_separators(&s)
    } else {
        s
    };
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Removes and replaces the commands of `REMOVED` and `REPLACED` in one pass: at each character
/// that can start one, the longest entry that matches is applied. A command spelled with letters
/// matches only whole (`\cdot` is not the start of `\cdots`).
fn rewrite_presentation(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find(['\\', '~', '$', '^', '°', '−']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let whole = |pattern: &str| {
            tail.starts_with(pattern)
                && !(pattern.ends_with(|c: char| c.is_ascii_alphabetic())
                    && tail[pattern.len()..].starts_with(|c: char| c.is_ascii_alphabetic()))
        };
        let removal = REMOVED
            .iter()
            .filter(|p| whole(p))
            .map(|p| (p.len(), ""))
            .max_by_key(|m| m.0);
        let replacement = REPLACED
            .iter()
            .filter(|(p, _)| whole(p))
            .map(|(p, to)| (p.len(), *to))
            .max_by_key(|m| m.0);
        match removal.into_iter().chain(replacement).max_by_key(|m| m.0) {
            Some((length, to)) => {
                out.push_str(to);
                rest = &tail[length..];
            }
            None => {
                let first = tail.chars().next().map_or(1, char::len_utf8);
                out.push_str(&tail[..first]);
                rest = &tail[first..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `\text{x}`, `\textbf{x}`, `\mathrm{x}`, `\mathbf{x}`, `\operatorname{x}` → `x`.
fn unwrap_text_commands(s: &str) -> String {
    const COMMANDS: &[&str] = &[
        "\\text",
        "\\textbf",
        "\\textit",
        "\\mathrm",
        "\\mathbf",
        "\\mathit",
        "\\operatorname",
        "\\mbox",
    ];
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let command = COMMANDS
            .iter()
            .filter(|c| tail.starts_with(**c) && tail[c.len()..].starts_with('{'))
            .max_by_key(|c| c.len());
        match command {
            Some(command) => {
                let inside = &tail[command.len() + 1..];
                match inside.find('}') {
                    Some(end) => {
                        out.push_str(&inside[..end]);
                        rest = &inside[end + 1..];
                    }
                    None => {
                        out.push_str(inside);
                        rest = "";
                    }
                }
            }
            None => {
                out.push('\\');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn strip_units(s: &str) -> String {
    let mut s = s.to_string();
    // "5 cm^2", "5 square units": drop trailing unit words after something numeric.
    loop {
        let trimmed = s.trim_end();
        let trimmed = trimmed
            .trim_end_matches("^2")
            .trim_end_matches("^3")
            .trim_end_matches("^{2}")
            .trim_end_matches("^{3}");
        let Some(space) = trimmed.rfind(' ') else {
            break;
        };
        let word = trimmed[space + 1..].trim_end_matches('.');
        let before = trimmed[..space].trim_end();
        let numeric_before = before
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_digit() || c == '}' || c == '%' || c == 'π');
        if numeric_before && UNITS.contains(&word.to_ascii_lowercase().as_str()) {
            s = before.to_string();
        } else {
            break;
        }
    }
    s
}

/// `1,234,567` → `1234567` where the commas group digits in threes (a tuple such as `(1,2)` stays).
/// One pass over maximal runs of digits and commas.
fn remove_thousands_separators(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            let len = utf8_len(bytes[i]);
            out.push_str(&s[i..i + len]);
            i += len;
            continue;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b',') {
            i += 1;
        }
        let run = &s[start..i];
        let after_decimal_point = start > 0 && bytes[start - 1] == b'.';
        if !after_decimal_point && is_grouped_number(run) {
            out.extend(run.chars().filter(|c| *c != ','));
        } else {
            out.push_str(run);
        }
    }
    out
}

/// `\d{1,3}(,\d{3})+`
fn is_grouped_number(run: &str) -> bool {
    let mut groups = run.split(',');
    let first = groups.next().unwrap_or("");
    let mut rest = groups.peekable();
    (1..=3).contains(&first.len()) && rest.peek().is_some() && rest.all(|g| g.len() == 3)
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

// ---------------------------------------------------------------------------------------------
// Scalar expressions.

#[derive(Clone, Debug)]
enum Node {
    Number(f64),
    Variable(char),
    Infinity,
    Negate(Box<Node>),
    Binary(char, Box<Node>, Box<Node>),
    Function(&'static str, Box<Node>),
    Factorial(Box<Node>),
    /// `50%`: as in Math-Verify, equal both to 50 and to 0.5.
    Percent(Box<Node>),
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Number(f64),
    Letter(char),
    Command(&'static str),
    Op(char),
    Open(char),
    Close(char),
}

const FUNCTIONS: &[&str] = &[
    "sqrt", "frac", "sin", "cos", "tan", "ln", "log", "exp", "arcsin", "arccos", "arctan",
];

fn tokenize(s: &str) -> Option<Vec<Tok>> {
    let chars: Vec<char> = s.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            // Scientific notation: 1.5e-3, 2E5.
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '-' || chars[j] == '+') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    while j < chars.len() && chars[j].is_ascii_digit() {
                        j += 1;
                    }
                    i = j;
                }
            }
            let text: String = chars[start..i].iter().collect();
            tokens.push(Tok::Number(text.parse().ok()?));
        } else if c == '\\' {
            let start = i + 1;
            let mut j = start;
            while j < chars.len() && chars[j].is_ascii_alphabetic() {
                j += 1;
            }
            let name: String = chars[start..j].iter().collect();
            let command = *FUNCTIONS.iter().find(|f| **f == name)?;
            tokens.push(Tok::Command(command));
            i = j;
        } else if c == 'π' {
            tokens.push(Tok::Command("pi"));
            i += 1;
        } else if c == '∞' {
            tokens.push(Tok::Command("infty"));
            i += 1;
        } else if c.is_ascii_alphabetic() {
            // Function names written without a backslash.
            let starts_with = |name: &str| {
                name.chars()
                    .enumerate()
                    .all(|(k, n)| chars.get(i + k) == Some(&n))
            };
            if let Some(f) = FUNCTIONS
                .iter()
                .filter(|f| **f != "frac" && starts_with(f))
                .max_by_key(|f| f.len())
            {
                tokens.push(Tok::Command(f));
                i += f.len();
            } else {
                tokens.push(Tok::Letter(c));
                i += 1;
            }
        } else if "+-*/^!%".contains(c) {
            tokens.push(Tok::Op(c));
            i += 1;
        } else if "([{".contains(c) {
            tokens.push(Tok::Open(c));
            i += 1;
        } else if ")]}".contains(c) {
            tokens.push(Tok::Close(c));
            i += 1;
        } else {
            return None;
        }
    }
    Some(tokens)
}

struct Parser {
    tokens: Vec<Tok>,
    at: usize,
    depth: usize,
}

fn parse_scalar(s: &str) -> Option<Node> {
    let tokens = tokenize(s)?;
    if tokens.is_empty() {
        return None;
    }
    let mut parser = Parser {
        tokens,
        at: 0,
        depth: 0,
    };
    let node = parser.sum()?;
    (parser.at == parser.tokens.len()).then_some(node)
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.at)
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        if self.peek() == Some(tok) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn deeper(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    fn sum(&mut self) -> Option<Node> {
        self.deeper()?;
        let mut node = self.product()?;
        while let Some(Tok::Op(op @ ('+' | '-'))) = self.peek().cloned() {
            self.at += 1;
            let rhs = self.product()?;
            node = Node::Binary(op, Box::new(node), Box::new(rhs));
        }
        self.depth -= 1;
        Some(node)
    }

    fn product(&mut self) -> Option<Node> {
        let mut node = self.unary()?;
        loop {
            match self.peek() {
                Some(Tok::Op(op @ ('*' | '/'))) => {
                    let op = *op;
                    self.at += 1;
                    let rhs = self.unary()?;
                    node = Node::Binary(op, Box::new(node), Box::new(rhs));
                }
                // Implicit multiplication: 2x, 2\pi, 3\sqrt{2}, (a)(b). A number right after a
                // number is not (it would hide "1 2").
                Some(Tok::Letter(_) | Tok::Command(_) | Tok::Open(_)) => {
                    let mixed = matches!(node, Node::Number(n) if n.fract() == 0.0)
                        && self.peek() == Some(&Tok::Command("frac"));
                    let rhs = self.power()?;
                    // 3\frac{1}{2} is a mixed number: 3 + 1/2.
                    node =
                        Node::Binary(if mixed { '+' } else { '*' }, Box::new(node), Box::new(rhs));
                }
                _ => break,
            }
        }
        Some(node)
    }

    fn unary(&mut self) -> Option<Node> {
        if self.eat(&Tok::Op('-')) {
            self.deeper()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Some(Node::Negate(Box::new(inner)));
        }
        if self.eat(&Tok::Op('+')) {
            return self.unary();
        }
        self.power()
    }

    fn power(&mut self) -> Option<Node> {
        let mut base = self.postfix()?;
        if self.eat(&Tok::Op('^')) {
            self.deeper()?;
            let exponent = self.unary()?;
            self.depth -= 1;
            base = Node::Binary('^', Box::new(base), Box::new(exponent));
        }
        Some(base)
    }

    fn postfix(&mut self) -> Option<Node> {
        let mut node = self.atom()?;
        loop {
            if self.eat(&Tok::Op('!')) {
                node = Node::Factorial(Box::new(node));
            } else if self.eat(&Tok::Op('%')) {
                node = Node::Percent(Box::new(node));
            } else {
                break;
            }
        }
        Some(node)
    }

    fn group(&mut self) -> Option<Node> {
        let Some(Tok::Open(open)) = self.peek().cloned() else {
            return None;
        };
        self.at += 1;
        let inner = self.sum()?;
        let close = match open {
            '(' => ')',
            '[' => ']',
            _ => '}',
        };
        self.eat(&Tok::Close(close)).then_some(inner)
    }

    fn atom(&mut self) -> Option<Node> {
        self.deeper()?;
        let node = match self.peek().cloned()? {
            Tok::Number(n) => {
                self.at += 1;
                Node::Number(n)
            }
            Tok::Letter(c) => {
                self.at += 1;
                Node::Variable(c)
            }
            Tok::Open(_) => self.group()?,
            Tok::Command("pi") => {
                self.at += 1;
                Node::Number(std::f64::consts::PI)
            }
            Tok::Command("infty") => {
                self.at += 1;
                Node::Infinity
            }
            Tok::Command("frac") => {
                self.at += 1;
                let numerator = self.frac_argument()?;
                let denominator = self.frac_argument()?;
                Node::Binary('/', Box::new(numerator), Box::new(denominator))
            }
            Tok::Command("sqrt") => {
                self.at += 1;
                // \sqrt[3]{x}
                let root = if self.peek() == Some(&Tok::Open('[')) {
                    Some(self.group()?)
                } else {
                    None
                };
                let radicand = self.frac_argument()?;
                match root {
                    Some(n) => Node::Binary(
                        '^',
                        Box::new(radicand),
                        Box::new(Node::Binary('/', Box::new(Node::Number(1.0)), Box::new(n))),
                    ),
                    None => Node::Function("sqrt", Box::new(radicand)),
                }
            }
            Tok::Command(name) => {
                self.at += 1;
                let argument = self.power()?;
                Node::Function(name, Box::new(argument))
            }
            Tok::Op(_) | Tok::Close(_) => return None,
        };
        self.depth -= 1;
        Some(node)
    }

    /// `{...}` or a single token (`\frac12`).
    fn frac_argument(&mut self) -> Option<Node> {
        match self.peek()? {
            Tok::Open('{') => self.group(),
            Tok::Number(n) => {
                // \frac12: one digit each.
                let n = *n;
                self.at += 1;
                if n >= 10.0 && n.fract() == 0.0 && n < 100.0 {
                    let (first, second) = ((n / 10.0).floor(), n % 10.0);
                    self.tokens.insert(self.at, Tok::Number(second));
                    return Some(Node::Number(first));
                }
                Some(Node::Number(n))
            }
            _ => self.atom(),
        }
    }
}

/// How a percentage counts when evaluating: as its number (`1.0`) or as a fraction (`0.01`).
struct Scope<'v> {
    variables: &'v dyn Fn(char) -> f64,
    percent: f64,
}

fn evaluate(node: &Node, scope: &Scope) -> f64 {
    let variables = scope;
    match node {
        Node::Percent(inner) => evaluate(inner, scope) * scope.percent,
        Node::Number(n) => *n,
        Node::Variable(c) => (scope.variables)(*c),
        Node::Infinity => f64::INFINITY,
        Node::Negate(inner) => -evaluate(inner, variables),
        Node::Binary(op, a, b) => {
            let (x, y) = (evaluate(a, variables), evaluate(b, variables));
            match op {
                '+' => x + y,
                '-' => x - y,
                '*' => x * y,
                '/' => x / y,
                _ => x.powf(y),
            }
        }
        Node::Function(name, inner) => {
            let x = evaluate(inner, variables);
            match *name {
                "sqrt" => x.sqrt(),
                "sin" => x.sin(),
                "cos" => x.cos(),
                "tan" => x.tan(),
                "ln" => x.ln(),
                "log" => x.log10(),
                "exp" => x.exp(),
                "arcsin" => x.asin(),
                "arccos" => x.acos(),
                _ => x.atan(),
            }
        }
        Node::Factorial(inner) => {
            let n = evaluate(inner, variables);
            if n < 0.0 || n.fract() != 0.0 || n > 170.0 {
                f64::NAN
            } else {
                (1..=n as u64).map(|k| k as f64).product()
            }
        }
    }
}

fn variables_of(node: &Node, out: &mut Vec<char>) {
    match node {
        Node::Variable(c) if !out.contains(c) => out.push(*c),
        Node::Negate(inner) | Node::Function(_, inner) | Node::Factorial(inner) => {
            variables_of(inner, out)
        }
        Node::Binary(_, a, b) => {
            variables_of(a, out);
            variables_of(b, out);
        }
        _ => {}
    }
}

/// The value of an answer written as a number (`1,234.5`, `\frac{3}{4}`, `2.5e3`, `50%` as `0.5`,
/// `\sqrt{2}`), without variables; `None` when it is not one.
pub(super) fn parse_number(text: &str) -> Option<f64> {
    // A number written in more than this is not a number a reward compares (and cleaning it would
    // cost time for nothing).
    if text.len() > 8 * MAX_PARSE_LEN {
        return None;
    }
    let cleaned = clean(unbox(text));
    if cleaned.is_empty() || cleaned.len() > MAX_PARSE_LEN {
        return None;
    }
    let node = parse_scalar(&cleaned)?;
    let mut variables = Vec::new();
    variables_of(&node, &mut variables);
    if !variables.is_empty() {
        return None;
    }
    let scope = Scope {
        variables: &|_| f64::NAN,
        percent: 0.01,
    };
    let value = evaluate(&node, &scope);
    value.is_finite().then_some(value)
}

/// Whether `answer` is a number within `tolerance` of `reference`, relative to the larger of
/// `|reference|` and 1.
pub(super) fn numeric_close(answer: &str, reference: f64, tolerance: f64) -> bool {
    parse_number(answer)
        .is_some_and(|value| (value - reference).abs() <= tolerance * reference.abs().max(1.0))
}
