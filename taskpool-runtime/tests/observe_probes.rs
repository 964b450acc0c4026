//! Stress, fault and bad-input probes of the observability surface: the timeline and its Chrome
//! trace, `TaskPool::info` under churn and re-entry, and the outcome counters. `tests/observe.rs`
//! and `tests/pool_info.rs` hold the nominal cases.

mod support;

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;
use support::{PATIENCE, hold, open_gate, pass_gate, plain, wait_until};
use taskpool::{
    AsyncRunner, Counters, Error, LongTask, Priority, SliceKind, Task, TaskGroup, TaskPool,
    TaskPoolInfo, TaskState, Timeline, TimelineSlice, concurrent,
};

/// Suspends `times` times, each resumed at once (often on another thread).
#[concurrent]
async fn yield_many(times: u32) -> u32 {
    for _ in 0..times {
        support::yield_now().await;
    }
    times
}

#[concurrent]
fn refuse() -> Result<u8, String> {
    Err("no".into())
}

#[concurrent]
fn byte(x: u8) -> u8 {
    x
}

#[concurrent]
fn explode() -> u8 {
    panic!("on purpose")
}

/// Spins until its run is canceled, then returns.
#[concurrent]
fn spin_until_canceled() -> u8 {
    let deadline = std::time::Instant::now() + PATIENCE;
    while !taskpool::is_canceled() {
        assert!(std::time::Instant::now() < deadline, "never canceled");
        std::thread::yield_now();
    }
    1
}

fn events(json: &Value) -> &Vec<Value> {
    json["traceEvents"].as_array().expect("a traceEvents array")
}

/// Writes `timeline` as a Chrome trace and parses it back.
fn trace_of(timeline: &Timeline) -> Value {
    let mut bytes = Vec::new();
    timeline.write_chrome_trace(&mut bytes).expect("written");
    serde_json::from_slice(&bytes).expect("valid JSON")
}

/// What every Chrome trace of a pool must satisfy, whatever ran: slices forward in time, each on
/// a named track, and suspensions paired begin-before-end per id.
fn check_trace(timeline: &Timeline) -> Value {
    for slice in timeline.slices() {
        assert!(
            slice.start <= slice.end,
            "a slice ends before it starts: {slice:?}"
        );
        assert!(
            slice.thread > 0,
            "a slice off the pool's threads: {slice:?}"
        );
    }
    let json = trace_of(timeline);
    let events = events(&json);
    let named = |tid: &Value| {
        events
            .iter()
            .any(|e| e["ph"] == "M" && e["name"] == "thread_name" && &e["tid"] == tid)
    };
    let complete: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(complete.len(), timeline.slices().len());
    for event in &complete {
        assert!(named(&event["tid"]), "a track without a name: {event}");
        assert!(event["dur"].as_f64().unwrap() >= 0.0);
    }
    let mut open: std::collections::HashMap<String, f64> = Default::default();
    for event in events {
        let id = event["id"].as_str().unwrap_or_default().to_owned();
        match event["ph"].as_str().unwrap() {
            "b" => assert!(open.insert(id, event["ts"].as_f64().unwrap()).is_none()),
            "e" => {
                let begin = open.remove(&id).expect("an end without a begin");
                assert!(
                    event["ts"].as_f64().unwrap() >= begin,
                    "ends before it began"
                );
            }
            _ => {}
        }
    }
    assert!(open.is_empty(), "suspensions left open: {open:?}");
    json
}

/// The slices of task `id`, once `count` of them are recorded.
fn slices_of(pool: &TaskPool, id: taskpool::TaskId, count: usize) -> Vec<TimelineSlice> {
    let mut found = Vec::new();
    wait_until("the task's slices are recorded", || {
        found = pool.timeline().unwrap().slices().to_vec();
        found.retain(|s| s.task == id);
        found.len() >= count
    });
    found
}

// ---------------------------------------------------------------------------------------------
// Timeline

#[test]
fn a_timeline_of_the_largest_capacity_records_like_any_other() {
    let pool = TaskPool::builder()
        .max_threads(1)
        .record_timeline(taskpool::MAX_TIMELINE_ENTRIES)
        .build()
        .unwrap();
    let handle = pool.run(plain, (1,));
    let id = handle.id();
    handle.wait().unwrap();
    assert_eq!(slices_of(&pool, id, 1).len(), 1);
    let timeline = pool.timeline().unwrap();
    assert_eq!(timeline.capacity(), taskpool::MAX_TIMELINE_ENTRIES);
    assert_eq!(timeline.dropped(), 0);
    check_trace(&timeline);
}

#[test]
fn a_wrapping_ring_keeps_its_newest_entries_consistent_under_many_threads() {
    let pool = TaskPool::builder()
        .max_threads(3)
        .thread_name("wrap")
        .record_timeline(50)
        .build()
        .unwrap();
    let task = Task::new(plain, (1,));
    let handles: Vec<_> = (0..300).map(|_| pool.execute(&task)).collect();
    for handle in handles {
        handle.wait().unwrap();
    }
    wait_until("all 300 calls are recorded", || {
        let timeline = pool.timeline().unwrap();
        timeline.dropped() + timeline.slices().len() as u64 == 300
    });
    let timeline = pool.timeline().unwrap();
    assert_eq!(timeline.slices().len(), 50, "full");
    assert_eq!(timeline.dropped(), 250);
    let mut runs: Vec<u64> = timeline.slices().iter().map(|s| s.run).collect();
    runs.sort_unstable();
    runs.dedup();
    assert_eq!(runs.len(), 50, "each run recorded once");
    // Each thread's own slices are in the order it ran them: they do not overlap.
    for thread in 1..=3u64 {
        let own: Vec<_> = timeline
            .slices()
            .iter()
            .filter(|s| s.thread == thread)
            .collect();
        for pair in own.windows(2) {
            assert!(
                pair[0].end <= pair[1].start,
                "overlap on {thread}: {pair:?}"
            );
        }
    }
    let json = check_trace(&timeline);
    assert_eq!(json["otherData"]["dropped"], 250);
    for track in events(&json).iter().filter(|e| e["name"] == "thread_name") {
        assert!(track["args"]["name"].as_str().unwrap().starts_with("wrap-"));
    }
}

#[test]
fn an_async_run_suspending_many_times_pairs_every_suspension() {
    let pool = TaskPool::builder()
        .max_threads(2)
        .record_timeline(100_000)
        .build()
        .unwrap();
    let handle = pool.run(yield_many, (500,));
    let id = handle.id();
    assert_eq!(handle.wait().unwrap(), 500);
    // The call builds the future; its first poll and each resumption are polls.
    let slices = slices_of(&pool, id, 502);
    assert_eq!(
        slices.len(),
        502,
        "the call, the first poll and a poll per resumption"
    );
    assert_eq!(slices[0].kind, SliceKind::Call);
    assert!(slices[1..].iter().all(|s| s.kind == SliceKind::Poll));
    let timeline = pool.timeline().unwrap();
    let json = check_trace(&timeline);
    let begins = events(&json).iter().filter(|e| e["ph"] == "b").count();
    assert_eq!(begins, 500, "one suspension per await");
}

#[test]
fn runs_that_time_out_panic_fail_or_are_canceled_while_running_are_recorded_once_each() {
    let pool = TaskPool::builder()
        .max_threads(2)
        .time_limit(Duration::from_millis(50))
        .record_timeline(1000)
        .build()
        .unwrap();
    let late = pool.run(hold, (9_101,));
    let late_id = late.id();
    assert!(matches!(late.wait(), Err(Error::TimedOut { .. })));
    // Its call still executes on a thread the pool let go of: a consistent snapshot still.
    for _ in 0..10 {
        check_info(&pool.info(), 2);
        assert_eq!(pool.run(plain, (5,)).wait().unwrap(), 5);
    }
    open_gate(9_101);
    let panicked = pool.run(explode, ());
    let panicked_id = panicked.id();
    assert!(panicked.wait().is_err());
    let failed = pool.run(refuse, ());
    let failed_id = failed.id();
    assert!(failed.wait().is_err());
    let strict = TaskPool::builder()
        .max_threads(1)
        .record_timeline(1000)
        .build()
        .unwrap();
    let spinner = strict.run(spin_until_canceled, ());
    let spinner_id = spinner.id();
    support::wait_until_executing(&strict, spinner_id);
    spinner.cancel().unwrap();
    assert!(matches!(spinner.wait(), Err(Error::Canceled { .. })));

    for id in [late_id, panicked_id, failed_id] {
        assert_eq!(slices_of(&pool, id, 1).len(), 1);
    }
    assert_eq!(slices_of(&strict, spinner_id, 1).len(), 1);
    check_trace(&pool.timeline().unwrap());
    check_trace(&strict.timeline().unwrap());
}

#[test]
fn a_timeline_read_while_a_long_task_runs_forever_stays_valid() {
    let pool = TaskPool::builder()
        .max_threads(1)
        .record_timeline(16)
        .build()
        .unwrap();
    let long = pool.execute(LongTask::new(hold, (9_102,)));
    support::wait_until_executing(&pool, long.id());
    for _ in 0..3 {
        check_trace(&pool.timeline().unwrap());
    }
    open_gate(9_102);
    long.wait().unwrap();
}

#[test]
fn odd_and_huge_task_names_give_valid_json_that_reads_back_the_same() {
    let control: String = (1u8..0x20).map(char::from).collect();
    let names = [
        String::new(),
        "\"".into(),
        "\\".into(),
        "\\\"\\\\\"".into(),
        "line\nbreak\r\n".into(),
        control,
        "\u{7f}\u{80}\u{9f}\u{a0}\u{2028}\u{2029}\u{feff}\u{fffd}\u{10ffff}".into(),
        "日本語 🚀 ٱلْعَرَبِيَّة".into(),
        "</script><!--".into(),
        "x".repeat(1 << 20),
    ];
    let pool = TaskPool::builder()
        .max_threads(1)
        .record_timeline(names.len())
        .build()
        .unwrap();
    let mut ids = Vec::new();
    for name in &names {
        let handle = pool.execute(Task::new(plain, (2,)).with_name(name.clone()));
        ids.push(handle.id());
        handle.wait().unwrap();
    }
    wait_until("every call is recorded", || {
        pool.timeline().unwrap().slices().len() == names.len()
    });
    let json = check_trace(&pool.timeline().unwrap());
    for (name, id) in names.iter().zip(ids) {
        let event = events(&json)
            .iter()
            .find(|e| e["ph"] == "X" && e["args"]["task"] == id.into_raw())
            .expect("the call");
        assert_eq!(event["name"].as_str().unwrap(), name, "read back");
    }
}

/// Accepts `budget` bytes, then fails every write with `kind`.
struct Failing {
    budget: usize,
    kind: io::ErrorKind,
}

impl Write for Failing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.budget == 0 {
            return Err(io::Error::new(self.kind, "disk full on purpose"));
        }
        let n = buf.len().min(self.budget);
        self.budget -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A timeline with a few calls of a named task.
fn small_timeline() -> (TaskPool, Timeline) {
    let pool = TaskPool::builder()
        .max_threads(1)
        .record_timeline(64)
        .build()
        .unwrap();
    for _ in 0..5 {
        let task = Task::new(plain, (3,)).with_name("a fairly long task name for the trace");
        pool.execute(task).wait().unwrap();
    }
    wait_until("the calls are recorded", || {
        pool.timeline().unwrap().slices().len() == 5
    });
    let timeline = pool.timeline().unwrap();
    (pool, timeline)
}

#[test]
fn a_writer_failing_midway_gives_its_own_io_error() {
    let (_pool, timeline) = small_timeline();
    let mut whole = Vec::new();
    timeline.write_chrome_trace(&mut whole).unwrap();
    for budget in [0, 1, 17, whole.len() / 2, whole.len() - 1] {
        for kind in [io::ErrorKind::StorageFull, io::ErrorKind::BrokenPipe] {
            let error = timeline
                .write_chrome_trace(Failing { budget, kind })
                .expect_err("the writer failed");
            assert_eq!(
                error.kind(),
                kind,
                "the writer's error, at byte {budget}: {error}"
            );
        }
    }
    // A writer that takes nothing.
    struct Zero;
    impl Write for Zero {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Ok(0)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let error = timeline.write_chrome_trace(Zero).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::WriteZero, "{error}");
}

/// Counts the writes it is given.
#[derive(Default)]
struct Counting {
    writes: usize,
    bytes: Vec<u8>,
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writes += 1;
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An unbuffered `File` (what the showcase passes) costs a system call per write: the trace
/// reaches its writer in large chunks, not one per JSON token.
#[test]
fn the_trace_reaches_its_writer_in_large_chunks() {
    let (_pool, timeline) = small_timeline();
    let mut counting = Counting::default();
    timeline.write_chrome_trace(&mut counting).unwrap();
    let json: Value = serde_json::from_slice(&counting.bytes).expect("valid JSON");
    assert_eq!(events(&json).iter().filter(|e| e["ph"] == "X").count(), 5);
    assert!(
        counting.writes <= 1 + counting.bytes.len() / 4096,
        "{} writes for {} bytes",
        counting.writes,
        counting.bytes.len()
    );
}

#[test]
fn a_panicking_writer_leaves_the_pool_s_timeline_usable() {
    struct Panicking;
    impl Write for Panicking {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            panic!("writer panics on purpose")
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let (pool, timeline) = small_timeline();
    let outcome = std::panic::catch_unwind(|| timeline.write_chrome_trace(Panicking));
    assert!(outcome.is_err(), "the writer's own panic is the caller's");
    let handle = pool.run(plain, (4,));
    let id = handle.id();
    handle.wait().unwrap();
    slices_of(&pool, id, 1);
    check_trace(&pool.timeline().unwrap());
    check_trace(&timeline);
}

// ---------------------------------------------------------------------------------------------
// info()

/// What every snapshot must satisfy: each task once, plausible states and durations, thread
/// ids unique and within the pool's bound, each listed thread task listed as a task.
fn check_info(info: &TaskPoolInfo, max_threads: usize) {
    let mut ids: Vec<_> = info.tasks.iter().map(|t| t.task_id).collect();
    ids.sort_unstable();
    let listed = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), listed, "a task listed twice: {:?}", info.tasks);
    for task in &info.tasks {
        assert!((1..=3).contains(&(task.state as u8)));
        if task.state == TaskState::Waiting {
            assert_eq!(task.duration, Duration::ZERO, "{task:?}");
        }
        assert!(
            task.duration < PATIENCE * 10,
            "implausible duration: {task:?}"
        );
    }
    assert!(
        info.threads.len() <= max_threads,
        "{} threads",
        info.threads.len()
    );
    let mut threads: Vec<u64> = info.threads.iter().map(|t| t.id).collect();
    threads.sort_unstable();
    threads.dedup();
    assert_eq!(threads.len(), info.threads.len(), "a thread listed twice");
    for thread in &info.threads {
        assert!(
            thread.priority.is_none() || !thread.task_ids.is_empty(),
            "{thread:?}"
        );
        for id in &thread.task_ids {
            assert!(
                info.tasks.iter().any(|t| t.task_id == *id),
                "thread {} runs {id:?}, which is not listed",
                thread.id
            );
        }
    }
    assert_eq!(info.lanes.len(), 4);
    for lane in &info.lanes {
        assert!(
            lane.queued < 1 << 40 && lane.woken < 1 << 40,
            "underflow: {lane:?}"
        );
        let w = lane.waits;
        assert!(w.p50 <= w.p90 && w.p90 <= w.p99 && w.p99 <= w.max && w.mean <= w.max);
    }
    let c = info.counters;
    assert!(c.settled() <= c.submitted, "{c:?}");
}

/// Counters never go back.
fn check_monotonic(before: &Counters, after: &Counters) {
    let pairs = [
        (before.submitted, after.submitted),
        (before.completed, after.completed),
        (before.failed, after.failed),
        (before.canceled, after.canceled),
        (before.timed_out, after.timed_out),
    ];
    for (b, a) in pairs {
        assert!(a >= b, "a counter went back: {before:?} -> {after:?}");
    }
}

#[test]
fn info_stays_consistent_under_churn_of_every_kind_of_run() {
    let pool = Arc::new(
        TaskPool::builder()
            .max_threads(3)
            .extra_threads(2)
            .time_limit(Duration::from_millis(200))
            .record_timeline(256)
            .build()
            .unwrap(),
    );
    let bound = 3 + 2;
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (pool, done) = (pool.clone(), done.clone());
            std::thread::spawn(move || {
                let mut last = Counters::default();
                let mut snapshots = 0u64;
                while !done.load(Ordering::SeqCst) || snapshots == 0 {
                    let info = pool.info();
                    check_info(&info, bound);
                    check_monotonic(&last, &info.counters);
                    last = info.counters;
                    snapshots += 1;
                }
            })
        })
        .collect();
    let submitters: Vec<_> = (0..3u32)
        .map(|seed| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                for round in 0..200u32 {
                    let priority = Priority::ALL[(round % 4) as usize];
                    match (round + seed) % 7 {
                        0 => drop(pool.run(plain, (round,)).wait()),
                        1 => drop(pool.run(refuse, ())),
                        2 => drop(pool.run(explode, ())),
                        3 => drop(pool.run(yield_many, (5,)).cancel()),
                        4 => {
                            let handle =
                                pool.execute_with_priority(Task::new(yield_many, (3,)), priority);
                            drop(handle.wait());
                        }
                        5 => drop(pool.execute(LongTask::new(plain, (round,))).wait()),
                        _ => drop(
                            pool.execute_with_priority(Task::new(plain, (1,)), priority)
                                .cancel(),
                        ),
                    }
                }
            })
        })
        .collect();
    for submitter in submitters {
        submitter.join().unwrap();
    }
    wait_until("every run is settled", || {
        let counters = pool.info().counters;
        counters.submitted == 600 && counters.settled() == 600
    });
    done.store(true, Ordering::SeqCst);
    for reader in readers {
        reader.join().unwrap();
    }
    wait_until("the lanes are empty", || {
        pool.info().lanes.iter().all(|l| l.queued + l.woken == 0)
    });
    check_info(&pool.info(), bound);
}

static INSIDE: OnceLock<TaskPool> = OnceLock::new();

fn inside_pool() -> &'static TaskPool {
    INSIDE.get_or_init(|| TaskPool::builder().max_threads(2).build().unwrap())
}

/// Reads its own pool's `info()` and reports whether it lists itself running on its thread.
#[concurrent]
fn sees_itself() -> bool {
    let me = taskpool::current_task_id().expect("in a task");
    let info = inside_pool().info();
    let listed = info
        .tasks
        .iter()
        .any(|t| t.task_id == me && t.state == TaskState::Running);
    let on_thread = info.threads.iter().any(|t| t.task_ids.contains(&me));
    listed && on_thread
}

#[concurrent]
async fn sees_itself_across_awaits() -> bool {
    let before = sees_itself_now();
    support::yield_now().await;
    before && sees_itself_now()
}

fn sees_itself_now() -> bool {
    let me = taskpool::current_task_id().expect("in a task");
    let info = inside_pool().info();
    info.threads.iter().any(|t| t.task_ids.contains(&me))
}

/// Drops on a pool thread and reads the pool's `info()` there.
#[derive(serde::Serialize, serde::Deserialize)]
struct ReadsInfoOnDrop(u32);

static READ_ON_DROP: AtomicUsize = AtomicUsize::new(0);

impl Drop for ReadsInfoOnDrop {
    fn drop(&mut self) {
        check_info(&inside_pool().info(), 2);
        READ_ON_DROP.fetch_add(1, Ordering::SeqCst);
    }
}

#[concurrent]
fn take_reader(reader: ReadsInfoOnDrop) -> u32 {
    reader.0
}

#[test]
fn info_read_from_a_task_a_drop_and_a_listener_sees_a_consistent_pool() {
    let pool = inside_pool();
    assert!(
        pool.run(sees_itself, ()).wait().unwrap(),
        "a sync task sees itself"
    );
    assert!(
        pool.run(sees_itself_across_awaits, ()).wait().unwrap(),
        "an async one too"
    );
    assert_eq!(
        pool.run(take_reader, (ReadsInfoOnDrop(7),)).wait().unwrap(),
        7
    );
    wait_until("the argument's Drop read info()", || {
        READ_ON_DROP.load(Ordering::SeqCst) >= 1
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let task = Task::new(plain, (5,));
    let id = task.id();
    let listener = tx.clone();
    task.on_start_execution(move || {
        let info = inside_pool().info();
        let _ = listener.send(info.tasks.iter().any(|t| t.task_id == id));
    })
    .unwrap();
    task.on_execution_succeeded(move || {
        let info = inside_pool().info();
        check_info(&info, 2);
        let _ = tx.send(true);
    })
    .unwrap();
    assert_eq!(pool.execute(task).wait().unwrap(), 5);
    for _ in 0..2 {
        rx.recv_timeout(PATIENCE).expect("the listener ran");
    }
}

struct ReadsInfo;

impl taskpool::WorkerHandler for ReadsInfo {
    type In = u32;
    type Out = usize;
    async fn on_message(
        &mut self,
        message: u32,
        port: &taskpool::WorkerPort<usize>,
    ) -> taskpool::HandlerResult {
        let handle = inside_pool().run(plain, (message,));
        let listed = inside_pool().info().threads.len();
        handle.wait()?;
        port.post_message(listed)?;
        Ok(())
    }
}

#[test]
fn info_read_from_a_worker_handler() {
    let worker = taskpool::Worker::new(|| ReadsInfo).unwrap();
    worker.post_message(1).unwrap();
    let listed = worker.recv_timeout(PATIENCE).expect("the handler replied");
    assert!(listed <= 2);
}

#[test]
fn info_of_a_pool_with_a_hundred_thousand_waiting_tasks_completes() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let blocker = pool.run(hold, (9_103,));
    support::wait_until_executing(&pool, blocker.id());
    let waiting: Vec<_> = (0..100_000).map(|i| pool.run(plain, (i,))).collect();
    let (tx, rx) = std::sync::mpsc::channel();
    let pool = Arc::new(pool);
    let reader = {
        let pool = pool.clone();
        std::thread::spawn(move || {
            let info = pool.info();
            let _ = tx.send((info.tasks.len(), info.lanes[1].queued));
        })
    };
    // Generous: a quadratic snapshot of 100 000 runs would take hours.
    let (listed, queued) = rx.recv_timeout(PATIENCE * 6).expect("info() completes");
    reader.join().unwrap();
    assert_eq!(listed, 100_001, "every waiting run and the blocker");
    assert_eq!(queued, 100_000);
    for handle in &waiting[..10] {
        handle.cancel().unwrap();
    }
    let info = pool.info();
    assert_eq!(
        info.tasks
            .iter()
            .filter(|t| t.state == TaskState::Canceled)
            .count(),
        10
    );
    for t in info.tasks.iter().filter(|t| t.state == TaskState::Canceled) {
        assert_eq!(
            t.duration,
            Duration::ZERO,
            "canceled before it started: {t:?}"
        );
    }
    open_gate(9_103);
    blocker.wait().unwrap();
    for handle in waiting {
        drop(handle.wait());
    }
    wait_until("the pool is idle", || {
        let info = pool.info();
        info.counters.settled() == 100_001 && info.lanes.iter().all(|l| l.queued == 0)
    });
}

// ---------------------------------------------------------------------------------------------
// Counters

#[test]
fn every_ending_is_counted_once_in_its_counter() {
    // Timed out, on a pool of its own (a time limit would race the cancels below): the call
    // returns later and is not counted again.
    let strict = TaskPool::builder()
        .max_threads(1)
        .time_limit(Duration::from_millis(50))
        .build()
        .unwrap();
    assert!(matches!(
        strict.run(hold, (9_104,)).wait(),
        Err(Error::TimedOut { .. })
    ));
    open_gate(9_104);
    assert_eq!(strict.run(plain, (0,)).wait().unwrap(), 0);
    let timed_out = Counters {
        submitted: 2,
        completed: 1,
        timed_out: 1,
        ..Counters::default()
    };
    wait_until("the late call returned", || {
        support::busy_threads(&strict) == 0
    });
    assert_eq!(strict.info().counters, timed_out);

    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let mut expected = Counters::default();
    let add = |c: &mut Counters, f: fn(&mut Counters)| {
        c.submitted += 1;
        f(c);
    };
    assert_eq!(pool.run(plain, (1,)).wait().unwrap(), 1);
    add(&mut expected, |c| c.completed += 1);
    assert!(pool.run(refuse, ()).wait().is_err());
    add(&mut expected, |c| c.failed += 1);
    assert!(pool.run(explode, ()).wait().is_err());
    add(&mut expected, |c| c.failed += 1);
    // Canceled while running.
    let spinner = pool.run(spin_until_canceled, ());
    support::wait_until_executing(&pool, spinner.id());
    spinner.cancel().unwrap();
    assert!(matches!(spinner.wait(), Err(Error::Canceled { .. })));
    add(&mut expected, |c| c.canceled += 1);
    // Canceled while suspended.
    let napper = pool.run(support::nap, ());
    support::wait_until_suspended(&pool, napper.id());
    napper.cancel().unwrap();
    assert!(matches!(napper.wait(), Err(Error::Canceled { .. })));
    add(&mut expected, |c| c.canceled += 1);
    // Canceled while waiting, behind two blockers.
    let blockers: Vec<_> = (0..2)
        .map(|_| pool.execute(LongTask::new(hold, (9_105,))))
        .collect();
    wait_until("both blockers run", || support::busy_threads(&pool) == 2);
    let queued = pool.run(plain, (2,));
    queued.cancel().unwrap();
    assert!(matches!(queued.wait(), Err(Error::Canceled { .. })));
    add(&mut expected, |c| c.canceled += 1);
    open_gate(9_105);
    for blocker in blockers {
        blocker.wait().unwrap();
        add(&mut expected, |c| c.completed += 1);
    }
    // Refused at once: a descriptor naming no function.
    let mut descriptor = Task::new(plain, (3,)).descriptor().unwrap();
    descriptor.function = "no::such::function".into();
    assert!(pool.execute_descriptor(&descriptor).wait().is_err());
    add(&mut expected, |c| c.failed += 1);
    // Counted before each handle resolved: nothing to wait for.
    assert_eq!(pool.info().counters, expected);
}

/// Once every handle resolved and the pool is idle, every run submitted was settled exactly
/// once, whichever API submitted it and however it ended.
#[test]
fn every_api_leaves_submitted_equal_to_settled_once_idle() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    // A group whose first failure cancels the rest.
    let mut group = TaskGroup::new();
    group.add_task(Task::new(refuse, ())).unwrap();
    for _ in 0..3 {
        group.add_task(Task::new(byte, (1,))).unwrap();
    }
    let _ = pool.execute_group(&group, Priority::Low).wait();
    // A sequence runner, one of whose tasks is canceled while it waits in the runner.
    let runner = pool.sequence_runner(Priority::Medium);
    let first = runner.execute(Task::new(hold, (9_106,)));
    let second = runner.execute(Task::new(plain, (2,)));
    second.cancel().unwrap();
    open_gate(9_106);
    first.wait().unwrap();
    assert!(second.wait().is_err());
    // An async runner: one canceled while waiting, one pushed out of a full queue.
    let runner = pool.async_runner(1, 1).unwrap();
    let running = runner.execute(Task::new(hold, (9_107,)), Priority::Medium);
    let canceled = runner.execute(Task::new(plain, (3,)), Priority::Medium);
    canceled.cancel().unwrap();
    let pushed_out = runner.execute(Task::new(plain, (4,)), Priority::Medium);
    let last = runner.execute(Task::new(plain, (5,)), Priority::Medium);
    open_gate(9_107);
    running.wait().unwrap();
    let _ = (canceled.wait(), pushed_out.wait(), last.wait());
    // A dependency that fails, failing its dependent.
    let dependency = Task::new(refuse, ());
    let dependent = Task::new(plain, (6,));
    dependent.add_dependency(&dependency).unwrap();
    let dependent_handle = pool.execute(&dependent);
    let _ = pool.execute(&dependency).wait();
    assert!(dependent_handle.wait().is_err());
    // A runner refusing a task with a dependency.
    let needs = Task::new(plain, (7,));
    needs.add_dependency(&Task::new(plain, (8,))).unwrap();
    assert!(runner.execute(needs, Priority::Low).wait().is_err());
    // A delayed run canceled during its delay.
    let delayed = pool.execute_delayed(Duration::MAX, Task::new(plain, (9,)), Priority::Idle);
    delayed.cancel().unwrap();
    assert!(delayed.wait().is_err());
    // A periodic task, canceled after a few ticks.
    let periodic = pool
        .execute_periodically(
            Duration::from_millis(1),
            Task::new(plain, (10,)),
            Priority::High,
        )
        .unwrap();
    wait_until("a few ticks ran", || pool.info().counters.completed >= 8);
    periodic.cancel().unwrap();
    let _ = AsyncRunner::new(1, 0);

    wait_until("everything submitted is settled", || {
        let counters = pool.info().counters;
        counters.settled() == counters.submitted
            && pool
                .info()
                .tasks
                .iter()
                .all(|t| t.state == TaskState::Canceled)
    });
    let counters = pool.info().counters;
    // Failed for sure: the group's refusing task, the failing dependency and its dependent,
    // the runner's refusal. Canceled for sure: the sequence runner's waiting task, the async
    // runner's waiting task, the delayed run. The group's other members and the periodic
    // task's last tick may or may not have ended before their cancel, depending on timing.
    assert!(counters.failed >= 4, "{counters:?}");
    assert!(counters.canceled >= 3, "{counters:?}");
}

#[test]
fn handles_resolved_after_their_pool_is_gone_do_not_panic() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let blocker = pool.run(hold, (9_108,));
    support::wait_until_executing(&pool, blocker.id());
    let queued: Vec<_> = (0..20).map(|i| pool.run(plain, (i,))).collect();
    let dropper = std::thread::spawn(move || pool.shutdown());
    for handle in queued {
        assert!(matches!(handle.wait(), Err(Error::Canceled { .. })));
    }
    open_gate(9_108);
    dropper.join().unwrap();
    assert_eq!(blocker.wait().unwrap(), 9_108);
    let _ = pass_gate;
}

/// The same task executed 100 000 times: its runs wait one behind the other, held outside the
/// lanes, and each run is listed once, as waiting; then they all run, in turn. Before, the
/// pool's table of live runs kept a task's runs in a list, so draining them was quadratic
/// (20 000 took 5 s in a debug build, 100 000 more than the patience below).
#[test]
fn info_lists_each_waiting_run_of_one_task_executed_many_times() {
    const RUNS: usize = 100_000;
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let blocker = pool.run(hold, (9_109,));
    support::wait_until_executing(&pool, blocker.id());
    let task = Task::new(plain, (0,));
    let waiting: Vec<_> = (0..RUNS).map(|_| pool.execute(&task)).collect();
    let info = pool.info();
    let runs: Vec<_> = info
        .tasks
        .iter()
        .filter(|t| t.task_id == task.id())
        .collect();
    assert_eq!(runs.len(), RUNS);
    assert!(runs.iter().all(|t| t.state == TaskState::Waiting));
    let queued: usize = info.lanes.iter().map(|l| l.queued).sum();
    assert!(queued <= RUNS, "{queued}");
    open_gate(9_109);
    blocker.wait().unwrap();
    let last = waiting.last().unwrap().id();
    assert_eq!(last, task.id());
    wait_until("every run of the task ran", || {
        pool.info().counters.completed == RUNS as u64 + 1
    });
    for handle in waiting {
        assert_eq!(handle.wait().unwrap(), 0);
    }
}

/// `Counters` is plain data a caller may build or subtract: its sum never panics.
#[test]
fn settled_saturates_instead_of_overflowing() {
    let full = Counters {
        submitted: u64::MAX,
        completed: u64::MAX,
        failed: 1,
        canceled: u64::MAX,
        timed_out: 7,
    };
    assert_eq!(full.settled(), u64::MAX);
    let one_short = Counters {
        completed: u64::MAX - 3,
        failed: 1,
        canceled: 1,
        timed_out: 1,
        ..Counters::default()
    };
    assert_eq!(one_short.settled(), u64::MAX);
}

static NESTING: OnceLock<TaskPool> = OnceLock::new();

fn nesting_pool() -> &'static TaskPool {
    NESTING.get_or_init(|| {
        TaskPool::builder()
            .max_threads(1)
            .record_timeline(1000)
            .build()
            .unwrap()
    })
}

/// Where the inner task saw itself in `info()`: (listed as running, listed on a thread).
#[concurrent]
fn inner_sees_itself() -> (bool, bool) {
    let me = taskpool::current_task_id().expect("in a task");
    let info = nesting_pool().info();
    let running = info
        .tasks
        .iter()
        .any(|t| t.task_id == me && t.state == TaskState::Running);
    let on_thread = info.threads.iter().any(|t| t.task_ids.contains(&me));
    (running, on_thread)
}

/// Submits `inner_sees_itself` to its own one-thread pool and waits for it: it runs inline.
#[concurrent]
fn outer_waits() -> (u64, bool, bool) {
    let handle = nesting_pool().run(inner_sees_itself, ());
    let inner = handle.id().into_raw();
    let (running, on_thread) = handle.wait().unwrap();
    (inner, running, on_thread)
}

#[test]
fn a_run_executed_inside_a_waiting_one_is_listed_on_its_thread_and_nested_in_the_timeline() {
    let pool = nesting_pool();
    let outer = pool.run(outer_waits, ());
    let outer_id = outer.id();
    let (inner, running, on_thread) = outer.wait().unwrap();
    let inner = taskpool::TaskId::from_raw(inner);
    assert!(running, "the inner run is listed as running");
    assert!(on_thread, "the thread executing the inner run lists it");
    let outer_slice = slices_of(pool, outer_id, 1).remove(0);
    let inner_slice = slices_of(pool, inner, 1).remove(0);
    assert_eq!(outer_slice.thread, inner_slice.thread);
    assert!(
        outer_slice.start <= inner_slice.start && inner_slice.end <= outer_slice.end,
        "nested: {outer_slice:?} {inner_slice:?}"
    );
    check_trace(&pool.timeline().unwrap());
}

static RACE: OnceLock<TaskPool> = OnceLock::new();

fn race_pool() -> &'static TaskPool {
    RACE.get_or_init(|| TaskPool::builder().max_threads(2).build().unwrap())
}

/// A result whose `Drop` reads its pool's `info()`, wherever the last reference to its run
/// goes: it must never be under the pool's own lock.
#[derive(serde::Serialize, serde::Deserialize)]
struct ReadsInfoWhenDropped(u8);

impl Drop for ReadsInfoWhenDropped {
    fn drop(&mut self) {
        let _ = race_pool().info().tasks.len();
    }
}

#[concurrent]
fn make_reader() -> ReadsInfoWhenDropped {
    ReadsInfoWhenDropped(1)
}

#[concurrent]
async fn make_reader_later() -> ReadsInfoWhenDropped {
    support::yield_now().await;
    ReadsInfoWhenDropped(2)
}

#[test]
fn results_dropped_with_their_runs_while_info_is_read_do_not_deadlock() {
    let pool = race_pool();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let done = done.clone();
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                let _ = race_pool().info();
            }
        })
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Each `Drop` lists every waiting run: a few hundred keep that cheap.
        for round in 0..600u32 {
            if round % 2 == 0 {
                drop(pool.run(make_reader, ()));
            } else {
                drop(pool.run(make_reader_later, ()));
            }
        }
        let _ = tx.send(());
    });
    rx.recv_timeout(PATIENCE).expect("no deadlock");
    let settled = |pool: &TaskPool| {
        let c = pool.info().counters;
        c.settled() == c.submitted
    };
    let deadline = std::time::Instant::now() + PATIENCE;
    while !settled(pool) {
        if std::time::Instant::now() > deadline {
            let info = pool.info();
            panic!(
                "stuck: {:?} {:?} {:?}",
                info.counters, info.threads, info.tasks
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    done.store(true, Ordering::SeqCst);
    reader.join().unwrap();
}
