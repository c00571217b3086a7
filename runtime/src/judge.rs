//! Judges at run time: the plan's `judge_http(...)` models (rlx-reward's HTTP client) and
//! `reward_model(path)` models — a decoder with a scalar head, Hugging Face's
//! `Qwen2ForSequenceClassification` layout (`model.*` and `score.weight`), scored in process.
//! `rlxc serve-judge` serves the same reward model over the OpenAI protocol (`serve.rs`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rlx_compiler::plan::{Op, Plan, Value as PlanValue};
use rlx_reward::Value;
use rlx_reward::judge::{
    ChatSettings, HttpJudge, HttpSettings, JudgeBackend, JudgeStats, Judges, PolicyChat,
    render_prompt,
};

use crate::hf;
use crate::model::{Decoder, DecoderConfig, Input};
use crate::optim::load_parameters;
use crate::tokenizer::{Tokenizer, render_chat};

/// The judges the plan's rewards ask, by model name.
pub fn plan_judges<B: Backend>(plan: &Plan, device: &B::Device) -> Result<Judges, String>
where
    B::Device: Send + Sync,
{
    // (model, whether it is asked for a reply rather than a score)
    let asked: std::collections::BTreeSet<(&str, bool)> = plan
        .stages
        .iter()
        .flat_map(|s| s.graph.nodes.iter())
        .filter_map(|n| match &n.op {
            Op::Judge { model, .. } => Some((model.as_str(), false)),
            Op::Reply { model, .. } => Some((model.as_str(), true)),
            _ => None,
        })
        .collect();
    let mut judges = Judges::default();
    for (name, reply) in asked {
        let model = plan
            .models
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| format!("the plan has no model `{name}`"))?;
        match (model.constructor.as_str(), reply) {
            ("policy_chat", true) => {
                let chat = PolicyChat::new(ChatSettings::from_plan(model)?);
                judges.chats.insert(name.to_string(), chat);
                continue;
            }
            (other, true) => {
                return Err(format!(
                    "model `{name}` is made by `{other}`, which cannot reply (chat models are `policy_chat(...)`)"
                ));
            }
            _ => {}
        }
        let backend: Box<dyn JudgeBackend> = match model.constructor.as_str() {
            "judge_http" => Box::new(HttpJudge::new(HttpSettings::from_plan(model)?)),
            "reward_model" => {
                let path = match model.args.get("path") {
                    Some(PlanValue::Text(path)) => path.clone(),
                    _ => return Err(format!("model `{name}`: `path` must be a text")),
                };
                let folder = Path::new(&plan.base_dir).join(path);
                let reward_model = RewardModel::<B>::load(&folder, device)
                    .map_err(|e| format!("model `{name}`: {e}"))?;
                let template = match model.args.get("template") {
                    Some(PlanValue::Text(text)) => text.clone(),
                    _ => String::new(),
                };
                Box::new(InProcessJudge::new(reward_model, template, device.clone()))
            }
            other => {
                return Err(format!(
                    "model `{name}` is made by `{other}`, which is not a judge (judges are `judge_http(...)` or `reward_model(...)`)"
                ));
            }
        };
        judges.backends.insert(name.to_string(), backend);
    }
    Ok(judges)
}

/// A decoder with a scalar head over its last token's hidden state.
pub struct RewardModel<B: Backend> {
    pub decoder: Decoder<B>,
    pub score: Linear<B>,
    pub tokenizer: Tokenizer,
}

#[derive(Module, Debug)]
struct ScoreHead<B: Backend> {
    score: Linear<B>,
}

impl<B: Backend> RewardModel<B> {
    /// A folder with `config.json`, `model.safetensors` (`model.*` and `score.weight`) and
    /// `tokenizer.json` (without one, the byte tokenizer of rlx's tiny models).
    pub fn load(folder: &Path, device: &B::Device) -> Result<RewardModel<B>, String> {
        let mut config: DecoderConfig = hf::read_config(folder)?;
        // A classification model has no language-model head, tied or not.
        config.tie_embeddings = true;
        let tokenizer = if folder.join("tokenizer.json").exists() {
            Tokenizer::from_folder(folder)?
        } else {
            Tokenizer::Bytes
        };
        let file = folder.join("model.safetensors");
        let mut tensors = hf::read_tensors(&file)?;
        let shown = file.display();
        let at = tensors
            .iter()
            .position(|(name, ..)| name == "score.weight")
            .ok_or_else(|| format!("`{shown}` has no `score.weight`: not a reward model"))?;
        let (_, _, shape, values) = tensors.remove(at);
        if shape.len() != 2 || shape[0] != 1 || shape[1] != config.hidden {
            return Err(format!(
                "`{shown}`: `score.weight` has shape {shape:?}, not [1, {}]",
                config.hidden
            ));
        }
        let weights = hf::weights_of(tensors, &config, &file.display().to_string())?;
        let decoder = load_parameters(config.init::<B>(device), &weights, device)
            .map_err(|e| format!("`{shown}`: {e}"))?;
        let head = ScoreHead {
            score: LinearConfig::new(config.hidden, 1)
                .with_bias(false)
                .init(device),
        };
        let mut head_weights = hf::Weights::new();
        head_weights.insert("score.weight".into(), (vec![config.hidden, 1], values));
        let head = load_parameters(head, &head_weights, device)?;
        Ok(RewardModel {
            decoder,
            score: head.score,
            tokenizer,
        })
    }

    /// The score of each prompt, read as the user's message of a chat (as a served judge gets it).
    pub fn score_prompts(&self, prompts: &[&str], device: &B::Device) -> Result<Vec<f64>, String> {
        let encoded: Vec<Vec<u32>> = prompts
            .iter()
            .map(|p| {
                self.tokenizer
                    .encode(&render_chat(&[("user".to_string(), p.to_string())]))
            })
            .collect::<Result<_, _>>()?;
        let width = encoded.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let rows = encoded.len();
        let mut tokens = Vec::with_capacity(rows * width);
        let mut positions = Vec::with_capacity(rows);
        let mut real = Vec::with_capacity(rows);
        for row in &encoded {
            let pad = width - row.len();
            tokens.extend(std::iter::repeat_n(0i64, pad).chain(row.iter().map(|&t| i64::from(t))));
            positions.push((0..width).map(|i| i.saturating_sub(pad)).collect());
            real.push((0..width).map(|i| i >= pad).collect());
        }
        let input = Input {
            tokens: Tensor::<B, 2, Int>::from_data(TensorData::new(tokens, [rows, width]), device),
            positions,
            real,
            images: Vec::new(),
        };
        // Left padding: every row's last token is in the last column.
        let hidden = self.decoder.hidden(input, None);
        let last = hidden.narrow(1, width - 1, 1).squeeze_dim::<2>(1);
        let scores = self.score.forward(last);
        let values = scores.into_data().to_vec::<f32>().expect("f32 scores");
        Ok(values.into_iter().map(f64::from).collect())
    }
}

/// `reward_model(path)`: a reward model asked in process, in batches, its answers cached.
pub struct InProcessJudge<B: Backend> {
    model: Mutex<RewardModel<B>>,
    template: String,
    device: B::Device,
    cache: Mutex<HashMap<String, f64>>,
    stats: Mutex<JudgeStats>,
}

impl<B: Backend> InProcessJudge<B> {
    pub fn new(model: RewardModel<B>, template: String, device: B::Device) -> Self {
        InProcessJudge {
            model: Mutex::new(model),
            template,
            device,
            cache: Mutex::new(HashMap::new()),
            stats: Mutex::new(JudgeStats::default()),
        }
    }

    fn fetch(&self, prompts: &[&str]) -> Result<(), String> {
        const BATCH: usize = 32;
        let started = Instant::now();
        let model = self.model.lock().expect("model");
        for chunk in prompts.chunks(BATCH) {
            self.stats.lock().expect("stats").requests += 1;
            let scores = model.score_prompts(chunk, &self.device)?;
            let mut cache = self.cache.lock().expect("cache");
            for (prompt, score) in chunk.iter().zip(scores) {
                cache.insert(prompt.to_string(), score);
            }
        }
        self.stats.lock().expect("stats").seconds += started.elapsed().as_secs_f64();
        Ok(())
    }
}

impl<B: Backend> JudgeBackend for InProcessJudge<B>
where
    B::Device: Send + Sync,
{
    fn prompt(&self, args: &[(&str, &Value<'_>)]) -> String {
        render_prompt(&self.template, args)
    }

    fn prefetch(&self, prompts: &[String]) {
        let cache = self.cache.lock().expect("cache");
        let mut todo: Vec<&str> = prompts
            .iter()
            .map(String::as_str)
            .filter(|p| !cache.contains_key(*p))
            .collect();
        drop(cache);
        todo.sort();
        todo.dedup();
        // A prompt the model cannot read fails again, with its error, when it is scored.
        let _ = self.fetch(&todo);
    }

    fn score_prompt(&self, prompt: &str) -> Result<f64, String> {
        self.stats.lock().expect("stats").asked += 1;
        if let Some(score) = self.cache.lock().expect("cache").get(prompt) {
            self.stats.lock().expect("stats").cache_hits += 1;
            return Ok(*score);
        }
        self.fetch(&[prompt])
            .map_err(|e| format!("the reward model cannot read the prompt: {e}"))?;
        Ok(self.cache.lock().expect("cache")[prompt])
    }

    fn cached_score(&self, prompt: &str) -> Option<f64> {
        self.cache.lock().expect("cache").get(prompt).copied()
    }

    fn end_batch(&self) {}

    fn stats(&self) -> JudgeStats {
        self.stats.lock().expect("stats").clone()
    }
}
