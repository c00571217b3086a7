//! The execution plan: what `rlxc build` writes and the runtime executes. Every preset is expanded
//! to explicit settings, every reward to a typed graph whose common sub-expressions are shared and
//! whose constants are folded, and every schedule to a small graph of the step variables.
//!
//! The plan is versioned: a reader refuses a plan whose `version` it does not know.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Bumped whenever a plan written by an older compiler would be read wrongly.
pub const PLAN_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub version: u32,
    /// The recipe file, as the compiler was given it.
    pub recipe: String,
    /// The folder that data, model and module paths are relative to.
    pub base_dir: String,
    pub seed: u64,
    /// The model being trained (a name in `models`).
    pub policy: String,
    pub models: Vec<ModelPlan>,
    pub datasets: Vec<DatasetPlan>,
    pub optimizer: OptimizerPlan,
    pub stages: Vec<StagePlan>,
    /// Where each recipe-level setting came from (`optimizer.lr`), for `rlxc explain`.
    pub origins: BTreeMap<String, Origin>,
}

/// A compile-time value: the arguments of model constructors, constants of the graphs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    List(Vec<Value>),
    Tuple(Vec<Value>),
}

impl Value {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(v) => Some(*v as f64),
            Value::Float(v) => Some(*v),
            _ => None,
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn join(items: &[Value]) -> String {
            items
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
        match self {
            Value::None => f.write_str("none"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) if v.fract() == 0.0 && v.abs() < 1e15 => write!(f, "{v:.1}"),
            Value::Float(v) if *v != 0.0 && v.abs() < 1e-3 => write!(f, "{v:e}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Text(t) => write!(f, "{t:?}"),
            Value::List(items) => write!(f, "[{}]", join(items)),
            Value::Tuple(items) => write!(f, "({})", join(items)),
        }
    }
}

/// Where a setting's value came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "from")]
pub enum Origin {
    /// Written in the recipe, on this line (1-based).
    Recipe { line: u32 },
    /// Chosen by a preset's definition (`grpo` sets `baseline = group_mean`).
    Preset { name: String },
    /// The default of a parameter of `function`.
    Default { function: String },
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Recipe { line } => write!(f, "recipe line {line}"),
            Origin::Preset { name } => write!(f, "preset `{name}`"),
            Origin::Default { function } => write!(f, "default of `{function}`"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelPlan {
    pub name: String,
    /// The prelude constructor (`qwen2`, `tiny`, `judge_http`, ...).
    pub constructor: String,
    /// Every parameter of the constructor, defaults filled in.
    pub args: BTreeMap<String, Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetPlan {
    pub name: String,
    pub source: DataSource,
    /// The declared schema; empty when the dataset declares none (it takes its source's rows).
    pub fields: Vec<FieldPlan>,
    /// Row-level expressions of `where` and `order by` (inputs: `row` nodes only).
    pub graph: Graph,
    pub filter: Option<NodeId>,
    pub order: Option<Order>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DataSource {
    /// `jsonl(path)`, `json(path)` or `parquet(path)`; the path is relative to `base_dir`.
    File { format: String, path: String },
    /// `mix { a: 0.7, b: 0.3 }`: weights normalised to sum to 1.
    Mix { parts: Vec<(String, f64)> },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldPlan {
    pub name: String,
    /// The key in the data file (`@field("...")`), the name itself by default.
    pub key: String,
    pub ty: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub key: NodeId,
    pub descending: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerPlan {
    pub kind: String,
    pub lr: Schedule,
    pub weight_decay: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub grad_clip: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StagePlan {
    pub name: String,
    /// The dataset the stage reads (a name in `datasets`).
    pub data: String,
    /// The stage's learning rate when it overrides the optimizer's.
    pub lr: Option<Schedule>,
    pub eval: Option<EvalPlan>,
    /// Everything per example or per completion the stage computes: prompt parts, the SFT target,
    /// rewards, the filter and the advantage, sharing common sub-expressions.
    pub graph: Graph,
    pub kind: StageKind,
    /// Where each setting came from (`steps`, `algorithm.clip`, `rollout.max_tokens`).
    pub origins: BTreeMap<String, Origin>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[allow(clippy::large_enum_variant)] // a plan holds a handful of stages; boxing buys nothing
pub enum StageKind {
    Sft(SftPlan),
    Rl(RlPlan),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SftPlan {
    /// The text to learn; rows where it is `none` are skipped.
    pub target: NodeId,
    /// The prompt the target answers; without one the target is learnt on its own.
    pub prompt: Option<PromptPlan>,
    pub epochs: u32,
    pub batch: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RlPlan {
    pub prompt: PromptPlan,
    /// The reward of a completion.
    pub reward: NodeId,
    /// The named rewards that make it up (each `reward` item it calls, itself included), for metrics.
    pub terms: Vec<RewardTerm>,
    /// Groups for which this is false are dropped and refilled (dynamic sampling).
    pub filter: Option<NodeId>,
    pub steps: u32,
    /// Completions per step (prompts × group).
    pub batch: u32,
    pub minibatch: u32,
    pub shuffle: bool,
    pub rollout: RolloutPlan,
    pub algorithm: AlgorithmPlan,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RewardTerm {
    pub name: String,
    pub node: NodeId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptPlan {
    pub name: String,
    pub messages: Vec<Message>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    /// Texts and images, in order; each a node of the stage's graph.
    pub parts: Vec<NodeId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RolloutPlan {
    pub temperature: f64,
    pub top_p: f64,
    pub top_k: u32,
    pub max_tokens: u32,
    /// The longest prompt, in tokens (images' tokens included), checked before training.
    pub max_prompt: u32,
    pub stop: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalPlan {
    pub data: String,
    pub every: u32,
    pub max_tokens: u32,
}

/// `policy_gradient` with every setting explicit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlgorithmPlan {
    /// The preset it was written as (`grpo`), or `policy_gradient`.
    pub preset: String,
    pub group: u32,
    pub clip_low: f64,
    pub clip_high: f64,
    pub dual_clip: Option<f64>,
    pub sequence_ratio: bool,
    pub baseline: Baseline,
    pub scale: Scaling,
    /// A KL penalty in the loss.
    pub kl: Option<Kl>,
    /// A KL penalty subtracted from the reward.
    pub kl_reward: Option<Kl>,
    pub aggregate: Aggregation,
    /// The divisor of `seq_mean_token_sum_norm`; 0 means the rollout's `max_tokens`.
    pub norm_length: u32,
    pub dynamic_sampling: bool,
    pub epochs: u32,
    pub minibatch: u32,
    /// An advantage expression replacing baseline and scale (a node of the stage's graph).
    pub advantage: Option<NodeId>,
    pub entropy: f64,
    /// PAPO's perception terms, over a second pass on masked images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perception: Option<Perception>,
}

/// PAPO: the loss gains −γ·KL(π(·|q, I) ‖ π(·|q, I_mask)), where `I_mask` blackens `patch`-pixel
/// squares of each image with probability `prob` (one mask per prompt and step), plus η·(−log p)
/// of the sampled tokens under the masked and the real images (the "double entropy" penalty).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Perception {
    pub gamma: Schedule,
    pub masked_entropy: Schedule,
    pub entropy: Schedule,
    pub patch: u32,
    pub prob: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    GroupMean,
    LeaveOneOut,
    BatchMean,
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scaling {
    GroupStd,
    BatchStd,
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    TokenMean,
    SeqMeanTokenMean,
    SeqMeanTokenSumNorm,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KlEstimator {
    K1,
    K2,
    K3,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Kl {
    pub estimator: KlEstimator,
    pub beta: Schedule,
    /// A weight per completion (a node of the stage's graph): APO's DADS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<NodeId>,
    /// Its own aggregation over tokens; none: the algorithm's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate: Option<Aggregation>,
}

/// A scalar as a function of the step: a graph whose only inputs are `step` nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub graph: Graph,
    pub output: NodeId,
}

/// The step variables a schedule is evaluated at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepVars {
    pub step: u64,
    pub stage_step: u64,
    pub stage_steps: u64,
}

impl StepVars {
    pub fn progress(&self) -> f64 {
        if self.stage_steps == 0 {
            0.0
        } else {
            self.stage_step as f64 / self.stage_steps as f64
        }
    }
}

impl Schedule {
    /// The value when it does not depend on the step.
    pub fn constant(&self) -> Option<f64> {
        match &self.graph.nodes.get(self.output as usize)?.op {
            Op::Const { value } => value.as_f64(),
            _ => None,
        }
    }

    /// The value at a step.
    pub fn at(&self, vars: StepVars) -> Result<f64, EvalError> {
        let value = crate::eval::eval_steps(&self.graph, self.output, vars)?;
        value.as_f64().ok_or_else(|| EvalError {
            message: format!("a schedule evaluated to {value}, not a number"),
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct EvalError {
    pub message: String,
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub type NodeId = u32;

/// A typed DAG in topological order: a node's inputs come before it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub nodes: Vec<Node>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    #[serde(flatten)]
    pub op: Op,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<NodeId>,
    /// The rlx type of the value (`float`, `text?`, `bool`).
    pub ty: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum Op {
    Const {
        value: Value,
    },
    /// A field of the completion: `text`, `answer` (the content of the last `<answer>`, else of
    /// the last `\boxed{}`, else the trimmed text), `think`, `tokens`, `truncated`.
    Completion {
        field: String,
    },
    /// A field of the example's row.
    Row {
        field: String,
    },
    /// `step`, `stage_step`, `progress` or `stage_steps`.
    Step {
        var: String,
    },
    Unary {
        operator: UnaryOperator,
    },
    Binary {
        operator: BinaryOperator,
    },
    /// inputs (condition, then, else); only the branch taken is evaluated, so a judge behind a
    /// rule is asked only when the rule says so.
    Select,
    /// Whether an optional has a value.
    IsSome,
    /// The value of an optional known to have one.
    Unwrap,
    List,
    Tuple,
    /// inputs (list, index).
    Index,
    /// A native function of the standard library, arguments in parameter order, defaults filled.
    Call {
        function: String,
    },
    /// `model.score(name = value, ...)`: one input per argument name.
    Judge {
        model: String,
        args: Vec<String>,
    },
    /// `model.reply(name = value, ...)`: a chat model's reply (a text), one input per argument
    /// name.
    Reply {
        model: String,
        args: Vec<String>,
    },
    /// A statistic over the completion's rollout group of its input's per-completion values.
    Group {
        stat: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnaryOperator {
    Neg,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinaryOperator {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Pow,
}

impl BinaryOperator {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOperator::Or => "||",
            BinaryOperator::And => "&&",
            BinaryOperator::Eq => "==",
            BinaryOperator::Ne => "!=",
            BinaryOperator::Lt => "<",
            BinaryOperator::Le => "<=",
            BinaryOperator::Gt => ">",
            BinaryOperator::Ge => ">=",
            BinaryOperator::Add => "+",
            BinaryOperator::Sub => "-",
            BinaryOperator::Mul => "*",
            BinaryOperator::Div => "/",
            BinaryOperator::Rem => "%",
            BinaryOperator::Pow => "^",
        }
    }
}

/// Why a plan file cannot be used.
#[derive(Debug)]
pub struct PlanReadError {
    pub message: String,
}

impl std::fmt::Display for PlanReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Plan {
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a plan always serialises");
        text.push('\n');
        text
    }

    /// Reads a plan, refusing other versions: `name` is shown in errors.
    pub fn from_json(name: &str, text: &str) -> Result<Plan, PlanReadError> {
        #[derive(Deserialize)]
        struct Version {
            version: Option<u32>,
        }
        let version: Version = serde_json::from_str(text).map_err(|e| PlanReadError {
            message: format!("{name}:{}:{}: not a plan: {e}", e.line(), e.column()),
        })?;
        match version.version {
            Some(PLAN_VERSION) => {}
            Some(other) => {
                return Err(PlanReadError {
                    message: format!(
                        "{name}: plan version {other}, but this rlxc reads version {PLAN_VERSION}: rebuild it with `rlxc build`"
                    ),
                });
            }
            None => {
                return Err(PlanReadError {
                    message: format!("{name}: not a plan (no `version`)"),
                });
            }
        }
        serde_json::from_str(text).map_err(|e| PlanReadError {
            message: format!("{name}:{}:{}: {e}", e.line(), e.column()),
        })
    }
}
