//! Any bytes: the checker and the renderers never panic, and spans stay inside the input.
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run check -- -max_total_time=60` from the repository root.
//! Save a crashing input under tests/regressions/ so the test suite replays it.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rlx_compiler::driver::check_bytes;
use rlx_compiler::render;

fuzz_target!(|data: &[u8]| {
    let report = check_bytes("fuzz.rlx".to_string(), data.to_vec(), Path::new("."), Default::default());
    for diagnostic in &report.diagnostics {
        let span = diagnostic.primary.span;
        assert!(span.start <= span.end && span.end <= data.len(), "span {span:?} outside {} bytes", data.len());
        render::human(&report.file, diagnostic, false);
        render::json(&report.file, diagnostic);
    }
});
