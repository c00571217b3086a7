//! The rlx runtime: executes a plan on Burn. The only crate of the workspace that depends on Burn.

pub mod checkpoint;
pub mod data;
pub mod device;
pub mod files;
pub mod hf;
pub mod judge;
pub mod logprob;
pub mod loss;
pub mod model;
pub mod optim;
pub mod policy;
pub mod sample;
pub mod serve;
pub mod tokenizer;
pub mod train;
pub mod vision;
