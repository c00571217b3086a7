//! Vision-language policies: image features replace the placeholder tokens and get gradients,
//! cached rollouts with images equal full recomputation, and `examples/vision` trains (SFT, then
//! GRPO with images in its prompts) on a slice of its data; over-long prompts and images shown to
//! a text policy are refused before training.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::backend::{Autodiff, NdArray};
use burn::tensor::{Int, Tensor, TensorData};
use rlx_compiler::driver::{self, CheckOptions};
use rlx_compiler::plan::{DataSource, Plan, StageKind};
use rlx_runtime::device::Cpu;
use rlx_runtime::model::{DecoderConfig, Input};
use rlx_runtime::sample::{Rng, Sampling, generate_with_images};
use rlx_runtime::train::{RunOptions, run};
use rlx_runtime::vision::{Pixels, VisionConfig, place_images, prepare};

type B = NdArray<f32>;

const PAD: u32 = 264;

fn config() -> DecoderConfig {
    let mut config = DecoderConfig::tiny(32, 2, 4, 2, 64, 266);
    config.vision = Some(VisionConfig {
        hidden: 16,
        layers: 1,
        heads: 2,
        patch: 8,
        merge: 2,
        min_pixels: 16 * 16,
        max_pixels: 32 * 32,
        out_hidden: 32,
        image_token: PAD,
    });
    config
}

/// A 32×32 image, its left half `left` and its right half `right`: 4 image tokens.
fn picture(left: [u8; 3], right: [u8; 3]) -> Arc<Pixels> {
    let image =
        image::RgbImage::from_fn(32, 32, |x, _| image::Rgb(if x < 16 { left } else { right }));
    let vision = config().vision.unwrap();
    Arc::new(prepare(&image, &vision).unwrap())
}

/// Text, then `<|vision_start|>`, 4 placeholders, `<|vision_end|>`, then text.
fn prompt() -> Vec<u32> {
    let mut tokens = vec![257, 72, 105];
    tokens.push(263);
    tokens.extend([PAD; 4]);
    tokens.push(265);
    tokens.extend([87, 104, 97, 116, 63]);
    tokens
}

fn input<Bk: burn::tensor::backend::Backend>(
    tokens: &[u32],
    images: &[Vec<Arc<Pixels>>],
    device: &Bk::Device,
) -> Input<Bk> {
    let ids: Vec<i64> = tokens.iter().map(|&t| i64::from(t)).collect();
    Input {
        tokens: Tensor::<Bk, 2, Int>::from_data(
            TensorData::new(ids.clone(), [1, tokens.len()]),
            device,
        ),
        positions: vec![(0..tokens.len()).collect()],
        real: vec![vec![true; tokens.len()]],
        images: place_images(&ids, tokens.len(), PAD, images).unwrap(),
    }
}

#[test]
fn image_features_reach_the_decoder_and_get_gradients() {
    type A = Autodiff<B>;
    let device = Default::default();
    let model = config().init::<A>(&device);
    let tokens = prompt();
    let red = picture([255, 0, 0], [0, 0, 255]);
    let swapped = picture([0, 0, 255], [255, 0, 0]);
    let logits = model.forward(input::<A>(&tokens, &[vec![red.clone()]], &device), None);
    let other = model.forward(input::<A>(&tokens, &[vec![swapped]], &device), None);
    let last = |l: Tensor<A, 3>| {
        l.narrow(1, tokens.len() - 1, 1)
            .into_data()
            .to_vec::<f32>()
            .unwrap()
    };
    let (a, b) = (last(logits.clone()), last(other));
    let differ = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(
        differ > 1e-6,
        "the image changes the prediction (2-D positions tell left from right)"
    );

    let grads = logits.sum().backward();
    let visual = model.visual.as_ref().unwrap();
    let patch = visual.patch_embed.proj.weight.grad(&grads).unwrap();
    let merger = visual.merger.mlp2.weight.grad(&grads).unwrap();
    let norm = |t: Tensor<B, 2>| t.abs().sum().into_scalar();
    assert!(
        norm(patch) > 0.0 && norm(merger) > 0.0,
        "gradients reach the encoder"
    );
}

#[test]
fn cached_rollouts_with_images_match_full_recomputation() {
    let device = Default::default();
    let model = config().init::<B>(&device);
    let tokens = prompt();
    let images = vec![vec![picture([10, 200, 30], [240, 240, 0])]];
    let sampling = Sampling {
        temperature: 0.0,
        top_p: 1.0,
        top_k: 0,
        max_tokens: 6,
        stop: Vec::new(),
        stop_sequences: Vec::new(),
    };
    let cached = generate_with_images(
        &model,
        std::slice::from_ref(&tokens),
        &images,
        &sampling,
        &mut Rng(1),
        &device,
    )
    .unwrap();
    let mut sequence = tokens.clone();
    for _ in 0..6 {
        let logits = model.forward(input::<B>(&sequence, &images, &device), None);
        let last = logits
            .narrow(1, sequence.len() - 1, 1)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let best = (0..last.len())
            .max_by(|&i, &j| last[i].total_cmp(&last[j]))
            .unwrap();
        sequence.push(best as u32);
    }
    assert_eq!(cached[0].tokens, sequence[tokens.len()..]);
}

fn vision_plan() -> Plan {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/vision/recipe.rlx");
    let (source, _) = driver::read_file(&file).unwrap();
    let analysis = driver::analyze(&source, driver::recipe_dir(&file), CheckOptions::default());
    analysis.plan.expect("the vision example builds")
}

/// The first `rows` rows of the example's training data, image paths made absolute, in a temp
/// file both datasets read.
fn slice_of_data(plan: &mut Plan, rows: usize, name: &str) -> PathBuf {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/vision/data");
    let text = std::fs::read_to_string(data.join("train.jsonl")).unwrap();
    let mut out = String::new();
    for line in text.lines().take(rows) {
        let mut row: serde_json::Value = serde_json::from_str(line).unwrap();
        let path = data.join(row["image_path"].as_str().unwrap());
        row["image_path"] = path.canonicalize().unwrap().display().to_string().into();
        out.push_str(&row.to_string());
        out.push('\n');
    }
    let file = std::env::temp_dir().join(format!("rlx-vision-{name}-{}.jsonl", std::process::id()));
    std::fs::write(&file, out).unwrap();
    for dataset in &mut plan.datasets {
        if let DataSource::File { path, .. } = &mut dataset.source {
            *path = file.display().to_string();
        }
    }
    file
}

#[test]
fn the_vision_example_trains_with_images_in_its_prompts() {
    let mut plan = vision_plan();
    let data = slice_of_data(&mut plan, 16, "train");
    for stage in &mut plan.stages {
        match &mut stage.kind {
            StageKind::Sft(sft) => {
                sft.batch = 8;
                sft.epochs = 1;
            }
            StageKind::Rl(rl) => {
                rl.rollout.max_tokens = 6;
                rl.batch = rl.algorithm.group * 2;
            }
        }
    }
    let out = std::env::temp_dir().join(format!("rlx-vision-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let options = RunOptions {
        max_steps: Some(3),
        save_every: 0,
        micro_batch: 8,
        eval_rows: Some(2),
        ..RunOptions::new(out.clone())
    };
    let summary = run::<Cpu>(&plan, &options, &Default::default(), &mut |_| {}).unwrap();
    assert_eq!(summary.steps, 3);
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    // Two SFT steps (16 rows, batch 8), then a GRPO step: rollouts with images, scored.
    assert!(lines[0]["loss"].as_f64().unwrap().is_finite());
    assert!(lines[2]["reward/mean"].as_f64().is_some(), "{}", lines[2]);
    assert!(lines[2]["tokens/generated"].as_u64().unwrap() > 0);
    let evals = std::fs::read_to_string(out.join("eval.jsonl")).unwrap();
    assert!(evals.contains("eval/accuracy/mean"), "{evals}");
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_file(data);
}

/// The error a run of `plan` stops with, and its output folder.
fn refusal(plan: &Plan, name: &str) -> (String, PathBuf) {
    let out = std::env::temp_dir().join(format!("rlx-vision-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let error = run::<Cpu>(
        plan,
        &RunOptions::new(out.clone()),
        &Default::default(),
        &mut |_| {},
    )
    .map(|_| ())
    .unwrap_err();
    (error, out)
}

#[test]
fn over_long_prompts_are_refused_before_training() {
    let mut plan = vision_plan();
    let data = slice_of_data(&mut plan, 4, "long");
    for stage in &mut plan.stages {
        if let StageKind::Rl(rl) = &mut stage.kind {
            rl.rollout.max_prompt = 40;
        }
    }
    let (error, out) = refusal(&plan, "long");
    assert!(error.contains("row 1 of `tasks`"), "{error}");
    // 64×64 images, 8×8 patches, 2×2 patches per token.
    assert!(error.contains("16 of them image tokens"), "{error}");
    assert!(error.contains("`rollout.max_prompt` = 40"), "{error}");
    assert!(!out.exists(), "nothing was written");
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_file(data);
}

#[test]
fn a_text_policy_refuses_images() {
    let mut plan = vision_plan();
    let data = slice_of_data(&mut plan, 4, "text");
    let policy = plan.models.iter_mut().find(|m| m.name == "policy").unwrap();
    policy.constructor = "tiny".into();
    let (error, out) = refusal(&plan, "text");
    assert!(
        error.contains("text model") && error.contains("tiny_vl"),
        "{error}"
    );
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_file(data);
}

/// The training pass scores a batch of rollouts — prompts of different lengths, so different
/// left padding, each with its own image — as each sequence alone would be scored.
#[test]
fn batched_log_probs_with_images_match_each_sequence_alone() {
    use burn::tensor::activation::log_softmax;
    use rlx_runtime::logprob::{pack, token_log_probs};
    let device = Default::default();
    let model = config().init::<B>(&device);
    let mut long = prompt();
    long.splice(1..1, [65, 66, 67, 68, 69]);
    let prompts = vec![prompt(), long, prompt()];
    let images = vec![
        vec![picture([10, 200, 30], [240, 240, 0])],
        vec![picture([200, 0, 30], [0, 40, 250])],
        vec![picture([0, 0, 0], [255, 255, 255])],
    ];
    let sampling = Sampling {
        temperature: 1.0,
        top_p: 1.0,
        top_k: 0,
        max_tokens: 7,
        stop: vec![258],
        stop_sequences: Vec::new(),
    };
    let sampled =
        generate_with_images(&model, &prompts, &images, &sampling, &mut Rng(3), &device).unwrap();
    let prompt_refs: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
    let completions: Vec<&[u32]> = sampled.iter().map(|s| s.tokens.as_slice()).collect();
    let packed = pack(&prompt_refs, &completions)
        .with_images(&model, &images)
        .unwrap();
    let (batched, _) = token_log_probs(&model, &packed, false, &device);
    let batched = batched.into_data().to_vec::<f32>().unwrap();
    for row in 0..prompts.len() {
        let sequence: Vec<u32> = prompts[row]
            .iter()
            .chain(completions[row])
            .copied()
            .collect();
        let logits = model.forward(
            input::<B>(&sequence, std::slice::from_ref(&images[row]), &device),
            None,
        );
        let all = log_softmax(logits, 2).into_data().to_vec::<f32>().unwrap();
        for (j, &token) in completions[row].iter().enumerate() {
            let at = prompts[row].len() + j - 1;
            let expected = all[at * 266 + token as usize];
            let got = batched[row * packed.completion_width + j];
            assert!(
                (expected - got).abs() < 1e-4,
                "row {row} token {j}: {got} vs {expected}"
            );
        }
    }
}
