//! `locks`: `taskpool::AsyncLock` against `tokio::sync::RwLock` and `parking_lot::RwLock`.
//!
//! Run with `cargo bench -p taskpool-runtime --bench locks`. Set `BENCH_ROUNDS` (default 7).
//! Each round runs every subject once, in turn; the table shows medians.
//!
//! Scenarios, each an acquire + release around a one-integer update (exclusive) or read
//! (shared), reported as nanoseconds per acquire/release pair (median of the rounds):
//!
//! 1. **uncontended, blocking**: one thread; `lock()` / `lock_shared()`, tokio's
//!    `blocking_write()` / `blocking_read()`, parking_lot's `write()` / `read()`.
//! 2. **uncontended, async**: one thread polling the lock future once (it is ready at once);
//!    `lock_async()` / `lock_shared_async()` against tokio's `write()` / `read()` (parking_lot
//!    has no async form).
//! 3. **contended, blocking**: `CONTENDING_THREADS` threads on the 2-core machine hammer one
//!    lock, exclusive only, then shared only; ns per operation = the span from the first
//!    thread's start to the last one's end / all operations.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use taskpool::AsyncLock;

const UNCONTENDED_OPS: u64 = 200_000;
const CONTENDING_THREADS: u64 = 4;
const CONTENDED_OPS_PER_THREAD: u64 = 100_000;
const DEFAULT_ROUNDS: usize = 7;

/// Polls a future that must be ready at once.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("an uncontended lock future must be ready at once"),
    }
}

/// The lock operations the scenarios run, per implementation.
trait Subject: Send + Sync + 'static {
    fn exclusive(&self);
    fn shared(&self);
    fn exclusive_async(&self) -> bool;
    fn shared_async(&self) -> bool;
}

struct Ours(AsyncLock<u64>);
struct Tokio(tokio::sync::RwLock<u64>);
struct ParkingLot(parking_lot::RwLock<u64>);

impl Subject for Ours {
    fn exclusive(&self) {
        *self.0.lock() += 1;
    }
    fn shared(&self) {
        black_box(*self.0.lock_shared());
    }
    fn exclusive_async(&self) -> bool {
        *ready(self.0.lock_async()) += 1;
        true
    }
    fn shared_async(&self) -> bool {
        black_box(*ready(self.0.lock_shared_async()));
        true
    }
}

impl Subject for Tokio {
    fn exclusive(&self) {
        *self.0.blocking_write() += 1;
    }
    fn shared(&self) {
        black_box(*self.0.blocking_read());
    }
    fn exclusive_async(&self) -> bool {
        *ready(self.0.write()) += 1;
        true
    }
    fn shared_async(&self) -> bool {
        black_box(*ready(self.0.read()));
        true
    }
}

impl Subject for ParkingLot {
    fn exclusive(&self) {
        *self.0.write() += 1;
    }
    fn shared(&self) {
        black_box(*self.0.read());
    }
    fn exclusive_async(&self) -> bool {
        false
    }
    fn shared_async(&self) -> bool {
        false
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Exclusive,
    Shared,
    ExclusiveAsync,
    SharedAsync,
}

fn run_op(subject: &dyn Subject, op: Op) -> bool {
    match op {
        Op::Exclusive => {
            subject.exclusive();
            true
        }
        Op::Shared => {
            subject.shared();
            true
        }
        Op::ExclusiveAsync => subject.exclusive_async(),
        Op::SharedAsync => subject.shared_async(),
    }
}

/// ns per operation on one thread, or `None` when the subject lacks the operation.
fn uncontended(subject: &dyn Subject, op: Op) -> Option<f64> {
    if !run_op(subject, op) {
        return None;
    }
    let start = Instant::now();
    for _ in 0..UNCONTENDED_OPS {
        run_op(subject, op);
    }
    Some(start.elapsed().as_nanos() as f64 / UNCONTENDED_OPS as f64)
}

/// ns per operation with `CONTENDING_THREADS` threads: from the first thread's start to the
/// last thread's end, divided by all operations. Each thread reads the clock itself, so a
/// descheduled main thread cannot shrink the window.
fn contended(subject: Arc<dyn Subject>, op: Op) -> f64 {
    let barrier = Arc::new(Barrier::new(CONTENDING_THREADS as usize));
    let threads: Vec<_> = (0..CONTENDING_THREADS)
        .map(|_| {
            let (subject, barrier) = (subject.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                for _ in 0..CONTENDED_OPS_PER_THREAD {
                    run_op(&*subject, op);
                }
                (start, Instant::now())
            })
        })
        .collect();
    let spans: Vec<(Instant, Instant)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let first = spans.iter().map(|s| s.0).min().expect("threads ran");
    let last = spans.iter().map(|s| s.1).max().expect("threads ran");
    let total = CONTENDING_THREADS * CONTENDED_OPS_PER_THREAD;
    (last - first).as_nanos() as f64 / total as f64
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn subjects() -> [(&'static str, Arc<dyn Subject>); 3] {
    [
        ("taskpool", Arc::new(Ours(AsyncLock::new(0)))),
        ("tokio", Arc::new(Tokio(tokio::sync::RwLock::new(0)))),
        (
            "parking_lot",
            Arc::new(ParkingLot(parking_lot::RwLock::new(0))),
        ),
    ]
}

fn main() {
    let rounds = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(DEFAULT_ROUNDS);
    let subjects = subjects();
    let scenarios: [(&str, Op, bool); 6] = [
        ("uncontended exclusive, blocking", Op::Exclusive, false),
        ("uncontended shared, blocking", Op::Shared, false),
        ("uncontended exclusive, async", Op::ExclusiveAsync, false),
        ("uncontended shared, async", Op::SharedAsync, false),
        (
            "contended exclusive, 4 threads, blocking",
            Op::Exclusive,
            true,
        ),
        ("contended shared, 4 threads, blocking", Op::Shared, true),
    ];
    println!(
        "| scenario | taskpool | tokio `RwLock` | parking_lot `RwLock` | taskpool ÷ tokio | taskpool ÷ parking_lot |"
    );
    println!("|---|---|---|---|---|---|");
    for (title, op, is_contended) in scenarios {
        // Rounds interleave the subjects, so slow drifts of a shared machine hit all alike.
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); subjects.len()];
        for _ in 0..rounds {
            for (at, (_, subject)) in subjects.iter().enumerate() {
                let sample = if is_contended {
                    Some(contended(subject.clone(), op))
                } else {
                    uncontended(&**subject, op)
                };
                if let Some(ns) = sample {
                    samples[at].push(ns);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let figures: Vec<Option<f64>> = samples
            .into_iter()
            .map(|samples| (!samples.is_empty()).then(|| median(samples)))
            .collect();
        let cell = |figure: Option<f64>| match figure {
            Some(ns) => format!("{ns:.0} ns"),
            None => String::from("—"),
        };
        let ratio = |other: Option<f64>| match (figures[0], other) {
            (Some(ours), Some(theirs)) => format!("{:.2}×", ours / theirs),
            _ => String::from("—"),
        };
        println!(
            "| {title} | {} | {} | {} | {} | {} |",
            cell(figures[0]),
            cell(figures[1]),
            cell(figures[2]),
            ratio(figures[1]),
            ratio(figures[2]),
        );
    }
}
