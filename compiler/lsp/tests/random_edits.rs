//! Random edit sequences applied to every example, as a person typing might leave the file at any
//! moment: after each edit the document is analysed and every feature is asked at random places.
//! Nothing may panic (the server would survive it, but it is a bug).

use std::path::Path;

use lsp_types::{Position, Range, Uri};
use rlx_lsp::document::Document;
use rlx_lsp::features;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const SNIPPETS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "\"",
    "ex.",
    "c.",
    "group.",
    "match ",
    "=>",
    " = ",
    ",",
    "\n",
    "é𝔸",
    "///",
    "/*",
    "0.5",
    "reward r(c: completion) -> float = ",
    "use std::verify::",
    "rl {",
    "if ",
    "none",
    "some(x)",
    "::",
    "@field(",
];

fn boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn edit(text: &mut String, rng: &mut Rng) {
    let at = boundary(text, rng.below(text.len() + 1));
    match rng.below(3) {
        0 => {
            let end = boundary(text, at + rng.below(40));
            text.replace_range(at..end, "");
        }
        _ => text.insert_str(at, SNIPPETS[rng.below(SNIPPETS.len())]),
    }
}

fn ask_everything(doc: &Document, rng: &mut Rng) {
    let len = doc.text().len();
    let _ = features::diagnostics(doc);
    let _ = features::symbols(doc);
    let _ = features::format(doc);
    for _ in 0..6 {
        let offset = boundary(doc.text(), rng.below(len + 1));
        let _ = features::hover(doc, offset);
        let _ = features::definition(doc, offset);
        let _ = features::references(doc, offset, true);
        let _ = features::completion(doc, offset);
        let _ = features::signature_help(doc, offset);
        let _ = features::rename(doc, offset, "renamed");
        let position = doc.lines.position(doc.text(), offset);
        let _ = features::code_actions(doc, Range::new(Position::new(0, 0), position));
    }
}

#[test]
fn random_edits_of_the_examples_never_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut paths: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rlx"))
        .collect();
    paths.sort();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for path in paths {
        let uri: Uri = format!("file://{}", path.display()).parse().unwrap();
        let mut text = std::fs::read_to_string(&path).unwrap();
        for version in 0..100 {
            edit(&mut text, &mut rng);
            let doc = Document::new(uri.clone(), text.clone(), version, false);
            ask_everything(&doc, &mut rng);
        }
    }
}
