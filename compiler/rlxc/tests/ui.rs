//! Golden tests of `rlxc check`. Every `tests/ui/**/*.rlx` is checked by the real binary; its human
//! rendering must equal `NAME.stderr` and its JSON lines `NAME.json`, and the exit code must be 1 when
//! there is an error and 0 otherwise. Cases outside tests/ui/data/ are checked with `--no-data`.
//! `RLX_BLESS=1 cargo test -p rlxc --test ui` rewrites the files.
//! Every `examples/**/*.rlx` must check clean.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// The ui cases: `.rlx` files outside `files/` folders (which hold what cases read: data, modules).
fn rlx_files(dir: &Path) -> Vec<PathBuf> {
    rlx_compiler::driver::expand_path(dir)
        .into_iter()
        .filter(|p| !p.components().any(|c| c.as_os_str() == "files"))
        .collect()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn rlxc(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_rlxc"))
        .args(args)
        .current_dir(workspace_root())
        .env_remove("NO_COLOR")
        .output()
        .expect("rlxc runs");
    Run {
        code: output
            .status
            .code()
            .expect("rlxc exits normally, not by a signal"),
        stdout: String::from_utf8(output.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("utf-8 stderr"),
    }
}

fn relative(path: &Path) -> String {
    path.strip_prefix(workspace_root())
        .expect("inside the workspace")
        .to_string_lossy()
        .replace('\\', "/")
}

/// Compares `actual` with the golden file, or writes it when blessing. Returns a problem, if any.
fn compare(golden: &Path, actual: &str, bless: bool) -> Option<String> {
    if bless {
        std::fs::write(golden, actual).expect("write golden file");
        return None;
    }
    match std::fs::read_to_string(golden) {
        Ok(expected) if expected == actual => None,
        Ok(expected) => Some(format!(
            "{}: output differs\n--- expected\n{expected}\n+++ actual\n{actual}",
            relative(golden)
        )),
        Err(_) => Some(format!(
            "{}: missing (run with RLX_BLESS=1 to create it)\n{actual}",
            relative(golden)
        )),
    }
}

#[test]
fn ui_diagnostics_match_their_golden_files() {
    let bless = std::env::var_os("RLX_BLESS").is_some();
    let root = workspace_root();
    let files = rlx_files(&root.join("tests/ui"));
    assert!(
        files.len() >= 40,
        "expected at least 40 ui cases, found {}",
        files.len()
    );
    let mut problems = Vec::new();
    for file in &files {
        let name = relative(file);
        // Only the data cases have data files; the others are checked without their data.
        let data: &[&str] = if name.starts_with("tests/ui/data/") {
            &[]
        } else {
            &["--no-data"]
        };
        let human = rlxc(&[&["check", "--color", "never"], data, &[&name]].concat());
        let json = rlxc(&[&["check", "--message-format", "json"], data, &[&name]].concat());
        assert_eq!(
            human.code, json.code,
            "{name}: exit code depends on the message format"
        );
        let has_error = json
            .stdout
            .lines()
            .any(|line| line.contains(r#""severity":"error""#));
        let expected_code = if has_error { 1 } else { 0 };
        if json.code != expected_code {
            problems.push(format!(
                "{name}: exit code {} but expected {expected_code}",
                json.code
            ));
        }
        if json.stdout.is_empty() {
            problems.push(format!(
                "{name}: a ui case must produce at least one diagnostic"
            ));
        }
        problems.extend(compare(
            &file.with_extension("stderr"),
            &human.stderr,
            bless,
        ));
        problems.extend(compare(&file.with_extension("json"), &json.stdout, bless));
    }
    assert!(
        problems.is_empty(),
        "{} ui problems:\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

#[test]
fn every_ui_golden_file_has_its_case() {
    let root = workspace_root();
    let mut orphans = Vec::new();
    let mut pending = vec![root.join("tests/ui")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable").flatten() {
            let path = entry.path();
            // `files/` folders hold the data files of the data cases, not golden files.
            if path.is_dir() && !path.ends_with("files") {
                pending.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e == "stderr" || e == "json")
                && !path.with_extension("rlx").exists()
            {
                orphans.push(relative(&path));
            }
        }
    }
    assert!(
        orphans.is_empty(),
        "golden files without a .rlx case: {orphans:?}"
    );
}

#[test]
fn every_example_checks_clean() {
    let root = workspace_root();
    let examples = rlx_files(&root.join("examples"));
    assert!(!examples.is_empty());
    for example in &examples {
        let name = relative(example);
        let run = rlxc(&["check", "--message-format", "json", &name]);
        assert_eq!(
            run.code, 0,
            "{name} should check clean:\n{}{}",
            run.stdout, run.stderr
        );
        assert!(
            run.stdout.is_empty(),
            "{name} should have no diagnostics, not even warnings:\n{}",
            run.stdout
        );
    }
    let all = rlxc(&["check", "examples"]);
    assert_eq!(all.code, 0, "{}", all.stderr);
    assert!(
        all.stderr
            .contains(&format!("checked {} files: no problems", examples.len())),
        "{}",
        all.stderr
    );
}
