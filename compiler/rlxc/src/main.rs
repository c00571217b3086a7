//! `rlxc`, the rlx command-line compiler. See docs/cli.md for the contract scripts rely on.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use rlx_compiler::driver;
use rlx_compiler::render::{self, MessageFormat};

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
    }
}

fn check(
    paths: &[PathBuf],
    format: Format,
    color: ColorChoice,
    options: driver::CheckOptions,
) -> ExitCode {
    let format = match format {
        Format::Human => MessageFormat::Human,
        Format::Short => MessageFormat::Short,
        Format::Json => MessageFormat::Json,
    };
    let color = match color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
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
