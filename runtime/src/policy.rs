//! The policy a plan trains: its decoder shape, weights and tokenizer, from the model's
//! constructor — `tiny(...)` (fresh weights from the run's seed, the byte tokenizer) or
//! `qwen2(path)` (a Hugging Face folder).

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use rlx_compiler::plan::{ModelPlan, Plan, Value};

use crate::hf;
use crate::model::{Decoder, DecoderConfig};
use crate::optim::{load_parameters, named_parameters};
use crate::sample::Rng;
use crate::tokenizer::{BYTE_VL_VOCAB, BYTE_VOCAB, Tokenizer};
use crate::vision::VisionConfig;

pub struct Policy {
    pub config: DecoderConfig,
    pub tokenizer: Tokenizer,
    /// The Hugging Face folder the weights come from, if any.
    pub folder: Option<PathBuf>,
}

/// The shape and tokenizer of the plan's policy (no weights yet).
pub fn describe(plan: &Plan) -> Result<Policy, String> {
    let model = plan
        .models
        .iter()
        .find(|m| m.name == plan.policy)
        .ok_or_else(|| format!("the plan has no model `{}`", plan.policy))?;
    match model.constructor.as_str() {
        "tiny" => tiny(model, false),
        "tiny_vl" => tiny(model, true),
        "qwen2" => {
            let path = text_arg(model, "path")?;
            let dtype = text_arg(model, "dtype").unwrap_or_else(|_| "f32".into());
            if dtype != "f32" {
                return Err(format!(
                    "model `{}`: dtype \"{dtype}\" is not supported by this runtime yet; weights are read as f32 (dtype = \"f32\")",
                    model.name
                ));
            }
            let folder = Path::new(&plan.base_dir).join(path);
            Ok(Policy {
                config: hf::read_config(&folder)?,
                tokenizer: Tokenizer::from_folder(&folder)?,
                folder: Some(folder),
            })
        }
        other => Err(format!(
            "model `{}` is made by `{other}`, which cannot be trained as a policy",
            model.name
        )),
    }
}

fn tiny(model: &ModelPlan, vision: bool) -> Result<Policy, String> {
    let int = |key: &str| -> Result<usize, String> {
        match model.args.get(key) {
            Some(Value::Int(v)) if *v > 0 => Ok(*v as usize),
            _ => Err(format!(
                "model `{}`: `{key}` must be a positive integer",
                model.name
            )),
        }
    };
    let mut config = DecoderConfig::tiny(
        int("hidden")?,
        int("layers")?,
        int("heads")?,
        int("kv_heads")?,
        int("ffn")?,
        int("vocab")?,
    );
    let least = if vision { BYTE_VL_VOCAB } else { BYTE_VOCAB };
    if config.vocab < least {
        return Err(format!(
            "model `{}`: a tiny model reads bytes and {} special tokens: `vocab` must be at least {least}",
            model.name,
            least - 256
        ));
    }
    if vision {
        config.vision = Some(VisionConfig {
            hidden: int("vision_hidden")?,
            layers: int("vision_layers")?,
            heads: int("vision_heads")?,
            patch: int("patch")?,
            merge: 2,
            min_pixels: int("min_pixels")?,
            max_pixels: int("max_pixels")?,
            out_hidden: config.hidden,
            image_token: Tokenizer::Bytes
                .special("<|image_pad|>")
                .expect("the byte tokenizer has image tokens"),
        });
    }
    config
        .validate()
        .map_err(|e| format!("model `{}`: {e}", model.name))?;
    Ok(Policy {
        config,
        tokenizer: Tokenizer::Bytes,
        folder: None,
    })
}

fn text_arg(model: &ModelPlan, key: &str) -> Result<String, String> {
    match model.args.get(key) {
        Some(Value::Text(text)) => Ok(text.clone()),
        _ => Err(format!("model `{}`: `{key}` must be a text", model.name)),
    }
}

impl Policy {
    /// The initial weights: the folder's, or fresh ones from the seed.
    pub fn weights<B: Backend>(&self, seed: u64, device: &B::Device) -> Result<Decoder<B>, String> {
        let decoder = self.config.init::<B>(device);
        let weights = match &self.folder {
            Some(folder) => hf::read_weights(folder, &self.config)?,
            None => fresh_weights(&decoder, seed),
        };
        load_parameters(decoder, &weights, device).map_err(|e| match &self.folder {
            Some(folder) => format!("`{}`: {e}", folder.display()),
            None => e,
        })
    }
}

/// Hugging Face's initialisation — matrices N(0, 0.02), norms 1, biases 0 — drawn from the run's
/// seed by our own generator: Burn's is global to the process, so two runs in one process (tests,
/// a benchmark beside a run) would otherwise interleave their draws.
fn fresh_weights<B: Backend>(decoder: &Decoder<B>, seed: u64) -> hf::Weights {
    let mut rng = Rng(seed ^ 0x005E_ED0F_11A7);
    named_parameters(decoder)
        .into_iter()
        .map(|(path, shape, values)| {
            let values = if path.ends_with("gamma") {
                vec![1.0; values.len()]
            } else if path.ends_with("bias") || path.ends_with("beta") {
                vec![0.0; values.len()]
            } else {
                // A vision tower made from scratch starts with variance 1/fan-in (LeCun): with
                // σ = 0.02 its features hardly differ between images, and the decoder learns to
                // ignore them before they can.
                let std = if path.starts_with("visual.") && shape.len() == 2 {
                    1.0 / (shape[0] as f64).sqrt()
                } else {
                    0.02
                };
                (0..values.len())
                    .map(|_| (rng.normal() * std) as f32)
                    .collect()
            };
            (path, (shape, values))
        })
        .collect()
}
