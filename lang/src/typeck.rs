//! Type checking of expressions: the bodies of `reward`, `fn` and `prompt`, constants, models,
//! dataset sources and clauses. Settings blocks (`grpo { ... }`, stages) are typed by the callee
//! they build but their entries are not checked here yet.
//!
//! Every mistake yields `Type::Unknown` after its diagnostic, so it is reported once.

use std::collections::HashMap;
use std::rc::Rc;

use crate::ast::*;
use crate::diagnostic::{Code, Diagnostic};
use crate::ranges::{Constant, fold, range_of};
use crate::resolve::ModuleEnv;
use crate::suggest;
use crate::types::{Parameter, Signature, Type};

/// The fields of a completion.
const COMPLETION_FIELDS: &[(&str, Type)] = &[
    ("text", Type::Text),
    ("answer", Type::Text),
    ("think", Type::Text),
    ("tokens", Type::Int),
    ("truncated", Type::Bool),
];

/// Statistics of a rollout group: `group.mean(accuracy)`. Their argument is a per-completion value
/// (a reward or predicate), which this checker takes as it is.
const GROUP_METHODS: &[(&str, Type)] = &[
    ("mean", Type::Float),
    ("std", Type::Float),
    ("sum", Type::Float),
    ("max", Type::Float),
    ("min", Type::Float),
    ("pass_rate", Type::Float),
    ("count", Type::Int),
    ("size", Type::Int),
    ("loo_mean", Type::Float),
    ("min_length", Type::Int),
    ("max_length", Type::Int),
    ("mean_length", Type::Float),
];

/// What a model offers to rewards: a judge's score, or a chat model's reply.
const MODEL_METHODS: &[(&str, Type)] = &[("score", Type::Float), ("reply", Type::Text)];

struct Checker<'a> {
    env: &'a dyn ModuleEnv,
    module: &'a Module,
    /// Top-level names: how to find their types (computed lazily, for constants and functions
    /// whose result is inferred).
    items: HashMap<String, &'a Item>,
    /// Imports: local name to (module path, original name).
    imports: HashMap<String, (Vec<String>, String)>,
    rows: HashMap<String, Vec<(String, Type)>>,
    cache: HashMap<String, Type>,
    in_progress: Vec<String>,
    scopes: Vec<Vec<(String, Type)>>,
    /// Inside the settings of an algorithm or a `train` block, where a reward or function of the
    /// completion, its row and its group stands for its value (`reward = accuracy`,
    /// `advantage = accuracy - group.mean(accuracy)`).
    in_settings: bool,
    diagnostics: Vec<Diagnostic>,
}

pub fn check(module: &Module, env: &dyn ModuleEnv) -> Vec<Diagnostic> {
    let mut checker = Checker {
        env,
        module,
        items: HashMap::new(),
        imports: HashMap::new(),
        rows: HashMap::new(),
        cache: HashMap::new(),
        in_progress: Vec::new(),
        scopes: Vec::new(),
        in_settings: false,
        diagnostics: Vec::new(),
    };
    checker.collect();
    for item in &module.items {
        checker.item(item);
    }
    checker.diagnostics
}

/// The type a type expression denotes; `datasets` holds the row types known so far (names not in
/// it are `Unknown`).
pub fn type_of_ast(ty: &TypeExpr, datasets: &HashMap<String, Vec<(String, Type)>>) -> Type {
    match &ty.kind {
        TypeKind::Named { name, args } => match (name.name.as_str(), args.as_slice()) {
            ("float", []) => Type::Float,
            ("int", []) => Type::Int,
            ("bool", []) => Type::Bool,
            ("text", []) => Type::Text,
            ("image", []) => Type::Image,
            ("box", []) => Type::BoundingBox,
            ("list", [element]) => Type::List(Box::new(type_of_ast(element, datasets))),
            ("completion", []) => Type::Completion,
            ("group", []) => Type::Group,
            ("schedule", []) => Type::Schedule,
            ("model", []) => Type::Model,
            ("dataset", []) => Type::Dataset,
            ("algorithm", []) => Type::Algorithm,
            ("optimizer", []) => Type::Optimizer,
            ("stage", []) => Type::Stage,
            ("chat", []) => Type::Chat,
            ("estimator", []) => Type::Estimator,
            ("aggregation", []) => Type::Aggregation,
            ("baseline", []) => Type::Baseline,
            ("scaling", []) => Type::Scaling,
            (row, []) if datasets.contains_key(row) => Type::Row(row.to_string()),
            _ => Type::Unknown,
        },
        TypeKind::Enum(cases) => Type::Enum(cases.iter().map(|c| c.name.clone()).collect()),
        TypeKind::Tuple(items) => {
            Type::Tuple(items.iter().map(|t| type_of_ast(t, datasets)).collect())
        }
        TypeKind::Optional(inner) => Type::Optional(Box::new(type_of_ast(inner, datasets))),
        TypeKind::Error => Type::Unknown,
    }
}

fn signature_of(
    params: &[Param],
    result: Type,
    datasets: &HashMap<String, Vec<(String, Type)>>,
) -> Type {
    Type::Function(Rc::new(Signature {
        params: params
            .iter()
            .map(|p| Parameter {
                name: p.name.name.clone(),
                ty: p
                    .ty
                    .as_ref()
                    .map_or(Type::Unknown, |t| type_of_ast(t, datasets)),
                has_default: p.default.is_some(),
            })
            .collect(),
        result,
    }))
}

/// "did you mean" when a candidate is close to `name`, else the list of `what` there is.
fn did_you_mean_or_list<'n>(
    diagnostic: Diagnostic,
    name: &Ident,
    candidates: impl Iterator<Item = &'n str> + Clone,
    what: &str,
) -> Diagnostic {
    match suggest::closest(&name.name, candidates.clone()) {
        Some(near) => diagnostic.with_did_you_mean(name.span, near),
        None => {
            let listed: Vec<String> = candidates.map(|n| format!("`{n}`")).collect();
            diagnostic.with_help(format!("its {what} are {}", listed.join(", ")))
        }
    }
}

/// `c`, `ex` and `group` in algorithm and stage settings.
fn settings_scope() -> Vec<(String, Type)> {
    vec![
        ("c".into(), Type::Completion),
        ("ex".into(), Type::Unknown),
        ("group".into(), Type::Group),
    ]
}

fn method_table(ty: &Type) -> Option<(&'static str, &'static [(&'static str, Type)])> {
    match ty {
        Type::Group => Some(("group", GROUP_METHODS)),
        Type::Model => Some(("model", MODEL_METHODS)),
        _ => None,
    }
}

impl<'a> Checker<'a> {
    fn collect(&mut self) {
        for item in &self.module.items {
            match &item.kind {
                ItemKind::Use(decl) => {
                    let path: Vec<String> = decl.module.iter().map(|i| i.name.clone()).collect();
                    for name in &decl.names {
                        self.imports.insert(
                            name.local().name.clone(),
                            (path.clone(), name.name.name.clone()),
                        );
                    }
                }
                ItemKind::Dataset(d) => {
                    self.rows.insert(d.name.name.clone(), Vec::new());
                }
                _ => {}
            }
            if let Some(name) = item.defined_name() {
                self.items.entry(name.name.clone()).or_insert(item);
            }
        }
        // Row types may mention other datasets, so fields are typed once every dataset is known.
        let datasets = self.rows.clone();
        for item in &self.module.items {
            if let ItemKind::Dataset(d) = &item.kind {
                let fields = d
                    .schema
                    .iter()
                    .flatten()
                    .map(|f| (f.name.name.clone(), type_of_ast(&f.ty, &datasets)))
                    .collect();
                self.rows.insert(d.name.name.clone(), fields);
            }
        }
        self.derive_rows();
    }

    /// The rows of a dataset without a schema are its source's: another dataset's
    /// (`dataset hard = all where ...`), or the fields every part of a `mix` shares with one type.
    /// Chains are followed a bounded number of rounds (a cycle keeps no fields).
    fn derive_rows(&mut self) {
        for _ in 0..16 {
            let mut changed = false;
            for item in &self.module.items {
                let ItemKind::Dataset(d) = &item.kind else {
                    continue;
                };
                if d.schema.is_some() {
                    continue;
                }
                let sources: Vec<&str> = match &d.source.kind {
                    ExprKind::Name(name) => vec![name.name.as_str()],
                    ExprKind::Mix(parts) => parts.iter().map(|p| p.dataset.name.as_str()).collect(),
                    _ => continue,
                };
                let mut shared: Option<Vec<(String, Type)>> = None;
                let mut known = true;
                for source in sources {
                    let Some(fields) = self.rows.get(source) else {
                        known = false;
                        break;
                    };
                    shared = Some(match shared {
                        None => fields.clone(),
                        Some(previous) => previous
                            .into_iter()
                            .filter(|field| fields.contains(field))
                            .collect(),
                    });
                }
                if !known {
                    // A source that is not a dataset is reported where it is written; the rows
                    // are then unknown, and reading their fields reports nothing more.
                    changed |= self.rows.remove(&d.name.name).is_some();
                    continue;
                }
                let fields = shared.unwrap_or_default();
                if self.rows.get(&d.name.name) != Some(&fields) {
                    self.rows.insert(d.name.name.clone(), fields);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    fn ast_type(&self, ty: &TypeExpr) -> Type {
        type_of_ast(ty, &self.rows)
    }

    fn error(&mut self, code: Code, span: crate::span::Span, message: String, label: &str) -> Type {
        self.diagnostics
            .push(Diagnostic::new(code, span, message).with_label(label));
        Type::Unknown
    }

    fn expect(&mut self, actual: &Type, expected: &Type, span: crate::span::Span, what: &str) {
        if actual.fits(expected) {
            return;
        }
        let diagnostic = match actual {
            Type::Optional(inner) if inner.fits(expected) => {
                Diagnostic::new(Code::E0310, span, format!("{what} may be `none`"))
                    .with_label(format!("this is `{actual}`, not `{expected}`"))
                    .with_help("match it first: `match x { some(v) => ..., none => ... }`")
            }
            _ => Diagnostic::new(
                Code::E0301,
                span,
                format!("{what} should be `{expected}`, but this is `{actual}`"),
            )
            .with_label(format!("`{actual}` here")),
        };
        self.diagnostics.push(diagnostic);
    }

    /// The type of a top-level name.
    fn global(&mut self, name: &str) -> Option<Type> {
        if let Some(ty) = self.cache.get(name) {
            return Some(ty.clone());
        }
        if let Some(item) = self.items.get(name).copied() {
            if self.in_progress.iter().any(|n| n == name) {
                return Some(Type::Unknown); // a cycle; reported nowhere else, typed loosely
            }
            self.in_progress.push(name.to_string());
            let ty = self.item_type(item);
            self.in_progress.pop();
            self.cache.insert(name.to_string(), ty.clone());
            return Some(ty);
        }
        let declaration = match self.imports.get(name) {
            Some((path, original)) => self.env.declaration(path, original).map(|d| (d, true)),
            None => self.env.declaration(&[], name).map(|d| (d, false)),
        };
        match declaration {
            Some((item, _)) => {
                let ty = self.extern_type(item);
                self.cache.insert(name.to_string(), ty.clone());
                Some(ty)
            }
            None if self.imports.contains_key(name) => Some(Type::Unknown),
            None => None,
        }
    }

    fn extern_type(&self, item: &Item) -> Type {
        let none = HashMap::new();
        match &item.kind {
            ItemKind::Extern(ExternDecl::Fn(f)) => {
                signature_of(&f.params, type_of_ast(&f.result, &none), &none)
            }
            ItemKind::Extern(ExternDecl::Let(l)) => type_of_ast(&l.ty, &none),
            // Functions of the standard library declare their result types.
            ItemKind::Fn(f) | ItemKind::Reward(f) => signature_of(
                &f.params,
                f.result
                    .as_ref()
                    .map_or(Type::Unknown, |t| type_of_ast(t, &none)),
                &none,
            ),
            _ => Type::Unknown,
        }
    }

    fn item_type(&mut self, item: &'a Item) -> Type {
        match &item.kind {
            ItemKind::Dataset(_) => Type::Dataset,
            ItemKind::Model(_) => Type::Model,
            ItemKind::Algorithm(_) => Type::Algorithm,
            ItemKind::Prompt(f) => signature_of(&f.params, Type::Chat, &self.rows),
            ItemKind::Reward(f) | ItemKind::Fn(f) => {
                let result = match &f.result {
                    Some(ty) => self.ast_type(ty),
                    None => self.infer_body(f),
                };
                signature_of(&f.params, result, &self.rows)
            }
            ItemKind::Let(l) => match &l.ty {
                Some(ty) => self.ast_type(ty),
                None => {
                    let saved = std::mem::take(&mut self.scopes);
                    let quiet = self.diagnostics.len();
                    let ty = self.expr(&l.value);
                    self.diagnostics.truncate(quiet); // reported when the item itself is checked
                    self.scopes = saved;
                    ty
                }
            },
            ItemKind::Extern(_) => self.extern_type(item),
            ItemKind::Use(_) | ItemKind::Train(_) | ItemKind::Error => Type::Unknown,
        }
    }

    /// The result type of a function without a declared one (its diagnostics come later).
    fn infer_body(&mut self, f: &FnDecl) -> Type {
        let saved = std::mem::take(&mut self.scopes);
        let quiet = self.diagnostics.len();
        self.scopes.push(self.param_scope(&f.params));
        let ty = self.expr(&f.body);
        self.diagnostics.truncate(quiet);
        self.scopes = saved;
        ty
    }

    fn param_scope(&self, params: &[Param]) -> Vec<(String, Type)> {
        params
            .iter()
            .map(|p| {
                (
                    p.name.name.clone(),
                    p.ty.as_ref().map_or(Type::Unknown, |t| self.ast_type(t)),
                )
            })
            .collect()
    }

    fn item(&mut self, item: &'a Item) {
        match &item.kind {
            ItemKind::Reward(f) | ItemKind::Fn(f) | ItemKind::Prompt(f) => {
                for param in &f.params {
                    if let Some(default) = &param.default {
                        let ty = self.expr(default);
                        let expected = param
                            .ty
                            .as_ref()
                            .map_or(Type::Unknown, |t| self.ast_type(t));
                        self.expect(
                            &ty,
                            &expected,
                            default.span,
                            &format!("the default of `{}`", param.name.name),
                        );
                    }
                }
                self.scopes.push(self.param_scope(&f.params));
                let body = self.expr(&f.body);
                self.scopes.pop();
                let (expected, what) = match (&item.kind, &f.result) {
                    (ItemKind::Prompt(_), _) => {
                        (Type::Chat, format!("the prompt `{}`", f.name.name))
                    }
                    (_, Some(result)) => (
                        self.ast_type(result),
                        format!("the result of `{}`", f.name.name),
                    ),
                    (ItemKind::Reward(_), None) => {
                        (Type::Float, format!("the reward `{}`", f.name.name))
                    }
                    _ => (Type::Unknown, String::new()),
                };
                self.expect(&body, &expected, f.body.span, &what);
                if let (ItemKind::Reward(_), Some(result)) = (&item.kind, &f.result) {
                    let declared = self.ast_type(result);
                    if !declared.fits(&Type::Float) {
                        self.error(
                            Code::E0301,
                            result.span,
                            format!("a reward returns a number, not `{declared}`"),
                            "declare `-> float`",
                        );
                    }
                }
            }
            ItemKind::Let(l) => {
                let ty = self.expr(&l.value);
                if let Some(declared) = &l.ty {
                    let declared = self.ast_type(declared);
                    self.expect(&ty, &declared, l.value.span, &format!("`{}`", l.name.name));
                }
            }
            ItemKind::Model(v) => {
                let ty = self.expr(&v.value);
                self.expect(
                    &ty,
                    &Type::Model,
                    v.value.span,
                    &format!("the model `{}`", v.name.name),
                );
            }
            ItemKind::Algorithm(v) => {
                self.scopes.push(settings_scope());
                self.in_settings = true;
                let ty = self.expr(&v.value);
                self.in_settings = false;
                self.scopes.pop();
                self.expect(
                    &ty,
                    &Type::Algorithm,
                    v.value.span,
                    &format!("the algorithm `{}`", v.name.name),
                );
            }
            ItemKind::Dataset(d) => {
                let ty = self.expr(&d.source);
                self.expect(
                    &ty,
                    &Type::Dataset,
                    d.source.span,
                    &format!("the source of `{}`", d.name.name),
                );
                self.scopes
                    .push(vec![("ex".into(), Type::Row(d.name.name.clone()))]);
                for clause in &d.clauses {
                    match clause {
                        DataClause::Where(condition) => {
                            let ty = self.expr(condition);
                            self.expect(&ty, &Type::Bool, condition.span, "a `where` condition");
                        }
                        DataClause::OrderBy { key, .. } => {
                            let ty = self.expr(key);
                            if !ty.is_numeric() && !ty.fits(&Type::Text) {
                                self.error(
                                    Code::E0301,
                                    key.span,
                                    format!("rows are ordered by a number or a text, not `{ty}`"),
                                    "sort key",
                                );
                            }
                        }
                    }
                }
                self.scopes.pop();
            }
            ItemKind::Train(t) => {
                self.scopes.push(settings_scope());
                self.in_settings = true;
                self.train_entries(&t.entries);
                self.in_settings = false;
                self.scopes.pop();
            }
            ItemKind::Use(_) | ItemKind::Extern(_) | ItemKind::Error => {}
        }
    }

    /// The entries of `train MODEL { ... }`: the optimizer, a seed, and the stages in order.
    fn train_entries(&mut self, entries: &[Entry]) {
        const SETTINGS: &[(&str, Type)] = &[("optimizer", Type::Optimizer), ("seed", Type::Int)];
        for entry in entries {
            match &entry.kind {
                EntryKind::Stage { name, value } => {
                    // `stage main = rl { ... }`: the stage kinds of the prelude win over recipe names
                    // (the brief's own recipe calls its algorithm `rl` too).
                    let ty = match &value.kind {
                        ExprKind::BlockCall { callee, entries } => {
                            let kind = self
                                .env
                                .declaration(&[], &callee.name)
                                .map(|item| self.extern_type(item));
                            if callee.name == "rl" {
                                self.check_batch_and_group(entries);
                            }
                            self.settings_block_of(callee, kind, entries, value.span)
                        }
                        _ => self.expr(value),
                    };
                    self.expect(
                        &ty,
                        &Type::Stage,
                        value.span,
                        &format!("the stage `{}`", name.name),
                    );
                }
                EntryKind::Setting { key, value } => {
                    let ty = self.expr(value);
                    match SETTINGS.iter().find(|(n, _)| *n == key.name) {
                        Some((_, expected)) => {
                            self.expect(&ty, expected, value.span, &format!("`{}`", key.name))
                        }
                        None => self.unknown_setting(
                            key,
                            "a `train` block",
                            SETTINGS.iter().map(|(n, _)| *n),
                        ),
                    }
                }
                EntryKind::Block { key, .. } => {
                    self.unknown_setting(key, "a `train` block", SETTINGS.iter().map(|(n, _)| *n))
                }
                EntryKind::Error => {}
            }
        }
    }

    fn unknown_setting<'n>(
        &mut self,
        key: &Ident,
        owner: &str,
        names: impl Iterator<Item = &'n str> + Clone,
    ) {
        let mut diagnostic = Diagnostic::new(
            Code::E0304,
            key.span,
            format!("{owner} has no setting `{}`", key.name),
        )
        .with_label("unknown setting");
        diagnostic = did_you_mean_or_list(diagnostic, key, names, "settings");
        self.diagnostics.push(diagnostic);
    }

    /// The entries of `callee { ... }` checked against the callee's parameters: each key must be one
    /// of them, each value of its type, and every parameter without a default given. A nested
    /// `key { ... }` is checked against the prelude function `key` (`rollout { ... }`).
    fn settings_block(
        &mut self,
        callee: &Ident,
        entries: &[Entry],
        span: crate::span::Span,
    ) -> Type {
        let callee_type = self.global(&callee.name);
        self.settings_block_of(callee, callee_type, entries, span)
    }

    fn settings_block_of(
        &mut self,
        callee: &Ident,
        callee_type: Option<Type>,
        entries: &[Entry],
        span: crate::span::Span,
    ) -> Type {
        let signature = match callee_type {
            Some(Type::Function(signature)) => signature,
            Some(Type::Unknown) | None => {
                for entry in entries {
                    if let EntryKind::Setting { value, .. } | EntryKind::Stage { value, .. } =
                        &entry.kind
                    {
                        self.expr(value);
                    }
                }
                return Type::Unknown;
            }
            Some(other) => {
                return self.error(
                    Code::E0306,
                    callee.span,
                    format!(
                        "`{}` is a `{other}`, not something with settings",
                        callee.name
                    ),
                    "no settings",
                );
            }
        };
        let owner = format!("`{}`", callee.name);
        let names = || signature.params.iter().map(|p| p.name.as_str());
        let mut given = Vec::new();
        for entry in entries {
            match &entry.kind {
                EntryKind::Setting { key, value } => {
                    let ty = self.expr(value);
                    match signature.params.iter().find(|p| p.name == key.name) {
                        Some(param) => {
                            given.push(key.name.clone());
                            self.expect(
                                &ty,
                                &param.ty,
                                value.span,
                                &format!("the setting `{}`", key.name),
                            );
                            self.check_range(&callee.name, &key.name, value, "setting");
                        }
                        None => self.unknown_setting(key, &owner, names()),
                    }
                }
                EntryKind::Block { key, entries } => {
                    if signature.params.iter().any(|p| p.name == key.name) {
                        given.push(key.name.clone());
                        self.settings_block(key, entries, entry.span);
                    } else {
                        self.unknown_setting(key, &owner, names());
                    }
                }
                EntryKind::Stage { name, .. } => {
                    self.error(
                        Code::E0304,
                        name.span,
                        "stages are written in a `train` block".to_string(),
                        "not a setting here",
                    );
                }
                EntryKind::Error => {}
            }
        }
        let missing: Vec<&str> = signature
            .params
            .iter()
            .filter(|p| !p.has_default && !given.contains(&p.name))
            .map(|p| p.name.as_str())
            .collect();
        if !missing.is_empty() {
            self.diagnostics.push(
                Diagnostic::new(
                    Code::E0305,
                    callee.span,
                    format!(
                        "{owner} needs {}",
                        missing
                            .iter()
                            .map(|m| format!("`{m}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .with_label("missing settings")
                .with_secondary(span, "in these settings"),
            );
        }
        signature.result.clone()
    }

    /// The value of a constant expression (literals, arithmetic, `let` constants).
    fn constant(&self, expr: &Expr) -> Option<Constant> {
        fn lookup(items: &HashMap<String, &Item>, name: &str, depth: usize) -> Option<Constant> {
            if depth > 32 {
                return None;
            }
            match &items.get(name)?.kind {
                ItemKind::Let(l) => fold(&l.value, &mut |n| lookup(items, n, depth + 1)),
                _ => None,
            }
        }
        fold(expr, &mut |n| lookup(&self.items, n, 0))
    }

    /// Reports a constant value outside the range of `function`'s parameter `param`.
    /// A regular expression written as a literal is compiled now, not at the first step.
    fn check_pattern(&mut self, function: &str, param: &str, value: &Expr) {
        if !matches!(function, "regex_match" | "regex_find") || param != "pattern" {
            return;
        }
        let ExprKind::Str(pattern) = &value.kind else {
            return;
        };
        if let Err(error) = regex_syntax::Parser::new().parse(pattern) {
            let message = error.to_string();
            // The crate's message draws the pattern with a caret; its last line says what is wrong.
            let reason = message
                .lines()
                .rev()
                .find(|l| l.starts_with("error:"))
                .map_or(message.as_str(), |l| l.trim_start_matches("error:").trim());
            self.diagnostics.push(
                Diagnostic::new(
                    Code::E0315,
                    value.span,
                    format!("this regular expression does not compile: {reason}"),
                )
                .with_label("invalid pattern")
                .with_help(
                    "patterns use the Rust `regex` syntax; in an rlx string a backslash is written `\\\\`",
                ),
            );
        }
    }

    fn check_range(&mut self, function: &str, param: &str, value: &Expr, what: &str) {
        let Some(range) = range_of(function, param) else {
            return;
        };
        let Some(constant) = self.constant(value) else {
            return;
        };
        let numbers = match &constant {
            Constant::Number(v) => vec![*v],
            Constant::Tuple(items) => items
                .iter()
                .filter_map(|c| {
                    if let Constant::Number(v) = c {
                        Some(*v)
                    } else {
                        None
                    }
                })
                .collect(),
        };
        if let Some(bad) = numbers.into_iter().find(|v| !range.contains(*v)) {
            let shown = if bad.fract() == 0.0 && bad.abs() < 1e15 {
                format!("{}", bad as i64)
            } else {
                bad.to_string()
            };
            self.diagnostics.push(
                Diagnostic::new(
                    Code::E0311,
                    value.span,
                    format!(
                        "the {what} `{param}` of `{function}` must be {}, but it is {shown}",
                        range.describe()
                    ),
                )
                .with_label("out of range"),
            );
        }
    }

    /// `batch` of an RL stage must be a multiple of its algorithm's group size: each prompt of the
    /// batch is sampled `group` times.
    fn check_batch_and_group(&mut self, entries: &[Entry]) {
        let setting = |name: &str| {
            entries.iter().find_map(|e| match &e.kind {
                EntryKind::Setting { key, value } if key.name == name => Some(value),
                _ => None,
            })
        };
        let (Some(batch_expr), Some(algorithm)) = (setting("batch"), setting("algorithm")) else {
            return;
        };
        let Some(Constant::Number(batch)) = self.constant(batch_expr) else {
            return;
        };
        let Some((group, group_span)) = self.group_size(algorithm) else {
            return;
        };
        if group >= 1.0 && batch % group != 0.0 {
            let mut diagnostic = Diagnostic::new(
                Code::E0312,
                batch_expr.span,
                format!(
                    "a batch of {batch} completions is not a whole number of groups of {group}"
                ),
            )
            .with_label("not a multiple of the group size")
            .with_help(format!(
                "use a multiple of {group}, such as {}",
                ((batch / group).ceil() * group).max(group)
            ));
            if let Some(span) = group_span {
                diagnostic = diagnostic.with_secondary(span, format!("the group size, {group}"));
            }
            self.diagnostics.push(diagnostic);
        }
    }

    /// The group size of an algorithm value: its `group` setting, or its preset's default.
    fn group_size(&mut self, algorithm: &Expr) -> Option<(f64, Option<crate::span::Span>)> {
        let (callee, entries) = match &algorithm.kind {
            ExprKind::BlockCall { callee, entries } => (callee.clone(), entries.clone()),
            ExprKind::Name(name) => match &self.items.get(&name.name)?.kind {
                ItemKind::Algorithm(v) => match &v.value.kind {
                    ExprKind::BlockCall { callee, entries } => (callee.clone(), entries.clone()),
                    _ => return None,
                },
                _ => return None,
            },
            _ => return None,
        };
        for entry in &entries {
            if let EntryKind::Setting { key, value } = &entry.kind
                && key.name == "group"
            {
                return match self.constant(value)? {
                    Constant::Number(v) => Some((v, Some(value.span))),
                    Constant::Tuple(_) => None,
                };
            }
        }
        let preset = self.env.declaration(&[], &callee.name)?;
        let params = match &preset.kind {
            ItemKind::Extern(ExternDecl::Fn(f)) => &f.params,
            ItemKind::Fn(f) => &f.params,
            _ => return None,
        };
        let default = params
            .iter()
            .find(|p| p.name.name == "group")?
            .default
            .as_ref()?;
        match fold(default, &mut |_| None)? {
            Constant::Number(v) => Some((v, None)),
            Constant::Tuple(_) => None,
        }
    }

    /// In settings, a function of the completion, its row and its group stands for its value.
    fn settings_value(&self, ty: Type) -> Type {
        match &ty {
            Type::Function(signature)
                if self.in_settings
                    && !signature.params.is_empty()
                    && signature.params.iter().all(|p| {
                        matches!(
                            p.ty,
                            Type::Completion | Type::Row(_) | Type::Group | Type::Unknown
                        )
                    }) =>
            {
                signature.result.clone()
            }
            _ => ty,
        }
    }

    fn lookup(&mut self, name: &Ident) -> Type {
        let ty = self.lookup_raw(name);
        self.settings_value(ty)
    }

    fn lookup_raw(&mut self, name: &Ident) -> Type {
        if let Some(ty) = self
            .scopes
            .iter()
            .rev()
            .flat_map(|s| s.iter().rev())
            .find(|(n, _)| *n == name.name)
            .map(|(_, t)| t.clone())
        {
            return ty;
        }
        // Unknown names were reported by resolution.
        self.global(&name.name).unwrap_or(Type::Unknown)
    }

    fn expr(&mut self, expr: &Expr) -> Type {
        match &expr.kind {
            ExprKind::Int(_) => Type::Int,
            ExprKind::Float(_) => Type::Float,
            ExprKind::Str(_) => Type::Text,
            ExprKind::Bool(_) => Type::Bool,
            ExprKind::None => Type::Optional(Box::new(Type::Unknown)),
            ExprKind::Name(name) => self.lookup(name),
            ExprKind::Paren(inner) => self.expr(inner),
            ExprKind::List(items) => {
                let mut element = Type::Unknown;
                for item in items {
                    let ty = self.expr(item);
                    match Type::join(&element, &ty) {
                        Some(joined) => element = joined,
                        None => {
                            self.error(
                                Code::E0301,
                                item.span,
                                format!("list items should all be `{element}`, but this is `{ty}`"),
                                "different type",
                            );
                        }
                    }
                }
                Type::List(Box::new(element))
            }
            ExprKind::Tuple(items) => Type::Tuple(items.iter().map(|i| self.expr(i)).collect()),
            ExprKind::Unary { op, operand } => {
                let ty = self.expr(operand);
                match op {
                    UnaryOp::Neg if ty.is_numeric() => ty,
                    UnaryOp::Not if ty.fits(&Type::Bool) => Type::Bool,
                    UnaryOp::Neg => self.error(
                        Code::E0301,
                        operand.span,
                        format!("cannot negate `{ty}`"),
                        "not a number",
                    ),
                    UnaryOp::Not => self.error(
                        Code::E0301,
                        operand.span,
                        format!("`!` needs a `bool`, not `{ty}`"),
                        "not a bool",
                    ),
                }
            }
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, expr),
            ExprKind::Call { callee, args } => self.call(callee, args, expr),
            ExprKind::Field { target, field } => self.field(target, field),
            ExprKind::Index { target, index } => {
                let target_ty = self.expr(target);
                let index_ty = self.expr(index);
                self.expect(&index_ty, &Type::Int, index.span, "an index");
                match target_ty {
                    Type::List(element) => *element,
                    Type::Unknown => Type::Unknown,
                    other => self.error(
                        Code::E0301,
                        target.span,
                        format!("only lists can be indexed, not `{other}`"),
                        "not a list",
                    ),
                }
            }
            ExprKind::BlockCall { callee, entries } => {
                self.settings_block(callee, entries, expr.span)
            }
            ExprKind::If {
                condition,
                then_branch,
                else_branch,
            } => {
                let ty = self.expr(condition);
                self.expect(&ty, &Type::Bool, condition.span, "an `if` condition");
                let a = self.expr(then_branch);
                let b = self.expr(else_branch);
                match Type::join(&a, &b) {
                    Some(ty) => ty,
                    None => {
                        self.diagnostics.push(
                            Diagnostic::new(
                                Code::E0307,
                                else_branch.span,
                                format!("`if` and `else` have different types: `{a}` and `{b}`"),
                            )
                            .with_label(format!("`{b}` here"))
                            .with_secondary(then_branch.span, format!("`{a}` here")),
                        );
                        Type::Unknown
                    }
                }
            }
            ExprKind::Match { scrutinee, arms } => self.match_expr(scrutinee, arms),
            ExprKind::Block { lets, result } => {
                self.scopes.push(Vec::new());
                for stmt in lets {
                    let mut ty = self.expr(&stmt.value);
                    if let Some(declared) = &stmt.ty {
                        let declared = self.ast_type(declared);
                        self.expect(
                            &ty,
                            &declared,
                            stmt.value.span,
                            &format!("`{}`", stmt.name.name),
                        );
                        ty = declared;
                    }
                    self.scopes
                        .last_mut()
                        .expect("pushed")
                        .push((stmt.name.name.clone(), ty));
                }
                let ty = self.expr(result);
                self.scopes.pop();
                ty
            }
            ExprKind::Chat(turns) => {
                for turn in turns {
                    // A list of parts may mix texts and images.
                    if let ExprKind::List(parts) = &turn.content.kind {
                        for part in parts {
                            self.chat_part(part);
                        }
                        continue;
                    }
                    let ty = self.expr(&turn.content);
                    let ok = |t: &Type| {
                        matches!(t, Type::Text | Type::Image | Type::Unknown | Type::Enum(_))
                    };
                    let fine = ok(&ty) || matches!(&ty, Type::List(element) if ok(element));
                    if !fine {
                        self.error(
                            Code::E0301,
                            turn.content.span,
                            format!("a chat turn holds text and images, not `{ty}`"),
                            "not text or image",
                        );
                    }
                }
                Type::Chat
            }
            ExprKind::Mix(parts) => {
                for part in parts {
                    let ty = self.lookup(&part.dataset);
                    self.expect(&ty, &Type::Dataset, part.dataset.span, "a mixed-in dataset");
                    let weight = self.expr(&part.weight);
                    self.expect(&weight, &Type::Float, part.weight.span, "a mixing weight");
                }
                Type::Dataset
            }
            ExprKind::Error => Type::Unknown,
        }
    }

    fn chat_part(&mut self, part: &Expr) {
        let ty = self.expr(part);
        if !matches!(ty, Type::Text | Type::Image | Type::Unknown | Type::Enum(_)) {
            self.error(
                Code::E0301,
                part.span,
                format!("a chat turn holds text and images, not `{ty}`"),
                "not text or image",
            );
        }
    }

    fn binary(&mut self, op: BinaryOp, lhs: &Expr, rhs: &Expr, whole: &Expr) -> Type {
        let a = self.expr(lhs);
        let b = self.expr(rhs);
        let mismatch = |this: &mut Self| {
            this.error(
                Code::E0301,
                whole.span,
                format!("cannot apply `{}` to `{a}` and `{b}`", op.symbol()),
                "here",
            )
        };
        match op {
            BinaryOp::Add if a == Type::Text && b == Type::Text => Type::Text,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Rem | BinaryOp::Pow => {
                if !a.is_numeric() || !b.is_numeric() {
                    return self.numeric_operand_error(op, &a, &b, lhs, rhs);
                }
                if a == Type::Int && b == Type::Int {
                    Type::Int
                } else if a == Type::Unknown || b == Type::Unknown {
                    Type::Unknown
                } else {
                    Type::Float
                }
            }
            BinaryOp::Div => {
                if !a.is_numeric() || !b.is_numeric() {
                    return self.numeric_operand_error(op, &a, &b, lhs, rhs);
                }
                Type::Float
            }
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                if a.is_numeric() && b.is_numeric() {
                    Type::Bool
                } else {
                    mismatch(self)
                }
            }
            BinaryOp::Eq | BinaryOp::NotEq => {
                if a.fits(&b) || b.fits(&a) {
                    Type::Bool
                } else {
                    mismatch(self)
                }
            }
            BinaryOp::And | BinaryOp::Or => {
                self.expect(
                    &a,
                    &Type::Bool,
                    lhs.span,
                    &format!("the left of `{}`", op.symbol()),
                );
                self.expect(
                    &b,
                    &Type::Bool,
                    rhs.span,
                    &format!("the right of `{}`", op.symbol()),
                );
                Type::Bool
            }
        }
    }

    fn numeric_operand_error(
        &mut self,
        op: BinaryOp,
        a: &Type,
        b: &Type,
        lhs: &Expr,
        rhs: &Expr,
    ) -> Type {
        let (bad, span) = if !a.is_numeric() {
            (a, lhs.span)
        } else {
            (b, rhs.span)
        };
        if let Type::Optional(inner) = bad
            && inner.is_numeric()
        {
            self.diagnostics.push(
                Diagnostic::new(
                    Code::E0310,
                    span,
                    format!("this operand of `{}` may be `none`", op.symbol()),
                )
                .with_label(format!("`{bad}`"))
                .with_help("match it first: `match x { some(v) => ..., none => ... }`"),
            );
            return Type::Unknown;
        }
        self.error(
            Code::E0301,
            span,
            format!("`{}` needs numbers, but this is `{bad}`", op.symbol()),
            "not a number",
        )
    }

    fn field(&mut self, target: &Expr, field: &Ident) -> Type {
        let ty = self.expr(target);
        match &ty {
            Type::Unknown => Type::Unknown,
            Type::Row(dataset) => {
                let found = self
                    .rows
                    .get(dataset)
                    .and_then(|fields| fields.iter().find(|(n, _)| *n == field.name));
                if let Some((_, ty)) = found {
                    return ty.clone();
                }
                if !self.rows.contains_key(dataset) {
                    return Type::Unknown;
                }
                if self.reads_undeclared_file(dataset) {
                    self.diagnostics.push(
                        Diagnostic::new(
                            Code::E0302,
                            field.span,
                            format!("dataset `{dataset}` declares no fields"),
                        )
                        .with_label("not declared")
                        .with_help(format!(
                            "declare the fields it reads after its source: `{{ {}: text, ... }}`",
                            field.name
                        )),
                    );
                    return Type::Unknown;
                }
                // Only a mistake pays for a copy of the field names.
                let fields = self.rows.get(dataset).cloned().unwrap_or_default();
                self.unknown_member(
                    field,
                    &format!("dataset `{dataset}`"),
                    fields.iter().map(|(n, _)| n.as_str()),
                )
            }
            Type::Completion => match COMPLETION_FIELDS.iter().find(|(n, _)| *n == field.name) {
                Some((_, ty)) => ty.clone(),
                None => self.unknown_member(
                    field,
                    "a completion",
                    COMPLETION_FIELDS.iter().map(|(n, _)| *n),
                ),
            },
            Type::Optional(_) => {
                self.diagnostics.push(
                    Diagnostic::new(
                        Code::E0310,
                        target.span,
                        format!(
                            "this may be `none`, so it has no field `{}` yet",
                            field.name
                        ),
                    )
                    .with_label(format!("`{ty}`"))
                    .with_help("match it first: `match x { some(v) => v.field, none => ... }`"),
                );
                Type::Unknown
            }
            other => match method_table(other) {
                Some((what, methods)) => match methods.iter().find(|(n, _)| *n == field.name) {
                    Some((_, result)) => Type::Function(Rc::new(Signature {
                        params: Vec::new(),
                        result: result.clone(),
                    })),
                    None => self.unknown_member(
                        field,
                        &format!("a {what}"),
                        methods.iter().map(|(n, _)| *n),
                    ),
                },
                None => self.error(
                    Code::E0302,
                    field.span,
                    format!("`{other}` has no fields"),
                    "no such field",
                ),
            },
        }
    }

    /// Whether `dataset` reads a file without declaring a schema (so no field is known).
    fn reads_undeclared_file(&self, dataset: &str) -> bool {
        matches!(
            self.items.get(dataset).map(|item| &item.kind),
            Some(ItemKind::Dataset(d)) if d.schema.is_none()
                && !matches!(d.source.kind, ExprKind::Name(_) | ExprKind::Mix(_))
        )
    }

    fn unknown_member<'n>(
        &mut self,
        field: &Ident,
        owner: &str,
        names: impl Iterator<Item = &'n str> + Clone,
    ) -> Type {
        let mut diagnostic = Diagnostic::new(
            Code::E0302,
            field.span,
            format!("{owner} has no field `{}`", field.name),
        )
        .with_label("unknown field");
        diagnostic = did_you_mean_or_list(diagnostic, field, names, "fields");
        self.diagnostics.push(diagnostic);
        Type::Unknown
    }

    fn call(&mut self, callee: &Expr, args: &[Arg], whole: &Expr) -> Type {
        let callee_ty = match &callee.kind {
            ExprKind::Name(name) => self.lookup_raw(name),
            _ => self.expr(callee),
        };
        let signature = match callee_ty {
            Type::Function(signature) => signature,
            Type::Unknown => {
                args.iter().for_each(|a| {
                    self.expr(&a.value);
                });
                return Type::Unknown;
            }
            other => {
                args.iter().for_each(|a| {
                    self.expr(&a.value);
                });
                return self.error(
                    Code::E0306,
                    callee.span,
                    format!("`{other}` is not a function"),
                    "called here",
                );
            }
        };
        // Methods of groups and models take any arguments (a per-completion value, or the judge's
        // named inputs).
        if signature.params.is_empty() && matches!(callee.kind, ExprKind::Field { .. }) {
            args.iter().for_each(|a| {
                self.expr(&a.value);
            });
            return signature.result.clone();
        }
        let name = match &callee.kind {
            ExprKind::Name(name) => format!("`{}`", name.name),
            _ => "this function".to_string(),
        };
        let mut given = vec![false; signature.params.len()];
        let mut positional = 0;
        for arg in args {
            let ty = self.expr(&arg.value);
            let index = match &arg.name {
                None => {
                    positional += 1;
                    if positional > signature.params.len() {
                        self.diagnostics.push(
                            Diagnostic::new(
                                Code::E0305,
                                arg.value.span,
                                format!("{name} takes {} arguments", signature.params.len()),
                            )
                            .with_label("one too many"),
                        );
                        continue;
                    }
                    positional - 1
                }
                Some(arg_name) => match signature
                    .params
                    .iter()
                    .position(|p| p.name == arg_name.name)
                {
                    Some(index) => index,
                    None => {
                        let mut diagnostic = Diagnostic::new(
                            Code::E0304,
                            arg_name.span,
                            format!("{name} has no parameter `{}`", arg_name.name),
                        )
                        .with_label("unknown argument");
                        let names = signature.params.iter().map(|p| p.name.as_str());
                        diagnostic =
                            did_you_mean_or_list(diagnostic, arg_name, names, "parameters");
                        self.diagnostics.push(diagnostic);
                        continue;
                    }
                },
            };
            given[index] = true;
            let param = &signature.params[index];
            // `len` counts the items of a list as well as the characters of a text.
            let counted_list = matches!(&callee.kind, ExprKind::Name(f) if f.name == "len")
                && matches!(ty, Type::List(_));
            if !counted_list {
                self.expect(
                    &ty,
                    &param.ty,
                    arg.value.span,
                    &format!("the argument `{}`", param.name),
                );
            }
            if let ExprKind::Name(function) = &callee.kind {
                let param_name = param.name.clone();
                self.check_range(&function.name, &param_name, &arg.value, "argument");
                self.check_pattern(&function.name, &param_name, &arg.value);
            }
        }
        let missing: Vec<&str> = signature
            .params
            .iter()
            .zip(&given)
            .filter(|(p, g)| !**g && !p.has_default)
            .map(|(p, _)| p.name.as_str())
            .collect();
        if !missing.is_empty() {
            self.diagnostics.push(
                Diagnostic::new(
                    Code::E0305,
                    whole.span,
                    format!(
                        "{name} needs {}",
                        missing
                            .iter()
                            .map(|m| format!("`{m}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .with_label("missing arguments"),
            );
        }
        signature.result.clone()
    }

    fn match_expr(&mut self, scrutinee: &Expr, arms: &[MatchArm]) -> Type {
        let ty = self.expr(scrutinee);
        let mut result = Type::Unknown;
        let mut covered: Vec<String> = Vec::new();
        let mut wildcard = false;
        let before = self.diagnostics.len();
        for arm in arms {
            let bindings = self.pattern(&arm.pattern, &ty, &mut covered, &mut wildcard);
            self.scopes.push(bindings);
            let arm_ty = self.expr(&arm.body);
            self.scopes.pop();
            match Type::join(&result, &arm_ty) {
                Some(joined) => result = joined,
                None => {
                    self.error(
                        Code::E0307,
                        arm.body.span,
                        format!("`match` arms have different types: `{result}` and `{arm_ty}`"),
                        "different type",
                    );
                }
            }
        }
        // A misspelt case is reported once, not again as a missing one.
        let case_errors = self.diagnostics[before..]
            .iter()
            .any(|d| d.code == Code::E0308);
        if !wildcard && !case_errors {
            let missing: Vec<String> = match &ty {
                Type::Enum(cases) => cases
                    .iter()
                    .filter(|c| !covered.contains(c))
                    .cloned()
                    .collect(),
                Type::Optional(_) => ["some(_)", "none"]
                    .iter()
                    .filter(|c| !covered.iter().any(|k| k == *c))
                    .map(|c| c.to_string())
                    .collect(),
                Type::Bool => ["true", "false"]
                    .iter()
                    .filter(|c| !covered.iter().any(|k| k == *c))
                    .map(|c| c.to_string())
                    .collect(),
                Type::Unknown => Vec::new(),
                _ => vec!["_".to_string()],
            };
            if !missing.is_empty() {
                self.diagnostics.push(
                    Diagnostic::new(
                        Code::E0309,
                        scrutinee.span,
                        "this `match` does not cover every case",
                    )
                    .with_label(format!("`{ty}`"))
                    .with_help(format!(
                        "add arms for {}",
                        missing
                            .iter()
                            .map(|m| format!("`{m}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
            }
        }
        result
    }

    fn pattern(
        &mut self,
        pattern: &Pattern,
        ty: &Type,
        covered: &mut Vec<String>,
        wildcard: &mut bool,
    ) -> Vec<(String, Type)> {
        match &pattern.kind {
            PatternKind::Wildcard => {
                *wildcard = true;
                Vec::new()
            }
            PatternKind::Case(name) => {
                match ty {
                    Type::Enum(cases) if cases.contains(&name.name) => {
                        covered.push(name.name.clone())
                    }
                    Type::Enum(cases) => {
                        let mut diagnostic = Diagnostic::new(
                            Code::E0308,
                            name.span,
                            format!("`{}` is not a case of `{ty}`", name.name),
                        )
                        .with_label("unknown case");
                        if let Some(near) =
                            suggest::closest(&name.name, cases.iter().map(String::as_str))
                        {
                            diagnostic = diagnostic.with_did_you_mean(name.span, near);
                        }
                        self.diagnostics.push(diagnostic);
                    }
                    Type::Unknown => {}
                    other => {
                        self.error(
                            Code::E0308,
                            name.span,
                            format!("`{}` is a case name, but the value is `{other}`", name.name),
                            "not an enum",
                        );
                    }
                }
                Vec::new()
            }
            PatternKind::Constructor { name, bindings } if name.name == "some" => {
                covered.push("some(_)".into());
                let inner = match ty {
                    Type::Optional(inner) => (**inner).clone(),
                    Type::Unknown => Type::Unknown,
                    other => self.error(
                        Code::E0308,
                        pattern.span,
                        format!("`some(...)` matches an optional value, not `{other}`"),
                        "not optional",
                    ),
                };
                bindings
                    .iter()
                    .map(|b| (b.name.clone(), inner.clone()))
                    .collect()
            }
            PatternKind::Constructor { name, .. } => {
                self.error(
                    Code::E0308,
                    name.span,
                    format!("`{}(...)` is not a pattern; use `some(x)`", name.name),
                    "unknown constructor",
                );
                Vec::new()
            }
            PatternKind::Literal(literal) => {
                let literal_ty = self.expr(literal);
                match (&literal.kind, ty) {
                    (ExprKind::None, _) => covered.push("none".into()),
                    (ExprKind::Bool(b), _) => covered.push(b.to_string()),
                    _ => {}
                }
                if !matches!(literal.kind, ExprKind::None)
                    && !literal_ty.fits(ty)
                    && !ty.fits(&literal_ty)
                {
                    self.error(
                        Code::E0301,
                        pattern.span,
                        format!("this pattern is `{literal_ty}` but the value is `{ty}`"),
                        "different type",
                    );
                }
                Vec::new()
            }
            PatternKind::Or(alternatives) => {
                let mut bindings = Vec::new();
                for alternative in alternatives {
                    bindings.extend(self.pattern(alternative, ty, covered, wildcard));
                }
                bindings
            }
            PatternKind::Error => Vec::new(),
        }
    }
}
