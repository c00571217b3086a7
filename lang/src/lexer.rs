//! Lexer: source text to tokens with byte spans. Never fails: bad input becomes `Token::Error` plus a
//! diagnostic, so the parser still sees the rest of the file.

use logos::Logos;

use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;

/// Why logos could not produce a token; turned into a diagnostic by [`lex`].
#[derive(Clone, Debug, Default, PartialEq)]
pub enum LexError {
    #[default]
    UnexpectedCharacter,
    UnterminatedString,
    UnterminatedTripleString,
    UnterminatedBlockComment,
}

#[derive(Logos, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[logos(error = LexError)]
#[logos(skip r"[ \t\r\n\f]+")]
pub enum Token<'src> {
    // Comments are tokens so that the formatter can keep them; the parser never sees them.
    #[regex(r"///[^\n]*", allow_greedy = true)]
    DocComment(&'src str),
    #[regex(r"//[^\n]*", allow_greedy = true, priority = 2)]
    LineComment(&'src str),
    #[token("/*", block_comment)]
    BlockComment(&'src str),

    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident(&'src str),
    #[regex(r"[0-9][0-9_]*")]
    Int(&'src str),
    #[regex(r"[0-9][0-9_]*\.[0-9][0-9_]*([eE][+-]?[0-9][0-9_]*)?")]
    #[regex(r"[0-9][0-9_]*[eE][+-]?[0-9][0-9_]*")]
    Float(&'src str),
    /// Digits run into letters (`12ab`, `0x1F`, `1e`): reported as a bad number, not as two tokens.
    #[regex(r"[0-9][0-9_]*(\.[0-9][0-9_]*)?[A-Za-z_][A-Za-z0-9_]*", priority = 1)]
    BadNumber(&'src str),
    /// A one-line string, quotes included; escapes are decoded by the parser.
    #[regex(r#""([^"\\\n]|\\[^\n])*""#)]
    #[regex(r#""([^"\\\n]|\\[^\n])*"#, unterminated_string)]
    Str(&'src str),
    /// A `"""` string that may span lines, quotes included.
    #[token(r#"""""#, triple_string)]
    TripleStr(&'src str),

    // Keywords.
    #[token("use")]
    Use,
    #[token("dataset")]
    Dataset,
    #[token("model")]
    Model,
    #[token("prompt")]
    Prompt,
    #[token("reward")]
    Reward,
    #[token("fn")]
    Fn,
    #[token("let")]
    Let,
    #[token("algorithm")]
    Algorithm,
    #[token("extern")]
    Extern,
    #[token("if")]
    If,
    #[token("else")]
    Else,
    #[token("match")]
    Match,
    #[token("true")]
    True,
    #[token("false")]
    False,
    #[token("none")]
    None,
    #[token("chat")]
    Chat,
    #[token("mix")]
    Mix,
    #[token("enum")]
    Enum,

    // Punctuation.
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token(",")]
    Comma,
    #[token(";")]
    Semi,
    #[token(":")]
    Colon,
    #[token("::")]
    ColonColon,
    #[token(".")]
    Dot,
    #[token("=")]
    Eq,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("%")]
    Percent,
    #[token("^")]
    Caret,
    #[token("!")]
    Bang,
    #[token("&&")]
    AndAnd,
    #[token("||")]
    OrOr,
    #[token("|")]
    Pipe,
    #[token("->")]
    Arrow,
    #[token("=>")]
    FatArrow,
    #[token("?")]
    Question,
    #[token("@")]
    At,

    /// Stands in for input the lexer rejected; a diagnostic has been reported for it.
    Error,
}

fn block_comment<'src>(lex: &mut logos::Lexer<'src, Token<'src>>) -> Result<&'src str, LexError> {
    match lex.remainder().find("*/") {
        Some(end) => {
            lex.bump(end + 2);
            Ok(lex.slice())
        }
        None => {
            lex.bump(lex.remainder().len());
            Err(LexError::UnterminatedBlockComment)
        }
    }
}

fn triple_string<'src>(lex: &mut logos::Lexer<'src, Token<'src>>) -> Result<&'src str, LexError> {
    let rest = lex.remainder();
    let mut offset = 0;
    // Skip escaped characters so that `\"""` does not close the string.
    while offset < rest.len() {
        if rest[offset..].starts_with("\"\"\"") {
            lex.bump(offset + 3);
            return Ok(lex.slice());
        }
        let step = if rest[offset..].starts_with('\\') {
            1
        } else {
            0
        };
        offset += step;
        offset += rest[offset..].chars().next().map_or(1, char::len_utf8);
    }
    lex.bump(rest.len());
    Err(LexError::UnterminatedTripleString)
}

fn unterminated_string<'src>(
    _: &mut logos::Lexer<'src, Token<'src>>,
) -> Result<&'src str, LexError> {
    Err(LexError::UnterminatedString)
}

impl<'src> Token<'src> {
    /// How the token is written in source, for messages such as "expected `)`".
    pub fn describe(&self) -> String {
        match self {
            Token::DocComment(_) => "doc comment".into(),
            Token::LineComment(_) | Token::BlockComment(_) => "comment".into(),
            Token::Ident(name) => format!("`{name}`"),
            Token::Int(text) | Token::Float(text) | Token::BadNumber(text) => format!("`{text}`"),
            Token::Str(_) | Token::TripleStr(_) => "a string".into(),
            Token::Error => "invalid input".into(),
            other => format!("`{}`", other.text()),
        }
    }

    /// The fixed text of keywords and punctuation.
    pub fn text(&self) -> &'src str {
        match self {
            Token::DocComment(s)
            | Token::LineComment(s)
            | Token::BlockComment(s)
            | Token::Ident(s)
            | Token::Int(s)
            | Token::Float(s)
            | Token::BadNumber(s)
            | Token::Str(s)
            | Token::TripleStr(s) => s,
            Token::Use => "use",
            Token::Dataset => "dataset",
            Token::Model => "model",
            Token::Prompt => "prompt",
            Token::Reward => "reward",
            Token::Fn => "fn",
            Token::Let => "let",
            Token::Algorithm => "algorithm",
            Token::Extern => "extern",
            Token::If => "if",
            Token::Else => "else",
            Token::Match => "match",
            Token::True => "true",
            Token::False => "false",
            Token::None => "none",
            Token::Chat => "chat",
            Token::Mix => "mix",
            Token::Enum => "enum",
            Token::LParen => "(",
            Token::RParen => ")",
            Token::LBracket => "[",
            Token::RBracket => "]",
            Token::LBrace => "{",
            Token::RBrace => "}",
            Token::Comma => ",",
            Token::Semi => ";",
            Token::Colon => ":",
            Token::ColonColon => "::",
            Token::Dot => ".",
            Token::Eq => "=",
            Token::EqEq => "==",
            Token::NotEq => "!=",
            Token::Lt => "<",
            Token::Le => "<=",
            Token::Gt => ">",
            Token::Ge => ">=",
            Token::Plus => "+",
            Token::Minus => "-",
            Token::Star => "*",
            Token::Slash => "/",
            Token::Percent => "%",
            Token::Caret => "^",
            Token::Bang => "!",
            Token::AndAnd => "&&",
            Token::OrOr => "||",
            Token::Pipe => "|",
            Token::Arrow => "->",
            Token::FatArrow => "=>",
            Token::Question => "?",
            Token::At => "@",
            Token::Error => "<error>",
        }
    }

    pub fn is_keyword(&self) -> bool {
        matches!(
            self,
            Token::Use
                | Token::Dataset
                | Token::Model
                | Token::Prompt
                | Token::Reward
                | Token::Fn
                | Token::Let
                | Token::Algorithm
                | Token::Extern
                | Token::If
                | Token::Else
                | Token::Match
                | Token::True
                | Token::False
                | Token::None
                | Token::Chat
                | Token::Mix
                | Token::Enum
        )
    }

    pub fn is_comment(&self) -> bool {
        matches!(
            self,
            Token::DocComment(_) | Token::LineComment(_) | Token::BlockComment(_)
        )
    }

    /// Keywords that begin a top-level item.
    pub fn starts_item(&self) -> bool {
        matches!(
            self,
            Token::Use
                | Token::Dataset
                | Token::Model
                | Token::Prompt
                | Token::Reward
                | Token::Fn
                | Token::Let
                | Token::Algorithm
                | Token::Extern
        )
    }
}

impl std::fmt::Display for Token<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// All tokens of `source`, comments included, and a diagnostic for each piece of bad input.
pub fn lex(source: &str) -> (Vec<(Token<'_>, Span)>, Vec<Diagnostic>) {
    let mut tokens = Vec::new();
    let mut diagnostics = Vec::new();
    let mut lexer = Token::lexer(source);
    while let Some(result) = lexer.next() {
        let span = Span::from(lexer.span());
        match result {
            Ok(Token::BadNumber(text)) => {
                diagnostics.push(bad_number(text, span));
                tokens.push((Token::Error, span));
            }
            Ok(token) => tokens.push((token, span)),
            Err(error) => {
                diagnostics.push(lex_error(&error, source, span));
                tokens.push((Token::Error, span));
            }
        }
    }
    (tokens, diagnostics)
}

fn bad_number(text: &str, span: Span) -> Diagnostic {
    let diagnostic = Diagnostic::new(
        Code::E0105,
        span,
        format!("invalid number literal `{text}`"),
    )
    .with_label("not a number");
    if text.starts_with("0x") || text.starts_with("0b") || text.starts_with("0o") {
        diagnostic.with_help("numbers are written in decimal, such as `255` or `1.5e-6`")
    } else if text.ends_with(['e', 'E']) {
        diagnostic.with_help("an exponent needs digits, such as `1e-6`")
    } else {
        diagnostic.with_help("put a space or an operator between a number and a name")
    }
}

fn lex_error(error: &LexError, source: &str, span: Span) -> Diagnostic {
    match error {
        LexError::UnexpectedCharacter => {
            let found = source[span.start..].chars().next().unwrap_or('\u{fffd}');
            let diagnostic = Diagnostic::new(
                Code::E0101,
                span,
                format!("unexpected character `{}`", found.escape_debug()),
            )
            .with_label("not valid here");
            match found {
                '\'' => diagnostic.with_help("strings are written with double quotes: \"...\""),
                '#' => diagnostic.with_help("comments start with `//`"),
                '&' => diagnostic.with_help("logical and is written `&&`"),
                _ => diagnostic,
            }
        }
        LexError::UnterminatedString => Diagnostic::new(Code::E0102, span, "unterminated string")
            .with_label("this string has no closing `\"` on its line")
            .with_help("close it with `\"`, or use `\"\"\"` for a string that spans lines"),
        LexError::UnterminatedTripleString => Diagnostic::new(
            Code::E0102,
            Span::new(span.start, span.start + 3),
            "unterminated string",
        )
        .with_label("this `\"\"\"` string is never closed")
        .with_help("close it with `\"\"\"`"),
        LexError::UnterminatedBlockComment => Diagnostic::new(
            Code::E0104,
            Span::new(span.start, span.start + 2),
            "unterminated block comment",
        )
        .with_label("this comment is never closed")
        .with_help("close it with `*/`"),
    }
}
