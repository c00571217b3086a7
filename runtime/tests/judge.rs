//! In-process reward models: the WeThink example's judge (a Qwen2ForSequenceClassification that
//! `scripts/make_judge_model.py` trained with transformers) scores prompts as transformers does.

use std::path::Path;

use burn::backend::NdArray;
use rlx_runtime::judge::RewardModel;

#[test]
fn the_reward_model_scores_as_transformers_does() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/wethink/judge");
    let device = Default::default();
    let model = RewardModel::<NdArray<f32>>::load(&folder, &device).unwrap();
    let text = std::fs::read_to_string(folder.join("expected.json")).unwrap();
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let prompts: Vec<&str> = cases
        .iter()
        .map(|c| c["prompt"].as_str().unwrap())
        .collect();
    // Together (left-padded to one width) and alone, the same scores.
    let together = model.score_prompts(&prompts, &device).unwrap();
    for (case, score) in cases.iter().zip(&together) {
        let expected = case["score"].as_f64().unwrap();
        assert!((score - expected).abs() < 1e-4, "{score} vs {expected}");
        let alone = model
            .score_prompts(&[case["prompt"].as_str().unwrap()], &device)
            .unwrap();
        assert!((alone[0] - score).abs() < 1e-5);
    }
}

#[test]
fn a_folder_without_a_score_head_is_refused() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/qwen2-tiny");
    let error = RewardModel::<NdArray<f32>>::load(&folder, &Default::default())
        .map(|_| ())
        .unwrap_err();
    assert!(
        error.contains("no `score.weight`: not a reward model"),
        "{error}"
    );
}
