//! Math-Verify's `verify`: `sympy_expr_eq` on the parsed values (assignments reduced to their
//! values, relations compared as relations, sets and tuples element by element, symbols by name,
//! numbers with decimals rounded to six places, anything else by value) and string equality on
//! the fallback strings.

use super::find::Extracted;
use super::node::{
    Const, Node, Rel, SAMPLES, SetKind, add_flat, close, eval, eval_with, has_symbols, mul_flat,
    same_value, symbols_of,
};
use super::parse::only_symbols;

/// Math-Verify raised (comparing against complex infinity or NaN): the pair is not equal.
struct Raised;

type Outcome = Result<bool, Raised>;

/// `verify(gold, target)`: any pair of gold and target extractions equal.
pub(super) fn verify(gold: &Extracted, target: &Extracted) -> bool {
    if let (Some(g), Some(t)) = (&gold.value, &target.value)
        && expr_eq(g, t, 0).unwrap_or(false)
    {
        return true;
    }
    if let (Some(g), Some(t)) = (&gold.fallback, &target.fallback) {
        let (g, t) = (g.trim(), t.trim());
        return !g.is_empty() && g == t;
    }
    false
}

fn first_relation(node: &Node) -> &Node {
    match node {
        Node::And(parts) => parts.first().map_or(node, first_relation),
        _ => node,
    }
}

fn last_relation(node: &Node) -> &Node {
    match node {
        Node::And(parts) => parts.last().map_or(node, last_relation),
        _ => node,
    }
}

fn sides(rel: &Node) -> Option<(&Node, &Node)> {
    match rel {
        Node::Rel(_, a, b) => Some((a, b)),
        _ => None,
    }
}

/// `a = 1` with a left side made of symbols only (`x`, `f(x)`, `(p, q)`, `AB`).
fn is_assignment(node: &Node) -> bool {
    match node {
        Node::Rel(Rel::Eq, lhs, _) => only_symbols(lhs),
        Node::And(parts) => {
            node.is_equation()
                && parts
                    .first()
                    .and_then(sides)
                    .is_some_and(|(lhs, _)| only_symbols(lhs))
        }
        _ => false,
    }
}

/// SymPy's structural `==` (numbers by value, sets as sets).
pub(super) fn structural(a: &Node, b: &Node) -> bool {
    match (a, b) {
        (Node::Int(x), Node::Int(y)) => x == y,
        (Node::BigInt(s1, d1), Node::BigInt(s2, d2)) => s1 == s2 && d1 == d2,
        (Node::Rat(p1, q1), Node::Rat(p2, q2)) => p1 == p2 && q1 == q2,
        (x, y) if x.is_number() && y.is_number() => {
            matches!((x.number_value(), y.number_value()), (Some(u), Some(v)) if u == v)
        }
        (Node::Pct(x), Node::Pct(y)) | (Node::Not(x), Node::Not(y)) => structural(x, y),
        (Node::Sym(x), Node::Sym(y)) => x == y,
        (Node::Const(x), Node::Const(y)) => x == y,
        (Node::Special(x), Node::Special(y)) => x == y,
        (Node::Pow(a1, b1), Node::Pow(a2, b2))
        | (Node::Log(a1, b1), Node::Log(a2, b2))
        | (Node::Mod(a1, b1), Node::Mod(a2, b2))
        | (Node::Binom(a1, b1), Node::Binom(a2, b2))
        | (Node::Complement(a1, b1), Node::Complement(a2, b2)) => {
            structural(a1, a2) && structural(b1, b2)
        }
        (Node::Fun(f, x), Node::Fun(g, y)) => f == g && structural(x, y),
        (Node::Rel(r1, a1, b1), Node::Rel(r2, a2, b2)) => {
            r1 == r2 && structural(a1, a2) && structural(b1, b2)
        }
        (Node::Interval(a1, b1, l1, r1), Node::Interval(a2, b2, l2, r2)) => {
            l1 == l2 && r1 == r2 && structural(a1, a2) && structural(b1, b2)
        }
        (Node::Apply(f, x), Node::Apply(g, y)) => f == g && same_list(x, y),
        (Node::Matrix(r1, c1, x), Node::Matrix(r2, c2, y)) => {
            r1 == r2 && c1 == c2 && same_list(x, y)
        }
        (Node::Tuple(x), Node::Tuple(y)) | (Node::And(x), Node::And(y)) => same_list(x, y),
        (Node::Min(x), Node::Min(y)) | (Node::Max(x), Node::Max(y)) => same_list(x, y),
        (Node::Add(x), Node::Add(y))
        | (Node::Mul(x), Node::Mul(y))
        | (Node::Union(x), Node::Union(y))
        | (Node::Intersection(x), Node::Intersection(y)) => same_multiset(x, y, structural),
        (Node::Set(x), Node::Set(y)) => same_multiset(&dedup(x), &dedup(y), structural),
        (Node::Opaque(n1, x), Node::Opaque(n2, y)) => {
            // Sums and limits: SymPy orders their parts canonically; compare parts by value.
            n1 == n2
                && x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(p, q)| structural(p, q) || (!p.is_set() && same_value(p, q)))
        }
        _ => false,
    }
}

fn same_list(x: &[Node], y: &[Node]) -> bool {
    x.len() == y.len() && x.iter().zip(y).all(|(p, q)| structural(p, q))
}

/// Whether the elements of `x` can be paired with those of `y` (a matching, augmenting paths).
fn same_multiset(x: &[Node], y: &[Node], mut eq: impl FnMut(&Node, &Node) -> bool) -> bool {
    if x.len() != y.len() || x.len() > 128 {
        return false;
    }
    let n = x.len();
    let mut adjacency = vec![Vec::new(); n];
    for (i, p) in x.iter().enumerate() {
        for (j, q) in y.iter().enumerate() {
            if eq(p, q) {
                adjacency[i].push(j);
            }
        }
        if adjacency[i].is_empty() {
            return false;
        }
    }
    let mut owner: Vec<Option<usize>> = vec![None; n];
    for i in 0..n {
        let mut seen = vec![false; n];
        if !augment(i, &adjacency, &mut owner, &mut seen, 0) {
            return false;
        }
    }
    true
}

fn augment(
    i: usize,
    adjacency: &[Vec<usize>],
    owner: &mut [Option<usize>],
    seen: &mut [bool],
    depth: usize,
) -> bool {
    if depth > 128 {
        return false;
    }
    for &j in &adjacency[i] {
        if seen[j] {
            continue;
        }
        seen[j] = true;
        if owner[j].is_none_or(|k| augment(k, adjacency, owner, seen, depth + 1)) {
            owner[j] = Some(i);
            return true;
        }
    }
    false
}

/// A finite set's distinct elements (SymPy drops structurally equal duplicates).
fn dedup(items: &[Node]) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::with_capacity(items.len());
    for item in items.iter().take(256) {
        if !out.iter().any(|o| structural(o, item)) {
            out.push(item.clone());
        }
    }
    out
}

/// `sympy_expr_eq(gold, pred)`.
fn expr_eq(gold: &Node, pred: &Node, depth: usize) -> Outcome {
    if depth > 24 {
        return Ok(false);
    }
    let gold_assignment = is_assignment(gold);
    let pred_assignment = is_assignment(pred);
    let gold_equation = gold.is_equation();
    let pred_equation = pred.is_equation();
    let truncate = |node: &Node| -> Option<Node> {
        let (lhs, _) = sides(first_relation(node))?;
        let (_, rhs) = sides(last_relation(node))?;
        Some(Node::Rel(
            Rel::Eq,
            Box::new(lhs.clone()),
            Box::new(rhs.clone()),
        ))
    };
    let mut gold = std::borrow::Cow::Borrowed(gold);
    let mut pred = std::borrow::Cow::Borrowed(pred);
    if gold_assignment && let Some(t) = truncate(&gold) {
        gold = std::borrow::Cow::Owned(t);
    }
    if pred_assignment && let Some(t) = truncate(&pred) {
        pred = std::borrow::Cow::Owned(t);
    }
    if pred_equation && !gold_equation {
        if let Some((_, rhs)) = sides(last_relation(&pred)) {
            pred = std::borrow::Cow::Owned(rhs.clone());
        }
    } else if gold_assignment
        && !pred_equation
        && let Some((_, rhs)) = sides(last_relation(&gold))
    {
        gold = std::borrow::Cow::Owned(rhs.clone());
    }
    let (gold, pred) = (gold.as_ref(), pred.as_ref());

    // `1 < x < 2` against `(1, 2)`: the relation's solution set.
    let as_set;
    let gold = if gold.is_relation() && pred.is_set() {
        match truth_set(gold).map(RealSet::into_node) {
            Some(s) => {
                as_set = s;
                &as_set
            }
            None => gold,
        }
    } else {
        gold
    };

    if matches!(gold, Node::Const(Const::Zoo)) || matches!(gold, Node::Float(x) if x.is_nan()) {
        return Err(Raised);
    }
    if structural(gold, pred) {
        return Ok(true);
    }
    if gold.is_relation() && pred.is_relation() {
        return compare_relations(gold, pred, depth);
    }
    if gold.is_set()
        || pred.is_set()
        || matches!(gold, Node::Tuple(_))
        || matches!(pred, Node::Tuple(_))
    {
        return compare_sets(gold, pred, depth);
    }
    if matches!(gold, Node::Sym(_)) || matches!(pred, Node::Sym(_)) {
        return Ok(compare_symbols(gold, pred));
    }
    if (atomic_float(gold) || atomic_float(pred)) && !gold.is_matrix() && !pred.is_matrix() {
        return Ok(numeric_eq(gold, pred)
            || (has_symbols(gold) || has_symbols(pred)) && symbolic_eq(gold, pred));
    }
    Ok(numeric_eq(gold, pred) || symbolic_eq(gold, pred))
}

fn difference(rel: &Node, flipped: bool) -> Option<Node> {
    let (a, b) = sides(rel)?;
    if a.is_set() || b.is_set() || matches!(a, Node::Tuple(_)) || matches!(b, Node::Tuple(_)) {
        return None;
    }
    let (a, b) = if flipped { (b, a) } else { (a, b) };
    Some(if b.is_number() {
        add_flat(a.clone(), b.clone().negate())
    } else {
        add_flat(a.clone(), mul_flat(Node::Int(-1), b.clone()))
    })
}

/// `sympy_compare_relational`.
fn compare_relations(gold: &Node, pred: &Node, depth: usize) -> Outcome {
    if let (Node::And(g), Node::And(p)) = (gold, pred) {
        if g.len() != p.len() {
            return Err(Raised);
        }
        for (a, b) in g.iter().zip(p) {
            if !compare_relations(a, b, depth + 1)? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    let (Node::Rel(g_op, ..), Node::Rel(p_op, ..)) = (gold, pred) else {
        return Ok(false);
    };
    if g_op == p_op
        && let (Some(x), Some(y)) = (difference(gold, false), difference(pred, false))
        && expr_eq(&x, &y, depth + 1).unwrap_or(false)
    {
        return Ok(true);
    }
    let Some(inverse) = g_op.inverse() else {
        return Err(Raised);
    };
    if inverse == *p_op
        && let (Some(x), Some(y)) = (difference(gold, false), difference(pred, true))
        && expr_eq(&x, &y, depth + 1).unwrap_or(false)
    {
        return Ok(true);
    }
    if *g_op == Rel::Eq && *p_op == Rel::Eq {
        return Ok(same_solutions(gold, pred));
    }
    Ok(false)
}

/// SymPy's `solve` on two equations gives the same solutions: both without unknowns (no solutions
/// either way), or in the same two or more unknowns with proportional differences. (For one
/// unknown Math-Verify's comparison of the solutions fails, so those never count.)
fn same_solutions(gold: &Node, pred: &Node) -> bool {
    let (Some(g), Some(p)) = (difference(gold, false), difference(pred, false)) else {
        return false;
    };
    let (mut gs, mut ps) = (Vec::new(), Vec::new());
    symbols_of(&g, &mut gs, 16);
    symbols_of(&p, &mut ps, 16);
    gs.sort_unstable();
    ps.sort_unstable();
    if gs.is_empty() && ps.is_empty() {
        // Neither has an unknown: `solve` gives no solutions for either.
        return true;
    }
    if gs.len() < 2 || gs != ps {
        return false;
    }
    let mut ratio: Option<f64> = None;
    let mut compared = 0;
    for sample in 0..SAMPLES + 2 {
        let (x, y) = (eval(&g, sample), eval(&p, sample));
        if !x.is_finite() || !y.is_finite() {
            continue;
        }
        if x.abs() < 1e-12 && y.abs() < 1e-12 {
            continue;
        }
        if x.abs() < 1e-12 || y.abs() < 1e-12 {
            return false;
        }
        let r = x / y;
        match ratio {
            None => ratio = Some(r),
            Some(q) if close(q, r) => {}
            Some(_) => return false,
        }
        compared += 1;
    }
    compared >= 2
}

/// `sympy_compare_symbols`.
fn compare_symbols(gold: &Node, pred: &Node) -> bool {
    let is_e = |n: &Node| matches!(n, Node::Sym(name) if name.eq_ignore_ascii_case("e"));
    if (is_e(gold) && matches!(pred, Node::Const(Const::E)))
        || (is_e(pred) && matches!(gold, Node::Const(Const::E)))
    {
        return true;
    }
    let concat = |factors: &[Node]| -> Option<String> {
        let mut out = String::new();
        for f in factors {
            match f {
                Node::Sym(name) => out.push_str(name),
                Node::Const(Const::E) => out.push('e'),
                _ => return None,
            }
        }
        Some(out.to_lowercase())
    };
    if let (Node::Sym(name), Node::Mul(factors)) | (Node::Mul(factors), Node::Sym(name)) =
        (gold, pred)
    {
        return concat(factors).is_some_and(|c| c == name.to_lowercase());
    }
    if let (Node::Sym(a), Node::Sym(b)) = (gold, pred) {
        let norm = |s: &str| {
            if s.chars().count() > 1 {
                s.to_lowercase()
            } else {
                s.to_string()
            }
        };
        return norm(a) == norm(b);
    }
    match (print(gold), print(pred)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// SymPy's `str` for the simple values `str(gold) == str(pred)` can still equate.
fn print(node: &Node) -> Option<String> {
    Some(match node {
        Node::Sym(name) => name.to_string(),
        Node::Int(n) => n.to_string(),
        Node::BigInt(neg, digits) => format!("{}{digits}", if *neg { "-" } else { "" }),
        Node::Rat(p, q) => format!("{p}/{q}"),
        Node::Const(Const::E) => "E".into(),
        Node::Const(Const::Pi) => "pi".into(),
        Node::Const(Const::Infinity) => "oo".into(),
        Node::Const(Const::I) => "I".into(),
        Node::Float(x) => format!("{x:.15}"),
        _ => return None,
    })
}

fn atomic_float(node: &Node) -> bool {
    match node {
        Node::Float(_) => true,
        Node::Pct(inner) => matches!(**inner, Node::Float(_)),
        _ => false,
    }
}

fn atomic_number(node: &Node) -> bool {
    match node {
        Node::Pct(inner) => inner.is_number(),
        other => other.is_number(),
    }
}

/// The integer of an atomic integer or integer percentage (`9%` compares as 9 with `9`).
fn atomic_integer(node: &Node) -> Option<&Node> {
    match node {
        Node::Int(_) | Node::BigInt(..) => Some(node),
        Node::Pct(inner) if inner.is_integer() => Some(inner),
        _ => None,
    }
}

/// `sympy_numeric_eq`.
fn numeric_eq(gold: &Node, pred: &Node) -> bool {
    if let (Node::Matrix(r1, c1, x), Node::Matrix(r2, c2, y)) = (gold, pred) {
        return r1 == r2
            && c1 == c2
            && x.iter()
                .zip(y)
                .all(|(a, b)| numeric_eq(a, b) || symbolic_eq(a, b));
    }
    if atomic_number(gold) || atomic_number(pred) {
        if atomic_float(gold) || atomic_float(pred) {
            if has_symbols(gold) || has_symbols(pred) {
                return false;
            }
            let (x, y) = (eval(gold, 0), eval(pred, 0));
            if !x.is_finite() || !y.is_finite() {
                return x == y;
            }
            // No symbolic fallback: a decimal that does not round to the same six places differs
            // from the other value by far more than SymPy's exact `simplify` could cancel.
            return rounds_alike(x, y);
        }
        if let (Some(a), Some(b)) = (atomic_integer(gold), atomic_integer(pred)) {
            return structural(a, b);
        }
    }
    false
}

/// `a.round(6) == b.round(6)`. Beyond about 1e7 six decimals are below double precision: equal
/// to within the error of evaluating in doubles counts as rounding alike.
pub(super) fn rounds_alike(x: f64, y: f64) -> bool {
    if !x.is_finite() || !y.is_finite() {
        return x == y;
    }
    round6(x) == round6(y) || (x - y).abs() <= 4e-14 * x.abs().max(y.abs())
}

fn round6(x: f64) -> f64 {
    let scaled = x * 1e6;
    // Round half away from zero, after removing two units of representation noise.
    let noise = if scaled.abs() < 4e15 {
        scaled.abs() * 4e-16
    } else {
        0.0
    };
    (scaled + noise.copysign(scaled)).round()
}

/// `simplify(gold - pred).is_zero`: equal values (at sample points when there are symbols).
fn symbolic_eq(gold: &Node, pred: &Node) -> bool {
    if gold.is_matrix() || pred.is_matrix() {
        return false;
    }
    same_value(gold, pred)
}

// ---------------------------------------------------------------------------------------------
// Sets.

fn set_len(node: &Node) -> Option<usize> {
    match node {
        Node::Set(items) => Some(dedup(items).len()),
        Node::Tuple(items) => Some(items.len()),
        _ => None,
    }
}

/// `sympy_compare_sets`.
fn compare_sets(gold: &Node, pred: &Node, depth: usize) -> Outcome {
    let wrap = |n: &Node| -> Node {
        if n.is_set() || matches!(n, Node::Tuple(_)) {
            n.clone()
        } else {
            Node::Set(vec![n.clone()])
        }
    };
    let (a, b) = (wrap(gold), wrap(pred));
    if let (Node::Interval(a1, b1, l1, r1), Node::Interval(a2, b2, l2, r2)) = (&a, &b) {
        return Ok(l1 == l2
            && r1 == r2
            && expr_eq(a1, a2, depth + 1)?
            && expr_eq(b1, b2, depth + 1)?);
    }
    if structural(&a, &b) {
        return Ok(true);
    }
    if a.is_set()
        && b.is_set()
        && let (Some(x), Some(y)) = (real_set(&a), real_set(&b))
        && x.same(&y)
    {
        return Ok(true);
    }
    let finite = |n: &Node| matches!(n, Node::Set(_) | Node::Tuple(_));
    if finite(&a) && finite(&b) {
        return deep_compare(&a, &b, depth);
    }
    if let Node::Interval(lo, hi, true, true) = &a
        && finite(&b)
        && set_len(&b) == Some(2)
    {
        return deep_compare(
            &Node::Tuple(vec![(**lo).clone(), (**hi).clone()]),
            &b,
            depth,
        );
    }
    if let Node::Interval(lo, hi, true, true) = &b
        && finite(&a)
        && set_len(&a) == Some(2)
    {
        return deep_compare(
            &a,
            &Node::Tuple(vec![(**lo).clone(), (**hi).clone()]),
            depth,
        );
    }
    Ok(false)
}

/// `sympy_deep_compare_set_and_tuple`: element by element, in order for a tuple against a tuple
/// or a written set; as sets otherwise.
fn deep_compare(gold: &Node, pred: &Node, depth: usize) -> Outcome {
    let items = |n: &Node| -> Vec<Node> {
        match n {
            Node::Set(items) => dedup(items),
            Node::Tuple(items) => items.clone(),
            _ => Vec::new(),
        }
    };
    let (g, p) = (items(gold), items(pred));
    if g.len() != p.len() {
        return Ok(false);
    }
    let ordered = matches!(gold, Node::Tuple(_));
    if ordered {
        for (a, b) in g.iter().zip(&p) {
            if !expr_eq(a, b, depth + 1)? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    let mut raised = false;
    let equal = same_multiset(&g, &p, |a, b| match expr_eq(a, b, depth + 1) {
        Ok(v) => v,
        Err(Raised) => {
            raised = true;
            false
        }
    });
    if !equal && raised {
        return Err(Raised);
    }
    Ok(equal)
}

// ---------------------------------------------------------------------------------------------
// Sets of real numbers: unions of intervals, for set equality and relations' solution sets.

#[derive(Clone, Copy, Debug)]
struct Piece {
    lo: f64,
    hi: f64,
    lo_closed: bool,
    hi_closed: bool,
}

#[derive(Debug)]
struct RealSet(Vec<Piece>);

fn same_point(x: f64, y: f64) -> bool {
    if x.is_infinite() || y.is_infinite() {
        return x == y;
    }
    (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
}

impl RealSet {
    fn normalized(mut pieces: Vec<Piece>) -> RealSet {
        pieces.retain(|p| p.lo < p.hi || (same_point(p.lo, p.hi) && p.lo_closed && p.hi_closed));
        // By lower end, closed ends first.
        pieces.sort_by(|a, b| {
            a.lo.partial_cmp(&b.lo)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(b.lo_closed.cmp(&a.lo_closed))
        });
        let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
        for p in pieces {
            if let Some(last) = out.last_mut() {
                let at_end = same_point(p.lo, last.hi);
                let overlaps =
                    (p.lo < last.hi && !at_end) || (at_end && (p.lo_closed || last.hi_closed));
                if overlaps {
                    if same_point(p.lo, last.lo) {
                        last.lo_closed |= p.lo_closed;
                    }
                    if same_point(p.hi, last.hi) {
                        last.hi_closed |= p.hi_closed;
                    } else if p.hi > last.hi {
                        last.hi = p.hi;
                        last.hi_closed = p.hi_closed;
                    }
                    continue;
                }
            }
            out.push(p);
        }
        RealSet(out)
    }

    fn same(&self, other: &RealSet) -> bool {
        self.0.len() == other.0.len()
            && self.0.iter().zip(&other.0).all(|(a, b)| {
                same_point(a.lo, b.lo)
                    && same_point(a.hi, b.hi)
                    && (a.lo.is_infinite() || a.lo_closed == b.lo_closed)
                    && (a.hi.is_infinite() || a.hi_closed == b.hi_closed)
            })
    }

    fn into_node(self) -> Node {
        let parts: Vec<Node> = self
            .0
            .into_iter()
            .map(|p| {
                if same_point(p.lo, p.hi) {
                    Node::Set(vec![Node::Float(p.lo)])
                } else {
                    Node::Interval(
                        Box::new(Node::Float(p.lo)),
                        Box::new(Node::Float(p.hi)),
                        !p.lo_closed,
                        !p.hi_closed,
                    )
                }
            })
            .collect();
        match parts.len() {
            0 => Node::Special(SetKind::Empty),
            1 => parts
                .into_iter()
                .next()
                .unwrap_or(Node::Special(SetKind::Empty)),
            _ => Node::Union(parts),
        }
    }
}

fn constant(node: &Node) -> Option<f64> {
    if has_symbols(node) {
        return None;
    }
    let v = eval(node, 0);
    (!v.is_nan()).then_some(v)
}

/// A set of reals with numeric bounds, as sorted disjoint pieces.
fn real_set(node: &Node) -> Option<RealSet> {
    let mut pieces = Vec::new();
    collect_pieces(node, &mut pieces, 0)?;
    Some(RealSet::normalized(pieces))
}

fn collect_pieces(node: &Node, out: &mut Vec<Piece>, depth: usize) -> Option<()> {
    if depth > 16 || out.len() > 256 {
        return None;
    }
    match node {
        Node::Interval(lo, hi, lo_open, hi_open) => out.push(Piece {
            lo: constant(lo)?,
            hi: constant(hi)?,
            lo_closed: !lo_open,
            hi_closed: !hi_open,
        }),
        Node::Set(items) => {
            for item in items {
                let v = constant(item)?;
                if !v.is_finite() {
                    return None;
                }
                out.push(Piece {
                    lo: v,
                    hi: v,
                    lo_closed: true,
                    hi_closed: true,
                });
            }
        }
        Node::Union(parts) => {
            for p in parts {
                collect_pieces(p, out, depth + 1)?;
            }
        }
        Node::Special(SetKind::Reals) => out.push(Piece {
            lo: f64::NEG_INFINITY,
            hi: f64::INFINITY,
            lo_closed: false,
            hi_closed: false,
        }),
        Node::Special(SetKind::Empty) => {}
        _ => return None,
    }
    Some(())
}

/// Undefined functions as symbols, as Math-Verify's `unwrap_fcs` does before `as_set`.
fn unwrap_functions(node: &Node) -> Node {
    match node {
        Node::Apply(name, args) => {
            let printed: Vec<String> = args
                .iter()
                .map(|a| print(a).unwrap_or_else(|| "?".into()))
                .collect();
            Node::Sym(format!("{name}_{}", printed.join("_")).into())
        }
        Node::Rel(op, a, b) => Node::Rel(
            *op,
            Box::new(unwrap_functions(a)),
            Box::new(unwrap_functions(b)),
        ),
        Node::And(parts) => Node::And(parts.iter().map(unwrap_functions).collect()),
        Node::Add(parts) => Node::Add(parts.iter().map(unwrap_functions).collect()),
        Node::Mul(parts) => Node::Mul(parts.iter().map(unwrap_functions).collect()),
        Node::Pow(a, b) => Node::Pow(Box::new(unwrap_functions(a)), Box::new(unwrap_functions(b))),
        Node::Fun(f, a) => Node::Fun(*f, Box::new(unwrap_functions(a))),
        other => other.clone(),
    }
}

/// The solution set over the reals of a relation (or chain) in one unknown (`as_set`), found
/// numerically: sign changes of each side's difference on a wide grid, refined by bisection, then
/// the relation tested at each boundary and between boundaries.
fn truth_set(relation: &Node) -> Option<RealSet> {
    let relation = unwrap_functions(relation);
    let mut names = Vec::new();
    symbols_of(&relation, &mut names, 2);
    if names.len() != 1 {
        return None;
    }
    let name = names[0].to_string();
    let rels: Vec<(&Rel, Node)> = match &relation {
        Node::Rel(op, ..) => vec![(op, difference(&relation, false)?)],
        Node::And(parts) => parts
            .iter()
            .map(|p| match p {
                Node::Rel(op, ..) => Some((op, difference(p, false)?)),
                _ => None,
            })
            .collect::<Option<_>>()?,
        _ => return None,
    };
    let at = |d: &Node, t: f64| eval_with(d, &|s: &str| if s == name { t } else { f64::NAN });
    let mut grid: Vec<f64> = (-400..=400).map(|k| k as f64 * 0.125).collect();
    let mut g = 50.0;
    while g < 1e7 {
        g *= 1.3;
        grid.push(g);
        grid.push(-g);
    }
    grid.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let mut critical: Vec<f64> = Vec::new();
    for (_, d) in &rels {
        let values: Vec<f64> = grid.iter().map(|&t| at(d, t)).collect();
        for k in 0..grid.len() {
            let v = values[k];
            if v.is_finite() && v.abs() < 1e-12 {
                critical.push(grid[k]);
            }
            if k + 1 == grid.len() {
                break;
            }
            let w = values[k + 1];
            let (mut lo, mut hi) = (grid[k], grid[k + 1]);
            let sign_change =
                v.is_finite() && w.is_finite() && (v < 0.0) != (w < 0.0) && v != 0.0 && w != 0.0;
            let domain_edge = v.is_nan() != w.is_nan();
            if !(sign_change || domain_edge) {
                continue;
            }
            let lo_nan = v.is_nan();
            let lo_neg = v < 0.0;
            for _ in 0..80 {
                let mid = 0.5 * (lo + hi);
                let m = at(d, mid);
                let left = if domain_edge {
                    m.is_nan() == lo_nan
                } else {
                    m.is_finite() && (m < 0.0) == lo_neg
                };
                if left {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let root = 0.5 * (lo + hi);
            // Snap to a nearby simple rational (roots are usually exact numbers).
            critical.push(snap(root));
        }
    }
    critical.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    critical.dedup_by(|a, b| same_point(*a, *b));
    if critical.len() > 64 {
        return None;
    }
    let holds = |t: f64| {
        rels.iter().all(|(op, d)| {
            let v = at(d, t);
            !v.is_nan() && op_holds(**op, v, 1e-9 * t.abs().max(1.0))
        })
    };
    let mut pieces = Vec::new();
    let mut points: Vec<f64> = vec![f64::NEG_INFINITY];
    points.extend(&critical);
    points.push(f64::INFINITY);
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        let mid = match (a.is_infinite(), b.is_infinite()) {
            (true, true) => 0.0,
            (true, false) => b - 1.0 - b.abs() * 0.5,
            (false, true) => a + 1.0 + a.abs() * 0.5,
            _ => 0.5 * (a + b),
        };
        if holds(mid) {
            pieces.push(Piece {
                lo: a,
                hi: b,
                lo_closed: a.is_finite() && holds(a),
                hi_closed: b.is_finite() && holds(b),
            });
        }
    }
    for &c in &critical {
        if holds(c) {
            pieces.push(Piece {
                lo: c,
                hi: c,
                lo_closed: true,
                hi_closed: true,
            });
        }
    }
    Some(RealSet::normalized(pieces))
}

fn op_holds(op: Rel, difference: f64, tolerance: f64) -> bool {
    let zero = difference.abs() <= tolerance;
    match op {
        Rel::Eq => zero,
        Rel::Ne => !zero,
        Rel::Lt => !zero && difference < 0.0,
        Rel::Le => zero || difference < 0.0,
        Rel::Gt => !zero && difference > 0.0,
        Rel::Ge => zero || difference > 0.0,
    }
}

/// A root found by bisection, moved onto a fraction with a small denominator when one is that
/// close.
fn snap(x: f64) -> f64 {
    for q in 1..=64 {
        let p = (x * q as f64).round();
        let candidate = p / q as f64;
        if (candidate - x).abs() <= 1e-9 * x.abs().max(1.0) {
            return candidate;
        }
    }
    x
}
