//! The command-line contract of docs/cli.md: exit codes, output streams and formats.

use std::path::Path;
use std::process::Command;

fn rlxc(args: &[&str]) -> (i32, String, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new(env!("CARGO_BIN_EXE_rlxc"))
        .args(args)
        .current_dir(root)
        .output()
        .expect("rlxc runs");
    (
        output.status.code().expect("exit code"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_missing_file_is_an_io_error_with_exit_2() {
    let (code, _, stderr) = rlxc(&["check", "no/such/recipe.rlx"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("error: cannot read `no/such/recipe.rlx`: no such file"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
}

#[test]
fn io_errors_win_over_recipe_errors_and_other_files_are_still_checked() {
    let (code, stdout, stderr) = rlxc(&[
        "check",
        "--message-format",
        "json",
        "tests/ui/syntax/let_missing_eq.rlx",
        "missing.rlx",
    ]);
    assert_eq!(code, 2);
    assert!(stdout.contains(r#""code":"E0110""#), "{stdout}");
    assert!(stderr.contains("missing.rlx"), "{stderr}");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(rlxc(&[]).0, 2);
    assert_eq!(rlxc(&["check"]).0, 2);
    assert_eq!(
        rlxc(&[
            "check",
            "--message-format",
            "xml",
            "examples/papers/dapo.rlx"
        ])
        .0,
        2
    );
    assert_eq!(rlxc(&["frobnicate"]).0, 2);
    assert_eq!(rlxc(&["--help"]).0, 0);
    assert_eq!(rlxc(&["--version"]).0, 0);
}

#[test]
fn invalid_utf8_is_a_diagnostic_with_exit_1() {
    let (code, stdout, _) = rlxc(&[
        "check",
        "--message-format",
        "json",
        "tests/ui/lexer/invalid_utf8.rlx",
    ]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains(r#""code":"E0100""#) && stdout.contains(r#""start":19"#),
        "{stdout}"
    );
}

#[test]
fn json_lines_have_the_documented_fields() {
    let (code, stdout, stderr) = rlxc(&[
        "check",
        "--no-data",
        "--message-format",
        "json",
        "tests/ui/names/duplicate_stage.rlx",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.is_empty(), "json mode prints nothing else: {stderr}");
    let line = stdout.lines().next().expect("one diagnostic");
    for field in [
        r#""code":"E0208""#,
        r#""severity":"error""#,
        r#""message":"stage `warmup` is defined twice""#,
        r#""file":"tests/ui/names/duplicate_stage.rlx""#,
        r#""line":5"#,
        r#""column":11"#,
        r#""labels":["#,
        r#""help":"#,
    ] {
        assert!(line.contains(field), "missing {field} in {line}");
    }
}

#[test]
fn short_format_is_one_line_per_diagnostic() {
    let (code, _, stderr) = rlxc(&[
        "check",
        "--message-format",
        "short",
        "tests/ui/lexer/bad_escape.rlx",
    ]);
    assert_eq!(code, 1);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines[0],
        "tests/ui/lexer/bad_escape.rlx:1:15: error[E0103]: unknown escape `\\d`"
    );
    assert_eq!(lines.len(), 2);
}

#[test]
fn warnings_alone_exit_0() {
    let (code, _, stderr) = rlxc(&[
        "check",
        "--color",
        "never",
        "tests/ui/names/unused_import.rlx",
    ]);
    assert_eq!(code, 0);
    assert!(
        stderr.contains("Warning") && stderr.contains("checked 1 file: 1 warning"),
        "{stderr}"
    );
}

#[test]
fn colour_is_used_only_when_asked_or_on_a_terminal() {
    let (_, _, plain) = rlxc(&["check", "tests/ui/lexer/hex_number.rlx"]);
    assert!(
        !plain.contains('\u{1b}'),
        "no escape codes when stderr is not a terminal"
    );
    let (_, _, coloured) = rlxc(&[
        "check",
        "--color",
        "always",
        "tests/ui/lexer/hex_number.rlx",
    ]);
    assert!(coloured.contains('\u{1b}'));
}

/// The binary end to end on mutated examples: exit 0 or 1, never a panic. (The 10,000-case run is
/// in rlx-compiler's tests/mutations.rs, in process; this checks the process boundary.)
#[test]
fn mutated_examples_exit_0_or_1() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let original = std::fs::read(root.join("examples/wethink/recipe.rlx")).expect("example");
    let dir = std::env::temp_dir().join(format!("rlxc-mutants-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut state: u64 = 42;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let mut paths = Vec::new();
    for case in 0..100 {
        let mut bytes = original.clone();
        let at = next() % bytes.len();
        match case % 3 {
            0 => bytes[at] = next() as u8,
            1 => {
                bytes.drain(at..(at + next() % 20).min(bytes.len()));
            }
            _ => bytes.insert(at, b"{}()[]\"@\xff"[next() % 9]),
        }
        let path = dir.join(format!("m{case}.rlx"));
        std::fs::write(&path, bytes).expect("write mutant");
        paths.push(path);
    }
    for path in &paths {
        let output = Command::new(env!("CARGO_BIN_EXE_rlxc"))
            .arg("check")
            .arg(path)
            .output()
            .expect("runs");
        let code = output.status.code().expect("exit code");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            code == 0 || code == 1,
            "{}: exit {code}\n{stderr}",
            path.display()
        );
        assert!(!stderr.contains("panicked"), "{}: {stderr}", path.display());
    }
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn no_data_skips_the_data_contracts() {
    let (code, _, _) = rlxc(&["check", "tests/ui/data/missing_data_file.rlx"]);
    assert_eq!(code, 1);
    let (code, _, stderr) = rlxc(&["check", "--no-data", "tests/ui/data/missing_data_file.rlx"]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn fmt_formats_in_place_and_check_reports_differences() {
    let dir = std::env::temp_dir().join(format!("rlxc-fmt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let recipe = dir.join("messy.rlx");
    std::fs::write(
        &recipe,
        "let beta=0.01 // weight\nmodel policy=tiny(hidden=64)\n",
    )
    .expect("write");
    let path = recipe.to_string_lossy().into_owned();
    let (code, _, stderr) = rlxc(&["fmt", "--check", &path]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("would reformat"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&recipe).expect("read"),
        "let beta=0.01 // weight\nmodel policy=tiny(hidden=64)\n"
    );
    let (code, _, stderr) = rlxc(&["fmt", &path]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&recipe).expect("read"),
        "let beta = 0.01 // weight\nmodel policy = tiny(hidden = 64)\n"
    );
    assert_eq!(rlxc(&["fmt", "--check", &path]).0, 0);
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn fmt_leaves_a_file_that_does_not_parse_alone() {
    let (code, _, stderr) = rlxc(&["fmt", "--check", "tests/ui/syntax/let_missing_eq.rlx"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("E0110") && stderr.contains("was not formatted"),
        "{stderr}"
    );
}

#[test]
fn the_examples_and_stdlib_are_formatted() {
    let (code, _, stderr) = rlxc(&["fmt", "--check", "examples", "stdlib"]);
    assert_eq!(code, 0, "run `rlxc fmt examples stdlib`:\n{stderr}");
}

#[test]
fn build_writes_a_plan_that_reads_back_and_explain_prints_it() {
    let dir = std::env::temp_dir().join(format!("rlxc-build-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = dir.join("plan.json");
    let (code, stdout, stderr) = rlxc(&[
        "build",
        "examples/papers/dapo.rlx",
        "-o",
        out.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("wrote the plan of 1 stage"), "{stderr}");
    let json = std::fs::read_to_string(&out).expect("plan written");
    let plan = rlx_compiler::plan::Plan::from_json("plan.json", &json).expect("plan reads back");
    assert_eq!(plan.stages.len(), 1);
    let leftovers: Vec<_> = std::fs::read_dir(&dir).expect("dir").collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    std::fs::remove_dir_all(&dir).expect("clean up");

    // Without -o the plan goes to stdout.
    let (code, stdout, _) = rlxc(&["build", "examples/papers/dapo.rlx"]);
    assert_eq!(code, 0);
    assert_eq!(stdout, json);

    let (code, stdout, _) = rlxc(&["explain", "examples/papers/dapo.rlx"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("algorithm dapo (expanded)"), "{stdout}");
    assert!(stdout.contains("dynamic_sampling   true"), "{stdout}");
}

#[test]
fn build_refuses_a_recipe_with_errors_or_without_a_train_block() {
    let (code, stdout, stderr) =
        rlxc(&["build", "tests/ui/plan/kl_written_twice.rlx", "--no-data"]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(stderr.contains("E0313"), "{stderr}");

    let (code, _, stderr) = rlxc(&["build", "examples/modules/rewards.rlx"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("has no `train` block: nothing to build"),
        "{stderr}"
    );

    let (code, _, stderr) = rlxc(&["explain", "no/such.rlx"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot read"), "{stderr}");
}

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rlxc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn reward_scores_each_line_in_order_with_terms_and_a_summary() {
    let out = temp_file("scores.jsonl", "stale");
    let (code, stdout, stderr) = rlxc(&[
        "reward",
        "examples/rewards/math.rlx",
        "--reward",
        "weighted",
        "--completions",
        "examples/rewards/data/completions.jsonl",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let written = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<serde_json::Value> = written
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rewards: Vec<f64> = lines
        .iter()
        .map(|l| l["reward"].as_f64().unwrap())
        .collect();
    assert_eq!(rewards, [1.0, 1.0, 0.9, 1.0, 0.1, 1.0]);
    assert_eq!(lines[4]["terms"]["accuracy"], 0.0);
    assert_eq!(lines[4]["terms"]["format"], 1.0);
    assert!(
        stderr.contains("scored 6 completions with `weighted`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("completions/s") && stderr.contains("accuracy             mean 0.8333"),
        "{stderr}"
    );
}

#[test]
fn reward_input_errors_name_the_line_and_write_nothing() {
    let out = temp_file("untouched.jsonl", "kept");
    for (input, expected) in [
        (
            "{\"completion\": \"x\", \"answer\": \"1\"}\n\n{\"completion\": \"y\"}\n",
            ":3: missing field `answer` (the reward reads `ex.answer`)",
        ),
        (
            "{\"completion\": \"x\", \"answer\": \"1\"}\n{oops\n",
            ":2:2: not JSON: key must be a string",
        ),
        (
            "{\"completion\": 3, \"answer\": \"1\"}\n",
            ":1: `completion` must be a string",
        ),
        (
            "{\"completion\": \"x\", \"answer\": 4}\n",
            ":1: field `answer`: expected text, found a number",
        ),
        ("[1, 2]\n", ":1: expected a JSON object"),
    ] {
        let path = temp_file("input.jsonl", input);
        let (code, _, stderr) = rlxc(&[
            "reward",
            "examples/rewards/math.rlx",
            "--reward",
            "accuracy",
            "--completions",
            path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 1, "{stderr}");
        assert!(
            stderr.contains(&format!("{}{expected}", path.display())),
            "{stderr}"
        );
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "kept");
    }
    let (code, _, stderr) = rlxc(&[
        "reward",
        "examples/rewards/math.rlx",
        "--reward",
        "acuracy",
        "--completions",
        "examples/rewards/data/completions.jsonl",
    ]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(
            "no reward `acuracy` in the recipe (its rewards: accuracy, concise, format, weighted)"
        ),
        "{stderr}"
    );
    let (code, _, stderr) = rlxc(&[
        "reward",
        "examples/rewards/math.rlx",
        "--reward",
        "accuracy",
        "--completions",
        "no/such.jsonl",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot read `no/such.jsonl`"), "{stderr}");
}

#[test]
fn reward_groups_need_a_group_field() {
    let recipe = temp_file(
        "grouped.rlx",
        "use std::verify::math_equiv\n\
         dataset d = jsonl(\"d.jsonl\") { answer: text }\n\
         reward correct(c: completion, ex: d) -> float = if math_equiv(c.answer, ex.answer) { 1.0 } else { 0.0 }\n\
         reward relative(c: completion, ex: d, group: group) -> float = correct(c, ex) - group.mean(correct(c, ex))\n",
    );
    let input = temp_file(
        "grouped.jsonl",
        "{\"completion\": \"1\", \"answer\": \"1\", \"group\": \"a\"}\n\
         {\"completion\": \"2\", \"answer\": \"1\", \"group\": \"a\"}\n\
         {\"completion\": \"1\", \"answer\": \"1\", \"group\": 7}\n",
    );
    let args = |input: &str| {
        vec![
            "reward".to_string(),
            recipe.to_str().unwrap().to_string(),
            "--no-data".into(),
            "--reward".into(),
            "relative".into(),
            "--completions".into(),
            input.to_string(),
        ]
    };
    let owned = args(input.to_str().unwrap());
    let (code, stdout, stderr) = rlxc(&owned.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{stderr}");
    let rewards: Vec<f64> = stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["reward"]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert_eq!(rewards, [0.5, -0.5, 0.0]);
    let ungrouped = temp_file(
        "ungrouped.jsonl",
        "{\"completion\": \"1\", \"answer\": \"1\"}\n",
    );
    let owned = args(ungrouped.to_str().unwrap());
    let (code, _, stderr) = rlxc(&owned.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 1);
    assert!(stderr.contains(":1: missing field `group`"), "{stderr}");
}
