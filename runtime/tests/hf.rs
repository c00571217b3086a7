//! Golden logits: a small random Qwen2 written by Hugging Face transformers
//! (scripts/make_qwen2_fixture.py) is loaded from its folder and must give transformers' logits
//! on a left-padded batch to 1e-4; its tokenizer.json must encode as the Python tokenizer did.

use std::path::Path;

use burn::backend::NdArray;
use burn::tensor::{Int, Tensor, TensorData};
use rlx_runtime::hf;
use rlx_runtime::model::{Decoder, Input};
use rlx_runtime::optim::load_parameters;
use rlx_runtime::tokenizer::Tokenizer;

type B = NdArray<f32>;

fn fixture() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/qwen2-tiny"
    ))
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture().join("expected.json")).unwrap())
        .unwrap()
}

fn load(folder: &Path) -> Decoder<B> {
    let device = Default::default();
    let config = hf::read_config(folder).unwrap();
    let weights = hf::read_weights(folder, &config).unwrap();
    load_parameters(config.init::<B>(&device), &weights, &device).unwrap()
}

fn logits_of(model: &Decoder<B>, rows: &[Vec<i64>]) -> Vec<Vec<Vec<f32>>> {
    let device = Default::default();
    let width = rows.iter().map(Vec::len).max().unwrap();
    let mut tokens = Vec::new();
    let (mut positions, mut real) = (Vec::new(), Vec::new());
    for row in rows {
        let pad = width - row.len();
        tokens.extend(std::iter::repeat_n(0, pad).chain(row.iter().copied()));
        positions.push((0..width).map(|i| i.saturating_sub(pad)).collect());
        real.push((0..width).map(|i| i >= pad).collect());
    }
    let input = Input {
        tokens: Tensor::<B, 2, Int>::from_data(
            TensorData::new(tokens, [rows.len(), width]),
            &device,
        ),
        positions,
        real,
        images: Vec::new(),
    };
    let logits = model.forward(input, None);
    let vocab = logits.dims()[2];
    let values = logits.into_data().to_vec::<f32>().unwrap();
    rows.iter()
        .enumerate()
        .map(|(r, row)| {
            (width - row.len()..width)
                .map(|t| values[(r * width + t) * vocab..(r * width + t + 1) * vocab].to_vec())
                .collect()
        })
        .collect()
}

fn assert_close(got: &[Vec<Vec<f32>>], expected: &serde_json::Value, tolerance: f64) {
    let mut worst = 0.0f64;
    for (r, row) in got.iter().enumerate() {
        for (t, position) in row.iter().enumerate() {
            for (v, value) in position.iter().enumerate() {
                let want = expected["logits"][r][t][v].as_f64().unwrap();
                worst = worst.max((f64::from(*value) - want).abs());
            }
        }
    }
    assert!(
        worst < tolerance,
        "largest difference from transformers: {worst}"
    );
}

fn rows(expected: &serde_json::Value) -> Vec<Vec<i64>> {
    expected["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_i64().unwrap())
                .collect()
        })
        .collect()
}

#[test]
fn logits_match_transformers() {
    let expected = expected();
    let model = load(fixture());
    assert_close(&logits_of(&model, &rows(&expected)), &expected, 1e-4);
}

#[test]
fn the_tokenizer_encodes_as_transformers_does() {
    let expected = expected();
    let tokenizer = Tokenizer::from_folder(fixture()).unwrap();
    let ids: Vec<u32> = expected["encoded"]["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    assert_eq!(
        tokenizer
            .encode(expected["encoded"]["text"].as_str().unwrap())
            .unwrap(),
        ids
    );
    assert_eq!(tokenizer.end_tokens(), vec![2, 0]);
}

/// The weights written back (Hugging Face names, f32) and read again give the same logits; bf16
/// weights are read as their f32 values.
#[test]
fn weights_round_trip_and_bf16_is_read() {
    let expected = expected();
    let model = load(fixture());
    let dir = std::env::temp_dir().join(format!("rlx-hf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(fixture().join("config.json"), dir.join("config.json")).unwrap();
    let parameters = rlx_runtime::optim::named_parameters(&model);
    hf::write_weights(&dir.join("model.safetensors"), &parameters).unwrap();
    assert_close(&logits_of(&load(&dir), &rows(&expected)), &expected, 1e-4);

    // The same weights in bf16: loading gives exactly the bf16 values.
    let config = hf::read_config(&dir).unwrap();
    let weights = hf::read_weights(&dir, &config).unwrap();
    let mut bytes = Vec::new();
    let mut names = Vec::new();
    for (path, (shape, values)) in &weights {
        let (name, transposed) = hf::hf_name(path).unwrap();
        let (shape, values) = if transposed {
            let (r, c) = (shape[0], shape[1]);
            let mut t = vec![0.0f32; values.len()];
            for i in 0..r {
                for j in 0..c {
                    t[j * r + i] = values[i * c + j];
                }
            }
            (vec![c, r], t)
        } else {
            (shape.clone(), values.clone())
        };
        let b: Vec<u8> = values
            .iter()
            .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
            .collect();
        names.push((name, shape));
        bytes.push(b);
    }
    let views: Vec<_> = names
        .iter()
        .zip(&bytes)
        .map(|((n, s), b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::BF16, s.clone(), b)
                    .unwrap(),
            )
        })
        .collect();
    std::fs::write(
        dir.join("model.safetensors"),
        safetensors::serialize(views, None).unwrap(),
    )
    .unwrap();
    let read = hf::read_weights(&dir, &config).unwrap();
    for (path, (_, values)) in &weights {
        let rounded: Vec<f32> = values
            .iter()
            .map(|v| half::bf16::from_f32(*v).to_f32())
            .collect();
        assert_eq!(read[path].1, rounded, "{path}");
    }
    // A folder without weights is named in the error.
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    let error = hf::read_weights(&dir, &config).unwrap_err();
    assert!(error.contains("model.safetensors"), "{error}");
}
