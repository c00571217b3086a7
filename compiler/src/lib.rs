//! The rlx compiler. `rlx-lang` is the pure front end; this crate embeds the standard library, owns
//! the driver (the only place that reads files) and renders diagnostics for people and tools.

pub mod data;
pub mod driver;
pub mod eval;
pub mod explain;
pub mod lower;
pub mod plan;
pub mod render;
pub mod source;
pub mod stdlib;
pub mod stdlib_docs;
