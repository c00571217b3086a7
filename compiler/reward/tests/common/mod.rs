pub mod pathological;
