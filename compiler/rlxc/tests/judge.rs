//! The HTTP judge end to end against a real `rlxc serve-judge` process serving the WeThink
//! example's reward model: scores equal the model's own (transformers' values in
//! `expected.json`), answers are cached, and a server that is slow, answers errors, or dies
//! mid-run gives retries and counted fallbacks, never a hang or a silent zero.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rlx_reward::http::Url;
use rlx_reward::judge::{HttpJudge, HttpSettings, JudgeBackend};

fn judge_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/wethink/judge")
}

/// A served judge, killed when dropped.
struct Served {
    child: Child,
    url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(extra: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rlxc"))
        .arg("serve-judge")
        .arg(judge_folder())
        .args(["--port", "0"])
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .expect("rlxc starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut line = String::new();
    BufReader::new(stderr).read_line(&mut line).expect("a line");
    let url = line
        .trim()
        .rsplit(' ')
        .next()
        .filter(|u| u.starts_with("http://"))
        .unwrap_or_else(|| panic!("not a serving line: {line:?}"))
        .to_string();
    Served { child, url }
}

fn http_judge(url: &str, timeout_s: f64, retries: u32, fallback: f64) -> HttpJudge {
    HttpJudge::new(HttpSettings {
        name: "judge".into(),
        url: Url::parse(url).expect("url"),
        model: "judge".into(),
        template: String::new(),
        timeout: Duration::from_secs_f64(timeout_s),
        retries,
        concurrency: 4,
        fallback,
        backoff: Duration::from_millis(50),
    })
}

/// (prompt, transformers' score) pairs written by scripts/make_judge_model.py.
fn expected() -> Vec<(String, f64)> {
    let text = std::fs::read_to_string(judge_folder().join("expected.json")).expect("expected");
    let value: serde_json::Value = serde_json::from_str(&text).expect("json");
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|c| {
            (
                c["prompt"].as_str().expect("prompt").to_string(),
                c["score"].as_f64().expect("score"),
            )
        })
        .collect()
}

#[test]
fn served_scores_are_the_models_and_are_cached() {
    let served = serve(&[]);
    let judge = http_judge(&served.url, 30.0, 0, -1.0);
    let cases = expected();
    let prompts: Vec<String> = cases.iter().map(|(p, _)| p.clone()).collect();
    judge.prefetch(&prompts);
    assert_eq!(judge.stats().requests, cases.len() as u64);
    for (prompt, score) in &cases {
        let got = judge.score_prompt(prompt).expect("a score");
        assert!(
            (got - score).abs() < 1e-4,
            "{got} vs {score} for {prompt:?}"
        );
    }
    let stats = judge.stats();
    assert_eq!(
        stats.requests,
        cases.len() as u64,
        "answers come from the cache"
    );
    assert_eq!(stats.cache_hits, cases.len() as u64);
    assert_eq!(stats.fallbacks, 0);
    // The match is scored high, the mismatch low: the model judges.
    assert!(cases[0].1 > 0.5 && cases[1].1 < 0.5);
}

#[test]
fn a_slow_server_times_out_into_the_counted_fallback() {
    let served = serve(&["--delay-ms", "3000"]);
    let judge = http_judge(&served.url, 0.3, 1, 0.25);
    let started = Instant::now();
    let score = judge
        .score_prompt("Question: a\nResponse: b")
        .expect("a score");
    assert_eq!(score, 0.25);
    let stats = judge.stats();
    assert_eq!((stats.requests, stats.retries, stats.fallbacks), (2, 1, 1));
    let error = stats.last_error.expect("an error");
    assert!(error.contains("no answer within 0.3 s"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the timeout bounds the wait"
    );
}

#[test]
fn server_errors_are_retried_with_backoff() {
    let served = serve(&["--fail-first", "2"]);
    let (prompt, score) = expected().remove(0);
    let judge = http_judge(&served.url, 30.0, 3, -1.0);
    let got = judge.score_prompt(&prompt).expect("a score");
    assert!((got - score).abs() < 1e-4);
    let stats = judge.stats();
    assert_eq!((stats.requests, stats.retries, stats.fallbacks), (3, 2, 0));

    // Fewer retries than failures: the fallback, with the server's answer as the reason.
    let served = serve(&["--fail-first", "5"]);
    let judge = http_judge(&served.url, 30.0, 1, -1.0);
    assert_eq!(judge.score_prompt(&prompt), Ok(-1.0));
    let stats = judge.stats();
    assert_eq!(stats.fallbacks, 1);
    assert!(stats.last_error.expect("error").contains("HTTP 503"));
}

#[test]
fn a_server_that_dies_mid_run_falls_back_and_keeps_what_it_answered() {
    let mut served = serve(&[]);
    let cases = expected();
    let judge = http_judge(&served.url, 5.0, 2, 0.5);
    let first = judge.score_prompt(&cases[0].0).expect("a score");
    served.child.kill().expect("kill");
    served.child.wait().expect("wait");
    // Answered before: from the cache. New: connection refused, retried, then the fallback.
    assert_eq!(judge.score_prompt(&cases[0].0), Ok(first));
    assert_eq!(judge.score_prompt(&cases[1].0), Ok(0.5));
    let stats = judge.stats();
    assert_eq!((stats.fallbacks, stats.retries), (1, 2));
    assert!(stats.last_error.expect("error").contains("cannot connect"),);
    // A fallback is not cached past the batch: once the batch ends, the judge asks again.
    judge.end_batch();
    assert_eq!(judge.score_prompt(&cases[1].0), Ok(0.5));
    assert_eq!(judge.stats().fallbacks, 2);
}

/// The WeThink example's GRPO stage against the served judge: the rows routed to the model are
/// judged over HTTP, counted in the step's metrics, with no fallback.
#[test]
fn the_wethink_example_trains_against_a_served_judge() {
    use rlx_compiler::driver::{self, CheckOptions};
    use rlx_compiler::plan::{DataSource, StageKind, Value as PlanValue};
    use rlx_runtime::device::Cpu;
    use rlx_runtime::train::{RunOptions, run};

    let served = serve(&[]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let file = root.join("wethink/recipe.rlx");
    let (source, _) = driver::read_file(&file).unwrap();
    let analysis = driver::analyze(&source, driver::recipe_dir(&file), CheckOptions::default());
    let mut plan = analysis.plan.expect("the example builds");
    // Two rows, one of them judged, image paths made absolute.
    let data = root.join("vision/data");
    let text = std::fs::read_to_string(data.join("train.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .collect();
    let judged = rows.iter().filter(|r| r["reward"] == "model").take(1);
    let ruled = rows.iter().filter(|r| r["reward"] == "rule").take(1);
    let mut slice = String::new();
    for row in judged.chain(ruled) {
        let mut row = row.clone();
        let path = data.join(row["image_path"].as_str().unwrap());
        row["image_path"] = path.canonicalize().unwrap().display().to_string().into();
        slice.push_str(&format!("{row}\n"));
    }
    let slice_file = std::env::temp_dir().join(format!("rlx-wethink-{}.jsonl", std::process::id()));
    std::fs::write(&slice_file, slice).unwrap();
    for dataset in &mut plan.datasets {
        if let DataSource::File { path, .. } = &mut dataset.source {
            *path = slice_file.display().to_string();
        }
    }
    let judge = plan.models.iter_mut().find(|m| m.name == "judge").unwrap();
    judge
        .args
        .insert("url".into(), PlanValue::Text(served.url.clone()));
    plan.stages.retain(|s| matches!(s.kind, StageKind::Rl(_)));
    for stage in &mut plan.stages {
        if let StageKind::Rl(rl) = &mut stage.kind {
            // Short sequences for the debug profile: no system prompt, 4 tokens.
            rl.prompt.messages.retain(|m| m.role != "system");
            rl.rollout.max_tokens = 4;
            rl.batch = rl.algorithm.group * 2;
            rl.shuffle = false;
        }
        stage.eval = None;
    }
    let out = std::env::temp_dir().join(format!("rlx-wethink-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let options = RunOptions {
        max_steps: Some(1),
        save_every: 0,
        micro_batch: 16,
        ..RunOptions::new(out.clone())
    };
    let mut warnings = Vec::new();
    run::<Cpu>(&plan, &options, &Default::default(), &mut |event| {
        if let rlx_runtime::train::Event::Warning { message } = event {
            warnings.push(message.to_string());
        }
    })
    .unwrap();
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(metrics.lines().next().unwrap()).unwrap();
    // The judged prompt's 8 completions ask the judge 8 times; repeated completions are
    // answered from the cache.
    assert_eq!(line["judge/judge/asked"], 8, "{line}");
    let requests = line["judge/judge/requests"].as_u64().unwrap();
    assert!((1..=8).contains(&requests), "{line}");
    assert_eq!(line["judge/judge/fallbacks"], 0, "{line}");
    assert!(warnings.is_empty(), "{warnings:?}");
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_file(slice_file);
}
