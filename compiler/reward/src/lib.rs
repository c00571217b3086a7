//! The reward engine: scores a batch of completions with a plan's reward graph.
//!
//! A batch is scored in passes. Each group statistic the graph uses (`group.mean(accuracy)`) needs
//! its input for every completion of the group first, so there is one pass per statistic, in node
//! order, then a last pass for the outputs (reward, terms, filter, advantage). Within a pass every
//! completion is evaluated once, in parallel across cores, with the values computed by natives
//! (extractions, parses, verifiers) remembered per completion across passes, so an answer extracted
//! for one term is not extracted again for another.
//!
//! Two walkers evaluate a pass: compiled code (cranelift; the numeric glue is native and natives are
//! host calls), the default, and a reference interpreter that compiled code is tested against.

pub mod group;
pub mod http;
pub mod interp;
mod jit;
pub mod judge;
pub mod natives;
pub mod program;
pub mod value;

use rayon::prelude::*;
use rlx_compiler::plan::{Graph, NodeId, RlPlan, StepVars};

use judge::{Judges, PolicyChat, Recorder, ReplyCall};
pub use program::{CompileError, Item, Judge, NoJudge, Program, Reads};

/// Rounds of chat replies before scoring: one per level of replies fed into other prompts.
const MAX_REPLY_ROUNDS: usize = 8;
pub use value::Value;

use program::Env;

/// How a pass is evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Native code compiled with cranelift.
    Jit,
    /// The reference interpreter.
    Interpreter,
}

/// A completion that could not be scored.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreError {
    /// Its position in the batch.
    pub index: usize,
    pub message: String,
}

impl std::fmt::Display for ScoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "completion {}: {}", self.index + 1, self.message)
    }
}

/// Completions handed to one worker at a time.
const CHUNK: usize = 64;

pub struct Engine {
    program: Program,
    jit: Option<jit::JitCode>,
    pool: Option<rayon::ThreadPool>,
}

impl Engine {
    /// Prepares `graph` to compute `roots` (numbers or bools) for each completion. `threads` is the
    /// number of worker threads (0: one per core; 1: the calling thread only).
    pub fn new(
        graph: &Graph,
        roots: &[NodeId],
        backend: Backend,
        threads: usize,
    ) -> Result<Engine, CompileError> {
        let program = Program::new(graph, roots)?;
        for &root in roots {
            if program.kinds[root as usize] == value::Kind::Host {
                return Err(CompileError {
                    node: Some(root),
                    message: format!(
                        "a reward is a number or a bool, not `{}`",
                        graph.nodes[root as usize].ty
                    ),
                });
            }
        }
        let jit = match backend {
            Backend::Jit => Some(jit::JitCode::compile(&program)?),
            Backend::Interpreter => None,
        };
        let pool = if threads == 1 {
            None
        } else {
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("rlx-reward-{i}"))
                    .build()
                    .map_err(|e| CompileError {
                        node: None,
                        message: format!("cannot start reward threads: {e}"),
                    })?,
            )
        };
        Ok(Engine { program, jit, pool })
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The roots' values for every completion: `result[i * roots + r]`. The first completion (in
    /// batch order) that fails stops scoring and is reported.
    pub fn score(
        &self,
        items: &[Item<'_>],
        step: StepVars,
        judge: &dyn Judge,
    ) -> Result<Vec<f64>, ScoreError> {
        match &self.pool {
            Some(pool) => pool.install(|| self.score_batch(items, step, judge, true)),
            None => self.score_batch(items, step, judge, false),
        }
    }

    fn score_batch<'a>(
        &self,
        items: &[Item<'a>],
        step: StepVars,
        judge: &dyn Judge,
        parallel: bool,
    ) -> Result<Vec<f64>, ScoreError> {
        let program = &self.program;
        let nodes = program.graph.nodes.len();
        let groups = program.groups.len();
        // With group statistics, values are remembered across passes, per completion; without,
        // each worker reuses one memo (a batch-sized table would cost more to fill than to score).
        let mut slots: Vec<Option<Value<'a>>> = if groups > 0 {
            vec![None; items.len() * nodes]
        } else {
            Vec::new()
        };
        let mut group_values = vec![0.0; items.len() * groups];
        let members = if groups > 0 {
            group::members(&items.iter().map(|i| i.group).collect::<Vec<_>>())
        } else {
            Vec::new()
        };
        for pass in 0..program.passes() {
            let roots = program.pass_roots(pass);
            let mut out = vec![0.0; items.len() * roots.len()];
            if !roots.is_empty() {
                self.run_pass(
                    pass,
                    &roots,
                    items,
                    &mut slots,
                    &group_values,
                    &mut out,
                    step,
                    judge,
                    parallel,
                )?;
            }
            let Some(group_node) = program.groups.get(pass) else {
                return Ok(out);
            };
            let tokens: Vec<i64> = if group_node.stat.reads_tokens() {
                items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| {
                        item.tokens.ok_or_else(|| ScoreError {
                            index,
                            message: "a group length statistic needs the completion's token count"
                                .into(),
                        })
                    })
                    .collect::<Result<_, _>>()?
            } else {
                Vec::new()
            };
            for group in &members {
                let values: Vec<f64> = if roots.is_empty() {
                    Vec::new()
                } else {
                    group.iter().map(|&i| out[i]).collect()
                };
                let lengths: Vec<i64> = if tokens.is_empty() {
                    Vec::new()
                } else {
                    group.iter().map(|&i| tokens[i]).collect()
                };
                let mut stats = vec![0.0; group.len()];
                group::statistic(group_node.stat, &values, &lengths, &mut stats);
                for (&i, value) in group.iter().zip(stats) {
                    group_values[i * groups + pass] = value;
                }
            }
        }
        unreachable!("the last pass returns")
    }

    #[allow(clippy::too_many_arguments)]
    fn run_pass<'a>(
        &self,
        pass: usize,
        roots: &[NodeId],
        items: &[Item<'a>],
        slots: &mut [Option<Value<'a>>],
        group_values: &[f64],
        out: &mut [f64],
        step: StepVars,
        judge: &dyn Judge,
        parallel: bool,
    ) -> Result<(), ScoreError> {
        let program = &self.program;
        let nodes = program.graph.nodes.len().max(1);
        let groups = program.groups.len();
        let width = roots.len();
        let chunk = |start: usize,
                     items: &[Item<'a>],
                     slots: &mut [Option<Value<'a>>],
                     out: &mut [f64]|
         -> Result<(), ScoreError> {
            let mut scratch = Vec::new();
            let mut reused: Vec<Option<Value<'a>>> = if slots.is_empty() {
                vec![None; nodes]
            } else {
                Vec::new()
            };
            for (offset, item) in items.iter().enumerate() {
                let index = start + offset;
                let env = Env {
                    program,
                    item,
                    index,
                    step,
                    group_values: &group_values[index * groups..(index + 1) * groups],
                    judge,
                };
                let memo = if slots.is_empty() {
                    reused.fill(None);
                    &mut reused[..]
                } else {
                    &mut slots[offset * nodes..(offset + 1) * nodes]
                };
                let values = &mut out[offset * width..(offset + 1) * width];
                let result = match &self.jit {
                    Some(code) => code.run(pass, &env, memo, values, &mut scratch),
                    None => interp::run(&env, memo, roots, values),
                };
                result.map_err(|message| ScoreError { index, message })?;
            }
            Ok(())
        };
        if !parallel {
            return chunk(0, items, slots, out);
        }
        let errors: Vec<ScoreError> = if slots.is_empty() {
            items
                .par_chunks(CHUNK)
                .zip(out.par_chunks_mut((CHUNK * width).max(1)))
                .enumerate()
                .filter_map(|(i, (items, out))| chunk(i * CHUNK, items, &mut [], out).err())
                .collect()
        } else {
            items
                .par_chunks(CHUNK)
                .zip(slots.par_chunks_mut(CHUNK * nodes))
                .zip(out.par_chunks_mut((CHUNK * width).max(1)))
                .enumerate()
                .filter_map(|(i, ((items, slots), out))| chunk(i * CHUNK, items, slots, out).err())
                .collect()
        };
        match errors.into_iter().min_by_key(|e| e.index) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// What an RL stage's graph gives for a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct StageScores {
    pub rewards: Vec<f64>,
    /// Each named reward term, per completion.
    pub terms: Vec<(String, Vec<f64>)>,
    /// With a `filter`: whether each completion's group is kept (every member passes it).
    pub kept: Option<Vec<bool>>,
    /// With an `advantage` expression: its value per completion.
    pub advantages: Option<Vec<f64>>,
    /// With a weighted KL penalty (`k3(beta = ..., weight = ...)`): the weight per completion.
    pub kl_weights: Option<Vec<f64>>,
}

/// The reward, terms, filter and advantage of an RL stage, scored together: one engine over the
/// stage's graph, so what they share is computed once.
pub struct StageRewards {
    engine: Engine,
    terms: Vec<String>,
    filter: bool,
    advantage: bool,
    kl_weight: bool,
}

/// The per-completion weight of the stage's KL penalty, in the loss or in the reward.
pub fn kl_weight(rl: &RlPlan) -> Option<NodeId> {
    [&rl.algorithm.kl, &rl.algorithm.kl_reward]
        .into_iter()
        .flatten()
        .find_map(|kl| kl.weight)
}

impl StageRewards {
    pub fn new(
        rl: &RlPlan,
        graph: &Graph,
        backend: Backend,
        threads: usize,
    ) -> Result<StageRewards, CompileError> {
        let mut roots = vec![rl.reward];
        roots.extend(rl.terms.iter().map(|t| t.node));
        roots.extend(rl.filter);
        roots.extend(rl.algorithm.advantage);
        roots.extend(kl_weight(rl));
        Ok(StageRewards {
            engine: Engine::new(graph, &roots, backend, threads)?,
            terms: rl.terms.iter().map(|t| t.name.clone()).collect(),
            filter: rl.filter.is_some(),
            advantage: rl.algorithm.advantage.is_some(),
            kl_weight: kl_weight(rl).is_some(),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Scores a batch that asks models. A first pass records what the judges will be asked, so
    /// that it goes out as one batch (`concurrency` requests at a time); the last pass reads the
    /// answers. Chat models' replies come first: `answer` samples the replies of a chat's calls
    /// (and hands them to `PolicyChat::answer`), and the pass runs again until no reply is
    /// missing. A reply may be part of another prompt, or read a judge's score, which each
    /// round fetches.
    pub fn score_judged(
        &self,
        items: &[Item<'_>],
        step: StepVars,
        judges: &Judges,
        mut answer: impl FnMut(&PolicyChat, Vec<ReplyCall>) -> Result<(), String>,
    ) -> Result<StageScores, String> {
        let failed = |e: ScoreError| format!("completion {}: {}", e.index + 1, e.message);
        if judges.is_empty() {
            return self.score(items, step, &NoJudge).map_err(failed);
        }
        let mut rounds = 0;
        loop {
            let recorder = Recorder::new(judges);
            self.score(items, step, &recorder).map_err(failed)?;
            let pending = judges.pending_replies(&recorder);
            judges.prefetch(&recorder);
            if pending.is_empty() {
                break;
            }
            rounds += 1;
            if rounds > MAX_REPLY_ROUNDS {
                return Err(format!(
                    "the rewards still ask chat models new prompts after {MAX_REPLY_ROUNDS} rounds of replies (a reply that feeds a prompt that feeds a reply ...)"
                ));
            }
            for (model, calls) in pending {
                answer(&judges.chats[&model], calls)?;
            }
        }
        let scores = self.score(items, step, judges).map_err(failed);
        judges.end_batch();
        scores
    }

    pub fn score(
        &self,
        items: &[Item<'_>],
        step: StepVars,
        judge: &dyn Judge,
    ) -> Result<StageScores, ScoreError> {
        let values = self.engine.score(items, step, judge)?;
        let width = 1
            + self.terms.len()
            + usize::from(self.filter)
            + usize::from(self.advantage)
            + usize::from(self.kl_weight);
        let column =
            |c: usize| -> Vec<f64> { values.iter().skip(c).step_by(width).copied().collect() };
        let kept = self.filter.then(|| {
            let passes = column(1 + self.terms.len());
            let groups: Vec<u64> = items.iter().map(|i| i.group).collect();
            let mut kept = vec![true; items.len()];
            for members in group::members(&groups) {
                let keep = members.iter().all(|&i| passes[i] > 0.0);
                members.iter().for_each(|&i| kept[i] = keep);
            }
            kept
        });
        Ok(StageScores {
            rewards: column(0),
            terms: self
                .terms
                .iter()
                .enumerate()
                .map(|(i, name)| (name.clone(), column(1 + i)))
                .collect(),
            kept,
            advantages: self
                .advantage
                .then(|| column(1 + self.terms.len() + usize::from(self.filter))),
            kl_weights: self.kl_weight.then(|| column(width - 1)),
        })
    }
}

/// Row-level nodes of a graph — prompt parts, SFT targets, a dataset's `where` and `order by` —
/// evaluated per row by the reference interpreter (they read the row and constants only, and run
/// once per example, not per completion).
pub struct RowProgram {
    program: Program,
    roots: Vec<NodeId>,
}

impl RowProgram {
    pub fn new(graph: &Graph, roots: &[NodeId]) -> Result<RowProgram, CompileError> {
        Ok(RowProgram {
            program: Program::new(graph, roots)?,
            roots: roots.to_vec(),
        })
    }

    /// The value of each root for `row`, owned.
    pub fn eval(
        &self,
        row: &serde_json::Map<String, serde_json::Value>,
        step: StepVars,
    ) -> Result<Vec<Value<'static>>, String> {
        let item = Item {
            text: "",
            tokens: None,
            truncated: None,
            row,
            group: 0,
        };
        let env = Env {
            program: &self.program,
            item: &item,
            index: 0,
            step,
            group_values: &[],
            judge: &NoJudge,
        };
        let mut memo = vec![None; self.program.graph.nodes.len()];
        self.roots
            .iter()
            .map(|&root| interp::demand(&env, &mut memo, root).map(Value::into_owned))
            .collect()
    }
}
