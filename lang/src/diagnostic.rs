//! The one diagnostic type of rlx. Every phase reports through it; the CLI (human and JSON renderings)
//! and the language server only render it.

use serde::{Deserialize, Serialize};

use crate::span::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// Stable diagnostic codes. The number never changes meaning once released; tools match on it.
/// E01xx syntax, E02xx names, E03xx types, E04xx data and plan, W… warnings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Code {
    /// The file is not valid UTF-8.
    E0100,
    /// A character that cannot start any token.
    E0101,
    /// A string literal without its closing quote.
    E0102,
    /// An unknown escape sequence in a string literal.
    E0103,
    /// A block comment without its closing `*/`.
    E0104,
    /// A malformed or out-of-range number literal.
    E0105,
    /// A token where the grammar expects something else.
    E0110,
    /// The file or a block ends where more is expected.
    E0111,
    /// An opening delimiter that is never closed.
    E0112,
    /// A closing delimiter that does not match the open one.
    E0113,
    /// A name is defined twice in the same scope.
    E0201,
    /// A name that is not defined.
    E0202,
    /// A type name that is not defined.
    E0203,
    /// A parameter name repeated in one parameter list.
    E0204,
    /// A dataset field declared twice.
    E0205,
    /// A setting, named argument or mix entry given twice.
    E0206,
    /// An enum case listed twice.
    E0207,
    /// Two stages with the same name.
    E0208,
    /// A `use` of a module that does not exist.
    E0209,
    /// A `use` of a name the module does not define.
    E0210,
    /// A chat entry whose role is not `system`, `user` or `assistant`.
    E0211,
    /// A top-level item named `c`, `ex` or `group`, which stage and algorithm values bind themselves.
    E0212,
    /// A value of the wrong type.
    E0301,
    /// A field or method that the type does not have.
    E0302,
    /// A named argument the function does not take.
    E0304,
    /// Too many or too few arguments.
    E0305,
    /// A call of something that is not a function.
    E0306,
    /// `if` branches or `match` arms of different types.
    E0307,
    /// A pattern case that the enum does not have.
    E0308,
    /// A `match` that does not cover every case.
    E0309,
    /// An optional value used without checking it.
    E0310,
    /// A setting or argument outside its range (a learning rate must be positive).
    E0311,
    /// Settings that contradict each other (a batch that is not a multiple of the group size).
    E0312,
    /// A KL penalty both in the loss (`kl`) and in the reward (`kl_reward`).
    E0313,
    /// A reward or prompt reads a field that the stage's dataset does not have.
    E0314,
    /// A regular expression literal that does not compile.
    E0315,
    /// A data file that cannot be opened or read.
    E0401,
    /// A row that is not a JSON object (or a file that is not JSON).
    E0402,
    /// A row without a field the schema requires.
    E0403,
    /// A `null` in a field that is not optional.
    E0404,
    /// A value of the wrong type for its field.
    E0405,
    /// An image path that does not exist.
    E0406,
    /// A value that is not one of its enum's cases.
    E0407,
    /// A setting that must be known before training depends on the data, or a schedule on more
    /// than the step.
    E0408,
    /// A recipe without a `train` block (nothing to build), or with more than one.
    E0409,
    /// An image that cannot be decoded (corrupt, truncated, or not PNG, JPEG or WebP).
    E0410,
    /// An imported name that is never used.
    W0201,
    /// A field in the data that the schema does not declare.
    W0401,
    /// A data file too large to check in full (its head and samples were checked).
    W0402,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::E0100 => "E0100",
            Code::E0101 => "E0101",
            Code::E0102 => "E0102",
            Code::E0103 => "E0103",
            Code::E0104 => "E0104",
            Code::E0105 => "E0105",
            Code::E0110 => "E0110",
            Code::E0111 => "E0111",
            Code::E0112 => "E0112",
            Code::E0113 => "E0113",
            Code::E0201 => "E0201",
            Code::E0202 => "E0202",
            Code::E0203 => "E0203",
            Code::E0204 => "E0204",
            Code::E0205 => "E0205",
            Code::E0206 => "E0206",
            Code::E0207 => "E0207",
            Code::E0208 => "E0208",
            Code::E0209 => "E0209",
            Code::E0210 => "E0210",
            Code::E0211 => "E0211",
            Code::E0212 => "E0212",
            Code::E0301 => "E0301",
            Code::E0302 => "E0302",
            Code::E0304 => "E0304",
            Code::E0305 => "E0305",
            Code::E0306 => "E0306",
            Code::E0307 => "E0307",
            Code::E0308 => "E0308",
            Code::E0309 => "E0309",
            Code::E0310 => "E0310",
            Code::E0311 => "E0311",
            Code::E0312 => "E0312",
            Code::E0313 => "E0313",
            Code::E0314 => "E0314",
            Code::E0315 => "E0315",
            Code::E0401 => "E0401",
            Code::E0402 => "E0402",
            Code::E0403 => "E0403",
            Code::E0404 => "E0404",
            Code::E0405 => "E0405",
            Code::E0406 => "E0406",
            Code::E0407 => "E0407",
            Code::E0408 => "E0408",
            Code::E0409 => "E0409",
            Code::E0410 => "E0410",
            Code::W0201 => "W0201",
            Code::W0401 => "W0401",
            Code::W0402 => "W0402",
        }
    }

    pub fn severity(self) -> Severity {
        if self.as_str().starts_with('W') {
            Severity::Warning
        } else {
            Severity::Error
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A span with a short message, drawn under the source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// A replacement the editor can apply ("did you mean").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suggestion {
    pub span: Span,
    pub replacement: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// Where the problem is. Its message may be empty when the main message says it all.
    pub primary: Label,
    /// Related places ("first defined here", "opened here").
    pub secondary: Vec<Label>,
    pub help: Option<String>,
    pub notes: Vec<String>,
    pub suggestion: Option<Suggestion>,
}

impl Diagnostic {
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: code.severity(),
            message: message.into(),
            primary: Label {
                span,
                message: String::new(),
            },
            secondary: Vec::new(),
            help: None,
            notes: Vec::new(),
            suggestion: None,
        }
    }

    pub fn with_label(mut self, message: impl Into<String>) -> Self {
        self.primary.message = message.into();
        self
    }

    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn with_suggestion(mut self, span: Span, replacement: impl Into<String>) -> Self {
        self.suggestion = Some(Suggestion {
            span,
            replacement: replacement.into(),
        });
        self
    }

    /// "did you mean `candidate`?" as help, with the replacement an editor can apply at `span`.
    pub fn with_did_you_mean(self, span: Span, candidate: &str) -> Self {
        self.with_help(format!("did you mean `{candidate}`?"))
            .with_suggestion(span, candidate)
    }

    pub fn span(&self) -> Span {
        self.primary.span
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Orders diagnostics by position, then code, so every rendering lists them in source order.
pub fn sort_diagnostics(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by_key(|d| (d.primary.span.start, d.primary.span.end, d.code));
}
