//! Parsing a whole file. The parser never gives up: the token stream is split into items at item
//! keywords (at nesting depth zero, or at the start of a line), delimiters are matched first so an
//! unclosed brace is reported where it was opened, and each item is parsed on its own.

use chumsky::error::EmptyErr;
use chumsky::error::{RichPattern, RichReason};
use chumsky::input::Input as _;
use chumsky::prelude::*;

use crate::ast::{Item, ItemKind, Module};
use crate::diagnostic::{Code, Diagnostic};
use crate::grammar::{self, ParseError};
use crate::lexer::{self, Token};
use crate::literal;
use crate::span::Span;

/// A comment kept for the formatter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    pub text: String,
    pub span: Span,
    pub doc: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Parsed {
    pub module: Module,
    pub comments: Vec<Comment>,
    pub diagnostics: Vec<Diagnostic>,
}

pub fn parse(source: &str) -> Parsed {
    let (all_tokens, mut diagnostics) = lexer::lex(source);
    let mut comments = Vec::new();
    let mut tokens = Vec::with_capacity(all_tokens.len());
    for (token, span) in all_tokens {
        match token {
            Token::DocComment(text) => comments.push(Comment {
                text: text.to_string(),
                span,
                doc: true,
            }),
            Token::LineComment(text) | Token::BlockComment(text) => comments.push(Comment {
                text: text.to_string(),
                span,
                doc: false,
            }),
            _ => tokens.push((token, span)),
        }
    }
    diagnostics.extend(check_literals(&tokens));

    let segments = split_items(source, &tokens);
    let chumsky_tokens: Vec<(Token<'_>, SimpleSpan)> = tokens
        .iter()
        .map(|(t, s)| (*t, SimpleSpan::from(s.start..s.end)))
        .collect();
    type TokenSlice<'t, 's> =
        chumsky::input::MappedInput<'t, Token<'s>, SimpleSpan, &'t [(Token<'s>, SimpleSpan)]>;
    let fast_parser = grammar::item::<TokenSlice<'_, '_>, extra::Err<EmptyErr>>();
    // Built only for a file with a broken item.
    let mut rich_parser = None;

    let mut items = Vec::with_capacity(segments.len());
    let mut previous_end = 0;
    for segment in &segments {
        let slice = &chumsky_tokens[segment.tokens.clone()];
        let first = tokens[segment.tokens.start].1;
        let last = tokens[segment.tokens.end - 1].1;
        let eoi = SimpleSpan::from(last.end..last.end);
        let input = slice.split_token_span(eoi);
        let (mut output, fast_errors) = fast_parser.parse(input).into_output_errors();
        let mut errors = Vec::new();
        if !fast_errors.is_empty() {
            (output, errors) = rich_parser
                .get_or_insert_with(
                    grammar::item::<TokenSlice<'_, '_>, extra::Err<ParseError<'_, '_>>>,
                )
                .parse(slice.split_token_span(eoi))
                .into_output_errors();
        }
        let mut item = output.unwrap_or(Item {
            docs: Vec::new(),
            attributes: Vec::new(),
            kind: ItemKind::Error,
            span: first.to(last),
        });
        item.docs = doc_lines(&comments, previous_end, first.start);
        diagnostics.extend(check_use(&item));
        previous_end = last.end;
        items.push(item);
        diagnostics.extend(segment.delimiter_errors.iter().cloned());
        if segment.delimiter_errors.is_empty() {
            let next = tokens.get(segment.tokens.end).map(|(token, _)| *token);
            let mut seen = Vec::new();
            for error in errors {
                if let Some(diagnostic) = syntax_diagnostic(&error, next, last)
                    && !seen.contains(&diagnostic.span())
                {
                    seen.push(diagnostic.span());
                    diagnostics.push(diagnostic);
                }
            }
        }
    }
    crate::diagnostic::sort_diagnostics(&mut diagnostics);
    Parsed {
        module: Module { items },
        comments,
        diagnostics,
    }
}

/// `use std` alone names a module but nothing to take from it.
fn check_use(item: &Item) -> Option<Diagnostic> {
    let ItemKind::Use(decl) = &item.kind else {
        return None;
    };
    if !decl.names.is_empty() || decl.braced {
        return None;
    }
    Some(
        Diagnostic::new(Code::E0110, item.span, "this `use` names a module but nothing to take from it")
            .with_label("imports nothing")
            .with_help("name what to import, such as `use std::verify::math_equiv` or `use std::verify::{math_equiv, choice_equiv}`"),
    )
}

/// The doc comments between byte offsets `after` and `before`. Comments are sorted by position, so
/// the search starts at the first that could match.
fn doc_lines(comments: &[Comment], after: usize, before: usize) -> Vec<String> {
    let first = comments.partition_point(|c| c.span.start < after);
    comments[first..]
        .iter()
        .take_while(|c| c.span.end <= before)
        .filter(|c| c.doc)
        .map(|c| {
            let text = c.text.trim_start_matches("///");
            text.strip_prefix(' ')
                .unwrap_or(text)
                .trim_end()
                .to_string()
        })
        .collect()
}

fn check_literals(tokens: &[(Token<'_>, Span)]) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    for (token, span) in tokens {
        match token {
            Token::Int(raw) => diagnostics.extend(literal::check_int(raw, *span)),
            Token::Float(raw) => diagnostics.extend(literal::check_float(raw, *span)),
            Token::Str(raw) | Token::TripleStr(raw) => {
                diagnostics.extend(literal::check_escapes(raw, span.start))
            }
            _ => {}
        }
    }
    diagnostics
}

struct Segment {
    tokens: std::ops::Range<usize>,
    delimiter_errors: Vec<Diagnostic>,
}

fn closer_of(token: Token<'_>) -> Option<Token<'static>> {
    match token {
        Token::LParen => Some(Token::RParen),
        Token::LBracket => Some(Token::RBracket),
        Token::LBrace => Some(Token::RBrace),
        _ => None,
    }
}

fn is_closer(token: Token<'_>) -> bool {
    matches!(token, Token::RParen | Token::RBracket | Token::RBrace)
}

fn can_end_item(token: Token<'_>) -> bool {
    match token {
        Token::Ident(_)
        | Token::Int(_)
        | Token::Float(_)
        | Token::Str(_)
        | Token::TripleStr(_)
        | Token::Error => true,
        Token::RParen | Token::RBracket | Token::RBrace | Token::Question => true,
        Token::Use
        | Token::Extern
        | Token::Let
        | Token::Fn
        | Token::If
        | Token::Else
        | Token::Match
        | Token::Enum => false,
        Token::Chat | Token::Mix => false,
        other => other.is_keyword(),
    }
}

fn at_line_start(source: &str, offset: usize) -> bool {
    offset == 0 || source.as_bytes()[offset - 1] == b'\n'
}

fn unclosed(open: Token<'_>, span: Span) -> Diagnostic {
    let close = closer_of(open).map_or("", |t| t.text()).to_string();
    Diagnostic::new(Code::E0112, span, format!("unclosed `{}`", open.text()))
        .with_label("this delimiter is never closed")
        .with_help(format!("add the matching `{close}`"))
}

/// Splits the tokens into items and matches delimiters within each.
fn split_items(source: &str, tokens: &[(Token<'_>, Span)]) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut start = 0;
    let mut stack: Vec<(Token<'_>, Span)> = Vec::new();
    let mut errors = Vec::new();
    // Whether the current segment has anything besides leading attributes (`@a(x)`), which belong to
    // the item that follows them.
    let mut has_content = false;
    let mut in_attribute = false;
    let mut previous: Option<Token<'_>> = None;

    for (index, &(token, span)) in tokens.iter().enumerate() {
        let column_zero = at_line_start(source, span.start);
        // `train` is a word, not a keyword (a dataset may be called `train`): it begins an item when
        // followed by a name and `{`, or by a name at the start of a line.
        let train_block = token == Token::Ident("train")
            && matches!(tokens.get(index + 1), Some((Token::Ident(_), _)))
            && (column_zero || matches!(tokens.get(index + 2), Some((Token::LBrace, _))));
        let begins_item = (token.starts_item() && previous != Some(Token::Extern))
            || token == Token::At
            || train_block;
        // At the start of a line an item keyword always begins an item, even inside an unclosed
        // delimiter; elsewhere only at depth zero after something that can end an item (not in
        // `-> model` or `data = dataset`, where keywords name types or settings).
        let breaks = if column_zero {
            true
        } else {
            stack.is_empty() && previous.is_none_or(can_end_item)
        };
        if begins_item && breaks && has_content && index > start {
            for (open, open_span) in stack.drain(..).rev() {
                errors.push(unclosed(open, open_span));
            }
            segments.push(Segment {
                tokens: start..index,
                delimiter_errors: std::mem::take(&mut errors),
            });
            start = index;
            has_content = false;
            in_attribute = false;
        }

        let attribute_part = token == Token::At
            || (in_attribute && previous == Some(Token::At))
            || (in_attribute && token == Token::LParen && stack.is_empty());
        if stack.is_empty() {
            in_attribute = attribute_part;
            if !attribute_part {
                has_content = true;
            }
        }

        if closer_of(token).is_some() {
            stack.push((token, span));
        } else if is_closer(token) {
            match stack
                .iter()
                .rposition(|(open, _)| closer_of(*open) == Some(token))
            {
                Some(position) => {
                    for (open, open_span) in stack.drain(position + 1..).rev() {
                        errors.push(unclosed(open, open_span).with_secondary(
                            span,
                            format!("`{}` closes an outer delimiter here", token.text()),
                        ));
                    }
                    stack.pop();
                }
                None => {
                    let mut diagnostic = Diagnostic::new(
                        Code::E0113,
                        span,
                        format!("unexpected closing `{}`", token.text()),
                    )
                    .with_label("this does not close anything");
                    if let Some((open, open_span)) = stack.last() {
                        let close = closer_of(*open).map_or("", |t| t.text());
                        diagnostic = diagnostic
                            .with_secondary(
                                *open_span,
                                format!("the innermost open `{}` wants `{close}`", open.text()),
                            )
                            .with_help(format!("did you mean `{close}`?"));
                    }
                    errors.push(diagnostic);
                }
            }
            if stack.is_empty() && in_attribute && token == Token::RParen {
                in_attribute = false;
            }
        }
        previous = Some(token);
    }
    if start < tokens.len() {
        for (open, open_span) in stack.drain(..).rev() {
            errors.push(unclosed(open, open_span));
        }
        segments.push(Segment {
            tokens: start..tokens.len(),
            delimiter_errors: errors,
        });
    }
    segments
}

fn describe_pattern(pattern: &RichPattern<'_, Token<'_>>) -> Option<String> {
    match pattern {
        RichPattern::Token(token) => Some(token.describe()),
        RichPattern::Label(label) => Some(label.to_string()),
        RichPattern::Identifier(word) => Some(format!("`{word}`")),
        RichPattern::Any => Some("more input".to_string()),
        RichPattern::EndOfInput => Some("the end of the item".to_string()),
        _ => None,
    }
}

/// After a complete expression every operator could follow; listing them all hides what is missing.
/// Where a closing delimiter or separator is possible, say only those; otherwise say "an operator".
fn summarise_expected(alternatives: Vec<String>) -> Vec<String> {
    const STRUCTURAL: [&str; 4] = ["`)`", "`]`", "`}`", "`,`"];
    const OPERATORS: [&str; 14] = [
        "`+`", "`-`", "`*`", "`/`", "`%`", "`^`", "`==`", "`!=`", "`<`", "`<=`", "`>`", "`>=`",
        "`&&`", "`||`",
    ];
    // An attribute can precede any item; "an item" says enough.
    if alternatives.iter().any(|a| a == "an item") {
        return alternatives
            .into_iter()
            .filter(|a| a != "an attribute")
            .collect();
    }
    if alternatives
        .iter()
        .any(|a| STRUCTURAL.contains(&a.as_str()))
    {
        return alternatives
            .into_iter()
            .filter(|a| STRUCTURAL.contains(&a.as_str()))
            .collect();
    }
    let had_operator = alternatives.iter().any(|a| OPERATORS.contains(&a.as_str()));
    let mut kept: Vec<String> = alternatives
        .into_iter()
        .filter(|a| !OPERATORS.contains(&a.as_str()) && a != "`.`")
        .collect();
    if had_operator {
        kept.push("an operator".to_string());
    }
    kept
}

fn join_alternatives(mut alternatives: Vec<String>) -> String {
    alternatives.sort();
    alternatives.dedup();
    // Named things ("an expression") read better before single tokens.
    alternatives.sort_by_key(|a| a.starts_with('`'));
    match alternatives.len() {
        0 => "something else".to_string(),
        1 => alternatives.remove(0),
        n => format!(
            "{} or {}",
            alternatives[..n - 1].join(", "),
            alternatives[n - 1]
        ),
    }
}

/// Help for mistakes people carry over from other languages.
fn hint_for(found: &Token<'_>, expected: &str) -> Option<String> {
    if expected.contains("an item") {
        let word = if let Token::Ident(word) = found {
            *word
        } else {
            ""
        };
        let hint = match word {
            "def" | "function" | "func" | "fun" => {
                "functions are declared with `fn`; rewards with `reward`"
            }
            "const" | "var" | "val" | "static" => "constants are declared with `let`",
            "import" | "from" | "include" => "imports are written `use std::verify::math_equiv`",
            "data" | "datasets" => "datasets are declared with `dataset`",
            "algo" | "preset" => "algorithms are declared with `algorithm NAME = grpo { ... }`",
            "stage" => "stages are written inside a `train MODEL { ... }` block",
            _ => {
                "items begin with `use`, `dataset`, `model`, `prompt`, `reward`, `fn`, `let`, `algorithm` or `train`"
            }
        };
        return Some(hint.to_string());
    }
    if expected == "the end of the item" {
        return match found {
            Token::Ident("as") => Some("in a `use`, write `as` right after the name it renames: `use std::verify::{math_equiv as equiv}`".to_string()),
            Token::ColonColon => Some("in a `use`, a `{...}` list of names comes last".to_string()),
            _ => None,
        };
    }
    if expected.contains("a name") && found.is_keyword() {
        return Some(format!(
            "`{}` is a keyword and cannot be used as a name here",
            found.text()
        ));
    }
    None
}

/// Turns a chumsky error into a diagnostic in the language's own words. `next` is the token after the
/// item (what "the end of the item" really is), `last` the item's last token.
fn syntax_diagnostic(
    error: &ParseError<'_, '_>,
    next: Option<Token<'_>>,
    last: Span,
) -> Option<Diagnostic> {
    let span = Span::from(*error.span());
    match error.reason() {
        RichReason::Custom(message) => Some(Diagnostic::new(Code::E0110, span, message.clone())),
        RichReason::ExpectedFound { expected, found } => {
            let expected = join_alternatives(summarise_expected(
                expected.iter().filter_map(describe_pattern).collect(),
            ));
            match found.as_deref() {
                // The lexer has reported this token already.
                Some(Token::Error) => None,
                Some(found) => {
                    let diagnostic = Diagnostic::new(
                        Code::E0110,
                        span,
                        format!("expected {expected}, found {}", found.describe()),
                    )
                    .with_label(format!("expected {expected} here"));
                    Some(match hint_for(found, &expected) {
                        Some(help) => diagnostic.with_help(help),
                        None => diagnostic,
                    })
                }
                None => {
                    let at = Span::point(last.end);
                    Some(match next {
                        Some(next) => Diagnostic::new(
                            Code::E0110,
                            at,
                            format!("expected {expected}, found {}", next.describe()),
                        )
                        .with_label(format!("expected {expected} here"))
                        .with_note(format!("{} begins the next item", next.describe())),
                        None => Diagnostic::new(
                            Code::E0111,
                            at,
                            format!("expected {expected}, found the end of the file"),
                        )
                        .with_label(format!("expected {expected} here")),
                    })
                }
            }
        }
    }
}
