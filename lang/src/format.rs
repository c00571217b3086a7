//! The formatter: one canonical layout for a recipe, keeping every comment. Literals are printed as
//! written (so `1e-6`, `1_000` and `"""` strings keep their spelling); parentheses the user wrote are
//! kept and none are added. A file with syntax errors is not formatted.
//!
//! Layout: four-space indents, lines of at most 100 columns where the construct can break. Settings
//! blocks, calls, lists and `if`s stay on one line when they fit; schemas, `chat`, `match` and blocks
//! with `let`s are always vertical. Up to one blank line is kept where the source had blank lines.

use crate::ast::*;
use crate::parser::{Comment, parse};
use crate::span::Span;

const WIDTH: usize = 100;
const INDENT: &str = "    ";

/// The formatted text, or `None` when the source does not parse cleanly.
pub fn format(source: &str) -> Option<String> {
    let parsed = parse(source);
    if parsed.diagnostics.iter().any(|d| d.is_error()) {
        return None;
    }
    let mut printer = Printer {
        source,
        comments: &parsed.comments,
        next_comment: 0,
        out: String::new(),
        last_end: 0,
    };
    for (index, item) in parsed.module.items.iter().enumerate() {
        printer.leading(item.span.start, 0, index > 0);
        printer.item(item);
        printer.trailing(item.span.end);
    }
    printer.rest(0);
    Some(printer.out)
}

struct Printer<'a> {
    source: &'a str,
    comments: &'a [Comment],
    next_comment: usize,
    out: String,
    /// Source offset of the end of what has been printed, for blank-line decisions.
    last_end: usize,
}

fn pad(indent: usize) -> String {
    INDENT.repeat(indent)
}

impl Printer<'_> {
    fn text(&self, span: Span) -> &str {
        &self.source[span.start..span.end]
    }

    /// Whether the source has a blank line between `from` and `to`.
    fn blank_between(&self, from: usize, to: usize) -> bool {
        let to = to.min(self.source.len());
        if from >= to {
            return false;
        }
        let lines: Vec<&str> = self.source[from..to].split('\n').collect();
        lines.len() >= 3
            && lines[1..lines.len() - 1]
                .iter()
                .any(|line| line.trim().is_empty())
    }

    fn push_line(&mut self, indent: usize, text: &str) {
        if !text.is_empty() {
            self.out.push_str(&pad(indent));
            self.out.push_str(text);
        }
        self.out.push('\n');
    }

    fn blank_line(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    /// Comments before `start`, each on its own line, and the blank lines around them.
    fn leading(&mut self, start: usize, indent: usize, allow_blank: bool) {
        let mut allow_blank = allow_blank;
        while let Some(comment) = self
            .comments
            .get(self.next_comment)
            .filter(|c| c.span.start < start)
        {
            if allow_blank && self.blank_between(self.last_end, comment.span.start) {
                self.blank_line();
            }
            let text = comment.text.trim_end().to_string();
            self.push_line(indent, &text);
            self.last_end = comment.span.end;
            self.next_comment += 1;
            allow_blank = true;
        }
        if allow_blank && self.blank_between(self.last_end, start) {
            self.blank_line();
        }
    }

    /// A comment on the same source line just after `end`, appended to the last printed line.
    fn trailing(&mut self, end: usize) {
        self.last_end = self.last_end.max(end);
        while let Some(comment) = self.comments.get(self.next_comment) {
            let between = &self.source[end.min(comment.span.start)..comment.span.start];
            if comment.span.start < end || between.contains('\n') || comment.doc {
                break;
            }
            if self.out.ends_with('\n') {
                self.out.pop();
            }
            self.out.push(' ');
            self.out.push_str(comment.text.trim_end());
            self.out.push('\n');
            self.last_end = comment.span.end;
            self.next_comment += 1;
        }
    }

    /// Comments left inside a construct printed on one line, or at the end of the file.
    fn rest(&mut self, indent: usize) {
        self.leading(usize::MAX, indent, true);
    }

    fn comment_within(&self, span: Span) -> bool {
        self.comments
            .iter()
            .skip(self.next_comment)
            .any(|c| c.span.start >= span.start && c.span.start < span.end)
    }

    fn item(&mut self, item: &Item) {
        for attribute in &item.attributes {
            let text = self.attribute(attribute);
            self.push_line(0, &text);
        }
        match &item.kind {
            ItemKind::Use(decl) => {
                let text = use_text(decl);
                self.push_line(0, &text);
            }
            ItemKind::Dataset(d) => self.dataset(d, item.span),
            ItemKind::Model(v) => self.value_item("model", &v.name, &v.value),
            ItemKind::Algorithm(v) => self.value_item("algorithm", &v.name, &v.value),
            ItemKind::Let(l) => {
                let head = match &l.ty {
                    Some(ty) => format!("let {}: {}", l.name.name, type_text(ty)),
                    None => format!("let {}", l.name.name),
                };
                self.binding(&head, &l.value, 0);
            }
            ItemKind::Prompt(f) => self.function("prompt", f),
            ItemKind::Reward(f) => self.function("reward", f),
            ItemKind::Fn(f) => self.function("fn", f),
            ItemKind::Train(t) => {
                let mut text = format!("train {} ", t.model.name);
                self.entries_block(&mut text, &t.entries, item.span, 0, true);
                self.push_line(0, &text);
            }
            ItemKind::Extern(ExternDecl::Fn(f)) => {
                let params = self.params_text(&f.params);
                let text = format!(
                    "extern fn {}({params}) -> {}",
                    f.name.name,
                    type_text(&f.result)
                );
                self.push_line(0, &text);
            }
            ItemKind::Extern(ExternDecl::Let(l)) => {
                let text = format!("extern let {}: {}", l.name.name, type_text(&l.ty));
                self.push_line(0, &text);
            }
            ItemKind::Error => {
                let text = self.text(item.span).to_string();
                self.push_line(0, &text);
            }
        }
    }

    fn attribute(&mut self, attribute: &Attribute) -> String {
        if attribute.args.is_empty() {
            format!("@{}", attribute.name.name)
        } else {
            let mut text = format!("@{}", attribute.name.name);
            self.args(&mut text, &attribute.args, 0);
            text
        }
    }

    fn value_item(&mut self, keyword: &str, name: &Ident, value: &Expr) {
        let head = format!("{keyword} {}", name.name);
        self.binding(&head, value, 0);
    }

    /// `HEAD = VALUE`, breaking after `=` when the value is long and has no block of its own.
    fn binding(&mut self, head: &str, value: &Expr, indent: usize) {
        let mut text = format!("{head} = ");
        let column = pad(indent).len() + text.len();
        match self.inline(value) {
            Some(inline) if column + inline.len() <= WIDTH => text.push_str(&inline),
            _ if opens_block(value) => self.expr(&mut text, value, indent),
            _ => {
                text.truncate(text.len() - 1);
                text.push('\n');
                text.push_str(&pad(indent + 1));
                self.expr(&mut text, value, indent + 1);
            }
        }
        self.push_line(indent, &text);
    }

    fn function(&mut self, keyword: &str, f: &FnDecl) {
        let params = self.params_text(&f.params);
        let mut head = format!("{keyword} {}({params})", f.name.name);
        if let Some(result) = &f.result {
            head.push_str(&format!(" -> {}", type_text(result)));
        }
        self.binding(&head, &f.body, 0);
    }

    fn params_text(&mut self, params: &[Param]) -> String {
        params
            .iter()
            .map(|p| {
                let mut text = p.name.name.clone();
                if let Some(ty) = &p.ty {
                    text.push_str(&format!(": {}", type_text(ty)));
                }
                if let Some(default) = &p.default {
                    text.push_str(" = ");
                    let value = self
                        .inline(default)
                        .unwrap_or_else(|| self.text(default.span).to_string());
                    text.push_str(&value);
                }
                text
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn dataset(&mut self, d: &DatasetDecl, span: Span) {
        let mut text = format!("dataset {} = ", d.name.name);
        self.expr(&mut text, &d.source, 0);
        if let Some(fields) = &d.schema {
            if fields.is_empty() {
                text.push_str(" {}");
            } else {
                text.push_str(" {");
                self.push_line(0, &text);
                let width = fields.iter().map(|f| f.name.name.len()).max().unwrap_or(0);
                for (index, field) in fields.iter().enumerate() {
                    self.leading(field.span.start, 1, index > 0);
                    let mut line = format!(
                        "{:<w$} {}",
                        format!("{}:", field.name.name),
                        type_text(&field.ty),
                        w = width + 1
                    );
                    for attribute in &field.attributes {
                        line.push(' ');
                        let attribute = self.attribute(attribute);
                        line.push_str(&attribute);
                    }
                    self.push_line(1, line.trim_end());
                    self.trailing(field.span.end);
                }
                // Comments after the last field belong before the closing brace.
                let close = d
                    .clauses
                    .first()
                    .map_or(span.end.saturating_sub(1), |c| match c {
                        DataClause::Where(e) | DataClause::OrderBy { key: e, .. } => e.span.start,
                    });
                self.leading(close, 1, true);
                text = "}".to_string();
            }
        }
        for clause in &d.clauses {
            match clause {
                DataClause::Where(condition) => {
                    text.push_str(" where ");
                    self.expr(&mut text, condition, 0);
                }
                DataClause::OrderBy { key, descending } => {
                    text.push_str(" order by ");
                    self.expr(&mut text, key, 0);
                    if *descending {
                        text.push_str(" desc");
                    }
                }
            }
        }
        self.push_line(0, &text);
    }

    /// The text of an expression on one line, if it has one (no comments inside, no construct that
    /// is always vertical).
    fn inline(&self, expr: &Expr) -> Option<String> {
        if self.comment_within(expr.span) {
            return None;
        }
        self.inline_text(expr)
    }

    /// The one-line text of an expression, whatever comments lie inside it.
    fn inline_text(&self, expr: &Expr) -> Option<String> {
        let mut text = String::new();
        self.expr_inline(&mut text, expr)?;
        Some(text)
    }

    /// Writes `expr` starting at the current column of `out`, breaking lines at `indent` when needed.
    fn expr(&mut self, out: &mut String, expr: &Expr, indent: usize) {
        let column = out.rsplit('\n').next().map_or(0, str::len);
        if let Some(inline) = self.inline(expr)
            && column + inline.len() <= WIDTH
        {
            out.push_str(&inline);
            return;
        }
        match &expr.kind {
            ExprKind::BlockCall { callee, entries } => {
                out.push_str(&callee.name);
                out.push(' ');
                self.entries_block(out, entries, expr.span, indent, true);
            }
            ExprKind::Call { callee, args } => {
                self.expr(out, callee, indent);
                self.args(out, args, indent);
            }
            ExprKind::List(items) => self.sequence(out, "[", "]", items, indent),
            ExprKind::Tuple(items) => self.sequence(out, "(", ")", items, indent),
            ExprKind::If {
                condition,
                then_branch,
                else_branch,
            } => {
                out.push_str("if ");
                self.expr(out, condition, indent);
                out.push(' ');
                self.branch(out, then_branch, indent);
                out.push_str(" else ");
                if matches!(else_branch.kind, ExprKind::If { .. }) {
                    self.expr(out, else_branch, indent);
                } else {
                    self.branch(out, else_branch, indent);
                }
            }
            ExprKind::Match { scrutinee, arms } => {
                out.push_str("match ");
                self.expr(out, scrutinee, indent);
                out.push_str(" {\n");
                for (index, arm) in arms.iter().enumerate() {
                    self.flush_into(out);
                    self.leading(arm.span.start, indent + 1, index > 0);
                    self.take_into(out);
                    out.push_str(&pad(indent + 1));
                    out.push_str(&pattern_text(self.source, &arm.pattern));
                    out.push_str(" => ");
                    self.expr(out, &arm.body, indent + 1);
                    out.push_str(",\n");
                    self.trailing_into(out, arm.span.end);
                }
                self.closing(out, expr.span, indent, "}");
            }
            ExprKind::Block { lets, result } => {
                self.vertical_block(out, lets, result, expr.span, indent)
            }
            ExprKind::Chat(turns) => {
                out.push_str("chat {\n");
                for (index, turn) in turns.iter().enumerate() {
                    let start = turn.role.span.start;
                    self.leading_into(out, start, indent + 1, index > 0);
                    out.push_str(&pad(indent + 1));
                    out.push_str(&turn.role.name);
                    out.push_str(": ");
                    self.expr(out, &turn.content, indent + 1);
                    out.push('\n');
                    self.trailing_into(out, turn.content.span.end);
                }
                self.closing(out, expr.span, indent, "}");
            }
            ExprKind::Mix(parts) => {
                out.push_str("mix {\n");
                for (index, part) in parts.iter().enumerate() {
                    self.leading_into(out, part.dataset.span.start, indent + 1, index > 0);
                    out.push_str(&pad(indent + 1));
                    out.push_str(&part.dataset.name);
                    out.push_str(": ");
                    self.expr(out, &part.weight, indent + 1);
                    out.push('\n');
                    self.trailing_into(out, part.weight.span.end);
                }
                self.closing(out, expr.span, indent, "}");
            }
            // Operators, fields and leaves have no vertical form: write them on one line, and put
            // any comment inside them after the construct.
            _ => {
                let text = self
                    .inline_text(expr)
                    .unwrap_or_else(|| self.text(expr.span).to_string());
                out.push_str(&text);
            }
        }
    }

    /// `{ let ...; result }` on several lines.
    fn vertical_block(
        &mut self,
        out: &mut String,
        lets: &[LetStmt],
        result: &Expr,
        span: Span,
        indent: usize,
    ) {
        out.push_str("{\n");
        for (index, stmt) in lets.iter().enumerate() {
            self.leading_into(out, stmt.span.start, indent + 1, index > 0);
            out.push_str(&pad(indent + 1));
            out.push_str("let ");
            out.push_str(&stmt.name.name);
            if let Some(ty) = &stmt.ty {
                out.push_str(": ");
                out.push_str(&type_text(ty));
            }
            out.push_str(" = ");
            self.expr(out, &stmt.value, indent + 1);
            out.push_str(";\n");
            self.trailing_into(out, stmt.span.end);
        }
        self.leading_into(out, result.span.start, indent + 1, !lets.is_empty());
        out.push_str(&pad(indent + 1));
        self.expr(out, result, indent + 1);
        out.push('\n');
        self.trailing_into(out, result.span.end);
        self.closing(out, span, indent, "}");
    }

    /// An `if` branch of an `if` that does not fit on one line: always vertical.
    fn branch(&mut self, out: &mut String, branch: &Expr, indent: usize) {
        match &branch.kind {
            ExprKind::Block { lets, result } => {
                self.vertical_block(out, lets, result, branch.span, indent)
            }
            _ => self.expr(out, branch, indent),
        }
    }

    fn closing(&mut self, out: &mut String, span: Span, indent: usize, close: &str) {
        self.leading_into(out, span.end.saturating_sub(1), indent + 1, true);
        out.push_str(&pad(indent));
        out.push_str(close);
    }

    /// Runs `leading` into `out` instead of the main output.
    fn leading_into(&mut self, out: &mut String, start: usize, indent: usize, allow_blank: bool) {
        self.flush_into(out);
        self.leading(start, indent, allow_blank);
        self.take_into(out);
    }

    fn trailing_into(&mut self, out: &mut String, end: usize) {
        self.flush_into(out);
        self.trailing(end);
        self.take_into(out);
    }

    /// Swaps `out` with the printer's buffer, so the comment helpers write into `out`; call
    /// `take_into` to swap back.
    fn flush_into(&mut self, out: &mut String) {
        std::mem::swap(&mut self.out, out);
    }

    fn take_into(&mut self, out: &mut String) {
        std::mem::swap(&mut self.out, out);
    }

    fn args(&mut self, out: &mut String, args: &[Arg], indent: usize) {
        let column = out.rsplit('\n').next().map_or(0, str::len);
        let inline: Option<Vec<String>> = args
            .iter()
            .map(|a| self.inline(&a.value).map(|v| arg_text(a, &v)))
            .collect();
        if let Some(parts) = inline {
            let text = format!("({})", parts.join(", "));
            if column + text.len() <= WIDTH || args.is_empty() {
                out.push_str(&text);
                return;
            }
        }
        out.push_str("(\n");
        for arg in args {
            self.leading_into(
                out,
                arg.name
                    .as_ref()
                    .map_or(arg.value.span.start, |n| n.span.start),
                indent + 1,
                false,
            );
            out.push_str(&pad(indent + 1));
            if let Some(name) = &arg.name {
                out.push_str(&name.name);
                out.push_str(" = ");
            }
            self.expr(out, &arg.value, indent + 1);
            out.push_str(",\n");
            self.trailing_into(out, arg.value.span.end);
        }
        out.push_str(&pad(indent));
        out.push(')');
    }

    fn sequence(
        &mut self,
        out: &mut String,
        open: &str,
        close: &str,
        items: &[Expr],
        indent: usize,
    ) {
        out.push_str(open);
        out.push('\n');
        for item in items {
            self.leading_into(out, item.span.start, indent + 1, false);
            out.push_str(&pad(indent + 1));
            self.expr(out, item, indent + 1);
            out.push_str(",\n");
            self.trailing_into(out, item.span.end);
        }
        out.push_str(&pad(indent));
        out.push_str(close);
    }

    /// `{ entries }`, inline when it fits and has no nested block, else one entry per line.
    fn entries_block(
        &mut self,
        out: &mut String,
        entries: &[Entry],
        span: Span,
        indent: usize,
        allow_inline: bool,
    ) {
        let column = out.rsplit('\n').next().map_or(0, str::len);
        if allow_inline
            && !self.comment_within(span)
            && let Some(inline) = self.inline_entries(entries)
            && column + inline.len() <= WIDTH
        {
            out.push_str(&inline);
            return;
        }
        out.push_str("{\n");
        for (index, entry) in entries.iter().enumerate() {
            self.leading_into(out, entry.span.start, indent + 1, index > 0);
            out.push_str(&pad(indent + 1));
            match &entry.kind {
                EntryKind::Setting { key, value } => {
                    out.push_str(&key.name);
                    out.push_str(" = ");
                    self.expr(out, value, indent + 1);
                }
                EntryKind::Stage { name, value } => {
                    out.push_str("stage ");
                    out.push_str(&name.name);
                    out.push_str(" = ");
                    self.expr(out, value, indent + 1);
                }
                EntryKind::Block { key, entries } => {
                    out.push_str(&key.name);
                    out.push(' ');
                    self.entries_block(out, entries, entry.span, indent + 1, true);
                }
                EntryKind::Error => out.push_str(self.text(entry.span)),
            }
            out.push('\n');
            self.trailing_into(out, entry.span.end);
        }
        self.closing(out, span, indent, "}");
    }

    fn inline_entries(&self, entries: &[Entry]) -> Option<String> {
        if entries.is_empty() {
            return Some("{}".to_string());
        }
        let parts: Option<Vec<String>> = entries
            .iter()
            .map(|entry| match &entry.kind {
                EntryKind::Setting { key, value } => self
                    .inline_text(value)
                    .map(|v| format!("{} = {v}", key.name)),
                EntryKind::Stage { .. } | EntryKind::Block { .. } | EntryKind::Error => None,
            })
            .collect();
        parts.map(|parts| format!("{{ {} }}", parts.join(", ")))
    }

    /// One-line text of an expression; `None` for constructs that are always vertical.
    fn expr_inline(&self, out: &mut String, expr: &Expr) -> Option<()> {
        match &expr.kind {
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Str(_)
            | ExprKind::Bool(_)
            | ExprKind::None => {
                let text = self.text(expr.span);
                if text.contains('\n') {
                    return None;
                }
                out.push_str(text);
            }
            ExprKind::Name(name) => out.push_str(&name.name),
            ExprKind::List(items) => {
                out.push('[');
                self.join_inline(out, items)?;
                out.push(']');
            }
            ExprKind::Tuple(items) => {
                out.push('(');
                self.join_inline(out, items)?;
                if items.len() == 1 {
                    out.push(',');
                }
                out.push(')');
            }
            ExprKind::Paren(inner) => {
                out.push('(');
                self.expr_inline(out, inner)?;
                out.push(')');
            }
            ExprKind::Unary { op, operand } => {
                out.push(if *op == UnaryOp::Neg { '-' } else { '!' });
                self.expr_inline(out, operand)?;
            }
            ExprKind::Binary { op, lhs, rhs } => {
                self.expr_inline(out, lhs)?;
                out.push(' ');
                out.push_str(op.symbol());
                out.push(' ');
                self.expr_inline(out, rhs)?;
            }
            ExprKind::Call { callee, args } => {
                self.expr_inline(out, callee)?;
                out.push('(');
                for (index, arg) in args.iter().enumerate() {
                    if index > 0 {
                        out.push_str(", ");
                    }
                    if let Some(name) = &arg.name {
                        out.push_str(&name.name);
                        out.push_str(" = ");
                    }
                    self.expr_inline(out, &arg.value)?;
                }
                out.push(')');
            }
            ExprKind::Field { target, field } => {
                self.expr_inline(out, target)?;
                out.push('.');
                out.push_str(&field.name);
            }
            ExprKind::Index { target, index } => {
                self.expr_inline(out, target)?;
                out.push('[');
                self.expr_inline(out, index)?;
                out.push(']');
            }
            ExprKind::BlockCall { callee, entries } => {
                out.push_str(&callee.name);
                out.push(' ');
                out.push_str(&self.inline_entries(entries)?);
            }
            ExprKind::If {
                condition,
                then_branch,
                else_branch,
            } => {
                out.push_str("if ");
                self.expr_inline(out, condition)?;
                out.push(' ');
                self.expr_inline(out, then_branch)?;
                out.push_str(" else ");
                self.expr_inline(out, else_branch)?;
            }
            ExprKind::Block { lets, result } if lets.is_empty() => {
                out.push_str("{ ");
                self.expr_inline(out, result)?;
                out.push_str(" }");
            }
            ExprKind::Mix(parts) => {
                out.push_str("mix { ");
                for (index, part) in parts.iter().enumerate() {
                    if index > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&part.dataset.name);
                    out.push_str(": ");
                    self.expr_inline(out, &part.weight)?;
                }
                out.push_str(" }");
            }
            ExprKind::Block { .. }
            | ExprKind::Match { .. }
            | ExprKind::Chat(_)
            | ExprKind::Error => return None,
        }
        Some(())
    }

    fn join_inline(&self, out: &mut String, items: &[Expr]) -> Option<()> {
        for (index, item) in items.iter().enumerate() {
            if index > 0 {
                out.push_str(", ");
            }
            self.expr_inline(out, item)?;
        }
        Some(())
    }
}

/// Values that print as `= NAME {` or `= {` and so stay on the line of their `=`.
fn opens_block(expr: &Expr) -> bool {
    matches!(
        expr.kind,
        ExprKind::Str(_)
            | ExprKind::BlockCall { .. }
            | ExprKind::Block { .. }
            | ExprKind::Chat(_)
            | ExprKind::Mix(_)
            | ExprKind::Call { .. }
            | ExprKind::List(_)
    )
}

fn arg_text(arg: &Arg, value: &str) -> String {
    match &arg.name {
        Some(name) => format!("{} = {value}", name.name),
        None => value.to_string(),
    }
}

fn use_text(decl: &UseDecl) -> String {
    let module: Vec<&str> = decl.module.iter().map(|i| i.name.as_str()).collect();
    let name = |n: &UseName| match &n.alias {
        Some(alias) => format!("{} as {}", n.name.name, alias.name),
        None => n.name.name.clone(),
    };
    if decl.braced {
        format!(
            "use {}::{{{}}}",
            module.join("::"),
            decl.names.iter().map(name).collect::<Vec<_>>().join(", ")
        )
    } else {
        let names: Vec<String> = decl.names.iter().map(name).collect();
        format!("use {}::{}", module.join("::"), names.join(""))
    }
}

pub fn type_text(ty: &TypeExpr) -> String {
    match &ty.kind {
        TypeKind::Named { name, args } if args.is_empty() => name.name.clone(),
        TypeKind::Named { name, args } => format!(
            "{}[{}]",
            name.name,
            args.iter().map(type_text).collect::<Vec<_>>().join(", ")
        ),
        TypeKind::Enum(cases) => format!(
            "enum {{ {} }}",
            cases
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        TypeKind::Tuple(items) => format!(
            "({})",
            items.iter().map(type_text).collect::<Vec<_>>().join(", ")
        ),
        TypeKind::Optional(inner) => format!("{}?", type_text(inner)),
        TypeKind::Error => "?".to_string(),
    }
}

fn pattern_text(source: &str, pattern: &Pattern) -> String {
    match &pattern.kind {
        PatternKind::Wildcard => "_".to_string(),
        PatternKind::Case(name) => name.name.clone(),
        PatternKind::Constructor { name, bindings } => {
            format!(
                "{}({})",
                name.name,
                bindings
                    .iter()
                    .map(|b| b.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        PatternKind::Literal(_) => source[pattern.span.start..pattern.span.end].to_string(),
        PatternKind::Or(alternatives) => alternatives
            .iter()
            .map(|p| pattern_text(source, p))
            .collect::<Vec<_>>()
            .join(" | "),
        PatternKind::Error => source[pattern.span.start..pattern.span.end].to_string(),
    }
}
