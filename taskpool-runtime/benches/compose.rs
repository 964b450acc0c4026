//! Composition costs: a 10k-task `TaskGroup` executed and collected vs rayon's
//! `par_iter().map().collect()` over the same work (~20 µs per item, and empty), and a 10k-task
//! `SequenceRunner` vs a single-threaded loop. Prints the medians and the ratios.
//!
//! `cargo bench -p taskpool-runtime --bench compose`

use std::hint::black_box;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use taskpool::{Priority, Task, TaskGroup, TaskPool, concurrent};

const TASKS: u64 = 10_000;
const ROUNDS: usize = 5;

/// About `micros` µs of arithmetic (calibrated once), then a value depending on `n`.
#[concurrent]
fn work(n: u64, iterations: u64) -> u64 {
    let mut x = n;
    for i in 0..iterations {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    x
}

fn plain_work(n: u64, iterations: u64) -> u64 {
    work(n, iterations)
}

/// Iterations of `work` that take about 20 µs here.
fn calibrate() -> u64 {
    let mut iterations = 1_000;
    loop {
        let start = Instant::now();
        black_box(plain_work(1, iterations));
        if start.elapsed() >= Duration::from_micros(20) {
            return iterations;
        }
        iterations *= 2;
    }
}

fn median(mut f: impl FnMut() -> Duration) -> Duration {
    let mut samples: Vec<Duration> = (0..ROUNDS).map(|_| f()).collect();
    samples.sort();
    samples[ROUNDS / 2]
}

fn main() {
    let pool = TaskPool::builder().build().unwrap();
    let iterations = calibrate();
    println!(
        "{TASKS} tasks, {ROUNDS} rounds (median), pool of {} threads",
        pool.max_threads()
    );
    for (label, iters) in [("~20 µs", iterations), ("empty", 0)] {
        let mut group = TaskGroup::new();
        for n in 0..TASKS {
            group.add(work, (n, iters)).unwrap();
        }
        let ours = median(|| {
            let start = Instant::now();
            let results = pool.execute_group(&group, Priority::High).wait().unwrap();
            black_box(results);
            start.elapsed()
        });
        let inputs: Vec<u64> = (0..TASKS).collect();
        let rayon = median(|| {
            let start = Instant::now();
            let results: Vec<u64> = inputs.par_iter().map(|&n| plain_work(n, iters)).collect();
            black_box(results);
            start.elapsed()
        });
        println!(
            "group {label}: TaskGroup {ours:?}, rayon {rayon:?}, ratio {:.2}x",
            ours.as_secs_f64() / rayon.as_secs_f64()
        );
    }
    for (label, iters) in [("~20 µs", iterations), ("empty", 0)] {
        let ours = median(|| {
            let runner = pool.sequence_runner(Priority::High);
            let start = Instant::now();
            let handles: Vec<_> = (0..TASKS)
                .map(|n| runner.execute(Task::new(work, (n, iters))))
                .collect();
            for handle in handles {
                black_box(handle.wait().unwrap());
            }
            start.elapsed()
        });
        let single = median(|| {
            let start = Instant::now();
            for n in 0..TASKS {
                black_box(plain_work(n, iters));
            }
            start.elapsed()
        });
        println!(
            "sequence {label}: SequenceRunner {ours:?}, loop {single:?}, ratio {:.2}x",
            ours.as_secs_f64() / single.as_secs_f64()
        );
    }
}
