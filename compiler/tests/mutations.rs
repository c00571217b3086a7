//! Robustness: 10,000 random byte-level mutations of the examples never panic the checker or the
//! renderers, and every diagnostic's spans lie inside the file. Deterministic (seeded), so a failure
//! prints an input that reproduces it; inputs that once failed are kept in tests/regressions/ and
//! replayed first.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use rlx_compiler::driver::{CheckOptions, FileReport, check_bytes};
use rlx_compiler::render;

/// SplitMix64: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Fragments that are likely to confuse a parser: delimiters, keywords, quotes, multi-byte text.
const FRAGMENTS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    "::",
    "=",
    "==",
    "=>",
    "->",
    "\"",
    "\"\"\"",
    "/*",
    "//",
    "///",
    "@",
    "?",
    "|",
    ".",
    "let ",
    "fn ",
    "reward ",
    "dataset ",
    "match ",
    "if ",
    "else ",
    "train ",
    "stage ",
    "chat ",
    "mix ",
    "enum ",
    "use ",
    "extern ",
    "\n",
    " ",
    "\\",
    "\\u{",
    "1e",
    "0x",
    "99999999999999999999999",
    "é",
    "字",
    "🙂",
    "\u{0}",
    "\r\n",
];

fn mutate(rng: &mut Rng, original: &[u8]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    for _ in 0..=rng.below(3) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(6) {
            0 => {
                if at < bytes.len() {
                    bytes[at] = rng.next() as u8;
                }
            }
            1 => {
                let end = (at + 1 + rng.below(16)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            2 => {
                let fragment = FRAGMENTS[rng.below(FRAGMENTS.len())];
                bytes.splice(at..at, fragment.bytes());
            }
            3 => {
                let from = rng.below(bytes.len());
                let to = (from + rng.below(64)).min(bytes.len());
                let copy = bytes[from..to].to_vec();
                bytes.splice(at..at, copy);
            }
            4 => bytes.truncate(at),
            _ => {
                let other = rng.below(bytes.len() + 1);
                if at < bytes.len() && other < bytes.len() {
                    bytes.swap(at, other);
                }
            }
        }
    }
    bytes
}

fn examples() -> Vec<PathBuf> {
    rlx_compiler::driver::expand_path(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples"))
}

/// Checks and renders `bytes`; returns the number of errors found, or what is wrong.
fn check_and_render(bytes: &[u8], dir: &Path, data: bool) -> Result<usize, String> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let report: FileReport = check_bytes(
            "mutant.rlx".to_string(),
            bytes.to_vec(),
            dir,
            CheckOptions { data },
        );
        for diagnostic in &report.diagnostics {
            render::human(&report.file, diagnostic, false);
            render::json(&report.file, diagnostic);
        }
        report
    }));
    let report = match outcome {
        Ok(report) => report,
        Err(_) => return Err("the checker panicked".to_string()),
    };
    // A mutant that still parses must format, idempotently, to something that parses.
    if let Ok(text) = std::str::from_utf8(bytes) {
        let formatted = catch_unwind(|| rlx_lang::format::format(text))
            .map_err(|_| "the formatter panicked".to_string())?;
        if let Some(once) = formatted {
            match rlx_lang::format::format(&once) {
                Some(twice) if twice == once => {}
                Some(twice) => {
                    return Err(format!(
                        "formatting is not idempotent:\n{once}\n---\n{twice}"
                    ));
                }
                None => return Err(format!("the formatted text does not parse:\n{once}")),
            }
        }
    }
    let len = bytes.len();
    for diagnostic in &report.diagnostics {
        let spans = std::iter::once(diagnostic.primary.span)
            .chain(diagnostic.secondary.iter().map(|l| l.span));
        for span in spans {
            if span.start > span.end || span.end > len {
                return Err(format!(
                    "{}: span {}..{} outside the file of {len} bytes",
                    diagnostic.code, span.start, span.end
                ));
            }
        }
    }
    Ok(report.error_count())
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).escape_debug().to_string()
}

#[test]
fn saved_regressions_still_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/regressions");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let bytes = std::fs::read(entry.path()).expect("regression input");
        if let Err(problem) = check_and_render(&bytes, &dir, true) {
            panic!("{}: {problem}", entry.path().display());
        }
    }
}

#[test]
fn ten_thousand_mutations_of_the_examples_never_panic() {
    // Panics are caught and reported with their input; keep the default hook quiet meanwhile.
    std::panic::set_hook(Box::new(|_| {}));
    let originals: Vec<(Vec<u8>, PathBuf)> = examples()
        .into_iter()
        .map(|path| {
            (
                std::fs::read(&path).expect("example"),
                path.parent().expect("dir").to_path_buf(),
            )
        })
        .collect();
    assert!(!originals.is_empty());
    let mut rng = Rng(0x5EED_0F41_C5E5);
    let mut with_errors = 0;
    for case in 0..10_000 {
        let (original, dir) = &originals[case % originals.len()];
        let mutant = mutate(&mut rng, original);
        // The data checks (which open the example's files and images) on one mutant in eight.
        match check_and_render(&mutant, dir, case % 8 == 0) {
            Ok(errors) => with_errors += usize::from(errors > 0),
            Err(problem) => {
                let _ = std::panic::take_hook();
                panic!("mutation {case}: {problem}\ninput: \"{}\"", show(&mutant));
            }
        }
    }
    let _ = std::panic::take_hook();
    // Most random mutations break something; if none did, the test is not testing.
    assert!(
        with_errors > 5_000,
        "only {with_errors} of 10,000 mutants had errors"
    );
}
