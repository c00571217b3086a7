//! Every native of the standard library on inputs built to make it slow or crash: it returns, it
//! does not panic, and its time stays linear (a generous bound here, since tests run unoptimised;
//! the benchmark prints the optimised times, which must stay under 10 ms).

mod common;

use common::pathological;

#[test]
fn every_native_is_bounded_on_pathological_inputs() {
    let natives = pathological::natives();
    assert!(natives.len() >= 40, "{} natives", natives.len());
    for (what, text) in pathological::inputs() {
        for (name, params) in &natives {
            let seconds = pathological::call_all(name, params, &text);
            assert!(seconds < 2.0, "{name} on {what} took {seconds:.2} s");
        }
    }
}
