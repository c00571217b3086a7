//! The syntax tree. Every node carries the byte span it was parsed from. Error nodes stand where the
//! parser recovered, so later phases see the rest of the file.

use serde::Serialize;

use crate::span::Span;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Module {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Item {
    /// `///` lines just above the item, without the slashes.
    pub docs: Vec<String>,
    pub attributes: Vec<Attribute>,
    pub kind: ItemKind,
    pub span: Span,
}

impl Item {
    /// The name the item defines at the top level, if any.
    pub fn defined_name(&self) -> Option<&Ident> {
        match &self.kind {
            ItemKind::Dataset(d) => Some(&d.name),
            ItemKind::Model(m) => Some(&m.name),
            ItemKind::Prompt(f) | ItemKind::Reward(f) | ItemKind::Fn(f) => Some(&f.name),
            ItemKind::Let(l) => Some(&l.name),
            ItemKind::Algorithm(a) => Some(&a.name),
            ItemKind::Extern(ExternDecl::Fn(f)) => Some(&f.name),
            ItemKind::Extern(ExternDecl::Let(l)) => Some(&l.name),
            ItemKind::Use(_) | ItemKind::Train(_) | ItemKind::Error => None,
        }
    }

    /// What the item is, in the words of the language ("dataset", "reward").
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            ItemKind::Use(_) => "import",
            ItemKind::Dataset(_) => "dataset",
            ItemKind::Model(_) => "model",
            ItemKind::Prompt(_) => "prompt",
            ItemKind::Reward(_) => "reward",
            ItemKind::Fn(_) | ItemKind::Extern(ExternDecl::Fn(_)) => "function",
            ItemKind::Let(_) | ItemKind::Extern(ExternDecl::Let(_)) => "constant",
            ItemKind::Algorithm(_) => "algorithm",
            ItemKind::Train(_) => "train block",
            ItemKind::Error => "item",
        }
    }
}

/// `@name` or `@name(args)`, before an item or after a dataset field.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Attribute {
    pub name: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ItemKind {
    Use(UseDecl),
    Dataset(DatasetDecl),
    Model(ValueDecl),
    Prompt(FnDecl),
    Reward(FnDecl),
    Fn(FnDecl),
    Let(LetDecl),
    Algorithm(ValueDecl),
    Train(TrainDecl),
    Extern(ExternDecl),
    /// An item the parser could not make sense of; its errors have been reported.
    Error,
}

/// `use std::verify::{math_equiv, choice_equiv as choice}` or `use rewards::format`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UseDecl {
    /// The module path (`std::verify`).
    pub module: Vec<Ident>,
    pub names: Vec<UseName>,
    /// True when the names were written in braces.
    pub braced: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UseName {
    pub name: Ident,
    pub alias: Option<Ident>,
}

impl UseName {
    /// The name this import binds in the file.
    pub fn local(&self) -> &Ident {
        self.alias.as_ref().unwrap_or(&self.name)
    }
}

/// `dataset NAME = SOURCE { fields } where ... order by ...`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DatasetDecl {
    pub name: Ident,
    pub source: Expr,
    /// None when the dataset declares no schema (it takes its source's).
    pub schema: Option<Vec<FieldDecl>>,
    pub clauses: Vec<DataClause>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldDecl {
    pub name: Ident,
    pub ty: TypeExpr,
    pub attributes: Vec<Attribute>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum DataClause {
    /// `where COND`: keep the rows for which COND holds (`ex` is the row).
    Where(Expr),
    /// `order by KEY [asc|desc]`: a curriculum order.
    OrderBy { key: Expr, descending: bool },
}

/// `model NAME = EXPR` and `algorithm NAME = EXPR`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ValueDecl {
    pub name: Ident,
    pub value: Expr,
}

/// `fn`, `reward` and `prompt`: `NAME(params) -> TYPE = BODY`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FnDecl {
    pub name: Ident,
    pub params: Vec<Param>,
    pub result: Option<TypeExpr>,
    pub body: Expr,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Param {
    pub name: Ident,
    pub ty: Option<TypeExpr>,
    pub default: Option<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LetDecl {
    pub name: Ident,
    pub ty: Option<TypeExpr>,
    pub value: Expr,
}

/// `extern fn NAME(params) -> TYPE` and `extern let NAME: TYPE`: natives of the standard library.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ExternDecl {
    Fn(ExternFn),
    Let(ExternLet),
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExternFn {
    pub name: Ident,
    pub params: Vec<Param>,
    pub result: TypeExpr,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExternLet {
    pub name: Ident,
    pub ty: TypeExpr,
}

/// `train MODEL { settings and stages }`
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrainDecl {
    pub model: Ident,
    pub entries: Vec<Entry>,
}

/// One line of a settings block.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Entry {
    pub kind: EntryKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum EntryKind {
    /// `key = value`
    Setting {
        key: Ident,
        value: Expr,
    },
    /// `key { entries }`, a nested block such as `rollout { ... }`.
    Block {
        key: Ident,
        entries: Vec<Entry>,
    },
    /// `stage NAME = value`
    Stage {
        name: Ident,
        value: Expr,
    },
    Error,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TypeExpr {
    pub kind: TypeKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum TypeKind {
    /// `float`, `train`, `list[text]`
    Named {
        name: Ident,
        args: Vec<TypeExpr>,
    },
    /// `enum { rule, model }`
    Enum(Vec<Ident>),
    /// `(float, float)`
    Tuple(Vec<TypeExpr>),
    /// `T?`
    Optional(Box<TypeExpr>),
    Error,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Pow,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "||",
            BinaryOp::And => "&&",
            BinaryOp::Eq => "==",
            BinaryOp::NotEq => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
            BinaryOp::Pow => "^",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    None,
    Name(Ident),
    List(Vec<Expr>),
    Tuple(Vec<Expr>),
    /// `(e)`, kept so that the formatter can keep the user's parentheses.
    Paren(Box<Expr>),
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Call {
        callee: Box<Expr>,
        args: Vec<Arg>,
    },
    Field {
        target: Box<Expr>,
        field: Ident,
    },
    Index {
        target: Box<Expr>,
        index: Box<Expr>,
    },
    /// `grpo { group = 8, clip = (0.2, 0.28) }`: a constructor or preset with settings.
    BlockCall {
        callee: Ident,
        entries: Vec<Entry>,
    },
    If {
        condition: Box<Expr>,
        then_branch: Box<Expr>,
        else_branch: Box<Expr>,
    },
    Match {
        scrutinee: Box<Expr>,
        arms: Vec<MatchArm>,
    },
    /// `{ let a = ...; let b = ...; result }`
    Block {
        lets: Vec<LetStmt>,
        result: Box<Expr>,
    },
    /// `chat { system: "...", user: [ex.image, ex.problem] }`
    Chat(Vec<ChatTurn>),
    /// `mix { math: 0.7, geometry: 0.3 }`
    Mix(Vec<MixPart>),
    Error,
}

/// A call argument, positional or `name = value`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LetStmt {
    pub name: Ident,
    pub ty: Option<TypeExpr>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MatchArm {
    pub pattern: Pattern,
    pub body: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Pattern {
    pub kind: PatternKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum PatternKind {
    /// `_`
    Wildcard,
    /// An enum case such as `rule`.
    Case(Ident),
    /// `some(x)`: binds `x`. Other constructors with bindings are reserved.
    Constructor {
        name: Ident,
        bindings: Vec<Ident>,
    },
    /// A literal: number, string, `true`, `false` or `none`.
    Literal(Box<Expr>),
    /// `a | b`
    Or(Vec<Pattern>),
    Error,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChatTurn {
    pub role: Ident,
    pub content: Expr,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MixPart {
    pub dataset: Ident,
    pub weight: Expr,
}
