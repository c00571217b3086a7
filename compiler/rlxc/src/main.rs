//! `rlxc`, the rlx command-line compiler. See docs/cli.md for the contract scripts rely on.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use rlx_compiler::driver;
use rlx_compiler::render::{self, MessageFormat};

mod run;
mod score;

#[derive(Parser)]
#[command(
    name = "rlxc",
    version,
    about = "Compiler for rlx, a typed recipe language for RL post-training"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and resolve recipes; report every problem found.
    Check {
        /// Recipe files, or directories to search for `.rlx` files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        message_format: Format,
        /// When to colour human-readable output.
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
        /// Do not open the datasets' files (for editing a recipe without its data).
        #[arg(long)]
        no_data: bool,
    },
    /// Check a recipe and write its execution plan (JSON).
    Build {
        /// The recipe.
        file: PathBuf,
        /// Where to write the plan; standard output when left out.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        message_format: Format,
        /// When to colour human-readable output.
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
        /// Do not open the datasets' files.
        #[arg(long)]
        no_data: bool,
    },
    /// Print a recipe's plan for people: stages, expanded presets with where each setting came
    /// from, the reward graph, schedules, tokens per step and a memory estimate.
    Explain {
        /// The recipe.
        file: PathBuf,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        message_format: Format,
        /// When to colour human-readable output.
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
        /// Do not open the datasets' files.
        #[arg(long)]
        no_data: bool,
    },
    /// Score completions offline with a reward of a recipe: one JSON object per input line
    /// (`completion`, the dataset fields the reward reads, `group` for group statistics), one
    /// `{"reward": ..., "terms": {...}}` per output line, a summary on standard error.
    Reward {
        /// The recipe (or module of rewards).
        file: PathBuf,
        /// The reward to score with.
        #[arg(long)]
        reward: String,
        /// JSON Lines of completions.
        #[arg(long)]
        completions: PathBuf,
        /// Where to write the scores; standard output when left out.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Worker threads (0: one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Evaluate with the reference interpreter instead of compiled code.
        #[arg(long)]
        interpret: bool,
        /// The training step schedules in the reward are evaluated at.
        #[arg(long, default_value_t = 0)]
        step: u64,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        message_format: Format,
        /// When to colour human-readable output.
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
        /// Do not open the datasets' files.
        #[arg(long)]
        no_data: bool,
    },
    /// Compile a recipe, then train: its stages in order on the CPU (or CUDA), with metrics in
    /// `OUT/metrics.jsonl`, evaluations in `OUT/eval.jsonl`, checkpoints in `OUT/checkpoints/`,
    /// and the final weights as a Hugging Face folder in `OUT/final/`.
    Run {
        /// The recipe.
        file: PathBuf,
        /// The output folder [default: runs/<recipe>, or runs/<recipe>-N when that holds a run].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Where tensors live.
        #[arg(long, value_enum, default_value_t = run::Device::Cpu)]
        device: run::Device,
        /// Stop after this many steps in all (with a checkpoint); --resume continues.
        #[arg(long)]
        max_steps: Option<u64>,
        /// Continue the run in --out from its newest checkpoint.
        #[arg(long)]
        resume: bool,
        /// Override the recipe's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Write a checkpoint every this many steps (and at every stage's end).
        #[arg(long, default_value_t = 50)]
        save_every: u64,
        /// Checkpoints to keep.
        #[arg(long, default_value_t = 3)]
        keep: usize,
        /// Threads scoring rewards.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Sequences per forward/backward pass (larger batches accumulate gradients).
        #[arg(long, default_value_t = 32)]
        micro_batch: usize,
        /// Use at most this many rows of each evaluation dataset.
        #[arg(long)]
        eval_rows: Option<usize>,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        message_format: Format,
        /// When to colour human-readable output.
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
    },
    /// Serve a reward model (a Hugging Face folder with a scalar `score` head) as a judge over the
    /// OpenAI protocol: `POST /v1/chat/completions` answers the conversation's score.
    ServeJudge {
        /// The reward model's folder (config.json, model.safetensors, tokenizer.json if any).
        model_dir: PathBuf,
        /// The port to listen on (0: any free port, printed).
        #[arg(long, default_value_t = 8000)]
        port: u16,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// The model name answered in completions (default: the folder's name).
        #[arg(long)]
        name: Option<String>,
        /// Wait this long before every answer (for testing clients' timeouts).
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
        /// Answer HTTP 503 to the first N requests (for testing clients' retries).
        #[arg(long, default_value_t = 0)]
        fail_first: u64,
    },
    /// Run the language server on standard input and output (for editors).
    Lsp,
    /// Format recipes in place in the canonical layout (comments kept).
    Fmt {
        /// Recipe files, or directories to search for `.rlx` files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Change nothing; exit 1 if a file is not formatted.
        #[arg(long)]
        check: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Short,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Exit codes of docs/cli.md.
const EXIT_ERRORS: u8 = 1;
const EXIT_USAGE_OR_IO: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            // --help and --version are not errors.
            return if error.use_stderr() {
                ExitCode::from(EXIT_USAGE_OR_IO)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Check {
            files,
            message_format,
            color,
            no_data,
        } => check(
            &files,
            message_format,
            color,
            driver::CheckOptions { data: !no_data },
        ),
        Command::Build {
            file,
            output,
            message_format,
            color,
            no_data,
        } => {
            let options = driver::CheckOptions { data: !no_data };
            match compile(&file, message_format, color, options) {
                Ok(plan) => write_plan(&plan, output.as_deref()),
                Err(code) => code,
            }
        }
        Command::Explain {
            file,
            message_format,
            color,
            no_data,
        } => {
            let options = driver::CheckOptions { data: !no_data };
            match compile(&file, message_format, color, options) {
                Ok(plan) => {
                    let shape = driver::policy_shape(&plan);
                    print!("{}", rlx_compiler::explain::explain(&plan, &shape));
                    ExitCode::SUCCESS
                }
                Err(code) => code,
            }
        }
        Command::Fmt { files, check } => fmt(&files, check),
        Command::Run {
            file,
            out,
            device,
            max_steps,
            resume,
            seed,
            save_every,
            keep,
            threads,
            micro_batch,
            eval_rows,
            message_format,
            color,
        } => {
            let options = driver::CheckOptions { data: true };
            let plan = match compile(&file, message_format, color, options) {
                Ok(plan) => plan,
                Err(code) => return code,
            };
            let out = run::output_folder(&file, out, resume);
            let options = rlx_runtime::train::RunOptions {
                max_steps,
                resume,
                seed,
                save_every,
                keep,
                threads: threads.max(1),
                micro_batch: micro_batch.max(1),
                eval_rows,
                ..rlx_runtime::train::RunOptions::new(out.clone())
            };
            let _ = writeln!(
                std::io::stderr().lock(),
                "training `{}` into `{}`",
                file.display(),
                out.display()
            );
            match run::train(&plan, &options, device) {
                Ok(summary) => {
                    run::report(&plan, &summary, &out);
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    let _ = writeln!(std::io::stderr().lock(), "\nerror: {error}");
                    ExitCode::from(EXIT_ERRORS)
                }
            }
        }
        Command::ServeJudge {
            model_dir,
            port,
            host,
            name,
            delay_ms,
            fail_first,
        } => {
            let faults = rlx_runtime::serve::Faults {
                delay: std::time::Duration::from_millis(delay_ms),
                fail_first,
            };
            let served =
                rlx_runtime::serve::serve_judge(&model_dir, &host, port, name, faults, |at| {
                    let _ = writeln!(
                        std::io::stderr().lock(),
                        "serving `{}` at http://{at}/v1",
                        model_dir.display()
                    );
                });
            match served {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    let _ = writeln!(std::io::stderr().lock(), "error: {error}");
                    ExitCode::from(EXIT_USAGE_OR_IO)
                }
            }
        }
        Command::Lsp => match rlx_lsp::run_stdio() {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "error: the language server stopped: {error}"
                );
                ExitCode::from(EXIT_USAGE_OR_IO)
            }
        },
        Command::Reward {
            file,
            reward,
            completions,
            out,
            threads,
            interpret,
            step,
            message_format,
            color,
            no_data,
        } => {
            let options = driver::CheckOptions { data: !no_data };
            let analysis = match analyze(&file, message_format, color, options, Some(&reward)) {
                Ok(analysis) => analysis,
                Err(code) => return code,
            };
            let graph = match analysis.reward {
                Some(Ok(graph)) => graph,
                Some(Err(message)) => {
                    let _ = writeln!(std::io::stderr().lock(), "error: {message}");
                    return ExitCode::from(EXIT_ERRORS);
                }
                None => return ExitCode::from(EXIT_ERRORS),
            };
            let settings = score::Settings {
                threads,
                interpret,
                step,
            };
            match score::run(&graph, &completions, out.as_deref(), settings) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    let _ = writeln!(std::io::stderr().lock(), "error: {error}");
                    ExitCode::from(error.exit_code())
                }
            }
        }
    }
}

fn message_format(format: Format) -> MessageFormat {
    match format {
        Format::Human => MessageFormat::Human,
        Format::Short => MessageFormat::Short,
        Format::Json => MessageFormat::Json,
    }
}

fn use_color(color: ColorChoice) -> bool {
    match color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    }
}

/// Every phase over one recipe; its diagnostics are printed, and the plan returned when there
/// is one.
fn compile(
    path: &std::path::Path,
    format: Format,
    color: ColorChoice,
    options: driver::CheckOptions,
) -> Result<rlx_compiler::plan::Plan, ExitCode> {
    let analysis = analyze(path, format, color, options, None)?;
    match analysis.plan {
        Some(plan) => Ok(plan),
        None => {
            let _ = writeln!(
                std::io::stderr().lock(),
                "error: `{}` has no `train` block: nothing to build (a module of rewards is checked with `rlxc check`)",
                path.display()
            );
            Err(ExitCode::from(EXIT_ERRORS))
        }
    }
}

/// Every phase over one recipe (and the reward `reward` lowered on its own); its diagnostics are
/// printed, and the analysis returned when they hold no error.
fn analyze(
    path: &std::path::Path,
    format: Format,
    color: ColorChoice,
    options: driver::CheckOptions,
    reward: Option<&str>,
) -> Result<driver::Analysis, ExitCode> {
    let format = message_format(format);
    let color = use_color(color);
    let stderr = std::io::stderr();
    let (file, utf8_error) = driver::read_file(path).map_err(|error| {
        let _ = writeln!(stderr.lock(), "error: {error}");
        ExitCode::from(EXIT_USAGE_OR_IO)
    })?;
    let analysis = match utf8_error {
        Some(diagnostic) => driver::Analysis {
            diagnostics: vec![diagnostic],
            plan: None,
            has_train: false,
            reward: None,
            module: Default::default(),
            index: Default::default(),
        },
        None => driver::analyze_reward(&file, driver::recipe_dir(path), options, reward),
    };
    for diagnostic in &analysis.diagnostics {
        let text = render::render(format, &file, diagnostic, color);
        let _ = if format == MessageFormat::Json {
            std::io::stdout().lock().write_all(text.as_bytes())
        } else {
            stderr.lock().write_all(text.as_bytes())
        };
    }
    if analysis.diagnostics.iter().any(|d| d.is_error()) {
        return Err(ExitCode::from(EXIT_ERRORS));
    }
    Ok(analysis)
}

/// Writes the plan to `output` (atomically) or to standard output.
fn write_plan(plan: &rlx_compiler::plan::Plan, output: Option<&std::path::Path>) -> ExitCode {
    let json = plan.to_json();
    match output {
        None => {
            let _ = std::io::stdout().lock().write_all(json.as_bytes());
            ExitCode::SUCCESS
        }
        Some(path) => match write_atomically(path, &json) {
            Ok(()) => {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "wrote the plan of {} stage{} to `{}`",
                    plan.stages.len(),
                    if plan.stages.len() == 1 { "" } else { "s" },
                    path.display()
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "error: cannot write `{}`: {error}",
                    path.display()
                );
                ExitCode::from(EXIT_USAGE_OR_IO)
            }
        },
    }
}

fn check(
    paths: &[PathBuf],
    format: Format,
    color: ColorChoice,
    options: driver::CheckOptions,
) -> ExitCode {
    let format = message_format(format);
    let color = use_color(color);
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let (mut files, mut errors, mut warnings, mut unreadable) = (0, 0, 0, 0);
    for path in paths.iter().flat_map(|p| driver::expand_path(p)) {
        match driver::check_file(&path, options) {
            Ok(report) => {
                files += 1;
                errors += report.error_count();
                warnings += report.warning_count();
                for diagnostic in &report.diagnostics {
                    let text = render::render(format, &report.file, diagnostic, color);
                    // JSON is for tools and goes to stdout; text is for people and goes to stderr.
                    let _ = if format == MessageFormat::Json {
                        stdout.lock().write_all(text.as_bytes())
                    } else {
                        stderr.lock().write_all(text.as_bytes())
                    };
                }
            }
            Err(error) => {
                unreadable += 1;
                let _ = writeln!(stderr.lock(), "error: {error}");
            }
        }
    }
    if format == MessageFormat::Human {
        let _ = writeln!(stderr.lock(), "{}", summary(files, errors, warnings));
    }
    if unreadable > 0 {
        ExitCode::from(EXIT_USAGE_OR_IO)
    } else if errors > 0 {
        ExitCode::from(EXIT_ERRORS)
    } else {
        ExitCode::SUCCESS
    }
}

/// `rlxc fmt`: formats in place (temp file, then rename), or with `--check` lists the files that
/// would change. A file that does not parse is reported and left alone.
fn fmt(paths: &[PathBuf], check_only: bool) -> ExitCode {
    let stderr = std::io::stderr();
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let (mut unformatted, mut broken, mut unreadable) = (0, 0, 0);
    for path in paths.iter().flat_map(|p| driver::expand_path(p)) {
        let (file, utf8_error) = match driver::read_file(&path) {
            Ok(loaded) => loaded,
            Err(error) => {
                unreadable += 1;
                let _ = writeln!(stderr.lock(), "error: {error}");
                continue;
            }
        };
        // `format` declines a file with syntax errors; only then is the file checked, to say why.
        let formatted = if utf8_error.is_none() {
            rlx_lang::format::format(&file.text)
        } else {
            None
        };
        let Some(formatted) = formatted else {
            broken += 1;
            let options = driver::CheckOptions { data: false };
            let report = driver::check_loaded(file, utf8_error, driver::recipe_dir(&path), options);
            for diagnostic in report.diagnostics.iter().filter(|d| d.is_error()) {
                let _ = stderr
                    .lock()
                    .write_all(render::human(&report.file, diagnostic, color).as_bytes());
            }
            let _ = writeln!(
                stderr.lock(),
                "error: `{}` was not formatted: it does not parse",
                path.display()
            );
            continue;
        };
        if formatted == file.text {
            continue;
        }
        unformatted += 1;
        if check_only {
            let _ = writeln!(stderr.lock(), "would reformat `{}`", path.display());
        } else if let Err(error) = write_atomically(&path, &formatted) {
            unreadable += 1;
            let _ = writeln!(
                stderr.lock(),
                "error: cannot write `{}`: {error}",
                path.display()
            );
        }
    }
    if unreadable > 0 {
        ExitCode::from(EXIT_USAGE_OR_IO)
    } else if broken > 0 || (check_only && unformatted > 0) {
        ExitCode::from(EXIT_ERRORS)
    } else {
        ExitCode::SUCCESS
    }
}

/// Writes beside the file, then renames over it, so a failure never leaves half a recipe.
fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.rlxfmt.tmp"));
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

fn plural(count: usize, word: &str) -> String {
    if count == 1 {
        format!("1 {word}")
    } else {
        format!("{count} {word}s")
    }
}

fn summary(files: usize, errors: usize, warnings: usize) -> String {
    let checked = format!("checked {}", plural(files, "file"));
    match (errors, warnings) {
        (0, 0) => format!("{checked}: no problems"),
        (0, w) => format!("{checked}: {}", plural(w, "warning")),
        (e, 0) => format!("{checked}: {}", plural(e, "error")),
        (e, w) => format!(
            "{checked}: {}, {}",
            plural(e, "error"),
            plural(w, "warning")
        ),
    }
}
