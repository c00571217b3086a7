//! Checkpoints: `DIR/checkpoints/step-00000012/` holds the weights (`model.safetensors` with
//! Hugging Face names, and `config.json`: the folder loads in transformers), the optimizer's moments
//! (`optimizer.safetensors`), the reference weights of a stage with a KL term
//! (`reference.safetensors`), and `state.json` (step, stage, stage step, data cursor, RNG, optimizer
//! updates, a digest of the plan). A checkpoint is written into a temporary folder that is renamed
//! into place when complete; the newest `keep` are kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::Cursor;
use crate::files::write_atomically;
use crate::hf;
use crate::model::DecoderConfig;

pub const STATE_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// Identifies the plan the run trains; resuming with another plan is refused.
    pub plan_digest: String,
    /// Training steps done in all (the next step's `step`).
    pub step: u64,
    /// The stage the next step belongs to, and its steps done.
    pub stage: usize,
    pub stage_name: String,
    pub stage_step: u64,
    pub cursor: Cursor,
    pub rng: u64,
    pub optimizer_updates: u64,
}

/// Named tensors on the host: path, shape, values.
pub type Tensors = Vec<(String, Vec<usize>, Vec<f32>)>;

/// What a checkpoint holds besides its state: parameters by decoder path.
pub struct Saved {
    pub model: Tensors,
    /// `m.<path>` and `v.<path>`, flattened.
    pub moments: Tensors,
    pub reference: Option<Tensors>,
}

pub fn folder(out: &Path) -> PathBuf {
    out.join("checkpoints")
}

fn step_folder(out: &Path, step: u64) -> PathBuf {
    folder(out).join(format!("step-{step:08}"))
}

/// Writes a checkpoint and removes all but the newest `keep`.
pub fn save(
    out: &Path,
    state: &State,
    saved: &Saved,
    config: &DecoderConfig,
    tokenizer_file: Option<&Path>,
    keep: usize,
) -> Result<PathBuf, String> {
    let root = folder(out);
    std::fs::create_dir_all(&root)
        .map_err(|e| format!("`{}`: cannot create: {e}", root.display()))?;
    let target = step_folder(out, state.step);
    let temporary = root.join(format!(".partial-step-{:08}", state.step));
    let _ = std::fs::remove_dir_all(&temporary);
    std::fs::create_dir_all(&temporary)
        .map_err(|e| format!("`{}`: cannot create: {e}", temporary.display()))?;
    hf::write_weights(&temporary.join("model.safetensors"), &saved.model)?;
    hf::write_tensors(&temporary.join("optimizer.safetensors"), &saved.moments)?;
    if let Some(reference) = &saved.reference {
        hf::write_weights(&temporary.join("reference.safetensors"), reference)?;
    }
    write_atomically(
        &temporary.join("config.json"),
        hf::config_json(config).as_bytes(),
    )?;
    if let Some(file) = tokenizer_file {
        std::fs::copy(file, temporary.join("tokenizer.json"))
            .map_err(|e| format!("`{}`: cannot copy: {e}", file.display()))?;
    }
    let state_json = serde_json::to_string_pretty(state).expect("JSON");
    write_atomically(&temporary.join("state.json"), state_json.as_bytes())?;
    let _ = std::fs::remove_dir_all(&target);
    std::fs::rename(&temporary, &target)
        .map_err(|e| format!("`{}`: cannot rename into place: {e}", target.display()))?;
    prune(out, keep);
    Ok(target)
}

fn prune(out: &Path, keep: usize) {
    let mut steps = list(out);
    if steps.len() > keep {
        steps.truncate(steps.len() - keep);
        for (_, path) in steps {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

/// Complete checkpoints, oldest first.
pub fn list(out: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(folder(out)) else {
        return Vec::new();
    };
    let mut steps: Vec<(u64, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let step = name.strip_prefix("step-")?.parse().ok()?;
            entry
                .path()
                .join("state.json")
                .exists()
                .then(|| (step, entry.path()))
        })
        .collect();
    steps.sort();
    steps
}

/// A checkpoint read back.
pub struct Loaded {
    pub path: PathBuf,
    pub state: State,
    pub model: hf::Weights,
    pub moments: hf::Weights,
    pub reference: Option<hf::Weights>,
}

/// The newest checkpoint under `out`, if any.
pub fn load_latest(out: &Path, config: &DecoderConfig) -> Result<Option<Loaded>, String> {
    let Some((_, path)) = list(out).pop() else {
        return Ok(None);
    };
    let state_file = path.join("state.json");
    let text = std::fs::read_to_string(&state_file)
        .map_err(|e| format!("`{}`: cannot read: {e}", state_file.display()))?;
    let state: State = serde_json::from_str(&text)
        .map_err(|e| format!("`{}`: not a checkpoint state: {e}", state_file.display()))?;
    if state.version != STATE_VERSION {
        return Err(format!(
            "`{}`: checkpoint version {} (this runtime reads {STATE_VERSION})",
            state_file.display(),
            state.version
        ));
    }
    let model = hf::read_weights_file(&path.join("model.safetensors"), config)?;
    let moments = read_raw(&path.join("optimizer.safetensors"))?;
    let reference_file = path.join("reference.safetensors");
    let reference = if reference_file.exists() {
        Some(hf::read_weights_file(&reference_file, config)?)
    } else {
        None
    };
    Ok(Some(Loaded {
        path,
        state,
        model,
        moments,
        reference,
    }))
}

fn read_raw(file: &Path) -> Result<hf::Weights, String> {
    let mut out = BTreeMap::new();
    for (name, dtype, shape, values) in hf::read_tensors(file)? {
        if dtype != safetensors::tensor::Dtype::F32 {
            return Err(format!("`{}`: `{name}` is not f32", file.display()));
        }
        out.insert(name, (shape, values));
    }
    Ok(out)
}
