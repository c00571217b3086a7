//! Data contracts read a bounded sample: a large file checks in bounded time, and problems deep in
//! the file are still found by the evenly spaced samples.

use std::io::Write;
use std::time::Instant;

use rlx_compiler::driver::{CheckOptions, check_source};
use rlx_compiler::source::SourceFile;

#[test]
fn a_large_file_checks_quickly_and_its_tail_is_sampled() {
    let dir = std::env::temp_dir().join(format!("rlx-data-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("big.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    let row = format!(
        "{{\"question\": \"{}\", \"answer\": \"4\"}}\n",
        "x".repeat(200)
    );
    let rows = 300_000; // about 66 MB
    for i in 0..rows {
        if i > rows * 3 / 4 {
            // The last quarter has numbers where the schema says text.
            writeln!(file, "{{\"question\": \"q\", \"answer\": 4}}").expect("write");
        } else {
            file.write_all(row.as_bytes()).expect("write");
        }
    }
    drop(file);
    let recipe = SourceFile::new(
        "big.rlx",
        "dataset train = jsonl(\"big.jsonl\") {\n    question: text\n    answer: text\n}\n",
    );
    let start = Instant::now();
    let diagnostics = check_source(&recipe, &dir, CheckOptions::default());
    let elapsed = start.elapsed();
    std::fs::remove_dir_all(&dir).expect("clean up");
    assert!(elapsed.as_secs_f64() < 2.0, "took {elapsed:?}");
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    assert!(
        diagnostics[0].message.contains("declared `text`"),
        "{:?}",
        diagnostics[0]
    );
    assert!(
        diagnostics[0].notes[0].contains("the row after byte"),
        "{:?}",
        diagnostics[0].notes
    );
}
