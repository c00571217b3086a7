//! `rlxc reward`: completions from a JSON Lines file scored with one reward of a recipe. Every line
//! is read and checked before anything is scored, so a bad line is reported with its number and
//! no output is written.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use rlx_compiler::lower::RewardGraph;
use rlx_compiler::plan::StepVars;
use rlx_reward::{Backend, Engine, Item, NoJudge, Value};

pub struct Settings {
    pub threads: usize,
    pub interpret: bool,
    pub step: u64,
}

#[derive(Debug)]
pub enum ScoreFailure {
    /// The completions file could not be read, or the output written.
    Io(String),
    /// A line is malformed, lacks a field, or its completion could not be scored.
    Input(String),
}

impl ScoreFailure {
    pub fn exit_code(&self) -> u8 {
        match self {
            ScoreFailure::Io(_) => 2,
            ScoreFailure::Input(_) => 1,
        }
    }
}

impl std::fmt::Display for ScoreFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScoreFailure::Io(m) | ScoreFailure::Input(m) => f.write_str(m),
        }
    }
}

/// One input line, parsed.
struct Line {
    number: usize,
    row: serde_json::Map<String, serde_json::Value>,
    tokens: Option<i64>,
    truncated: Option<bool>,
    group: u64,
}

pub fn run(
    graph: &RewardGraph,
    input: &Path,
    output: Option<&Path>,
    settings: Settings,
) -> Result<(), ScoreFailure> {
    let mut roots = vec![graph.reward];
    roots.extend(graph.terms.iter().map(|t| t.node));
    let backend = if settings.interpret {
        Backend::Interpreter
    } else {
        Backend::Jit
    };
    let engine = Engine::new(&graph.graph, &roots, backend, settings.threads).map_err(|e| {
        ScoreFailure::Input(format!("the reward `{}` cannot be scored: {e}", graph.name))
    })?;
    let name = input.display().to_string();
    let text = std::fs::read_to_string(input)
        .map_err(|e| ScoreFailure::Io(format!("cannot read `{name}`: {e}")))?;
    let lines = parse_lines(&name, &text, engine.program().reads.clone())?;
    let items: Vec<Item> = lines
        .iter()
        .map(|line| Item {
            text: line.row["completion"].as_str().unwrap_or_default(),
            tokens: line.tokens,
            truncated: line.truncated,
            row: &line.row,
            group: line.group,
        })
        .collect();
    let step = StepVars {
        step: settings.step,
        stage_step: settings.step,
        stage_steps: 0,
    };
    let start = Instant::now();
    let scores = engine.score(&items, step, &NoJudge).map_err(|e| {
        ScoreFailure::Input(format!("{name}:{}: {}", lines[e.index].number, e.message))
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let mut out = String::with_capacity(lines.len() * 64);
    for values in scores.chunks(roots.len()) {
        let terms: serde_json::Map<String, serde_json::Value> = graph
            .terms
            .iter()
            .zip(&values[1..])
            .map(|(term, v)| (term.name.clone(), number(*v)))
            .collect();
        let line = serde_json::json!({ "reward": number(values[0]), "terms": terms });
        let _ = writeln!(out, "{line}");
    }
    match output {
        Some(path) => crate::write_atomically(path, &out)
            .map_err(|e| ScoreFailure::Io(format!("cannot write `{}`: {e}", path.display())))?,
        None => {
            let _ = std::io::stdout().lock().write_all(out.as_bytes());
        }
    }
    let _ = std::io::stderr()
        .lock()
        .write_all(summary(graph, &scores, roots.len(), seconds).as_bytes());
    Ok(())
}

/// JSON has no NaN or infinity: those are written as `null`.
fn number(value: f64) -> serde_json::Value {
    serde_json::Number::from_f64(value).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

fn parse_lines(
    name: &str,
    text: &str,
    reads: rlx_reward::Reads,
) -> Result<Vec<Line>, ScoreFailure> {
    let mut lines = Vec::new();
    let mut groups: HashMap<String, u64> = HashMap::new();
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let at = |message: String| ScoreFailure::Input(format!("{name}:{number}: {message}"));
        let json: serde_json::Value = serde_json::from_str(raw).map_err(|e| {
            let message = e.to_string();
            let message = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(m, _)| m);
            ScoreFailure::Input(format!(
                "{name}:{number}:{}: not JSON: {message}",
                e.column()
            ))
        })?;
        let serde_json::Value::Object(row) = json else {
            return Err(at("expected a JSON object".into()));
        };
        match row.get("completion") {
            Some(serde_json::Value::String(_)) => {}
            Some(_) => return Err(at("`completion` must be a string".into())),
            None => {
                return Err(at(
                    "missing field `completion` (the completion's text)".into()
                ));
            }
        }
        for (field, ty) in &reads.row {
            match row.get(field) {
                Some(value) => {
                    Value::from_json(value, ty).map_err(|e| at(format!("field `{field}`: {e}")))?;
                }
                None if ty.ends_with('?') => {}
                None => {
                    return Err(at(format!(
                        "missing field `{field}` (the reward reads `ex.{field}`)"
                    )));
                }
            }
        }
        let tokens = match row.get("tokens") {
            Some(v) => Some(
                v.as_i64()
                    .ok_or_else(|| at("`tokens` must be an integer".into()))?,
            ),
            None if reads.completion.contains("tokens") => {
                return Err(at(
                    "missing field `tokens` (the reward reads `c.tokens`)".into()
                ));
            }
            None => None,
        };
        let truncated = match row.get("truncated") {
            Some(v) => Some(
                v.as_bool()
                    .ok_or_else(|| at("`truncated` must be true or false".into()))?,
            ),
            None if reads.completion.contains("truncated") => {
                return Err(at(
                    "missing field `truncated` (the reward reads `c.truncated`)".into(),
                ));
            }
            None => None,
        };
        let group = match row.get("group") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(_) => return Err(at("`group` must be a string or a number".into())),
            None if reads.group => {
                return Err(at(
                    "missing field `group` (the reward uses group statistics: completions of one prompt share a group)".into(),
                ));
            }
            None => String::new(),
        };
        let next = groups.len() as u64;
        let group = *groups.entry(group).or_insert(next);
        lines.push(Line {
            number,
            row,
            tokens,
            truncated,
            group,
        });
    }
    Ok(lines)
}

fn summary(graph: &RewardGraph, scores: &[f64], width: usize, seconds: f64) -> String {
    let count = scores.len() / width.max(1);
    let mean = |column: usize| {
        if count == 0 {
            return 0.0;
        }
        scores.iter().skip(column).step_by(width).sum::<f64>() / count as f64
    };
    let mut text = format!(
        "scored {count} completion{} with `{}` in {:.3} s ({:.0} completions/s)\n  reward mean {:.4}\n",
        if count == 1 { "" } else { "s" },
        graph.name,
        seconds,
        count as f64 / seconds.max(1e-9),
        mean(0),
    );
    for (i, term) in graph.terms.iter().enumerate() {
        let _ = writeln!(text, "  {:<20} mean {:.4}", term.name, mean(i + 1));
    }
    text
}
