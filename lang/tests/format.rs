//! The formatter is idempotent (fmt(fmt(x)) == fmt(x)) and faithful (the formatted file parses to
//! the same syntax tree, spans aside, and keeps every comment) on every example, standard library
//! file and clean ui case; and its layout is pinned on a messy input.

use std::path::{Path, PathBuf};

use rlx_lang::format::format;
use rlx_lang::parse;

fn rlx_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = Vec::new();
    let mut pending = vec![
        root.join("examples"),
        root.join("stdlib"),
        root.join("tests/ui"),
    ];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rlx") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The syntax tree as JSON without spans.
fn shape(source: &str) -> serde_json::Value {
    fn strip(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                map.remove("span");
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(parse(source).module).expect("serialisable");
    strip(&mut value);
    value
}

fn comments(source: &str) -> Vec<String> {
    parse(source)
        .comments
        .into_iter()
        .map(|c| c.text.trim_end().to_string())
        .collect()
}

#[test]
fn formatting_is_idempotent_and_faithful() {
    let mut formatted_count = 0;
    for path in rlx_files() {
        let Ok(source) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Some(once) = format(&source) else {
            continue;
        };
        let name = path.display();
        let twice = format(&once)
            .unwrap_or_else(|| panic!("{name}: formatted output does not parse:\n{once}"));
        assert_eq!(once, twice, "{name}: formatting is not idempotent");
        assert_eq!(
            shape(&source),
            shape(&once),
            "{name}: formatting changed the syntax tree:\n{once}"
        );
        assert_eq!(
            comments(&source),
            comments(&once),
            "{name}: formatting lost or changed comments:\n{once}"
        );
        formatted_count += 1;
    }
    assert!(
        formatted_count >= 20,
        "only {formatted_count} files formatted"
    );
}

#[test]
fn files_with_syntax_errors_are_not_formatted() {
    assert_eq!(format("let x = (1 +"), None);
}

#[test]
fn the_layout_is_canonical() {
    let messy = r#"use std::verify::{math_equiv,choice_equiv as choice}
dataset train=jsonl("t.jsonl"){problem:text
answer :text   // the reference
image:image@field("image_path")} where ex.level>1
// the policy
model policy=tiny(hidden=128)


reward r(c:completion,ex:train)->float=if math_equiv(c.answer,ex.answer)||choice(c.answer,ex.answer){1.0}else{0.0}
algorithm rl=grpo{group=8,clip=(0.2,0.28)}
train policy{optimizer=adamw(lr=1e-6)
stage main=rl{data=train,reward=r,rollout{temperature=1.0}}}
"#;
    let expected = r#"use std::verify::{math_equiv, choice_equiv as choice}
dataset train = jsonl("t.jsonl") {
    problem: text
    answer:  text // the reference
    image:   image @field("image_path")
} where ex.level > 1
// the policy
model policy = tiny(hidden = 128)

reward r(c: completion, ex: train) -> float =
    if math_equiv(c.answer, ex.answer) || choice(c.answer, ex.answer) { 1.0 } else { 0.0 }
algorithm rl = grpo { group = 8, clip = (0.2, 0.28) }
train policy {
    optimizer = adamw(lr = 1e-6)
    stage main = rl {
        data = train
        reward = r
        rollout { temperature = 1.0 }
    }
}
"#;
    assert_eq!(format(messy).expect("parses"), expected);
}
