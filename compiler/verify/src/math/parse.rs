//! A recursive-descent parser for the grammar latex2sympy2_extended gives Math-Verify, building
//! the same objects its converter builds (`2 \frac{1}{2}` is a mixed number, `2 3` is 5, `f(x)`
//! applies `f` but `x(x+1)` multiplies, `(1,2)` is an open interval, `(2,1)` a tuple, `x=1,2`
//! assigns a set...). Nesting is bounded by `MAX_DEPTH` and the total work by a budget
//! proportional to the number of tokens, so any input parses (or fails) quickly.

use super::lexer::{Br, Tok, Token, greek_name, tokenize};
use super::node::{
    Const, Fun, MAX_DEPTH, Node, Rel, SetKind, add_flat, eval, gcd, has_symbols, mul_flat,
};

/// Longer LaTeX is not parsed (Math-Verify would try; answers this long are not expressions).
const MAX_LEN: usize = 4_000;

struct Parser<'s> {
    src: &'s str,
    toks: Vec<Token>,
    at: usize,
    depth: usize,
    /// Work left; each grammar step spends one.
    fuel: usize,
    /// Open `|...|` groups: inside one, `|` closes instead of opening.
    bars: usize,
}

/// latex2sympy's `parse`: the object `latex` stands for, or `None` where it would raise.
pub(super) fn parse_latex(latex: &str) -> Option<Node> {
    if latex.len() > MAX_LEN {
        return None;
    }
    let toks = tokenize(latex)?;
    if toks.is_empty() {
        return None;
    }
    let fuel = 64 * toks.len() + 256;
    let mut p = Parser {
        src: latex,
        toks,
        at: 0,
        depth: 0,
        fuel,
        bars: 0,
    };
    p.math()
}

fn is_comma_number(s: &str) -> bool {
    // ^\s*-?\d{1,3}(,\d{3})+(\.\d+)?\s*$
    let s = s.trim();
    let s = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match s.find('.') {
        Some(dot) => (&s[..dot], Some(&s[dot + 1..])),
        None => (s, None),
    };
    if let Some(frac) = frac
        && (frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    let mut groups = int.split(',');
    let first = groups.next().unwrap_or("");
    let mut count = 0;
    if !(1..=3).contains(&first.len()) || !first.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    for g in groups {
        if g.len() != 3 || !g.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        count += 1;
    }
    count > 0
}

/// latex2sympy's `convert_number` for `1,234.5` (and `0,111` as a decimal comma).
fn comma_number(s: &str) -> Option<Node> {
    let s = s.trim();
    let text: String = if s.contains(',') && s.starts_with('0') {
        s.replace(',', ".")
    } else {
        s.chars().filter(|c| *c != ',' && *c != ' ').collect()
    };
    number(&text)
}

/// SymPy's `Number(text)` after latex2sympy strips leading zeros of plain integers.
pub(super) fn number(text: &str) -> Option<Node> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        let trimmed = digits.trim_start_matches('0');
        let trimmed = if trimmed.is_empty() { "0" } else { trimmed };
        return Some(match trimmed.parse::<i128>() {
            Ok(n) => Node::Int(if negative { -n } else { n }),
            Err(_) => Node::BigInt(negative, trimmed.into()),
        });
    }
    let value: f64 = text.parse().ok()?;
    Some(Node::Float(value))
}

/// A symbol as latex2sympy's `get_symbol` names it (lowercased; `pi` and `gamma` are constants).
fn symbol(name: &str) -> Node {
    let lower = name.to_lowercase();
    match lower.as_str() {
        "pi" => Node::Const(Const::Pi),
        "gamma" => Node::Const(Const::EulerGamma),
        _ => Node::Sym(lower.into()),
    }
}

/// Whether an expression is made of symbols only (`x`, `AB`, `A/B`, `f(x)`, `(p, q)`): the left
/// side of an assignment.
pub(super) fn only_symbols(node: &Node) -> bool {
    match node {
        Node::Sym(_) => true,
        Node::Pow(base, exp) if matches!(**exp, Node::Int(-1)) => only_symbols(base),
        Node::Pow(a, b) => only_symbols(a) && only_symbols(b),
        Node::Add(parts) | Node::Mul(parts) | Node::Tuple(parts) | Node::Apply(_, parts) => {
            !parts.is_empty() && parts.iter().all(only_symbols)
        }
        Node::Fun(_, a) => only_symbols(a),
        _ => false,
    }
}

fn as_unary_minus(node: Node) -> Node {
    match node {
        Node::Int(_) | Node::Rat(..) | Node::BigInt(..) => node.negate(),
        other => Node::Mul(vec![Node::Int(-1), other]),
    }
}

/// Elementwise or matrix arithmetic, as SymPy's `MatAdd`/`MatMul` would evaluate.
fn mat_add(a: Node, b: Node) -> Option<Node> {
    match (a, b) {
        (Node::Matrix(r, c, x), Node::Matrix(r2, c2, y)) if r == r2 && c == c2 => {
            Some(Node::Matrix(
                r,
                c,
                x.into_iter().zip(y).map(|(p, q)| add_flat(p, q)).collect(),
            ))
        }
        _ => None,
    }
}

fn mat_mul(a: Node, b: Node) -> Option<Node> {
    match (a, b) {
        (Node::Matrix(r, k, x), Node::Matrix(k2, c, y)) => {
            if k != k2 || r * c > 256 {
                return None;
            }
            let mut out = Vec::with_capacity(r * c);
            for i in 0..r {
                for j in 0..c {
                    let terms = (0..k)
                        .map(|t| mul_flat(x[i * k + t].clone(), y[t * c + j].clone()))
                        .collect();
                    out.push(Node::Add(terms));
                }
            }
            Some(Node::Matrix(r, c, out))
        }
        (Node::Matrix(r, c, x), s) | (s, Node::Matrix(r, c, x)) => Some(Node::Matrix(
            r,
            c,
            x.into_iter().map(|e| mul_flat(s.clone(), e)).collect(),
        )),
        (a, b) => Some(mul_flat(a, b)),
    }
}

/// Whether `b <= a` (`strict`: `b < a`) for numeric endpoints; `None` when not decidable.
fn not_increasing(a: &Node, b: &Node, strict: bool) -> Option<bool> {
    if has_symbols(a) || has_symbols(b) {
        return None;
    }
    let (x, y) = (eval(a, 0), eval(b, 0));
    if x.is_nan() || y.is_nan() {
        return None;
    }
    Some(if strict { y < x } else { y <= x })
}

impl<'s> Parser<'s> {
    fn tok(&self) -> Option<Tok> {
        self.toks.get(self.at).map(|t| t.tok)
    }

    fn peek(&self, k: usize) -> Option<Tok> {
        self.toks.get(self.at + k).map(|t| t.tok)
    }

    fn text(&self, i: usize) -> &'s str {
        let t = self.toks[i];
        &self.src[t.start..t.end]
    }

    /// The tokens from `from` to the current position, concatenated (ANTLR's `getText`).
    fn text_since(&self, from: usize) -> String {
        (from..self.at).map(|i| self.text(i)).collect()
    }

    fn eat(&mut self, tok: Tok) -> bool {
        if self.tok() == Some(tok) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: Tok) -> Option<()> {
        self.eat(tok).then_some(())
    }

    fn step(&mut self) -> Option<()> {
        self.fuel = self.fuel.checked_sub(1)?;
        Some(())
    }

    fn enter(&mut self) -> Option<()> {
        self.step()?;
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    fn leave<T>(&mut self, value: Option<T>) -> Option<T> {
        self.depth -= 1;
        value
    }

    fn at_end(&self) -> bool {
        self.at == self.toks.len()
    }

    // -----------------------------------------------------------------------------------------
    // Top level: `math: set_elements_relation | set_elements | set_relation`.

    fn math(&mut self) -> Option<Node> {
        if let Some(node) = self.set_elements_relation()
            && self.at_end()
        {
            return Some(node);
        }
        self.at = 0;
        self.depth = 0;
        self.bars = 0;
        if let Some(groups) = self.semicolon_elements(false)
            && self.at_end()
        {
            if is_comma_number(self.src) {
                return comma_number(self.src);
            }
            return Some(elements_to_set_or_tuple(groups));
        }
        self.at = 0;
        self.depth = 0;
        self.bars = 0;
        let node = self.set_relation()?;
        self.at_end().then_some(node)
    }

    /// `atom_expr_list (\in | =) semicolon_elements_no_relation`
    fn set_elements_relation(&mut self) -> Option<Node> {
        let lhs = self.atom_expr_list()?;
        if !matches!(self.tok(), Some(Tok::In | Tok::Assign)) {
            return None;
        }
        self.at += 1;
        let groups = self.semicolon_elements(true)?;
        let rhs = elements_to_set_or_tuple(groups);
        Some(Node::Rel(Rel::Eq, Box::new(lhs), Box::new(rhs)))
    }

    fn atom_expr_list(&mut self) -> Option<Node> {
        if self.eat(Tok::Open(Br::Paren)) {
            let mut items = vec![self.atom_expr()?];
            while self.eat(Tok::Comma) {
                items.push(self.atom_expr()?);
            }
            self.expect(Tok::Close(Br::Paren))?;
            return Some(if items.len() == 1 {
                items.pop()?
            } else {
                Node::Tuple(items)
            });
        }
        self.atom_expr()
    }

    fn semicolon_elements(&mut self, no_relation: bool) -> Option<Vec<Vec<Node>>> {
        self.enter()?;
        let mut groups = Vec::new();
        let result = loop {
            let mut group = match self.element(no_relation) {
                Some(g) => g,
                None => break None,
            };
            let mut ok = true;
            while self.eat(Tok::Comma) {
                match self.element(no_relation) {
                    Some(more) => group.extend(more),
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if !ok {
                break None;
            }
            groups.push(group);
            if !self.eat(Tok::Semicolon) {
                break Some(groups);
            }
        };
        self.leave(result)
    }

    fn at_element_end(&self) -> bool {
        matches!(
            self.tok(),
            None | Some(Tok::Comma | Tok::Semicolon | Tok::Close(_))
        )
    }

    /// `element: plus_minus_expr | set_atom | relation` (`expr` instead of `relation` in
    /// `element_no_relation`).
    fn element(&mut self, no_relation: bool) -> Option<Vec<Node>> {
        self.enter()?;
        let result = self.element_inner(no_relation);
        self.leave(result)
    }

    fn element_inner(&mut self, no_relation: bool) -> Option<Vec<Node>> {
        if self.eat(Tok::PlusMinus) {
            let e = self.expr()?;
            return Some(vec![as_unary_minus(e.clone()), e]);
        }
        let start = self.at;
        let bars = self.bars;
        if let Some(e) = self.expr() {
            if self.eat(Tok::PlusMinus) {
                let r = self.expr()?;
                return Some(vec![
                    Node::Add(vec![e.clone(), r.clone()]),
                    Node::Add(vec![e, as_unary_minus(r)]),
                ]);
            }
            if self.at_element_end() {
                // `{5}` is a one-element set, not a group.
                let braced = matches!(self.toks[start].tok, Tok::Open(Br::Brace | Br::BraceV))
                    && self.at == self.matching_close(start).map_or(usize::MAX, |c| c + 1);
                return Some(vec![if braced { Node::Set(vec![e]) } else { e }]);
            }
            if !no_relation && is_relation_op(self.tok()) {
                return Some(vec![self.relation_from(e)?]);
            }
        }
        self.at = start;
        self.bars = bars;
        let atom = self.set_atom()?;
        self.at_element_end().then_some(vec![atom])
    }

    /// The index of the token closing the bracket opened at `open`.
    fn matching_close(&self, open: usize) -> Option<usize> {
        let mut depth = 0usize;
        for i in open..self.toks.len() {
            match self.toks[i].tok {
                Tok::Open(_) => depth += 1,
                Tok::Close(_) => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            }
        }
        None
    }

    fn relation_from(&mut self, first: Node) -> Option<Node> {
        let mut lh = first;
        while let Some(op) = self.tok().filter(|t| is_relation_op(Some(*t))) {
            self.at += 1;
            let rh = self.expr()?;
            lh = match op {
                Tok::Approx => {
                    if only_symbols(&lh) {
                        rh
                    } else {
                        lh
                    }
                }
                Tok::In => return None,
                _ => {
                    let rel = match op {
                        Tok::Lt => Rel::Lt,
                        Tok::Le => Rel::Le,
                        Tok::Gt => Rel::Gt,
                        Tok::Ge => Rel::Ge,
                        Tok::Ne => Rel::Ne,
                        _ => Rel::Eq,
                    };
                    chain(lh, rel, rh)
                }
            };
        }
        Some(lh)
    }

    // -----------------------------------------------------------------------------------------
    // Sets.

    fn set_relation(&mut self) -> Option<Node> {
        self.enter()?;
        let start = self.at;
        if let Some(lhs) = self.atom_expr_list()
            && let Some(op @ (Tok::In | Tok::NotIn | Tok::Assign)) = self.tok()
        {
            self.at += 1;
            let rhs = self.set_relation();
            let result = rhs.map(|rhs| {
                let eq = Node::Rel(Rel::Eq, Box::new(lhs), Box::new(rhs));
                if op == Tok::NotIn {
                    Node::Not(Box::new(eq))
                } else {
                    eq
                }
            });
            return self.leave(result);
        }
        self.at = start;
        let result = self.minus_expr();
        self.leave(result)
    }

    fn minus_expr(&mut self) -> Option<Node> {
        let mut node = self.union_expr()?;
        while self.eat(Tok::SetMinus) {
            let rhs = self.union_expr()?;
            if matches!(node, Node::Complement(..)) && matches!(rhs, Node::Complement(..)) {
                return None;
            }
            node = Node::Complement(Box::new(node), Box::new(rhs));
        }
        Some(node)
    }

    fn union_expr(&mut self) -> Option<Node> {
        let mut node = self.intersection_expr()?;
        while self.eat(Tok::Union) {
            let rhs = self.intersection_expr()?;
            node = match node {
                Node::Union(mut parts) if parts.len() < 256 => {
                    parts.push(tuple_to_set(rhs));
                    Node::Union(parts)
                }
                Node::Union(_) => return None,
                other => Node::Union(vec![tuple_to_set(other), tuple_to_set(rhs)]),
            };
        }
        Some(node)
    }

    fn intersection_expr(&mut self) -> Option<Node> {
        let mut node = self.set_group()?;
        while self.eat(Tok::Inter) {
            let rhs = self.set_group()?;
            node = match node {
                Node::Intersection(mut parts) if parts.len() < 256 => {
                    parts.push(tuple_to_set(rhs));
                    Node::Intersection(parts)
                }
                Node::Intersection(_) => return None,
                other => Node::Intersection(vec![tuple_to_set(other), tuple_to_set(rhs)]),
            };
        }
        Some(node)
    }

    fn set_group(&mut self) -> Option<Node> {
        self.enter()?;
        let start = self.at;
        if self.eat(Tok::Open(Br::Paren))
            && let Some(inner) = self.minus_expr()
            && self.eat(Tok::Close(Br::Paren))
        {
            return self.leave(Some(inner));
        }
        self.at = start;
        let result = self.set_atom();
        self.leave(result)
    }

    /// `interval | literal_set | ordered_tuple | finite_set`
    fn set_atom(&mut self) -> Option<Node> {
        self.enter()?;
        let result = self.set_atom_inner();
        self.leave(result)
    }

    fn set_atom_inner(&mut self) -> Option<Node> {
        let start = self.at;
        let bars = self.bars;
        match self.tok()? {
            Tok::Open(open @ (Br::Bracket | Br::Paren | Br::ParenV | Br::Brack | Br::Group)) => {
                self.at += 1;
                if let Some(lo) = self.expr()
                    && self.eat(Tok::Comma)
                    && let Some(hi) = self.expr()
                    && let Some(Tok::Close(
                        close @ (Br::Bracket | Br::Paren | Br::ParenV | Br::Brack | Br::Group),
                    )) = self.tok()
                {
                    self.at += 1;
                    let lo_open = matches!(open, Br::Paren | Br::Group | Br::ParenV);
                    let hi_open = matches!(close, Br::Paren | Br::Group | Br::ParenV);
                    return interval(lo, hi, lo_open, hi_open);
                }
                self.at = start;
                self.bars = bars;
                if matches!(open, Br::Paren | Br::ParenV | Br::Bracket) {
                    self.at += 1;
                    let groups = self.semicolon_elements(false)?;
                    self.expect(Tok::Close(open))?;
                    let mut items: Vec<Node> = groups.into_iter().flatten().collect();
                    return Some(if items.len() == 1 {
                        items.pop()?
                    } else {
                        Node::Tuple(items)
                    });
                }
                None
            }
            Tok::SetLit(kind) => {
                self.at += 1;
                Some(Node::Special(kind))
            }
            Tok::Open(Br::Brace) if self.peek(1) == Some(Tok::Close(Br::Brace)) => {
                self.at += 2;
                Some(Node::Special(SetKind::Empty))
            }
            Tok::Open(open @ (Br::Brace | Br::BraceV)) => {
                self.at += 1;
                let groups = self.semicolon_elements(false)?;
                self.expect(Tok::Close(open))?;
                Some(Node::Set(groups.into_iter().flatten().collect()))
            }
            Tok::Boxed if self.peek(1) == Some(Tok::Open(Br::Brace)) => {
                self.at += 2;
                let groups = self.semicolon_elements(false)?;
                self.expect(Tok::Close(Br::Brace))?;
                Some(elements_to_set_or_tuple(groups))
            }
            _ => None,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Expressions.

    fn expr(&mut self) -> Option<Node> {
        self.enter()?;
        let result = self.additive();
        self.leave(result)
    }

    fn additive(&mut self) -> Option<Node> {
        let mut node = self.mp(false)?;
        while let Some(op @ (Tok::Add | Tok::Sub)) = self.tok() {
            self.at += 1;
            let rhs = self.mp(false)?;
            node = if node.is_matrix() || rhs.is_matrix() {
                let rhs = if op == Tok::Sub {
                    mat_mul(Node::Int(-1), rhs)?
                } else {
                    rhs
                };
                mat_add(node, rhs)?
            } else if op == Tok::Add {
                add_flat(node, rhs)
            } else if rhs.is_number() {
                add_flat(node, rhs.negate())
            } else {
                add_flat(node, mul_flat(Node::Int(-1), rhs))
            };
        }
        Some(node)
    }

    /// `mp` (`mp_nofunc` when `nofunc`): products, quotients, ratios and `\mod`.
    fn mp(&mut self, nofunc: bool) -> Option<Node> {
        self.enter()?;
        let result = self.mp_inner(nofunc);
        self.leave(result)
    }

    fn mp_inner(&mut self, nofunc: bool) -> Option<Node> {
        let mut node = self.unary(nofunc)?;
        let mut chained = 0;
        loop {
            match self.tok() {
                Some(Tok::Mul) => {
                    self.at += 1;
                    let rhs = self.unary(nofunc)?;
                    node = if node.is_matrix() || rhs.is_matrix() {
                        mat_mul(node, rhs)?
                    } else {
                        mul_flat(node, rhs)
                    };
                }
                Some(Tok::Div | Tok::Colon) => {
                    self.at += 1;
                    let rhs = self.unary(nofunc)?;
                    if rhs.is_matrix() {
                        return None;
                    }
                    node = divide(node, rhs);
                }
                Some(Tok::Mod) => {
                    self.at += 1;
                    let rhs = self.unary(nofunc)?;
                    chained += 1;
                    if chained > 16 {
                        return None;
                    }
                    node = Node::Mod(Box::new(node), Box::new(rhs));
                }
                _ => break,
            }
        }
        Some(node)
    }

    fn unary(&mut self, nofunc: bool) -> Option<Node> {
        self.enter()?;
        let result = self.unary_inner(nofunc);
        self.leave(result)
    }

    fn unary_inner(&mut self, nofunc: bool) -> Option<Node> {
        if self.eat(Tok::Add) {
            return self.unary(nofunc);
        }
        if self.eat(Tok::Sub) {
            let inner = self.unary(nofunc)?;
            return Some(match inner {
                Node::Matrix(r, c, items) => {
                    Node::Matrix(r, c, items.into_iter().map(Node::negate).collect())
                }
                other => other.negate(),
            });
        }
        // postfix+ (postfix postfix_nofunc* in the nofunc variant)
        let mut items = vec![self.postfix(false)?];
        while self.can_start_postfix(nofunc) {
            if items.len() > 256 {
                return None;
            }
            items.push(self.postfix(nofunc)?);
        }
        postfix_list(items)
    }

    /// Whether the next token starts another factor of an implicit product (`postfix_nofunc`
    /// excludes functions: `\sin x \cos y` ends the sine's argument at `\cos`).
    fn can_start_postfix(&self, nofunc: bool) -> bool {
        let Some(tok) = self.tok() else {
            return false;
        };
        if nofunc
            && matches!(
                tok,
                Tok::Func(_)
                    | Tok::Multi(_)
                    | Tok::OperatorName
                    | Tok::Int
                    | Tok::Sqrt
                    | Tok::Sum
                    | Tok::Prod
                    | Tok::Lim
                    | Tok::ExpE
            )
        {
            return false;
        }
        match tok {
            Tok::Open(
                Br::Paren
                | Br::Group
                | Br::Brace
                | Br::Bracket
                | Br::BraceV
                | Br::BraceCmd
                | Br::Brack,
            ) => true,
            Tok::Bar => self.bars == 0,
            Tok::Vert => self.bars == 0,
            Tok::Phantom
            | Tok::Boxed
            | Tok::Norm
            | Tok::LVert
            | Tok::LFloor
            | Tok::LCeil
            | Tok::Func(_)
            | Tok::Multi(_)
            | Tok::OperatorName
            | Tok::Letter(_)
            | Tok::Greek
            | Tok::OtherSym
            | Tok::Accent
            | Tok::Int
            | Tok::Sqrt
            | Tok::Sum
            | Tok::Prod
            | Tok::Lim
            | Tok::ExpE
            | Tok::Num
            | Tok::PctNum(_)
            | Tok::ENum
            | Tok::BigE
            | Tok::Diff
            | Tok::Gamma
            | Tok::Infty
            | Tok::Partial
            | Tok::Frac
            | Tok::Binom
            | Tok::MatStart
            | Tok::ArrStart
            | Tok::DetStart => true,
            _ => false,
        }
    }

    fn postfix(&mut self, nofunc: bool) -> Option<Node> {
        self.enter()?;
        let result = self.postfix_inner(nofunc);
        self.leave(result)
    }

    fn postfix_inner(&mut self, nofunc: bool) -> Option<Node> {
        let mut node = self.exp(nofunc)?;
        let mut bangs = 0;
        loop {
            match self.tok() {
                Some(Tok::Bang) => {
                    self.at += 1;
                    bangs += 1;
                    if bangs > 4 {
                        return None;
                    }
                    node = Node::Fun(Fun::Factorial, Box::new(node));
                }
                Some(Tok::Transpose) => {
                    self.at += 1;
                    if let Node::Matrix(r, c, items) = node {
                        let mut t = Vec::with_capacity(items.len());
                        for j in 0..c {
                            for i in 0..r {
                                t.push(items[i * c + j].clone());
                            }
                        }
                        node = Node::Matrix(c, r, t);
                    }
                }
                Some(Tok::Degree) => self.at += 1,
                _ => break,
            }
        }
        Some(node)
    }

    fn exp(&mut self, nofunc: bool) -> Option<Node> {
        let mut base = self.comp(nofunc)?;
        let mut chain = 0;
        while self.eat(Tok::Caret) {
            chain += 1;
            if chain > 8 {
                return None;
            }
            let exponent = self.exponent()?;
            if self.tok() == Some(Tok::Under) {
                self.subexpr_text()?;
            }
            if base.is_matrix() {
                return None;
            }
            base = Node::Pow(Box::new(base), Box::new(exponent));
        }
        Some(base)
    }

    /// `atom | { expr }` after `^`.
    fn exponent(&mut self) -> Option<Node> {
        if self.eat(Tok::Open(Br::Brace)) {
            let e = self.expr()?;
            self.expect(Tok::Close(Br::Brace))?;
            return Some(e);
        }
        self.atom()
    }

    fn comp(&mut self, nofunc: bool) -> Option<Node> {
        self.enter()?;
        let result = self.comp_inner(nofunc);
        self.leave(result)
    }

    fn comp_inner(&mut self, nofunc: bool) -> Option<Node> {
        match self.tok()? {
            Tok::Open(
                open @ (Br::Paren
                | Br::Group
                | Br::Brace
                | Br::Bracket
                | Br::BraceV
                | Br::BraceCmd
                | Br::Brack),
            ) => {
                self.at += 1;
                let saved = self.bars;
                self.bars = 0;
                let e = self.expr();
                self.bars = saved;
                let e = e?;
                if open == Br::Brace && self.eat(Tok::Choose) {
                    let k = self.expr()?;
                    self.expect(Tok::Close(Br::Brace))?;
                    return Some(Node::Binom(Box::new(e), Box::new(k)));
                }
                self.expect(Tok::Close(open))?;
                Some(e)
            }
            Tok::Phantom | Tok::Boxed => {
                self.at += 1;
                self.expect(Tok::Open(Br::Brace))?;
                let e = self.expr()?;
                self.expect(Tok::Close(Br::Brace))?;
                Some(e)
            }
            Tok::Norm => {
                self.at += 1;
                let e = self.expr()?;
                self.expect(Tok::Norm)?;
                Some(Node::Fun(Fun::Abs, Box::new(e)))
            }
            Tok::Bar | Tok::Vert | Tok::LVert => {
                let open = self.tok()?;
                self.at += 1;
                self.bars += 1;
                let e = self.expr();
                self.bars -= 1;
                let e = e?;
                let close = if open == Tok::LVert { Tok::RVert } else { open };
                self.expect(close)?;
                Some(Node::Fun(Fun::Abs, Box::new(e)))
            }
            Tok::LFloor | Tok::LCeil => {
                let open = self.tok()?;
                self.at += 1;
                let e = self.expr()?;
                let (close, f) = if open == Tok::LFloor {
                    (Tok::RFloor, Fun::Floor)
                } else {
                    (Tok::RCeil, Fun::Ceil)
                };
                self.expect(close)?;
                Some(Node::Fun(f, Box::new(e)))
            }
            Tok::Func(_)
            | Tok::Multi(_)
            | Tok::OperatorName
            | Tok::Sqrt
            | Tok::Sum
            | Tok::Prod
            | Tok::Lim
            | Tok::ExpE => {
                if nofunc {
                    return None;
                }
                self.func()
            }
            Tok::Letter(_) | Tok::Greek | Tok::OtherSym | Tok::Accent => {
                if !nofunc {
                    let start = self.at;
                    let bars = self.bars;
                    if let Some(node) = self.applied_function() {
                        return Some(node);
                    }
                    self.at = start;
                    self.bars = bars;
                }
                self.atom()
            }
            Tok::Frac => self.frac(),
            Tok::Binom => {
                self.at += 1;
                let n = self.braced()?;
                let k = self.braced()?;
                Some(Node::Binom(Box::new(n), Box::new(k)))
            }
            Tok::MatStart | Tok::ArrStart => self.matrix(),
            _ => self.atom(),
        }
    }

    fn braced(&mut self) -> Option<Node> {
        self.expect(Tok::Open(Br::Brace))?;
        let e = self.expr()?;
        self.expect(Tok::Close(Br::Brace))?;
        Some(e)
    }

    fn frac(&mut self) -> Option<Node> {
        self.at += 1;
        let upper = self.braced()?;
        let lower = self.braced()?;
        if upper.is_matrix() || lower.is_matrix() {
            return None;
        }
        Some(match (&upper, &lower) {
            (Node::Int(p), Node::Int(q)) => Node::rational(*p, *q),
            _ => Node::Mul(vec![
                upper,
                Node::Pow(Box::new(lower), Box::new(Node::Int(-1))),
            ]),
        })
    }

    fn matrix(&mut self) -> Option<Node> {
        let array = self.tok() == Some(Tok::ArrStart);
        self.at += 1;
        let mut rows: Vec<Vec<Node>> = Vec::new();
        loop {
            let mut row = vec![self.expr()?];
            while self.eat(Tok::Amp) {
                row.push(self.expr()?);
            }
            rows.push(row);
            if !self.eat(Tok::RowSep) {
                break;
            }
            if matches!(self.tok(), Some(Tok::MatEnd | Tok::ArrEnd)) {
                break;
            }
            if rows.len() > 64 {
                return None;
            }
        }
        self.expect(if array { Tok::ArrEnd } else { Tok::MatEnd })?;
        let cols = rows[0].len();
        if rows.iter().any(|r| r.len() != cols) || rows.iter().flatten().any(Node::is_matrix) {
            return None;
        }
        let r = rows.len();
        Some(Node::Matrix(r, cols, rows.into_iter().flatten().collect()))
    }

    /// `f(x)`, `f(x, y)`, `g_1[2]`: a letter applied to one atom or to several arguments.
    fn applied_function(&mut self) -> Option<Node> {
        let start = self.at;
        self.at += 1; // the letter, Greek letter or accent
        if self.tok() == Some(Tok::Under) {
            self.subexpr_text()?;
        }
        let name = self.text_since(start);
        let power = if self.eat(Tok::Caret) {
            Some(self.exponent()?)
        } else {
            None
        };
        let close = match self.tok()? {
            Tok::Open(Br::Paren) => Br::Paren,
            Tok::Open(Br::Bracket) => Br::Bracket,
            _ => return None,
        };
        self.at += 1;
        let args_start = self.at;
        let mut args = Vec::new();
        // A single atom...
        if let Some(a) = self.atom()
            && self.eat(Tok::Close(close))
        {
            args.push(a);
        } else {
            // ...or expressions separated by commas (at least one comma).
            self.at = args_start;
            args.push(self.expr()?);
            self.expect(Tok::Comma)?;
            if !self.eat(Tok::Close(close)) {
                args.push(self.expr()?);
                while self.eat(Tok::Comma) {
                    args.push(self.expr()?);
                }
                self.expect(Tok::Close(close))?;
            }
        }
        let applied = Node::Apply(name.into(), args);
        Some(match power {
            Some(p) => Node::Pow(Box::new(applied), Box::new(p)),
            None => applied,
        })
    }

    /// `_ atom` or `_{...}`: the subscript's text.
    fn subexpr_text(&mut self) -> Option<String> {
        self.expect(Tok::Under)?;
        if self.eat(Tok::Open(Br::Brace)) {
            let start = self.at;
            self.expr()?;
            while self.eat(Tok::Comma) {
                self.expr()?;
            }
            let text = self.text_since(start);
            self.expect(Tok::Close(Br::Brace))?;
            return Some(text);
        }
        let start = self.at;
        self.atom()?;
        Some(self.text_since(start))
    }

    /// `atom_expr`: a letter, Greek letter, symbol or accent with optional sub- and superscript.
    fn atom_expr(&mut self) -> Option<Node> {
        self.enter()?;
        let result = self.atom_expr_inner();
        self.leave(result)
    }

    fn atom_expr_inner(&mut self) -> Option<Node> {
        let i = self.at;
        let tok = self.tok()?;
        if !matches!(
            tok,
            Tok::Letter(_) | Tok::Greek | Tok::OtherSym | Tok::Accent
        ) {
            return None;
        }
        self.at += 1;
        let mut sub = None;
        let mut sup = None;
        for _ in 0..2 {
            match self.tok() {
                Some(Tok::Under) if sub.is_none() => sub = Some(self.subexpr_text()?),
                Some(Tok::Caret) if sup.is_none() => {
                    self.at += 1;
                    sup = Some(self.exponent()?);
                }
                _ => break,
            }
        }
        if tok == Tok::Letter(b'I') {
            return Some(Node::Const(Const::I));
        }
        let raw = self.text(i);
        let base = match tok {
            Tok::Letter(c) => (c as char).to_string(),
            Tok::Greek => match (&sub, greek_name(raw)) {
                (None, Some(name)) => name.to_string(),
                _ => raw.trim().trim_start_matches('\\').to_string(),
            },
            Tok::OtherSym => raw.trim().trim_start_matches('\\').to_string(),
            _ => accent_name(raw),
        };
        let name = match &sub {
            Some(s) => {
                let s = s.trim();
                if s.chars().count() > 1 {
                    format!("{base}_{{{s}}}")
                } else {
                    format!("{base}_{s}")
                }
            }
            None => base,
        };
        let sym = symbol(name.trim());
        Some(match sup {
            Some(p) => Node::Pow(Box::new(sym), Box::new(p)),
            None => sym,
        })
    }

    fn atom(&mut self) -> Option<Node> {
        let i = self.at;
        match self.tok()? {
            Tok::Letter(_) | Tok::Greek | Tok::OtherSym | Tok::Accent => self.atom_expr(),
            Tok::Infty => {
                self.at += 1;
                Some(Node::Const(Const::Infinity))
            }
            Tok::Num => {
                self.at += 1;
                let n = number(self.text(i))?;
                if self.tok() == Some(Tok::Under) {
                    self.subexpr_text()?;
                }
                Some(n)
            }
            Tok::PctNum(end) => {
                self.at += 1;
                let n = number(&self.src[self.toks[i].start..end])?;
                Some(Node::Pct(Box::new(n)))
            }
            Tok::ENum => {
                self.at += 1;
                Some(Node::Float(self.text(i).parse().ok()?))
            }
            Tok::BigE => {
                self.at += 1;
                Some(Node::Sym("e".into()))
            }
            Tok::Diff => {
                self.at += 1;
                let text = self.text(i);
                let var = text[1..].trim_start().trim_start_matches('\\');
                Some(Node::Sym(format!("d{var}").into()))
            }
            Tok::Gamma => {
                self.at += 1;
                Some(Node::Const(Const::EulerGamma))
            }
            _ => None,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Functions.

    fn func(&mut self) -> Option<Node> {
        let tok = self.tok()?;
        self.at += 1;
        match tok {
            Tok::Func(name) => self.normal_function(name),
            Tok::Multi(name) => self.multi_function(name),
            Tok::OperatorName => {
                self.expect(Tok::Open(Br::Brace))?;
                let name = match self.tok()? {
                    Tok::Name(n) => n,
                    _ => return None,
                };
                self.at += 1;
                self.expect(Tok::Close(Br::Brace))?;
                match name {
                    "floor" | "ceil" | "arsinh" | "arcsinh" | "arcosh" | "arccosh" | "artanh"
                    | "arctanh" => self.normal_function(name),
                    "gcd" | "lcm" => self.multi_function(name),
                    _ => None,
                }
            }
            Tok::Sqrt => {
                let root = if self.eat(Tok::Open(Br::Bracket)) {
                    let r = self.expr()?;
                    self.expect(Tok::Close(Br::Bracket))?;
                    Some(r)
                } else {
                    None
                };
                let base = self.braced()?;
                let exponent = match root {
                    None => Node::Rat(1, 2),
                    Some(Node::Int(r)) => Node::rational(1, r),
                    Some(Node::Float(r)) => Node::Float(1.0 / r),
                    Some(r) => Node::Pow(Box::new(r), Box::new(Node::Int(-1))),
                };
                Some(Node::Pow(Box::new(base), Box::new(exponent)))
            }
            Tok::Sum | Tok::Prod => {
                // (subeq supexpr | supexpr subeq) mp
                let mut bounds = Vec::new();
                for _ in 0..2 {
                    if self.eat(Tok::Under) {
                        self.expect(Tok::Open(Br::Brace))?;
                        let var = self.expr()?;
                        self.expect(Tok::Assign)?;
                        let lo = self.expr()?;
                        self.expect(Tok::Close(Br::Brace))?;
                        bounds.push(var);
                        bounds.push(lo);
                    } else if self.eat(Tok::Caret) {
                        bounds.push(self.exponent()?);
                    } else {
                        return None;
                    }
                }
                if bounds.len() != 3 {
                    return None;
                }
                let body = self.mp(false)?;
                bounds.push(body);
                Some(Node::Opaque(
                    if tok == Tok::Sum { "sum" } else { "product" },
                    bounds,
                ))
            }
            Tok::Lim => {
                self.expect(Tok::Under)?;
                self.expect(Tok::Open(Br::Brace))?;
                let var = self.atom_expr()?;
                self.expect(Tok::To)?;
                let to = self.expr()?;
                if self.eat(Tok::Caret) {
                    self.expect(Tok::Open(Br::Brace))?;
                    if !self.eat(Tok::Add) {
                        self.expect(Tok::Sub)?;
                    }
                    self.expect(Tok::Close(Br::Brace))?;
                }
                self.expect(Tok::Close(Br::Brace))?;
                let body = self.mp(false)?;
                Some(Node::Opaque("limit", vec![var, to, body]))
            }
            Tok::ExpE => {
                if self.eat(Tok::Caret) {
                    let x = self.exponent()?;
                    Some(Node::Fun(Fun::Exp, Box::new(x)))
                } else {
                    Some(Node::Const(Const::E))
                }
            }
            _ => None,
        }
    }

    /// `\sin x`, `\log_2 8`, `\tan^2(y)`, `\arcsin(x)`...
    fn normal_function(&mut self, name: &'static str) -> Option<Node> {
        let mut base: Option<Node> = None;
        let mut power: Option<Node> = None;
        for _ in 0..2 {
            if self.tok() == Some(Tok::Under) && base.is_none() {
                self.at += 1;
                base = Some(if self.eat(Tok::Open(Br::Brace)) {
                    let e = self.expr()?;
                    self.expect(Tok::Close(Br::Brace))?;
                    e
                } else {
                    self.atom()?
                });
            } else if self.tok() == Some(Tok::Caret) && power.is_none() {
                self.at += 1;
                power = Some(self.exponent()?);
            } else {
                break;
            }
        }
        let arg = if self.tok() == Some(Tok::Open(Br::Paren)) {
            self.at += 1;
            let e = self.expr()?;
            self.expect(Tok::Close(Br::Paren))?;
            e
        } else {
            self.mp(true)?
        };
        let inverse = matches!(power, Some(Node::Int(-1)));
        let f = |fun: Fun| Some(Node::Fun(fun, Box::new(arg.clone())));
        let node = match name {
            "log" => Node::Log(
                Box::new(arg.clone()),
                Box::new(base.unwrap_or(Node::Int(10))),
            ),
            "ln" => Node::Log(
                Box::new(arg.clone()),
                Box::new(base.unwrap_or(Node::Const(Const::E))),
            ),
            "exp" => f(Fun::Exp)?,
            "floor" => f(Fun::Floor)?,
            "ceil" => f(Fun::Ceil)?,
            "arcsin" => f(Fun::Asin)?,
            "arccos" => f(Fun::Acos)?,
            "arctan" => f(Fun::Atan)?,
            "arccsc" => f(Fun::Acsc)?,
            "arcsec" => f(Fun::Asec)?,
            "arccot" => f(Fun::Acot)?,
            "arsinh" | "arcsinh" => f(Fun::Asinh)?,
            "arcosh" | "arccosh" => f(Fun::Acosh)?,
            "artanh" | "arctanh" => f(Fun::Atanh)?,
            "sin" | "cos" | "tan" | "csc" | "sec" | "cot" | "sinh" | "cosh" | "tanh" => {
                let fun = match (name, inverse) {
                    ("sin", false) => Fun::Sin,
                    ("sin", true) => Fun::Asin,
                    ("cos", false) => Fun::Cos,
                    ("cos", true) => Fun::Acos,
                    ("tan", false) => Fun::Tan,
                    ("tan", true) => Fun::Atan,
                    ("csc", false) => Fun::Csc,
                    ("csc", true) => Fun::Acsc,
                    ("sec", false) => Fun::Sec,
                    ("sec", true) => Fun::Asec,
                    ("cot", false) => Fun::Cot,
                    ("cot", true) => Fun::Acot,
                    ("sinh", false) => Fun::Sinh,
                    ("sinh", true) => Fun::Asinh,
                    ("cosh", false) => Fun::Cosh,
                    ("cosh", true) => Fun::Acosh,
                    ("tanh", false) => Fun::Tanh,
                    _ => Fun::Atanh,
                };
                if inverse {
                    power = None;
                }
                f(fun)?
            }
            _ => return None,
        };
        Some(match power {
            Some(p) if !matches!(p, Node::Int(0)) => Node::Pow(Box::new(node), Box::new(p)),
            _ => node,
        })
    }

    /// `\gcd(a, b)`, `\max(a, b, c)`...
    fn multi_function(&mut self, name: &'static str) -> Option<Node> {
        let mut power = None;
        let args = if self.eat(Tok::Open(Br::Paren)) {
            let mut args = vec![self.expr()?];
            while self.eat(Tok::Comma) {
                args.push(self.expr()?);
            }
            self.expect(Tok::Close(Br::Paren))?;
            args
        } else {
            vec![self.mp(true)?]
        };
        if self.eat(Tok::Caret) {
            power = Some(self.exponent()?);
        }
        let node = match name {
            "max" => Node::Max(args),
            "min" => Node::Min(args),
            _ => {
                let mut acc: Option<i128> = None;
                for a in &args {
                    let Node::Int(n) = a else {
                        return None;
                    };
                    acc = Some(match acc {
                        None => *n,
                        Some(m) if name == "gcd" => gcd(m, *n),
                        Some(m) => {
                            let g = gcd(m, *n).max(1);
                            (m / g).checked_mul(*n)?.abs()
                        }
                    });
                }
                Node::Int(acc?.abs())
            }
        };
        Some(match power {
            Some(p) => Node::Pow(Box::new(node), Box::new(p)),
            None => node,
        })
    }
}

fn is_relation_op(tok: Option<Tok>) -> bool {
    matches!(
        tok,
        Some(Tok::In | Tok::Assign | Tok::Approx | Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge | Tok::Ne)
    )
}

/// `lh op rh` in a chain: `a < b < c` is `a < b` and `b < c`.
fn chain(lh: Node, rel: Rel, rh: Node) -> Node {
    match lh {
        Node::And(mut parts) => {
            let last_rhs = match parts.last() {
                Some(Node::Rel(_, _, r)) => (**r).clone(),
                _ => return Node::And(parts),
            };
            parts.push(Node::Rel(rel, Box::new(last_rhs), Box::new(rh)));
            Node::And(parts)
        }
        Node::Rel(op, a, b) => {
            let mid = (*b).clone();
            Node::And(vec![
                Node::Rel(op, a, b),
                Node::Rel(rel, Box::new(mid), Box::new(rh)),
            ])
        }
        other => Node::Rel(rel, Box::new(other), Box::new(rh)),
    }
}

/// `a / b`: a rational for two integers, else `a * b^-1`.
fn divide(a: Node, b: Node) -> Node {
    match (&a, &b) {
        (Node::Int(p), Node::Int(q)) => Node::rational(*p, *q),
        // Flattened, so that long chains of divisions do not nest.
        _ => mul_flat(a, Node::Pow(Box::new(b), Box::new(Node::Int(-1)))),
    }
}

/// latex2sympy's `convert_postfix_list`: juxtaposed factors multiply, except that an integer
/// followed by a positive rational is a mixed number (`2 \frac{1}{2}` is 5/2, `2 3` is 5).
fn postfix_list(mut items: Vec<Node>) -> Option<Node> {
    let mut acc = items.pop()?;
    while let Some(res) = items.pop() {
        acc = if res.is_matrix() || acc.is_matrix() {
            mat_mul(res, acc)?
        } else {
            match (&res, &acc) {
                (Node::Int(n), Node::Int(p)) if *p > 0 => {
                    Node::Int(n.checked_add(if *n < 0 { -*p } else { *p })?)
                }
                (Node::Int(n), Node::Rat(p, q)) if *p > 0 => {
                    let whole = n.checked_mul(*q)?;
                    Node::rational(
                        if *n < 0 {
                            whole.checked_sub(*p)?
                        } else {
                            whole.checked_add(*p)?
                        },
                        *q,
                    )
                }
                _ => mul_flat(res, acc),
            }
        };
    }
    Some(acc)
}

fn tuple_to_set(node: Node) -> Node {
    match node {
        Node::Tuple(items) => Node::Set(items),
        other => other,
    }
}

/// latex2sympy's `convert_elements_to_set_or_tuple`.
fn elements_to_set_or_tuple(mut groups: Vec<Vec<Node>>) -> Node {
    if groups.len() == 1 {
        let mut group = groups.pop().unwrap_or_default();
        if group.len() == 1 {
            return group.pop().unwrap_or(Node::Set(Vec::new()));
        }
        return Node::Set(group);
    }
    if groups.iter().all(|g| g.len() == 1) {
        return Node::Set(groups.into_iter().flatten().collect());
    }
    Node::Set(groups.into_iter().map(Node::Tuple).collect())
}

/// `Interval(lo, hi)` as latex2sympy and SymPy build it: a tuple when the ends are reversed, empty
/// or a point when they meet, infinite ends open.
fn interval(lo: Node, hi: Node, lo_open: bool, hi_open: bool) -> Option<Node> {
    // SymPy refuses intervals whose ends are not known to be real (complex, undefined,
    // percentages).
    for end in [&lo, &hi] {
        if contains_percent(end) || (!has_symbols(end) && eval(end, 0).is_nan()) {
            return None;
        }
    }
    if lo_open == hi_open && not_increasing(&lo, &hi, !lo_open) == Some(true) {
        return Some(Node::Tuple(vec![lo, hi]));
    }
    let lo_inf = matches!(lo.number_value(), Some(v) if v.is_infinite()) || is_neg_infinity(&lo);
    let hi_inf = matches!(hi.number_value(), Some(v) if v.is_infinite());
    let (lo_open, hi_open) = (lo_open || lo_inf, hi_open || hi_inf);
    if !has_symbols(&lo) && !has_symbols(&hi) {
        let (x, y) = (eval(&lo, 0), eval(&hi, 0));
        if !x.is_nan() && !y.is_nan() {
            if y < x {
                return Some(Node::Special(SetKind::Empty));
            }
            if y == x {
                return Some(if lo_open || hi_open {
                    Node::Special(SetKind::Empty)
                } else {
                    Node::Set(vec![lo])
                });
            }
        }
    }
    Some(Node::Interval(Box::new(lo), Box::new(hi), lo_open, hi_open))
}

fn contains_percent(node: &Node) -> bool {
    match node {
        Node::Pct(_) => true,
        Node::Add(parts) | Node::Mul(parts) => parts.iter().any(contains_percent),
        Node::Pow(a, b) => contains_percent(a) || contains_percent(b),
        Node::Fun(_, a) => contains_percent(a),
        _ => false,
    }
}

fn is_neg_infinity(node: &Node) -> bool {
    match node {
        Node::Mul(f) => {
            f.len() == 2
                && matches!(f[0], Node::Int(-1))
                && matches!(f[1], Node::Const(Const::Infinity))
        }
        _ => false,
    }
}

/// The symbol name an accent stands for: `\text{(C)}` is `C`, `\overline{AB}` is `bar{AB}`.
fn accent_name(raw: &str) -> String {
    let open = raw.find('{').unwrap_or(raw.len());
    let command = raw[1..open].trim();
    let content: String = raw[(open + 1).min(raw.len())..raw.len().saturating_sub(1).max(open + 1)]
        .chars()
        .filter(|c| *c != ' ')
        .collect();
    let kind = match command {
        "bar" | "overline" => "bar",
        "vec" | "overrightarrow" => "vec",
        "tilde" | "widetilde" => "tilde",
        c if c.contains("text") || c.contains("mbox") => {
            return content.chars().filter(|c| *c != '(' && *c != ')').collect();
        }
        c if c.contains("math") => "math",
        c => c,
    };
    format!("{kind}{{{content}}}")
}
