//! Descriptor benchmarks (being written).
fn main() {}
