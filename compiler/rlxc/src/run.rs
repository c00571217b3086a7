//! `rlxc run`: compile, then train on the chosen device, printing progress and evaluations.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use rlx_compiler::plan::{Plan, StageKind};
use rlx_runtime::train::{Event, RunOptions, Summary};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Device {
    Cpu,
    Cuda,
}

/// The output folder: the one given, else `runs/<recipe>` — or, when that holds a run already and
/// this is not a resume, the first free `runs/<recipe>-N`, so an earlier run is never touched.
pub fn output_folder(recipe: &Path, given: Option<PathBuf>, resume: bool) -> PathBuf {
    if let Some(out) = given {
        return out;
    }
    let stem = recipe
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into());
    // `examples/arith/recipe.rlx` is better named after its folder.
    let absolute = std::path::absolute(recipe).unwrap_or_else(|_| recipe.to_path_buf());
    let name = match (stem.as_str(), absolute.parent().and_then(Path::file_name)) {
        ("recipe", Some(parent)) => parent.to_string_lossy().into_owned(),
        _ => stem,
    };
    let base = Path::new("runs").join(&name);
    if resume || !holds_run(&base) {
        return base;
    }
    (2..)
        .map(|n| Path::new("runs").join(format!("{name}-{n}")))
        .find(|p| !holds_run(p))
        .expect("a free folder")
}

fn holds_run(folder: &Path) -> bool {
    folder.join("metrics.jsonl").exists() || folder.join("checkpoints").exists()
}

pub fn train(plan: &Plan, options: &RunOptions, device: Device) -> Result<Summary, String> {
    let mut progress = Progress::new();
    let mut events = |event: Event| progress.show(event);
    let device = match device {
        Device::Cpu => rlx_runtime::device::Device::Cpu,
        Device::Cuda => rlx_runtime::device::Device::Cuda,
    };
    rlx_runtime::device::run_on(device, plan, options, &mut events)
}

/// Progress on standard error: a bar rewritten in place on a terminal, a line per step otherwise.
struct Progress {
    terminal: bool,
    started: std::time::Instant,
    bar_shown: bool,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            terminal: std::io::stderr().is_terminal(),
            started: std::time::Instant::now(),
            bar_shown: false,
        }
    }

    fn clear_bar(&mut self, out: &mut impl Write) {
        if self.bar_shown {
            let _ = write!(out, "\r\x1b[2K");
            self.bar_shown = false;
        }
    }

    fn show(&mut self, event: Event) {
        let stderr = std::io::stderr();
        let mut out = stderr.lock();
        match event {
            Event::Resumed { from, step } => {
                let _ = writeln!(out, "resumed from `{}` at step {step}", from.display());
            }
            Event::Stage { name, kind, steps } => {
                self.clear_bar(&mut out);
                let _ = writeln!(out, "stage `{name}` ({kind}): {steps} steps");
            }
            Event::Step {
                stage,
                stage_step,
                stage_steps,
                step,
                total_steps,
                metrics,
            } => {
                let number = |key: &str| metrics.get(key).and_then(serde_json::Value::as_f64);
                let mut fields = Vec::new();
                if let Some(reward) = number("reward/mean") {
                    fields.push(format!("reward {reward:.3}"));
                }
                if let Some(loss) = number("loss") {
                    fields.push(format!("loss {loss:.4}"));
                }
                if let Some(lr) = number("lr") {
                    fields.push(format!("lr {lr:.2e}"));
                }
                let elapsed = self.started.elapsed().as_secs_f64();
                let line = format!(
                    "{stage} {}/{stage_steps} (step {}/{total_steps}) {} [{elapsed:.0}s]",
                    stage_step + 1,
                    step + 1,
                    fields.join(", ")
                );
                if self.terminal {
                    let width = 24usize;
                    let done =
                        ((step + 1) as f64 / total_steps.max(1) as f64 * width as f64) as usize;
                    let bar: String =
                        "█".repeat(done.min(width)) + &" ".repeat(width - done.min(width));
                    let _ = write!(out, "\r\x1b[2K▕{bar}▏ {line}");
                    self.bar_shown = true;
                } else {
                    let _ = writeln!(out, "{line}");
                }
            }
            Event::Eval {
                stage,
                stage_step,
                metrics,
            } => {
                self.clear_bar(&mut out);
                let shown: Vec<String> = metrics
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{} {v:.3}",
                            k.trim_start_matches("eval/").trim_end_matches("/mean")
                        )
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "eval {stage} at step {stage_step}: {}",
                    shown.join(", ")
                );
            }
            Event::Checkpoint { path } => {
                if !self.terminal {
                    let _ = writeln!(out, "checkpoint `{}`", path.display());
                }
            }
            Event::Warning { message } => {
                self.clear_bar(&mut out);
                let _ = writeln!(out, "warning: {message}");
            }
        }
        let _ = out.flush();
    }
}

/// After a run: each RL stage's held-out metrics at its start and its end.
pub fn report(plan: &Plan, summary: &Summary, out: &Path) {
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    let _ = writeln!(err);
    for stage in &plan.stages {
        if !matches!(stage.kind, StageKind::Rl(_)) {
            continue;
        }
        let evals: Vec<_> = summary
            .evals
            .iter()
            .filter(|e| e.stage == stage.name)
            .collect();
        let (Some(first), Some(last)) = (evals.first(), evals.last()) else {
            continue;
        };
        if first.stage_step == last.stage_step {
            continue;
        }
        for (key, start) in &first.metrics {
            if let Some(end) = last.metrics.get(key) {
                let _ = writeln!(
                    err,
                    "{} `{}`: {start:.3} at step {} → {end:.3} at step {} ({:+.1} points)",
                    key,
                    stage.name,
                    first.stage_step,
                    last.stage_step,
                    (end - start) * 100.0
                );
            }
        }
    }
    match &summary.final_folder {
        Some(folder) => {
            let _ = writeln!(
                err,
                "done: {} steps; metrics in `{}`, final weights in `{}`",
                summary.steps,
                out.join("metrics.jsonl").display(),
                folder.display()
            );
        }
        None => {
            let _ = writeln!(
                err,
                "stopped after {} steps; continue with --resume --out {}",
                summary.steps,
                out.display()
            );
        }
    }
}
