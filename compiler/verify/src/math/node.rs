//! The values answers parse to, modelled on the SymPy objects Math-Verify compares: numbers that
//! remember whether they are integers, rationals or decimals, percentages, symbols, unevaluated
//! sums, products and powers, functions, matrices, sets, tuples, intervals and relations.
//!
//! Expressions are compared by evaluating them, at sample points when they have free symbols.
//! Every walk over a tree is recursive, and trees are at most `MAX_DEPTH` deep (the parser refuses
//! deeper input), so no walk can exhaust the stack.

/// The parser refuses trees deeper than this.
pub(super) const MAX_DEPTH: usize = 48;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fun {
    Sin,
    Cos,
    Tan,
    Csc,
    Sec,
    Cot,
    Asin,
    Acos,
    Atan,
    Acsc,
    Asec,
    Acot,
    Sinh,
    Cosh,
    Tanh,
    Asinh,
    Acosh,
    Atanh,
    Exp,
    Floor,
    Ceil,
    Abs,
    Factorial,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Rel {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Rel {
    /// The relation with its sides swapped (`a < b` is `b > a`); `Ne` has none in Math-Verify.
    pub(super) fn inverse(self) -> Option<Rel> {
        match self {
            Rel::Eq => Some(Rel::Eq),
            Rel::Ne => None,
            Rel::Lt => Some(Rel::Gt),
            Rel::Le => Some(Rel::Ge),
            Rel::Gt => Some(Rel::Lt),
            Rel::Ge => Some(Rel::Le),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Const {
    E,
    Pi,
    EulerGamma,
    Infinity,
    /// The imaginary unit (`I`).
    I,
    /// SymPy's complex infinity, what `12:00` (12/0) evaluates to.
    Zoo,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SetKind {
    Naturals,
    Integers,
    Rationals,
    Reals,
    Complexes,
    Primes,
    Empty,
}

#[derive(Clone, Debug)]
pub(super) enum Node {
    /// An integer (SymPy `Integer`).
    Int(i128),
    /// An integer too long for `i128`, as its digits (no sign, no leading zeros).
    BigInt(bool, Box<str>),
    /// A reduced fraction with denominator above 1 (SymPy `Rational`).
    Rat(i128, i128),
    /// A decimal (SymPy `Float`).
    Float(f64),
    /// `x%`: `x * UnevaluatedExpr(1/100)`.
    Pct(Box<Node>),
    Sym(Box<str>),
    Const(Const),
    Add(Vec<Node>),
    Mul(Vec<Node>),
    Pow(Box<Node>, Box<Node>),
    Fun(Fun, Box<Node>),
    /// `log(argument, base)`.
    Log(Box<Node>, Box<Node>),
    Min(Vec<Node>),
    Max(Vec<Node>),
    Mod(Box<Node>, Box<Node>),
    Binom(Box<Node>, Box<Node>),
    /// An undefined function applied to arguments, `f(x)`.
    Apply(Box<str>, Vec<Node>),
    /// Something compared by its structure only (`\sum`, `\lim`, ...): a name and its parts.
    Opaque(&'static str, Vec<Node>),
    Matrix(usize, usize, Vec<Node>),
    /// A finite set, its elements in the order written.
    Set(Vec<Node>),
    Tuple(Vec<Node>),
    Interval(Box<Node>, Box<Node>, bool, bool),
    Union(Vec<Node>),
    Intersection(Vec<Node>),
    Complement(Box<Node>, Box<Node>),
    Special(SetKind),
    Rel(Rel, Box<Node>, Box<Node>),
    /// A chain of relations, `a < b < c`.
    And(Vec<Node>),
    Not(Box<Node>),
}

pub(super) fn gcd(a: i128, b: i128) -> i128 {
    let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.min(i128::MAX as u128) as i128
}

impl Node {
    /// SymPy's `Rational(p, q)`: reduced, an integer when the denominator divides, complex
    /// infinity for a zero denominator.
    pub(super) fn rational(p: i128, q: i128) -> Node {
        if q == 0 {
            return if p == 0 {
                Node::Float(f64::NAN)
            } else {
                Node::Const(Const::Zoo)
            };
        }
        let g = gcd(p, q).max(1);
        let (mut p, mut q) = (p / g, q / g);
        if q < 0 {
            match (p.checked_neg(), q.checked_neg()) {
                (Some(np), Some(nq)) => (p, q) = (np, nq),
                _ => return Node::Float(p as f64 / q as f64),
            }
        }
        if q == 1 {
            Node::Int(p)
        } else {
            Node::Rat(p, q)
        }
    }

    pub(super) fn is_number(&self) -> bool {
        matches!(
            self,
            Node::Int(_)
                | Node::BigInt(..)
                | Node::Rat(..)
                | Node::Float(_)
                | Node::Const(Const::Infinity)
        )
    }

    pub(super) fn is_integer(&self) -> bool {
        matches!(self, Node::Int(_) | Node::BigInt(..))
    }

    pub(super) fn is_relation(&self) -> bool {
        match self {
            Node::Rel(..) => true,
            Node::And(parts) => {
                !parts.is_empty() && parts.iter().all(|p| matches!(p, Node::Rel(..)))
            }
            _ => false,
        }
    }

    pub(super) fn is_equation(&self) -> bool {
        match self {
            Node::Rel(Rel::Eq, ..) => true,
            Node::And(parts) => {
                !parts.is_empty() && parts.iter().all(|p| matches!(p, Node::Rel(Rel::Eq, ..)))
            }
            _ => false,
        }
    }

    /// A SymPy `Set` (a tuple is not one).
    pub(super) fn is_set(&self) -> bool {
        matches!(
            self,
            Node::Set(_)
                | Node::Interval(..)
                | Node::Union(_)
                | Node::Intersection(_)
                | Node::Complement(..)
                | Node::Special(_)
        )
    }

    pub(super) fn is_matrix(&self) -> bool {
        matches!(self, Node::Matrix(..))
    }

    /// Negation as latex2sympy writes it: numbers are negated, anything else is `-1 * x`.
    pub(super) fn negate(self) -> Node {
        match self {
            Node::Int(n) => match n.checked_neg() {
                Some(m) => Node::Int(m),
                None => Node::Float(-(n as f64)),
            },
            Node::BigInt(negative, digits) => Node::BigInt(!negative, digits),
            Node::Rat(p, q) => Node::Rat(-p, q),
            Node::Float(x) => Node::Float(-x),
            other => mul_flat(Node::Int(-1), other),
        }
    }

    /// The value of a number node, if it is one.
    pub(super) fn number_value(&self) -> Option<f64> {
        match self {
            Node::Int(n) => Some(*n as f64),
            Node::BigInt(negative, digits) => {
                let value: f64 = digits.parse().ok()?;
                Some(if *negative { -value } else { value })
            }
            Node::Rat(p, q) => Some(*p as f64 / *q as f64),
            Node::Float(x) => Some(*x),
            Node::Const(Const::Infinity) => Some(f64::INFINITY),
            _ => None,
        }
    }
}

/// `lh + rh`, flattening sums as latex2sympy does.
pub(super) fn add_flat(lh: Node, rh: Node) -> Node {
    let mut terms = match lh {
        Node::Add(terms) => terms,
        other => vec![other],
    };
    match rh {
        Node::Add(more) => terms.extend(more),
        other => terms.push(other),
    }
    Node::Add(terms)
}

/// `lh * rh`, flattening products as latex2sympy does.
pub(super) fn mul_flat(lh: Node, rh: Node) -> Node {
    let mut factors = match lh {
        Node::Mul(factors) => factors,
        other => vec![other],
    };
    match rh {
        Node::Mul(more) => factors.extend(more),
        other => factors.push(other),
    }
    Node::Mul(factors)
}

// ---------------------------------------------------------------------------------------------
// Evaluation.

/// Values of free symbols: a deterministic function of the symbol's name and the sample number,
/// so that the same symbol gets the same value on both sides of a comparison.
pub(super) fn symbol_value(name: &str, sample: usize) -> f64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    hash = hash.wrapping_add((sample as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    hash ^= hash >> 31;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 29;
    let unit = (hash >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
    match sample {
        0 => 0.6 + 1.7 * unit,
        // All negative: SymPy cannot simplify `sqrt(x)^2` or `sqrt(x)sqrt(y)` for real symbols.
        1 => -2.6 + 2.2 * unit,
        2 => 1.3 + 2.9 * unit,
        _ => -2.3 + 4.1 * unit,
    }
}

/// How many sample points expressions with free symbols are compared at.
pub(super) const SAMPLES: usize = 4;

/// A pseudo-random but deterministic value for an undefined function at some arguments, so that
/// `f(x)` equals `f(x)` and differs from `f(y)`.
fn applied_value(name: &str, args: &[f64]) -> f64 {
    let mut hash: u64 = 0x84222325cbf29ce4;
    for byte in name.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    for arg in args {
        if !arg.is_finite() {
            return f64::NAN;
        }
        // Nine significant digits, so that rounding noise does not change the value.
        let rounded = if *arg == 0.0 {
            0
        } else {
            let magnitude = arg.abs().log10().floor();
            ((arg / 10f64.powf(magnitude - 8.0)).round() as i64)
                .wrapping_add(magnitude as i64 * 1_000_003)
        };
        hash = (hash ^ rounded as u64).wrapping_mul(0x0100_0000_01b3);
        hash ^= hash >> 29;
    }
    0.5 + ((hash >> 11) as f64 / (1u64 << 53) as f64)
}

fn factorial(n: f64) -> f64 {
    if n < 0.0 || n.fract() != 0.0 {
        return gamma(n + 1.0);
    }
    if n > 170.0 {
        return f64::INFINITY;
    }
    (1..=n as u64).map(|k| k as f64).product()
}

/// The gamma function (Lanczos approximation).
fn gamma(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x <= 0.0 && x.fract() == 0.0 {
        return f64::NAN;
    }
    if x < 0.5 {
        return std::f64::consts::PI / ((std::f64::consts::PI * x).sin() * gamma(1.0 - x));
    }
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    (2.0 * std::f64::consts::PI).sqrt() * t.powf(x + 0.5) * (-t).exp() * a
}

fn power(base: f64, exponent: f64) -> f64 {
    if base == 0.0 && exponent < 0.0 {
        // Complex infinity in SymPy.
        return f64::NAN;
    }
    if base < 0.0 && exponent.fract() != 0.0 {
        // Odd roots of negative numbers are complex in SymPy too (principal branch).
        return f64::NAN;
    }
    base.powf(exponent)
}

/// The value of `node` with its free symbols at sample `sample`; NaN where undefined or not a
/// number (a matrix, a set, a relation, complex values).
pub(super) fn eval(node: &Node, sample: usize) -> f64 {
    eval_with(node, &|name: &str| symbol_value(name, sample))
}

/// The value of `node` with its free symbols valued by `symbols`.
pub(super) fn eval_with(node: &Node, symbols: &dyn Fn(&str) -> f64) -> f64 {
    let eval = |n: &Node, _: usize| eval_with(n, symbols);
    let sample = 0;
    match node {
        Node::Int(_) | Node::BigInt(..) | Node::Rat(..) | Node::Float(_) => {
            node.number_value().unwrap_or(f64::NAN)
        }
        Node::Pct(inner) => eval(inner, sample) / 100.0,
        Node::Sym(name) => symbols(name),
        Node::Const(c) => match c {
            Const::E => std::f64::consts::E,
            Const::Pi => std::f64::consts::PI,
            Const::EulerGamma => 0.577_215_664_901_532_9,
            Const::Infinity => f64::INFINITY,
            Const::I | Const::Zoo => f64::NAN,
        },
        Node::Add(terms) => terms.iter().map(|t| eval(t, sample)).sum(),
        Node::Mul(factors) => {
            let mut product = 1.0;
            for f in factors {
                let v = eval(f, sample);
                // 0 * oo is undefined.
                product *= v;
            }
            product
        }
        Node::Pow(base, exponent) => power(eval(base, sample), eval(exponent, sample)),
        Node::Fun(f, arg) => {
            let x = eval(arg, sample);
            match f {
                Fun::Sin => x.sin(),
                Fun::Cos => x.cos(),
                Fun::Tan => x.tan(),
                Fun::Csc => 1.0 / x.sin(),
                Fun::Sec => 1.0 / x.cos(),
                Fun::Cot => 1.0 / x.tan(),
                Fun::Asin => x.asin(),
                Fun::Acos => x.acos(),
                Fun::Atan => x.atan(),
                Fun::Acsc => (1.0 / x).asin(),
                Fun::Asec => (1.0 / x).acos(),
                Fun::Acot => (1.0 / x).atan(),
                Fun::Sinh => x.sinh(),
                Fun::Cosh => x.cosh(),
                Fun::Tanh => x.tanh(),
                Fun::Asinh => x.asinh(),
                Fun::Acosh => x.acosh(),
                Fun::Atanh => x.atanh(),
                Fun::Exp => x.exp(),
                Fun::Floor => x.floor(),
                Fun::Ceil => x.ceil(),
                Fun::Abs => x.abs(),
                Fun::Factorial => factorial(x),
            }
        }
        Node::Log(arg, base) => {
            let (x, b) = (eval(arg, sample), eval(base, sample));
            if x <= 0.0 || b <= 0.0 {
                f64::NAN
            } else {
                x.ln() / b.ln()
            }
        }
        Node::Min(args) => args
            .iter()
            .map(|a| eval(a, sample))
            .fold(f64::INFINITY, f64::min),
        Node::Max(args) => args
            .iter()
            .map(|a| eval(a, sample))
            .fold(f64::NEG_INFINITY, f64::max),
        Node::Mod(a, b) => {
            let (x, y) = (eval(a, sample), eval(b, sample));
            x - y * (x / y).floor()
        }
        Node::Binom(n, k) => {
            let (n, k) = (eval(n, sample), eval(k, sample));
            factorial(n) / (factorial(k) * factorial(n - k))
        }
        Node::Apply(name, args) => {
            let values: Vec<f64> = args.iter().map(|a| eval(a, sample)).collect();
            applied_value(name, &values)
        }
        Node::Opaque(kind @ ("sum" | "product"), parts) => finite_sum(kind, parts, symbols),
        _ => f64::NAN,
    }
}

/// `\sum_{k=a}^{b}` or `\prod_{k=a}^{b}` with integer bounds (at most 1,000 terms, no nested sum):
/// its value, as SymPy's `doit` gives it; NaN otherwise.
fn finite_sum(kind: &str, parts: &[Node], symbols: &dyn Fn(&str) -> f64) -> f64 {
    let [Node::Sym(var), lo, hi, body] = parts else {
        return f64::NAN;
    };
    if contains_sum(body) {
        return f64::NAN;
    }
    let (lo, hi) = (eval_with(lo, symbols), eval_with(hi, symbols));
    if lo.fract() != 0.0
        || hi.fract() != 0.0
        || !lo.is_finite()
        || !hi.is_finite()
        || hi - lo > 1_000.0
    {
        return f64::NAN;
    }
    let mut acc = if kind == "sum" { 0.0 } else { 1.0 };
    let mut k = lo;
    while k <= hi {
        let value = eval_with(body, &|name: &str| {
            if name == &**var { k } else { symbols(name) }
        });
        if kind == "sum" {
            acc += value;
        } else {
            acc *= value;
        }
        k += 1.0;
    }
    acc
}

fn contains_sum(node: &Node) -> bool {
    match node {
        Node::Opaque(..) => true,
        Node::Pct(a) | Node::Fun(_, a) | Node::Not(a) => contains_sum(a),
        Node::Pow(a, b) | Node::Log(a, b) | Node::Mod(a, b) | Node::Binom(a, b) => {
            contains_sum(a) || contains_sum(b)
        }
        Node::Add(parts)
        | Node::Mul(parts)
        | Node::Min(parts)
        | Node::Max(parts)
        | Node::Apply(_, parts) => parts.iter().any(contains_sum),
        _ => false,
    }
}

/// Whether an expression has free symbols (the names of undefined functions' arguments included).
pub(super) fn has_symbols(node: &Node) -> bool {
    let mut first = Vec::new();
    symbols_of(node, &mut first, 1);
    !first.is_empty()
}

/// The free symbols of `node`, in order of appearance (at most `limit`).
pub(super) fn symbols_of<'n>(node: &'n Node, out: &mut Vec<&'n str>, limit: usize) {
    if out.len() >= limit {
        return;
    }
    match node {
        Node::Sym(name) if !out.contains(&&**name) => out.push(name),
        Node::Pct(a) | Node::Fun(_, a) | Node::Not(a) => symbols_of(a, out, limit),
        Node::Pow(a, b)
        | Node::Log(a, b)
        | Node::Mod(a, b)
        | Node::Binom(a, b)
        | Node::Complement(a, b)
        | Node::Rel(_, a, b)
        | Node::Interval(a, b, ..) => {
            symbols_of(a, out, limit);
            symbols_of(b, out, limit);
        }
        Node::Add(parts)
        | Node::Mul(parts)
        | Node::Min(parts)
        | Node::Max(parts)
        | Node::Apply(_, parts)
        | Node::Opaque(_, parts)
        | Node::Matrix(_, _, parts)
        | Node::Set(parts)
        | Node::Tuple(parts)
        | Node::Union(parts)
        | Node::Intersection(parts)
        | Node::And(parts) => {
            for p in parts {
                symbols_of(p, out, limit);
            }
        }
        _ => {}
    }
}

/// Whether two numbers are equal to about fifteen significant digits (SymPy's `evalf` with
/// chopping), infinities equal when of the same sign.
pub(super) fn close(x: f64, y: f64) -> bool {
    if x.is_infinite() || y.is_infinite() {
        return x == y;
    }
    (x - y).abs() <= 1e-11 * x.abs().max(y.abs()) + 1e-13
}

/// Mathematical equality of two scalar expressions: equal values, at every sample point when they
/// have free symbols (points where both are undefined are skipped; at least one must compare).
pub(super) fn same_value(a: &Node, b: &Node) -> bool {
    let symbolic = has_symbols(a) || has_symbols(b);
    let samples = if symbolic { SAMPLES } else { 1 };
    let mut compared = 0;
    for sample in 0..samples {
        let (x, y) = (eval(a, sample), eval(b, sample));
        if x.is_nan() && y.is_nan() {
            continue;
        }
        if symbolic && (x.is_infinite() || y.is_infinite()) {
            // `oo * t` is no number SymPy can equate with anything.
            return false;
        }
        if !close(x, y) {
            return false;
        }
        compared += 1;
    }
    compared > 0
}
