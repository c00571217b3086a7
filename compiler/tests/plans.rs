//! The plan of every example recipe: snapshot-tested as JSON (`tests/plans/NAME.json`) and as
//! `rlxc explain` text (`tests/plans/NAME.explain`), round-tripped through JSON, and versioned.
//! `RLX_BLESS=1 cargo test -p rlx-compiler --test plans` rewrites the snapshots.
//!
//! Also: every item of the standard library is used by some example, so the examples exercise
//! the whole library.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rlx_compiler::driver::{self, CheckOptions};
use rlx_compiler::plan::{PLAN_VERSION, Plan};
use rlx_compiler::source::SourceFile;
use rlx_compiler::stdlib::StdLib;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("workspace root")
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .expect("inside the workspace")
        .to_string_lossy()
        .replace('\\', "/")
}

/// Each example recipe that trains (modules of rewards have no plan), with its plan.
fn example_plans() -> Vec<(String, Plan, String)> {
    let mut plans = Vec::new();
    for path in driver::expand_path(&root().join("examples")) {
        let text = std::fs::read_to_string(&path).expect("example readable");
        let name = relative(&path);
        let file = SourceFile::new(name.clone(), text);
        let analysis = driver::analyze(&file, driver::recipe_dir(&path), CheckOptions::default());
        assert!(
            analysis.diagnostics.is_empty(),
            "{name}: {:#?}",
            analysis.diagnostics
        );
        if !analysis.has_train {
            continue;
        }
        let mut plan = analysis.plan.unwrap_or_else(|| panic!("{name}: no plan"));
        let explained = rlx_compiler::explain::explain(&plan, &driver::policy_shape(&plan))
            .replace(&format!("{}/", root().display()), "");
        plan.base_dir = relative(Path::new(&plan.base_dir));
        plans.push((name, plan, explained));
    }
    assert!(plans.len() >= 8, "only {} example plans", plans.len());
    plans
}

fn snapshot(path: &Path, actual: &str, bless: bool, problems: &mut Vec<String>) {
    if bless {
        std::fs::write(path, actual).expect("write snapshot");
        return;
    }
    match std::fs::read_to_string(path) {
        Ok(expected) if expected == actual => {}
        Ok(expected) => problems.push(format!(
            "{} differs\n--- expected\n{expected}\n+++ actual\n{actual}",
            relative(path)
        )),
        Err(_) => problems.push(format!(
            "{} is missing (RLX_BLESS=1 writes it)",
            relative(path)
        )),
    }
}

#[test]
fn every_example_plan_matches_its_snapshot() {
    let bless = std::env::var_os("RLX_BLESS").is_some();
    let dir = root().join("tests/plans");
    let mut problems = Vec::new();
    let mut expected_files = BTreeSet::new();
    for (name, plan, explained) in example_plans() {
        let stem = name
            .trim_start_matches("examples/")
            .trim_end_matches(".rlx")
            .replace('/', "__");
        let json = dir.join(format!("{stem}.json"));
        let text = dir.join(format!("{stem}.explain"));
        snapshot(&json, &plan.to_json(), bless, &mut problems);
        snapshot(&text, &explained, bless, &mut problems);
        expected_files.insert(json);
        expected_files.insert(text);
    }
    for entry in std::fs::read_dir(&dir).expect("tests/plans") {
        let path = entry.expect("entry").path();
        if !expected_files.contains(&path) {
            problems.push(format!("{} has no example any more", relative(&path)));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn plans_round_trip_through_json() {
    for (name, plan, _) in example_plans() {
        let json = plan.to_json();
        let read = Plan::from_json(&name, &json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read, plan, "{name}: the plan changed through JSON");
        assert_eq!(read.to_json(), json, "{name}: JSON is not stable");
    }
}

#[test]
fn a_plan_of_another_version_or_no_plan_is_refused_with_its_position() {
    let (_, plan, _) = example_plans().remove(0);
    let json = plan.to_json().replacen(
        &format!("\"version\": {PLAN_VERSION}"),
        "\"version\": 999",
        1,
    );
    let error = Plan::from_json("old.json", &json).unwrap_err().to_string();
    assert!(
        error.contains("plan version 999") && error.contains("rlxc build"),
        "{error}"
    );

    let error = Plan::from_json("x.json", "{\"version\": 1,\n \"seed\": \"x\"}")
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("x.json:2:"), "{error}");
    let error = Plan::from_json("y.json", "[1, 2").unwrap_err().to_string();
    assert!(error.starts_with("y.json:1:"), "{error}");
}

/// Names the examples use: every identifier token of every example and module.
fn names_in_examples() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for path in driver::expand_path(&root().join("examples")) {
        let text = std::fs::read_to_string(&path).expect("example");
        for (token, _) in rlx_lang::lexer::lex(&text).0 {
            if let rlx_lang::lexer::Token::Ident(name) = token {
                names.insert(name.to_string());
            }
        }
    }
    names
}

#[test]
fn the_examples_use_every_standard_library_item() {
    let used = names_in_examples();
    let stdlib = StdLib::get();
    // What every preset expands to: used through the presets.
    let implicit = ["policy_gradient"];
    let unused: Vec<String> = stdlib
        .modules
        .values()
        .flat_map(|m| m.exports.iter().map(move |e| (m.name, e)))
        .filter(|(_, e)| !used.contains(*e) && !implicit.contains(&e.as_str()))
        .map(|(m, e)| format!("std::{m}::{e}"))
        .collect();
    assert!(
        unused.is_empty(),
        "no example uses {} item(s): {}",
        unused.len(),
        unused.join(", ")
    );
}
