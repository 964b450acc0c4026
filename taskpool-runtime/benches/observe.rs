//! The cost of observing a pool: `info()` on an idle pool and with 10 000 queued tasks; a
//! recorded timeline against none; and (built with `--features tracing`) the `tracing` spans
//! with a subscriber that ignores them, a no-op subscriber that accepts them, and one that
//! formats every field, against none — each for 200 000 empty tasks, alternating the
//! variants and reporting medians.
//!
//! ```sh
//! cargo bench -p taskpool-runtime --bench observe                     # feature off
//! cargo bench -p taskpool-runtime --bench observe --features tracing  # feature on
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use taskpool::{TaskPool, concurrent};

const TASKS: usize = 200_000;
const ROUNDS: usize = 5;

static RELEASE: AtomicBool = AtomicBool::new(false);

#[concurrent]
fn nothing() -> u8 {
    0
}

#[concurrent]
fn block() -> u8 {
    while !RELEASE.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(1));
    }
    0
}

fn batch(pool: &TaskPool) -> Duration {
    let start = Instant::now();
    let handles: Vec<_> = (0..TASKS).map(|_| pool.run(nothing, ())).collect();
    for handle in handles {
        handle.wait().unwrap();
    }
    start.elapsed()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn per_call(calls: u32, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..calls {
        f();
    }
    start.elapsed() / calls
}

fn info_cost() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    pool.run(nothing, ()).wait().unwrap();
    let idle = per_call(10_000, || {
        std::hint::black_box(pool.info());
    });
    let blocker = pool.run(block, ());
    while pool.info().threads.iter().all(|t| t.task_ids.is_empty()) {
        std::thread::yield_now();
    }
    let queued: Vec<_> = (0..10_000).map(|_| pool.run(nothing, ())).collect();
    let busy = per_call(100, || {
        std::hint::black_box(pool.info());
    });
    RELEASE.store(true, Ordering::Release);
    blocker.wait().unwrap();
    for handle in queued {
        handle.wait().unwrap();
    }
    println!("info(): idle pool {idle:?} per call; with 10 000 queued tasks {busy:?} per call");
}

/// Runs each variant `ROUNDS` times, alternating, and prints medians and ratios to the first.
fn compare(variants: &mut [(&str, &mut dyn FnMut() -> Duration)]) {
    let mut samples = vec![Vec::new(); variants.len()];
    for _ in 0..ROUNDS {
        for (i, (_, run)) in variants.iter_mut().enumerate() {
            samples[i].push(run());
        }
    }
    let medians: Vec<Duration> = samples.into_iter().map(median).collect();
    for ((name, _), median) in variants.iter().zip(&medians) {
        let per_task = *median / TASKS as u32;
        let ratio = median.as_secs_f64() / medians[0].as_secs_f64();
        println!("  {name:<44} {median:>10.2?}  ({per_task:?}/task, x{ratio:.3})");
    }
}

fn main() {
    info_cost();
    let plain = TaskPool::builder().build().unwrap();
    let recorded = TaskPool::builder()
        .record_timeline(1 << 20)
        .build()
        .unwrap();
    println!("{TASKS} empty tasks, median of {ROUNDS} alternating rounds:");
    compare(&mut [
        ("timeline off", &mut || batch(&plain)),
        ("timeline on (1 Mi-entry ring)", &mut || batch(&recorded)),
    ]);
    #[cfg(feature = "tracing")]
    tracing_cost(&plain);
    #[cfg(not(feature = "tracing"))]
    println!("(built without the `tracing` feature: add `--features tracing` for its cost)");
}

#[cfg(feature = "tracing")]
fn tracing_cost(pool: &TaskPool) {
    use subscriber::{MODE, Mode};
    tracing::subscriber::set_global_default(subscriber::Switch).unwrap();
    let with = |mode: Mode| {
        move || {
            MODE.store(mode as u8, Ordering::Relaxed);
            let elapsed = batch(pool);
            MODE.store(Mode::Off as u8, Ordering::Relaxed);
            elapsed
        }
    };
    let (mut off, mut noop, mut recording) =
        (with(Mode::Off), with(Mode::NoOp), with(Mode::Recording));
    println!("`tracing` feature on:");
    compare(&mut [
        ("subscriber disables every span and event", &mut off),
        ("no-op subscriber (enabled, records nothing)", &mut noop),
        ("recording subscriber (formats every field)", &mut recording),
    ]);
}

#[cfg(feature = "tracing")]
mod subscriber {
    use std::fmt::Write;
    use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::subscriber::Interest;
    use tracing::{Event, Metadata, Subscriber};

    #[derive(Clone, Copy)]
    pub enum Mode {
        Off = 0,
        NoOp = 1,
        Recording = 2,
    }

    pub static MODE: AtomicU8 = AtomicU8::new(0);
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    static BYTES: AtomicU64 = AtomicU64::new(0);

    /// A global subscriber whose behaviour the benchmark switches between rounds.
    pub struct Switch;

    struct Format(String);

    impl Visit for Format {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            let _ = write!(self.0, "{}={value:?} ", field.name());
        }
    }

    fn recording() -> bool {
        MODE.load(Ordering::Relaxed) == Mode::Recording as u8
    }

    fn consume(format: Format) {
        BYTES.fetch_add(format.0.len() as u64, Ordering::Relaxed);
    }

    impl Subscriber for Switch {
        fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
            Interest::sometimes()
        }
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            MODE.load(Ordering::Relaxed) != Mode::Off as u8
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            if recording() {
                let mut format = Format(String::new());
                span.record(&mut format);
                consume(format);
            }
            Id::from_u64(NEXT_ID.fetch_add(1, Ordering::Relaxed))
        }
        fn record(&self, _: &Id, values: &Record<'_>) {
            if recording() {
                let mut format = Format(String::new());
                values.record(&mut format);
                consume(format);
            }
        }
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            if recording() {
                let mut format = Format(String::new());
                event.record(&mut format);
                consume(format);
            }
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
}
