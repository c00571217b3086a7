//! Every `rlx` code block of docs/language.md parses without a syntax error, so the reference cannot
//! drift from the parser.

use std::path::Path;

fn code_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (number, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut current {
            None if trimmed == "```rlx" => current = Some((number + 1, String::new())),
            Some(_) if trimmed == "```" => blocks.push(current.take().expect("open block")),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    blocks
}

#[test]
fn every_language_reference_example_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/language.md");
    let markdown = std::fs::read_to_string(path).expect("docs/language.md");
    let blocks = code_blocks(&markdown);
    assert!(blocks.len() >= 15, "found only {} examples", blocks.len());
    for (line, text) in blocks {
        let parsed = rlx_lang::parse(&text);
        let syntax: Vec<_> = parsed
            .diagnostics
            .iter()
            .filter(|d| d.code.as_str().starts_with("E01"))
            .collect();
        assert!(
            syntax.is_empty(),
            "docs/language.md example at line {line} does not parse: {syntax:#?}\n{text}"
        );
        assert!(
            !parsed.module.items.is_empty(),
            "example at line {line} has no item"
        );
    }
}

#[test]
fn the_readme_recipe_checks_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let markdown = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let blocks = code_blocks(&markdown);
    assert!(!blocks.is_empty(), "the README shows a recipe");
    for (line, text) in blocks {
        let file = rlx_compiler::source::SourceFile::new("README.md", text.clone());
        let diagnostics = rlx_compiler::driver::check_source(
            &file,
            &root,
            rlx_compiler::driver::CheckOptions { data: false },
        );
        assert!(
            diagnostics.is_empty(),
            "README.md recipe at line {line}: {diagnostics:#?}"
        );
    }
}
