//! A reward graph prepared for scoring: node kinds, natives resolved, constants converted, the group
//! statistics it needs in the order they can be computed, and the inputs it reads. Shared by the
//! interpreter and the compiled code, which differ only in how they walk it.

use std::borrow::Cow;
use std::collections::BTreeSet;

use rlx_compiler::plan::{BinaryOperator, Graph, NodeId, Op, StepVars, UnaryOperator};

use crate::natives::{self, Native};
use crate::value::{Kind, Value};

/// The prelude functions that are computed per completion (the rest build settings or schedules).
pub const PER_COMPLETION_PRELUDE: &[&str] = &[
    "min", "max", "clip", "abs", "exp", "log", "cos", "sin", "sqrt", "floor", "ceil", "len",
];

/// The completion fields a graph may read.
pub const COMPLETION_FIELDS: &[&str] = &["text", "answer", "think", "tokens", "truncated"];

/// Why a graph cannot be scored.
#[derive(Clone, Debug, PartialEq)]
pub struct CompileError {
    pub node: Option<NodeId>,
    pub message: String,
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.node {
            Some(node) => write!(f, "node {node}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// A statistic of a completion's rollout group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupStat {
    Mean,
    Std,
    Sum,
    Max,
    Min,
    PassRate,
    Count,
    Size,
    LooMean,
    MinLength,
    MaxLength,
    MeanLength,
}

impl GroupStat {
    fn parse(name: &str) -> Option<GroupStat> {
        Some(match name {
            "mean" => GroupStat::Mean,
            "std" => GroupStat::Std,
            "sum" => GroupStat::Sum,
            "max" => GroupStat::Max,
            "min" => GroupStat::Min,
            "pass_rate" => GroupStat::PassRate,
            "count" => GroupStat::Count,
            "size" => GroupStat::Size,
            "loo_mean" => GroupStat::LooMean,
            "min_length" => GroupStat::MinLength,
            "max_length" => GroupStat::MaxLength,
            "mean_length" => GroupStat::MeanLength,
            _ => return None,
        })
    }

    /// Whether the statistic can be taken without a per-completion value (over the whole group).
    fn input_optional(self) -> bool {
        matches!(
            self,
            GroupStat::Count
                | GroupStat::Size
                | GroupStat::MinLength
                | GroupStat::MaxLength
                | GroupStat::MeanLength
        )
    }

    pub fn reads_tokens(self) -> bool {
        matches!(
            self,
            GroupStat::MinLength | GroupStat::MaxLength | GroupStat::MeanLength
        )
    }
}

/// A group statistic node, and the pass that computes its input.
#[derive(Clone, Debug)]
pub struct GroupNode {
    pub node: NodeId,
    pub stat: GroupStat,
    pub input: Option<NodeId>,
}

/// What a graph reads besides constants.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reads {
    /// Row fields with their plan types.
    pub row: Vec<(String, String)>,
    pub completion: BTreeSet<String>,
    pub step: bool,
    pub group: bool,
    /// Judge models asked.
    pub judges: BTreeSet<String>,
}

#[derive(Debug)]
pub struct Program {
    pub graph: Graph,
    pub kinds: Vec<Kind>,
    pub natives: Vec<Option<Native>>,
    pub constants: Vec<Option<Value<'static>>>,
    pub roots: Vec<NodeId>,
    /// Reachable group statistics in node order: each one's input may use the ones before it.
    pub groups: Vec<GroupNode>,
    /// For a group node, its index in `groups`.
    pub group_index: Vec<Option<usize>>,
    /// Whether a node is `c.text`, which compiled code hands to natives without a call of its own.
    pub is_completion_text: Vec<bool>,
    pub reads: Reads,
}

impl Program {
    pub fn new(graph: &Graph, roots: &[NodeId]) -> Result<Program, CompileError> {
        let n = graph.nodes.len();
        let error = |node: NodeId, message: String| CompileError {
            node: Some(node),
            message,
        };
        for &root in roots {
            if root as usize >= n {
                return Err(error(root, "is not a node of the graph".into()));
            }
        }
        let reachable = reachable(graph, roots);
        let mut kinds = Vec::with_capacity(n);
        let mut natives = Vec::with_capacity(n);
        let mut constants = Vec::with_capacity(n);
        let mut groups = Vec::new();
        let mut group_index = vec![None; n];
        let mut reads = Reads::default();
        for (id, node) in graph.nodes.iter().enumerate() {
            let id = id as NodeId;
            if node.inputs.iter().any(|&i| i >= id) {
                return Err(error(
                    id,
                    "reads a later node: the graph is not in order".into(),
                ));
            }
            kinds.push(Kind::of(&node.ty));
            let mut native = None;
            let mut constant = None;
            if reachable[id as usize] {
                match &node.op {
                    Op::Const { value } => constant = Some(Value::from_plan(value, &node.ty)),
                    Op::Call { function } => {
                        let pattern =
                            node.inputs
                                .get(1)
                                .and_then(|&p| match &graph.nodes[p as usize].op {
                                    Op::Const {
                                        value: rlx_compiler::plan::Value::Text(t),
                                    } => Some(t.as_str()),
                                    _ => None,
                                });
                        native =
                            Some(natives::resolve(function, pattern).map_err(|m| error(id, m))?);
                    }
                    Op::Completion { field } => {
                        if !COMPLETION_FIELDS.contains(&field.as_str()) {
                            return Err(error(id, format!("a completion has no field `{field}`")));
                        }
                        reads.completion.insert(field.clone());
                    }
                    Op::Row { field } => {
                        if !reads.row.iter().any(|(f, _)| f == field) {
                            reads.row.push((field.clone(), node.ty.clone()));
                        }
                    }
                    Op::Step { var } => {
                        if !matches!(
                            var.as_str(),
                            "step" | "stage_step" | "stage_steps" | "progress"
                        ) {
                            return Err(error(id, format!("unknown step variable `{var}`")));
                        }
                        reads.step = true;
                    }
                    Op::Judge { model, .. } | Op::Reply { model, .. } => {
                        reads.judges.insert(model.clone());
                    }
                    Op::Group { stat } => {
                        let parsed = GroupStat::parse(stat).ok_or_else(|| {
                            error(id, format!("unknown group statistic `{stat}`"))
                        })?;
                        let input = node.inputs.first().copied();
                        match input {
                            None if !parsed.input_optional() => {
                                return Err(error(
                                    id,
                                    format!("`group.{stat}` needs a per-completion value"),
                                ));
                            }
                            Some(i) if Kind::of(&graph.nodes[i as usize].ty) == Kind::Host => {
                                return Err(error(
                                    id,
                                    format!(
                                        "`group.{stat}` takes a number or a bool, not `{}`",
                                        graph.nodes[i as usize].ty
                                    ),
                                ));
                            }
                            _ => {}
                        }
                        if parsed.reads_tokens() {
                            reads.completion.insert("tokens".into());
                        }
                        reads.group = true;
                        group_index[id as usize] = Some(groups.len());
                        groups.push(GroupNode {
                            node: id,
                            stat: parsed,
                            input,
                        });
                    }
                    Op::Unary { .. }
                    | Op::Binary { .. }
                    | Op::Select
                    | Op::IsSome
                    | Op::Unwrap
                    | Op::List
                    | Op::Tuple
                    | Op::Index => {}
                }
            }
            natives.push(native);
            constants.push(constant);
        }
        let is_completion_text = graph
            .nodes
            .iter()
            .map(|n| matches!(&n.op, Op::Completion { field } if field == "text"))
            .collect();
        Ok(Program {
            is_completion_text,
            graph: graph.clone(),
            kinds,
            natives,
            constants,
            roots: roots.to_vec(),
            groups,
            group_index,
            reads,
        })
    }

    /// The roots of a pass: the inputs of group statistic `pass`, or the program's roots after the
    /// last group statistic.
    pub fn pass_roots(&self, pass: usize) -> Vec<NodeId> {
        match self.groups.get(pass) {
            Some(group) => group.input.into_iter().collect(),
            None => self.roots.clone(),
        }
    }

    /// Passes: one per group statistic with an input, in order, then the roots.
    pub fn passes(&self) -> usize {
        self.groups.len() + 1
    }
}

fn reachable(graph: &Graph, roots: &[NodeId]) -> Vec<bool> {
    let mut seen = vec![false; graph.nodes.len()];
    let mut stack: Vec<NodeId> = roots.to_vec();
    while let Some(id) = stack.pop() {
        let Some(flag) = seen.get_mut(id as usize) else {
            continue;
        };
        if !*flag {
            *flag = true;
            stack.extend(graph.nodes[id as usize].inputs.iter().copied());
        }
    }
    seen
}

/// A completion to score, with its row and group.
#[derive(Clone, Copy, Debug)]
pub struct Item<'a> {
    pub text: &'a str,
    /// Generated tokens; rewards reading `c.tokens` need it.
    pub tokens: Option<i64>,
    /// Whether generation stopped at the token limit; rewards reading `c.truncated` need it.
    pub truncated: Option<bool>,
    pub row: &'a serde_json::Map<String, serde_json::Value>,
    /// Completions of the same prompt share a group number.
    pub group: u64,
}

/// A model judge: what `model.score(name = value, ...)` and `model.reply(name = value, ...)` ask.
pub trait Judge: Sync {
    fn score(&self, model: &str, args: &[(&str, &Value<'_>)]) -> Result<f64, String>;

    /// A chat model's reply to the call of `completion` (the completion's position in the batch:
    /// each completion's call is sampled on its own, as a per-completion reward function does).
    fn reply(
        &self,
        model: &str,
        _args: &[(&str, &Value<'_>)],
        _completion: usize,
    ) -> Result<String, String> {
        Err(format!(
            "the reward asks the chat model `{model}` for a reply, and none is available here"
        ))
    }
}

/// For scoring without judges: refuses, naming the model.
pub struct NoJudge;

impl Judge for NoJudge {
    fn score(&self, model: &str, _: &[(&str, &Value<'_>)]) -> Result<f64, String> {
        Err(format!(
            "the reward asks the model judge `{model}`, and no judge is available here"
        ))
    }
}

/// What evaluating one completion sees.
pub struct Env<'e, 'a> {
    pub program: &'e Program,
    pub item: &'e Item<'a>,
    /// The completion's position in the batch.
    pub index: usize,
    pub step: StepVars,
    /// The completion's value of each group statistic computed so far.
    pub group_values: &'e [f64],
    pub judge: &'e dyn Judge,
}

/// The value of node `id` given its evaluated inputs: every op but the lazy ones (`Select`, `&&`,
/// `||`), which the walkers handle. The result has the node's kind (an `int` where a `float` is
/// expected becomes a float).
pub fn eval_node<'a>(
    env: &Env<'_, 'a>,
    id: NodeId,
    args: &[Value<'a>],
) -> Result<Value<'a>, String> {
    let program = env.program;
    let node = &program.graph.nodes[id as usize];
    let value = match &node.op {
        Op::Const { .. } => program.constants[id as usize]
            .clone()
            .unwrap_or(Value::None),
        Op::Completion { field } => completion_field(env.item, field)?,
        Op::Row { field } => match env.item.row.get(field) {
            Some(json) => {
                Value::from_json(json, &node.ty).map_err(|e| format!("field `{field}`: {e}"))?
            }
            None if node.ty.ends_with('?') => Value::None,
            None => return Err(format!("the row has no field `{field}`")),
        },
        Op::Step { var } => match var.as_str() {
            "step" => Value::Int(env.step.step as i64),
            "stage_step" => Value::Int(env.step.stage_step as i64),
            "stage_steps" => Value::Int(env.step.stage_steps as i64),
            _ => Value::Float(env.step.progress()),
        },
        Op::Unary { operator } => unary(*operator, &args[0])?,
        Op::Binary { operator } => binary(*operator, &args[0], &args[1])?,
        Op::Select => match &args[0] {
            Value::Bool(true) => args[1].clone(),
            _ => args[2].clone(),
        },
        Op::IsSome => Value::Bool(args[0] != Value::None),
        Op::Unwrap => match &args[0] {
            Value::None => return Err("`none` where a value was expected".into()),
            other => other.clone(),
        },
        Op::List => Value::List(args.to_vec()),
        Op::Tuple => Value::Tuple(args.to_vec()),
        Op::Index => index(&args[0], &args[1])?,
        Op::Call { .. } => match &program.natives[id as usize] {
            Some(native) => native.call(args)?,
            None => return Err("a native function that was not resolved".into()),
        },
        Op::Judge { model, args: names } => {
            let named: Vec<(&str, &Value)> = names.iter().map(String::as_str).zip(args).collect();
            Value::Float(env.judge.score(model, &named)?)
        }
        Op::Reply { model, args: names } => {
            let named: Vec<(&str, &Value)> = names.iter().map(String::as_str).zip(args).collect();
            Value::Text(Cow::Owned(env.judge.reply(model, &named, env.index)?))
        }
        Op::Group { .. } => {
            let index = program.group_index[id as usize].ok_or("a group statistic out of order")?;
            let value = env
                .group_values
                .get(index)
                .copied()
                .ok_or("a group statistic read before it was computed")?;
            match program.kinds[id as usize] {
                Kind::Int => Value::Int(value as i64),
                _ => Value::Float(value),
            }
        }
    };
    Ok(coerce(value, program.kinds[id as usize]))
}

/// An `int` value where a `float` is expected becomes a float.
pub fn coerce(value: Value<'_>, kind: Kind) -> Value<'_> {
    match (kind, value) {
        (Kind::Float, Value::Int(v)) => Value::Float(v as f64),
        (_, value) => value,
    }
}

fn completion_field<'a>(item: &Item<'a>, field: &str) -> Result<Value<'a>, String> {
    Ok(match field {
        "text" => Value::Text(Cow::Borrowed(item.text)),
        "answer" => Value::Text(Cow::Borrowed(rlx_verify::completion_answer(item.text))),
        "think" => Value::Text(Cow::Borrowed(rlx_verify::tag(item.text, "think").unwrap_or(""))),
        "tokens" => Value::Int(item.tokens.ok_or("the reward reads `c.tokens`, and the completion's token count was not given")?),
        "truncated" => Value::Bool(
            item.truncated.ok_or("the reward reads `c.truncated`, and whether the completion was truncated was not given")?,
        ),
        other => return Err(format!("a completion has no field `{other}`")),
    })
}

fn unary<'a>(operator: UnaryOperator, value: &Value<'a>) -> Result<Value<'a>, String> {
    match (operator, value) {
        (UnaryOperator::Neg, Value::Int(v)) => Ok(Value::Int(v.wrapping_neg())),
        (UnaryOperator::Neg, Value::Float(v)) => Ok(Value::Float(-v)),
        (UnaryOperator::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
        (operator, value) => Err(format!("cannot apply {operator:?} to {value}")),
    }
}

fn is_number(value: &Value) -> bool {
    matches!(value, Value::Int(_) | Value::Float(_))
}

/// Binary operators at run time. Integers wrap; `/` is always a float division; `%` and `^` of
/// integers refuse a zero divisor and a negative exponent.
pub fn binary<'a>(
    operator: BinaryOperator,
    a: &Value<'a>,
    b: &Value<'a>,
) -> Result<Value<'a>, String> {
    use BinaryOperator::*;
    match (operator, a, b) {
        (And, Value::Bool(x), Value::Bool(y)) => return Ok(Value::Bool(*x && *y)),
        (Or, Value::Bool(x), Value::Bool(y)) => return Ok(Value::Bool(*x || *y)),
        (Eq, _, _) if !(is_number(a) && is_number(b)) => return Ok(Value::Bool(a == b)),
        (Ne, _, _) if !(is_number(a) && is_number(b)) => return Ok(Value::Bool(a != b)),
        (Add, Value::Text(x), Value::Text(y)) => {
            return Ok(Value::Text(Cow::Owned(format!("{x}{y}"))));
        }
        _ => {}
    }
    if let (Value::Int(x), Value::Int(y)) = (a, b) {
        let (x, y) = (*x, *y);
        return Ok(match operator {
            Add => Value::Int(x.wrapping_add(y)),
            Sub => Value::Int(x.wrapping_sub(y)),
            Mul => Value::Int(x.wrapping_mul(y)),
            Div => Value::Float(x as f64 / y as f64),
            Rem if y == 0 => return Err(format!("{x} % 0: remainder by zero")),
            Rem => Value::Int(x.wrapping_rem_euclid(y)),
            Pow if y < 0 => return Err(format!("{x} ^ {y}: an integer to a negative power")),
            Pow => Value::Int(x.wrapping_pow(y.min(u32::MAX as i64) as u32)),
            Eq => Value::Bool(x == y),
            Ne => Value::Bool(x != y),
            Lt => Value::Bool(x < y),
            Le => Value::Bool(x <= y),
            Gt => Value::Bool(x > y),
            Ge => Value::Bool(x >= y),
            And | Or => return Err(format!("cannot apply `{}` to numbers", operator.symbol())),
        });
    }
    let number = |v: &Value| match v {
        Value::Int(_) | Value::Float(_) => v.as_f64().ok_or(()),
        _ => Err(()),
    };
    let (Ok(x), Ok(y)) = (number(a), number(b)) else {
        return Err(format!(
            "cannot apply `{}` to {a} and {b}",
            operator.symbol()
        ));
    };
    Ok(match operator {
        Add => Value::Float(x + y),
        Sub => Value::Float(x - y),
        Mul => Value::Float(x * y),
        Div => Value::Float(x / y),
        Rem => Value::Float(x.rem_euclid(y)),
        Pow => Value::Float(x.powf(y)),
        Eq => Value::Bool(x == y),
        Ne => Value::Bool(x != y),
        Lt => Value::Bool(x < y),
        Le => Value::Bool(x <= y),
        Gt => Value::Bool(x > y),
        Ge => Value::Bool(x >= y),
        And | Or => return Err(format!("cannot apply `{}` to numbers", operator.symbol())),
    })
}

fn index<'a>(list: &Value<'a>, at: &Value<'a>) -> Result<Value<'a>, String> {
    let Value::Int(i) = at else {
        return Err(format!("cannot index with {at}"));
    };
    let item = match list {
        Value::List(items) | Value::Tuple(items) => {
            usize::try_from(*i).ok().and_then(|i| items.get(i)).cloned()
        }
        Value::Box(b) => usize::try_from(*i)
            .ok()
            .and_then(|i| b.get(i))
            .map(|v| Value::Float(*v)),
        other => return Err(format!("cannot index {other}")),
    };
    item.ok_or_else(|| format!("index {i} is outside {list}"))
}
