//! The showcase: a mixed workload on an isolated pool, narrated.
//!
//! Run it with `cargo run --release -p taskpool-runtime --example showcase`. It shows results
//! coming back, the start order across priority lanes, the IDLE lane waiting for a quiet pool,
//! threads growing under load and shrinking when idle, a cancel, a panic, a time-out, an `async`
//! task, a task descriptor crossing through JSON, composition (a group, a sequence runner, a
//! periodic task streaming its progress with `send_data`), and pool-info snapshots; then
//! what the pool observed: outcome counters, per-lane wait times, and a timeline written to
//! `target/taskpool-timeline.json` (open it in <https://ui.perfetto.dev> or `chrome://tracing`).
//!
//! With `cargo run --release -p taskpool-runtime --features tracing --example showcase` it also
//! prints the `tracing` spans and events of a few runs, with a small subscriber of its own.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use taskpool::{
    Configs, Error, Priority, Shared, Task, TaskDescriptor, TaskGroup, TaskPool, concurrent,
    is_canceled, send_data, sendable, sleep,
};

/// One step of a sequence: the steps run strictly in order.
#[concurrent]
fn step(n: u32) -> String {
    format!("step {n}")
}

/// A periodic job that reports its progress to the host.
#[concurrent]
fn progress() {
    static DONE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let done = DONE.fetch_add(25, std::sync::atomic::Ordering::SeqCst) + 25;
    send_data(done.min(100)).unwrap();
}

/// Which lane each task that recorded itself started from, in start order.
static STARTS: Mutex<Vec<Priority>> = Mutex::new(Vec::new());

#[concurrent]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[concurrent]
fn busy(millis: u64, lane: Priority) -> u64 {
    STARTS.lock().unwrap().push(lane);
    spin(Duration::from_millis(millis));
    millis
}

#[concurrent]
fn backup(files: u32) -> String {
    STARTS.lock().unwrap().push(Priority::Idle);
    format!("backed up {files} files")
}

#[concurrent]
async fn fetch_and_sum(parts: Vec<u64>) -> u64 {
    let mut total = 0;
    for part in parts {
        sleep(Duration::from_millis(2)).await; // the worker runs other tasks meanwhile
        total += part;
    }
    total
}

#[concurrent]
fn count_until_canceled() -> u64 {
    let mut rounds = 0;
    while !is_canceled() {
        rounds += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    rounds
}

#[concurrent]
fn divide(a: i64, b: i64) -> Result<i64, String> {
    if b == 0 {
        return Err(format!("cannot divide {a} by zero"));
    }
    Ok(a / b)
}

#[concurrent]
fn explode() -> u8 {
    panic!("this task panics on purpose")
}

#[concurrent]
fn stuck(millis: u64) -> u64 {
    spin(Duration::from_millis(millis));
    millis
}

#[sendable]
struct Catalog {
    pub titles: Vec<String>,
}

#[concurrent]
fn count_titles(catalog: Shared<Catalog>) -> usize {
    catalog.titles.len()
}

fn spin(duration: Duration) {
    let until = Instant::now() + duration;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

fn snapshot(pool: &TaskPool, moment: &str) {
    let info = pool.info();
    let running = info
        .threads
        .iter()
        .filter(|t| !t.task_ids.is_empty())
        .count();
    println!(
        "  [{moment}] threads: {} ({running} busy), tasks waiting or running: {}",
        info.threads.len(),
        info.tasks.len()
    );
}

fn main() {
    // One quiet line per panic: the showcase panics on purpose and the handle reports it.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .unwrap_or("a panic");
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("?");
        eprintln!("  (panic hook) thread '{name}' panicked: {message}");
    }));
    #[cfg(feature = "tracing")]
    spans::install();
    let pool = TaskPool::builder()
        .record_timeline(100_000)
        .max_threads(4)
        .idle_timeout(Duration::from_millis(200))
        .check_interval(Duration::from_millis(50))
        .time_limit(Duration::from_millis(300))
        .thread_name("showcase")
        .build()
        .unwrap();
    println!(
        "taskpool showcase — an isolated pool of at most {} threads\n",
        pool.max_threads()
    );

    println!("1. Results: a function marked #[concurrent] runs on the pool and stays callable");
    let sum = pool.run(add, (40, 2)).wait().unwrap();
    println!(
        "  add(40, 2) on the pool = {sum}; called directly = {}\n",
        add(40, 2)
    );

    println!("2. Priorities: on a one-thread pool, queued work starts 5 HIGH : 1 MEDIUM : ...");
    let lane_pool = TaskPool::builder().max_threads(1).build().unwrap();
    let blocker = lane_pool.execute_with_priority(Task::new(stuck, (100,)), Priority::Low);
    let mut handles = Vec::new();
    let backup_handle = lane_pool.execute_with_priority(Task::new(backup, (1200,)), Priority::Idle);
    for (lane, count) in [
        (Priority::Low, 3),
        (Priority::Medium, 6),
        (Priority::High, 15),
    ] {
        for _ in 0..count {
            handles.push(lane_pool.execute_with_priority(Task::new(busy, (1, lane)), lane));
        }
    }
    snapshot(&lane_pool, "queued");
    blocker.wait().unwrap();
    for handle in handles {
        handle.wait().unwrap();
    }
    println!("  {}", backup_handle.wait().unwrap());
    let order: String = STARTS
        .lock()
        .unwrap()
        .iter()
        .map(|lane| match lane {
            Priority::High => 'H',
            Priority::Medium => 'M',
            Priority::Low => 'L',
            Priority::Idle => 'I',
        })
        .collect();
    println!("  start order: {order}");
    println!("  (LOW gets a turn after 5 MEDIUM; the IDLE task starts last, once all is quiet)\n");
    drop(lane_pool);

    println!("3. Elastic threads: the pool grows under load and releases idle threads");
    snapshot(&pool, "before");
    let burst: Vec<_> = (0..8).map(|_| pool.run(stuck, (60,))).collect();
    std::thread::sleep(Duration::from_millis(20));
    snapshot(&pool, "under load");
    for handle in burst {
        handle.wait().unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while pool.thread_count() > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    snapshot(&pool, "after idling");
    println!();

    println!("4. async fn: awaits on the worker without blocking it");
    let total = pool.run(fetch_and_sum, (vec![1, 2, 3, 4],)).wait().unwrap();
    let task = Task::new(fetch_and_sum, (vec![10, 20],)).with_name("fetch");
    let handle = pool.execute(&task);
    println!("  sums: {total} and {}", handle.wait().unwrap());
    let durations = task.durations().unwrap();
    println!(
        "  '{}' took {:?} in all: {:?} computing, {:?} awaiting\n",
        task.name(),
        durations.total,
        durations.cpu,
        durations.io
    );

    println!("5. Failures keep their meaning, and every error has its ArkTS code");
    let counter = pool.run(count_until_canceled, ());
    std::thread::sleep(Duration::from_millis(20));
    counter.cancel().unwrap();
    match counter.wait() {
        Err(Error::Canceled {
            late: Some(late), ..
        }) => println!(
            "  canceled while running; it saw is_canceled() after {:?} rounds",
            late.into_value::<u64>().unwrap()
        ),
        other => println!("  unexpected: {other:?}"),
    }
    let failed = pool.run(divide, (1, 0)).wait().unwrap_err();
    println!("  Err returned: {failed}");
    let panicked = pool.run(explode, ()).wait().unwrap_err();
    println!("  panic caught: {panicked}");
    let timed_out = pool.run(stuck, (600,)).wait().unwrap_err();
    println!("  over the 300 ms limit: {timed_out}");
    // ArkTS API 24 `execute(task, { timeout })`: the handle fails when the timeout passes.
    let configs = Configs::new().with_timeout(Duration::from_millis(30));
    let past_timeout = pool
        .execute_with_configs(Task::new(count_until_canceled, ()), configs)
        .wait()
        .unwrap_err();
    println!("  past its 30 ms timeout (Configs): {past_timeout}");
    let missing = pool
        .cancel(taskpool::TaskId::from_raw(u64::MAX))
        .unwrap_err();
    println!("  code {:?}: {missing}\n", missing.code());

    println!("6. Sendable data is shared by reference, never copied");
    let catalog = Shared::new(Catalog {
        titles: vec!["Dune".into(), "Solaris".into()],
    });
    let counts: Vec<_> = (0..3)
        .map(|_| pool.run(count_titles, (catalog.clone(),)))
        .map(|h| h.wait().unwrap())
        .collect();
    println!("  three tasks counted {counts:?} titles in one shared catalog\n");

    println!("7. A task as data: a descriptor, written as JSON and executed from it");
    let json = Task::new(add, (2, 3))
        .descriptor()
        .unwrap()
        .to_json()
        .unwrap();
    println!("  {json}");
    let descriptor = TaskDescriptor::from_json(&json).unwrap();
    let result = pool.execute_descriptor(&descriptor).wait().unwrap();
    println!("  result: {result}\n");

    println!("8. Composition: a group, a sequence runner, a periodic task streaming progress");
    let mut group = TaskGroup::with_name("sums");
    for n in 1..=4 {
        group.add(add, (n, n)).unwrap();
    }
    let sums = pool.execute_group(&group, Priority::High).wait().unwrap();
    println!(
        "  group '{}' results, in add order: {sums:?}",
        group.name().unwrap()
    );
    let runner = pool.sequence_runner(Priority::Medium);
    let steps: Vec<_> = (1..=3)
        .map(|n| runner.execute(Task::new(step, (n,))))
        .collect();
    let steps: Vec<String> = steps.into_iter().map(|h| h.wait().unwrap()).collect();
    println!("  sequence runner, strictly in order: {steps:?}");
    let job = Task::new(progress, ());
    let mut updates = job.data_stream::<u32>();
    let ticker = pool
        .execute_periodically(Duration::from_millis(5), job, Priority::Low)
        .unwrap();
    for percent in updates.blocking_iter() {
        println!("  periodic progress: {percent}%");
        if percent >= 100 {
            break;
        }
    }
    ticker.cancel().unwrap();
    println!(
        "  periodic task stopped after {} runs\n",
        ticker.runs_started()
    );

    println!("9. What the pool observed");
    #[cfg(feature = "tracing")]
    spans::show(&pool);
    let info = pool.info();
    let c = info.counters;
    println!(
        "  runs: {} submitted, {} completed, {} failed, {} canceled, {} timed out",
        c.submitted, c.completed, c.failed, c.canceled, c.timed_out
    );
    for lane in info.lanes.iter().filter(|l| l.waits.count > 0) {
        let w = lane.waits;
        println!(
            "  {:?} lane: {} started, waited p50 {:?}, p99 {:?}, max {:?}",
            lane.priority, w.count, w.p50, w.p99, w.max
        );
    }
    let timeline = pool.timeline().unwrap();
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/taskpool-timeline.json");
    let written = std::fs::create_dir_all(path.parent().unwrap())
        .and_then(|()| std::fs::File::create(&path))
        .map(std::io::BufWriter::new)
        .and_then(|file| timeline.write_chrome_trace(file));
    match written {
        Ok(()) => println!(
            "  timeline: {} calls and polls written to {} —\n  open it in https://ui.perfetto.dev \
             (Open trace file) or chrome://tracing: one track per worker thread, a bar per call \
             or poll,\n  coloured by lane, and the async task's suspensions as separate spans\n",
            timeline.slices().len(),
            path.display()
        ),
        Err(error) => println!("  timeline not written: {error}\n"),
    }

    snapshot(&pool, "end");
    pool.shutdown();
    println!("pool shut down: every thread joined");
}

/// With the `tracing` feature: a tiny subscriber that prints the spans and events of the
/// `add` runs (a real program would use `tracing-subscriber`).
#[cfg(feature = "tracing")]
mod spans {
    use std::fmt::Write;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());
    static NEXT: AtomicU64 = AtomicU64::new(1);

    struct Text(String);

    impl Visit for Text {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    struct Printer;

    impl Subscriber for Printer {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let id = NEXT.fetch_add(1, Ordering::Relaxed);
            let mut text = Text(format!("span {id} '{}':", span.metadata().name()));
            span.record(&mut text);
            if text.0.contains("::add") {
                LINES.lock().unwrap().push(text.0);
            }
            Id::from_u64(id)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut text = Text(String::new());
            event.record(&mut text);
            let parent = event.parent().map_or(0, Id::into_u64);
            let mut lines = LINES.lock().unwrap();
            let of_add = lines
                .iter()
                .any(|l| l.starts_with(&format!("span {parent} ")));
            if of_add {
                lines.push(format!("    event in span {parent}:{}", text.0));
            }
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    pub fn install() {
        tracing::subscriber::set_global_default(Printer).unwrap();
    }

    pub fn show(_pool: &taskpool::TaskPool) {
        println!("  tracing (feature on): the spans of the `add` runs and their events");
        for line in LINES.lock().unwrap().iter().take(12) {
            println!("    {line}");
        }
    }
}
