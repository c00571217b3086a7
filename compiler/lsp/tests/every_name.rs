//! Every example opens without diagnostics (data contracts included), and every name used in it has
//! a hover and a definition: items, datasets used as types, imports, prelude and standard library
//! functions, parameters, `let` and `match` bindings.

use std::path::Path;

use rlx_lang::Target;
use rlx_lsp::document::{Document, uri_of};
use rlx_lsp::features;

#[test]
fn every_example_opens_clean_and_every_name_has_hover_and_definition() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .canonicalize()
        .unwrap();
    let mut paths = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rlx") {
                paths.push(path);
            }
        }
    }
    paths.sort();
    assert!(paths.len() >= 12);
    let mut checked = 0;
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        let doc = Document::new(uri_of(&path), text, 1, true);
        let diagnostics = features::diagnostics(&doc);
        assert!(
            diagnostics.is_empty(),
            "{}: {diagnostics:#?}",
            path.display()
        );
        for reference in &doc.analysis.index.references {
            let at = reference.span.start;
            let hover = features::hover(&doc, at);
            assert!(
                hover.is_some(),
                "{}: no hover on `{}` at {at}",
                path.display(),
                reference.name
            );
            if !matches!(reference.target, Target::Implicit) {
                let definition = features::definition(&doc, at);
                assert!(
                    definition.is_some(),
                    "{}: no definition of `{}` at {at}",
                    path.display(),
                    reference.name
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 300, "only {checked} names");
}
