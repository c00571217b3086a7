//! Checking a file frees everything it allocated. (A grammar whose recursive parsers refer to each
//! other strongly leaks itself on every parse; an editor parses on every keystroke.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn checking_frees_what_it_allocates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let good = std::fs::read(root.join("examples/wethink/recipe.rlx")).expect("example");
    let broken =
        std::fs::read(root.join("tests/ui/syntax/several_broken_items.rlx")).expect("ui case");
    let check = |bytes: &[u8]| {
        let report = rlx_compiler::driver::check_bytes(
            "x.rlx".into(),
            bytes.to_vec(),
            &root,
            Default::default(),
        );
        drop(report);
    };
    // The first check builds the standard library, which lives for the whole process.
    check(&good);
    check(&broken);
    let before = LIVE_BYTES.load(Ordering::SeqCst);
    for _ in 0..20 {
        check(&good);
        check(&broken);
    }
    let after = LIVE_BYTES.load(Ordering::SeqCst);
    assert_eq!(
        after - before,
        0,
        "{} bytes leaked over 40 checks",
        after - before
    );
}
