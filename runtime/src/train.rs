//! Training: the plan's stages in order, each handing its weights to the next. A step is one
//! batch: for SFT, one optimizer update on cross-entropy of the targets (prompt masked); for RL
//! (verl's convention), one rollout batch — sampled, scored, turned into advantages — and the
//! updates the algorithm makes on it (`epochs` passes of mini-batches). Schedules are evaluated
//! at the step; metrics go to `DIR/metrics.jsonl`, evaluations also to `DIR/eval.jsonl`,
//! checkpoints to `DIR/checkpoints/`.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use rlx_compiler::plan::{
    AlgorithmPlan, Graph, Perception, Plan, PromptPlan, RlPlan, Schedule, SftPlan, StageKind,
    StagePlan, StepVars,
};
use rlx_reward::group::{mean, std};
use rlx_reward::judge::{JudgeStats, Judges, PolicyChat, ReplyCall};
use rlx_reward::{Backend as RewardBackend, Item, RowProgram, StageRewards, Value};
use serde_json::{Map, json};

use crate::checkpoint::{self, Saved, State};
use crate::data::{self, Cursor, Row, Sampler};
use crate::judge::plan_judges;
use crate::logprob::{Packed, mask_tensor, pack, token_log_probs};
use crate::loss::{LossInput, LossSettings, Shares, policy_loss};
use crate::model::Decoder;
use crate::optim::{AdamW, AdamWSettings, Moments, load_parameters, named_parameters};
use crate::policy::{Policy, describe};
use crate::sample::{Rng, Sampled, Sampling, generate_with_images};
use crate::tokenizer::render_chat;
use crate::vision::{self, Pixels, VisionConfig};

/// Where an image goes in a rendered chat before the text is split around it (a character no
/// recipe text holds: a private-use code point).
const IMAGE_MARK: &str = "\u{F8FF}";

/// How `rlxc run` runs a plan.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub out: PathBuf,
    /// Stop (with a checkpoint) after this many steps in all.
    pub max_steps: Option<u64>,
    pub resume: bool,
    pub seed: Option<u64>,
    /// A checkpoint every this many steps (and at the end of each stage).
    pub save_every: u64,
    /// Checkpoints kept.
    pub keep: usize,
    /// Threads scoring rewards.
    pub threads: usize,
    /// Sequences per forward/backward pass; larger batches accumulate gradients.
    pub micro_batch: usize,
    /// Rows of an evaluation dataset used (all when `None`).
    pub eval_rows: Option<usize>,
    /// Tests: end the run after this step without a checkpoint, as a kill would.
    pub halt_after: Option<u64>,
}

impl RunOptions {
    pub fn new(out: PathBuf) -> RunOptions {
        RunOptions {
            out,
            max_steps: None,
            resume: false,
            seed: None,
            save_every: 50,
            keep: 3,
            threads: 1,
            micro_batch: 32,
            eval_rows: None,
            halt_after: None,
        }
    }
}

/// What the run reports as it goes (the CLI prints it).
pub enum Event<'a> {
    Resumed {
        from: &'a Path,
        step: u64,
    },
    Stage {
        name: &'a str,
        kind: &'static str,
        steps: u64,
    },
    Step {
        stage: &'a str,
        stage_step: u64,
        stage_steps: u64,
        step: u64,
        total_steps: u64,
        metrics: &'a Map<String, serde_json::Value>,
    },
    Eval {
        stage: &'a str,
        stage_step: u64,
        metrics: &'a BTreeMap<String, f64>,
    },
    Checkpoint {
        path: &'a Path,
    },
    /// Something the run recovered from that its user should know (a judge that fell back).
    Warning {
        message: &'a str,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct EvalRecord {
    pub stage: String,
    pub stage_step: u64,
    pub metrics: BTreeMap<String, f64>,
}

#[derive(Debug)]
pub struct Summary {
    pub steps: u64,
    /// Every evaluation of this invocation, in order.
    pub evals: Vec<EvalRecord>,
    /// The weights at the end, as a Hugging Face folder (`DIR/final`), when the run finished.
    pub final_folder: Option<PathBuf>,
    /// The final parameters (decoder paths), for tests.
    pub final_parameters: Vec<(String, Vec<usize>, Vec<f32>)>,
}

enum Flow {
    Continue,
    Stop,
}

/// Runs every stage of `plan` (or continues a run under `options.out`).
pub fn run<A: AutodiffBackend>(
    plan: &Plan,
    options: &RunOptions,
    device: &A::Device,
    events: &mut dyn FnMut(Event),
) -> Result<Summary, String> {
    let policy = describe(plan)?;
    let seed = options.seed.unwrap_or(plan.seed);
    let model = policy.weights::<A>(seed, device)?;
    let optimizer = AdamW::new(AdamWSettings {
        betas: plan.optimizer.betas,
        eps: plan.optimizer.eps,
        weight_decay: plan.optimizer.weight_decay,
        grad_clip: plan.optimizer.grad_clip,
    });
    let state = State {
        version: checkpoint::STATE_VERSION,
        plan_digest: digest(plan, seed),
        step: 0,
        stage: 0,
        stage_name: plan
            .stages
            .first()
            .map(|s| s.name.clone())
            .unwrap_or_default(),
        stage_step: 0,
        cursor: Cursor::default(),
        rng: seed,
        optimizer_updates: 0,
    };
    let mut trainer = Trainer {
        plan,
        options,
        device: device.clone(),
        policy,
        seed,
        model: Some(model),
        optimizer,
        state,
        reference: None,
        events,
        evals: Vec::new(),
        metrics_file: None,
        last_checkpoint: None,
        images: RefCell::new(HashMap::new()),
        judges: plan_judges::<A::InnerBackend>(plan, device)?,
    };
    trainer.check_prompt_lengths()?;
    trainer.start()?;
    let total = trainer.total_steps()?;
    while trainer.state.stage < plan.stages.len() {
        let stage = &plan.stages[trainer.state.stage];
        let flow = match &stage.kind {
            StageKind::Sft(sft) => trainer.run_sft(stage, sft, total)?,
            StageKind::Rl(rl) => trainer.run_rl(stage, rl, total)?,
        };
        if let Flow::Stop = flow {
            return Ok(trainer.summary(None));
        }
        trainer.next_stage()?;
    }
    let folder = trainer.write_final()?;
    Ok(trainer.summary(Some(folder)))
}

fn digest(plan: &Plan, seed: u64) -> String {
    // FNV-1a over the plan's JSON: stable across runs and platforms.
    let text = plan.to_json();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes().chain(seed.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

struct Trainer<'p, 'e, A: AutodiffBackend> {
    plan: &'p Plan,
    options: &'p RunOptions,
    device: A::Device,
    policy: Policy,
    seed: u64,
    /// Taken out while the optimizer updates it.
    model: Option<Decoder<A>>,
    optimizer: AdamW<A::InnerBackend>,
    state: State,
    /// The weights KL terms compare with: the policy at the start of the RL stage.
    reference: Option<Decoder<A::InnerBackend>>,
    events: &'e mut dyn FnMut(Event),
    evals: Vec<EvalRecord>,
    metrics_file: Option<std::fs::File>,
    last_checkpoint: Option<PathBuf>,
    /// Images prepared for the encoder, by path: a group's rollouts and every epoch share them.
    images: RefCell<HashMap<String, Arc<Pixels>>>,
    /// The judges the rewards ask.
    judges: Judges,
}

/// A prompt's tokens and the images its placeholders stand for, in order.
#[derive(Clone, Default)]
struct Prompt {
    tokens: Vec<u32>,
    images: Vec<Arc<Pixels>>,
    /// The images' files, for their masked copies (PAPO).
    paths: Vec<String>,
}

/// One SFT example, tokenized.
struct Example {
    prompt: Prompt,
    target: Vec<u32>,
}

impl<A: AutodiffBackend> Trainer<'_, '_, A> {
    fn model(&self) -> &Decoder<A> {
        self.model
            .as_ref()
            .expect("the model is in place between updates")
    }

    fn out(&self) -> &Path {
        &self.options.out
    }

    /// Opens the output folder: a new run refuses a folder holding one; `--resume` loads the
    /// newest checkpoint and drops metrics written after it.
    fn start(&mut self) -> Result<(), String> {
        let out = self.options.out.clone();
        std::fs::create_dir_all(&out)
            .map_err(|e| format!("`{}`: cannot create: {e}", out.display()))?;
        let metrics = out.join("metrics.jsonl");
        if self.options.resume {
            if let Some(loaded) = checkpoint::load_latest(&out, &self.policy.config)? {
                if loaded.state.plan_digest != self.state.plan_digest {
                    return Err(format!(
                        "`{}` was written by another recipe or seed: resume with the same plan, or choose another --out",
                        loaded.path.display()
                    ));
                }
                let model = self.model.take().expect("model");
                self.model = Some(
                    load_parameters(model, &loaded.model, &self.device)
                        .map_err(|e| format!("`{}`: {e}", loaded.path.display()))?,
                );
                self.optimizer.updates = loaded.state.optimizer_updates;
                self.optimizer.moments = moments_from(&loaded.moments, &self.device)?;
                if let Some(reference) = &loaded.reference {
                    let fresh = self.policy.config.init::<A::InnerBackend>(&self.device);
                    self.reference = Some(load_parameters(fresh, reference, &self.device)?);
                }
                self.state = loaded.state;
                keep_metrics_before(&metrics, self.state.step)?;
                keep_metrics_before(&out.join("eval.jsonl"), self.state.step)?;
                (self.events)(Event::Resumed {
                    from: &loaded.path,
                    step: self.state.step,
                });
                self.last_checkpoint = Some(loaded.path);
            }
        } else if metrics.exists() || !checkpoint::list(&out).is_empty() {
            return Err(format!(
                "`{}` holds a run already: pass --resume to continue it, or choose another --out",
                out.display()
            ));
        }
        self.metrics_file = Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&metrics)
                .map_err(|e| format!("`{}`: cannot open: {e}", metrics.display()))?,
        );
        Ok(())
    }

    fn total_steps(&self) -> Result<u64, String> {
        let mut total = 0;
        for stage in &self.plan.stages {
            total += match &stage.kind {
                StageKind::Rl(rl) => u64::from(rl.steps),
                StageKind::Sft(sft) => {
                    // Counting SFT steps needs the rows with a target: the stage's data is read.
                    let examples =
                        self.sft_examples(stage, sft, &data::load(self.plan, &stage.data)?)?;
                    sft_steps(sft, examples.len())
                }
            };
        }
        Ok(total)
    }

    fn next_stage(&mut self) -> Result<(), String> {
        self.state.stage += 1;
        self.state.stage_step = 0;
        self.state.cursor = Cursor::default();
        self.state.stage_name = self
            .plan
            .stages
            .get(self.state.stage)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        self.reference = None;
        // A checkpoint at each stage boundary: a resumed run starts the next stage afresh.
        self.save()?;
        Ok(())
    }

    fn stage_seed(&self) -> u64 {
        self.seed ^ (self.state.stage as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407)
    }

    fn step_vars(&self, stage_steps: u64) -> StepVars {
        StepVars {
            step: self.state.step,
            stage_step: self.state.stage_step,
            stage_steps,
        }
    }

    fn learning_rate(&self, stage: &StagePlan, vars: StepVars) -> Result<f64, String> {
        let schedule: &Schedule = stage.lr.as_ref().unwrap_or(&self.plan.optimizer.lr);
        schedule
            .at(vars)
            .map_err(|e| format!("stage `{}`: the learning rate: {}", stage.name, e.message))
    }

    // ----- prompts and examples -----

    /// The chat of a prompt for a row, rendered (ChatML), with `IMAGE_MARK` where each image
    /// (a part of type `image`) goes, and the images' paths in order.
    fn prompt_text(
        &self,
        prompt: &PromptPlan,
        program: &RowProgram,
        graph: &Graph,
        row: &Row,
        vars: StepVars,
    ) -> Result<(String, Vec<String>), String> {
        let values = program.eval(row, vars)?;
        let mut at = 0;
        let mut messages = Vec::new();
        let mut images = Vec::new();
        for message in &prompt.messages {
            let mut content = String::new();
            for &part in &message.parts {
                let is_image = graph
                    .nodes
                    .get(part as usize)
                    .is_some_and(|n| n.ty == "image");
                match &values[at] {
                    Value::Text(path) if is_image => {
                        content.push_str(IMAGE_MARK);
                        images.push(path.to_string());
                    }
                    Value::Text(text) => content.push_str(text),
                    Value::None => {}
                    other => {
                        return Err(format!(
                            "prompt `{}`: a part of the {} message is {other}, not text or an image",
                            prompt.name, message.role
                        ));
                    }
                }
                at += 1;
            }
            messages.push((message.role.clone(), content));
        }
        Ok((render_chat(&messages), images))
    }

    /// The tokens of a rendered prompt whose images take `image_tokens` tokens each: Qwen2-VL's
    /// `<|vision_start|>`, one `<|image_pad|>` per image token and `<|vision_end|>`, placed by id
    /// between the encoded texts.
    fn encode_prompt(&self, text: &str, image_tokens: &[usize]) -> Result<Vec<u32>, String> {
        let tokenizer = &self.policy.tokenizer;
        if image_tokens.is_empty() {
            return tokenizer.encode(text);
        }
        let special = |name: &str| {
            tokenizer
                .special(name)
                .ok_or_else(|| format!("the policy's tokenizer has no `{name}` token"))
        };
        let (start, pad, end) = (
            special("<|vision_start|>")?,
            special("<|image_pad|>")?,
            special("<|vision_end|>")?,
        );
        let mut tokens = Vec::new();
        for (index, piece) in text.split(IMAGE_MARK).enumerate() {
            if index > 0 {
                tokens.push(start);
                tokens.extend(std::iter::repeat_n(pad, image_tokens[index - 1]));
                tokens.push(end);
            }
            tokens.extend(tokenizer.encode(piece)?);
        }
        Ok(tokens)
    }

    /// A prompt for a row: its tokens, and its images prepared for the encoder.
    fn prompt_tokens(
        &self,
        prompt: &PromptPlan,
        program: &RowProgram,
        graph: &Graph,
        row: &Row,
        vars: StepVars,
    ) -> Result<Prompt, String> {
        let (text, paths) = self.prompt_text(prompt, program, graph, row, vars)?;
        let images = paths
            .iter()
            .map(|path| self.image(path))
            .collect::<Result<Vec<_>, _>>()?;
        let counts: Vec<usize> = images.iter().map(|i| i.tokens()).collect();
        let tokens = self.encode_prompt(&text, &counts)?;
        Ok(Prompt {
            tokens,
            images,
            paths,
        })
    }

    /// The length of a row's prompt, reading only the images' sizes from their headers.
    fn prompt_length(
        &self,
        prompt: &PromptPlan,
        program: &RowProgram,
        graph: &Graph,
        row: &Row,
    ) -> Result<(usize, usize), String> {
        let vars = StepVars {
            step: 0,
            stage_step: 0,
            stage_steps: 0,
        };
        let (text, paths) = self.prompt_text(prompt, program, graph, row, vars)?;
        let mut counts = Vec::with_capacity(paths.len());
        for path in &paths {
            let config = self.vision_config()?;
            let (width, height) = image::image_dimensions(path)
                .map_err(|e| format!("`{path}`: not a readable image: {e}"))?;
            counts.push(
                config
                    .tokens_for(width as usize, height as usize)
                    .map_err(|e| format!("`{path}`: {e}"))?,
            );
        }
        let tokens = self.encode_prompt(&text, &counts)?;
        Ok((tokens.len(), counts.iter().sum()))
    }

    /// Every prompt of every RL stage within its stage's `rollout.max_prompt` tokens, images
    /// counted, checked before the first step (over-long multimodal prompts are the commonest
    /// failure of such runs, and otherwise surface mid-run).
    fn check_prompt_lengths(&self) -> Result<(), String> {
        for stage in &self.plan.stages {
            let StageKind::Rl(rl) = &stage.kind else {
                continue;
            };
            let program = self.prompt_program(stage, &rl.prompt, &[])?;
            let rows = data::load(self.plan, &stage.data)?;
            let limit = rl.rollout.max_prompt as usize;
            for (index, row) in rows.iter().enumerate() {
                let (length, image_tokens) = self
                    .prompt_length(&rl.prompt, &program, &stage.graph, row)
                    .map_err(|e| format!("stage `{}` row {}: {e}", stage.name, index + 1))?;
                if length > limit {
                    return Err(format!(
                        "stage `{}` row {} of `{}`: the prompt is {length} tokens ({image_tokens} of them image tokens), above `rollout.max_prompt` = {limit}; raise it, shorten the prompt, or lower the model's `max_pixels`",
                        stage.name,
                        index + 1,
                        stage.data
                    ));
                }
            }
        }
        Ok(())
    }

    fn vision_config(&self) -> Result<&VisionConfig, String> {
        self.policy.config.vision.as_ref().ok_or_else(|| {
            "the prompt shows an image, and the policy is a text model (use a vision-language model such as `tiny_vl(...)`)".to_string()
        })
    }

    /// An image prepared for the policy's encoder, read once per run.
    fn image(&self, path: &str) -> Result<Arc<Pixels>, String> {
        if let Some(pixels) = self.images.borrow().get(path) {
            return Ok(pixels.clone());
        }
        let pixels = Arc::new(vision::load_image(Path::new(path), self.vision_config()?)?);
        self.images
            .borrow_mut()
            .insert(path.to_string(), pixels.clone());
        Ok(pixels)
    }

    /// The prompt with its images masked as PAPO masks them (one draw per image).
    fn masked_prompt(
        &self,
        prompt: &Prompt,
        perception: &Perception,
        rng: &mut Rng,
    ) -> Result<Prompt, String> {
        if prompt.paths.is_empty() {
            return Ok(prompt.clone());
        }
        let config = self.vision_config()?;
        let images = prompt
            .paths
            .iter()
            .map(|path| {
                vision::load_masked_image(
                    Path::new(path),
                    config,
                    perception.patch,
                    perception.prob,
                    rng,
                )
                .map(Arc::new)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Prompt {
            tokens: prompt.tokens.clone(),
            images,
            paths: prompt.paths.clone(),
        })
    }

    /// Prompts and completions laid out for a forward pass, the prompts' images placed.
    fn pack(&self, prompts: &[&Prompt], completions: &[&[u32]]) -> Result<Packed, String> {
        pack_prompts(prompts, completions, self.model())
    }

    fn prompt_program(
        &self,
        stage: &StagePlan,
        prompt: &PromptPlan,
        extra: &[u32],
    ) -> Result<RowProgram, String> {
        let mut roots: Vec<u32> = prompt
            .messages
            .iter()
            .flat_map(|m| m.parts.iter().copied())
            .collect();
        roots.extend_from_slice(extra);
        RowProgram::new(&stage.graph, &roots)
            .map_err(|e| format!("stage `{}`: {}", stage.name, e.message))
    }

    fn sft_examples(
        &self,
        stage: &StagePlan,
        sft: &SftPlan,
        rows: &[Row],
    ) -> Result<Vec<Example>, String> {
        let empty = PromptPlan {
            name: String::new(),
            messages: Vec::new(),
        };
        let prompt = sft.prompt.as_ref().unwrap_or(&empty);
        let program = self.prompt_program(stage, prompt, &[sft.target])?;
        let parts = prompt.messages.iter().map(|m| m.parts.len()).sum::<usize>();
        let vars = StepVars {
            step: 0,
            stage_step: 0,
            stage_steps: 0,
        };
        let tokenizer = &self.policy.tokenizer;
        let mut examples = Vec::new();
        for (index, row) in rows.iter().enumerate() {
            let values = program
                .eval(row, vars)
                .map_err(|e| format!("stage `{}` row {}: {e}", stage.name, index + 1))?;
            let target = match &values[parts] {
                Value::Text(text) => text.to_string(),
                Value::None => continue,
                other => {
                    return Err(format!(
                        "stage `{}`: the target is {other}, not text",
                        stage.name
                    ));
                }
            };
            let prompt_tokens = if sft.prompt.is_some() {
                self.prompt_tokens(prompt, &program, &stage.graph, row, vars)?
            } else {
                // A target on its own starts after the end-of-text token.
                Prompt {
                    tokens: vec![tokenizer.pad()],
                    images: Vec::new(),
                    paths: Vec::new(),
                }
            };
            let mut target_tokens = tokenizer.encode(&target)?;
            target_tokens.extend(tokenizer.end_of_turn());
            examples.push(Example {
                prompt: prompt_tokens,
                target: target_tokens,
            });
        }
        Ok(examples)
    }

    // ----- SFT -----

    fn run_sft(&mut self, stage: &StagePlan, sft: &SftPlan, total: u64) -> Result<Flow, String> {
        let rows = data::load(self.plan, &stage.data)?;
        let examples = self.sft_examples(stage, sft, &rows)?;
        if examples.is_empty() {
            return Err(format!(
                "stage `{}`: no row of `{}` has a target",
                stage.name, stage.data
            ));
        }
        let steps = sft_steps(sft, examples.len());
        let eval = match &stage.eval {
            Some(eval) => {
                let rows = data::load(self.plan, &eval.data)?;
                let mut examples = self.sft_examples(stage, sft, &rows)?;
                examples.truncate(self.options.eval_rows.unwrap_or(usize::MAX));
                Some((eval.every.max(1) as u64, examples))
            }
            None => None,
        };
        (self.events)(Event::Stage {
            name: &stage.name,
            kind: "sft",
            steps,
        });
        let mut sampler = Sampler::new(examples.len(), true, self.stage_seed(), self.state.cursor);
        while self.state.stage_step < steps {
            let mut metrics = Map::new();
            if let Some((every, eval_examples)) = &eval
                && self.state.stage_step.is_multiple_of(*every)
            {
                let record = self.eval_sft(stage, eval_examples)?;
                merge_eval(&mut metrics, &record);
            }
            let vars = self.step_vars(steps);
            let lr = self.learning_rate(stage, vars)?;
            let started = Instant::now();
            let batch: Vec<&Example> = sampler
                .next_in_epoch(sft.batch.max(1) as usize)
                .into_iter()
                .map(|i| &examples[i])
                .collect();
            let (loss, tokens, grad_norm) = self.sft_update(&batch, lr)?;
            self.state.cursor = sampler.cursor;
            metrics.insert("loss".into(), json!(loss));
            metrics.insert("lr".into(), json!(lr));
            metrics.insert("grad_norm".into(), json!(grad_norm));
            metrics.insert("tokens/trained".into(), json!(tokens));
            metrics.insert(
                "time/train_s".into(),
                json!(started.elapsed().as_secs_f64()),
            );
            if let Flow::Stop = self.finish_step(stage, steps, total, metrics)? {
                return Ok(Flow::Stop);
            }
        }
        if let Some((_, eval_examples)) = &eval {
            self.eval_sft(stage, eval_examples)?;
        }
        Ok(Flow::Continue)
    }

    /// One update on cross-entropy of the batch's targets (the mean over target tokens).
    fn sft_update(&mut self, batch: &[&Example], lr: f64) -> Result<(f64, usize, f64), String> {
        let tokens: usize = batch.iter().map(|e| e.target.len()).sum();
        let mut accumulator = GradientsAccumulator::<Decoder<A>>::new();
        let mut loss_total = 0.0;
        for micro in batch.chunks(self.options.micro_batch.max(1)) {
            let prompts: Vec<&Prompt> = micro.iter().map(|e| &e.prompt).collect();
            let targets: Vec<&[u32]> = micro.iter().map(|e| e.target.as_slice()).collect();
            let packed = self.pack(&prompts, &targets)?;
            let (log_probs, _) = token_log_probs(self.model(), &packed, false, &self.device);
            let loss = log_probs.sum().neg() / tokens.max(1) as f64;
            let value = scalar(loss.clone());
            check_finite("loss", value, self.state.step, &self.last_checkpoint)?;
            loss_total += value;
            let grads = GradientsParams::from_grads(loss.backward(), self.model());
            accumulator.accumulate(self.model(), grads);
        }
        let grad_norm = self.apply(accumulator.grads(), lr)?;
        Ok((loss_total, tokens, grad_norm))
    }

    /// Teacher-forced cross-entropy on held-out examples.
    fn eval_sft(&mut self, stage: &StagePlan, examples: &[Example]) -> Result<EvalRecord, String> {
        let model = self.model().valid();
        let mut total = 0.0;
        let mut tokens = 0usize;
        for chunk in examples.chunks(self.options.micro_batch.max(1)) {
            let prompts: Vec<&Prompt> = chunk.iter().map(|e| &e.prompt).collect();
            let targets: Vec<&[u32]> = chunk.iter().map(|e| e.target.as_slice()).collect();
            let packed = self.pack(&prompts, &targets)?;
            let (log_probs, _) = token_log_probs(&model, &packed, false, &self.device);
            total -= scalar(log_probs.sum());
            tokens += chunk.iter().map(|e| e.target.len()).sum::<usize>();
        }
        let mut metrics = BTreeMap::new();
        metrics.insert("eval/loss".to_string(), total / tokens.max(1) as f64);
        self.record_eval(stage, metrics)
    }

    // ----- RL -----

    fn run_rl(&mut self, stage: &StagePlan, rl: &RlPlan, total: u64) -> Result<Flow, String> {
        let rows = data::load(self.plan, &stage.data)?;
        let program = self.prompt_program(stage, &rl.prompt, &[])?;
        let rewards = StageRewards::new(rl, &stage.graph, RewardBackend::Jit, self.options.threads)
            .map_err(|e| format!("stage `{}`: the reward: {}", stage.name, e.message))?;
        let algorithm = &rl.algorithm;
        let group = algorithm.group.max(1) as usize;
        let prompts_per_step = (rl.batch as usize / group).max(1);
        let sampling = self.sampling(rl)?;
        let eval = match &stage.eval {
            Some(eval) => {
                let mut rows = data::load(self.plan, &eval.data)?;
                rows.truncate(self.options.eval_rows.unwrap_or(usize::MAX));
                Some((eval.every.max(1) as u64, eval.max_tokens as usize, rows))
            }
            None => None,
        };
        let needs_reference = algorithm.kl.is_some() || algorithm.kl_reward.is_some();
        if needs_reference && self.reference.is_none() {
            self.reference = Some(self.model().valid());
        }
        let steps = u64::from(rl.steps);
        (self.events)(Event::Stage {
            name: &stage.name,
            kind: "rl",
            steps,
        });
        let mut sampler =
            Sampler::new(rows.len(), rl.shuffle, self.stage_seed(), self.state.cursor);
        let mut prompt_cache: HashMap<usize, Prompt> = HashMap::new();
        while self.state.stage_step < steps {
            let mut metrics = Map::new();
            if let Some((every, max_tokens, eval_rows)) = &eval
                && self.state.stage_step.is_multiple_of(*every)
            {
                let record = self.eval_rl(stage, rl, &program, &rewards, eval_rows, *max_tokens)?;
                merge_eval(&mut metrics, &record);
            }
            let vars = self.step_vars(steps);
            let lr = self.learning_rate(stage, vars)?;
            let judged_before = self.judges.stats();

            // Rollouts until the batch is full of kept groups (one round without a filter).
            let filtering = algorithm.dynamic_sampling || rl.filter.is_some();
            let rounds = if filtering { MAX_SAMPLING_ROUNDS } else { 1 };
            let mut batch = RolloutBatch::default();
            let (mut rollout_s, mut reward_s) = (0.0, 0.0);
            let mut generated_tokens = 0usize;
            let mut all_rewards: Vec<f64> = Vec::new();
            let mut all_terms: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            let mut all_lengths: Vec<f64> = Vec::new();
            for _ in 0..rounds {
                if batch.groups >= prompts_per_step {
                    break;
                }
                let picked = sampler.next(prompts_per_step);
                let mut prompts = Vec::with_capacity(picked.len() * group);
                for &row in &picked {
                    if let std::collections::hash_map::Entry::Vacant(slot) = prompt_cache.entry(row)
                    {
                        let tokens = self
                            .prompt_tokens(&rl.prompt, &program, &stage.graph, &rows[row], vars)
                            .map_err(|e| format!("stage `{}` row {}: {e}", stage.name, row + 1))?;
                        slot.insert(tokens);
                    }
                    for _ in 0..group {
                        prompts.push(prompt_cache[&row].clone());
                    }
                }
                let started = Instant::now();
                let mut rng = Rng(self.state.rng);
                let policy = self.model().valid();
                let sampled =
                    generate_prompts(&policy, &prompts, &sampling, &mut rng, &self.device)?;
                self.state.rng = rng.0;
                rollout_s += started.elapsed().as_secs_f64();

                let started = Instant::now();
                let mut rng = Rng(self.state.rng);
                let scores = self
                    .score(&rewards, &sampled, &sampling, vars, &mut rng, |i| {
                        (&rows[picked[i / group]], (i / group) as u64)
                    })
                    .map_err(|e| format!("stage `{}`: scoring {e}", stage.name))?;
                self.state.rng = rng.0;
                reward_s += started.elapsed().as_secs_f64();
                generated_tokens += sampled.iter().map(|s| s.tokens.len()).sum::<usize>();
                all_rewards.extend_from_slice(&scores.rewards);
                all_lengths.extend(sampled.iter().map(|s| s.tokens.len() as f64));
                for (name, values) in &scores.terms {
                    all_terms
                        .entry(name.clone())
                        .or_default()
                        .extend_from_slice(values);
                }
                for g in 0..picked.len() {
                    if batch.groups >= prompts_per_step {
                        break;
                    }
                    let members = g * group..(g + 1) * group;
                    let values = &scores.rewards[members.clone()];
                    let kept_by_filter = scores.kept.as_ref().is_none_or(|k| k[g * group]);
                    let varied = values.iter().any(|v| *v != values[0]);
                    if !kept_by_filter || (algorithm.dynamic_sampling && !varied) {
                        continue;
                    }
                    let masked = match &algorithm.perception {
                        Some(perception) => {
                            let mut rng = Rng(self.state.rng);
                            let masked =
                                self.masked_prompt(&prompts[g * group], perception, &mut rng)?;
                            self.state.rng = rng.0;
                            Some(masked)
                        }
                        None => None,
                    };
                    for i in members {
                        if let Some(masked) = &masked {
                            batch.masked_prompts.push(masked.clone());
                        }
                        if let Some(weights) = &scores.kl_weights {
                            batch.kl_weights.push(weights[i]);
                        }
                        batch.prompts.push(prompts[i].clone());
                        batch.completions.push(sampled[i].tokens.clone());
                        batch.rewards.push(scores.rewards[i]);
                        batch.groups_of.push(batch.groups as u64);
                        if let Some(advantages) = &scores.advantages {
                            batch.expression_advantages.push(advantages[i]);
                        }
                    }
                    batch.groups += 1;
                }
            }

            metrics.insert("lr".into(), json!(lr));
            metrics.insert("reward/mean".into(), json!(mean(&all_rewards)));
            metrics.insert("reward/std".into(), json!(std(&all_rewards)));
            for (name, values) in &all_terms {
                metrics.insert(format!("reward/{name}/mean"), json!(mean(values)));
            }
            metrics.insert("tokens/generated".into(), json!(generated_tokens));
            metrics.insert("completion/mean_length".into(), json!(mean(&all_lengths)));
            metrics.insert("batch/kept_groups".into(), json!(batch.groups));
            metrics.insert("time/rollout_s".into(), json!(rollout_s));
            metrics.insert("time/reward_s".into(), json!(reward_s));
            self.judge_metrics(&judged_before, &mut metrics);
            let started = Instant::now();
            let trained = if batch.groups > 0 {
                self.rl_update(rl, algorithm, &batch, vars, lr)?
            } else {
                TrainReport::default()
            };
            metrics.insert("loss".into(), json!(trained.loss));
            metrics.insert("kl".into(), json!(trained.kl));
            if algorithm.perception.is_some() {
                metrics.insert("perception/kl".into(), json!(trained.perception_kl));
            }
            if algorithm.entropy != 0.0 {
                metrics.insert("entropy".into(), json!(trained.entropy));
            }
            metrics.insert("grad_norm".into(), json!(trained.grad_norm));
            metrics.insert("updates".into(), json!(trained.updates));
            metrics.insert(
                "time/train_s".into(),
                json!(started.elapsed().as_secs_f64()),
            );
            self.state.cursor = sampler.cursor;
            if let Flow::Stop = self.finish_step(stage, steps, total, metrics)? {
                return Ok(Flow::Stop);
            }
        }
        if let Some((_, max_tokens, eval_rows)) = &eval {
            self.eval_rl(stage, rl, &program, &rewards, eval_rows, *max_tokens)?;
        }
        Ok(Flow::Continue)
    }

    fn sampling(&self, rl: &RlPlan) -> Result<Sampling, String> {
        let tokenizer = &self.policy.tokenizer;
        let mut stop = tokenizer.end_tokens();
        let mut stop_sequences = Vec::new();
        for text in &rl.rollout.stop {
            let tokens = tokenizer.encode(text)?;
            match tokens.as_slice() {
                [single] => stop.push(*single),
                _ => stop_sequences.push(tokens),
            }
        }
        Ok(Sampling {
            temperature: rl.rollout.temperature,
            top_p: rl.rollout.top_p,
            top_k: rl.rollout.top_k as usize,
            max_tokens: rl.rollout.max_tokens as usize,
            stop,
            stop_sequences,
        })
    }

    /// Scores sampled completions with the stage's rewards; `row_and_group` gives each one's row
    /// and group. Chat models' replies are sampled with `rng`.
    fn score<'r>(
        &self,
        rewards: &StageRewards,
        sampled: &[crate::sample::Sampled],
        sampling: &Sampling,
        vars: StepVars,
        rng: &mut Rng,
        row_and_group: impl Fn(usize) -> (&'r Row, u64),
    ) -> Result<rlx_reward::StageScores, String> {
        let texts: Vec<String> = sampled
            .iter()
            .map(|s| self.completion_text(&s.tokens, sampling))
            .collect();
        let items: Vec<Item<'_>> = sampled
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let (row, group) = row_and_group(i);
                Item {
                    text: &texts[i],
                    tokens: Some(s.tokens.len() as i64),
                    truncated: Some(s.truncated),
                    row,
                    group,
                }
            })
            .collect();
        rewards.score_judged(&items, vars, &self.judges, |chat, calls| {
            self.answer_chat(chat, calls, sampling, rng)
        })
    }

    /// Samples the policy's replies to a chat model's calls: text only, with the current weights,
    /// at the chat's settings where it gives them and the rollout's (or the evaluation's)
    /// elsewhere.
    fn answer_chat(
        &self,
        chat: &PolicyChat,
        calls: Vec<ReplyCall>,
        rollout: &Sampling,
        rng: &mut Rng,
    ) -> Result<(), String> {
        let settings = &chat.settings;
        let model = &settings.name;
        let tokenizer = &self.policy.tokenizer;
        let sampling = Sampling {
            temperature: settings.temperature.unwrap_or(rollout.temperature),
            top_p: settings.top_p.unwrap_or(rollout.top_p),
            top_k: settings.top_k.map_or(rollout.top_k, |k| k as usize),
            max_tokens: settings
                .max_tokens
                .map_or(rollout.max_tokens, |n| n as usize),
            // A reply ends at the end of its turn, not at the rollout's stop strings.
            stop: tokenizer.end_tokens(),
            stop_sequences: Vec::new(),
        };
        let started = Instant::now();
        let inputs = calls
            .iter()
            .map(|(_, prompt)| {
                Ok(Prompt {
                    tokens: tokenizer.encode(&render_chat(&chat.messages(prompt)))?,
                    ..Prompt::default()
                })
            })
            .collect::<Result<Vec<_>, String>>()
            .map_err(|e| format!("chat model `{model}`: {e}"))?;
        let policy = self.model().valid();
        let sampled = generate_prompts(&policy, &inputs, &sampling, rng, &self.device)
            .map_err(|e| format!("chat model `{model}`: {e}"))?;
        let replies = sampled
            .iter()
            .map(|s| self.completion_text(&s.tokens, &sampling))
            .collect();
        chat.answer(calls, replies, started.elapsed().as_secs_f64());
        Ok(())
    }

    /// What each judge did since `before`, as metrics; a warning naming the last failure when
    /// some calls fell back.
    fn judge_metrics(
        &mut self,
        before: &BTreeMap<String, JudgeStats>,
        metrics: &mut Map<String, serde_json::Value>,
    ) {
        for (name, now) in self.judges.stats() {
            let delta = match before.get(&name) {
                Some(earlier) => now.since(earlier),
                None => now,
            };
            let prefix = format!("judge/{name}");
            metrics.insert(format!("{prefix}/asked"), json!(delta.asked));
            metrics.insert(format!("{prefix}/requests"), json!(delta.requests));
            metrics.insert(format!("{prefix}/cache_hits"), json!(delta.cache_hits));
            metrics.insert(format!("{prefix}/retries"), json!(delta.retries));
            metrics.insert(format!("{prefix}/fallbacks"), json!(delta.fallbacks));
            metrics.insert(format!("{prefix}/time_s"), json!(delta.seconds));
            if delta.fallbacks > 0 {
                let message = format!(
                    "{} of {} scores of judge `{name}` fell back to its declared value; last failure: {}",
                    delta.fallbacks,
                    delta.asked,
                    delta.last_error.as_deref().unwrap_or("unknown")
                );
                (self.events)(Event::Warning { message: &message });
            }
        }
    }

    /// The completion's text as rewards see it: without the end-of-turn token.
    fn completion_text(&self, tokens: &[u32], sampling: &Sampling) -> String {
        let end = self.policy.tokenizer.end_tokens();
        let kept = match tokens.last() {
            Some(last) if end.contains(last) && sampling.stop.contains(last) => {
                &tokens[..tokens.len() - 1]
            }
            _ => tokens,
        };
        self.policy.tokenizer.decode(kept)
    }

    /// The updates of one rollout batch: old and reference log-probs first (no gradients), the
    /// KL penalty in the reward, advantages, then `epochs` passes of mini-batches.
    fn rl_update(
        &mut self,
        rl: &RlPlan,
        algorithm: &AlgorithmPlan,
        batch: &RolloutBatch,
        vars: StepVars,
        lr: f64,
    ) -> Result<TrainReport, String> {
        let n = batch.completions.len();
        let minibatch = match (algorithm.minibatch, rl.minibatch) {
            (0, 0) => n,
            (0, m) | (m, _) => (m as usize).min(n),
        };
        let updates_per_batch = algorithm.epochs.max(1) as usize * n.div_ceil(minibatch);
        let micro = self.options.micro_batch.max(1);
        // Log-probs of the sampling policy are needed when the weights move between updates or a
        // KL penalty is in the reward; otherwise the first forward pass gives them (ratio 1).
        let old = if updates_per_batch > 1 || algorithm.kl_reward.is_some() {
            Some(self.sequence_log_probs(&self.model().valid(), batch, micro, false)?)
        } else {
            None
        };
        let reference = self
            .reference
            .as_ref()
            .map(|reference| self.sequence_log_probs(reference, batch, micro, false))
            .transpose()?;
        // PAPO: the sampled tokens under masked images, by the policy before this batch's updates.
        let masked = if algorithm.perception.is_some() {
            Some(self.sequence_log_probs(&self.model().valid(), batch, micro, true)?)
        } else {
            None
        };
        let kl_weight = |i: usize| batch.kl_weights.get(i).copied().unwrap_or(1.0);
        let mut rewards = batch.rewards.clone();
        let mut kl_metric = 0.0;
        if let (Some(kl), Some(old), Some(reference)) = (&algorithm.kl_reward, &old, &reference) {
            let beta = kl.beta.at(vars).map_err(|e| e.message)?;
            let mut total = 0.0;
            for i in 0..n {
                let kl_sum: f64 = old[i]
                    .iter()
                    .zip(&reference[i])
                    .map(|(&p, &r)| kl_term(kl.estimator, f64::from(p) - f64::from(r)))
                    .sum();
                rewards[i] -= beta * kl_weight(i) * kl_sum;
                total += kl_sum / old[i].len().max(1) as f64;
            }
            kl_metric = total / n as f64;
        }
        let advantages = if batch.expression_advantages.len() == n {
            batch.expression_advantages.clone()
        } else {
            rlx_reward::group::advantages(
                &rewards,
                &batch.groups_of,
                algorithm.baseline,
                algorithm.scale,
                1e-6,
            )
        };
        let settings = LossSettings::of(algorithm, rl.rollout.max_tokens, vars)?;
        let mut report = TrainReport::default();
        let (mut kl_total, mut entropy_total, mut losses) = (0.0, 0.0, 0usize);
        let mut perception_total = 0.0;
        for _ in 0..algorithm.epochs.max(1) {
            for start in (0..n).step_by(minibatch) {
                let members: Vec<usize> = (start..(start + minibatch).min(n)).collect();
                let tokens: usize = members
                    .iter()
                    .map(|&i| batch.completions[i].len().max(1))
                    .sum();
                let mut accumulator = GradientsAccumulator::<Decoder<A>>::new();
                for chunk in members.chunks(micro) {
                    // Each micro-batch's share of the mini-batch's loss, so that the sum is the
                    // mini-batch's aggregate whichever the aggregation.
                    let shares = Shares {
                        tokens: chunk
                            .iter()
                            .map(|&i| batch.completions[i].len().max(1))
                            .sum::<usize>() as f64
                            / tokens as f64,
                        sequences: chunk.len() as f64 / members.len() as f64,
                    };
                    let share = shares.of(settings.aggregate);
                    let packed = batch.pack(chunk, self.model())?;
                    let (log_probs, entropy) = token_log_probs(
                        self.model(),
                        &packed,
                        settings.entropy != 0.0,
                        &self.device,
                    );
                    let mask = mask_tensor::<A>(&packed, &self.device);
                    let old_log_probs = match &old {
                        Some(old) => self.padded(old, chunk, &packed),
                        None => log_probs.clone().detach(),
                    };
                    let ref_log_probs = reference.as_ref().map(|r| self.padded(r, chunk, &packed));
                    let masked_log_probs = masked.as_ref().map(|m| self.padded(m, chunk, &packed));
                    let kl_weights = (!batch.kl_weights.is_empty()).then(|| {
                        let weights: Vec<f32> =
                            chunk.iter().map(|&i| kl_weight(i) as f32).collect();
                        Tensor::from_data(TensorData::new(weights, [chunk.len()]), &self.device)
                    });
                    if let Some(entropy) = &entropy {
                        entropy_total += scalar(entropy.clone().sum())
                            / scalar(mask.clone().sum()).max(1.0)
                            * share;
                    }
                    let output = policy_loss(
                        LossInput {
                            log_probs,
                            old_log_probs,
                            ref_log_probs,
                            advantages: Tensor::from_data(
                                TensorData::new(
                                    chunk
                                        .iter()
                                        .map(|&i| advantages[i] as f32)
                                        .collect::<Vec<_>>(),
                                    [chunk.len()],
                                ),
                                &self.device,
                            ),
                            mask,
                            entropy,
                            kl_weights,
                            masked_log_probs,
                        },
                        &settings,
                        shares,
                    );
                    let loss = output.loss;
                    let value = scalar(loss.clone());
                    check_finite("loss", value, self.state.step, &self.last_checkpoint)?;
                    report.loss += value;
                    if let Some(kl) = output.kl {
                        kl_total += scalar(kl) * share;
                    }
                    if let Some(kl) = output.perception_kl {
                        perception_total += scalar(kl) * share;
                    }
                    let grads = GradientsParams::from_grads(loss.backward(), self.model());
                    accumulator.accumulate(self.model(), grads);
                }
                losses += 1;
                report.grad_norm = self.apply(accumulator.grads(), lr)?;
                report.updates += 1;
            }
        }
        let updates = losses.max(1) as f64;
        report.loss /= updates;
        report.entropy = entropy_total / updates;
        report.perception_kl = perception_total / updates;
        report.kl = if algorithm.kl.is_some() {
            kl_total / updates
        } else {
            kl_metric
        };
        Ok(report)
    }

    /// Per-sequence token log-probs under `model`, without gradients, on the host.
    fn sequence_log_probs(
        &self,
        model: &Decoder<A::InnerBackend>,
        batch: &RolloutBatch,
        micro: usize,
        masked_images: bool,
    ) -> Result<Vec<Vec<f32>>, String> {
        let indices: Vec<usize> = (0..batch.completions.len()).collect();
        let mut out = Vec::with_capacity(indices.len());
        for chunk in indices.chunks(micro) {
            let packed = if masked_images {
                batch.pack_masked(chunk, model)?
            } else {
                batch.pack(chunk, model)?
            };
            let (log_probs, _) = token_log_probs(model, &packed, false, &self.device);
            let values = log_probs
                .into_data()
                .to_vec::<f32>()
                .expect("f32 log-probs");
            for (row, &i) in chunk.iter().enumerate() {
                let width = packed.completion_width;
                out.push(values[row * width..row * width + batch.completions[i].len()].to_vec());
            }
        }
        Ok(out)
    }

    /// Host log-probs of some sequences as a `[rows, width]` tensor matching `packed`.
    fn padded(&self, values: &[Vec<f32>], chunk: &[usize], packed: &Packed) -> Tensor<A, 2> {
        let width = packed.completion_width;
        let mut data = Vec::with_capacity(chunk.len() * width);
        for &i in chunk {
            data.extend_from_slice(&values[i]);
            data.extend(std::iter::repeat_n(0.0, width - values[i].len()));
        }
        Tensor::from_data(TensorData::new(data, [chunk.len(), width]), &self.device)
    }

    /// Greedy completions of held-out rows, scored with the stage's reward.
    fn eval_rl(
        &mut self,
        stage: &StagePlan,
        rl: &RlPlan,
        program: &RowProgram,
        rewards: &StageRewards,
        rows: &[Row],
        max_tokens: usize,
    ) -> Result<EvalRecord, String> {
        let mut sampling = self.sampling(rl)?;
        sampling.temperature = 0.0;
        sampling.max_tokens = max_tokens;
        let vars = self.step_vars(u64::from(rl.steps));
        let policy = self.model().valid();
        let mut scores_all: Vec<f64> = Vec::new();
        let mut terms_all: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for (chunk_index, chunk) in rows.chunks(64).enumerate() {
            let prompts: Vec<Prompt> = chunk
                .iter()
                .map(|row| self.prompt_tokens(&rl.prompt, program, &stage.graph, row, vars))
                .collect::<Result<_, _>>()?;
            let sampled =
                generate_prompts(&policy, &prompts, &sampling, &mut Rng(0), &self.device)?;
            // Replies of chat models are sampled apart from the run's generator, as the
            // evaluation's completions are.
            let scores = self
                .score(rewards, &sampled, &sampling, vars, &mut Rng(1), |i| {
                    (&chunk[i], (chunk_index * 64 + i) as u64)
                })
                .map_err(|e| format!("stage `{}`: evaluation: {e}", stage.name))?;
            scores_all.extend_from_slice(&scores.rewards);
            for (name, values) in scores.terms {
                terms_all.entry(name).or_default().extend(values);
            }
        }
        let mut metrics = BTreeMap::new();
        metrics.insert("eval/reward/mean".to_string(), mean(&scores_all));
        for (name, values) in &terms_all {
            metrics.insert(format!("eval/{name}/mean"), mean(values));
        }
        self.record_eval(stage, metrics)
    }

    fn record_eval(
        &mut self,
        stage: &StagePlan,
        metrics: BTreeMap<String, f64>,
    ) -> Result<EvalRecord, String> {
        let record = EvalRecord {
            stage: stage.name.clone(),
            stage_step: self.state.stage_step,
            metrics,
        };
        let mut line = Map::new();
        line.insert("step".into(), json!(self.state.step));
        line.insert("stage".into(), json!(stage.name));
        line.insert("stage_step".into(), json!(self.state.stage_step));
        for (key, value) in &record.metrics {
            line.insert(key.clone(), json!(value));
        }
        append_line(&self.out().join("eval.jsonl"), &line)?;
        (self.events)(Event::Eval {
            stage: &stage.name,
            stage_step: record.stage_step,
            metrics: &record.metrics,
        });
        self.evals.push(record.clone());
        Ok(record)
    }

    // ----- updates, steps, checkpoints -----

    /// Clips and applies gradients; returns the gradient norm.
    fn apply(&mut self, grads: GradientsParams, lr: f64) -> Result<f64, String> {
        let model = self.model.take().expect("model");
        match self.optimizer.step::<A, _>(lr, model, grads) {
            Ok((model, report)) => {
                self.model = Some(model);
                Ok(report.grad_norm)
            }
            Err((model, message)) => {
                self.model = Some(model);
                Err(stopped(&message, self.state.step, &self.last_checkpoint))
            }
        }
    }

    fn finish_step(
        &mut self,
        stage: &StagePlan,
        stage_steps: u64,
        total: u64,
        mut metrics: Map<String, serde_json::Value>,
    ) -> Result<Flow, String> {
        let mut line = Map::new();
        line.insert("step".into(), json!(self.state.step));
        line.insert("stage".into(), json!(stage.name));
        line.insert("stage_step".into(), json!(self.state.stage_step));
        line.append(&mut metrics);
        let path = self.options.out.join("metrics.jsonl");
        write_line(
            self.metrics_file.as_mut().expect("metrics file"),
            &line,
            &path,
        )?;
        (self.events)(Event::Step {
            stage: &stage.name,
            stage_step: self.state.stage_step,
            stage_steps,
            step: self.state.step,
            total_steps: total,
            metrics: &line,
        });
        self.state.step += 1;
        self.state.stage_step += 1;
        if self.options.halt_after == Some(self.state.step) {
            return Ok(Flow::Stop);
        }
        let stage_done = self.state.stage_step >= stage_steps;
        if self
            .options
            .max_steps
            .is_some_and(|max| self.state.step >= max)
        {
            if stage_done {
                // The stage's final evaluation is skipped; the checkpoint starts the next stage.
                self.next_stage()?;
            } else {
                self.save()?;
            }
            return Ok(Flow::Stop);
        }
        if !stage_done
            && self.options.save_every > 0
            && self.state.step.is_multiple_of(self.options.save_every)
        {
            self.save()?;
        }
        Ok(Flow::Continue)
    }

    fn save(&mut self) -> Result<(), String> {
        self.state.optimizer_updates = self.optimizer.updates;
        let mut moments = Vec::new();
        for (path, Moments { m, v }) in &self.optimizer.moments {
            for (prefix, tensor) in [("m", m), ("v", v)] {
                let values = tensor
                    .clone()
                    .into_data()
                    .to_vec::<f32>()
                    .expect("f32 moments");
                moments.push((format!("{prefix}.{path}"), vec![values.len()], values));
            }
        }
        let saved = Saved {
            model: named_parameters(self.model()),
            moments,
            reference: self.reference.as_ref().map(named_parameters),
        };
        let tokenizer = self
            .policy
            .folder
            .as_ref()
            .map(|f| f.join("tokenizer.json"));
        let path = checkpoint::save(
            &self.options.out,
            &self.state,
            &saved,
            &self.policy.config,
            tokenizer.as_deref(),
            self.options.keep.max(1),
        )?;
        (self.events)(Event::Checkpoint { path: &path });
        self.last_checkpoint = Some(path);
        Ok(())
    }

    fn write_final(&mut self) -> Result<PathBuf, String> {
        let folder = self.options.out.join("final");
        std::fs::create_dir_all(&folder)
            .map_err(|e| format!("`{}`: cannot create: {e}", folder.display()))?;
        crate::hf::write_weights(
            &folder.join("model.safetensors"),
            &named_parameters(self.model()),
        )?;
        crate::files::write_atomically(
            &folder.join("config.json"),
            crate::hf::config_json(&self.policy.config).as_bytes(),
        )?;
        if let Some(source) = &self.policy.folder {
            let _ = std::fs::copy(source.join("tokenizer.json"), folder.join("tokenizer.json"));
        }
        Ok(folder)
    }

    fn summary(&self, final_folder: Option<PathBuf>) -> Summary {
        Summary {
            steps: self.state.step,
            evals: self.evals.clone(),
            final_folder,
            final_parameters: named_parameters(self.model()),
        }
    }
}

/// Sampling rounds a step makes at most to fill its batch with kept groups (DAPO's
/// `max_num_gen_batches`); a batch still short after them trains on the groups it has.
const MAX_SAMPLING_ROUNDS: usize = 8;

/// The completions an RL step trains on.
#[derive(Default)]
struct RolloutBatch {
    prompts: Vec<Prompt>,
    completions: Vec<Vec<u32>>,
    rewards: Vec<f64>,
    groups_of: Vec<u64>,
    groups: usize,
    expression_advantages: Vec<f64>,
    /// The KL weight of each completion, with a weighted KL.
    kl_weights: Vec<f64>,
    /// Each completion's prompt with masked images, with PAPO's perception terms.
    masked_prompts: Vec<Prompt>,
}

impl RolloutBatch {
    fn pack<B: Backend>(&self, chunk: &[usize], model: &Decoder<B>) -> Result<Packed, String> {
        self.pack_from(&self.prompts, chunk, model)
    }

    /// The chunk's completions after the masked-image prompts.
    fn pack_masked<B: Backend>(
        &self,
        chunk: &[usize],
        model: &Decoder<B>,
    ) -> Result<Packed, String> {
        self.pack_from(&self.masked_prompts, chunk, model)
    }

    fn pack_from<B: Backend>(
        &self,
        prompts: &[Prompt],
        chunk: &[usize],
        model: &Decoder<B>,
    ) -> Result<Packed, String> {
        let prompts: Vec<&Prompt> = chunk.iter().map(|&i| &prompts[i]).collect();
        let completions: Vec<&[u32]> = chunk
            .iter()
            .map(|&i| self.completions[i].as_slice())
            .collect();
        pack_prompts(&prompts, &completions, model)
    }
}

/// Prompts and completions laid out for a forward pass, the prompts' images placed.
fn pack_prompts<B: Backend>(
    prompts: &[&Prompt],
    completions: &[&[u32]],
    model: &Decoder<B>,
) -> Result<Packed, String> {
    let tokens: Vec<&[u32]> = prompts.iter().map(|p| p.tokens.as_slice()).collect();
    let images: Vec<Vec<Arc<Pixels>>> = prompts.iter().map(|p| p.images.clone()).collect();
    pack(&tokens, completions).with_images(model, &images)
}

/// Rollouts of prompts with their images.
fn generate_prompts<B: Backend>(
    model: &Decoder<B>,
    prompts: &[Prompt],
    sampling: &Sampling,
    rng: &mut Rng,
    device: &B::Device,
) -> Result<Vec<Sampled>, String> {
    let tokens: Vec<Vec<u32>> = prompts.iter().map(|p| p.tokens.clone()).collect();
    let images: Vec<Vec<Arc<Pixels>>> = prompts.iter().map(|p| p.images.clone()).collect();
    generate_with_images(model, &tokens, &images, sampling, rng, device)
}

#[derive(Default)]
struct TrainReport {
    loss: f64,
    kl: f64,
    entropy: f64,
    /// PAPO's KL between the real and the masked images.
    perception_kl: f64,
    grad_norm: f64,
    updates: usize,
}

fn sft_steps(sft: &SftPlan, examples: usize) -> u64 {
    u64::from(sft.epochs.max(1)) * examples.div_ceil(sft.batch.max(1) as usize) as u64
}

fn kl_term(estimator: rlx_compiler::plan::KlEstimator, log_ratio: f64) -> f64 {
    use rlx_compiler::plan::KlEstimator::*;
    match estimator {
        K1 => log_ratio,
        K2 => log_ratio * log_ratio / 2.0,
        K3 => (-log_ratio).exp() - 1.0 + log_ratio,
    }
}

fn scalar<B: burn::tensor::backend::Backend>(tensor: Tensor<B, 1>) -> f64 {
    tensor
        .into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .expect("a scalar")[0]
}

fn check_finite(what: &str, value: f64, step: u64, last: &Option<PathBuf>) -> Result<(), String> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(stopped(&format!("the {what} is {value}"), step, last))
    }
}

fn stopped(message: &str, step: u64, last: &Option<PathBuf>) -> String {
    let kept = match last {
        Some(path) => format!("the last good checkpoint is `{}`", path.display()),
        None => "no checkpoint was written yet".to_string(),
    };
    format!("step {step}: {message}; training stopped before the update ({kept})")
}

fn merge_eval(metrics: &mut Map<String, serde_json::Value>, record: &EvalRecord) {
    for (key, value) in &record.metrics {
        metrics.insert(key.clone(), json!(value));
    }
}

/// Appends one JSON object as a line, flushed.
fn write_line(
    file: &mut std::fs::File,
    line: &Map<String, serde_json::Value>,
    path: &Path,
) -> Result<(), String> {
    let mut text = serde_json::to_string(line).expect("JSON");
    text.push('\n');
    file.write_all(text.as_bytes())
        .and_then(|_| file.flush())
        .map_err(|e| format!("`{}`: cannot write: {e}", path.display()))
}

fn append_line(path: &Path, line: &Map<String, serde_json::Value>) -> Result<(), String> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("`{}`: cannot open: {e}", path.display()))?;
    write_line(&mut file, line, path)
}

/// Drops the lines of a metrics file from `step` on (a resumed run writes them again).
fn keep_metrics_before(path: &Path, step: u64) -> Result<(), String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: String = text
        .lines()
        .filter(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("step").and_then(serde_json::Value::as_u64))
                .is_some_and(|s| s < step)
        })
        .flat_map(|line| [line, "\n"])
        .collect();
    crate::files::write_atomically(path, kept.as_bytes())
}

fn moments_from<B: burn::tensor::backend::Backend>(
    saved: &crate::hf::Weights,
    device: &B::Device,
) -> Result<BTreeMap<String, Moments<B>>, String> {
    let mut moments = BTreeMap::new();
    for (name, (_, m)) in saved {
        let Some(path) = name.strip_prefix("m.") else {
            continue;
        };
        let (_, v) = saved
            .get(&format!("v.{path}"))
            .ok_or_else(|| format!("the optimizer state lacks `v.{path}`"))?;
        let tensor = |values: &Vec<f32>| {
            Tensor::<B, 1>::from_data(TensorData::new(values.clone(), [values.len()]), device)
        };
        moments.insert(
            path.to_string(),
            Moments {
                m: tensor(m),
                v: tensor(v),
            },
        );
    }
    Ok(moments)
}
