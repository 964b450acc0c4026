//! `compare`: `taskpool` against `rayon`, tokio's `spawn_blocking` and the `threadpool` crate.
//!
//! Run with `cargo bench -p taskpool-runtime --bench compare`. Set `BENCH_ROUNDS` (default 7) to
//! change the number of rounds per scenario.
//!
//! Every pool gets the same number of threads ([`taskpool::default_max_threads`]), is built once
//! and warmed up. Each scenario then runs `BENCH_ROUNDS` rounds; in every round each pool runs
//! once, in an order that rotates from round to round, so slow drifts of a shared machine hit all
//! pools alike. The bench prints the median (with min and max) per pool, the ratios against
//! `taskpool`, and a Markdown table ready to paste into a README.
//!
//! The scenarios:
//!
//! 1. **throughput**: 200 000 empty tasks submitted from one thread, then every result awaited.
//! 2. **priority**: 5 000 queued LOW tasks of 50 µs (busy-spin), then one HIGH task; the HIGH
//!    task's submit-to-start latency. The peers have a single FIFO queue, so their probe waits at
//!    the back of it.
//! 3. **CPU-bound speedup**: 64 tasks of ~5 ms of fixed arithmetic work (calibrated at start-up),
//!    `time(1-thread pool) / time(full pool)`.
//! 4. **idle cost**: after a burst of 10 000 tasks, the CPU time the pool's own threads burn
//!    during one idle second, read from `/proc/self/task/*/schedstat` (nanoseconds per thread,
//!    attributed to a pool by thread name).
//! 5. **multi-producer throughput**: 200 000 empty tasks submitted from 4 threads at once
//!    (50 000 each), every result awaited by its submitter.
//! 6. **round trip**: one task at a time, submitted and waited on, 2 000 times per round; the
//!    median round trip.
//! 7. **memory per queued task**: RSS growth with 1 000 000 empty tasks queued behind workers that
//!    are all blocked. Each peer runs in a fresh child process (this binary, re-executed with
//!    `COMPARE_MEMORY_CHILD`), so memory freed by other scenarios is not reused.
//!
//! `COMPARE_ONLY=throughput,multi,roundtrip,memory,priority,cpu,idle` (any subset) runs only the
//! named scenarios, for quick iterations.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use taskpool::{Priority, Task, TaskPool, concurrent};

/// Empty tasks per throughput sample.
const THROUGHPUT_TASKS: usize = 200_000;
/// LOW tasks queued ahead of the HIGH probe.
const PRIORITY_LOW_TASKS: usize = 5_000;
/// Length of one LOW task, busy-spinning on `Instant`.
const LOW_TASK_MICROS: u64 = 50;
/// Tasks per CPU-bound sample.
const CPU_TASKS: usize = 64;
/// Wanted length of one CPU-bound task when run alone.
const CPU_TASK_TARGET: Duration = Duration::from_millis(5);
/// Tasks in the burst that precedes an idle measurement.
const IDLE_BURST_TASKS: usize = 10_000;
/// Length of one idle measurement.
const IDLE_WINDOW: Duration = Duration::from_secs(1);
/// Submitting threads of the multi-producer scenario.
const PRODUCERS: usize = 4;
/// Round trips per round-trip sample.
const ROUND_TRIPS: usize = 2_000;
/// Tasks queued behind blocked workers in the memory scenario.
const MEMORY_TASKS: usize = 1_000_000;
/// Maximum round trip, as a multiple of rayon's.
const TARGET_ROUND_TRIP_VS_RAYON: f64 = 3.0;
/// Maximum memory per queued task, as a multiple of rayon's.
const TARGET_MEMORY_VS_RAYON: f64 = 2.0;
/// Rounds per scenario when `BENCH_ROUNDS` is not set.
const DEFAULT_ROUNDS: usize = 7;

/// Targets from the project brief.
const TARGET_HIGH_IN_LOW_LENGTHS: f64 = 2.0;
/// Minimum CPU-bound speedup of the full pool over a 1-thread pool.
const TARGET_SPEEDUP: f64 = 1.9;
/// Maximum CPU milliseconds burned per idle second.
const TARGET_IDLE_MS: f64 = 1.0;

// ---------------------------------------------------------------------------------------------
// Clock and work helpers
// ---------------------------------------------------------------------------------------------

/// The process-wide time origin; timestamps cross task boundaries as nanoseconds since it.
static BASE: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since [`BASE`].
fn now_ns() -> u64 {
    let elapsed = BASE.get_or_init(Instant::now).elapsed().as_nanos();
    u64::try_from(elapsed).unwrap_or(u64::MAX)
}

/// Busy-spins for `micros` microseconds of wall-clock time.
fn spin(micros: u64) {
    let end = Instant::now() + Duration::from_micros(micros);
    while Instant::now() < end {
        std::hint::spin_loop();
    }
}

/// A fixed amount of integer work: `iters` rounds of a mixing step. Unlike a time-based spin,
/// it takes longer when the thread shares a core, so it measures real parallel speedup.
fn crunch_work(iters: u64) -> u64 {
    let mut x = black_box(0x9E37_79B9_7F4A_7C15_u64);
    for _ in 0..black_box(iters) {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x ^= x >> 29;
    }
    black_box(x)
}

/// Finds the iteration count for which [`crunch_work`] takes [`CPU_TASK_TARGET`] on this machine.
fn calibrate_crunch() -> u64 {
    let probe = 2_000_000_u64;
    crunch_work(probe);
    let best = (0..5)
        .map(|_| {
            let start = Instant::now();
            crunch_work(probe);
            start.elapsed()
        })
        .min()
        .expect("five samples");
    let per_iter = best.as_secs_f64() / probe as f64;
    ((CPU_TASK_TARGET.as_secs_f64() / per_iter) as u64).max(1)
}

// ---------------------------------------------------------------------------------------------
// taskpool task functions
// ---------------------------------------------------------------------------------------------

/// The empty task of the throughput and idle scenarios.
#[concurrent]
fn empty() {}

/// A LOW task of the priority scenario: spins for `micros` µs.
#[concurrent]
fn spin_task(micros: u64) {
    spin(micros);
}

/// The HIGH probe: returns the moment it started, in nanoseconds since [`BASE`].
#[concurrent]
fn started_at() -> u64 {
    now_ns()
}

/// Set when the memory scenario's blocked workers may go.
static RELEASE_BLOCKERS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// How many blockers of the memory scenario have started.
static BLOCKERS_STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Holds a worker until [`RELEASE_BLOCKERS`] is set.
fn block_worker() {
    use std::sync::atomic::Ordering;
    BLOCKERS_STARTED.fetch_add(1, Ordering::SeqCst);
    while !RELEASE_BLOCKERS.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The taskpool form of [`block_worker`].
#[concurrent]
fn blocker() {
    block_worker();
}

/// A CPU-bound task of fixed work.
#[concurrent]
fn crunch(iters: u64) -> u64 {
    crunch_work(iters)
}

// ---------------------------------------------------------------------------------------------
// The pools
// ---------------------------------------------------------------------------------------------

/// The timing of a batch of empty tasks.
#[derive(Debug, Clone, Copy)]
struct Batch {
    /// From the first submission to the return of the last one.
    submit: Duration,
    /// From the first submission until every result was received.
    total: Duration,
}

/// One of the compared pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// This crate's `TaskPool`.
    Taskpool,
    /// `rayon::ThreadPool::spawn` with a channel for the results.
    Rayon,
    /// tokio's `spawn_blocking` on a multi-thread runtime, awaited with `block_on`.
    Tokio,
    /// The `threadpool` crate with a channel for the results.
    Threadpool,
}

/// Every peer, in table order.
const PEERS: [Peer; 4] = [Peer::Taskpool, Peer::Rayon, Peer::Tokio, Peer::Threadpool];

impl Peer {
    /// The name shown in the output.
    fn name(self) -> &'static str {
        match self {
            Peer::Taskpool => "taskpool",
            Peer::Rayon => "rayon",
            Peer::Tokio => "tokio spawn_blocking",
            Peer::Threadpool => "threadpool",
        }
    }

    /// The thread-name prefix of this peer's full-size pool. Kernel thread names (`comm`) keep
    /// 15 bytes, so the prefixes are short and none is a prefix of another.
    fn thread_prefix(self) -> &'static str {
        match self {
            Peer::Taskpool => "tpool-",
            Peer::Rayon => "rayon-",
            Peer::Tokio => "tokio-",
            Peer::Threadpool => "thpool-",
        }
    }
}

/// One pool of each kind, all with the same number of threads.
struct Pools {
    /// This crate's pool.
    taskpool: TaskPool,
    /// A rayon pool.
    rayon: rayon::ThreadPool,
    /// A tokio runtime with one (idle) async worker; its blocking pool holds the threads.
    tokio: tokio::runtime::Runtime,
    /// A `threadpool` pool.
    threadpool: threadpool::ThreadPool,
}

impl Pools {
    /// Builds the peers of `taskpool` with `threads` threads each; `tag` starts every thread name.
    fn with_taskpool(taskpool: TaskPool, threads: usize, tag: &str) -> Pools {
        let rayon_prefix = format!("{tag}rayon-");
        let rayon = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(move |i| format!("{rayon_prefix}{i}"))
            .build()
            .expect("the rayon pool builds");
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(threads)
            .thread_name(format!("{tag}tokio-"))
            .build()
            .expect("the tokio runtime builds");
        let threadpool = threadpool::Builder::new()
            .num_threads(threads)
            .thread_name(format!("{tag}thpool-"))
            .build();
        Pools {
            taskpool,
            rayon,
            tokio,
            threadpool,
        }
    }

    /// Submits `n` empty tasks from this thread, then awaits every result. Returns the time the
    /// submissions took and the total time.
    fn empty_batch(&self, peer: Peer, n: usize) -> Batch {
        let start = Instant::now();
        let submitted;
        match peer {
            Peer::Taskpool => {
                let handles: Vec<_> = (0..n).map(|_| self.taskpool.run(empty, ())).collect();
                submitted = start.elapsed();
                for handle in handles {
                    handle.wait().expect("an empty task succeeds");
                }
            }
            Peer::Rayon => {
                let (tx, rx) = mpsc::channel();
                for _ in 0..n {
                    let tx = tx.clone();
                    self.rayon
                        .spawn(move || tx.send(()).expect("the receiver lives"));
                }
                submitted = start.elapsed();
                drop(tx);
                for _ in 0..n {
                    rx.recv().expect("every task sends");
                }
            }
            Peer::Tokio => {
                submitted = self.tokio.block_on(async {
                    let handles: Vec<_> =
                        (0..n).map(|_| tokio::task::spawn_blocking(|| {})).collect();
                    let submitted = start.elapsed();
                    for handle in handles {
                        handle.await.expect("an empty task succeeds");
                    }
                    submitted
                });
            }
            Peer::Threadpool => {
                let (tx, rx) = mpsc::channel();
                for _ in 0..n {
                    let tx = tx.clone();
                    self.threadpool
                        .execute(move || tx.send(()).expect("the receiver lives"));
                }
                submitted = start.elapsed();
                drop(tx);
                for _ in 0..n {
                    rx.recv().expect("every task sends");
                }
            }
        }
        Batch {
            submit: submitted,
            total: start.elapsed(),
        }
    }

    /// Queues [`PRIORITY_LOW_TASKS`] spinning tasks, then one probe (HIGH for `taskpool`, at the
    /// back of the FIFO for the peers). Returns the probe's submit-to-start latency, after every
    /// task finished.
    fn priority_probe(&self, peer: Peer) -> Duration {
        let latency_ns = match peer {
            Peer::Taskpool => {
                let lows: Vec<_> = (0..PRIORITY_LOW_TASKS)
                    .map(|_| {
                        self.taskpool.execute_with_priority(
                            Task::new(spin_task, (LOW_TASK_MICROS,)),
                            Priority::Low,
                        )
                    })
                    .collect();
                let submitted = now_ns();
                let probe = self
                    .taskpool
                    .execute_with_priority(Task::new(started_at, ()), Priority::High);
                let started = probe.wait().expect("the probe succeeds");
                for low in lows {
                    low.wait().expect("a LOW task succeeds");
                }
                started.saturating_sub(submitted)
            }
            Peer::Rayon => {
                let (tx, rx) = mpsc::channel();
                for _ in 0..PRIORITY_LOW_TASKS {
                    let tx = tx.clone();
                    self.rayon.spawn(move || {
                        spin(LOW_TASK_MICROS);
                        tx.send(None).expect("the receiver lives");
                    });
                }
                let submitted = now_ns();
                self.rayon
                    .spawn(move || tx.send(Some(now_ns())).expect("the receiver lives"));
                let started = rx.iter().flatten().next().expect("the probe reports");
                // Drain: the probe ran last, so the LOW tasks are done or about to be.
                for _ in rx {}
                started.saturating_sub(submitted)
            }
            Peer::Tokio => self.tokio.block_on(async {
                let lows: Vec<_> = (0..PRIORITY_LOW_TASKS)
                    .map(|_| tokio::task::spawn_blocking(|| spin(LOW_TASK_MICROS)))
                    .collect();
                let submitted = now_ns();
                let started = tokio::task::spawn_blocking(now_ns)
                    .await
                    .expect("the probe succeeds");
                for low in lows {
                    low.await.expect("a LOW task succeeds");
                }
                started.saturating_sub(submitted)
            }),
            Peer::Threadpool => {
                let (tx, rx) = mpsc::channel();
                for _ in 0..PRIORITY_LOW_TASKS {
                    let tx = tx.clone();
                    self.threadpool.execute(move || {
                        spin(LOW_TASK_MICROS);
                        tx.send(None).expect("the receiver lives");
                    });
                }
                let submitted = now_ns();
                self.threadpool
                    .execute(move || tx.send(Some(now_ns())).expect("the receiver lives"));
                let started = rx.iter().flatten().next().expect("the probe reports");
                for _ in rx {}
                started.saturating_sub(submitted)
            }
        };
        Duration::from_nanos(latency_ns)
    }

    /// Runs [`CPU_TASKS`] tasks of `iters` iterations each and awaits them. Returns the time.
    fn cpu_batch(&self, peer: Peer, iters: u64) -> Duration {
        let start = Instant::now();
        let mut checksum = 0_u64;
        match peer {
            Peer::Taskpool => {
                let handles: Vec<_> = (0..CPU_TASKS)
                    .map(|_| self.taskpool.run(crunch, (iters,)))
                    .collect();
                for handle in handles {
                    checksum ^= handle.wait().expect("a CPU task succeeds");
                }
            }
            Peer::Rayon => {
                let (tx, rx) = mpsc::channel();
                for _ in 0..CPU_TASKS {
                    let tx = tx.clone();
                    self.rayon
                        .spawn(move || tx.send(crunch_work(iters)).expect("the receiver lives"));
                }
                drop(tx);
                checksum = rx.iter().fold(0, |a, b| a ^ b);
            }
            Peer::Tokio => {
                checksum = self.tokio.block_on(async {
                    let handles: Vec<_> = (0..CPU_TASKS)
                        .map(|_| tokio::task::spawn_blocking(move || crunch_work(iters)))
                        .collect();
                    let mut checksum = 0;
                    for handle in handles {
                        checksum ^= handle.await.expect("a CPU task succeeds");
                    }
                    checksum
                });
            }
            Peer::Threadpool => {
                let (tx, rx) = mpsc::channel();
                for _ in 0..CPU_TASKS {
                    let tx = tx.clone();
                    self.threadpool
                        .execute(move || tx.send(crunch_work(iters)).expect("the receiver lives"));
                }
                drop(tx);
                checksum = rx.iter().fold(0, |a, b| a ^ b);
            }
        }
        black_box(checksum);
        start.elapsed()
    }

    /// Submits [`THROUGHPUT_TASKS`] empty tasks from [`PRODUCERS`] threads at once, each
    /// awaiting its own results. Returns the total time.
    fn multi_batch(&self, peer: Peer) -> Duration {
        let per = THROUGHPUT_TASKS / PRODUCERS;
        let start = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..PRODUCERS {
                scope.spawn(|| match peer {
                    Peer::Taskpool => {
                        let handles: Vec<_> =
                            (0..per).map(|_| self.taskpool.run(empty, ())).collect();
                        for handle in handles {
                            handle.wait().expect("an empty task succeeds");
                        }
                    }
                    Peer::Rayon => {
                        let (tx, rx) = mpsc::channel();
                        for _ in 0..per {
                            let tx = tx.clone();
                            self.rayon
                                .spawn(move || tx.send(()).expect("the receiver lives"));
                        }
                        drop(tx);
                        for _ in 0..per {
                            rx.recv().expect("every task sends");
                        }
                    }
                    Peer::Tokio => {
                        let handle = self.tokio.handle().clone();
                        let handles: Vec<_> =
                            (0..per).map(|_| handle.spawn_blocking(|| {})).collect();
                        handle.block_on(async {
                            for handle in handles {
                                handle.await.expect("an empty task succeeds");
                            }
                        });
                    }
                    Peer::Threadpool => {
                        let (tx, rx) = mpsc::channel();
                        for _ in 0..per {
                            let tx = tx.clone();
                            self.threadpool
                                .execute(move || tx.send(()).expect("the receiver lives"));
                        }
                        drop(tx);
                        for _ in 0..per {
                            rx.recv().expect("every task sends");
                        }
                    }
                });
            }
        });
        start.elapsed()
    }

    /// [`ROUND_TRIPS`] times: submits one empty task and waits for it. Returns the median
    /// round trip.
    fn round_trips(&self, peer: Peer) -> Duration {
        let mut samples = Vec::with_capacity(ROUND_TRIPS);
        let (tx, rx) = mpsc::channel();
        for _ in 0..ROUND_TRIPS {
            let start = Instant::now();
            match peer {
                Peer::Taskpool => self
                    .taskpool
                    .run(empty, ())
                    .wait()
                    .expect("an empty task succeeds"),
                Peer::Rayon => {
                    let tx = tx.clone();
                    self.rayon
                        .spawn(move || tx.send(()).expect("the receiver lives"));
                    rx.recv().expect("the task sends");
                }
                Peer::Tokio => self
                    .tokio
                    .block_on(self.tokio.spawn_blocking(|| {}))
                    .expect("an empty task succeeds"),
                Peer::Threadpool => {
                    let tx = tx.clone();
                    self.threadpool
                        .execute(move || tx.send(()).expect("the receiver lives"));
                    rx.recv().expect("the task sends");
                }
            }
            samples.push(start.elapsed().as_secs_f64());
        }
        Duration::from_secs_f64(summarize(&samples).median)
    }
}

// ---------------------------------------------------------------------------------------------
// Memory per queued task (one child process per peer)
// ---------------------------------------------------------------------------------------------

/// Resident set size of this process, in bytes.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// In a child process: builds one pool of `peer` with `threads` threads, blocks every thread,
/// queues [`MEMORY_TASKS`] empty tasks, and prints the RSS growth per task. Then lets it all go.
fn memory_child(peer: Peer, threads: usize) {
    use std::sync::atomic::Ordering;
    let wait_blockers = || {
        while BLOCKERS_STARTED.load(Ordering::SeqCst) < threads {
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    let per_task = |before: u64| (rss_bytes().saturating_sub(before)) as f64 / MEMORY_TASKS as f64;
    let bytes = match peer {
        Peer::Taskpool => {
            let pool = TaskPool::builder()
                .max_threads(threads)
                .thread_name("tpool")
                .build()
                .unwrap();
            let blockers: Vec<_> = (0..threads).map(|_| pool.run(blocker, ())).collect();
            wait_blockers();
            let before = rss_bytes();
            let handles: Vec<_> = (0..MEMORY_TASKS).map(|_| pool.run(empty, ())).collect();
            let bytes = per_task(before);
            RELEASE_BLOCKERS.store(true, Ordering::SeqCst);
            blockers
                .into_iter()
                .chain(handles)
                .for_each(|h| h.wait().expect("a task"));
            bytes
        }
        Peer::Rayon => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("the rayon pool builds");
            let (tx, rx) = mpsc::channel();
            for _ in 0..threads {
                pool.spawn(block_worker);
            }
            wait_blockers();
            let before = rss_bytes();
            for _ in 0..MEMORY_TASKS {
                let tx = tx.clone();
                pool.spawn(move || tx.send(()).expect("the receiver lives"));
            }
            let bytes = per_task(before);
            RELEASE_BLOCKERS.store(true, Ordering::SeqCst);
            drop(tx);
            for _ in rx {}
            bytes
        }
        Peer::Tokio => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .max_blocking_threads(threads)
                .build()
                .expect("the tokio runtime builds");
            let handle = runtime.handle().clone();
            let blockers: Vec<_> = (0..threads)
                .map(|_| handle.spawn_blocking(block_worker))
                .collect();
            wait_blockers();
            let before = rss_bytes();
            let handles: Vec<_> = (0..MEMORY_TASKS)
                .map(|_| handle.spawn_blocking(|| {}))
                .collect();
            let bytes = per_task(before);
            RELEASE_BLOCKERS.store(true, Ordering::SeqCst);
            runtime.block_on(async {
                for h in blockers.into_iter().chain(handles) {
                    h.await.expect("a task");
                }
            });
            bytes
        }
        Peer::Threadpool => {
            let pool = threadpool::ThreadPool::new(threads);
            let (tx, rx) = mpsc::channel();
            for _ in 0..threads {
                pool.execute(block_worker);
            }
            wait_blockers();
            let before = rss_bytes();
            for _ in 0..MEMORY_TASKS {
                let tx = tx.clone();
                pool.execute(move || tx.send(()).expect("the receiver lives"));
            }
            let bytes = per_task(before);
            RELEASE_BLOCKERS.store(true, Ordering::SeqCst);
            drop(tx);
            for _ in rx {}
            bytes
        }
    };
    println!("bytes-per-task {bytes}");
}

/// Runs [`memory_child`] for `peer` in a fresh process; the bytes per queued task.
fn memory_in_child(peer: Peer) -> f64 {
    let exe = std::env::current_exe().expect("the bench binary");
    let output = std::process::Command::new(exe)
        .env("COMPARE_MEMORY_CHILD", peer.name())
        .output()
        .expect("the child runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("bytes-per-task ")?.trim().parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "the memory child reports: {stdout} {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

// ---------------------------------------------------------------------------------------------
// CPU accounting
// ---------------------------------------------------------------------------------------------

/// On-CPU nanoseconds and name of every live thread of this process, by thread id.
fn thread_cpu() -> HashMap<u64, (String, u64)> {
    let mut threads = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc/self/task") else {
        return threads;
    };
    for entry in entries.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        let path = entry.path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue; // The thread exited meanwhile.
        };
        let ns = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .or_else(|| stat_ticks_ns(&path));
        if let Some(ns) = ns {
            threads.insert(tid, (comm.trim().to_owned(), ns));
        }
    }
    threads
}

/// On-CPU nanoseconds of the whole process so far (live threads only).
fn process_cpu_ns() -> u64 {
    thread_cpu().values().map(|(_, ns)| ns).sum()
}

/// The system's 1-minute load average, if `/proc/loadavg` is readable.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Fallback when `schedstat` is missing: `utime + stime` (fields 14 and 15 of `stat`, in ticks of
/// 10 ms) in nanoseconds.
fn stat_ticks_ns(path: &std::path::Path) -> Option<u64> {
    let stat = std::fs::read_to_string(path.join("stat")).ok()?;
    // The name (field 2) may contain spaces; the fields after it start behind the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3, so fields 14 and 15 are at indexes 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 10_000_000)
}

/// CPU burned between two snapshots, in nanoseconds.
#[derive(Debug, Clone, Copy, Default)]
struct CpuDelta {
    /// By the threads whose name starts with the prefix asked for.
    pool: u64,
    /// By every thread except the measuring (main) thread, which reads `/proc` meanwhile.
    rest_of_process: u64,
    /// By the measuring thread itself: the cost of the measurement, mostly.
    measurer: u64,
}

/// CPU burned between two snapshots. Threads that exited in between are lost (none of the pools
/// retires a thread within a second of a burst); threads born in between count in full.
fn cpu_between(
    before: &HashMap<u64, (String, u64)>,
    after: &HashMap<u64, (String, u64)>,
    prefix: &str,
) -> CpuDelta {
    // The main thread's id is the process id.
    let main_tid = u64::from(std::process::id());
    let mut delta = CpuDelta::default();
    for (tid, (name, ns)) in after {
        let was = before.get(tid).map_or(0, |(_, ns)| *ns);
        let burned = ns.saturating_sub(was);
        if *tid == main_tid {
            delta.measurer += burned;
        } else {
            delta.rest_of_process += burned;
        }
        if name.starts_with(prefix) {
            delta.pool += burned;
        }
    }
    delta
}

/// An idle measurement: CPU milliseconds per idle second.
#[derive(Debug, Clone, Copy, Default)]
struct IdleSample {
    /// Burned by the pool's own threads.
    pool_ms: f64,
    /// Burned by every thread of the process but the measuring one.
    process_ms: f64,
    /// Burned by the measuring thread (reading `/proc`; not charged to any pool).
    measurer_ms: f64,
}

/// Sleeps through [`IDLE_WINDOW`] and reports what the threads named `prefix` burned meanwhile.
fn idle_window(prefix: &str) -> IdleSample {
    let before = thread_cpu();
    let start = Instant::now();
    std::thread::sleep(IDLE_WINDOW);
    let after = thread_cpu();
    let seconds = start.elapsed().as_secs_f64();
    let delta = cpu_between(&before, &after, prefix);
    let per_second = |ns: u64| ns as f64 / 1e6 / seconds;
    IdleSample {
        pool_ms: per_second(delta.pool),
        process_ms: per_second(delta.rest_of_process),
        measurer_ms: per_second(delta.measurer),
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics and formatting
// ---------------------------------------------------------------------------------------------

/// Median, minimum and maximum of a set of samples.
#[derive(Debug, Clone, Copy)]
struct Summary {
    /// The median (mean of the two middle samples for an even count).
    median: f64,
    /// The smallest sample.
    min: f64,
    /// The largest sample.
    max: f64,
}

/// Summarizes `samples` (at least one).
fn summarize(samples: &[f64]) -> Summary {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    Summary {
        median,
        min: sorted[0],
        max: sorted[n - 1],
    }
}

/// Formats a duration given in seconds with a fitting unit.
fn fmt_secs(seconds: f64) -> String {
    if seconds >= 1.0 {
        format!("{seconds:.2} s")
    } else if seconds >= 1e-3 {
        format!("{:.2} ms", seconds * 1e3)
    } else {
        format!("{:.1} µs", seconds * 1e6)
    }
}

/// Formats a rate in tasks per second.
fn fmt_rate(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.2} M/s", rate / 1e6)
    } else {
        format!("{:.0} k/s", rate / 1e3)
    }
}

/// Whether a target is met, as shown in the table.
fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met**" }
}

/// The peers in the order they run in round `round`: the list rotated by the round number.
fn rotation(round: usize) -> Vec<Peer> {
    let mut order = PEERS.to_vec();
    order.rotate_left(round % PEERS.len());
    order
}

/// Samples per peer, in [`PEERS`] order.
type PerPeer<T> = [Vec<T>; 4];

/// The index of `peer` in [`PEERS`].
fn index(peer: Peer) -> usize {
    PEERS.iter().position(|p| *p == peer).expect("a known peer")
}

/// Reads `BENCH_ROUNDS`, defaulting to [`DEFAULT_ROUNDS`].
fn rounds() -> usize {
    std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(DEFAULT_ROUNDS)
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

fn main() {
    if let Ok(name) = std::env::var("COMPARE_MEMORY_CHILD") {
        let peer = PEERS
            .into_iter()
            .find(|p| p.name() == name)
            .expect("a known peer");
        memory_child(peer, taskpool::default_max_threads());
        return;
    }
    let selected = std::env::var("COMPARE_ONLY").unwrap_or_default();
    let only = |name: &str| selected.is_empty() || selected.split(',').any(|s| s.trim() == name);
    BASE.get_or_init(Instant::now);
    let bench_start = Instant::now();
    let rounds = rounds();
    let threads = taskpool::default_max_threads();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("# taskpool vs rayon / tokio spawn_blocking / threadpool");
    println!(
        "machine: {cores} cores (available_parallelism), {} {}; threads per pool: {threads} \
         (taskpool::default_max_threads); rounds per scenario: {rounds} (BENCH_ROUNDS)",
        std::env::consts::OS,
        std::env::consts::ARCH,
    );
    println!(
        "tokio: multi-thread runtime with 1 async worker (idle) and max_blocking_threads = \
         {threads}; rayon and threadpool return results through an mpsc channel."
    );
    let fmt_load =
        |load: Option<f64>| load.map_or_else(|| "unknown".to_owned(), |l| format!("{l:.2}"));
    println!(
        "note: the machine may be shared with other builds; figures can be noisy. 1-minute load \
         average at start: {}\n",
        fmt_load(load_average())
    );

    // --- Idle cost of taskpool alone, before any other pool exists -------------------------------
    let taskpool = TaskPool::builder()
        .max_threads(threads)
        .thread_name("tpool")
        .build()
        .unwrap();
    let warm = |pool: &TaskPool| {
        let handles: Vec<_> = (0..20_000).map(|_| pool.run(empty, ())).collect();
        handles.into_iter().for_each(|h| h.wait().expect("warm-up"));
        let handles: Vec<_> = (0..4 * threads)
            .map(|_| pool.run(spin_task, (2_000,)))
            .collect();
        handles.into_iter().for_each(|h| h.wait().expect("warm-up"));
    };
    warm(&taskpool);
    let alone = {
        let handles: Vec<_> = (0..IDLE_BURST_TASKS)
            .map(|_| taskpool.run(empty, ()))
            .collect();
        handles.into_iter().for_each(|h| h.wait().expect("burst"));
        idle_window(Peer::Taskpool.thread_prefix())
    };
    println!(
        "idle, taskpool alone in the process (others not yet built): pool threads {:.3} ms/s, \
         whole process but the measuring thread {:.3} ms/s (measuring thread: {:.3} ms/s)\n",
        alone.pool_ms, alone.process_ms, alone.measurer_ms
    );

    // --- Build and warm every pool ---------------------------------------------------------------
    let pools = Pools::with_taskpool(taskpool, threads, "");
    let single_taskpool = TaskPool::builder()
        .max_threads(1)
        .thread_name("1tpool")
        .build()
        .unwrap();
    let single = Pools::with_taskpool(single_taskpool, 1, "1");
    for peer in PEERS {
        for set in [&pools, &single] {
            set.empty_batch(peer, 20_000);
            set.cpu_batch(peer, 1_000);
        }
    }
    warm(&pools.taskpool);
    println!(
        "taskpool threads after warm-up: {} (max {})",
        pools.taskpool.thread_count(),
        pools.taskpool.max_threads()
    );
    let iters = calibrate_crunch();
    println!(
        "CPU task: {iters} iterations ≈ {} alone on one thread\n",
        fmt_secs(CPU_TASK_TARGET.as_secs_f64())
    );

    let mut table = String::new();
    let _ = writeln!(
        table,
        "| Scenario | taskpool | rayon | tokio spawn_blocking | threadpool | Ratio | Target | Met |"
    );
    let _ = writeln!(table, "|---|---|---|---|---|---|---|---|");
    if only("throughput") {
        // --- 1. Throughput ---------------------------------------------------------------------------
        let mut throughput: PerPeer<f64> = Default::default();
        let mut submit_rate: PerPeer<f64> = Default::default();
        for round in 0..rounds {
            for peer in rotation(round) {
                let batch = pools.empty_batch(peer, THROUGHPUT_TASKS);
                let i = index(peer);
                throughput[i].push(THROUGHPUT_TASKS as f64 / batch.total.as_secs_f64());
                submit_rate[i].push(THROUGHPUT_TASKS as f64 / batch.submit.as_secs_f64());
            }
        }
        let throughput: Vec<Summary> = throughput.iter().map(|s| summarize(s)).collect();
        let submit_rate: Vec<Summary> = submit_rate.iter().map(|s| summarize(s)).collect();
        println!("## 1. throughput: {THROUGHPUT_TASKS} empty tasks from one thread, all awaited");
        for peer in PEERS {
            let s = throughput[index(peer)];
            let ratio = if peer == Peer::Taskpool {
                "reference".to_owned()
            } else {
                format!(
                    "taskpool/{} = {:.2}x",
                    peer.name(),
                    throughput[0].median / s.median
                )
            };
            println!(
                "  {:<22} median {:>10} (min {}, max {}); submission alone {}; {ratio}",
                peer.name(),
                fmt_rate(s.median),
                fmt_rate(s.min),
                fmt_rate(s.max),
                fmt_rate(submit_rate[index(peer)].median),
            );
        }
        println!();
        let rate = |i: usize| fmt_rate(throughput[i].median);
        let versus_rayon = throughput[0].median / throughput[1].median;
        let versus_tokio = throughput[0].median / throughput[2].median;
        let _ = writeln!(
            table,
            "| Throughput, {}k empty tasks (tasks/s) | {} | {} | {} | {} | taskpool/rayon {:.2}x, \
             taskpool/tokio {:.2}x | ≥ 1x rayon; (older aim) ≥ 3x tokio | {}; {} |",
            THROUGHPUT_TASKS / 1000,
            rate(0),
            rate(1),
            rate(2),
            rate(3),
            versus_rayon,
            versus_tokio,
            met(versus_rayon >= 1.0),
            met(versus_tokio >= 3.0),
        );
    }
    if only("priority") {
        // --- 2. Priority -----------------------------------------------------------------------------
        let mut latency: PerPeer<f64> = Default::default();
        for round in 0..rounds {
            for peer in rotation(round) {
                latency[index(peer)].push(pools.priority_probe(peer).as_secs_f64());
            }
        }
        let latency: Vec<Summary> = latency.iter().map(|s| summarize(s)).collect();
        let low_len = Duration::from_micros(LOW_TASK_MICROS).as_secs_f64();
        println!(
            "## 2. priority: {PRIORITY_LOW_TASKS} queued LOW tasks of {LOW_TASK_MICROS} µs, then one \
             probe; submit-to-start latency (taskpool: HIGH lane; peers: back of their FIFO)"
        );
        for peer in PEERS {
            let s = latency[index(peer)];
            let ratio = if peer == Peer::Taskpool {
                "reference".to_owned()
            } else {
                format!(
                    "{}/taskpool = {:.0}x",
                    peer.name(),
                    s.median / latency[0].median
                )
            };
            println!(
                "  {:<22} median {:>10} (min {}, max {}) = {:.2} LOW lengths; {ratio}",
                peer.name(),
                fmt_secs(s.median),
                fmt_secs(s.min),
                fmt_secs(s.max),
                s.median / low_len,
            );
        }
        println!();
        let lat = |i: usize| fmt_secs(latency[i].median);
        let in_lows = latency[0].median / low_len;
        let _ = writeln!(
            table,
            "| HIGH start latency behind {}k LOW × {LOW_TASK_MICROS} µs (peers: FIFO back) | {} \
             ({in_lows:.2} LOW) | {} | {} | {} | {:.0}x sooner than rayon | ≤ {TARGET_HIGH_IN_LOW_LENGTHS} \
             LOW lengths | {} |",
            PRIORITY_LOW_TASKS / 1000,
            lat(0),
            lat(1),
            lat(2),
            lat(3),
            latency[1].median / latency[0].median,
            met(in_lows <= TARGET_HIGH_IN_LOW_LENGTHS),
        );
    }
    if only("cpu") {
        // --- 3. CPU-bound speedup --------------------------------------------------------------------
        let mut speedup: PerPeer<f64> = Default::default();
        let mut full_times: PerPeer<f64> = Default::default();
        let mut single_times: PerPeer<f64> = Default::default();
        let mut cores_obtained: PerPeer<f64> = Default::default();
        // The full pool's run, with the CPU time the process got meanwhile.
        let full_run = |peer: Peer| {
            let before = process_cpu_ns();
            let time = pools.cpu_batch(peer, iters);
            let cpu = process_cpu_ns().saturating_sub(before);
            (time, cpu as f64 / 1e9 / time.as_secs_f64())
        };
        for round in 0..rounds {
            for peer in rotation(round) {
                // Alternate which size goes first, so neither always follows the other.
                let (one, (all, obtained)) = if round % 2 == 0 {
                    let one = single.cpu_batch(peer, iters);
                    (one, full_run(peer))
                } else {
                    let all = full_run(peer);
                    (single.cpu_batch(peer, iters), all)
                };
                let i = index(peer);
                cores_obtained[i].push(obtained);
                speedup[i].push(one.as_secs_f64() / all.as_secs_f64());
                single_times[i].push(one.as_secs_f64());
                full_times[i].push(all.as_secs_f64());
            }
        }
        let speedup: Vec<Summary> = speedup.iter().map(|s| summarize(s)).collect();
        let cores_obtained: Vec<Summary> = cores_obtained.iter().map(|s| summarize(s)).collect();
        println!(
            "## 3. CPU-bound: {CPU_TASKS} tasks of ~{} fixed work; speedup = time(1 thread) / \
             time({threads} threads) on {cores} cores (median of per-round ratios); \"cores obtained\" \
             = process CPU time / wall time during the {threads}-thread run (below {cores}: the machine \
             was busy with other work)",
            fmt_secs(CPU_TASK_TARGET.as_secs_f64())
        );
        for peer in PEERS {
            let i = index(peer);
            let s = speedup[i];
            println!(
                "  {:<22} speedup median {:.2}x (min {:.2}x, max {:.2}x); 1 thread {}, {threads} \
                 threads {}; cores obtained {:.2}",
                peer.name(),
                s.median,
                s.min,
                s.max,
                fmt_secs(summarize(&single_times[i]).median),
                fmt_secs(summarize(&full_times[i]).median),
                cores_obtained[i].median,
            );
        }
        println!();
        let sp = |i: usize| {
            format!(
                "{:.2}x ({:.2} cores obtained)",
                speedup[i].median, cores_obtained[i].median
            )
        };
        let _ = writeln!(
            table,
            "| CPU-bound speedup, {CPU_TASKS} × ~5 ms, 1 → {threads} threads on {cores} cores | {} | \
             {} | {} | {} | taskpool/rayon {:.2}x | ≥ {TARGET_SPEEDUP}x | {} |",
            sp(0),
            sp(1),
            sp(2),
            sp(3),
            speedup[0].median / speedup[1].median,
            met(speedup[0].median >= TARGET_SPEEDUP),
        );
    }
    if only("idle") {
        // --- 4. Idle cost ----------------------------------------------------------------------------
        let mut idle: PerPeer<IdleSample> = Default::default();
        for round in 0..rounds {
            for peer in rotation(round) {
                pools.empty_batch(peer, IDLE_BURST_TASKS);
                idle[index(peer)].push(idle_window(peer.thread_prefix()));
            }
        }
        let idle_pool: Vec<Summary> = idle
            .iter()
            .map(|s| summarize(&s.iter().map(|x| x.pool_ms).collect::<Vec<_>>()))
            .collect();
        let idle_process: Vec<Summary> = idle
            .iter()
            .map(|s| summarize(&s.iter().map(|x| x.process_ms).collect::<Vec<_>>()))
            .collect();
        println!(
            "## 4. idle cost: CPU burned during {} of idle after a burst of {IDLE_BURST_TASKS} tasks \
             (pool threads by name; \"rest of process\" = every pool alive and idle, measuring \
             thread excluded)",
            fmt_secs(IDLE_WINDOW.as_secs_f64())
        );
        for peer in PEERS {
            let i = index(peer);
            let s = idle_pool[i];
            println!(
                "  {:<22} pool threads median {:.3} ms/s (min {:.3}, max {:.3}); rest of process {:.3} \
                 ms/s",
                peer.name(),
                s.median,
                s.min,
                s.max,
                idle_process[i].median,
            );
        }
        println!();
        let ms = |i: usize| format!("{:.3} ms", idle_pool[i].median);
        let _ = writeln!(
            table,
            "| Idle CPU per second after a {}k burst (pool threads) | {} | {} | {} | {} | alone in \
             process: {:.3} ms | < {TARGET_IDLE_MS} ms | {} |",
            IDLE_BURST_TASKS / 1000,
            ms(0),
            ms(1),
            ms(2),
            ms(3),
            alone.process_ms,
            met(idle_pool[0].median < TARGET_IDLE_MS && alone.process_ms < TARGET_IDLE_MS),
        );
    }
    // --- 5. Multi-producer throughput -----------------------------------------------------------
    if only("multi") {
        let mut multi: PerPeer<f64> = Default::default();
        for round in 0..rounds {
            for peer in rotation(round) {
                let time = pools.multi_batch(peer);
                multi[index(peer)].push(THROUGHPUT_TASKS as f64 / time.as_secs_f64());
            }
        }
        let multi: Vec<Summary> = multi.iter().map(|s| summarize(s)).collect();
        println!(
            "## 5. multi-producer throughput: {THROUGHPUT_TASKS} empty tasks from {PRODUCERS} \
             threads at once, all awaited"
        );
        for peer in PEERS {
            let s = multi[index(peer)];
            println!(
                "  {:<22} median {:>10} (min {}, max {}); taskpool/{} = {:.2}x",
                peer.name(),
                fmt_rate(s.median),
                fmt_rate(s.min),
                fmt_rate(s.max),
                peer.name(),
                multi[0].median / s.median
            );
        }
        println!();
        let rate = |i: usize| fmt_rate(multi[i].median);
        let versus_rayon = multi[0].median / multi[1].median;
        let _ = writeln!(
            table,
            "| Throughput, {}k empty tasks from {PRODUCERS} threads (tasks/s) | {} | {} | {} | {} \
             | taskpool/rayon {:.2}x | ≥ 1x rayon | {} |",
            THROUGHPUT_TASKS / 1000,
            rate(0),
            rate(1),
            rate(2),
            rate(3),
            versus_rayon,
            met(versus_rayon >= 1.0),
        );
    }

    // --- 6. Round trip ---------------------------------------------------------------------------
    if only("roundtrip") {
        let mut trips: PerPeer<f64> = Default::default();
        for round in 0..rounds {
            for peer in rotation(round) {
                trips[index(peer)].push(pools.round_trips(peer).as_secs_f64());
            }
        }
        let trips: Vec<Summary> = trips.iter().map(|s| summarize(s)).collect();
        println!(
            "## 6. round trip: one empty task submitted and waited on, {ROUND_TRIPS} times per \
             round (median per round; median, min and max of the rounds)"
        );
        for peer in PEERS {
            let s = trips[index(peer)];
            println!(
                "  {:<22} median {:>10} (min {}, max {}); taskpool/{} = {:.2}x",
                peer.name(),
                fmt_secs(s.median),
                fmt_secs(s.min),
                fmt_secs(s.max),
                peer.name(),
                trips[0].median / s.median
            );
        }
        println!();
        let lat = |i: usize| fmt_secs(trips[i].median);
        let versus_rayon = trips[0].median / trips[1].median;
        let _ = writeln!(
            table,
            "| Round trip, one task submitted and waited on (median) | {} | {} | {} | {} | \
             taskpool/rayon {:.2}x | ≤ {TARGET_ROUND_TRIP_VS_RAYON}x rayon | {} |",
            lat(0),
            lat(1),
            lat(2),
            lat(3),
            versus_rayon,
            met(versus_rayon <= TARGET_ROUND_TRIP_VS_RAYON),
        );
    }

    // --- 7. Memory per queued task ---------------------------------------------------------------
    if only("memory") {
        let mut memory: PerPeer<f64> = Default::default();
        // Each sample is a fresh process: fewer rounds are enough (the figure barely moves).
        for round in 0..rounds.min(3) {
            for peer in rotation(round) {
                memory[index(peer)].push(memory_in_child(peer));
            }
        }
        let memory: Vec<Summary> = memory.iter().map(|s| summarize(s)).collect();
        println!(
            "## 7. memory per queued task: RSS growth with {MEMORY_TASKS} empty tasks queued behind \
             blocked workers, one fresh process per sample"
        );
        for peer in PEERS {
            let s = memory[index(peer)];
            println!(
                "  {:<22} median {:.0} B (min {:.0}, max {:.0}); taskpool/{} = {:.2}x",
                peer.name(),
                s.median,
                s.min,
                s.max,
                peer.name(),
                memory[0].median / s.median
            );
        }
        println!();
        let bytes = |i: usize| format!("{:.0} B", memory[i].median);
        let versus_rayon = memory[0].median / memory[1].median;
        let _ = writeln!(
            table,
            "| Memory per queued task, {}M behind blocked workers (RSS growth) | {} | {} | {} | {} \
             | taskpool/rayon {:.2}x | ≤ {TARGET_MEMORY_VS_RAYON}x rayon | {} |",
            MEMORY_TASKS / 1_000_000,
            bytes(0),
            bytes(1),
            bytes(2),
            bytes(3),
            versus_rayon,
            met(versus_rayon <= TARGET_MEMORY_VS_RAYON),
        );
    }

    println!("## Summary ({cores} cores, {threads} threads per pool, {rounds} rounds, medians)\n");
    print!("{table}");
    println!(
        "\ntotal bench time: {}; 1-minute load average at the end: {}",
        fmt_secs(bench_start.elapsed().as_secs_f64()),
        fmt_load(load_average())
    );
}
