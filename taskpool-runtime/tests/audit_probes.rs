//! Bad-input and panic audit probes: wakers of a broken executor (whose `wake` panics) on every
//! runtime-side future and stream, and odd names and sizes given to public constructors.
//!
//! The bar: nothing a user passes in, and no user code, panics the caller, kills a pool or
//! worker thread, or leaves a handle, stream or waiter unresolved.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Waker};

use futures::Stream;
use support::echo::Echo;
use support::wakers::{PanickingWaker, poll_with_panicking_waker};
use support::{PATIENCE, block_on, hold, open_gate, plain, wait_until};
use taskpool::{Priority, Task, TaskPool, Worker, concurrent, send_data};

/// Polls `future` once with a waker that panics when woken; expects it to wait.
fn park_with_panicking_waker<F: Future + Unpin>(future: &mut F) -> Arc<PanickingWaker> {
    let (polled, counter) = poll_with_panicking_waker(future);
    assert!(polled.is_pending(), "expected the future to wait");
    counter
}

/// Polls `stream` once with a waker that panics when woken; expects it to wait.
fn park_stream_with_panicking_waker<S: Stream + Unpin>(stream: &mut S) -> Arc<PanickingWaker> {
    let (counter, waker) = PanickingWaker::new_waker();
    let polled = Pin::new(stream).poll_next(&mut Context::from_waker(&waker));
    assert!(polled.is_pending(), "expected the stream to wait");
    counter
}

/// Polls `stream` once with a counting waker; expects it to wait.
fn park_stream_with_counting_waker<S: Stream + Unpin>(stream: &mut S) -> Arc<support::Wakes> {
    let counter = Arc::new(support::Wakes::default());
    let waker = Waker::from(counter.clone());
    let polled = Pin::new(stream).poll_next(&mut Context::from_waker(&waker));
    assert!(polled.is_pending(), "expected the stream to wait");
    counter
}

// ---- task handles -------------------------------------------------------------------------

/// A handle awaited by a broken executor: the pool thread that resolves it survives the
/// panicking wake, the outcome stays in the handle, and the pool runs the next task.
#[test]
fn a_task_handle_whose_waker_panics_resolves_and_the_pool_thread_survives() {
    const GATE: u64 = 91_001;
    let pool = TaskPool::builder()
        .max_threads(1)
        .extra_threads(0)
        .build()
        .unwrap();
    let mut handle = pool.run(hold, (GATE,));
    let waker = park_with_panicking_waker(&mut handle);
    open_gate(GATE);
    wait_until("the handle's waker was woken", || waker.woken() > 0);
    assert_eq!(block_on(handle).unwrap(), GATE);
    assert_eq!(
        pool.run(plain, (7,))
            .wait_timeout(PATIENCE)
            .unwrap()
            .unwrap(),
        7
    );
}

// ---- data streams -------------------------------------------------------------------------

#[concurrent]
fn send_three() -> u32 {
    for n in 0..3u32 {
        send_data(n).unwrap();
    }
    3
}

/// `send_data` to a stream whose reader's waker panics: the value is delivered and the task
/// still succeeds — the reader's broken executor is not the sender's failure.
#[test]
fn send_data_to_a_stream_whose_waker_panics_succeeds() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(send_three, ());
    let mut stream = task.data_stream::<u32>();
    let waker = park_stream_with_panicking_waker(&mut stream);
    let sent = pool
        .execute(task)
        .wait_timeout(PATIENCE)
        .expect("the task ended");
    assert_eq!(
        sent.unwrap(),
        3,
        "the task failed because of the reader's waker"
    );
    assert!(waker.woken() >= 1);
    let values: Vec<u32> = stream.blocking_iter().collect();
    assert_eq!(values, [0, 1, 2]);
}

// ---- worker message streams ---------------------------------------------------------------

/// Two message streams of one worker wait; the first one's waker panics. The reply still wakes
/// the second, the handler that posted it is not failed by the panic, and the worker lives on.
#[test]
fn a_worker_reply_wakes_every_stream_even_when_one_waker_panics() {
    let worker = Worker::new(|| Echo).unwrap();
    let mut broken = worker.messages();
    let mut healthy = worker.messages();
    let panicking = park_stream_with_panicking_waker(&mut broken);
    let counting = park_stream_with_counting_waker(&mut healthy);
    worker.post_message(5).unwrap();
    wait_until("the healthy stream was woken", || counting.count() > 0);
    assert!(panicking.woken() >= 1);
    // The handler was not failed by the panic: the worker is still running and echoes.
    assert_eq!(worker.take_exit_error().map(|e| e.to_string()), None);
    worker.post_message(6).unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        match worker.recv_timeout(PATIENCE) {
            Ok(n) => got.push(n),
            Err(error) => panic!("the worker stopped answering: {error:?}"),
        }
    }
    got.sort_unstable();
    assert_eq!(got, [5, 6]);
    assert!(worker.exit_code().is_none(), "the worker ended");
}

// ---- a task error whose `Display` panics ------------------------------------------------------

/// An error whose `Display` panics (and whose message is asked for by the runtime only to
/// quote it elsewhere).
#[derive(Debug)]
struct UnprintableError;

impl std::fmt::Display for UnprintableError {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("this error cannot be printed")
    }
}

impl std::error::Error for UnprintableError {}

#[concurrent]
fn fail_unprintably() -> Result<u32, UnprintableError> {
    Err(UnprintableError)
}

#[concurrent]
fn after_dependency() -> Result<u32, UnprintableError> {
    Ok(1)
}

/// The dependency of a waiting task fails with an error whose `Display` panics: the dependent
/// still resolves, with `DependencyFailed`, while the dependency's task is alive (its runs may
/// succeed later, so nothing else would ever fail the dependent).
#[test]
fn a_dependency_failing_with_an_unprintable_error_fails_its_dependent() {
    let pool = TaskPool::builder().build().unwrap();
    let dependency = Task::new(fail_unprintably, ());
    let dependent = Task::new(after_dependency, ());
    dependent.add_dependency(&dependency).unwrap();
    let mut waiting = pool.execute(dependent);
    let failed = pool.execute(&dependency);
    assert!(matches!(failed.wait(), Err(taskpool::Error::TaskFailed(_))));
    match waiting.wait_timeout(PATIENCE) {
        Some(Err(taskpool::Error::DependencyFailed { reason, .. })) => {
            assert!(reason.contains("panicked"), "{reason}");
        }
        other => panic!("the dependent did not fail with DependencyFailed: {other:?}"),
    }
    drop(dependency);
}

/// A failure listener hears of a failure whose error's `Display` panics.
#[test]
fn a_failure_listener_hears_of_an_unprintable_error() {
    let pool = TaskPool::builder().build().unwrap();
    let task = Task::new(fail_unprintably, ());
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    task.on_execution_failed(move |error| {
        let _ = tx.lock().unwrap().send(error.code());
    })
    .unwrap();
    assert!(pool.execute(task).wait().is_err());
    assert_eq!(
        rx.recv_timeout(PATIENCE),
        Ok(None),
        "the failure listener was not called"
    );
}

// ---- names --------------------------------------------------------------------------------

/// Names of any content and length are labels only: empty, 1 MiB, with NUL bytes or odd
/// characters, for tasks, runners and locks.
#[test]
fn odd_names_are_accepted_as_labels() {
    let huge = "n".repeat(1 << 20);
    let pool = TaskPool::builder().record_timeline(64).build().unwrap();
    for name in ["", "a\0b", "\u{feff}\u{202e}\n\"", huge.as_str()] {
        let task = Task::new(plain, (3,)).with_name(name);
        assert_eq!(task.name(), name);
        assert_eq!(pool.execute(task).wait().unwrap(), 3);
        let runner = taskpool::SequenceRunner::named(name, Priority::Low);
        assert_eq!(runner.execute(Task::new(plain, (4,))).wait().unwrap(), 4);
        let runner = taskpool::AsyncRunner::named(name, 1, 0).unwrap();
        assert_eq!(
            runner
                .execute(Task::new(plain, (5,)), Priority::Low)
                .wait()
                .unwrap(),
            5
        );
        let lock = taskpool::AsyncLock::request(name);
        assert_eq!(lock.name(), name);
        drop(lock.lock());
    }
    let mut trace = Vec::new();
    pool.timeline()
        .unwrap()
        .write_chrome_trace(&mut trace)
        .unwrap();
    serde_json::from_slice::<serde_json::Value>(&trace).expect("the trace is valid JSON");
}

/// Thread names: a pool's prefix and a worker's name may be empty, 1 MiB long or odd (the
/// system keeps a prefix of it); a NUL byte, which no thread name may hold, is refused up
/// front with the setting's code (401 for the pool, 10200003 for a worker) instead of
/// panicking when the thread is spawned.
#[test]
fn odd_thread_names_are_accepted_or_refused_with_their_code() {
    let huge = "t".repeat(1 << 20);
    for name in ["", "\u{feff}é\n", huge.as_str()] {
        let pool = TaskPool::builder().thread_name(name).build().unwrap();
        assert_eq!(pool.run(plain, (2,)).wait().unwrap(), 2);
        let worker = taskpool::WorkerBuilder::default()
            .name(name)
            .spawn(|| Echo)
            .unwrap();
        worker.post_message(1).unwrap();
        assert_eq!(worker.recv_timeout(PATIENCE), Ok(1));
    }
    let refused = TaskPool::builder().thread_name("a\0b").build().unwrap_err();
    assert_eq!(refused.code(), Some(401));
    let refused = taskpool::WorkerBuilder::default()
        .name("a\0b")
        .spawn(|| Echo)
        .unwrap_err();
    assert_eq!(refused.code(), Some(10200003));
}

// ---- the timer thread -----------------------------------------------------------------------

/// Reserves address space in 1 MiB chunks until the system refuses more (untouched, so it
/// costs no memory), then gives back `headroom_mib` of it: enough for small allocations, too
/// little for a new thread's stack.
fn exhaust_address_space(headroom_mib: usize) -> Vec<Vec<u8>> {
    const CHUNK: usize = 1 << 20;
    let mut hog: Vec<Vec<u8>> = Vec::with_capacity(1 << 16);
    loop {
        let mut chunk = Vec::new();
        if chunk.try_reserve_exact(CHUNK).is_err() || hog.len() == hog.capacity() {
            break;
        }
        hog.push(chunk);
    }
    hog.truncate(hog.len().saturating_sub(headroom_mib));
    hog
}

/// The process-wide timer thread cannot start (the address space is used up) when the first
/// sleep is polled: the poll returns `Pending` instead of panicking (and poisoning the timer
/// for every later sleep), and once a thread can start, a later sleep starts the timer and the
/// earlier sleep completes too. Runs in a child process with a lowered address-space limit.
#[test]
fn a_timer_thread_the_system_refuses_is_started_by_a_later_sleep() {
    use std::time::Duration;
    if std::env::var_os("AUDIT_TIMER_CHILD").is_some() {
        let hog = exhaust_address_space(4);
        // Long enough to be pending when polled, however slow the machine.
        let mut first = Box::pin(taskpool::sleep(Duration::from_secs(2)));
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let waker = Waker::from(Arc::new(support::Wakes::default()));
            first
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        }));
        drop(hog);
        println!("AUDIT FIRST POLL {polled:?}");
        let second = std::panic::catch_unwind(|| {
            block_on(taskpool::sleep(Duration::from_millis(1)));
        });
        println!("AUDIT SECOND SLEEP {second:?}");
        if polled.is_ok() {
            block_on(first);
            println!("AUDIT FIRST DONE");
        }
        return;
    }
    // 768 MiB of address space: the test harness fits, and is quickly used up.
    let Some(stdout) = support::run_under_address_limit(
        "a_timer_thread_the_system_refuses_is_started_by_a_later_sleep",
        "AUDIT_TIMER_CHILD",
    ) else {
        return; // No prlimit here: nothing to probe.
    };
    assert!(
        stdout.contains("AUDIT FIRST POLL Ok(true)"),
        "polling a sleep whose timer thread cannot start panicked"
    );
    assert!(
        stdout.contains("AUDIT SECOND SLEEP Ok(())"),
        "a later sleep did not complete"
    );
    assert!(
        stdout.contains("AUDIT FIRST DONE"),
        "the first sleep never completed"
    );
}

// ---- several user values dropped at once --------------------------------------------------

/// A value whose `Drop` always panics, even while its thread already unwinds: two of them
/// dropped together (in one `Vec`, map or tuple) abort the process, so the runtime must drop
/// them one at a time.
#[derive(Clone)]
struct Grenade;

/// How many grenades went off in this process.
static GONE_OFF: AtomicUsize = AtomicUsize::new(0);

impl Drop for Grenade {
    fn drop(&mut self) {
        GONE_OFF.fetch_add(1, Ordering::SeqCst);
        panic!("a grenade went off in Drop");
    }
}

/// Waits until `n` grenades went off in this process: none was leaked.
fn wait_for_grenades(n: usize) {
    wait_until("every grenade was dropped", || {
        GONE_OFF.load(Ordering::SeqCst) >= n
    });
}

/// Runs `scenario` in a child process of this test binary (the child runs this same test with
/// `AUDIT_SCENARIO` set) and asserts it finished: an abort would end it early.
fn survives_in_child(test: &str, scenario: &str) {
    let exe = std::env::current_exe().unwrap();
    let output = std::process::Command::new(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("AUDIT_SCENARIO", scenario)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(&format!("AUDIT {scenario} DONE")),
        "{scenario}: the child did not finish ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The scenario this process runs as a child, if it is one.
fn child_scenario() -> Option<String> {
    std::env::var("AUDIT_SCENARIO").ok()
}

fn grenades(n: u32) -> taskpool::SendableLruCache<u32, Grenade> {
    let cache = taskpool::SendableLruCache::new();
    for key in 0..n {
        if let Some(old) = cache.put(key, Grenade) {
            std::mem::forget(old);
        }
    }
    cache
}

/// Clearing a cache, or shrinking it, with several entries whose `Drop` panics: each panic is
/// contained, none aborts the process, and every entry is dropped (none leaked).
#[test]
fn a_cache_dropping_several_panicking_entries_at_once_does_not_abort() {
    const TEST: &str = "a_cache_dropping_several_panicking_entries_at_once_does_not_abort";
    match child_scenario().as_deref() {
        Some("lru_clear") => {
            let cache = grenades(3);
            cache.clear();
            assert!(cache.is_empty());
            wait_for_grenades(3);
            println!("AUDIT lru_clear DONE");
        }
        Some("lru_shrink") => {
            let cache = grenades(3);
            cache.update_capacity(std::num::NonZeroUsize::MIN);
            assert_eq!(cache.len(), 1);
            wait_for_grenades(2);
            std::mem::forget(cache);
            println!("AUDIT lru_shrink DONE");
        }
        Some(_) => {}
        None => {
            survives_in_child(TEST, "lru_clear");
            survives_in_child(TEST, "lru_shrink");
        }
    }
}

/// A worker's global call objects and callbacks whose `Drop` panics, released together
/// (unregistered at once, or dropped with the worker): contained, no abort, none leaked.
#[test]
fn a_worker_releasing_several_panicking_objects_or_callbacks_does_not_abort() {
    const TEST: &str = "a_worker_releasing_several_panicking_objects_or_callbacks_does_not_abort";
    let register_two = |worker: &Worker<u64, u64>| {
        for name in ["first", "second"] {
            let object =
                taskpool::CallObject::new(Grenade).method("m", |_: &mut Grenade, (): ()| 0u8);
            worker.register_global_call_object(name, object).unwrap();
        }
    };
    match child_scenario().as_deref() {
        Some("unregister_all") => {
            let worker = Worker::new(|| Echo).unwrap();
            register_two(&worker);
            worker.unregister_global_call_object(None).unwrap();
            wait_for_grenades(2);
            println!("AUDIT unregister_all DONE");
        }
        Some("drop_objects") => {
            let worker = Worker::new(|| Echo).unwrap();
            register_two(&worker);
            worker.terminate().unwrap();
            assert_eq!(worker.wait_for_exit(), 0);
            drop(worker);
            wait_for_grenades(2);
            println!("AUDIT drop_objects DONE");
        }
        Some(scenario @ ("drop_callbacks" | "clear_callbacks")) => {
            let worker = Worker::new(|| Echo).unwrap();
            let (a, b) = (Grenade, Grenade);
            worker.on_message(move |_| {
                let _keep = &a;
            });
            worker.on_message_error(move |_| {
                let _keep = &b;
            });
            if scenario == "clear_callbacks" {
                worker.clear_callbacks();
            }
            drop(worker);
            wait_for_grenades(2);
            println!("AUDIT {scenario} DONE");
        }
        Some(_) => {}
        None => {
            survives_in_child(TEST, "unregister_all");
            survives_in_child(TEST, "drop_objects");
            survives_in_child(TEST, "drop_callbacks");
            survives_in_child(TEST, "clear_callbacks");
        }
    }
}

// ---- the smallest stack ---------------------------------------------------------------------

#[concurrent]
async fn nap_briefly(x: u32) -> u32 {
    taskpool::sleep(std::time::Duration::from_millis(1)).await;
    x
}

#[concurrent]
fn wait_for_another(x: u32) -> u32 {
    TaskPool::global().run(plain, (x,)).wait().unwrap()
}

/// The smallest stack a pool or worker accepts ([`taskpool::MIN_STACK_SIZE`]) runs the
/// runtime's own paths — sync and async tasks, inline waits, groups, listeners, data
/// callbacks, delays; a worker's messages, callbacks and global calls — without overflowing
/// (an overflow aborts the process, so this runs in a child).
#[test]
fn the_smallest_stack_size_runs_every_path_without_overflowing() {
    const TEST: &str = "the_smallest_stack_size_runs_every_path_without_overflowing";
    match child_scenario().as_deref() {
        Some("small_stack") => {
            let pool = TaskPool::builder()
                .stack_size(taskpool::MIN_STACK_SIZE)
                .build()
                .unwrap();
            assert_eq!(pool.run(plain, (1,)).wait().unwrap(), 1);
            assert_eq!(pool.run(nap_briefly, (2,)).wait().unwrap(), 2);
            assert_eq!(pool.run(wait_for_another, (3,)).wait().unwrap(), 3);
            let mut group = taskpool::TaskGroup::new();
            group.add(plain, (4,)).unwrap();
            group.add(plain, (5,)).unwrap();
            assert_eq!(
                pool.execute_group(&group, Priority::Low).wait().unwrap(),
                [4, 5]
            );
            let task = Task::new(send_three, ());
            let (tx, rx) = std::sync::mpsc::channel();
            let tx = std::sync::Mutex::new(tx);
            task.on_receive_data(move |n: u32| {
                let _ = tx.lock().unwrap().send(n);
            });
            task.on_execution_succeeded(|| {}).unwrap();
            assert_eq!(pool.execute(task).wait().unwrap(), 3);
            for expected in 0..3u32 {
                assert_eq!(rx.recv_timeout(PATIENCE), Ok(expected));
            }
            let delayed = pool.execute_delayed(
                std::time::Duration::from_millis(1),
                Task::new(plain, (6,)),
                Priority::High,
            );
            assert_eq!(delayed.wait().unwrap(), 6);
            drop(pool);
            let worker = taskpool::WorkerBuilder::default()
                .stack_size(taskpool::MIN_STACK_SIZE)
                .spawn(|| Echo)
                .unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            worker.on_message(move |n| {
                let _ = tx.send(n);
            });
            worker.post_message(7).unwrap();
            assert_eq!(rx.recv_timeout(PATIENCE), Ok(7));
            worker.terminate().unwrap();
            assert_eq!(worker.wait_for_exit(), 0);
            println!("AUDIT small_stack DONE");
        }
        Some(_) => {}
        None => survives_in_child(TEST, "small_stack"),
    }
}

/// A handle polled by an executor whose waker panics, then canceled: the waker's panic stays
/// out of the canceller (before, `cancel` unwound with it).
#[test]
fn canceling_a_task_whose_handle_waker_panics_does_not_unwind_into_the_canceller() {
    const GATE: u64 = 91_002;
    let pool = TaskPool::builder()
        .max_threads(1)
        .extra_threads(0)
        .build()
        .unwrap();
    let busy = pool.run(hold, (GATE,));
    let mut waiting = pool.run(plain, (1,));
    let waker = park_with_panicking_waker(&mut waiting);
    let canceled =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.cancel(waiting.id())));
    open_gate(GATE);
    assert!(canceled.is_ok(), "the waker's panic reached the canceller");
    assert_eq!(waker.woken(), 1);
    assert!(block_on(waiting).unwrap_err().is_canceled());
    assert_eq!(busy.wait().unwrap(), GATE);
}

#[concurrent]
fn send_after_gate(gate: u64) -> u64 {
    support::pass_gate(gate);
    send_data(9u32).unwrap();
    gate
}

/// A data stream bound to a run whose handle's waker panics still ends with the run (before,
/// the pool thread's resolve unwound before it closed the stream, which never ended).
#[test]
fn a_stream_bound_to_a_run_whose_handle_waker_panics_still_ends() {
    const GATE: u64 = 91_003;
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let mut handle = pool.run(send_after_gate, (GATE,));
    let stream = handle.data_stream::<u32>();
    let waker = park_with_panicking_waker(&mut handle);
    open_gate(GATE);
    wait_until("the handle's waker was woken", || waker.woken() > 0);
    let values = support::bounded("the bound stream ends", move || {
        stream.into_iter().collect::<Vec<u32>>()
    });
    assert_eq!(values, [9]);
    assert_eq!(block_on(handle).unwrap(), GATE);
}
