//! What the server answers, as functions of a document (and an offset in it). No JSON-RPC here.

use std::collections::HashMap;
use std::path::PathBuf;

use lsp_types::{
    CodeAction, CodeActionKind, CompletionItem, CompletionItemKind, DiagnosticRelatedInformation,
    DiagnosticSeverity, DocumentSymbol, Hover, HoverContents, Location, MarkupContent, MarkupKind,
    NumberOrString, ParameterInformation, ParameterLabel, SignatureHelp, SignatureInformation,
    SymbolKind, TextEdit, WorkspaceEdit,
};
use rlx_compiler::stdlib::StdLib;
use rlx_lang::ast::{ExprKind, ExternDecl, FnDecl, Item, ItemKind, Param, TypeKind};
use rlx_lang::{Severity, Span, Target};

use crate::document::{Document, uri_of};

// ---- diagnostics ----

pub fn diagnostics(doc: &Document) -> Vec<lsp_types::Diagnostic> {
    let text = doc.text();
    doc.analysis
        .diagnostics
        .iter()
        .map(|d| {
            let mut message = d.message.clone();
            if let Some(help) = &d.help {
                message.push_str(&format!("\nhelp: {help}"));
            }
            for note in &d.notes {
                message.push_str(&format!("\nnote: {note}"));
            }
            let related: Vec<DiagnosticRelatedInformation> = d
                .secondary
                .iter()
                .map(|label| DiagnosticRelatedInformation {
                    location: Location::new(doc.uri.clone(), doc.lines.range(text, label.span)),
                    message: label.message.clone(),
                })
                .collect();
            lsp_types::Diagnostic {
                range: doc.lines.range(text, d.span()),
                severity: Some(match d.severity {
                    Severity::Error => DiagnosticSeverity::ERROR,
                    Severity::Warning => DiagnosticSeverity::WARNING,
                }),
                code: Some(NumberOrString::String(d.code.as_str().to_string())),
                source: Some("rlx".into()),
                message,
                related_information: (!related.is_empty()).then_some(related),
                ..Default::default()
            }
        })
        .collect()
}

/// Quick fixes: the replacement a diagnostic suggests ("did you mean"), for the diagnostics that
/// touch `range`.
pub fn code_actions(doc: &Document, range: lsp_types::Range) -> Vec<CodeAction> {
    let text = doc.text();
    let (start, end) = (
        doc.lines.offset(text, range.start),
        doc.lines.offset(text, range.end),
    );
    let lsp_diagnostics = diagnostics(doc);
    doc.analysis
        .diagnostics
        .iter()
        .zip(lsp_diagnostics)
        .filter(|(d, _)| d.span().start <= end && start <= d.span().end)
        .filter_map(|(d, lsp)| {
            let suggestion = d.suggestion.as_ref()?;
            let edit = TextEdit::new(
                doc.lines.range(text, suggestion.span),
                suggestion.replacement.clone(),
            );
            Some(CodeAction {
                title: format!("Replace with `{}`", suggestion.replacement),
                kind: Some(CodeActionKind::QUICKFIX),
                diagnostics: Some(vec![lsp]),
                edit: Some(WorkspaceEdit {
                    changes: Some(HashMap::from([(doc.uri.clone(), vec![edit])])),
                    ..Default::default()
                }),
                is_preferred: Some(true),
                ..Default::default()
            })
        })
        .collect()
}

// ---- formatting and symbols ----

/// The whole document in the canonical layout (`rlxc fmt`'s function); none when it does not
/// parse or is already formatted.
pub fn format(doc: &Document) -> Option<Vec<TextEdit>> {
    let text = doc.text();
    let formatted = rlx_lang::format::format(text)?;
    if formatted == text {
        return Some(Vec::new());
    }
    Some(vec![TextEdit::new(
        doc.lines.range(text, Span::new(0, text.len())),
        formatted,
    )])
}

#[allow(deprecated)] // `DocumentSymbol::deprecated` must be written out
pub fn symbols(doc: &Document) -> Vec<DocumentSymbol> {
    let text = doc.text();
    doc.items()
        .iter()
        .filter_map(|item| {
            let name = item.defined_name()?;
            let kind = match &item.kind {
                ItemKind::Dataset(_) => SymbolKind::STRUCT,
                ItemKind::Model(_) => SymbolKind::OBJECT,
                ItemKind::Prompt(_) | ItemKind::Reward(_) | ItemKind::Fn(_) => SymbolKind::FUNCTION,
                ItemKind::Let(_) => SymbolKind::CONSTANT,
                ItemKind::Algorithm(_) => SymbolKind::OBJECT,
                ItemKind::Train(_) => SymbolKind::MODULE,
                _ => SymbolKind::VARIABLE,
            };
            let children = match &item.kind {
                ItemKind::Dataset(d) => d.schema.as_ref().map(|fields| {
                    fields
                        .iter()
                        .map(|f| DocumentSymbol {
                            name: f.name.name.clone(),
                            detail: Some(rlx_lang::format::type_text(&f.ty)),
                            kind: SymbolKind::FIELD,
                            tags: None,
                            deprecated: None,
                            range: doc.lines.range(text, f.span),
                            selection_range: doc.lines.range(text, f.name.span),
                            children: None,
                        })
                        .collect()
                }),
                _ => None,
            };
            Some(DocumentSymbol {
                name: name.name.clone(),
                detail: Some(item.kind_name().to_string()),
                kind,
                tags: None,
                deprecated: None,
                range: doc.lines.range(text, item.span),
                selection_range: doc.lines.range(text, name.span),
                children,
            })
        })
        .collect()
}

// ---- names: hover, definition, references, rename ----

/// A name at an offset and what it refers to.
struct Symbol {
    name: String,
    span: Span,
    target: Target,
}

fn symbol_at(doc: &Document, offset: usize) -> Option<Symbol> {
    let covers = |span: Span| span.start <= offset && offset <= span.end;
    if let Some(reference) = doc.analysis.index.at(offset) {
        return Some(Symbol {
            name: reference.name.clone(),
            span: reference.span,
            target: reference.target,
        });
    }
    for item in doc.items() {
        if let Some(name) = item.defined_name().filter(|n| covers(n.span)) {
            return Some(Symbol {
                name: name.name.clone(),
                span: name.span,
                target: Target::Global(name.span),
            });
        }
        if let ItemKind::Use(decl) = &item.kind
            && let Some(name) = decl
                .names
                .iter()
                .map(|n| n.local())
                .find(|n| covers(n.span))
        {
            return Some(Symbol {
                name: name.name.clone(),
                span: name.span,
                target: Target::Global(name.span),
            });
        }
    }
    // A binding: a parameter, `let` or pattern name that something refers to.
    let text = doc.text();
    doc.analysis
        .index
        .references
        .iter()
        .find_map(|r| match r.target {
            Target::Local(binding) if covers(binding) => Some(Symbol {
                name: text[binding.start..binding.end].to_string(),
                span: binding,
                target: r.target,
            }),
            _ => None,
        })
}

/// Where a global name is defined: in this file, in a `use`d module, or in the standard library.
enum Definition<'d> {
    Here(&'d Item),
    Std {
        module: &'static str,
        item: &'static Item,
    },
    Local {
        path: PathBuf,
        source: String,
        span: Span,
        docs: Vec<String>,
        header: String,
    },
}

fn definition_of<'d>(doc: &'d Document, symbol: &Symbol) -> Option<Definition<'d>> {
    match symbol.target {
        Target::Global(span) => {
            let item = doc.item_named_at(span)?;
            let ItemKind::Use(decl) = &item.kind else {
                return Some(Definition::Here(item));
            };
            let original = decl
                .names
                .iter()
                .find(|n| n.local().span == span)?
                .name
                .name
                .clone();
            let path: Vec<String> = decl.module.iter().map(|i| i.name.clone()).collect();
            if path.first().map(String::as_str) == Some("std") {
                let module = StdLib::get().modules.get(path.get(1)?.as_str())?;
                let item = module
                    .module
                    .items
                    .iter()
                    .find(|i| i.defined_name().is_some_and(|n| n.name == original))?;
                return Some(Definition::Std {
                    module: module.name,
                    item,
                });
            }
            let file = doc.dir().join(path.join("/")).with_extension("rlx");
            let source = std::fs::read_to_string(&file).ok()?;
            let parsed = rlx_lang::parse(&source);
            let item = parsed
                .module
                .items
                .iter()
                .find(|i| i.defined_name().is_some_and(|n| n.name == original))?;
            let span = item.defined_name()?.span;
            Some(Definition::Local {
                header: header(&source, item),
                docs: item.docs.clone(),
                path: file,
                span,
                source,
            })
        }
        Target::Prelude => {
            let module = &StdLib::get().modules["prelude"];
            let item = module
                .module
                .items
                .iter()
                .find(|i| i.defined_name().is_some_and(|n| n.name == symbol.name))?;
            Some(Definition::Std {
                module: module.name,
                item,
            })
        }
        Target::Local(_) | Target::Implicit => None,
    }
}

/// An item's first part, as a signature: everything before its body.
fn header(source: &str, item: &Item) -> String {
    let end = match &item.kind {
        ItemKind::Prompt(f) | ItemKind::Reward(f) | ItemKind::Fn(f) => f.body.span.start,
        ItemKind::Dataset(d) => d.source.span.end,
        ItemKind::Train(t) => t.model.span.end,
        _ => item.span.end,
    };
    let text = source[item.span.start..end.max(item.span.start)].trim_end();
    let text = text.strip_suffix('=').unwrap_or(text).trim_end();
    let mut lines: Vec<&str> = text.lines().collect();
    if lines.len() > 8 {
        lines.truncate(8);
        lines.push("    ...");
    }
    lines.join("\n")
}

fn markdown(signature: &str, docs: &[String], extra: Option<String>) -> Hover {
    let mut value = format!("```rlx\n{signature}\n```");
    if !docs.is_empty() {
        value.push_str("\n\n");
        value.push_str(&docs.iter().map(|d| d.trim()).collect::<Vec<_>>().join("\n"));
    }
    if let Some(extra) = extra {
        value.push_str("\n\n");
        value.push_str(&extra);
    }
    Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value,
        }),
        range: None,
    }
}

pub fn hover(doc: &Document, offset: usize) -> Option<Hover> {
    let line = doc.lines.position(doc.text(), offset).line + 1;
    let schedules = schedule_values(doc, line);
    let hover = field_hover(doc, offset).or_else(|| symbol_hover(doc, offset));
    match (hover, schedules) {
        (Some(mut hover), Some(table)) => {
            if let HoverContents::Markup(markup) = &mut hover.contents {
                markup.value.push_str(&format!("\n\n{table}"));
            }
            Some(hover)
        }
        (None, Some(table)) => Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: table,
            }),
            range: None,
        }),
        (hover, None) => hover,
    }
}

/// The values of the schedules written on `line` (1-based) — a learning rate, a KL weight — at
/// five steps of their stage (the whole run for the optimizer's), from the recipe's plan.
fn schedule_values(doc: &Document, line: u32) -> Option<String> {
    use rlx_compiler::plan::{Origin, StageKind, StepVars};
    let plan = doc.analysis.plan.as_ref()?;
    let written_here =
        |origin: Option<&Origin>| matches!(origin, Some(Origin::Recipe { line: l }) if *l == line);
    let steps_of = |kind: &StageKind| match kind {
        StageKind::Rl(rl) => u64::from(rl.steps),
        StageKind::Sft(_) => 0,
    };
    let total: u64 = plan.stages.iter().map(|s| steps_of(&s.kind)).sum();
    let mut found = Vec::new();
    if written_here(plan.origins.get("optimizer.lr")) {
        found.push(("learning rate".to_string(), &plan.optimizer.lr, total));
    }
    for stage in &plan.stages {
        let steps = steps_of(&stage.kind);
        if let Some(lr) = &stage.lr
            && written_here(stage.origins.get("lr"))
        {
            found.push((format!("learning rate of `{}`", stage.name), lr, steps));
        }
        if let StageKind::Rl(rl) = &stage.kind {
            for (key, kl) in [
                ("algorithm.kl", &rl.algorithm.kl),
                ("algorithm.kl_reward", &rl.algorithm.kl_reward),
            ] {
                if let Some(kl) = kl
                    && written_here(stage.origins.get(key))
                {
                    found.push((format!("KL weight of `{}`", stage.name), &kl.beta, steps));
                }
            }
        }
    }
    if found.is_empty() {
        return None;
    }
    let mut table = String::new();
    for (what, schedule, steps) in found {
        table.push_str(&format!("{what}:\n\n| step | value |\n|---:|---:|\n"));
        let mut points: Vec<u64> = (0..=4).map(|k| steps * k / 4).collect();
        points.dedup();
        for step in points {
            let vars = StepVars {
                step,
                stage_step: step,
                stage_steps: steps,
            };
            let value = schedule
                .at(vars)
                .map_or_else(|e| e.to_string(), |v| format!("{v:.3e}"));
            table.push_str(&format!("| {step} | {value} |\n"));
        }
        table.push('\n');
    }
    Some(table.trim_end().to_string())
}

fn symbol_hover(doc: &Document, offset: usize) -> Option<Hover> {
    let symbol = symbol_at(doc, offset)?;
    let text = doc.text();
    let mut hover = match (&symbol.target, definition_of(doc, &symbol)) {
        (_, Some(Definition::Here(item))) => {
            markdown(&header(text, item), &item.docs, constant_value(doc, item))
        }
        (_, Some(Definition::Std { module, item })) => {
            let source = StdLib::get().modules[module].source;
            let place = if module == "prelude" {
                "prelude".to_string()
            } else {
                format!("std::{module}")
            };
            markdown(
                &header(source, item),
                &item.docs,
                Some(format!("*{place}*")),
            )
        }
        (
            _,
            Some(Definition::Local {
                header, docs, path, ..
            }),
        ) => markdown(&header, &docs, Some(format!("*{}*", path.display()))),
        (Target::Local(binding), None) => {
            let param = params_of(doc).into_iter().find(|p| p.name.span == *binding);
            let shown = match param.and_then(|p| p.ty.as_ref()) {
                Some(ty) => format!("{}: {}", symbol.name, rlx_lang::format::type_text(ty)),
                None => symbol.name.clone(),
            };
            markdown(&shown, &[], None)
        }
        (Target::Implicit, None) => markdown(
            &symbol.name,
            &[implicit_doc(&symbol.name).to_string()],
            None,
        ),
        _ => return None,
    };
    hover.range = Some(doc.lines.range(text, symbol.span));
    Some(hover)
}

fn implicit_doc(name: &str) -> &'static str {
    match name {
        "c" => "The completion being scored: `text`, `answer`, `think`, `tokens`, `truncated`.",
        "ex" => "The dataset row of the prompt.",
        _ => "The rollout group of the prompt: `group.mean(x)`, `group.pass_rate(p)`, ...",
    }
}

/// The value of a `let` whose value is a literal, shown on hover.
fn constant_value(doc: &Document, item: &Item) -> Option<String> {
    let ItemKind::Let(l) = &item.kind else {
        return None;
    };
    matches!(
        l.value.kind,
        ExprKind::Binary { .. } | ExprKind::Unary { .. } | ExprKind::Paren(_)
    )
    .then(|| {
        format!(
            "= `{}`",
            doc.text()[l.value.span.start..l.value.span.end].trim()
        )
    })
}

fn params_of(doc: &Document) -> Vec<&Param> {
    doc.items()
        .iter()
        .flat_map(|item| match &item.kind {
            ItemKind::Prompt(f) | ItemKind::Reward(f) | ItemKind::Fn(f) => {
                f.params.iter().collect()
            }
            _ => Vec::new(),
        })
        .collect()
}

/// `ex.FIELD` where `ex` is a parameter typed with a dataset: the field's declaration.
fn field_hover(doc: &Document, offset: usize) -> Option<Hover> {
    let (dataset, field) = field_at(doc, offset)?;
    let item = dataset_item(doc, &dataset)?;
    let ItemKind::Dataset(d) = &item.kind else {
        return None;
    };
    let declared = d.schema.as_ref()?.iter().find(|f| f.name.name == field)?;
    Some(markdown(
        &format!("{}: {}", field, rlx_lang::format::type_text(&declared.ty)),
        &[],
        Some(format!("a field of `{dataset}`")),
    ))
}

fn dataset_item<'d>(doc: &'d Document, name: &str) -> Option<&'d Item> {
    doc.items()
        .iter()
        .find(|i| matches!(&i.kind, ItemKind::Dataset(d) if d.name.name == name))
}

/// The identifier around `offset` and the one before the `.` that precedes it, if any.
fn dotted(text: &str, offset: usize) -> Option<(String, String)> {
    let bytes = text.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut start = offset.min(text.len());
    while start > 0 && is_ident(bytes[start - 1]) {
        start -= 1;
    }
    let mut end = offset.min(text.len());
    while end < bytes.len() && is_ident(bytes[end]) {
        end += 1;
    }
    if start == 0 || bytes[start - 1] != b'.' {
        return None;
    }
    let dot = start - 1;
    let mut owner_start = dot;
    while owner_start > 0 && is_ident(bytes[owner_start - 1]) {
        owner_start -= 1;
    }
    Some((
        text[owner_start..dot].to_string(),
        text[start..end].to_string(),
    ))
}

/// (dataset, field) for `ex.field` at `offset`, when `ex` is typed or is a stage's implicit row.
fn field_at(doc: &Document, offset: usize) -> Option<(String, String)> {
    let (owner, field) = dotted(doc.text(), offset)?;
    Some((dataset_of_owner(doc, &owner, offset)?, field))
}

/// The function, prompt or reward whose item holds `offset`.
fn enclosing_function(doc: &Document, offset: usize) -> Option<&FnDecl> {
    doc.items().iter().find_map(|item| match &item.kind {
        ItemKind::Prompt(f) | ItemKind::Reward(f) | ItemKind::Fn(f)
            if item.span.start <= offset && offset <= item.span.end =>
        {
            Some(f)
        }
        _ => None,
    })
}

/// The type name of the parameter `name` (`completion`, a dataset's name).
fn param_type(f: &FnDecl, name: &str) -> Option<String> {
    let param = f.params.iter().find(|p| p.name.name == name)?;
    match &param.ty.as_ref()?.kind {
        TypeKind::Named { name, .. } => Some(name.name.clone()),
        _ => None,
    }
}

fn dataset_of_owner(doc: &Document, owner: &str, offset: usize) -> Option<String> {
    // A parameter of the function around `offset`.
    if let Some(f) = enclosing_function(doc, offset) {
        return param_type(f, owner);
    }
    // `ex` in a stage: the dataset of its `data = ...`, or the only dataset.
    (owner == "ex").then(|| {
        let datasets: Vec<&str> = doc
            .items()
            .iter()
            .filter_map(|i| match &i.kind {
                ItemKind::Dataset(d) => Some(d.name.name.as_str()),
                _ => None,
            })
            .collect();
        let before = &doc.text()[..offset.min(doc.text().len())];
        let named = before.rfind("data =").and_then(|at| {
            let rest = before[at + 6..].trim_start();
            datasets.iter().find(|d| rest.starts_with(**d)).copied()
        });
        named
            .or_else(|| (datasets.len() == 1).then(|| datasets[0]))
            .map(str::to_string)
    })?
}

pub fn definition(doc: &Document, offset: usize) -> Option<Location> {
    if let Some((dataset, field)) = field_at(doc, offset)
        && let Some(item) = dataset_item(doc, &dataset)
        && let ItemKind::Dataset(d) = &item.kind
        && let Some(declared) = d
            .schema
            .as_ref()
            .and_then(|s| s.iter().find(|f| f.name.name == field))
    {
        return Some(Location::new(
            doc.uri.clone(),
            doc.lines.range(doc.text(), declared.name.span),
        ));
    }
    let symbol = symbol_at(doc, offset)?;
    let text = doc.text();
    match (symbol.target, definition_of(doc, &symbol)) {
        (_, Some(Definition::Here(item))) => {
            let span = item.defined_name().map_or(item.span, |n| n.span);
            Some(Location::new(doc.uri.clone(), doc.lines.range(text, span)))
        }
        (_, Some(Definition::Std { module, item })) => {
            let source = StdLib::get().modules[module].source;
            let path = stdlib_file(module, source)?;
            let index = crate::position::LineIndex::new(source);
            let span = item.defined_name().map_or(item.span, |n| n.span);
            Some(Location::new(uri_of(&path), index.range(source, span)))
        }
        (
            _,
            Some(Definition::Local {
                path, source, span, ..
            }),
        ) => {
            let index = crate::position::LineIndex::new(&source);
            let path = path.canonicalize().unwrap_or(path);
            Some(Location::new(uri_of(&path), index.range(&source, span)))
        }
        (Target::Local(binding), None) => Some(Location::new(
            doc.uri.clone(),
            doc.lines.range(text, binding),
        )),
        _ => None,
    }
}

/// The standard library's sources are embedded in the compiler; go to definition opens a copy
/// written once per version under the temporary directory.
fn stdlib_file(module: &str, source: &str) -> Option<PathBuf> {
    let dir = std::env::temp_dir().join(format!("rlx-stdlib-{}", env!("CARGO_PKG_VERSION")));
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join(format!("{module}.rlx"));
    if std::fs::read_to_string(&path).ok().as_deref() != Some(source) {
        let temporary = dir.join(format!(".{module}.rlx.{}", std::process::id()));
        std::fs::write(&temporary, source).ok()?;
        std::fs::rename(&temporary, &path).ok()?;
    }
    Some(path)
}

/// Every span of this file that names the same thing as the symbol at `offset` (its definition
/// first when it is in this file).
fn occurrences(doc: &Document, offset: usize) -> Option<(Symbol, Vec<Span>)> {
    let symbol = symbol_at(doc, offset)?;
    if matches!(symbol.target, Target::Implicit | Target::Prelude) {
        return Some((symbol, Vec::new()));
    }
    let mut spans = Vec::new();
    if let Target::Global(span) | Target::Local(span) = symbol.target {
        spans.push(span);
    }
    spans.extend(
        doc.analysis
            .index
            .references
            .iter()
            .filter(|r| r.target == symbol.target)
            .map(|r| r.span),
    );
    spans.dedup();
    Some((symbol, spans))
}

pub fn references(doc: &Document, offset: usize, include_declaration: bool) -> Vec<Location> {
    let Some((_, spans)) = occurrences(doc, offset) else {
        return Vec::new();
    };
    spans
        .into_iter()
        .skip(usize::from(!include_declaration))
        .map(|span| Location::new(doc.uri.clone(), doc.lines.range(doc.text(), span)))
        .collect()
}

/// Renames a name defined in this file (a top-level item or a local binding) and every use of it.
pub fn rename(doc: &Document, offset: usize, new_name: &str) -> Result<WorkspaceEdit, String> {
    let valid = new_name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && new_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!("`{new_name}` is not a name"));
    }
    let Some((symbol, spans)) = occurrences(doc, offset) else {
        return Err("there is no name here".into());
    };
    if spans.is_empty() {
        return Err(format!(
            "`{}` is defined by the language or the standard library",
            symbol.name
        ));
    }
    if let Target::Global(span) = symbol.target
        && doc
            .item_named_at(span)
            .is_some_and(|i| matches!(i.kind, ItemKind::Use(_)))
    {
        return Err(format!(
            "`{}` is imported: rename it where it is defined",
            symbol.name
        ));
    }
    let edits = spans
        .into_iter()
        .map(|span| TextEdit::new(doc.lines.range(doc.text(), span), new_name.to_string()))
        .collect();
    Ok(WorkspaceEdit {
        changes: Some(HashMap::from([(doc.uri.clone(), edits)])),
        ..Default::default()
    })
}

// ---- completion and signature help ----

const KEYWORDS: &[&str] = &[
    "use",
    "dataset",
    "model",
    "prompt",
    "reward",
    "fn",
    "let",
    "algorithm",
    "train",
    "stage",
    "if",
    "else",
    "match",
    "some",
    "none",
    "true",
    "false",
    "chat",
    "mix",
    "where",
    "order",
    "by",
    "extern",
];

const COMPLETION_FIELDS: &[(&str, &str)] = &[
    ("text", "text"),
    ("answer", "text"),
    ("think", "text"),
    ("tokens", "int"),
    ("truncated", "bool"),
];

const GROUP_METHODS: &[&str] = &[
    "mean",
    "std",
    "sum",
    "max",
    "min",
    "pass_rate",
    "count",
    "size",
    "loo_mean",
    "min_length",
    "max_length",
    "mean_length",
];

fn item_completion(
    label: &str,
    kind: CompletionItemKind,
    detail: String,
    docs: &[String],
) -> CompletionItem {
    CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail: Some(detail),
        documentation: (!docs.is_empty()).then(|| {
            lsp_types::Documentation::MarkupContent(MarkupContent {
                kind: MarkupKind::Markdown,
                value: docs.iter().map(|d| d.trim()).collect::<Vec<_>>().join("\n"),
            })
        }),
        ..Default::default()
    }
}

fn kind_of(item: &Item) -> CompletionItemKind {
    match &item.kind {
        ItemKind::Prompt(_)
        | ItemKind::Reward(_)
        | ItemKind::Fn(_)
        | ItemKind::Extern(ExternDecl::Fn(_)) => CompletionItemKind::FUNCTION,
        ItemKind::Dataset(_) => CompletionItemKind::STRUCT,
        ItemKind::Let(_) | ItemKind::Extern(ExternDecl::Let(_)) => CompletionItemKind::CONSTANT,
        _ => CompletionItemKind::VARIABLE,
    }
}

pub fn completion(doc: &Document, offset: usize) -> Vec<CompletionItem> {
    let text = doc.text();
    if let Some((owner, _)) = dotted(text, offset) {
        return member_completion(doc, &owner, offset);
    }
    if let Some(module) = use_module_at(text, offset) {
        return StdLib::get()
            .module(&module)
            .map(|m| {
                m.module
                    .items
                    .iter()
                    .filter_map(|i| {
                        let name = i.defined_name()?;
                        Some(item_completion(
                            &name.name,
                            kind_of(i),
                            header(m.source, i),
                            &i.docs,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
    }
    let mut items = enum_cases(doc, offset);
    if let Some(callee) = enclosing_block(text, offset)
        && let Some(f) = function_named(doc, &callee)
    {
        items.extend(f.iter().map(|p| {
            let ty =
                p.ty.as_ref()
                    .map_or(String::new(), rlx_lang::format::type_text);
            CompletionItem {
                label: p.name.name.clone(),
                kind: Some(CompletionItemKind::PROPERTY),
                detail: Some(format!("{}: {ty}", p.name.name)),
                insert_text: Some(format!("{} = ", p.name.name)),
                sort_text: Some(format!("0{}", p.name.name)),
                ..Default::default()
            }
        }));
    }
    items.extend(KEYWORDS.iter().map(|k| CompletionItem {
        label: k.to_string(),
        kind: Some(CompletionItemKind::KEYWORD),
        ..Default::default()
    }));
    for item in doc.items() {
        match &item.kind {
            ItemKind::Use(decl) => {
                for name in &decl.names {
                    items.push(item_completion(
                        &name.local().name,
                        CompletionItemKind::FUNCTION,
                        format!(
                            "use {}",
                            decl.module
                                .iter()
                                .map(|i| i.name.as_str())
                                .collect::<Vec<_>>()
                                .join("::")
                        ),
                        &[],
                    ));
                }
            }
            _ => {
                if let Some(name) = item.defined_name() {
                    items.push(item_completion(
                        &name.name,
                        kind_of(item),
                        header(text, item),
                        &item.docs,
                    ));
                }
            }
        }
        if let ItemKind::Prompt(f) | ItemKind::Reward(f) | ItemKind::Fn(f) = &item.kind
            && item.span.start <= offset
            && offset <= item.span.end
        {
            for p in &f.params {
                items.push(CompletionItem {
                    label: p.name.name.clone(),
                    kind: Some(CompletionItemKind::VARIABLE),
                    detail: p.ty.as_ref().map(rlx_lang::format::type_text),
                    ..Default::default()
                });
            }
        }
    }
    let prelude = &StdLib::get().modules["prelude"];
    for item in &prelude.module.items {
        if let Some(name) = item.defined_name() {
            items.push(item_completion(
                &name.name,
                kind_of(item),
                header(prelude.source, item),
                &item.docs,
            ));
        }
    }
    items.extend(importable(doc, &items));
    items
}

/// Items of the standard modules not yet in scope, each with the `use` that brings it in.
fn importable(doc: &Document, visible: &[CompletionItem]) -> Vec<CompletionItem> {
    let text = doc.text();
    // After the last `use` line, or at the top.
    let at = doc
        .items()
        .iter()
        .filter(|i| matches!(i.kind, ItemKind::Use(_)))
        .map(|i| i.span.end)
        .max()
        .map_or(0, |end| {
            text[end..].find('\n').map_or(text.len(), |n| end + n + 1)
        });
    let position = doc.lines.position(text, at);
    let mut items = Vec::new();
    for module in StdLib::get()
        .modules
        .values()
        .filter(|m| m.name != "prelude")
    {
        for item in &module.module.items {
            let Some(name) = item.defined_name() else {
                continue;
            };
            if visible.iter().any(|v| v.label == name.name) {
                continue;
            }
            let mut completion = item_completion(
                &name.name,
                kind_of(item),
                header(module.source, item),
                &item.docs,
            );
            completion.label_details = Some(lsp_types::CompletionItemLabelDetails {
                detail: None,
                description: Some(format!("std::{}", module.name)),
            });
            completion.sort_text = Some(format!("z{}", name.name));
            completion.additional_text_edits = Some(vec![TextEdit::new(
                lsp_types::Range::new(position, position),
                format!("use std::{}::{}\n", module.name, name.name),
            )]);
            items.push(completion);
        }
    }
    items
}

fn member_completion(doc: &Document, owner: &str, offset: usize) -> Vec<CompletionItem> {
    let field = |name: &str, ty: &str| CompletionItem {
        label: name.to_string(),
        kind: Some(CompletionItemKind::FIELD),
        detail: Some(ty.to_string()),
        ..Default::default()
    };
    let typed = enclosing_function(doc, offset).and_then(|f| param_type(f, owner));
    let owner_type = typed.unwrap_or_else(|| match owner {
        "c" => "completion".into(),
        "group" => "group".into(),
        _ => String::new(),
    });
    match owner_type.as_str() {
        "completion" => COMPLETION_FIELDS.iter().map(|(n, t)| field(n, t)).collect(),
        "group" => GROUP_METHODS
            .iter()
            .map(|m| CompletionItem {
                label: m.to_string(),
                kind: Some(CompletionItemKind::METHOD),
                ..Default::default()
            })
            .collect(),
        _ => {
            let Some(dataset) = dataset_of_owner(doc, owner, offset) else {
                return Vec::new();
            };
            let Some(ItemKind::Dataset(d)) = dataset_item(doc, &dataset).map(|i| &i.kind) else {
                return Vec::new();
            };
            d.schema
                .iter()
                .flatten()
                .map(|f| field(&f.name.name, &rlx_lang::format::type_text(&f.ty)))
                .collect()
        }
    }
}

/// In the arms of `match ex.FIELD { ... }` where the field is an enum: its cases.
fn enum_cases(doc: &Document, offset: usize) -> Vec<CompletionItem> {
    let text = doc.text();
    let Some(open) = innermost_open_brace(text, offset) else {
        return Vec::new();
    };
    let head = text[..open].trim_end();
    let line = &head[head.rfind('\n').map_or(0, |n| n + 1)..];
    let Some(at) = line.rfind("match ") else {
        return Vec::new();
    };
    let scrutinee = line[at + 6..].trim();
    let Some((owner, field)) = scrutinee.split_once('.') else {
        return Vec::new();
    };
    let Some(dataset) = dataset_of_owner(doc, owner, offset) else {
        return Vec::new();
    };
    let Some(ItemKind::Dataset(d)) = dataset_item(doc, &dataset).map(|i| &i.kind) else {
        return Vec::new();
    };
    let declared = d.schema.iter().flatten().find(|f| f.name.name == field);
    let Some(TypeKind::Enum(cases)) = declared.map(|f| &f.ty.kind) else {
        return Vec::new();
    };
    cases
        .iter()
        .map(|case| CompletionItem {
            label: case.name.clone(),
            kind: Some(CompletionItemKind::ENUM_MEMBER),
            detail: Some(format!("a case of `{dataset}.{field}`")),
            insert_text: Some(format!("{} => ", case.name)),
            sort_text: Some(format!("0{}", case.name)),
            ..Default::default()
        })
        .collect()
}

/// The position of the innermost `{` not closed before `offset`.
fn innermost_open_brace(text: &str, offset: usize) -> Option<usize> {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let mut depth = 0usize;
    for i in (0..before.len()).rev() {
        match before[i] {
            b'}' => depth += 1,
            b'{' if depth > 0 => depth -= 1,
            b'{' => return Some(i),
            _ => {}
        }
    }
    None
}

/// `use std::MODULE::{...` or `use std::MODULE::` before `offset`: the module.
fn use_module_at(text: &str, offset: usize) -> Option<String> {
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[line_start..offset];
    let rest = line.trim_start().strip_prefix("use std::")?;
    let module = rest.split("::").next()?;
    rest.contains("::").then(|| module.to_string())
}

/// The name before the innermost unclosed `{` before `offset` (`rl` in `rl { data = ... `).
fn enclosing_block(text: &str, offset: usize) -> Option<String> {
    let open = innermost_open_brace(text, offset)?;
    let name = trailing_ident(text[..open].trim_end());
    Some(name.to_string()).filter(|n| !n.is_empty())
}

/// The identifier `head` ends with (empty when it ends with something else).
fn trailing_ident(head: &str) -> &str {
    let start = head
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map_or(0, |(p, c)| p + c.len_utf8());
    &head[start..]
}

/// The parameters of a function of the recipe or the prelude, by name.
fn function_named<'d>(doc: &'d Document, name: &str) -> Option<&'d [Param]> {
    let named = |item: &&Item| item.defined_name().is_some_and(|n| n.name == name);
    let prelude = &StdLib::get().modules["prelude"].module.items;
    doc.items()
        .iter()
        .chain(prelude.iter())
        .filter(named)
        .find_map(params_of_item)
}

fn params_of_item(item: &Item) -> Option<&[Param]> {
    match &item.kind {
        ItemKind::Prompt(f) | ItemKind::Reward(f) | ItemKind::Fn(f) => Some(&f.params),
        ItemKind::Extern(ExternDecl::Fn(f)) => Some(&f.params),
        _ => None,
    }
}

/// The function being called around `offset`, with the parameter the cursor is at.
pub fn signature_help(doc: &Document, offset: usize) -> Option<SignatureHelp> {
    let text = doc.text();
    let bytes = &text.as_bytes()[..offset.min(text.len())];
    let (mut depth, mut commas) = (0usize, 0u32);
    let mut open = None;
    for i in (0..bytes.len()).rev() {
        match bytes[i] {
            b')' | b']' | b'}' => depth += 1,
            b'(' | b'[' | b'{' if depth > 0 => depth -= 1,
            b'(' => {
                open = Some(i);
                break;
            }
            b'[' | b'{' => return None,
            b',' if depth == 0 => commas += 1,
            _ => {}
        }
    }
    let name = trailing_ident(text[..open?].trim_end());
    let f = function_named(doc, name).or_else(|| imported_function(doc, name))?;
    let params: Vec<String> = f
        .iter()
        .map(|p| match &p.ty {
            Some(ty) => format!("{}: {}", p.name.name, rlx_lang::format::type_text(ty)),
            None => p.name.name.clone(),
        })
        .collect();
    let label = format!("{name}({})", params.join(", "));
    Some(SignatureHelp {
        signatures: vec![SignatureInformation {
            label,
            documentation: None,
            parameters: Some(
                params
                    .iter()
                    .map(|p| ParameterInformation {
                        label: ParameterLabel::Simple(p.clone()),
                        documentation: None,
                    })
                    .collect(),
            ),
            active_parameter: Some(commas),
        }],
        active_signature: Some(0),
        active_parameter: Some(commas),
    })
}

/// The parameters of a function imported from the standard library under `name`.
fn imported_function(doc: &Document, name: &str) -> Option<&'static [Param]> {
    doc.items().iter().find_map(|item| {
        let ItemKind::Use(decl) = &item.kind else {
            return None;
        };
        let used = decl.names.iter().find(|n| n.local().name == name)?;
        let path: Vec<&str> = decl.module.iter().map(|i| i.name.as_str()).collect();
        let module = StdLib::get().module(path.get(1)?)?;
        let item = module
            .module
            .items
            .iter()
            .find(|i| i.defined_name().is_some_and(|n| n.name == used.name.name))?;
        params_of_item(item)
    })
}
