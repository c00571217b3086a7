//! Lowering: a checked recipe to its plan. Expressions are evaluated symbolically: constants fold,
//! functions, rewards and presets are inlined, and whatever depends on a completion, a row, a
//! group or the step becomes a node of a hash-consed graph, so a sub-expression written (or
//! inlined) twice is computed once. Presets are ordinary functions of the standard library whose
//! bodies call `policy_gradient`; expanding them here gives every setting explicitly, with where
//! its value came from.
//!
//! Runs after the front end reported no errors, so names resolve and types fit; what is checked
//! here is what only the expanded settings show (KL in both loss and reward, a reward reading a
//! field its stage's dataset lacks, settings that are not known before training).

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use rlx_lang::ast::*;
use rlx_lang::format::type_text;
use rlx_lang::{Code, Diagnostic, Span};

use crate::plan::*;
use crate::source::SourceFile;
use crate::stdlib::StdLib;

/// What lowering needs besides the recipe's syntax tree.
pub struct LowerInput<'a> {
    pub module: &'a Module,
    pub source: &'a SourceFile,
    /// The recipe modules it `use`s that could be loaded, by module path.
    pub locals: &'a BTreeMap<Vec<String>, Module>,
    /// The folder data and model paths are relative to, as the plan should record it.
    pub base_dir: String,
}

/// The plan, when the recipe has a `train` block and lowering found no error, and what it found
/// (nothing for a recipe without a `train` block: a module of rewards).
pub struct Lowered {
    pub plan: Option<Plan>,
    pub diagnostics: Vec<Diagnostic>,
}

pub fn lower(input: &LowerInput) -> Lowered {
    let mut lowerer = Lowerer::new(input);
    let trains: Vec<(&Item, &TrainDecl)> = input
        .module
        .items
        .iter()
        .filter_map(|item| match &item.kind {
            ItemKind::Train(t) => Some((item, t)),
            _ => None,
        })
        .collect();
    let Some(&(_, train)) = trains.first() else {
        return Lowered {
            plan: None,
            diagnostics: Vec::new(),
        };
    };
    for (_, second) in trains.iter().skip(1) {
        lowerer.diagnostics.push(
            Diagnostic::new(
                Code::E0409,
                second.model.span,
                "a recipe trains one model: this is a second `train` block",
            )
            .with_label("second `train` block")
            .with_secondary(train.model.span, "the first one")
            .with_help("put every stage in one `train` block; they run in order"),
        );
    }
    let plan = lowerer.plan(train, input);
    let mut diagnostics = lowerer.diagnostics;
    if plan.is_none() && !diagnostics.iter().any(Diagnostic::is_error) {
        // Every path that gives up reports why; this is the net under a path that forgot to.
        diagnostics.push(
            Diagnostic::new(
                Code::E0408,
                train.model.span,
                "this recipe checks, but the compiler could not lower it to a plan",
            )
            .with_label("while lowering this `train` block")
            .with_help("this is a bug in rlxc: please report it with the recipe"),
        );
    }
    diagnostics.dedup_by(|a, b| a.code == b.code && a.span() == b.span() && a.message == b.message);
    let failed = diagnostics.iter().any(Diagnostic::is_error);
    Lowered {
        plan: plan.filter(|_| !failed),
        diagnostics,
    }
}

/// One reward of a recipe lowered on its own, for scoring completions offline (`rlxc reward`).
#[derive(Clone, Debug, PartialEq)]
pub struct RewardGraph {
    pub name: String,
    pub graph: Graph,
    pub reward: NodeId,
    /// The named rewards it is made of, itself included.
    pub terms: Vec<RewardTerm>,
    /// The dataset its rows come from, when it reads one.
    pub dataset: Option<String>,
}

/// Lowers the reward `name` of the recipe: `Err` with a message when there is no such reward, and
/// the lowering diagnostics either way.
pub fn lower_reward(
    input: &LowerInput,
    name: &str,
) -> (Result<RewardGraph, String>, Vec<Diagnostic>) {
    let mut lowerer = Lowerer::new(input);
    let result = lowerer.reward_graph(name);
    let failed = lowerer.diagnostics.iter().any(Diagnostic::is_error);
    let result = match result {
        Some(Err(message)) => Err(message),
        Some(Ok(graph)) if !failed => Ok(graph),
        _ => Err(format!("the reward `{name}` could not be lowered")),
    };
    (result, lowerer.diagnostics)
}

/// The per-completion rewards a recipe defines or imports, by name.
pub fn reward_names(module: &Module) -> Vec<String> {
    let mut names: Vec<String> = module
        .items
        .iter()
        .filter_map(|item| match &item.kind {
            ItemKind::Reward(f) => Some(f.name.name.clone()),
            _ => None,
        })
        .collect();
    names.sort();
    names
}

/// Which module an item lives in: the names in its bodies resolve there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum ModuleId {
    Recipe,
    Std(&'static str),
    Local(usize),
}

struct ModuleScope<'a> {
    items: HashMap<&'a str, &'a Item>,
    /// Local name to (module path, original name).
    imports: HashMap<&'a str, (Vec<String>, &'a str)>,
}

impl<'a> ModuleScope<'a> {
    fn new(module: &'a Module) -> Self {
        let mut items = HashMap::new();
        let mut imports = HashMap::new();
        for item in &module.items {
            if let Some(name) = item.defined_name() {
                items.entry(name.name.as_str()).or_insert(item);
            }
            if let ItemKind::Use(decl) = &item.kind {
                let path: Vec<String> = decl.module.iter().map(|i| i.name.clone()).collect();
                for name in &decl.names {
                    imports.insert(
                        name.local().name.as_str(),
                        (path.clone(), name.name.name.as_str()),
                    );
                }
            }
        }
        ModuleScope { items, imports }
    }
}

/// A lowered expression.
#[derive(Clone, Debug)]
enum Term<'a> {
    /// A value of the graph: a constant, or something computed per completion, row or step.
    Node(NodeId),
    /// `c`: the completion being scored.
    Completion,
    /// `ex`: its row.
    Row,
    /// `group`: its rollout group.
    Group,
    /// A value of one of the recipe's kinds, built by a native constructor (`k3(beta = 0.01)`,
    /// `policy_gradient(...)`, `rollout { ... }`).
    Construct(Rc<Construct<'a>>),
    /// A named native constant of a kind (`token_mean`, `group_mean`).
    Symbol(String),
    /// A function, reward or prompt, not applied.
    Function(ModuleId, &'a Item),
    Dataset(String),
    Model(String),
    Chat(Rc<Vec<Message>>),
    /// Something already reported, or not a value.
    Error,
}

#[derive(Debug)]
struct Construct<'a> {
    function: String,
    /// The preset it was written as, when a function of the standard library built it.
    preset: Option<String>,
    args: Vec<Bound<'a>>,
    span: Span,
}

impl<'a> Construct<'a> {
    fn arg(&self, name: &str) -> Option<&Bound<'a>> {
        self.args.iter().find(|a| a.name == name)
    }
}

/// A name bound to a lowered value, with where the value came from (for `rlxc explain`) and the
/// span of the recipe text that gave it, if the recipe did.
#[derive(Clone, Debug)]
struct Bound<'a> {
    name: String,
    term: Term<'a>,
    origin: Origin,
    span: Option<Span>,
}

/// Where an expression is being lowered.
#[derive(Clone)]
struct Frame<'a> {
    module: ModuleId,
    bindings: Vec<Bound<'a>>,
    /// In algorithm and stage settings a reward of `c`, `ex` and `group` stands for its value.
    settings: bool,
    /// The function whose body this is, for origins of values chosen by the standard library.
    owner: String,
}

/// The dataset `ex` stands for, while a stage or dataset is lowered.
#[derive(Clone)]
struct RowContext {
    dataset: String,
    /// Field names and types; `None` when the dataset declares no schema.
    fields: Option<Vec<(String, String)>>,
    /// Where the stage names its dataset.
    data_span: Span,
    stage: Option<String>,
}

#[derive(Default)]
struct GraphBuilder {
    nodes: Vec<Node>,
    /// Nodes by the hash of (op, inputs, type), for hash-consing.
    index: HashMap<u64, Vec<NodeId>>,
}

/// Hashes a value, floats by their bits (so `0.0` and `-0.0` stay apart, as `==` on nodes wants
/// for constants that print differently).
fn hash_value(value: &Value, state: &mut impl Hasher) {
    std::mem::discriminant(value).hash(state);
    match value {
        Value::None => {}
        Value::Bool(b) => b.hash(state),
        Value::Int(v) => v.hash(state),
        Value::Float(v) => v.to_bits().hash(state),
        Value::Text(t) => t.hash(state),
        Value::List(items) | Value::Tuple(items) => {
            items.len().hash(state);
            for item in items {
                hash_value(item, state);
            }
        }
    }
}

fn hash_node(op: &Op, inputs: &[NodeId], ty: &str) -> u64 {
    let mut state = std::collections::hash_map::DefaultHasher::new();
    std::mem::discriminant(op).hash(&mut state);
    match op {
        Op::Const { value } => hash_value(value, &mut state),
        Op::Completion { field } | Op::Row { field } => field.hash(&mut state),
        Op::Step { var } => var.hash(&mut state),
        Op::Unary { operator } => operator.hash(&mut state),
        Op::Binary { operator } => operator.hash(&mut state),
        Op::Call { function } => function.hash(&mut state),
        Op::Judge { model, args } | Op::Reply { model, args } => (model, args).hash(&mut state),
        Op::Group { stat } => stat.hash(&mut state),
        Op::Select | Op::IsSome | Op::Unwrap | Op::List | Op::Tuple | Op::Index => {}
    }
    inputs.hash(&mut state);
    ty.hash(&mut state);
    state.finish()
}

impl GraphBuilder {
    /// Adds a node, or finds the same one added before; folds it when its inputs are constants.
    fn add(&mut self, op: Op, inputs: Vec<NodeId>, ty: String) -> NodeId {
        let foldable =
            !matches!(op, Op::Const { .. }) && inputs.iter().all(|&i| self.is_constant(i));
        let (op, inputs) = if foldable {
            let values: Vec<Value> = inputs.iter().filter_map(|&i| self.constant(i)).collect();
            // Folding copies the constants; texts are the only big ones, and only `+` and
            // comparisons fold them.
            match crate::eval::fold(&op, &values) {
                Some(Ok(value)) => (Op::Const { value }, Vec::new()),
                _ => (op, inputs),
            }
        } else {
            (op, inputs)
        };
        if let Some(same) = self.identity(&op, &inputs, &ty) {
            return same;
        }
        let hash = hash_node(&op, &inputs, &ty);
        if let Some(candidates) = self.index.get(&hash) {
            for &id in candidates {
                let node = &self.nodes[id as usize];
                if node.op == op && node.inputs == inputs && node.ty == ty {
                    return id;
                }
            }
        }
        let id = self.nodes.len() as NodeId;
        self.nodes.push(Node { op, inputs, ty });
        self.index.entry(hash).or_default().push(id);
        id
    }

    fn is_constant(&self, id: NodeId) -> bool {
        matches!(self.nodes[id as usize].op, Op::Const { .. })
    }

    /// `x + 0`, `0 + x`, `x - 0`, `x * 1`, `1 * x`, `x / 1`: the operand itself, when it has the
    /// result's type (`stage_step + 0.0` stays a float addition).
    fn identity(&self, op: &Op, inputs: &[NodeId], ty: &str) -> Option<NodeId> {
        let Op::Binary { operator } = op else {
            return None;
        };
        let is = |id: NodeId, v: f64| match &self.nodes[id as usize].op {
            Op::Const { value } => value.as_f64() == Some(v),
            _ => false,
        };
        let (a, b) = (*inputs.first()?, *inputs.get(1)?);
        let same = match operator {
            BinaryOperator::Add if is(b, 0.0) => a,
            BinaryOperator::Add if is(a, 0.0) => b,
            BinaryOperator::Sub if is(b, 0.0) => a,
            BinaryOperator::Mul | BinaryOperator::Div if is(b, 1.0) => a,
            BinaryOperator::Mul if is(a, 1.0) => b,
            _ => return None,
        };
        (self.ty(same) == ty).then_some(same)
    }

    fn constant(&self, id: NodeId) -> Option<Value> {
        match &self.nodes[id as usize].op {
            Op::Const { value } => Some(value.clone()),
            _ => None,
        }
    }

    fn ty(&self, id: NodeId) -> &str {
        &self.nodes[id as usize].ty
    }

    fn value(&mut self, value: Value) -> NodeId {
        let ty = value_type(&value);
        self.add(Op::Const { value }, Vec::new(), ty)
    }

    /// The nodes reachable from `roots`, renumbered in order, and the old-to-new map.
    fn compact(&self, roots: &[NodeId]) -> (Graph, HashMap<NodeId, NodeId>) {
        let mut keep = vec![false; self.nodes.len()];
        let mut pending: Vec<NodeId> = roots.to_vec();
        while let Some(id) = pending.pop() {
            if !std::mem::replace(&mut keep[id as usize], true) {
                pending.extend(&self.nodes[id as usize].inputs);
            }
        }
        let mut map = HashMap::new();
        let mut graph = Graph::default();
        for (id, node) in self.nodes.iter().enumerate() {
            if keep[id] {
                map.insert(id as NodeId, graph.nodes.len() as NodeId);
                graph.nodes.push(Node {
                    op: node.op.clone(),
                    inputs: node.inputs.iter().map(|i| map[i]).collect(),
                    ty: node.ty.clone(),
                });
            }
        }
        (graph, map)
    }

    /// Whether a node depends on anything but constants and the step.
    fn per_example(&self, id: NodeId) -> bool {
        let mut pending = vec![id];
        let mut seen = vec![false; self.nodes.len()];
        while let Some(id) = pending.pop() {
            if std::mem::replace(&mut seen[id as usize], true) {
                continue;
            }
            let node = &self.nodes[id as usize];
            if matches!(
                node.op,
                Op::Completion { .. }
                    | Op::Row { .. }
                    | Op::Judge { .. }
                    | Op::Reply { .. }
                    | Op::Group { .. }
            ) {
                return true;
            }
            pending.extend(&node.inputs);
        }
        false
    }
}

fn value_type(value: &Value) -> String {
    match value {
        Value::None => "none".into(),
        Value::Bool(_) => "bool".into(),
        Value::Int(_) => "int".into(),
        Value::Float(_) => "float".into(),
        Value::Text(_) => "text".into(),
        Value::List(items) => format!(
            "list[{}]",
            items.first().map_or("_".to_string(), value_type)
        ),
        Value::Tuple(items) => format!(
            "({})",
            items.iter().map(value_type).collect::<Vec<_>>().join(", ")
        ),
    }
}

const COMPLETION_FIELDS: &[(&str, &str)] = &[
    ("text", "text"),
    ("answer", "text"),
    ("think", "text"),
    ("tokens", "int"),
    ("truncated", "bool"),
];

/// Native functions whose result is one of the recipe's kinds: they build settings, not values of
/// the graph.
const CONSTRUCTED_KINDS: &[&str] = &[
    "dataset",
    "model",
    "algorithm",
    "optimizer",
    "stage",
    "settings",
    "estimator",
];

const MAX_INLINE_DEPTH: usize = 64;

struct Lowerer<'a> {
    recipe: &'a Module,
    scopes: HashMap<ModuleId, ModuleScope<'a>>,
    local_ids: Vec<Vec<String>>,
    source: &'a SourceFile,
    diagnostics: Vec<Diagnostic>,
    graph: GraphBuilder,
    row: Option<RowContext>,
    /// The recipe text that led to what is being lowered: diagnostics about code in other modules
    /// point here.
    anchor: Span,
    /// The reward items inlined while a stage's reward is lowered.
    terms: Option<Vec<(String, NodeId)>>,
    depth: usize,
}

impl<'a> Lowerer<'a> {
    fn new(input: &LowerInput<'a>) -> Self {
        let stdlib = StdLib::get();
        let mut scopes = HashMap::new();
        scopes.insert(ModuleId::Recipe, ModuleScope::new(input.module));
        for (name, module) in &stdlib.modules {
            scopes.insert(ModuleId::Std(name), ModuleScope::new(&module.module));
        }
        let mut local_ids = Vec::new();
        for (index, (path, module)) in input.locals.iter().enumerate() {
            scopes.insert(ModuleId::Local(index), ModuleScope::new(module));
            local_ids.push(path.clone());
        }
        Lowerer {
            recipe: input.module,
            scopes,
            local_ids,
            source: input.source,
            diagnostics: Vec::new(),
            graph: GraphBuilder::default(),
            row: None,
            anchor: Span::new(0, 0),
            terms: None,
            depth: 0,
        }
    }

    fn line(&self, span: Span) -> u32 {
        self.source.line_column(span.start).0 as u32
    }

    fn error(&mut self, code: Code, span: Span, message: String, label: &str) {
        self.diagnostics
            .push(Diagnostic::new(code, span, message).with_label(label));
    }

    /// A span in the recipe for code in `module`: the code's own span when it is the recipe's.
    fn recipe_span(&self, module: ModuleId, span: Span) -> Span {
        if module == ModuleId::Recipe {
            span
        } else {
            self.anchor
        }
    }

    fn origin(&self, frame: &Frame, span: Span) -> Origin {
        if frame.module == ModuleId::Recipe {
            Origin::Recipe {
                line: self.line(span),
            }
        } else {
            Origin::Preset {
                name: frame.owner.clone(),
            }
        }
    }

    // ---- names ----

    fn module_of(&self, path: &[String]) -> Option<ModuleId> {
        match path {
            [std, name] if std == "std" => StdLib::get()
                .modules
                .keys()
                .find(|k| **k == name.as_str())
                .map(|k| ModuleId::Std(k)),
            _ => self
                .local_ids
                .iter()
                .position(|p| p == path)
                .map(ModuleId::Local),
        }
    }

    /// The item a top-level name means in `module`: its own items, its imports, then the prelude.
    fn global(&self, module: ModuleId, name: &str) -> Option<(ModuleId, &'a Item)> {
        let scope = &self.scopes[&module];
        if let Some(item) = scope.items.get(name) {
            return Some((module, item));
        }
        if let Some((path, original)) = scope.imports.get(name) {
            let target = self.module_of(path)?;
            return self.scopes[&target]
                .items
                .get(original)
                .map(|item| (target, *item));
        }
        let prelude = ModuleId::Std("prelude");
        self.scopes[&prelude]
            .items
            .get(name)
            .map(|item| (prelude, *item))
    }

    fn prelude(&self, name: &str) -> Option<(ModuleId, &'a Item)> {
        let prelude = ModuleId::Std("prelude");
        self.scopes[&prelude]
            .items
            .get(name)
            .map(|item| (prelude, *item))
    }

    fn is_dataset(&self, module: ModuleId, name: &str) -> bool {
        matches!(self.global(module, name), Some((_, item)) if matches!(item.kind, ItemKind::Dataset(_)))
    }

    /// Whether every parameter is the completion, a row or the group: such a function stands for
    /// its value in settings.
    fn per_completion(&self, module: ModuleId, params: &[Param]) -> bool {
        !params.is_empty()
            && params.iter().all(|p| match p.ty.as_ref().map(|t| &t.kind) {
                Some(TypeKind::Named { name, args }) if args.is_empty() => {
                    matches!(name.name.as_str(), "completion" | "group")
                        || self.is_dataset(module, &name.name)
                }
                _ => false,
            })
    }

    /// A per-completion function applied to the completion, row and group at hand: what its bare
    /// name means in settings, or where its value is wanted (`group.mean(accuracy)`).
    fn apply_implicitly(
        &mut self,
        module: ModuleId,
        item: &'a Item,
        f: &'a FnDecl,
        span: Span,
    ) -> Term<'a> {
        let args = f
            .params
            .iter()
            .map(|p| Bound {
                name: p.name.name.clone(),
                term: match p.ty.as_ref().map(|t| &t.kind) {
                    Some(TypeKind::Named { name, .. }) if name.name == "completion" => {
                        Term::Completion
                    }
                    Some(TypeKind::Named { name, .. }) if name.name == "group" => Term::Group,
                    _ => Term::Row,
                },
                origin: Origin::Preset {
                    name: f.name.name.clone(),
                },
                span: None,
            })
            .collect();
        self.inline(module, item, f, args, span)
    }

    fn name(&mut self, ident: &'a Ident, frame: &Frame<'a>) -> Term<'a> {
        if let Some(bound) = frame.bindings.iter().rev().find(|b| b.name == ident.name) {
            return bound.term.clone();
        }
        let Some((module, item)) = self.global(frame.module, &ident.name) else {
            return Term::Error; // reported by resolution
        };
        self.item_term(module, item, ident.span, frame)
    }

    fn item_term(
        &mut self,
        module: ModuleId,
        item: &'a Item,
        span: Span,
        frame: &Frame<'a>,
    ) -> Term<'a> {
        match &item.kind {
            ItemKind::Let(l) => {
                let inner = Frame {
                    module,
                    bindings: Vec::new(),
                    settings: false,
                    owner: l.name.name.clone(),
                };
                self.guarded(span, |this| this.expr(&l.value, &inner))
            }
            ItemKind::Extern(ExternDecl::Let(l)) => {
                let ty = type_text(&l.ty);
                match (l.name.name.as_str(), ty.as_str()) {
                    ("pi", _) => Term::Node(self.graph.value(Value::Float(std::f64::consts::PI))),
                    (var, "int" | "float") => Term::Node(self.graph.add(
                        Op::Step {
                            var: var.to_string(),
                        },
                        Vec::new(),
                        ty,
                    )),
                    (symbol, _) => Term::Symbol(symbol.to_string()),
                }
            }
            ItemKind::Dataset(d) => Term::Dataset(d.name.name.clone()),
            ItemKind::Model(m) => Term::Model(m.name.name.clone()),
            ItemKind::Algorithm(a) => {
                let inner = settings_frame(module, a.name.name.clone());
                self.guarded(span, |this| this.expr(&a.value, &inner))
            }
            ItemKind::Fn(f) | ItemKind::Reward(f) | ItemKind::Prompt(f)
                if frame.settings && self.per_completion(module, &f.params) =>
            {
                self.apply_implicitly(module, item, f, span)
            }
            ItemKind::Fn(_)
            | ItemKind::Reward(_)
            | ItemKind::Prompt(_)
            | ItemKind::Extern(ExternDecl::Fn(_)) => Term::Function(module, item),
            ItemKind::Use(_) | ItemKind::Train(_) | ItemKind::Error => Term::Error,
        }
    }

    /// Runs `f` one level deeper, refusing to recurse without end (a function that calls itself).
    fn guarded(&mut self, span: Span, f: impl FnOnce(&mut Self) -> Term<'a>) -> Term<'a> {
        if self.depth >= MAX_INLINE_DEPTH {
            let span = self.recipe_span(ModuleId::Std("prelude"), span);
            self.error(
                Code::E0408,
                span,
                format!(
                    "definitions nest more than {MAX_INLINE_DEPTH} deep here: a function that calls itself cannot be expanded before training"
                ),
                "expanding this does not end",
            );
            return Term::Error;
        }
        self.depth += 1;
        let term = f(self);
        self.depth -= 1;
        term
    }

    // ---- expressions ----

    fn expr(&mut self, e: &'a Expr, frame: &Frame<'a>) -> Term<'a> {
        match &e.kind {
            ExprKind::Int(v) => Term::Node(self.graph.value(Value::Int(*v))),
            ExprKind::Float(v) => Term::Node(self.graph.value(Value::Float(*v))),
            ExprKind::Str(s) => Term::Node(self.graph.value(Value::Text(s.clone()))),
            ExprKind::Bool(b) => Term::Node(self.graph.value(Value::Bool(*b))),
            ExprKind::None => Term::Node(self.graph.value(Value::None)),
            ExprKind::Name(ident) => self.name(ident, frame),
            ExprKind::Paren(inner) => self.expr(inner, frame),
            ExprKind::List(items) | ExprKind::Tuple(items) => {
                let Some(nodes) = self.nodes(items, frame) else {
                    return Term::Error;
                };
                let element = nodes
                    .first()
                    .map_or("_".to_string(), |&n| self.graph.ty(n).to_string());
                let (op, ty) = if matches!(e.kind, ExprKind::List(_)) {
                    (Op::List, format!("list[{element}]"))
                } else {
                    let types: Vec<&str> = nodes.iter().map(|&n| self.graph.ty(n)).collect();
                    (Op::Tuple, format!("({})", types.join(", ")))
                };
                Term::Node(self.graph.add(op, nodes, ty))
            }
            ExprKind::Unary { op, operand } => {
                let Some(x) = self.node(operand, frame) else {
                    return Term::Error;
                };
                let (operator, ty) = match op {
                    UnaryOp::Neg => (UnaryOperator::Neg, self.graph.ty(x).to_string()),
                    UnaryOp::Not => (UnaryOperator::Not, "bool".to_string()),
                };
                Term::Node(self.graph.add(Op::Unary { operator }, vec![x], ty))
            }
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, frame),
            ExprKind::Call { callee, args } => self.call(callee, args, e.span, frame),
            ExprKind::Field { target, field } => self.field(target, field, frame),
            ExprKind::Index { target, index } => {
                let (Some(list), Some(at)) = (self.node(target, frame), self.node(index, frame))
                else {
                    return Term::Error;
                };
                let ty = self
                    .graph
                    .ty(list)
                    .strip_prefix("list[")
                    .and_then(|t| t.strip_suffix(']'))
                    .unwrap_or("_")
                    .to_string();
                Term::Node(self.graph.add(Op::Index, vec![list, at], ty))
            }
            ExprKind::BlockCall { callee, entries } => {
                let Some((module, item)) = self.global(frame.module, &callee.name) else {
                    return Term::Error;
                };
                self.block_call(module, item, entries, e.span, frame)
            }
            ExprKind::If {
                condition,
                then_branch,
                else_branch,
            } => {
                let Some(condition) = self.node(condition, frame) else {
                    return Term::Error;
                };
                match self.graph.constant(condition) {
                    Some(Value::Bool(true)) => self.expr(then_branch, frame),
                    Some(Value::Bool(false)) => self.expr(else_branch, frame),
                    _ => {
                        let (Some(a), Some(b)) =
                            (self.node(then_branch, frame), self.node(else_branch, frame))
                        else {
                            return Term::Error;
                        };
                        Term::Node(self.select(condition, a, b))
                    }
                }
            }
            ExprKind::Match { scrutinee, arms } => {
                let Some(scrutinee) = self.node(scrutinee, frame) else {
                    return Term::Error;
                };
                self.arms(scrutinee, arms, frame)
            }
            ExprKind::Block { lets, result } => {
                let mut inner = frame.clone();
                for stmt in lets {
                    let term = self.expr(&stmt.value, &inner);
                    inner.bindings.push(Bound {
                        name: stmt.name.name.clone(),
                        term,
                        origin: self.origin(frame, stmt.span),
                        span: Some(stmt.span),
                    });
                }
                self.expr(result, &inner)
            }
            ExprKind::Chat(turns) => {
                let mut messages = Vec::new();
                for turn in turns {
                    let parts = match &turn.content.kind {
                        ExprKind::List(items) => self.nodes(items, frame),
                        _ => self.node(&turn.content, frame).map(|n| vec![n]),
                    };
                    let Some(parts) = parts else {
                        return Term::Error;
                    };
                    messages.push(Message {
                        role: turn.role.name.clone(),
                        parts,
                    });
                }
                Term::Chat(Rc::new(messages))
            }
            ExprKind::Mix(_) | ExprKind::Error => Term::Error,
        }
    }

    fn nodes(&mut self, exprs: &'a [Expr], frame: &Frame<'a>) -> Option<Vec<NodeId>> {
        exprs.iter().map(|e| self.node(e, frame)).collect()
    }

    /// An expression that must be a value of the graph.
    fn node(&mut self, e: &'a Expr, frame: &Frame<'a>) -> Option<NodeId> {
        let term = self.expr(e, frame);
        self.term_node(term, e.span, frame.module)
    }

    fn term_node(&mut self, term: Term<'a>, span: Span, module: ModuleId) -> Option<NodeId> {
        match term {
            Term::Node(id) => Some(id),
            // A per-completion function given where its value is wanted (`group.mean(accuracy)`).
            Term::Function(m, item) => match &item.kind {
                ItemKind::Fn(f) | ItemKind::Reward(f) if self.per_completion(m, &f.params) => {
                    let term = self.apply_implicitly(m, item, f, span);
                    self.term_node(term, span, module)
                }
                _ => self.not_a_value(span, module),
            },
            Term::Error => None,
            _ => self.not_a_value(span, module),
        }
    }

    fn not_a_value(&mut self, span: Span, module: ModuleId) -> Option<NodeId> {
        let span = self.recipe_span(module, span);
        self.error(
            Code::E0408,
            span,
            "this is not a value a reward or schedule can compute with".to_string(),
            "not a number, text or bool",
        );
        None
    }

    fn select(&mut self, condition: NodeId, a: NodeId, b: NodeId) -> NodeId {
        let ty = join_types(self.graph.ty(a), self.graph.ty(b));
        self.graph.add(Op::Select, vec![condition, a, b], ty)
    }

    fn binary(
        &mut self,
        op: BinaryOp,
        lhs: &'a Expr,
        rhs: &'a Expr,
        frame: &Frame<'a>,
    ) -> Term<'a> {
        let (Some(a), Some(b)) = (self.node(lhs, frame), self.node(rhs, frame)) else {
            return Term::Error;
        };
        let operator = match op {
            BinaryOp::Or => BinaryOperator::Or,
            BinaryOp::And => BinaryOperator::And,
            BinaryOp::Eq => BinaryOperator::Eq,
            BinaryOp::NotEq => BinaryOperator::Ne,
            BinaryOp::Lt => BinaryOperator::Lt,
            BinaryOp::Le => BinaryOperator::Le,
            BinaryOp::Gt => BinaryOperator::Gt,
            BinaryOp::Ge => BinaryOperator::Ge,
            BinaryOp::Add => BinaryOperator::Add,
            BinaryOp::Sub => BinaryOperator::Sub,
            BinaryOp::Mul => BinaryOperator::Mul,
            BinaryOp::Div => BinaryOperator::Div,
            BinaryOp::Rem => BinaryOperator::Rem,
            BinaryOp::Pow => BinaryOperator::Pow,
        };
        let (ta, tb) = (self.graph.ty(a), self.graph.ty(b));
        let ty = match operator {
            BinaryOperator::Add if ta == "text" => "text",
            BinaryOperator::Add
            | BinaryOperator::Sub
            | BinaryOperator::Mul
            | BinaryOperator::Rem
            | BinaryOperator::Pow
                if ta == "int" && tb == "int" =>
            {
                "int"
            }
            BinaryOperator::Add
            | BinaryOperator::Sub
            | BinaryOperator::Mul
            | BinaryOperator::Rem
            | BinaryOperator::Pow
            | BinaryOperator::Div => "float",
            _ => "bool",
        }
        .to_string();
        // `&&` and `||` short-circuit on constants, so `false && judge(...)` asks no judge.
        match (operator, self.graph.constant(a)) {
            (BinaryOperator::And, Some(Value::Bool(false)))
            | (BinaryOperator::Or, Some(Value::Bool(true))) => return Term::Node(a),
            (BinaryOperator::And | BinaryOperator::Or, Some(Value::Bool(_))) => {
                return Term::Node(b);
            }
            _ => {}
        }
        Term::Node(self.graph.add(Op::Binary { operator }, vec![a, b], ty))
    }

    fn field(&mut self, target: &'a Expr, field: &'a Ident, frame: &Frame<'a>) -> Term<'a> {
        match self.expr(target, frame) {
            Term::Completion => {
                let ty = COMPLETION_FIELDS
                    .iter()
                    .find(|(n, _)| *n == field.name)
                    .map_or("_", |(_, t)| t);
                Term::Node(self.graph.add(
                    Op::Completion {
                        field: field.name.clone(),
                    },
                    Vec::new(),
                    ty.to_string(),
                ))
            }
            Term::Row => self.row_field(field, frame),
            _ => Term::Error,
        }
    }

    /// `ex.FIELD`: the field must be one of the dataset the stage reads.
    fn row_field(&mut self, field: &'a Ident, frame: &Frame<'a>) -> Term<'a> {
        let Some(row) = self.row.clone() else {
            return Term::Error;
        };
        let ty = match &row.fields {
            None => "_".to_string(),
            Some(fields) => match fields.iter().find(|(n, _)| *n == field.name) {
                Some((_, ty)) => ty.clone(),
                None => {
                    self.missing_field(&row, field, frame);
                    return Term::Error;
                }
            },
        };
        Term::Node(self.graph.add(
            Op::Row {
                field: field.name.clone(),
            },
            Vec::new(),
            ty,
        ))
    }

    fn missing_field(&mut self, row: &RowContext, field: &Ident, frame: &Frame<'a>) {
        let in_recipe = frame.module == ModuleId::Recipe;
        let span = self.recipe_span(frame.module, field.span);
        let whose = match &row.stage {
            Some(stage) => format!("the stage `{stage}` reads `{}`", row.dataset),
            None => format!("rows of `{}`", row.dataset),
        };
        let mut diagnostic = Diagnostic::new(
            Code::E0314,
            span,
            format!(
                "`ex.{}` is read here, but the dataset `{}` has no field `{}`",
                field.name, row.dataset, field.name
            ),
        )
        .with_label(if in_recipe {
            "read here".to_string()
        } else {
            format!("reads `ex.{}`", field.name)
        })
        .with_secondary(row.data_span, whose);
        let names = row.fields.iter().flatten().map(|(n, _)| n.as_str());
        diagnostic = match rlx_lang::closest(&field.name, names.clone()) {
            Some(near) if in_recipe => diagnostic.with_did_you_mean(field.span, near),
            _ => diagnostic.with_help(format!(
                "`{}` has {}",
                row.dataset,
                names
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
        self.diagnostics.push(diagnostic);
    }

    fn call(
        &mut self,
        callee: &'a Expr,
        args: &'a [Arg],
        span: Span,
        frame: &Frame<'a>,
    ) -> Term<'a> {
        if let ExprKind::Field { target, field } = &callee.kind {
            return match self.expr(target, frame) {
                Term::Group => self.group_stat(field, args, frame),
                Term::Model(model) => self.model_call(model, field, args, frame),
                _ => Term::Error,
            };
        }
        let function = match &callee.kind {
            // A called reward is the function, even where a bare name would stand for its value.
            ExprKind::Name(ident) if !frame.bindings.iter().any(|b| b.name == ident.name) => self
                .global(frame.module, &ident.name)
                .map_or(Term::Error, |(module, item)| Term::Function(module, item)),
            _ => self.expr(callee, frame),
        };
        let Term::Function(module, item) = function else {
            return Term::Error;
        };
        let params = match &item.kind {
            ItemKind::Fn(f) | ItemKind::Reward(f) | ItemKind::Prompt(f) => &f.params,
            ItemKind::Extern(ExternDecl::Fn(f)) => &f.params,
            _ => return Term::Error,
        };
        let mut bound = Vec::new();
        let mut positional = params.iter();
        for arg in args {
            let param = match &arg.name {
                Some(name) => params.iter().find(|p| p.name.name == name.name),
                None => positional.next(),
            };
            let Some(param) = param else {
                return Term::Error;
            };
            bound.push(self.bind(param.name.name.clone(), &arg.value, frame));
        }
        self.apply(module, item, bound, span)
    }

    /// Lowers an argument; a name bound in `frame` keeps the origin of its value (a preset's
    /// `group = group` passes on where `group` came from).
    fn bind(&mut self, name: String, value: &'a Expr, frame: &Frame<'a>) -> Bound<'a> {
        if let ExprKind::Name(ident) = &value.kind
            && let Some(bound) = frame.bindings.iter().rev().find(|b| b.name == ident.name)
        {
            return Bound {
                name,
                ..bound.clone()
            };
        }
        let term = self.expr(value, frame);
        Bound {
            name,
            term,
            origin: self.origin(frame, value.span),
            span: (frame.module == ModuleId::Recipe).then_some(value.span),
        }
    }

    /// A call with its arguments bound by name: natives build a node or a construct, functions
    /// are inlined.
    fn apply(
        &mut self,
        module: ModuleId,
        item: &'a Item,
        mut args: Vec<Bound<'a>>,
        span: Span,
    ) -> Term<'a> {
        match &item.kind {
            ItemKind::Extern(ExternDecl::Fn(f)) => {
                self.fill_defaults(module, &f.name.name, &f.params, &mut args);
                let result = type_text(&f.result);
                if CONSTRUCTED_KINDS.contains(&result.as_str()) {
                    return Term::Construct(Rc::new(Construct {
                        function: f.name.name.clone(),
                        preset: None,
                        args,
                        span,
                    }));
                }
                let mut inputs = Vec::new();
                for param in &f.params {
                    let bound = args.iter().find(|a| a.name == param.name.name);
                    let term = bound.map_or(Term::Error, |b| b.term.clone());
                    match self.term_node(term, span, module) {
                        Some(node) => inputs.push(node),
                        None => return Term::Error,
                    }
                }
                if f.name.name == "piecewise" {
                    inputs.push(self.graph.add(
                        Op::Step {
                            var: "stage_step".into(),
                        },
                        Vec::new(),
                        "int".into(),
                    ));
                }
                Term::Node(self.graph.add(
                    Op::Call {
                        function: f.name.name.clone(),
                    },
                    inputs,
                    result,
                ))
            }
            ItemKind::Fn(f) | ItemKind::Reward(f) | ItemKind::Prompt(f) => {
                self.fill_defaults(module, &f.name.name, &f.params, &mut args);
                self.inline(module, item, f, args, span)
            }
            _ => Term::Error,
        }
    }

    /// Binds the defaults of the parameters `args` leaves out, lowered where the function is.
    fn fill_defaults(
        &mut self,
        module: ModuleId,
        function: &str,
        params: &'a [Param],
        args: &mut Vec<Bound<'a>>,
    ) {
        for param in params {
            if args.iter().any(|a| a.name == param.name.name) {
                continue;
            }
            let term = match &param.default {
                Some(default) => {
                    let frame = Frame {
                        module,
                        bindings: Vec::new(),
                        settings: false,
                        owner: function.to_string(),
                    };
                    self.expr(default, &frame)
                }
                None => Term::Error, // a missing argument, reported by the type checker
            };
            args.push(Bound {
                name: param.name.name.clone(),
                term,
                origin: Origin::Default {
                    function: function.to_string(),
                },
                span: None,
            });
        }
    }

    fn inline(
        &mut self,
        module: ModuleId,
        item: &'a Item,
        f: &'a FnDecl,
        args: Vec<Bound<'a>>,
        span: Span,
    ) -> Term<'a> {
        let frame = Frame {
            module,
            bindings: args,
            settings: false,
            owner: f.name.name.clone(),
        };
        let term = self.guarded(span, |this| this.expr(&f.body, &frame));
        let term = match term {
            Term::Construct(c) if module != ModuleId::Recipe && c.preset.is_none() => {
                Term::Construct(Rc::new(Construct {
                    function: c.function.clone(),
                    preset: Some(f.name.name.clone()),
                    args: c.args.clone(),
                    span: c.span,
                }))
            }
            other => other,
        };
        if let (ItemKind::Reward(_), Term::Node(node), Some(terms)) =
            (&item.kind, &term, self.terms.as_mut())
            && !terms.iter().any(|(n, _)| *n == f.name.name)
        {
            terms.push((f.name.name.clone(), *node));
        }
        term
    }

    /// `callee { key = value, nested { ... } }`: settings bound as named arguments.
    fn block_call(
        &mut self,
        module: ModuleId,
        item: &'a Item,
        entries: &'a [Entry],
        span: Span,
        frame: &Frame<'a>,
    ) -> Term<'a> {
        let args = self.entries(entries, frame);
        self.apply(module, item, args, span)
    }

    fn entries(&mut self, entries: &'a [Entry], frame: &Frame<'a>) -> Vec<Bound<'a>> {
        let mut args = Vec::new();
        for entry in entries {
            match &entry.kind {
                EntryKind::Setting { key, value } => {
                    args.push(self.bind(key.name.clone(), value, frame));
                }
                EntryKind::Block { key, entries } => {
                    let term = match self.prelude(&key.name) {
                        Some((m, item)) => self.block_call(m, item, entries, entry.span, frame),
                        None => Term::Error,
                    };
                    args.push(Bound {
                        name: key.name.clone(),
                        term,
                        origin: self.origin(frame, entry.span),
                        span: Some(entry.span),
                    });
                }
                EntryKind::Stage { .. } | EntryKind::Error => {}
            }
        }
        args
    }

    fn group_stat(&mut self, stat: &'a Ident, args: &'a [Arg], frame: &Frame<'a>) -> Term<'a> {
        let mut inputs = Vec::new();
        for arg in args {
            let term = self.expr(&arg.value, frame);
            let Some(node) = self.term_node(term, arg.value.span, frame.module) else {
                return Term::Error;
            };
            inputs.push(node);
        }
        let ty = match stat.name.as_str() {
            "count" | "size" | "min_length" | "max_length" => "int",
            _ => "float",
        };
        Term::Node(self.graph.add(
            Op::Group {
                stat: stat.name.clone(),
            },
            inputs,
            ty.to_string(),
        ))
    }

    /// `model.score(...)` (a judge's number) or `model.reply(...)` (a chat model's text).
    fn model_call(
        &mut self,
        model: String,
        method: &Ident,
        args: &'a [Arg],
        frame: &Frame<'a>,
    ) -> Term<'a> {
        self.check_model_method(&model, method, frame);
        let mut names = Vec::new();
        let mut inputs = Vec::new();
        for (i, arg) in args.iter().enumerate() {
            let Some(node) = self.node(&arg.value, frame) else {
                return Term::Error;
            };
            names.push(
                arg.name
                    .as_ref()
                    .map_or(format!("arg{i}"), |n| n.name.clone()),
            );
            inputs.push(node);
        }
        let (op, ty) = match method.name.as_str() {
            "reply" => (Op::Reply { model, args: names }, "text"),
            _ => (Op::Judge { model, args: names }, "float"),
        };
        Term::Node(self.graph.add(op, inputs, ty.into()))
    }

    /// Which prelude constructors answer a method: judges score, `policy_chat` models reply. A
    /// model built otherwise (a wrapper function) is checked when the run starts.
    fn check_model_method(&mut self, model: &str, method: &Ident, frame: &Frame<'a>) {
        const ANSWERS: &[(&str, &[&str])] = &[
            ("score", &["judge_http", "reward_model"]),
            ("reply", &["policy_chat"]),
        ];
        let Some((_, item)) = self.global(ModuleId::Recipe, model) else {
            return;
        };
        let ItemKind::Model(declared) = &item.kind else {
            return;
        };
        let ExprKind::Call { callee, .. } = &declared.value.kind else {
            return;
        };
        let ExprKind::Name(constructor) = &callee.kind else {
            return;
        };
        let Some((_, makers)) = ANSWERS.iter().find(|(m, _)| *m == method.name) else {
            return;
        };
        let known = [
            "qwen2",
            "tiny",
            "tiny_vl",
            "judge_http",
            "reward_model",
            "policy_chat",
        ];
        if makers.contains(&constructor.name.as_str())
            || !known.contains(&constructor.name.as_str())
        {
            return;
        }
        let span = self.recipe_span(frame.module, method.span);
        let wanted = makers
            .iter()
            .map(|m| format!("`{m}(...)`"))
            .collect::<Vec<_>>()
            .join(" or ");
        self.diagnostics.push(
            Diagnostic::new(
                Code::E0302,
                span,
                format!(
                    "`{model}` is made by `{}`, which cannot `{}`: only models made by {wanted} do",
                    constructor.name, method.name
                ),
            )
            .with_label(format!("`{}` asked here", method.name))
            .with_secondary(declared.value.span, format!("`{model}` is made here")),
        );
    }

    // ---- match ----

    fn arms(&mut self, scrutinee: NodeId, arms: &'a [MatchArm], frame: &Frame<'a>) -> Term<'a> {
        let Some((arm, rest)) = arms.split_first() else {
            return Term::Error;
        };
        let mut inner = frame.clone();
        if let PatternKind::Constructor { bindings, .. } = &arm.pattern.kind
            && let Some(name) = bindings.first()
        {
            let ty = self.graph.ty(scrutinee).trim_end_matches('?').to_string();
            let value = self.graph.add(Op::Unwrap, vec![scrutinee], ty);
            inner.bindings.push(Bound {
                name: name.name.clone(),
                term: Term::Node(value),
                origin: self.origin(frame, name.span),
                span: None,
            });
        }
        // The last arm needs no test: the type checker made the match exhaustive.
        let condition = if rest.is_empty() {
            None
        } else {
            self.pattern(scrutinee, &arm.pattern, frame)
        };
        let Some(condition) = condition else {
            return self.expr(&arm.body, &inner);
        };
        match self.graph.constant(condition) {
            Some(Value::Bool(true)) => self.expr(&arm.body, &inner),
            Some(Value::Bool(false)) => self.arms(scrutinee, rest, frame),
            _ => {
                let then = self.expr(&arm.body, &inner);
                let otherwise = self.arms(scrutinee, rest, frame);
                let (Some(a), Some(b)) = (
                    self.term_node(then, arm.body.span, frame.module),
                    self.term_node(otherwise, arm.span, frame.module),
                ) else {
                    return Term::Error;
                };
                Term::Node(self.select(condition, a, b))
            }
        }
    }

    /// The condition under which `pattern` matches, or `None` when it always does.
    fn pattern(
        &mut self,
        scrutinee: NodeId,
        pattern: &'a Pattern,
        frame: &Frame<'a>,
    ) -> Option<NodeId> {
        let equal = |this: &mut Self, value: NodeId| {
            this.graph.add(
                Op::Binary {
                    operator: BinaryOperator::Eq,
                },
                vec![scrutinee, value],
                "bool".into(),
            )
        };
        match &pattern.kind {
            PatternKind::Wildcard | PatternKind::Error => None,
            PatternKind::Case(case) => {
                let value = self.graph.value(Value::Text(case.name.clone()));
                Some(equal(self, value))
            }
            PatternKind::Constructor { .. } => {
                Some(self.graph.add(Op::IsSome, vec![scrutinee], "bool".into()))
            }
            PatternKind::Literal(literal) if matches!(literal.kind, ExprKind::None) => {
                let some = self.graph.add(Op::IsSome, vec![scrutinee], "bool".into());
                Some(self.graph.add(
                    Op::Unary {
                        operator: UnaryOperator::Not,
                    },
                    vec![some],
                    "bool".into(),
                ))
            }
            PatternKind::Literal(literal) => {
                let value = self.node(literal, frame)?;
                Some(equal(self, value))
            }
            PatternKind::Or(alternatives) => {
                let mut condition: Option<NodeId> = None;
                for alternative in alternatives {
                    let next = self.pattern(scrutinee, alternative, frame)?;
                    condition = Some(match condition {
                        None => next,
                        Some(previous) => self.graph.add(
                            Op::Binary {
                                operator: BinaryOperator::Or,
                            },
                            vec![previous, next],
                            "bool".into(),
                        ),
                    });
                }
                condition
            }
        }
    }
}

fn settings_frame<'a>(module: ModuleId, owner: String) -> Frame<'a> {
    let implicit = |name: &str, term: Term<'a>| Bound {
        name: name.to_string(),
        term,
        origin: Origin::Default {
            function: "rl".into(),
        },
        span: None,
    };
    Frame {
        module,
        bindings: vec![
            implicit("c", Term::Completion),
            implicit("ex", Term::Row),
            implicit("group", Term::Group),
        ],
        settings: true,
        owner,
    }
}

fn join_types(a: &str, b: &str) -> String {
    match (a, b) {
        (a, b) if a == b => a.to_string(),
        ("int", "float") | ("float", "int") => "float".into(),
        ("none", other) | (other, "none") if other.ends_with('?') => other.to_string(),
        ("none", other) | (other, "none") => format!("{other}?"),
        (a, _) => a.to_string(),
    }
}

mod build;
