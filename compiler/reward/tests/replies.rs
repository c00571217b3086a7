//! Chat replies before scoring (`StageRewards::score_judged`): a reply whose prompt reads a
//! judge's score is asked with the score the judge gives, not the recording pass's stand-in;
//! each completion's call is answered on its own, in the completions' order whatever the
//! threads; and no call is answered twice.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use rlx_compiler::driver::{self, CheckOptions};
use rlx_compiler::plan::{StageKind, StepVars};
use rlx_reward::judge::{ChatSettings, JudgeBackend, JudgeStats, Judges, PolicyChat};
use rlx_reward::{Backend, Item, StageRewards, Value};

const RECIPE: &str = r#"
dataset rows = jsonl("rows.jsonl") { q: text }
model policy = tiny()
model grader = judge_http("http://127.0.0.1:9/v1", model = "grader")
model reader = policy_chat(template = "{verdict} {text}")
prompt ask(ex: rows) = chat { user: ex.q }

reward echoed(c: completion, ex: rows) -> float = {
    let verdict = if grader.score(answer = c.text) > 0.5 { "good" } else { "bad" };
    if reader.reply(verdict = verdict, text = c.text) == "ok " + verdict { 1.0 } else { 0.0 }
}

train policy {
    optimizer = adamw(lr = 1e-6)
    stage main = rl { data = rows, prompt = ask, reward = echoed, steps = 1, batch = 8 }
}
"#;

/// Scores 1 for an answer that says "right"; counts what it is asked.
#[derive(Default)]
struct Grader {
    cache: Mutex<HashMap<String, f64>>,
    fetched: Mutex<usize>,
}

impl Grader {
    fn grade(&self, prompt: &str) -> f64 {
        *self.fetched.lock().unwrap() += 1;
        let score = if prompt.contains("right") { 1.0 } else { 0.0 };
        self.cache.lock().unwrap().insert(prompt.to_string(), score);
        score
    }
}

impl JudgeBackend for Grader {
    fn prompt(&self, args: &[(&str, &Value<'_>)]) -> String {
        args.iter().map(|(_, v)| v.to_string()).collect()
    }
    fn prefetch(&self, prompts: &[String]) {
        for prompt in prompts {
            if self.cached_score(prompt).is_none() {
                self.grade(prompt);
            }
        }
    }
    fn score_prompt(&self, prompt: &str) -> Result<f64, String> {
        Ok(self
            .cached_score(prompt)
            .unwrap_or_else(|| self.grade(prompt)))
    }
    fn cached_score(&self, prompt: &str) -> Option<f64> {
        self.cache.lock().unwrap().get(prompt).copied()
    }
    fn end_batch(&self) {}
    fn stats(&self) -> JudgeStats {
        JudgeStats::default()
    }
}

#[test]
fn replies_read_the_judges_scores_and_each_completion_is_answered_once_in_order() {
    let (file, _) = driver::source_from_bytes("test.rlx".into(), RECIPE.as_bytes().to_vec());
    let analysis = driver::analyze(&file, Path::new("."), CheckOptions { data: false });
    let plan = analysis.plan.expect("a plan");
    let stage = &plan.stages[0];
    let StageKind::Rl(rl) = &stage.kind else {
        panic!("an RL stage")
    };
    // More than one chunk of 64, scored on two threads.
    let texts: Vec<String> = (0..150)
        .map(|i| format!("{} {i}", if i % 3 == 0 { "right" } else { "wrong" }))
        .collect();
    let row = serde_json::Map::new();
    let items: Vec<Item<'_>> = texts
        .iter()
        .map(|text| Item {
            text,
            tokens: Some(1),
            truncated: Some(false),
            row: &row,
            group: 0,
        })
        .collect();
    let step = StepVars {
        step: 0,
        stage_step: 0,
        stage_steps: 1,
    };
    let reader = plan.models.iter().find(|m| m.name == "reader").unwrap();
    for backend in [Backend::Interpreter, Backend::Jit] {
        // Fresh judges: none of the scores is known before the first round.
        let mut judges = Judges::default();
        judges
            .backends
            .insert("grader".into(), Box::new(Grader::default()));
        judges.chats.insert(
            "reader".into(),
            PolicyChat::new(ChatSettings::from_plan(reader).unwrap()),
        );
        let rewards = StageRewards::new(rl, &stage.graph, backend, 2).unwrap();
        let mut answered: Vec<(usize, String)> = Vec::new();
        let scores = rewards
            .score_judged(&items, step, &judges, |chat, calls| {
                let mut order: Vec<usize> = calls.iter().map(|(i, _)| *i).collect();
                order.sort();
                assert_eq!(order, calls.iter().map(|(i, _)| *i).collect::<Vec<_>>());
                let replies = calls
                    .iter()
                    .map(|(_, prompt)| format!("ok {}", prompt.split(' ').next().unwrap()))
                    .collect();
                answered.extend(calls.iter().cloned());
                chat.answer(calls, replies, 0.0);
                Ok(())
            })
            .unwrap();
        // Every reply was asked with the judge's verdict, so it agrees with it.
        assert!(
            scores.rewards.iter().all(|&r| r == 1.0),
            "{:?}",
            scores.rewards
        );
        // The first round asks before the scores are known ("bad" for all), the second with them:
        // the completions the judge calls good are asked twice, no call is answered twice.
        let good = texts.iter().filter(|t| t.starts_with("right")).count();
        assert_eq!(answered.len(), texts.len() + good);
        let mut distinct = answered.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), answered.len());
        assert!(answered.contains(&(3, "good right 3".to_string())));
    }
}
