//! Hugging Face folders: `config.json` to a decoder shape, `model.safetensors` (or its shards,
//! through `model.safetensors.index.json`) to weights, f32/f16/bf16 read as f32. Names map between
//! Hugging Face's (`model.layers.0.self_attn.q_proj.weight`, `[out, in]`) and the decoder's
//! parameter paths (`layers.0.q.weight`, `[in, out]`). Writing uses the same names, so a
//! checkpoint's `model.safetensors` with its `config.json` is a Hugging Face folder again.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use serde_json::{Value, json};

use crate::model::DecoderConfig;

/// Weights by decoder parameter path: shape and values.
pub type Weights = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Reads a Qwen2/Llama `config.json`.
pub fn read_config(folder: &Path) -> Result<DecoderConfig, String> {
    let path = folder.join("config.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("`{}`: cannot read: {e}", path.display()))?;
    let config: Value =
        serde_json::from_str(&text).map_err(|e| format!("`{}`: not JSON: {e}", path.display()))?;
    let shown = path.display().to_string();
    let int = |key: &str| -> Result<usize, String> {
        config
            .get(key)
            .and_then(Value::as_u64)
            .map(|v| v as usize)
            .ok_or_else(|| format!("`{shown}`: `{key}` is missing or not a positive integer"))
    };
    let heads = int("num_attention_heads")?;
    let model_type = config
        .get("model_type")
        .and_then(Value::as_str)
        .unwrap_or("");
    let decoder = DecoderConfig {
        vocab: int("vocab_size")?,
        hidden: int("hidden_size")?,
        layers: int("num_hidden_layers")?,
        heads,
        kv_heads: int("num_key_value_heads").unwrap_or(heads),
        ffn: int("intermediate_size")?,
        rms_eps: config
            .get("rms_norm_eps")
            .and_then(Value::as_f64)
            .unwrap_or(1e-6),
        rope_theta: rope_theta(&config, &shown)?,
        tie_embeddings: config
            .get("tie_word_embeddings")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        // Qwen2 always has q/k/v biases; Llama has them when `attention_bias` says so.
        qkv_bias: model_type == "qwen2"
            || config
                .get("attention_bias")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        vision: None,
    };
    decoder.validate().map_err(|e| format!("`{shown}`: {e}"))?;
    Ok(decoder)
}

/// `rope_theta` at the top level (transformers 4) or in `rope_parameters` (transformers 5); only
/// the default rotary scaling is implemented.
fn rope_theta(config: &Value, shown: &str) -> Result<f64, String> {
    let nested = config
        .get("rope_parameters")
        .or_else(|| config.get("rope_scaling"));
    if let Some(kind) = nested
        .and_then(|n| n.get("rope_type").or_else(|| n.get("type")))
        .and_then(Value::as_str)
        && kind != "default"
    {
        return Err(format!(
            "`{shown}`: rotary scaling `{kind}` is not supported (only the default)"
        ));
    }
    Ok(config
        .get("rope_theta")
        .or_else(|| nested.and_then(|n| n.get("rope_theta")))
        .and_then(Value::as_f64)
        .unwrap_or(10_000.0))
}

/// `config.json` of a decoder, as Qwen2 writes it.
pub fn config_json(config: &DecoderConfig) -> String {
    let value = json!({
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "vocab_size": config.vocab,
        "hidden_size": config.hidden,
        "num_hidden_layers": config.layers,
        "num_attention_heads": config.heads,
        "num_key_value_heads": config.kv_heads,
        "intermediate_size": config.ffn,
        "rms_norm_eps": config.rms_eps,
        "rope_theta": config.rope_theta,
        "tie_word_embeddings": config.tie_embeddings,
        "hidden_act": "silu",
        "max_position_embeddings": 32768,
        "torch_dtype": "float32",
    });
    serde_json::to_string_pretty(&value).expect("JSON")
}

/// The Hugging Face name of a decoder parameter path, and whether the tensor is transposed
/// between the two (Linear weights).
pub fn hf_name(path: &str) -> Option<(String, bool)> {
    let parts: Vec<&str> = path.split('.').collect();
    let name = match parts.as_slice() {
        ["embed", "weight"] => ("model.embed_tokens.weight".to_string(), false),
        ["norm", "gamma"] => ("model.norm.weight".to_string(), false),
        ["head", "weight"] => ("lm_head.weight".to_string(), true),
        ["layers", index, module, kind] => {
            let (module, transposable) = match *module {
                "input_norm" => ("input_layernorm".to_string(), false),
                "post_norm" => ("post_attention_layernorm".to_string(), false),
                "q" | "k" | "v" | "o" => (format!("self_attn.{module}_proj"), true),
                "gate" | "up" | "down" => (format!("mlp.{module}_proj"), true),
                _ => return None,
            };
            let kind = match *kind {
                "gamma" | "weight" => "weight",
                "bias" => "bias",
                _ => return None,
            };
            (
                format!("model.layers.{index}.{module}.{kind}"),
                transposable && kind == "weight",
            )
        }
        ["visual", rest @ ..] => return visual_hf_name(rest),
        _ => return None,
    };
    Some(name)
}

/// Hugging Face's name of a vision-encoder parameter: the module names are Qwen2-VL's already;
/// layer norms' `gamma`/`beta` are `weight`/`bias`, and the merger's `mlp0`/`mlp2` are the
/// Sequential's `mlp.0`/`mlp.2`. Linear weights are transposed.
fn visual_hf_name(rest: &[&str]) -> Option<(String, bool)> {
    let (kind, modules) = rest.split_last()?;
    let modules: Vec<&str> = modules
        .iter()
        .map(|m| match *m {
            "mlp0" => "mlp.0",
            "mlp2" => "mlp.2",
            other => other,
        })
        .collect();
    let (kind, linear) = match *kind {
        "weight" => ("weight", true),
        "bias" => ("bias", false),
        "gamma" => ("weight", false),
        "beta" => ("bias", false),
        _ => return None,
    };
    Some((format!("visual.{}.{kind}", modules.join(".")), linear))
}

/// The decoder path of a Hugging Face name (the inverse of `hf_name`).
pub fn decoder_path(name: &str, layers: usize) -> Option<(String, bool)> {
    if let Some(rest) = name.strip_prefix("visual.") {
        return visual_path(rest);
    }
    let mut candidates = vec![
        "embed.weight".to_string(),
        "norm.gamma".to_string(),
        "head.weight".to_string(),
    ];
    if let Some(rest) = name.strip_prefix("model.layers.") {
        let index = rest.split('.').next()?;
        if index.parse::<usize>().ok()? >= layers {
            return None;
        }
        for module in ["input_norm", "post_norm"] {
            candidates.push(format!("layers.{index}.{module}.gamma"));
        }
        for module in ["q", "k", "v", "o", "gate", "up", "down"] {
            candidates.push(format!("layers.{index}.{module}.weight"));
            candidates.push(format!("layers.{index}.{module}.bias"));
        }
    }
    candidates.into_iter().find_map(|path| {
        let (hf, transposed) = hf_name(&path)?;
        (hf == name).then_some((path, transposed))
    })
}

/// The inverse of `visual_hf_name`.
fn visual_path(rest: &str) -> Option<(String, bool)> {
    let rest = rest.replace("mlp.0.", "mlp0.").replace("mlp.2.", "mlp2.");
    let (modules, kind) = rest.rsplit_once('.')?;
    let norm = ["norm1", "norm2", "ln_q"]
        .iter()
        .any(|n| modules.ends_with(n));
    let kind = match (kind, norm) {
        ("weight", true) => "gamma",
        ("bias", true) => "beta",
        ("weight", false) | ("bias", false) => kind,
        _ => return None,
    };
    Some((format!("visual.{modules}.{kind}"), kind == "weight"))
}

/// The weights of a folder: `model.safetensors`, or the shards its index names.
pub fn read_weights(folder: &Path, config: &DecoderConfig) -> Result<Weights, String> {
    let single = folder.join("model.safetensors");
    let index = folder.join("model.safetensors.index.json");
    let files = if single.exists() {
        vec![single]
    } else if index.exists() {
        shard_files(&index)?
    } else {
        return Err(format!(
            "`{}` has neither `model.safetensors` nor `model.safetensors.index.json`",
            folder.display()
        ));
    };
    let mut weights = Weights::new();
    for file in files {
        read_safetensors_into(&file, config, &mut weights)?;
    }
    // A tied model's output head is the embedding; a checkpoint may still carry `lm_head`.
    if config.tie_embeddings {
        weights.remove("head.weight");
    }
    Ok(weights)
}

fn shard_files(index: &Path) -> Result<Vec<std::path::PathBuf>, String> {
    let shown = index.display();
    let text =
        std::fs::read_to_string(index).map_err(|e| format!("`{shown}`: cannot read: {e}"))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| format!("`{shown}`: not JSON: {e}"))?;
    let map = value
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("`{shown}`: `weight_map` is missing"))?;
    let mut files: Vec<String> = map
        .values()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    files.sort();
    files.dedup();
    let folder = index.parent().unwrap_or(Path::new("."));
    Ok(files.into_iter().map(|f| folder.join(f)).collect())
}

fn read_safetensors_into(
    file: &Path,
    config: &DecoderConfig,
    weights: &mut Weights,
) -> Result<(), String> {
    let shown = file.display().to_string();
    weights.extend(weights_of(read_tensors(file)?, config, &shown)?);
    Ok(())
}

/// Tensors read from a file (`shown`) as decoder parameters by path, transposed where Burn's
/// layout differs.
pub fn weights_of(
    tensors: Vec<StoredTensor>,
    config: &DecoderConfig,
    shown: &str,
) -> Result<Weights, String> {
    let mut weights = Weights::new();
    for (name, _, shape, values) in tensors {
        // Rotary caches and other buffers some exports carry are not parameters.
        let Some((path, transposed)) = decoder_path(&name, config.layers) else {
            if name.contains("rotary_emb") {
                continue;
            }
            return Err(format!("`{shown}`: unexpected tensor `{name}`"));
        };
        let (shape, values) = if transposed {
            transpose(&shape, &values).ok_or_else(|| {
                format!("`{shown}`: `{name}` should be a matrix, has shape {shape:?}")
            })?
        } else {
            (shape, values)
        };
        weights.insert(path, (shape, values));
    }
    Ok(weights)
}

/// A tensor read from a safetensors file: name, stored dtype, shape, values as f32.
pub type StoredTensor = (String, Dtype, Vec<usize>, Vec<f32>);

/// Every tensor of a safetensors file as f32 (from f32, f16 or bf16), with its stored dtype.
pub fn read_tensors(file: &Path) -> Result<Vec<StoredTensor>, String> {
    let shown = file.display();
    let bytes = std::fs::read(file).map_err(|e| format!("`{shown}`: cannot read: {e}"))?;
    let tensors = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| format!("`{shown}`: not a safetensors file: {e}"))?;
    tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = to_f32(view.dtype(), view.data()).ok_or_else(|| {
                format!(
                    "`{shown}`: `{name}` has dtype {:?}; f32, f16 or bf16 are read",
                    view.dtype()
                )
            })?;
            Ok((name, view.dtype(), view.shape().to_vec(), values))
        })
        .collect()
}

/// Writes named f32 tensors as a safetensors file, through a temporary file renamed into place.
pub fn write_tensors(
    file: &Path,
    tensors: &[(String, Vec<usize>, Vec<f32>)],
) -> Result<(), String> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, values)| values.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), bytes)| {
            (
                name.clone(),
                TensorView::new(Dtype::F32, shape.clone(), bytes).expect("consistent view"),
            )
        })
        .collect();
    let serialized = safetensors::serialize(views, None)
        .map_err(|e| format!("`{}`: cannot serialise: {e}", file.display()))?;
    crate::files::write_atomically(file, &serialized)
}

fn to_f32(dtype: Dtype, data: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        _ => return None,
    })
}

fn transpose(shape: &[usize], values: &[f32]) -> Option<(Vec<usize>, Vec<f32>)> {
    let [rows, cols] = shape else { return None };
    let mut out = vec![0.0; values.len()];
    for r in 0..*rows {
        for c in 0..*cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    Some((vec![*cols, *rows], out))
}

/// Writes parameters (decoder paths) as a safetensors file with Hugging Face names, through a
/// temporary file renamed into place.
pub fn write_weights(
    file: &Path,
    parameters: &[(String, Vec<usize>, Vec<f32>)],
) -> Result<(), String> {
    let named: Vec<(String, Vec<usize>, Vec<f32>)> = parameters
        .iter()
        .map(|(path, shape, values)| match hf_name(path) {
            Some((name, true)) => {
                let (shape, values) = transpose(shape, values).expect("a matrix");
                (name, shape, values)
            }
            Some((name, false)) => (name, shape.clone(), values.clone()),
            None => (path.clone(), shape.clone(), values.clone()),
        })
        .collect();
    write_tensors(file, &named)
}

/// Reads a safetensors file written by `write_weights` back into decoder paths.
pub fn read_weights_file(file: &Path, config: &DecoderConfig) -> Result<Weights, String> {
    let mut weights = Weights::new();
    read_safetensors_into(file, config, &mut weights)?;
    if config.tie_embeddings {
        weights.remove("head.weight");
    }
    Ok(weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_both_ways() {
        for path in [
            "embed.weight",
            "norm.gamma",
            "head.weight",
            "layers.3.input_norm.gamma",
            "layers.3.q.weight",
            "layers.3.q.bias",
            "layers.3.o.weight",
            "layers.3.down.weight",
        ] {
            let (name, transposed) = hf_name(path).unwrap();
            assert_eq!(decoder_path(&name, 4), Some((path.to_string(), transposed)));
        }
        assert_eq!(
            hf_name("layers.0.k.weight").unwrap(),
            ("model.layers.0.self_attn.k_proj.weight".to_string(), true)
        );
        assert_eq!(decoder_path("model.layers.9.mlp.up_proj.weight", 4), None);
    }
}
