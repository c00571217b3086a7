//! Tokens of normalized LaTeX, following the lexer of latex2sympy2_extended (the grammar
//! Math-Verify parses with): the longest literal wins, commands match as prefixes (`\pmod` is
//! `\pm` then `o`, `d`), each letter is a token, and anything the grammar does not know is an error.

use super::node::SetKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Br {
    Paren,
    ParenV,
    Group,
    Brace,
    BraceV,
    BraceCmd,
    Bracket,
    Brack,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tok {
    Num,
    ENum,
    /// A number followed by `%`; the number ends at the given byte offset.
    PctNum(usize),
    Letter(u8),
    ExpE,
    BigE,
    Greek,
    OtherSym,
    Accent,
    Diff,
    Infty,
    Partial,
    Gamma,
    Add,
    Sub,
    Mul,
    Div,
    Colon,
    Mod,
    Open(Br),
    Close(Br),
    Phantom,
    Boxed,
    Bar,
    LVert,
    RVert,
    Vert,
    Norm,
    LAngle,
    RAngle,
    LFloor,
    RFloor,
    LCeil,
    RCeil,
    Lim,
    To,
    Int,
    Sum,
    Prod,
    Func(&'static str),
    Multi(&'static str),
    Sqrt,
    Frac,
    Binom,
    Choose,
    OperatorName,
    Name(&'static str),
    MatStart,
    MatEnd,
    ArrStart,
    ArrEnd,
    DetStart,
    DetEnd,
    Amp,
    RowSep,
    Under,
    Caret,
    Semicolon,
    Comma,
    Period,
    In,
    NotIn,
    Assign,
    Approx,
    Lt,
    Le,
    Gt,
    Ge,
    Ne,
    Bang,
    SetLit(SetKind),
    Union,
    Inter,
    SetMinus,
    PlusMinus,
    Subset,
    Supset,
    Transpose,
    Degree,
    /// Tokens the grammar has but rules Math-Verify's answers never need (`\xrightarrow`, ...).
    Unsupported,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

/// Multi-character operators, with what they lex to.
const LITERALS: &[(&str, Option<Tok>)] = &[
    ("^T", Some(Tok::Transpose)),
    ("^{T}", Some(Tok::Transpose)),
    ("^{\\top}", Some(Tok::Transpose)),
    ("^\\circ", Some(Tok::Degree)),
    ("^\\degree", Some(Tok::Degree)),
    ("^\\circle", Some(Tok::Degree)),
    ("^°", Some(Tok::Degree)),
    ("^{\\circ}", Some(Tok::Degree)),
    ("^{\\degree}", Some(Tok::Degree)),
    ("^{\\circle}", Some(Tok::Degree)),
    ("^{°}", Some(Tok::Degree)),
    ("==", Some(Tok::Assign)),
    ("~=", Some(Tok::Approx)),
    ("<=", Some(Tok::Le)),
    (">=", Some(Tok::Ge)),
    ("!=", Some(Tok::Ne)),
    ("!==", Some(Tok::Ne)),
    ("<->", Some(Tok::Unsupported)),
    ("<=>", Some(Tok::Unsupported)),
];

/// Greek letters as commands (`\alpha`) and characters, with the symbol names they stand for.
const GREEK: &[(&str, &str)] = &[
    ("\\alpha", "alpha"),
    ("\\beta", "beta"),
    ("\\delta", "delta"),
    ("\\Delta", "Delta"),
    ("\\epsilon", "epsilon"),
    ("\\varepsilon", "varepsilon"),
    ("\\zeta", "zeta"),
    ("\\eta", "eta"),
    ("\\theta", "theta"),
    ("\\Theta", "Theta"),
    ("\\vartheta", "vartheta"),
    ("\\iota", "iota"),
    ("\\kappa", "kappa"),
    ("\\lambda", "lambda"),
    ("\\Lambda", "Lambda"),
    ("\\mu", "mu"),
    ("\\nu", "nu"),
    ("\\xi", "xi"),
    ("\\Xi", "Xi"),
    ("\\omicron", "omicron"),
    ("\\pi", "pi"),
    ("\\Pi", "Pi"),
    ("\\varpi", "varpi"),
    ("\\rho", "rho"),
    ("\\varrho", "varrho"),
    ("\\sigma", "sigma"),
    ("\\Sigma", "Sigma"),
    ("\\varsigma", "varsigma"),
    ("\\tau", "tau"),
    ("\\upsilon", "upsilon"),
    ("\\Upsilon", "Upsilon"),
    ("\\phi", "phi"),
    ("\\Phi", "Phi"),
    ("\\varphi", "varphi"),
    ("\\chi", "chi"),
    ("\\psi", "psi"),
    ("\\Psi", "Psi"),
    ("\\omega", "omega"),
    ("\\Omega", "Omega"),
    ("α", "alpha"),
    ("β", "beta"),
    ("γ", "gamma"),
    ("Γ", "Gamma"),
    ("δ", "delta"),
    ("Δ", "Delta"),
    ("ε", "epsilon"),
    ("ϵ", "varepsilon"),
    ("ζ", "zeta"),
    ("η", "eta"),
    ("θ", "theta"),
    ("Θ", "Theta"),
    ("ϑ", "vartheta"),
    ("ι", "iota"),
    ("κ", "kappa"),
    ("λ", "lambda"),
    ("Λ", "Lambda"),
    ("μ", "mu"),
    ("ν", "nu"),
    ("ξ", "xi"),
    ("Ξ", "Xi"),
    ("ο", "omicron"),
    ("π", "pi"),
    ("Π", "Pi"),
    ("ϖ", "varpi"),
    ("ρ", "rho"),
    ("ϱ", "varrho"),
    ("σ", "sigma"),
    ("Σ", "Sigma"),
    ("ς", "varsigma"),
    ("τ", "tau"),
    ("υ", "upsilon"),
    ("Υ", "Upsilon"),
    ("φ", "phi"),
    ("Φ", "Phi"),
    ("ϕ", "varphi"),
    ("χ", "chi"),
    ("ψ", "psi"),
    ("Ψ", "Psi"),
    ("ω", "omega"),
    ("Ω", "Omega"),
];

/// The name a Greek token stands for (its text with any trailing space).
pub(super) fn greek_name(text: &str) -> Option<&'static str> {
    let text = text.trim();
    GREEK
        .iter()
        .find(|(t, _)| *t == text)
        .map(|(_, name)| *name)
}

pub(super) const ACCENTS: &[&str] = &[
    "\\acute",
    "\\bar",
    "\\overline",
    "\\breve",
    "\\check",
    "\\widecheck",
    "\\dot",
    "\\ddot",
    "\\grave",
    "\\hat",
    "\\tilde",
    "\\widetilde",
    "\\vec",
    "\\overrightarrow",
    "\\bm",
    "\\boldsymbol",
    "\\text",
    "\\textit",
    "\\textbf",
    "\\textnormal",
    "\\mathbb",
    "\\mathbin",
    "\\mathbf",
    "\\mathcal",
    "\\mathclap",
    "\\mathclose",
    "\\mathellipsis",
    "\\mathfrak",
    "\\mathinner",
    "\\mathit",
    "\\mathnormal",
    "\\mathop",
    "\\mathopen",
    "\\mathord",
    "\\mathpunct",
    "\\mathrel",
    "\\mathring",
    "\\mathrlap",
    "\\mathrm",
    "\\mathscr",
    "\\mathsf",
    "\\mathsterling",
    "\\mathtt",
    "\\mbox",
];

/// Words the grammar lexes as operator names, valid only after `\operatorname`.
const NAMES: &[&str] = &[
    "arsinh",
    "arcsinh",
    "arcosh",
    "arccosh",
    "artanh",
    "arctanh",
    "gcd",
    "lcm",
    "floor",
    "ceil",
    "eye",
    "zeros",
    "ones",
    "cols",
    "rows",
    "diag",
    "norm",
    "rank",
    "trace",
    "tr",
    "rref",
    "hstack",
    "vstack",
    "orth",
    "ortho",
    "orthogonal",
    "orthogonalize",
    "nullspace",
    "eig",
    "eigen",
    "diagonalize",
    "eigenvals",
    "eigenvalues",
    "eigenvects",
    "eigenvectors",
    "svd",
    "SVD",
    "matrix",
    "pmatrix",
    "bmatrix",
    "vmatrix",
];

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Length of a NUMBER at `at`: digits, or digits, a point and digits.
fn number_len(b: &[u8], at: usize) -> usize {
    let mut i = at;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i < b.len() && b[i] == b'.' && i + 1 < b.len() && b[i + 1].is_ascii_digit() {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    i - at
}

/// An accent command with its braced argument: its length.
fn accent_len(s: &str, at: usize) -> usize {
    let rest = &s[at..];
    let mut best = 0;
    for cmd in ACCENTS {
        if cmd.as_bytes()[1] != rest.as_bytes().get(1).copied().unwrap_or(0)
            || !rest.starts_with(cmd)
        {
            continue;
        }
        let b = rest.as_bytes();
        let mut i = cmd.len();
        if i < b.len() && is_ws(b[i]) {
            i += 1;
        }
        if i >= b.len() || b[i] != b'{' {
            continue;
        }
        if let Some(close) = memchr::memchr(b'}', &b[i + 1..]) {
            best = best.max(i + 1 + close + 1);
        }
    }
    best
}

/// The length of `\begin{array}{ccc}` at `at`, if it is one.
fn array_start_len(s: &str, at: usize) -> usize {
    let rest = &s[at..];
    let Some(after) = rest.strip_prefix("\\begin{array}{") else {
        return 0;
    };
    let spec = after
        .bytes()
        .take_while(|b| matches!(b, b'c' | b'l' | b'r'))
        .count();
    if after.as_bytes().get(spec) == Some(&b'}') {
        "\\begin{array}{".len() + spec + 1
    } else {
        0
    }
}

#[derive(Clone, Copy)]
enum Cmd {
    Skip,
    Tok(Tok),
    Greek,
    Other,
}

/// Commands named by letters: what `\\name` lexes to (`Some(None)`: skipped; `Cmd::Greek`,
/// `Cmd::Other`: letters and symbols that take an optional trailing space).
fn command(name: &str) -> Option<Cmd> {
    Some(match name.len() {
        2 => match name {
            "Im" => Cmd::Other,
            "Pi" => Cmd::Greek,
            "Re" => Cmd::Other,
            "Xi" => Cmd::Greek,
            "ge" => Cmd::Tok(Tok::Ge),
            "gt" => Cmd::Tok(Tok::Gt),
            "in" => Cmd::Tok(Tok::In),
            "le" => Cmd::Tok(Tok::Le),
            "ln" => Cmd::Tok(Tok::Func("ln")),
            "lt" => Cmd::Tok(Tok::Lt),
            "mp" => Cmd::Tok(Tok::PlusMinus),
            "mu" => Cmd::Greek,
            "ne" => Cmd::Tok(Tok::Ne),
            "nu" => Cmd::Greek,
            "pi" => Cmd::Greek,
            "pm" => Cmd::Tok(Tok::PlusMinus),
            "to" => Cmd::Tok(Tok::To),
            "wp" => Cmd::Other,
            "xi" => Cmd::Greek,
            _ => return None,
        },
        3 => match name {
            "Phi" => Cmd::Greek,
            "Psi" => Cmd::Greek,
            "cap" => Cmd::Tok(Tok::Inter),
            "chi" => Cmd::Greek,
            "cos" => Cmd::Tok(Tok::Func("cos")),
            "cot" => Cmd::Tok(Tok::Func("cot")),
            "csc" => Cmd::Tok(Tok::Func("csc")),
            "cup" => Cmd::Tok(Tok::Union),
            "det" => Cmd::Tok(Tok::Func("det")),
            "div" => Cmd::Tok(Tok::Div),
            "ell" => Cmd::Other,
            "eta" => Cmd::Greek,
            "eth" => Cmd::Other,
            "exp" => Cmd::Tok(Tok::Func("exp")),
            "gcd" => Cmd::Tok(Tok::Multi("gcd")),
            "geq" => Cmd::Tok(Tok::Ge),
            "int" => Cmd::Tok(Tok::Int),
            "lcm" => Cmd::Tok(Tok::Multi("lcm")),
            "leq" => Cmd::Tok(Tok::Le),
            "lim" => Cmd::Tok(Tok::Lim),
            "log" => Cmd::Tok(Tok::Func("log")),
            "max" => Cmd::Tok(Tok::Multi("max")),
            "mho" => Cmd::Other,
            "min" => Cmd::Tok(Tok::Multi("min")),
            "mod" => Cmd::Tok(Tok::Mod),
            "neq" => Cmd::Tok(Tok::Ne),
            "phi" => Cmd::Greek,
            "psi" => Cmd::Greek,
            "rho" => Cmd::Greek,
            "sec" => Cmd::Tok(Tok::Func("sec")),
            "sin" => Cmd::Tok(Tok::Func("sin")),
            "sum" => Cmd::Tok(Tok::Sum),
            "tan" => Cmd::Tok(Tok::Func("tan")),
            "tau" => Cmd::Greek,
            _ => return None,
        },
        4 => match name {
            "Bbbk" => Cmd::Other,
            "Finv" => Cmd::Other,
            "Game" => Cmd::Other,
            "beta" => Cmd::Greek,
            "cdot" => Cmd::Tok(Tok::Mul),
            "ceil" => Cmd::Tok(Tok::Func("ceil")),
            "cosh" => Cmd::Tok(Tok::Func("cosh")),
            "flat" => Cmd::Other,
            "frac" => Cmd::Tok(Tok::Frac),
            "hbar" => Cmd::Other,
            "hfil" => Cmd::Skip,
            "iota" => Cmd::Greek,
            "over" => Cmd::Tok(Tok::Div),
            "prod" => Cmd::Tok(Tok::Prod),
            "quad" => Cmd::Skip,
            "sinh" => Cmd::Tok(Tok::Func("sinh")),
            "sqrt" => Cmd::Tok(Tok::Sqrt),
            "surd" => Cmd::Other,
            "tanh" => Cmd::Tok(Tok::Func("tanh")),
            "vbox" => Cmd::Skip,
            "vert" => Cmd::Tok(Tok::Vert),
            "zeta" => Cmd::Greek,
            _ => return None,
        },
        5 => match name {
            "Delta" => Cmd::Greek,
            "Gamma" => Cmd::Tok(Tok::Gamma),
            "Omega" => Cmd::Greek,
            "Sigma" => Cmd::Greek,
            "Theta" => Cmd::Greek,
            "alpha" => Cmd::Greek,
            "angle" => Cmd::Other,
            "binom" => Cmd::Tok(Tok::Binom),
            "boxed" => Cmd::Tok(Tok::Boxed),
            "cfrac" => Cmd::Tok(Tok::Frac),
            "delta" => Cmd::Greek,
            "dfrac" => Cmd::Tok(Tok::Frac),
            "equiv" => Cmd::Tok(Tok::Assign),
            "floor" => Cmd::Tok(Tok::Func("floor")),
            "gamma" => Cmd::Tok(Tok::Gamma),
            "imath" => Cmd::Other,
            "infty" => Cmd::Tok(Tok::Infty),
            "jmath" => Cmd::Other,
            "kappa" => Cmd::Greek,
            "lceil" => Cmd::Tok(Tok::LCeil),
            "lvert" => Cmd::Tok(Tok::LVert),
            "nabla" => Cmd::Other,
            "notin" => Cmd::Tok(Tok::NotIn),
            "omega" => Cmd::Greek,
            "prime" => Cmd::Other,
            "qquad" => Cmd::Skip,
            "rceil" => Cmd::Tok(Tok::RCeil),
            "rvert" => Cmd::Tok(Tok::RVert),
            "sharp" => Cmd::Other,
            "sigma" => Cmd::Greek,
            "tfrac" => Cmd::Tok(Tok::Frac),
            "theta" => Cmd::Greek,
            "times" => Cmd::Tok(Tok::Mul),
            "varpi" => Cmd::Greek,
            "vrule" => Cmd::Skip,
            "vskip" => Cmd::Skip,
            _ => return None,
        },
        6 => match name {
            "Lambda" => Cmd::Greek,
            "approx" => Cmd::Tok(Tok::Approx),
            "arccos" => Cmd::Tok(Tok::Func("arccos")),
            "arccot" => Cmd::Tok(Tok::Func("arccot")),
            "arccsc" => Cmd::Tok(Tok::Func("arccsc")),
            "arcosh" => Cmd::Tok(Tok::Func("arcosh")),
            "arcsec" => Cmd::Tok(Tok::Func("arcsec")),
            "arcsin" => Cmd::Tok(Tok::Func("arcsin")),
            "arctan" => Cmd::Tok(Tok::Func("arctan")),
            "arsinh" => Cmd::Tok(Tok::Func("arsinh")),
            "artanh" => Cmd::Tok(Tok::Func("artanh")),
            "choose" => Cmd::Tok(Tok::Choose),
            "dbinom" => Cmd::Tok(Tok::Binom),
            "diagup" => Cmd::Other,
            "hslash" => Cmd::Other,
            "lambda" => Cmd::Greek,
            "langle" => Cmd::Tok(Tok::LAngle),
            "lbrace" => Cmd::Tok(Tok::Open(Br::BraceCmd)),
            "lbrack" => Cmd::Tok(Tok::Open(Br::Brack)),
            "lfloor" => Cmd::Tok(Tok::LFloor),
            "lgroup" => Cmd::Tok(Tok::Open(Br::Group)),
            "mathit" => Cmd::Tok(Tok::Unsupported),
            "rangle" => Cmd::Tok(Tok::RAngle),
            "rbrace" => Cmd::Tok(Tok::Close(Br::BraceCmd)),
            "rbrack" => Cmd::Tok(Tok::Close(Br::Brack)),
            "rfloor" => Cmd::Tok(Tok::RFloor),
            "rgroup" => Cmd::Tok(Tok::Close(Br::Group)),
            "square" => Cmd::Other,
            "tbinom" => Cmd::Tok(Tok::Binom),
            "varphi" => Cmd::Greek,
            "varrho" => Cmd::Greek,
            "vspace" => Cmd::Skip,
            _ => return None,
        },
        7 => match name {
            "Diamond" => Cmd::Other,
            "Upsilon" => Cmd::Greek,
            "arccosh" => Cmd::Tok(Tok::Func("arccosh")),
            "arcsinh" => Cmd::Tok(Tok::Func("arcsinh")),
            "arctanh" => Cmd::Tok(Tok::Func("arctanh")),
            "bigstar" => Cmd::Other,
            "epsilon" => Cmd::Greek,
            "lozenge" => Cmd::Other,
            "natural" => Cmd::Other,
            "nexists" => Cmd::Other,
            "omicron" => Cmd::Greek,
            "partial" => Cmd::Tok(Tok::Partial),
            "phantom" => Cmd::Tok(Tok::Phantom),
            "upsilon" => Cmd::Greek,
            "vcenter" => Cmd::Skip,
            _ => return None,
        },
        8 => match name {
            "circledS" => Cmd::Other,
            "clubsuit" => Cmd::Other,
            "diagdown" => Cmd::Other,
            "emptyset" => Cmd::Tok(Tok::SetLit(SetKind::Empty)),
            "geqslant" => Cmd::Tok(Tok::Ge),
            "leqslant" => Cmd::Tok(Tok::Le),
            "llcorner" => Cmd::Tok(Tok::LFloor),
            "lrcorner" => Cmd::Tok(Tok::RFloor),
            "medspace" => Cmd::Skip,
            "setminus" => Cmd::Tok(Tok::SetMinus),
            "subseteq" => Cmd::Tok(Tok::Subset),
            "supseteq" => Cmd::Tok(Tok::Supset),
            "triangle" => Cmd::Other,
            "ulcorner" => Cmd::Tok(Tok::LCeil),
            "urcorner" => Cmd::Tok(Tok::RCeil),
            "varsigma" => Cmd::Greek,
            "vartheta" => Cmd::Greek,
            _ => return None,
        },
        9 => match name {
            "backprime" => Cmd::Other,
            "heartsuit" => Cmd::Other,
            "spadesuit" => Cmd::Other,
            "thinspace" => Cmd::Skip,
            _ => return None,
        },
        10 => match name {
            "Rightarrow" => Cmd::Tok(Tok::To),
            "complement" => Cmd::Other,
            "rightarrow" => Cmd::Tok(Tok::To),
            "thickspace" => Cmd::Skip,
            "varepsilon" => Cmd::Greek,
            "varnothing" => Cmd::Other,
            _ => return None,
        },
        11 => match name {
            "blacksquare" => Cmd::Other,
            "diamondsuit" => Cmd::Other,
            "negmedspace" => Cmd::Skip,
            "vartriangle" => Cmd::Other,
            "xRightarrow" => Cmd::Tok(Tok::Unsupported),
            "xrightarrow" => Cmd::Tok(Tok::Unsupported),
            _ => return None,
        },
        12 => match name {
            "blacklozenge" => Cmd::Other,
            "exponentialE" => Cmd::Tok(Tok::ExpE),
            "negthinspace" => Cmd::Skip,
            "operatorname" => Cmd::Tok(Tok::OperatorName),
            "triangledown" => Cmd::Other,
            _ => return None,
        },
        13 => match name {
            "blacktriangle" => Cmd::Other,
            "measuredangle" => Cmd::Other,
            "negthickspace" => Cmd::Skip,
            _ => return None,
        },
        14 => match name {
            "Leftrightarrow" => Cmd::Tok(Tok::Unsupported),
            "Longrightarrow" => Cmd::Tok(Tok::To),
            "leftrightarrow" => Cmd::Tok(Tok::Unsupported),
            "longrightarrow" => Cmd::Tok(Tok::To),
            "sphericalangle" => Cmd::Other,
            _ => return None,
        },
        _ => return None,
    })
}

/// The token at a backslash: its length and kind (`None`: skipped), or `None` for a lexer error.
fn backslash_token(s: &str, i: usize) -> Option<(usize, Option<Tok>)> {
    let rest = &s[i..];
    let b = rest.as_bytes();
    let name_len = b[1..]
        .iter()
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    if name_len == 0 {
        return Some(match *b.get(1)? {
            b',' | b':' | b';' | b'!' => (2, None),
            b'$' if rest[2..].starts_with("\\infty") => (8, Some(Tok::Infty)),
            b'$' => (2, None),
            b'(' => (2, Some(Tok::Open(Br::ParenV))),
            b')' => (2, Some(Tok::Close(Br::ParenV))),
            b'{' if rest.starts_with("\\{\\}") => (4, Some(Tok::SetLit(SetKind::Empty))),
            b'{' => (2, Some(Tok::Open(Br::BraceV))),
            b'}' => (2, Some(Tok::Close(Br::BraceV))),
            b'|' => (2, Some(Tok::Norm)),
            b'\\' => (2, Some(Tok::RowSep)),
            _ => return None,
        });
    }
    let name = &rest[1..1 + name_len];
    let after = &rest[1 + name_len..];
    match name {
        "begin" | "end" => {
            for (kind, start, end) in [
                ("{matrix}", Tok::MatStart, Tok::MatEnd),
                ("{pmatrix}", Tok::MatStart, Tok::MatEnd),
                ("{bmatrix}", Tok::MatStart, Tok::MatEnd),
                ("{vmatrix}", Tok::DetStart, Tok::DetEnd),
            ] {
                if after.starts_with(kind) {
                    return Some((
                        1 + name_len + kind.len(),
                        Some(if name == "begin" { start } else { end }),
                    ));
                }
            }
            if name == "end" && after.starts_with("{array}") {
                return Some((1 + name_len + 7, Some(Tok::ArrEnd)));
            }
            let array = array_start_len(s, i);
            if array > 0 {
                return Some((array, Some(Tok::ArrStart)));
            }
        }
        "mathbb" => {
            let kind = match after.as_bytes() {
                [b'{', k, b'}', ..] => match k {
                    b'N' => Some(SetKind::Naturals),
                    b'Z' => Some(SetKind::Integers),
                    b'Q' => Some(SetKind::Rationals),
                    b'R' => Some(SetKind::Reals),
                    b'C' => Some(SetKind::Complexes),
                    b'P' => Some(SetKind::Primes),
                    _ => None,
                },
                _ => None,
            };
            if let Some(kind) = kind {
                return Some((10, Some(Tok::SetLit(kind))));
            }
        }
        "not" if after.starts_with("\\equiv") => return Some((10, Some(Tok::Ne))),
        "infty" if after.starts_with("\\%") => return Some((8, Some(Tok::Infty))),
        "infty" if after.starts_with('%') => return Some((7, Some(Tok::Infty))),
        "lbrace" if after.starts_with("\\rbrace") => {
            return Some((14, Some(Tok::SetLit(SetKind::Empty))));
        }
        _ => {}
    }
    let accent = accent_len(s, i);
    if accent > 0 {
        return Some((accent, Some(Tok::Accent)));
    }
    for len in (1..=name_len).rev() {
        if let Some(cmd) = command(&name[..len]) {
            let total = 1 + len;
            let space = usize::from(b.get(total) == Some(&b' '));
            return Some(match cmd {
                Cmd::Skip => (total, None),
                Cmd::Tok(tok) => (total, Some(tok)),
                Cmd::Greek => (total + space, Some(Tok::Greek)),
                Cmd::Other => (total + space, Some(Tok::OtherSym)),
            });
        }
    }
    None
}

/// Tokens of `s`, or `None` where the grammar's lexer would fail.
pub(super) fn tokenize(s: &str) -> Option<Vec<Token>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(s.len() / 2 + 1);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if is_ws(c) {
            i += 1;
            continue;
        }
        let start = i;
        // The longest literal (commands, multi-character operators).
        let mut best: Option<(usize, Option<Tok>)> = None;
        // Literals are compared only when their second byte matches (cheap filter).
        let second = b.get(i + 1).copied();
        let maybe = |lit: &str| lit.as_bytes().get(1).copied() == second && s[i..].starts_with(lit);
        if matches!(c, b'^' | b'=' | b'~' | b'<' | b'>' | b'!') {
            for (lit, tok) in LITERALS {
                if lit.len() > best.map_or(0, |(l, _)| l) && lit.as_bytes()[0] == c && maybe(lit) {
                    best = Some((lit.len(), *tok));
                }
            }
        }
        if c == b'\\' {
            let (len, tok) = backslash_token(s, i)?;
            if let Some(tok) = tok {
                out.push(Token {
                    tok,
                    start,
                    end: i + len,
                });
            }
            i += len;
            continue;
        }
        if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let len = number_len(b, i);
            let mut end = i + len;
            let mut tok = Tok::Num;
            // E_NOTATION: NUMBER 'E' [+-]? DIGIT+
            if b.get(end) == Some(&b'E') {
                let mut j = end + 1;
                if matches!(b.get(j), Some(b'+' | b'-')) {
                    j += 1;
                }
                let digits = b[j.min(b.len())..]
                    .iter()
                    .take_while(|d| d.is_ascii_digit())
                    .count();
                if digits > 0 {
                    end = j + digits;
                    tok = Tok::ENum;
                }
            }
            if tok == Tok::Num {
                // PERCENT_NUMBER: NUMBER WS? ('\%' | '%')
                let mut j = end;
                if j < b.len() && is_ws(b[j]) {
                    j += 1;
                }
                if s[j..].starts_with("\\%") {
                    out.push(Token {
                        tok: Tok::PctNum(end),
                        start,
                        end: j + 2,
                    });
                    i = j + 2;
                    continue;
                }
                if b.get(j) == Some(&b'%') {
                    out.push(Token {
                        tok: Tok::PctNum(end),
                        start,
                        end: j + 1,
                    });
                    i = j + 1;
                    continue;
                }
            }
            out.push(Token { tok, start, end });
            i = end;
            continue;
        }
        if c.is_ascii_alphabetic() {
            let mut len = 1;
            let mut tok = match c {
                b'e' => Tok::ExpE,
                b'E' => Tok::BigE,
                _ => Tok::Letter(c),
            };
            for name in NAMES {
                if name.len() > len && s[i..].starts_with(name) {
                    len = name.len();
                    tok = Tok::Name(name);
                }
            }
            if c == b'd' {
                // DIFFERENTIAL: 'd' WS* (letter | '\' letters)
                let mut j = i + 1;
                while j < b.len() && is_ws(b[j]) {
                    j += 1;
                }
                let diff_end = if b.get(j).is_some_and(u8::is_ascii_alphabetic) {
                    j + 1
                } else if b.get(j) == Some(&b'\\')
                    && b.get(j + 1).is_some_and(u8::is_ascii_alphabetic)
                {
                    let mut k = j + 1;
                    while k < b.len() && b[k].is_ascii_alphabetic() {
                        k += 1;
                    }
                    k
                } else {
                    0
                };
                if diff_end > i + len {
                    len = diff_end - i;
                    tok = Tok::Diff;
                }
            }
            out.push(Token {
                tok,
                start,
                end: i + len,
            });
            i += len;
            continue;
        }
        if let Some((len, tok)) = best {
            if let Some(tok) = tok {
                out.push(Token {
                    tok,
                    start,
                    end: i + len,
                });
            }
            i += len;
            continue;
        }
        let tok = match c {
            b'+' => Tok::Add,
            b'-' => Tok::Sub,
            b'*' => Tok::Mul,
            b'/' => Tok::Div,
            b'(' => Tok::Open(Br::Paren),
            b')' => Tok::Close(Br::Paren),
            b'{' => Tok::Open(Br::Brace),
            b'}' => Tok::Close(Br::Brace),
            b'[' => Tok::Open(Br::Bracket),
            b']' => Tok::Close(Br::Bracket),
            b'|' => Tok::Bar,
            b'_' => Tok::Under,
            b'^' => Tok::Caret,
            b':' => Tok::Colon,
            b';' => Tok::Semicolon,
            b',' => Tok::Comma,
            b'.' => Tok::Period,
            b'!' => Tok::Bang,
            b'=' => Tok::Assign,
            b'<' => Tok::Lt,
            b'>' => Tok::Gt,
            b'&' => Tok::Amp,
            b'\'' => Tok::Transpose,
            c if c >= 0x80 => {
                let ch = s[i..].chars().next()?;
                let len = ch.len_utf8();
                let text = &s[i..i + len];
                let tok = if GREEK.iter().any(|(g, _)| *g == text) {
                    Tok::Greek
                } else {
                    unicode_token(ch)?
                };
                out.push(Token {
                    tok,
                    start,
                    end: i + len,
                });
                i += len;
                continue;
            }
            _ => return None,
        };
        out.push(Token {
            tok,
            start,
            end: i + 1,
        });
        i += 1;
    }
    Some(out)
}

fn unicode_token(ch: char) -> Option<Tok> {
    Some(match ch {
        '∔' | '⊕' | '⊞' => Tok::Add,
        '−' | '∸' => Tok::Sub,
        '×' | '⋅' | '⋄' | '⊡' | '∗' | '⋆' | '∘' | '∙' | '⊗' | '⊠' | '⋈' | '⋉' | '⋊' => {
            Tok::Mul
        }
        '÷' | '∕' => Tok::Div,
        '≡' | '≣' | '≟' | '≎' | '≏' | '≐' | '≑' | '≒' | '≓' | '≔' | '≕' | '≖' | '≗' => {
            Tok::Assign
        }
        '≈' | '≊' | '≋' | '≃' | '≅' => Tok::Approx,
        '≪' | '≺' | '⋖' => Tok::Lt,
        '≤' | '≦' | '≲' | '≾' => Tok::Le,
        '≫' | '≻' | '⋗' => Tok::Gt,
        '≥' | '≧' | '≳' | '≿' => Tok::Ge,
        '≠' | '≁' | '≄' | '≇' | '≉' | '≢' => Tok::Ne,
        'ℵ' | 'ℶ' | 'ℷ' | 'ℸ' => Tok::OtherSym,
        'ℕ' => Tok::SetLit(SetKind::Naturals),
        'ℤ' => Tok::SetLit(SetKind::Integers),
        'ℚ' => Tok::SetLit(SetKind::Rationals),
        'ℝ' => Tok::SetLit(SetKind::Reals),
        'ℂ' => Tok::SetLit(SetKind::Complexes),
        'ℙ' => Tok::SetLit(SetKind::Primes),
        '∪' => Tok::Union,
        '∩' => Tok::Inter,
        '∖' => Tok::SetMinus,
        '±' | '∓' => Tok::PlusMinus,
        '∅' => Tok::SetLit(SetKind::Empty),
        '⊇' => Tok::Supset,
        '⊆' => Tok::Subset,
        '∉' => Tok::NotIn,
        _ => return None,
    })
}
