//! The rlx runtime: executes a plan on Burn. The only crate that depends on Burn, so the front end,
//! `rlxc check` and the language server stay free of it.

pub mod loss;
pub mod model;
pub mod sample;
