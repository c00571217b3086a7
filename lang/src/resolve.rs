//! Name resolution: what the parser alone can see. Duplicate definitions, parameters, fields, settings
//! and cases; names, types and imports that do not exist (with "did you mean"); unused imports.
//! Types, fields of records and settings' meanings are the type checker's.

use std::collections::HashMap;

use crate::ast::*;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;
use crate::suggest;

/// Type names built into the language. Dataset names are types too (the type of their rows).
pub const BUILTIN_TYPES: &[&str] = &[
    "float",
    "int",
    "bool",
    "text",
    "image",
    "box",
    "list",
    "completion",
    "group",
    "schedule",
    "model",
    "dataset",
    "algorithm",
    "optimizer",
    "stage",
    "chat",
    "estimator",
    "aggregation",
    "baseline",
    "scaling",
    "settings",
];

/// Chat roles a `chat { ... }` template may use.
pub const CHAT_ROLES: &[&str] = &["system", "user", "assistant"];

/// Names bound implicitly inside `stage` and `algorithm` values: `c` is the completion being scored,
/// `ex` its dataset row and `group` the rollout group of its prompt. Dataset `where`/`order by`
/// clauses see only `ex`, the row.
pub const STAGE_NAMES: &[&str] = &["c", "ex", "group"];
pub const CLAUSE_NAMES: &[&str] = &["ex"];

/// What the rest of the world provides: the prelude (always in scope) and the modules a `use` can
/// name. The compiler implements it over the embedded standard library and the recipe's own files.
pub trait ModuleEnv {
    fn prelude(&self) -> &[String];
    /// The names `path` exports, or `Err(note)` when there is no such module.
    fn module(&self, path: &[String]) -> Result<Vec<String>, Option<String>>;
    /// Every module path known without looking at the file system (for "did you mean").
    fn known_modules(&self) -> Vec<Vec<String>>;
    /// The declaration of `name` in module `path` (the prelude when `path` is empty), for its type.
    /// Recipe modules may answer `None`: their items are then not type-checked across files.
    fn declaration(&self, path: &[String], name: &str) -> Option<&crate::ast::Item> {
        let _ = (path, name);
        None
    }
}

/// An environment with no modules and an empty prelude.
pub struct EmptyEnv;

impl ModuleEnv for EmptyEnv {
    fn prelude(&self) -> &[String] {
        &[]
    }
    fn module(&self, _: &[String]) -> Result<Vec<String>, Option<String>> {
        Err(None)
    }
    fn known_modules(&self) -> Vec<Vec<String>> {
        Vec::new()
    }
}

struct Import {
    span: Span,
    used: bool,
}

struct Resolver<'a> {
    env: &'a dyn ModuleEnv,
    /// Top-level definitions: name to the span of its name.
    globals: HashMap<String, Span>,
    imports: HashMap<String, Import>,
    /// Dataset names, which are also row types.
    datasets: Vec<String>,
    /// Local names with where they are bound (`None` for the implicit `c`, `ex`, `group`).
    scopes: Vec<Vec<(String, Option<Span>)>>,
    diagnostics: Vec<Diagnostic>,
    references: Vec<Reference>,
}

/// What a name refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A top-level item of the file, or a name it imports: the span of the defining name (in the
    /// `use` for an import).
    Global(Span),
    /// A parameter, `let` or pattern binding: the span of the binding.
    Local(Span),
    /// `c`, `ex` or `group` in settings, `ex` in dataset clauses.
    Implicit,
    /// A name of the prelude.
    Prelude,
}

/// A use of a name (in an expression, or a dataset name used as a type) and what it refers to.
#[derive(Clone, Debug, PartialEq)]
pub struct Reference {
    pub span: Span,
    pub name: String,
    pub target: Target,
}

/// Every resolved use of a name in a file, in source order: what editors need for go to
/// definition, find references and rename.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SymbolIndex {
    pub references: Vec<Reference>,
}

impl SymbolIndex {
    /// The reference whose name covers byte `offset`.
    pub fn at(&self, offset: usize) -> Option<&Reference> {
        self.references
            .iter()
            .find(|r| r.span.start <= offset && offset <= r.span.end)
    }
}

pub fn resolve(module: &Module, env: &dyn ModuleEnv) -> Vec<Diagnostic> {
    resolve_indexed(module, env).0
}

/// [`resolve`], and the index of every name use.
pub fn resolve_indexed(module: &Module, env: &dyn ModuleEnv) -> (Vec<Diagnostic>, SymbolIndex) {
    let mut resolver = Resolver {
        env,
        globals: HashMap::new(),
        imports: HashMap::new(),
        datasets: Vec::new(),
        scopes: Vec::new(),
        diagnostics: Vec::new(),
        references: Vec::new(),
    };
    resolver.collect_definitions(module);
    for item in &module.items {
        resolver.item(item);
    }
    resolver.report_unused_imports();
    resolver.references.sort_by_key(|r| r.span.start);
    (
        resolver.diagnostics,
        SymbolIndex {
            references: resolver.references,
        },
    )
}

fn path_text(path: &[String]) -> String {
    path.join("::")
}

/// Finds names given twice in one list (parameters, fields, settings...): the first stays, and each
/// repeat gets a diagnostic pointing back at it.
struct Repeats<'n> {
    seen: HashMap<&'n str, Span>,
    code: Code,
    /// "field ", "parameter "...: what the name is, before it in the message.
    noun: &'static str,
    verb: &'static str,
    /// Where, after the message (" in this `grpo` block").
    context: String,
}

impl<'n> Repeats<'n> {
    fn new(code: Code, noun: &'static str, verb: &'static str, context: impl Into<String>) -> Self {
        Repeats {
            seen: HashMap::new(),
            code,
            noun,
            verb,
            context: context.into(),
        }
    }

    fn check(&mut self, name: &'n Ident) -> Option<Diagnostic> {
        let first = *self.seen.entry(&name.name).or_insert(name.span);
        (first != name.span).then(|| {
            let (noun, verb) = (self.noun, self.verb);
            Diagnostic::new(
                self.code,
                name.span,
                format!("{noun}`{}` is {verb} twice{}", name.name, self.context),
            )
            .with_label(format!("{verb} again here"))
            .with_secondary(first, format!("first {verb} here"))
        })
    }
}

impl Resolver<'_> {
    fn report(&mut self, diagnostic: Option<Diagnostic>) {
        self.diagnostics.extend(diagnostic);
    }

    fn define(&mut self, name: &Ident, what: &str) {
        if STAGE_NAMES.contains(&name.name.as_str()) {
            // Inside `train` and `algorithm` values these names are bound again, so the item
            // would be silently out of reach exactly where a recipe means to use it.
            let meaning = match name.name.as_str() {
                "c" => "the completion being scored",
                "ex" => "its dataset row",
                _ => "the rollout group of its prompt",
            };
            self.diagnostics.push(
                Diagnostic::new(
                    Code::E0212,
                    name.span,
                    format!("a {what} cannot be named `{}`", name.name),
                )
                .with_label("a name stages and algorithms bind themselves")
                .with_help(format!(
                    "inside `train` and `algorithm` values `{}` is {meaning}; give this {what} another name",
                    name.name
                )),
            );
        }
        if let Some(first) = self.globals.get(&name.name) {
            self.diagnostics.push(
                Diagnostic::new(
                    Code::E0201,
                    name.span,
                    format!("`{}` is defined more than once", name.name),
                )
                .with_label(format!("this {what} reuses the name"))
                .with_secondary(*first, "first defined here")
                .with_help("give one of them another name"),
            );
        } else {
            self.globals.insert(name.name.clone(), name.span);
        }
    }

    fn collect_definitions(&mut self, module: &Module) {
        for item in &module.items {
            match &item.kind {
                ItemKind::Use(decl) => self.import(decl),
                ItemKind::Dataset(d) => {
                    self.datasets.push(d.name.name.clone());
                    self.define(&d.name, item.kind_name());
                }
                _ => {
                    if let Some(name) = item.defined_name() {
                        self.define(name, item.kind_name());
                    }
                }
            }
        }
    }

    fn import(&mut self, decl: &UseDecl) {
        // `use a` alone names nothing to import; the parser has reported it.
        if decl.names.is_empty() && !decl.braced {
            return;
        }
        let path: Vec<String> = decl.module.iter().map(|i| i.name.clone()).collect();
        let Some(path_span) = decl
            .module
            .first()
            .map(|first| first.span.to(decl.module.last().expect("non-empty").span))
        else {
            return;
        };
        let mut all_found = true;
        let exported = match self.env.module(&path) {
            Ok(exported) => Some(exported),
            Err(note) => {
                let mut diagnostic = Diagnostic::new(
                    Code::E0209,
                    path_span,
                    format!("there is no module `{}`", path_text(&path)),
                )
                .with_label("unknown module");
                let known: Vec<String> = self
                    .env
                    .known_modules()
                    .iter()
                    .map(|p| path_text(p))
                    .collect();
                if let Some(candidate) =
                    suggest::closest(&path_text(&path), known.iter().map(String::as_str))
                {
                    diagnostic = diagnostic.with_did_you_mean(path_span, candidate);
                }
                if let Some(note) = note {
                    diagnostic = diagnostic.with_note(note);
                }
                self.diagnostics.push(diagnostic);
                all_found = false;
                None
            }
        };
        for use_name in &decl.names {
            if let Some(exported) = &exported
                && !exported.contains(&use_name.name.name)
            {
                let mut diagnostic = Diagnostic::new(
                    Code::E0210,
                    use_name.name.span,
                    format!(
                        "`{}` is not defined in `{}`",
                        use_name.name.name,
                        path_text(&path)
                    ),
                )
                .with_label(format!("not in `{}`", path_text(&path)));
                if let Some(candidate) =
                    suggest::closest(&use_name.name.name, exported.iter().map(String::as_str))
                {
                    diagnostic = diagnostic.with_did_you_mean(use_name.name.span, candidate);
                }
                self.diagnostics.push(diagnostic);
                all_found = false;
            }
            let local = use_name.local();
            self.define(local, "import");
            // Only a name that exists and is defined once is tracked as an import (an unknown import
            // has its own error; warning that it is unused too would be noise).
            if all_found && self.globals.get(&local.name) == Some(&local.span) {
                self.imports.insert(
                    local.name.clone(),
                    Import {
                        span: local.span,
                        used: false,
                    },
                );
            }
        }
    }

    fn report_unused_imports(&mut self) {
        let mut unused: Vec<(&String, &Import)> = self
            .imports
            .iter()
            .filter(|(_, import)| !import.used)
            .collect();
        unused.sort_by_key(|(_, import)| import.span.start);
        for (name, import) in unused {
            self.diagnostics.push(
                Diagnostic::new(
                    Code::W0201,
                    import.span,
                    format!("`{name}` is imported but never used"),
                )
                .with_label("unused import")
                .with_help("remove it from the `use`"),
            );
        }
    }

    fn item(&mut self, item: &Item) {
        for attribute in &item.attributes {
            self.args(&attribute.args);
        }
        match &item.kind {
            ItemKind::Use(_) | ItemKind::Error => {}
            ItemKind::Dataset(d) => self.dataset(d),
            ItemKind::Model(v) => self.expr(&v.value),
            ItemKind::Algorithm(v) => self.with_scope(STAGE_NAMES, |this| this.expr(&v.value)),
            ItemKind::Prompt(f) | ItemKind::Reward(f) | ItemKind::Fn(f) => self.function(f),
            ItemKind::Let(l) => {
                self.optional_type(l.ty.as_ref());
                self.expr(&l.value);
            }
            ItemKind::Train(t) => {
                self.name_use(&t.model);
                self.with_scope(STAGE_NAMES, |this| this.entries(&t.entries, "train block"));
            }
            ItemKind::Extern(ExternDecl::Fn(f)) => {
                self.params(&f.params);
                self.ty(&f.result);
            }
            ItemKind::Extern(ExternDecl::Let(l)) => self.ty(&l.ty),
        }
    }

    fn dataset(&mut self, d: &DatasetDecl) {
        self.expr(&d.source);
        if let Some(fields) = &d.schema {
            let mut repeats = Repeats::new(Code::E0205, "field ", "declared", "");
            for field in fields {
                self.report(repeats.check(&field.name));
                self.ty(&field.ty);
                for attribute in &field.attributes {
                    self.args(&attribute.args);
                }
            }
        }
        self.with_scope(CLAUSE_NAMES, |this| {
            for clause in &d.clauses {
                match clause {
                    DataClause::Where(condition) => this.expr(condition),
                    DataClause::OrderBy { key, .. } => this.expr(key),
                }
            }
        });
    }

    fn params(&mut self, params: &[Param]) {
        let mut repeats = Repeats::new(Code::E0204, "parameter ", "declared", "");
        for param in params {
            self.report(repeats.check(&param.name));
            self.optional_type(param.ty.as_ref());
            if let Some(default) = &param.default {
                self.expr(default);
            }
        }
    }

    fn function(&mut self, f: &FnDecl) {
        self.params(&f.params);
        self.optional_type(f.result.as_ref());
        let names: Vec<&Ident> = f.params.iter().map(|p| &p.name).collect();
        self.with_bindings(&names, |this| this.expr(&f.body));
    }

    /// A scope of implicit names (`c`, `ex`, `group`).
    fn with_scope<R>(&mut self, names: &[&str], body: impl FnOnce(&mut Self) -> R) -> R {
        self.scopes
            .push(names.iter().map(|n| (n.to_string(), None)).collect());
        let result = body(self);
        self.scopes.pop();
        result
    }

    /// A scope of names bound in the source.
    fn with_bindings<R>(&mut self, names: &[&Ident], body: impl FnOnce(&mut Self) -> R) -> R {
        self.scopes.push(
            names
                .iter()
                .map(|n| (n.name.clone(), Some(n.span)))
                .collect(),
        );
        let result = body(self);
        self.scopes.pop();
        result
    }

    fn optional_type(&mut self, ty: Option<&TypeExpr>) {
        if let Some(ty) = ty {
            self.ty(ty);
        }
    }

    fn ty(&mut self, ty: &TypeExpr) {
        match &ty.kind {
            TypeKind::Named { name, args } => {
                let known = BUILTIN_TYPES.contains(&name.name.as_str())
                    || self.datasets.contains(&name.name);
                if self.datasets.contains(&name.name)
                    && let Some(span) = self.globals.get(&name.name)
                {
                    self.references.push(Reference {
                        span: name.span,
                        name: name.name.clone(),
                        target: Target::Global(*span),
                    });
                }
                if !known {
                    let candidates = BUILTIN_TYPES
                        .iter()
                        .copied()
                        .chain(self.datasets.iter().map(String::as_str));
                    let mut diagnostic = Diagnostic::new(
                        Code::E0203,
                        name.span,
                        format!("unknown type `{}`", name.name),
                    )
                    .with_label("not a type");
                    if let Some(candidate) = suggest::closest(&name.name, candidates) {
                        diagnostic = diagnostic.with_did_you_mean(name.span, candidate);
                    } else {
                        diagnostic = diagnostic.with_help("types are float, int, bool, text, image, box, list[T], T?, enum { ... }, completion, group, schedule, model, dataset, or a dataset's name for its rows");
                    }
                    self.diagnostics.push(diagnostic);
                }
                for arg in args {
                    self.ty(arg);
                }
            }
            TypeKind::Enum(cases) => {
                let mut repeats = Repeats::new(Code::E0207, "enum case ", "listed", "");
                for case in cases {
                    self.report(repeats.check(case));
                }
            }
            TypeKind::Tuple(items) => items.iter().for_each(|t| self.ty(t)),
            TypeKind::Optional(inner) => self.ty(inner),
            TypeKind::Error => {}
        }
    }

    /// What `name` refers to here, marking an import used.
    fn lookup(&mut self, name: &str) -> Option<Target> {
        let local = self
            .scopes
            .iter()
            .rev()
            .find_map(|scope| scope.iter().rev().find(|(n, _)| n == name));
        if let Some((_, span)) = local {
            return Some(span.map_or(Target::Implicit, Target::Local));
        }
        if let Some(span) = self.globals.get(name) {
            if let Some(import) = self.imports.get_mut(name) {
                import.used = true;
            }
            return Some(Target::Global(*span));
        }
        self.env
            .prelude()
            .iter()
            .any(|n| n == name)
            .then_some(Target::Prelude)
    }

    fn name_use(&mut self, name: &Ident) {
        if let Some(target) = self.lookup(&name.name) {
            self.references.push(Reference {
                span: name.span,
                name: name.name.clone(),
                target,
            });
            return;
        }
        let mut diagnostic = Diagnostic::new(
            Code::E0202,
            name.span,
            format!("cannot find `{}` in this recipe", name.name),
        )
        .with_label("not defined");
        if let Some(module) = self.module_exporting(&name.name) {
            diagnostic = diagnostic.with_help(format!(
                "`{}` is in `{}`: add `use {}::{}`",
                name.name, module, module, name.name
            ));
        } else if let Some(candidate) = self.closest_visible(&name.name) {
            diagnostic = diagnostic.with_did_you_mean(name.span, &candidate);
        }
        self.diagnostics.push(diagnostic);
    }

    fn closest_visible(&self, name: &str) -> Option<String> {
        let scoped = self.scopes.iter().flatten().map(|(n, _)| n.as_str());
        let globals = self.globals.keys().map(String::as_str);
        let prelude = self.env.prelude().iter().map(String::as_str);
        suggest::closest(name, scoped.chain(globals).chain(prelude)).map(str::to_string)
    }

    /// A standard module that defines `name`, to suggest the missing `use`.
    fn module_exporting(&self, name: &str) -> Option<String> {
        self.env
            .known_modules()
            .into_iter()
            .find(|path| {
                self.env
                    .module(path)
                    .is_ok_and(|names| names.iter().any(|n| n == name))
            })
            .map(|path| path_text(&path))
    }

    fn args(&mut self, args: &[Arg]) {
        let mut repeats = Repeats::new(Code::E0206, "argument ", "given", "");
        for arg in args {
            if let Some(name) = &arg.name {
                self.report(repeats.check(name));
            }
            self.expr(&arg.value);
        }
    }

    fn entries(&mut self, entries: &[Entry], block: &str) {
        let mut keys = Repeats::new(Code::E0206, "", "set", format!(" in this {block}"));
        let mut stages = Repeats::new(Code::E0208, "stage ", "defined", "");
        for entry in entries {
            let repeat = match &entry.kind {
                EntryKind::Setting { key, .. } | EntryKind::Block { key, .. } => {
                    keys.check(key).map(|d| d.with_help("remove one of them"))
                }
                EntryKind::Stage { name, .. } => stages
                    .check(name)
                    .map(|d| d.with_help("stages run in order and need distinct names")),
                EntryKind::Error => None,
            };
            self.report(repeat);
            match &entry.kind {
                EntryKind::Setting { value, .. } => self.expr(value),
                EntryKind::Block { key, entries } => {
                    self.entries(entries, &format!("`{}` block", key.name))
                }
                EntryKind::Stage { value, .. } => {
                    self.with_scope(STAGE_NAMES, |this| this.expr(value))
                }
                EntryKind::Error => {}
            }
        }
    }

    fn expr(&mut self, expr: &Expr) {
        match &expr.kind {
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Str(_)
            | ExprKind::Bool(_)
            | ExprKind::None
            | ExprKind::Error => {}
            ExprKind::Name(name) => self.name_use(name),
            ExprKind::List(items) | ExprKind::Tuple(items) => {
                items.iter().for_each(|e| self.expr(e))
            }
            ExprKind::Paren(inner) => self.expr(inner),
            ExprKind::Unary { operand, .. } => self.expr(operand),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            ExprKind::Call { callee, args } => {
                self.expr(callee);
                self.args(args);
            }
            ExprKind::Field { target, .. } => self.expr(target),
            ExprKind::Index { target, index } => {
                self.expr(target);
                self.expr(index);
            }
            ExprKind::BlockCall { callee, entries } => {
                self.name_use(callee);
                self.entries(entries, &format!("`{}` block", callee.name));
            }
            ExprKind::If {
                condition,
                then_branch,
                else_branch,
            } => {
                self.expr(condition);
                self.expr(then_branch);
                self.expr(else_branch);
            }
            ExprKind::Match { scrutinee, arms } => {
                self.expr(scrutinee);
                for arm in arms {
                    let mut bindings = Vec::new();
                    collect_bindings(&arm.pattern, &mut bindings);
                    self.with_bindings(&bindings, |this| this.expr(&arm.body));
                }
            }
            ExprKind::Block { lets, result } => {
                self.scopes.push(Vec::new());
                for stmt in lets {
                    self.optional_type(stmt.ty.as_ref());
                    self.expr(&stmt.value);
                    self.scopes
                        .last_mut()
                        .expect("pushed")
                        .push((stmt.name.name.clone(), Some(stmt.name.span)));
                }
                self.expr(result);
                self.scopes.pop();
            }
            ExprKind::Chat(turns) => {
                for turn in turns {
                    if !CHAT_ROLES.contains(&turn.role.name.as_str()) {
                        let mut diagnostic = Diagnostic::new(
                            Code::E0211,
                            turn.role.span,
                            format!("unknown chat role `{}`", turn.role.name),
                        )
                        .with_label("not a role");
                        diagnostic =
                            match suggest::closest(&turn.role.name, CHAT_ROLES.iter().copied()) {
                                Some(role) => diagnostic.with_did_you_mean(turn.role.span, role),
                                None => diagnostic
                                    .with_help("the roles are `system`, `user` and `assistant`"),
                            };
                        self.diagnostics.push(diagnostic);
                    }
                    self.expr(&turn.content);
                }
            }
            ExprKind::Mix(parts) => {
                let mut repeats = Repeats::new(Code::E0206, "", "mixed in", "");
                for part in parts {
                    let repeat = repeats.check(&part.dataset);
                    self.report(repeat.map(|d| d.with_help("give each dataset one weight")));
                    self.name_use(&part.dataset);
                    self.expr(&part.weight);
                }
            }
        }
    }
}

fn collect_bindings<'p>(pattern: &'p Pattern, out: &mut Vec<&'p Ident>) {
    match &pattern.kind {
        PatternKind::Constructor { bindings, .. } => out.extend(bindings.iter()),
        PatternKind::Or(alternatives) => alternatives.iter().for_each(|p| collect_bindings(p, out)),
        PatternKind::Wildcard
        | PatternKind::Case(_)
        | PatternKind::Literal(_)
        | PatternKind::Error => {}
    }
}
