//! Descriptor benchmarks: the cost of turning a task into data and back.
//!
//! Run with `cargo bench -p taskpool-runtime --bench descriptors` (`BENCH_ROUNDS`, default 7).
//! Every scenario runs its variants interleaved, round after round, and reports medians:
//!
//! 1. encode + decode of a small descriptor (two integers), in ns per round trip;
//! 2. a 1 MiB payload passed to a task as `Shared<T>` versus as a serialized copy (a descriptor
//!    built, decoded and executed), end to end on the pool;
//! 3. one-shot execution of a small task with serialization off (arguments moved) versus forced
//!    on (executed through its descriptor).

mod support;

use support::{median, per_iteration, rounds};

use std::hint::black_box;

use taskpool::{Shared, Task, TaskDescriptor, TaskPool, concurrent, sendable};

#[concurrent]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[sendable]
struct Blob {
    pub bytes: Vec<u8>,
}

#[concurrent]
fn blob_len(blob: Shared<Blob>) -> usize {
    blob.bytes.len()
}

#[concurrent]
fn bytes_len(bytes: Vec<u8>) -> usize {
    bytes.len()
}

fn small_round_trip(rounds: usize) -> f64 {
    let descriptor = Task::new(add, (20, 22)).descriptor().unwrap();
    let samples = (0..rounds)
        .map(|_| {
            per_iteration(200_000, || {
                let bytes = black_box(&descriptor).to_bytes().unwrap();
                black_box(TaskDescriptor::from_bytes(&bytes).unwrap());
            })
            .as_nanos() as f64
        })
        .collect();
    median(samples)
}

fn shared_versus_serialized(pool: &TaskPool, rounds: usize) -> (f64, f64) {
    const MIB: usize = 1 << 20;
    let shared = Shared::new(Blob {
        bytes: vec![7; MIB],
    });
    let (mut by_reference, mut by_copy) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let time = per_iteration(200, || {
            let handle = pool.run(blob_len, (shared.clone(),));
            assert_eq!(handle.wait().unwrap(), MIB);
        });
        by_reference.push(time.as_nanos() as f64);
        let template = Task::new(bytes_len, (vec![7u8; MIB],));
        let time = per_iteration(20, || {
            let descriptor = template.descriptor().unwrap();
            let bytes = descriptor.to_bytes().unwrap();
            let descriptor = TaskDescriptor::from_bytes(&bytes).unwrap();
            let result = pool.execute_descriptor(&descriptor).wait().unwrap();
            assert_eq!(result.decode::<usize>().unwrap(), MIB);
        });
        by_copy.push(time.as_nanos() as f64);
    }
    (median(by_reference), median(by_copy))
}

fn serialization_overhead(pool: &TaskPool, rounds: usize) -> (f64, f64) {
    let (mut moved, mut serialized) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let time = per_iteration(20_000, || {
            assert_eq!(pool.run(add, (1, 2)).wait().unwrap(), 3);
        });
        moved.push(time.as_nanos() as f64);
        let time = per_iteration(20_000, || {
            let descriptor = Task::new(add, (1, 2)).descriptor().unwrap();
            let result = pool.execute_descriptor(&descriptor).wait().unwrap();
            assert_eq!(result.decode::<i64>().unwrap(), 3);
        });
        serialized.push(time.as_nanos() as f64);
    }
    (median(moved), median(serialized))
}

fn main() {
    let rounds = rounds();
    let pool = TaskPool::new();
    // Warm up: threads started, code paths touched.
    for _ in 0..1000 {
        pool.run(add, (1, 1)).wait().unwrap();
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("machine: {cores} cores; rounds per scenario: {rounds} (BENCH_ROUNDS)\n");

    let round_trip = small_round_trip(rounds);
    let (by_reference, by_copy) = shared_versus_serialized(&pool, rounds);
    let (moved, serialized) = serialization_overhead(&pool, rounds);

    let verdict = |met: bool| if met { "met" } else { "not met" };
    println!("| scenario | taskpool | baseline | ratio | target | met |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| small descriptor encode + decode (bytes) | {round_trip:.0} ns | — | — | < 1 µs | {} |",
        verdict(round_trip < 1000.0)
    );
    let ratio = by_copy / by_reference;
    println!(
        "| 1 MiB argument: `Shared<T>` vs serialized copy (end to end) | {:.1} µs | {:.1} µs | {ratio:.0}× | ≥ 100× | {} |",
        by_reference / 1e3,
        by_copy / 1e3,
        verdict(ratio >= 100.0)
    );
    println!(
        "| one-shot small task: moved vs through its descriptor | {:.2} µs | {:.2} µs | +{:.0}% | report | — |",
        moved / 1e3,
        serialized / 1e3,
        (serialized / moved - 1.0) * 100.0
    );
}
