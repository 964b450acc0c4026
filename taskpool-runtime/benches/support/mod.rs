//! Helpers the benchmarks share: how many rounds to run, and how to summarize them.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// Rounds per scenario unless `BENCH_ROUNDS` says otherwise.
pub fn rounds() -> usize {
    std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7)
}

/// The median of `samples`.
pub fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Runs `body` `iterations` times and returns the mean time per iteration.
pub fn per_iteration(iterations: u32, mut body: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iterations {
        body();
    }
    start.elapsed() / iterations
}
