//! The chumsky grammar of one item. [`crate::parser`] splits a file into items and runs this on each,
//! so an error in one item never hides the next.

use chumsky::input::ValueInput;
use chumsky::label::LabelError;
use chumsky::pratt::{infix, left, postfix, prefix, right};
use chumsky::prelude::*;
use chumsky::recursive::Direct;

use crate::ast::*;
use crate::lexer::Token;
use crate::literal;
use crate::span::Span;

pub type ParseError<'t, 's> = Rich<'t, Token<'s>, SimpleSpan>;

pub trait TokenInput<'t, 's: 't>: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan> {}
impl<'t, 's: 't, T: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>> TokenInput<'t, 's> for T {}

/// The grammar runs twice over an item that has an error: first with chumsky's free `EmptyErr`
/// (most items are fine, and building rich errors for every failed alternative is most of the cost
/// of parsing), then with `Rich` errors to say what went wrong.
pub trait GrammarExtra<'t, 's: 't, I: TokenInput<'t, 's>>:
    chumsky::extra::ParserExtra<
        't,
        I,
        Context = (),
        State = (),
        Error: LabelError<'t, I, &'static str>,
    > + 't
{
}
impl<'t, 's: 't, I: TokenInput<'t, 's>, X> GrammarExtra<'t, 's, I> for X where
    X: chumsky::extra::ParserExtra<
            't,
            I,
            Context = (),
            State = (),
            Error: LabelError<'t, I, &'static str>,
        > + 't
{
}

type ExprRec<'t, I, E> = Recursive<Direct<'t, 't, I, Expr, E>>;

fn span_of(span: SimpleSpan) -> Span {
    Span::from(span)
}

/// A plain name.
fn ident<'t, 's: 't, I: TokenInput<'t, 's>, E: GrammarExtra<'t, 's, I>>()
-> impl Parser<'t, I, Ident, E> + Clone {
    select! { Token::Ident(name) = e => Ident { name: name.to_string(), span: span_of(e.span()) } }
        .labelled("a name")
}

/// A name in a position where keywords are plain words too: setting keys, named arguments, fields,
/// type names (`model`, `dataset`).
fn key<'t, 's: 't, I: TokenInput<'t, 's>, E: GrammarExtra<'t, 's, I>>()
-> impl Parser<'t, I, Ident, E> + Clone {
    select! {
        Token::Ident(name) = e => Ident { name: name.to_string(), span: span_of(e.span()) },
        token = e if token.is_keyword() => Ident { name: token.text().to_string(), span: span_of(e.span()) },
    }
    .labelled("a name")
}

/// A word that is a keyword only where this parser expects it (`stage`, `where`, `order`, `by`, `as`).
fn word<'t, 's: 't, I: TokenInput<'t, 's>, E: GrammarExtra<'t, 's, I>>(
    word: &'static str,
) -> impl Parser<'t, I, (), E> + Clone {
    just(Token::Ident(word)).ignored()
}

fn optional_comma<'t, 's: 't, I: TokenInput<'t, 's>, E: GrammarExtra<'t, 's, I>>()
-> impl Parser<'t, I, (), E> + Clone {
    just(Token::Comma).or_not().ignored()
}

pub fn type_expr<'t, 's: 't, I: TokenInput<'t, 's>, E: GrammarExtra<'t, 's, I>>()
-> impl Parser<'t, I, TypeExpr, E> + Clone {
    recursive(|ty| {
        let args = ty
            .clone()
            .separated_by(just(Token::Comma))
            .allow_trailing()
            .collect::<Vec<_>>()
            .delimited_by(just(Token::LBracket), just(Token::RBracket));
        let type_name = select! {
            Token::Ident(name) = e => Ident { name: name.to_string(), span: span_of(e.span()) },
            token = e if matches!(token, Token::Model | Token::Dataset | Token::Prompt | Token::Reward | Token::Algorithm | Token::Chat) =>
                Ident { name: token.text().to_string(), span: span_of(e.span()) },
        };
        let named = type_name
            .then(args.or_not())
            .map(|(name, args)| TypeKind::Named {
                name,
                args: args.unwrap_or_default(),
            });
        let cases = key()
            .then_ignore(optional_comma())
            .repeated()
            .collect::<Vec<_>>()
            .delimited_by(just(Token::LBrace), just(Token::RBrace));
        let enumeration = just(Token::Enum).ignore_then(cases).map(TypeKind::Enum);
        let tuple = ty
            .separated_by(just(Token::Comma))
            .allow_trailing()
            .collect::<Vec<_>>()
            .delimited_by(just(Token::LParen), just(Token::RParen))
            .map(TypeKind::Tuple);
        let base = choice((enumeration, tuple, named)).map_with(|kind, e| TypeExpr {
            kind,
            span: span_of(e.span()),
        });
        base.foldl_with(just(Token::Question).repeated(), |inner, _, e| TypeExpr {
            kind: TypeKind::Optional(Box::new(inner)),
            span: span_of(e.span()),
        })
        .labelled("a type")
    })
}

fn expr_of(kind: ExprKind, span: SimpleSpan) -> Expr {
    Expr {
        kind,
        span: span_of(span),
    }
}

/// Call arguments: positional or `name = value`.
fn args<'t, 's: 't, I: TokenInput<'t, 's>, E: GrammarExtra<'t, 's, I>>(
    expr: ExprRec<'t, I, E>,
) -> impl Parser<'t, I, Vec<Arg>, E> + Clone {
    key()
        .then_ignore(just(Token::Eq))
        .or_not()
        .then(expr)
        .map(|(name, value)| Arg { name, value })
        .separated_by(just(Token::Comma))
        .allow_trailing()
        .collect::<Vec<_>>()
        .delimited_by(just(Token::LParen), just(Token::RParen))
}

/// The entries of a settings block, without the braces: `key = value`, `key { ... }`, `stage name = value`.
pub fn entries<'t, 's: 't, I: TokenInput<'t, 's>, E: GrammarExtra<'t, 's, I>>(
    expr: ExprRec<'t, I, E>,
) -> impl Parser<'t, I, Vec<Entry>, E> + Clone {
    recursive(move |entries| {
        let stage = word("stage")
            .ignore_then(key())
            .then_ignore(just(Token::Eq))
            .then(expr.clone())
            .map(|(name, value)| EntryKind::Stage { name, value });
        let setting = key()
            .then_ignore(just(Token::Eq))
            .then(expr.clone())
            .map(|(key, value)| EntryKind::Setting { key, value });
        let nested = key()
            .then(entries.delimited_by(just(Token::LBrace), just(Token::RBrace)))
            .map(|(key, entries)| EntryKind::Block { key, entries });
        choice((stage, setting, nested))
            .labelled("a setting")
            .map_with(|kind, e| Entry {
                kind,
                span: span_of(e.span()),
            })
            .then_ignore(optional_comma())
            .recover_with(skip_then_retry_until(
                any().ignored(),
                just(Token::RBrace).ignored(),
            ))
            .repeated()
            .collect::<Vec<_>>()
    })
}

fn braced_entries<'t, 's: 't, I: TokenInput<'t, 's>, E: GrammarExtra<'t, 's, I>>(
    expr: ExprRec<'t, I, E>,
) -> impl Parser<'t, I, Vec<Entry>, E> + Clone {
    entries(expr)
        .delimited_by(just(Token::LBrace), just(Token::RBrace))
        .recover_with(via_parser(nested_delimiters(
            Token::LBrace,
            Token::RBrace,
            [
                (Token::LParen, Token::RParen),
                (Token::LBracket, Token::RBracket),
            ],
            |_| Vec::new(),
        )))
}

fn pattern<'t, 's: 't, I: TokenInput<'t, 's>, E: GrammarExtra<'t, 's, I>>()
-> impl Parser<'t, I, Pattern, E> + Clone {
    let literal = select! {
        Token::Int(raw) = e => expr_of(ExprKind::Int(literal::parse_int(raw)), e.span()),
        Token::Float(raw) = e => expr_of(ExprKind::Float(literal::parse_float(raw)), e.span()),
        Token::Str(raw) = e => expr_of(ExprKind::Str(literal::decode_string(raw)), e.span()),
        Token::True = e => expr_of(ExprKind::Bool(true), e.span()),
        Token::False = e => expr_of(ExprKind::Bool(false), e.span()),
        Token::None = e => expr_of(ExprKind::None, e.span()),
    }
    .map(|expr| PatternKind::Literal(Box::new(expr)));
    let negative = just(Token::Minus)
        .ignore_then(select! {
            Token::Int(raw) => ExprKind::Int(-literal::parse_int(raw)),
            Token::Float(raw) => ExprKind::Float(-literal::parse_float(raw)),
        })
        .map_with(|kind, e| PatternKind::Literal(Box::new(expr_of(kind, e.span()))));
    let bindings = ident()
        .separated_by(just(Token::Comma))
        .allow_trailing()
        .collect::<Vec<_>>()
        .delimited_by(just(Token::LParen), just(Token::RParen));
    let named = key()
        .then(bindings.or_not())
        .map(|(name, bindings)| match bindings {
            Some(bindings) => PatternKind::Constructor { name, bindings },
            None if name.name == "_" => PatternKind::Wildcard,
            None => PatternKind::Case(name),
        });
    let single = choice((literal, negative, named)).map_with(|kind, e| Pattern {
        kind,
        span: span_of(e.span()),
    });
    single
        .separated_by(just(Token::Pipe))
        .at_least(1)
        .collect::<Vec<_>>()
        .map_with(|mut alternatives, e| {
            if alternatives.len() == 1 {
                alternatives.pop().expect("one alternative")
            } else {
                Pattern {
                    kind: PatternKind::Or(alternatives),
                    span: span_of(e.span()),
                }
            }
        })
        .labelled("a pattern")
}

enum Postfix {
    Call(Vec<Arg>),
    Field(Ident),
    Index(Expr),
}

/// The expression grammar. `allow_block_call` is false where `{` after a name opens the body of an
/// `if` or `match` (as in Rust, `if ready { ... }` never reads `ready { ... }` as settings).
fn expression<'t, 's: 't, I: TokenInput<'t, 's>, E: GrammarExtra<'t, 's, I>>(
    full: ExprRec<'t, I, E>,
    condition: ExprRec<'t, I, E>,
    allow_block_call: bool,
) -> impl Parser<'t, I, Expr, E> + Clone {
    let literal = select! {
        Token::Int(raw) => ExprKind::Int(literal::parse_int(raw)),
        Token::Float(raw) => ExprKind::Float(literal::parse_float(raw)),
        Token::Str(raw) => ExprKind::Str(literal::decode_string(raw)),
        Token::TripleStr(raw) => ExprKind::Str(literal::decode_triple_string(raw)),
        Token::True => ExprKind::Bool(true),
        Token::False => ExprKind::Bool(false),
        Token::None => ExprKind::None,
    }
    .labelled("a literal");

    let name = ident().map(ExprKind::Name);
    let block_call = ident()
        .then(braced_entries(full.clone()))
        .map(|(callee, entries)| ExprKind::BlockCall { callee, entries });
    let name_or_call = if allow_block_call {
        block_call.or(name).boxed()
    } else {
        name.boxed()
    };

    let parenthesized = full
        .clone()
        .then(
            just(Token::Comma)
                .ignore_then(
                    full.clone()
                        .separated_by(just(Token::Comma))
                        .allow_trailing()
                        .collect::<Vec<_>>(),
                )
                .or_not(),
        )
        .or_not()
        .delimited_by(just(Token::LParen), just(Token::RParen))
        .map(|inner| match inner {
            None => ExprKind::Tuple(Vec::new()),
            Some((first, None)) => ExprKind::Paren(Box::new(first)),
            Some((first, Some(rest))) => {
                ExprKind::Tuple(std::iter::once(first).chain(rest).collect())
            }
        });

    let list = full
        .clone()
        .separated_by(just(Token::Comma))
        .allow_trailing()
        .collect::<Vec<_>>()
        .delimited_by(just(Token::LBracket), just(Token::RBracket))
        .map(ExprKind::List);

    let let_stmt = just(Token::Let)
        .ignore_then(ident())
        .then(just(Token::Colon).ignore_then(type_expr()).or_not())
        .then_ignore(just(Token::Eq))
        .then(full.clone())
        .then_ignore(just(Token::Semi).or_not())
        .map_with(|((name, ty), value), e| LetStmt {
            name,
            ty,
            value,
            span: span_of(e.span()),
        });
    let block = let_stmt
        .repeated()
        .collect::<Vec<_>>()
        .then(full.clone())
        .delimited_by(just(Token::LBrace), just(Token::RBrace))
        .map_with(|(lets, result), e| {
            expr_of(
                ExprKind::Block {
                    lets,
                    result: Box::new(result),
                },
                e.span(),
            )
        })
        .labelled("a block")
        .recover_with(via_parser(nested_delimiters(
            Token::LBrace,
            Token::RBrace,
            [
                (Token::LParen, Token::RParen),
                (Token::LBracket, Token::RBracket),
            ],
            |span| expr_of(ExprKind::Error, span),
        )))
        .boxed();

    let if_expr = recursive(|if_expr| {
        just(Token::If)
            .ignore_then(condition.clone())
            .then(block.clone())
            .then_ignore(just(Token::Else))
            .then(block.clone().or(if_expr))
            .map_with(|((condition, then_branch), else_branch), e| {
                expr_of(
                    ExprKind::If {
                        condition: Box::new(condition),
                        then_branch: Box::new(then_branch),
                        else_branch: Box::new(else_branch),
                    },
                    e.span(),
                )
            })
    });

    let arm = pattern()
        .then_ignore(just(Token::FatArrow))
        .then(full.clone())
        .then_ignore(optional_comma())
        .map_with(|(pattern, body), e| MatchArm {
            pattern,
            body,
            span: span_of(e.span()),
        });
    let match_expr = just(Token::Match)
        .ignore_then(condition.clone())
        .then(
            arm.repeated()
                .collect::<Vec<_>>()
                .delimited_by(just(Token::LBrace), just(Token::RBrace)),
        )
        .map(|(scrutinee, arms)| ExprKind::Match {
            scrutinee: Box::new(scrutinee),
            arms,
        });

    let turn = key()
        .then_ignore(just(Token::Colon))
        .then(full.clone())
        .then_ignore(optional_comma())
        .map(|(role, content)| ChatTurn { role, content });
    let chat = just(Token::Chat)
        .ignore_then(
            turn.repeated()
                .collect::<Vec<_>>()
                .delimited_by(just(Token::LBrace), just(Token::RBrace)),
        )
        .map(ExprKind::Chat);

    let part = ident()
        .then_ignore(just(Token::Colon))
        .then(full.clone())
        .then_ignore(optional_comma())
        .map(|(dataset, weight)| MixPart { dataset, weight });
    let mix = just(Token::Mix)
        .ignore_then(
            part.repeated()
                .collect::<Vec<_>>()
                .delimited_by(just(Token::LBrace), just(Token::RBrace)),
        )
        .map(ExprKind::Mix);

    let atom = choice((
        literal,
        name_or_call,
        parenthesized,
        list,
        match_expr,
        chat,
        mix,
    ))
    .map_with(|kind, e| expr_of(kind, e.span()))
    .or(if_expr)
    .or(block)
    .labelled("an expression")
    .recover_with(via_parser(nested_delimiters(
        Token::LParen,
        Token::RParen,
        [
            (Token::LBracket, Token::RBracket),
            (Token::LBrace, Token::RBrace),
        ],
        |span| expr_of(ExprKind::Error, span),
    )))
    .recover_with(via_parser(nested_delimiters(
        Token::LBracket,
        Token::RBracket,
        [
            (Token::LParen, Token::RParen),
            (Token::LBrace, Token::RBrace),
        ],
        |span| expr_of(ExprKind::Error, span),
    )))
    .boxed();

    let field_name = key().or(
        select! { Token::Int(raw) = e => Ident { name: raw.to_string(), span: span_of(e.span()) } },
    );
    let postfix_op = choice((
        args(full.clone()).map(Postfix::Call),
        just(Token::Dot)
            .ignore_then(field_name.labelled("a field name"))
            .map(Postfix::Field),
        full.clone()
            .delimited_by(just(Token::LBracket), just(Token::RBracket))
            .map(Postfix::Index),
    ));

    let binary = |l: Expr, op: BinaryOp, r: Expr, span: SimpleSpan| {
        expr_of(
            ExprKind::Binary {
                op,
                lhs: Box::new(l),
                rhs: Box::new(r),
            },
            span,
        )
    };
    atom.pratt((
        postfix(10, postfix_op, |target: Expr, op, e| {
            let kind = match op {
                Postfix::Call(args) => ExprKind::Call { callee: Box::new(target), args },
                Postfix::Field(field) => ExprKind::Field { target: Box::new(target), field },
                Postfix::Index(index) => ExprKind::Index { target: Box::new(target), index: Box::new(index) },
            };
            expr_of(kind, e.span())
        }),
        infix(right(9), just(Token::Caret).to(BinaryOp::Pow), move |l, op, r, e| binary(l, op, r, e.span())),
        prefix(8, select! { Token::Minus => UnaryOp::Neg, Token::Bang => UnaryOp::Not }, |op, operand, e| {
            expr_of(ExprKind::Unary { op, operand: Box::new(operand) }, e.span())
        }),
        infix(
            left(7),
            select! { Token::Star => BinaryOp::Mul, Token::Slash => BinaryOp::Div, Token::Percent => BinaryOp::Rem },
            move |l, op, r, e| binary(l, op, r, e.span()),
        ),
        infix(left(6), select! { Token::Plus => BinaryOp::Add, Token::Minus => BinaryOp::Sub }, move |l, op, r, e| {
            binary(l, op, r, e.span())
        }),
        infix(
            left(5),
            select! {
                Token::EqEq => BinaryOp::Eq, Token::NotEq => BinaryOp::NotEq,
                Token::Lt => BinaryOp::Lt, Token::Le => BinaryOp::Le,
                Token::Gt => BinaryOp::Gt, Token::Ge => BinaryOp::Ge,
            },
            move |l, op, r, e| binary(l, op, r, e.span()),
        ),
        infix(left(4), just(Token::AndAnd).to(BinaryOp::And), move |l, op, r, e| binary(l, op, r, e.span())),
        infix(left(3), just(Token::OrOr).to(BinaryOp::Or), move |l, op, r, e| binary(l, op, r, e.span())),
    ))
    .labelled("an expression")
    .boxed()
}

/// The full expression parser and the one for `if`/`match` heads. Built with `recursive` only: its
/// self-references are weak, where `Recursive::declare` pairs referring to each other would form an
/// `Rc` cycle and leak the grammar on every parse.
pub fn expressions<'t, 's: 't, I: TokenInput<'t, 's>, E: GrammarExtra<'t, 's, I>>()
-> (ExprRec<'t, I, E>, ExprRec<'t, I, E>) {
    let full = recursive(|full| {
        let condition = recursive(|condition| expression(full.clone(), condition, false));
        expression(full, condition, true)
    });
    let condition = recursive(|condition| expression(full.clone(), condition, false));
    (full, condition)
}

fn params<'t, 's: 't, I: TokenInput<'t, 's>, E: GrammarExtra<'t, 's, I>>(
    expr: ExprRec<'t, I, E>,
) -> impl Parser<'t, I, Vec<Param>, E> + Clone {
    // Keywords may name parameters (`prompt`, `reward`): such a parameter is passed by name.
    key()
        .then(just(Token::Colon).ignore_then(type_expr()).or_not())
        .then(just(Token::Eq).ignore_then(expr).or_not())
        .map_with(|((name, ty), default), e| Param {
            name,
            ty,
            default,
            span: span_of(e.span()),
        })
        .labelled("a parameter")
        .separated_by(just(Token::Comma))
        .allow_trailing()
        .collect::<Vec<_>>()
        .delimited_by(just(Token::LParen), just(Token::RParen))
}

fn attribute<'t, 's: 't, I: TokenInput<'t, 's>, E: GrammarExtra<'t, 's, I>>(
    expr: ExprRec<'t, I, E>,
) -> impl Parser<'t, I, Attribute, E> + Clone {
    just(Token::At)
        .ignore_then(key())
        .then(args(expr).or_not())
        .map_with(|(name, args), e| Attribute {
            name,
            args: args.unwrap_or_default(),
            span: span_of(e.span()),
        })
        .labelled("an attribute")
}

enum UseTail {
    Group(Vec<UseName>),
    Alias(Option<Ident>),
}

/// `use a::b::{c, d as e}` or `use a::b::c [as d]`. A `use` of a bare module (`use std`) parses with
/// no names and is reported by [`crate::parser`].
fn use_decl<'t, 's: 't, I: TokenInput<'t, 's>, E: GrammarExtra<'t, 's, I>>()
-> impl Parser<'t, I, UseDecl, E> + Clone {
    let use_name = ident()
        .then(word("as").ignore_then(ident()).or_not())
        .map(|(name, alias)| UseName { name, alias });
    let group = use_name
        .separated_by(just(Token::Comma))
        .allow_trailing()
        .collect::<Vec<_>>()
        .delimited_by(just(Token::LBrace), just(Token::RBrace));
    let tail = choice((
        just(Token::ColonColon)
            .ignore_then(group)
            .map(UseTail::Group),
        word("as").ignore_then(ident()).or_not().map(UseTail::Alias),
    ));
    just(Token::Use)
        .ignore_then(ident())
        .then(
            just(Token::ColonColon)
                .ignore_then(ident())
                .repeated()
                .collect::<Vec<_>>(),
        )
        .then(tail)
        .map(|((first, rest), tail)| {
            let mut module: Vec<Ident> = std::iter::once(first).chain(rest).collect();
            match tail {
                UseTail::Group(names) => UseDecl {
                    module,
                    names,
                    braced: true,
                },
                UseTail::Alias(_) if module.len() < 2 => UseDecl {
                    module,
                    names: Vec::new(),
                    braced: false,
                },
                UseTail::Alias(alias) => {
                    let name = module.pop().expect("two segments");
                    UseDecl {
                        module,
                        names: vec![UseName { name, alias }],
                        braced: false,
                    }
                }
            }
        })
}

fn dataset_decl<'t, 's: 't, I: TokenInput<'t, 's>, E: GrammarExtra<'t, 's, I>>(
    full: ExprRec<'t, I, E>,
    condition: ExprRec<'t, I, E>,
) -> impl Parser<'t, I, DatasetDecl, E> + Clone {
    let field = key()
        .then_ignore(just(Token::Colon))
        .then(type_expr())
        .then(attribute(full.clone()).repeated().collect::<Vec<_>>())
        .then_ignore(optional_comma())
        .map_with(|((name, ty), attributes), e| FieldDecl {
            name,
            ty,
            attributes,
            span: span_of(e.span()),
        })
        .labelled("a field")
        .recover_with(skip_then_retry_until(
            any().ignored(),
            just(Token::RBrace).ignored(),
        ));
    let schema = field
        .repeated()
        .collect::<Vec<_>>()
        .delimited_by(just(Token::LBrace), just(Token::RBrace))
        .recover_with(via_parser(nested_delimiters(
            Token::LBrace,
            Token::RBrace,
            [
                (Token::LParen, Token::RParen),
                (Token::LBracket, Token::RBracket),
            ],
            |_| Vec::new(),
        )));
    let where_clause = word("where")
        .ignore_then(full.clone())
        .map(DataClause::Where);
    let direction = word("asc").to(false).or(word("desc").to(true));
    let order_clause = word("order")
        .ignore_then(word("by"))
        .ignore_then(full.clone())
        .then(direction.or_not())
        .map(|(key, descending)| DataClause::OrderBy {
            key,
            descending: descending.unwrap_or(false),
        });
    just(Token::Dataset)
        .ignore_then(ident())
        .then_ignore(just(Token::Eq))
        .then(condition)
        .then(schema.or_not())
        .then(where_clause.or(order_clause).repeated().collect::<Vec<_>>())
        .map(|(((name, source), schema), clauses)| DatasetDecl {
            name,
            source,
            schema,
            clauses,
        })
}

fn fn_decl<'t, 's: 't, I: TokenInput<'t, 's>, E: GrammarExtra<'t, 's, I>>(
    keyword: Token<'s>,
    expr: ExprRec<'t, I, E>,
) -> impl Parser<'t, I, FnDecl, E> + Clone {
    just(keyword)
        .ignore_then(ident())
        .then(params(expr.clone()))
        .then(just(Token::Arrow).ignore_then(type_expr()).or_not())
        .then_ignore(just(Token::Eq))
        .then(expr)
        .map(|(((name, params), result), body)| FnDecl {
            name,
            params,
            result,
            body,
        })
}

fn value_decl<'t, 's: 't, I: TokenInput<'t, 's>, E: GrammarExtra<'t, 's, I>>(
    keyword: Token<'s>,
    expr: ExprRec<'t, I, E>,
) -> impl Parser<'t, I, ValueDecl, E> + Clone {
    just(keyword)
        .ignore_then(ident())
        .then_ignore(just(Token::Eq))
        .then(expr)
        .map(|(name, value)| ValueDecl { name, value })
}

/// One top-level item, with its attributes.
pub fn item<'t, 's: 't, I: TokenInput<'t, 's>, E: GrammarExtra<'t, 's, I>>()
-> impl Parser<'t, I, Item, E> + Clone {
    let (full, condition) = expressions::<I, E>();
    let let_decl = just(Token::Let)
        .ignore_then(ident())
        .then(just(Token::Colon).ignore_then(type_expr()).or_not())
        .then_ignore(just(Token::Eq))
        .then(full.clone())
        .map(|((name, ty), value)| LetDecl { name, ty, value });
    let train = word("train")
        .ignore_then(ident())
        .then(braced_entries(full.clone()))
        .map(|(model, entries)| TrainDecl { model, entries });
    let extern_fn = just(Token::Fn)
        .ignore_then(ident())
        .then(params(full.clone()))
        .then_ignore(just(Token::Arrow))
        .then(type_expr())
        .map(|((name, params), result)| {
            ExternDecl::Fn(ExternFn {
                name,
                params,
                result,
            })
        });
    let extern_let = just(Token::Let)
        .ignore_then(ident())
        .then_ignore(just(Token::Colon))
        .then(type_expr())
        .map(|(name, ty)| ExternDecl::Let(ExternLet { name, ty }));
    let extern_decl = just(Token::Extern).ignore_then(extern_fn.or(extern_let));

    let kind = choice((
        use_decl().map(ItemKind::Use),
        dataset_decl(full.clone(), condition).map(ItemKind::Dataset),
        value_decl(Token::Model, full.clone()).map(ItemKind::Model),
        fn_decl(Token::Prompt, full.clone()).map(ItemKind::Prompt),
        fn_decl(Token::Reward, full.clone()).map(ItemKind::Reward),
        fn_decl(Token::Fn, full.clone()).map(ItemKind::Fn),
        let_decl.map(ItemKind::Let),
        value_decl(Token::Algorithm, full.clone()).map(ItemKind::Algorithm),
        train.map(ItemKind::Train),
        extern_decl.map(ItemKind::Extern),
    ))
    .labelled("an item");

    attribute(full)
        .repeated()
        .collect::<Vec<_>>()
        .then(kind)
        .map_with(|(attributes, kind), e| Item {
            docs: Vec::new(),
            attributes,
            kind,
            span: span_of(e.span()),
        })
}
