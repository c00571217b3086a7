//! Renderings of diagnostics: `human` (ariadne, colour only on a terminal), `short` (one line each,
//! for grep and editors' error lists) and `json` (one object per line, fields as in docs/cli.md).

use ariadne::{Color, Config, IndexType, Label, Report, ReportKind, Source};
use rlx_lang::{Diagnostic, Severity};
use serde::Serialize;

use crate::source::SourceFile;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageFormat {
    Human,
    Short,
    Json,
}

/// The span as a range ariadne can slice: inside the text and on character boundaries (the text of a
/// file that is not UTF-8 holds replacement characters where its offsets point between bytes).
fn clamp(file: &SourceFile, span: rlx_lang::Span) -> std::ops::Range<usize> {
    let text = &file.text;
    let mut start = span.start.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = span.end.clamp(start, text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

/// The ariadne report of one diagnostic, as text.
pub fn human(file: &SourceFile, diagnostic: &Diagnostic, color: bool) -> String {
    let name = file.name.as_str();
    let (kind, primary_color) = match diagnostic.severity {
        Severity::Error => (ReportKind::Error, Color::Red),
        Severity::Warning => (ReportKind::Warning, Color::Yellow),
    };
    let config = Config::default()
        .with_index_type(IndexType::Byte)
        .with_color(color);
    let mut primary = Label::new((name, clamp(file, diagnostic.primary.span)))
        .with_color(primary_color)
        .with_order(0);
    if !diagnostic.primary.message.is_empty() {
        primary = primary.with_message(&diagnostic.primary.message);
    }
    let mut report = Report::build(kind, (name, clamp(file, diagnostic.primary.span)))
        .with_config(config)
        .with_code(diagnostic.code)
        .with_message(&diagnostic.message)
        .with_label(primary);
    for (order, label) in diagnostic.secondary.iter().enumerate() {
        report = report.with_label(
            Label::new((name, clamp(file, label.span)))
                .with_message(&label.message)
                .with_color(Color::Blue)
                .with_order(order as i32 + 1),
        );
    }
    if let Some(help) = &diagnostic.help {
        report = report.with_help(help);
    }
    for note in &diagnostic.notes {
        report = report.with_note(note);
    }
    let mut out = Vec::new();
    report
        .finish()
        .write((name, Source::from(file.text.as_str())), &mut out)
        .expect("writing to memory does not fail");
    String::from_utf8_lossy(&out).into_owned()
}

/// `file:line:column: error[E0110]: message`
pub fn short(file: &SourceFile, diagnostic: &Diagnostic) -> String {
    let (line, column) = file.line_column(diagnostic.primary.span.start);
    let severity = match diagnostic.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    format!(
        "{}:{line}:{column}: {severity}[{}]: {}\n",
        file.name, diagnostic.code, diagnostic.message
    )
}

#[derive(Serialize)]
struct JsonLabel<'a> {
    start: usize,
    end: usize,
    line: usize,
    column: usize,
    message: &'a str,
    primary: bool,
}

#[derive(Serialize)]
struct JsonSuggestion<'a> {
    start: usize,
    end: usize,
    replacement: &'a str,
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    code: &'a str,
    severity: Severity,
    message: &'a str,
    file: &'a str,
    start: usize,
    end: usize,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    labels: Vec<JsonLabel<'a>>,
    help: Option<&'a str>,
    notes: &'a [String],
    suggestion: Option<JsonSuggestion<'a>>,
}

fn json_label<'a>(file: &SourceFile, label: &'a rlx_lang::Label, primary: bool) -> JsonLabel<'a> {
    let (line, column) = file.line_column(label.span.start);
    JsonLabel {
        start: label.span.start,
        end: label.span.end,
        line,
        column,
        message: &label.message,
        primary,
    }
}

/// One JSON object on one line (newline included).
pub fn json(file: &SourceFile, diagnostic: &Diagnostic) -> String {
    let span = diagnostic.primary.span;
    let (line, column) = file.line_column(span.start);
    let (end_line, end_column) = file.line_column(span.end);
    let labels = std::iter::once(json_label(file, &diagnostic.primary, true))
        .chain(
            diagnostic
                .secondary
                .iter()
                .map(|label| json_label(file, label, false)),
        )
        .collect();
    let object = JsonDiagnostic {
        code: diagnostic.code.as_str(),
        severity: diagnostic.severity,
        message: &diagnostic.message,
        file: &file.name,
        start: span.start,
        end: span.end,
        line,
        column,
        end_line,
        end_column,
        labels,
        help: diagnostic.help.as_deref(),
        notes: &diagnostic.notes,
        suggestion: diagnostic.suggestion.as_ref().map(|s| JsonSuggestion {
            start: s.span.start,
            end: s.span.end,
            replacement: &s.replacement,
        }),
    };
    let mut line = serde_json::to_string(&object).expect("diagnostics serialise");
    line.push('\n');
    line
}

pub fn render(
    format: MessageFormat,
    file: &SourceFile,
    diagnostic: &Diagnostic,
    color: bool,
) -> String {
    match format {
        MessageFormat::Human => human(file, diagnostic, color),
        MessageFormat::Short => short(file, diagnostic),
        MessageFormat::Json => json(file, diagnostic),
    }
}
