//! Reentrancy probes, part two: user code that the composition and lifecycle machinery runs —
//! task listeners, data receivers, the `Drop` of arguments and results, runner and periodic
//! task bodies — calling back into the pool, handle or runner that invokes it. Each call that
//! could deadlock runs under a bound (`PATIENCE`, or a pool time limit), so a regression fails
//! instead of hanging.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use support::{PATIENCE, bounded, hold, nap, open_gate, pass_gate, plain, wait_until};
use taskpool::{
    AsyncRunner, Error, Priority, SequenceRunner, Task, TaskHandle, TaskPool, concurrent, send_data,
};

/// A small pool whose time limit ends any wait that cannot end otherwise.
fn pool(threads: usize) -> TaskPool {
    TaskPool::builder()
        .max_threads(threads)
        .time_limit(PATIENCE / 2)
        .build()
        .unwrap()
}

/// A pool kept for the whole test binary, so that `#[concurrent]` bodies and `Drop` impls can
/// reach it; one per test (`slot`).
fn static_pool(slot: &'static OnceLock<TaskPool>, threads: usize) -> &'static TaskPool {
    slot.get_or_init(|| pool(threads))
}

/// Receives one report, failing the test after `PATIENCE`.
fn report<T>(rx: &mpsc::Receiver<T>, what: &str) -> T {
    rx.recv_timeout(PATIENCE)
        .unwrap_or_else(|_| panic!("no report: {what}"))
}

// ---- 1. task listeners calling the pool --------------------------------------------------------

/// Before/after: a listener runs on the pool's callback thread; executing a task there and
/// waiting for it must not need that same thread.
#[test]
fn listeners_that_execute_a_task_and_wait_for_it_get_its_value() {
    static POOL: OnceLock<TaskPool> = OnceLock::new();
    let pool = static_pool(&POOL, 1);
    let (tx, rx) = mpsc::channel();
    let task = Task::new(plain, (1,));
    let started = tx.clone();
    task.on_start_execution(move || {
        let _ = started.send(("started", POOL.get().unwrap().run(plain, (10,)).wait()));
    })
    .unwrap();
    let succeeded = tx.clone();
    task.on_execution_succeeded(move || {
        let _ = succeeded.send(("succeeded", POOL.get().unwrap().run(plain, (20,)).wait()));
    })
    .unwrap();
    // A listener's inner task has listeners too: they queue behind the waiting listener.
    let inner = Task::new(plain, (30,));
    let nested = tx.clone();
    inner
        .on_execution_succeeded(move || {
            let _ = nested.send(("inner succeeded", Ok(0)));
        })
        .unwrap();
    let inner = Mutex::new(Some(inner));
    task.on_enqueued(move || {
        let inner = inner.lock().unwrap().take().unwrap();
        let _ = tx.send(("enqueued", POOL.get().unwrap().execute(inner).wait()));
    })
    .unwrap();
    assert_eq!(pool.execute(task).wait().unwrap(), 1);
    let mut seen: Vec<_> = (0..4).map(|_| report(&rx, "a listener")).collect();
    seen.sort_by_key(|(what, _)| *what);
    assert_eq!(
        format!("{seen:?}"),
        r#"[("enqueued", Ok(30)), ("inner succeeded", Ok(0)), ("started", Ok(10)), ("succeeded", Ok(20))]"#
    );
}

/// A listener that cancels its own task: from `on_enqueued` (the run still waits behind a
/// held thread) it is canceled at once, and `on_execution_failed` reports it.
#[test]
fn an_enqueued_listener_canceling_its_own_task_cancels_the_waiting_run() {
    static POOL: OnceLock<TaskPool> = OnceLock::new();
    let pool = static_pool(&POOL, 1);
    let holder = pool.run(hold, (2_101,));
    wait_until("the holder runs", || support::busy_threads(pool) == 1);
    let task = Task::new(plain, (1,));
    let id = task.id();
    let (tx, rx) = mpsc::channel();
    let canceled = tx.clone();
    task.on_enqueued(move || {
        let _ = canceled.send(format!("cancel: {:?}", POOL.get().unwrap().cancel(id)));
    })
    .unwrap();
    task.on_execution_failed(move |e| {
        let _ = tx.send(format!("failed: {e:?}"));
    })
    .unwrap();
    let handle = pool.execute(task);
    assert_eq!(report(&rx, "the cancel"), "cancel: Ok(())");
    assert!(matches!(handle.wait(), Err(Error::Canceled { .. })));
    assert!(report(&rx, "the failure").starts_with("failed: Canceled"));
    open_gate(2_101);
    assert_eq!(holder.wait().unwrap(), 2_101);
}

/// A listener that cancels its own running task, and one that cancels another task.
#[test]
fn a_start_listener_canceling_its_own_task_and_another_one_cancels_both() {
    static POOL: OnceLock<TaskPool> = OnceLock::new();
    let pool = static_pool(&POOL, 1);
    let victim = pool.run(nap, ());
    let victim_id = victim.id();
    support::wait_until_suspended(pool, victim_id);
    let task = Task::new(hold, (2_102,));
    let id = task.id();
    let (tx, rx) = mpsc::channel();
    task.on_start_execution(move || {
        let pool = POOL.get().unwrap();
        let _ = tx.send(format!(
            "{:?} {:?}",
            pool.cancel(victim_id),
            pool.cancel(id)
        ));
        open_gate(2_102);
    })
    .unwrap();
    let handle = pool.execute(task);
    assert_eq!(report(&rx, "the cancels"), "Ok(()) Ok(())");
    assert!(matches!(victim.wait(), Err(Error::Canceled { .. })));
    assert!(matches!(handle.wait(), Err(Error::Canceled { .. })));
    assert_eq!(pool.run(plain, (3,)).wait().unwrap(), 3);
}

/// A listener that reads `info()`, and one that drops the last handle of its own task.
#[test]
fn listeners_reading_info_and_dropping_their_tasks_last_handle_do_not_deadlock() {
    static POOL: OnceLock<TaskPool> = OnceLock::new();
    static HANDLE: Mutex<Option<TaskHandle<u64>>> = Mutex::new(None);
    let pool = static_pool(&POOL, 1);
    let task = Task::new(hold, (2_103,));
    let id = task.id();
    let (tx, rx) = mpsc::channel();
    let infos = tx.clone();
    task.on_enqueued(move || {
        let listed = POOL
            .get()
            .unwrap()
            .info()
            .tasks
            .iter()
            .any(|t| t.task_id == id);
        let _ = infos.send(format!("enqueued: listed {listed}"));
    })
    .unwrap();
    task.on_start_execution(move || {
        let handle = HANDLE.lock().unwrap().take();
        drop(handle);
        let _ = tx.send("started: handle dropped".to_owned());
        open_gate(2_103);
    })
    .unwrap();
    *HANDLE.lock().unwrap() = Some(pool.execute(task));
    let mut seen = [report(&rx, "info"), report(&rx, "the drop")];
    seen.sort();
    assert_eq!(seen, ["enqueued: listed true", "started: handle dropped"]);
    wait_until("the detached run ends", || support::busy_threads(pool) == 0);
    assert_eq!(pool.run(plain, (4,)).wait().unwrap(), 4);
}

/// A listener that shuts its pool down (the pool is in a slot the listener can take).
#[test]
fn a_listener_shutting_down_its_own_pool_ends_the_pool() {
    for event in ["enqueued", "started", "succeeded"] {
        let slot: Arc<Mutex<Option<TaskPool>>> = Arc::new(Mutex::new(Some(pool(1))));
        let task = Task::new(plain, (5,));
        let (tx, rx) = mpsc::channel();
        let listener_slot = Arc::clone(&slot);
        let listener = move || {
            if let Some(pool) = listener_slot.lock().unwrap().take() {
                pool.shutdown();
                let _ = tx.send("shut down");
            }
        };
        match event {
            "enqueued" => task.on_enqueued(listener).unwrap(),
            "started" => task.on_start_execution(listener).unwrap(),
            _ => task.on_execution_succeeded(listener).unwrap(),
        }
        let handle = slot.lock().unwrap().as_ref().unwrap().execute(task);
        assert_eq!(report(&rx, event), "shut down", "{event}");
        let outcome = bounded("the handle", move || handle.wait());
        assert!(
            matches!(
                outcome,
                Ok(5) | Err(Error::PoolShutDown | Error::Canceled { .. })
            ),
            "{event}: {outcome:?}"
        );
    }
}

/// A listener holding the last `Arc` of its pool: the pool is dropped wherever the listener
/// is, on the callback thread or with the task's record on a pool thread.
#[test]
fn a_listener_holding_the_last_arc_of_its_pool_drops_it_without_hanging() {
    for keep_task in [false, true] {
        let pool = Arc::new(pool(1));
        let task = Task::new(plain, (6,));
        let (tx, rx) = mpsc::channel();
        let held = Arc::clone(&pool);
        task.on_execution_succeeded(move || {
            let _ = tx.send(held.info().threads.len());
        })
        .unwrap();
        let (handle, kept) = if keep_task {
            (pool.execute(&task), Some(task))
        } else {
            (pool.execute(task), None)
        };
        drop(pool);
        assert_eq!(bounded("the run", move || handle.wait()).unwrap(), 6);
        assert!(report(&rx, "the listener") >= 1);
        bounded("dropping the task", move || drop(kept));
    }
}

// ---- 2. argument and result values whose Drop calls the pool ------------------------------------

/// What a `Caller`'s `Drop` does, by tag: taken once, run outside the registry's lock.
type Action = Box<dyn FnOnce() + Send>;
static ACTIONS: Mutex<Option<HashMap<u32, Action>>> = Mutex::new(None);

fn on_drop(tag: u32, action: impl FnOnce() + Send + 'static) {
    ACTIONS
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .insert(tag, Box::new(action));
}

/// An argument or result whose `Drop` runs the action registered for its tag (once: the
/// copies a re-executed task makes find it gone).
#[derive(Debug, Serialize, Deserialize)]
struct Caller(u32);

impl Drop for Caller {
    fn drop(&mut self) {
        let action = ACTIONS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .and_then(|actions| actions.remove(&self.0));
        if let Some(action) = action {
            action();
        }
    }
}

#[concurrent]
fn take_caller(caller: Caller, gate: u64) -> u32 {
    if gate != 0 {
        pass_gate(gate);
    }
    caller.0
}

#[concurrent]
fn make_caller(tag: u32) -> Caller {
    Caller(tag)
}

/// What the `Drop` of a value saw when it used the pool: a task's value, its `cancel`, `info`.
fn use_pool(pool: &'static OnceLock<TaskPool>, victim: taskpool::TaskId) -> String {
    let pool = pool.get().unwrap();
    let value = pool.run(plain, (7,)).wait();
    let listed = pool.info().tasks.len();
    let canceled = pool.cancel(victim);
    format!("{value:?} {} {canceled:?}", listed < 1000)
}

/// An argument dropped by a cancel (the run never started), on the canceling thread.
#[test]
fn an_argument_whose_drop_uses_the_pool_is_dropped_by_cancel_without_deadlock() {
    static POOL: OnceLock<TaskPool> = OnceLock::new();
    let pool = static_pool(&POOL, 1);
    let holder = pool.run(hold, (2_201,));
    wait_until("the holder runs", || support::busy_threads(pool) == 1);
    let victim = pool.run(nap, ());
    let victim_id = victim.id();
    let (tx, rx) = mpsc::channel();
    on_drop(2_201, move || {
        // Frees the pool's only thread for the run `use_pool` waits for.
        open_gate(2_201);
        let _ = tx.send(use_pool(&POOL, victim_id));
    });
    let handle = pool.execute(Task::new(take_caller, (Caller(2_201), 0)));
    let id = handle.id();
    // The pool's only thread is held: the run never starts, so the cancel drops the argument
    // (and its `Drop` waits for a run that needs a thread the pool adds).
    let canceled = bounded("the cancel", move || POOL.get().unwrap().cancel(id));
    assert!(canceled.is_ok(), "{canceled:?}");
    let seen = report(&rx, "drop");
    assert_eq!(seen, "Ok(7) true Ok(())");
    assert!(matches!(handle.wait(), Err(Error::Canceled { .. })));
    assert!(matches!(victim.wait(), Err(Error::Canceled { .. })));
    assert_eq!(holder.wait().unwrap(), 2_201);
}

static CANCEL_POOL: OnceLock<TaskPool> = OnceLock::new();
static TO_CANCEL: Mutex<Option<taskpool::TaskId>> = Mutex::new(None);

/// Cancels the run the test named in `TO_CANCEL`.
#[concurrent]
fn cancel_from_task() -> String {
    let id = TO_CANCEL.lock().unwrap().take().unwrap();
    format!("{:?}", CANCEL_POOL.get().unwrap().cancel(id))
}

/// An argument dropped by a cancel issued from another task (a pool thread).
#[test]
fn an_argument_whose_drop_uses_the_pool_is_dropped_by_a_cancel_from_a_task() {
    let pool = static_pool(&CANCEL_POOL, 2);
    let holder = pool.run(hold, (2_202,));
    wait_until("the holder runs", || support::busy_threads(pool) == 1);
    let blocker = pool.run(hold, (2_203,));
    wait_until("the blocker runs", || support::busy_threads(pool) == 2);
    let (tx, rx) = mpsc::channel();
    let victim = pool.run(nap, ());
    let victim_id = victim.id();
    on_drop(2_202, move || {
        let _ = tx.send(use_pool(&CANCEL_POOL, victim_id));
    });
    // Both threads are held: the canceling task, first in line, cancels the idle one queued
    // behind it.
    let handle =
        pool.execute_with_priority(Task::new(take_caller, (Caller(2_202), 0)), Priority::Idle);
    *TO_CANCEL.lock().unwrap() = Some(handle.id());
    let canceled = pool.execute_with_priority(Task::new(cancel_from_task, ()), Priority::High);
    open_gate(2_203);
    assert_eq!(blocker.wait().unwrap(), 2_203);
    assert_eq!(
        bounded("the cancel", move || canceled.wait()).unwrap(),
        "Ok(())"
    );
    assert_eq!(report(&rx, "drop"), "Ok(7) true Ok(())");
    assert!(matches!(handle.wait(), Err(Error::Canceled { .. })));
    open_gate(2_202);
    assert_eq!(holder.wait().unwrap(), 2_202);
}

/// A result nobody takes, dropped on the pool thread (its handle was dropped first) and on
/// the caller thread (the handle dropped after the run ended).
#[test]
fn a_result_whose_drop_uses_the_pool_is_dropped_on_either_side_without_deadlock() {
    static POOL: OnceLock<TaskPool> = OnceLock::new();
    let pool = static_pool(&POOL, 1);
    let (tx, rx) = mpsc::channel();
    for tag in [2_204, 2_205] {
        let tx = tx.clone();
        let victim = pool.run(nap, ());
        let victim_id = victim.id();
        on_drop(tag, move || {
            let _ = tx.send(use_pool(&POOL, victim_id));
        });
        let handle = pool.run(make_caller, (tag,));
        if tag == 2_204 {
            drop(handle);
        } else {
            wait_until("the run ends", || handle.is_finished());
            bounded("dropping the handle", move || drop(handle));
        }
        assert_eq!(report(&rx, "drop"), "Ok(7) true Ok(())", "{tag}");
        assert!(matches!(victim.wait(), Err(Error::Canceled { .. })));
    }
}

/// An argument whose `Drop`, on a pool thread, uses the pool and then drops its last `Arc`:
/// the pool shuts down from one of its own threads.
#[test]
fn an_argument_whose_drop_drops_the_last_arc_of_its_pool_on_a_pool_thread() {
    let pool = Arc::new(pool(1));
    let (tx, rx) = mpsc::channel();
    let last = Arc::clone(&pool);
    on_drop(2_206, move || {
        let value = last.run(plain, (8,)).wait();
        let listed = last.info().tasks.len();
        drop(last);
        let _ = tx.send(format!("{value:?} {}", listed < 1000));
    });
    let handle = pool.execute(Task::new(take_caller, (Caller(2_206), 0)));
    drop(pool);
    assert_eq!(report(&rx, "the drop"), "Ok(8) true");
    let outcome = bounded("the run", move || handle.wait());
    assert!(
        matches!(outcome, Ok(2_206) | Err(Error::PoolShutDown)),
        "{outcome:?}"
    );
}

/// An argument queued at shutdown whose `Drop` uses the pool being shut down, through what it
/// can hold of it: a runner on it (execute and wait) and another run's handle (cancel).
#[test]
fn an_argument_whose_drop_uses_its_pool_while_it_shuts_down_does_not_deadlock() {
    let pool = pool(1);
    let runner = pool.sequence_runner(Priority::Medium);
    let holder = pool.run(hold, (2_209,));
    wait_until("the holder runs", || support::busy_threads(&pool) == 1);
    let victim = pool.run(nap, ());
    let (tx, rx) = mpsc::channel();
    on_drop(2_209, move || {
        let value = runner.execute(Task::new(plain, (9,))).wait();
        let _ = tx.send(format!("{value:?} {:?}", victim.cancel()));
    });
    let queued = pool.execute(Task::new(take_caller, (Caller(2_209), 0)));
    let (done, shut_down) = mpsc::channel();
    std::thread::spawn(move || {
        pool.shutdown();
        let _ = done.send(());
    });
    // The runner refuses work once the pool shuts down; the victim may be canceled by the
    // shutdown first.
    let seen = report(&rx, "the drop");
    assert!(
        seen == "Err(PoolShutDown) Ok(())"
            || seen.starts_with("Err(PoolShutDown) Err(TaskNotFound("),
        "{seen}"
    );
    open_gate(2_209);
    report(&shut_down, "the shutdown");
    assert!(matches!(queued.wait(), Err(Error::Canceled { .. })));
    assert_eq!(holder.wait().unwrap(), 2_209);
}

/// An argument whose `Drop` panics, dropped by a cancel and by a shutdown: contained.
#[test]
fn an_argument_whose_drop_panics_on_cancel_or_shutdown_is_contained() {
    let pool = pool(1);
    let holder = pool.run(hold, (2_207,));
    wait_until("the holder runs", || support::busy_threads(&pool) == 1);
    let canceled = pool.execute(Task::new(take_caller, (Caller(2_207), 0)));
    on_drop(2_207, || panic!("Drop of 2207"));
    let queued = pool.execute(Task::new(take_caller, (Caller(2_208), 0)));
    on_drop(2_208, || panic!("Drop of 2208"));
    assert!(canceled.cancel().is_ok());
    assert!(matches!(canceled.wait(), Err(Error::Canceled { .. })));
    let (done, shut_down) = mpsc::channel();
    std::thread::spawn(move || {
        pool.shutdown_timeout(PATIENCE);
        let _ = done.send(());
    });
    // The shutdown cancels the queued run (dropping its argument) before it waits for the
    // holder.
    wait_until("the shutdown cancels the queued run", || {
        queued.is_finished()
    });
    open_gate(2_207);
    report(&shut_down, "the shutdown");
    assert!(matches!(queued.wait(), Err(Error::Canceled { .. })));
    assert_eq!(holder.wait().unwrap(), 2_207);
}

// ---- 3. a runner task waiting for a later task of its own runner --------------------------------

/// What a task saw when it waited for a run queued behind its own.
fn told<T: std::fmt::Debug>(outcome: taskpool::Result<T>) -> String {
    match outcome {
        Err(Error::WaitsForItself(id)) if Some(id) == taskpool::current_task_id() => {
            "told: waits for itself".to_owned()
        }
        other => format!("unexpected: {other:?}"),
    }
}

static SEQ_POOL: OnceLock<TaskPool> = OnceLock::new();
static SEQ: OnceLock<SequenceRunner> = OnceLock::new();

#[concurrent]
fn wait_on_own_sequence(n: u32) -> String {
    told(SEQ.get().unwrap().execute(Task::new(plain, (n,))).wait())
}

#[concurrent]
async fn await_on_own_sequence(n: u32) -> String {
    told(SEQ.get().unwrap().execute(Task::new(plain, (n,))).await)
}

/// Before: the waiting task hung until the pool's time limit (`TimedOut`), the later task
/// behind it. ArkTS: the waiting task never settles.
#[test]
fn a_sequence_task_waiting_for_a_later_task_of_its_runner_is_told_at_once() {
    let pool = static_pool(&SEQ_POOL, 2);
    let runner = SEQ.get_or_init(|| pool.sequence_runner(Priority::Medium));
    let first = runner.execute(Task::new(wait_on_own_sequence, (9,)));
    let outcome = bounded("the waiting task", move || first.wait());
    assert_eq!(outcome.unwrap(), "told: waits for itself");
    let second = runner.execute(Task::new(await_on_own_sequence, (10,)));
    let outcome = bounded("the awaiting task", move || second.wait());
    assert_eq!(outcome.unwrap(), "told: waits for itself");
    // The runner goes on.
    let after = runner.execute(Task::new(plain, (11,)));
    assert_eq!(bounded("the runner", move || after.wait()).unwrap(), 11);
}

static ASYNC_POOL: OnceLock<TaskPool> = OnceLock::new();
static ARUNS: Mutex<Vec<(u32, AsyncRunner)>> = Mutex::new(Vec::new());

fn async_runner(capacity: u32) -> AsyncRunner {
    let runners = ARUNS.lock().unwrap();
    runners
        .iter()
        .find(|(c, _)| *c == capacity)
        .unwrap()
        .1
        .clone()
}

/// Executes a task on the runner of capacity `capacity` and waits for it.
#[concurrent]
fn wait_on_own_async_runner(capacity: u32) -> String {
    let later = async_runner(capacity).execute(Task::new(plain, (capacity,)), Priority::Medium);
    match later.wait() {
        Ok(value) => format!("ok({value})"),
        other => told(other),
    }
}

/// Before: with one running slot, the waiting task hung until the time limit. With a free
/// slot, the later task runs and the wait succeeds.
#[test]
fn an_async_runner_task_waiting_for_a_later_task_of_its_full_runner_is_told_at_once() {
    let pool = static_pool(&ASYNC_POOL, 2);
    for capacity in [1, 2] {
        let runner = pool.async_runner(capacity as usize, 0).unwrap();
        ARUNS.lock().unwrap().push((capacity, runner.clone()));
        let first = runner.execute(
            Task::new(wait_on_own_async_runner, (capacity,)),
            Priority::Medium,
        );
        let outcome = bounded("the waiting task", move || first.wait()).unwrap();
        let expected = if capacity == 1 {
            "told: waits for itself".to_owned()
        } else {
            format!("ok({capacity})")
        };
        assert_eq!(outcome, expected);
        let after = runner.execute(Task::new(plain, (13,)), Priority::Medium);
        assert_eq!(bounded("the runner", move || after.wait()).unwrap(), 13);
    }
}

static SELF_POOL: OnceLock<TaskPool> = OnceLock::new();
static SELF_TASK: Mutex<Option<Task<String>>> = Mutex::new(None);

/// Executes its own task again (by reference) and waits for that second run.
#[concurrent]
fn run_own_task_again(depth: u32) -> String {
    if depth > 0 {
        return "second run".to_owned();
    }
    let mut again = None;
    wait_until("the test hands the task over", || {
        let task = SELF_TASK.lock().unwrap();
        again = task
            .as_ref()
            .map(|task| SELF_POOL.get().unwrap().execute(task));
        again.is_some()
    });
    let again = again.unwrap();
    told(again.wait())
}

/// Before: the second run waited for the first one's turn to end, which waited for it: both
/// hung until the time limit.
#[test]
fn a_task_waiting_for_another_run_of_itself_is_told_at_once() {
    let pool = static_pool(&SELF_POOL, 2);
    let task = Task::new(run_own_task_again, (0,));
    let first = pool.execute(&task);
    *SELF_TASK.lock().unwrap() = Some(task);
    let outcome = bounded("the first run", move || first.wait());
    assert_eq!(outcome.unwrap(), "told: waits for itself");
}

// ---- 4. periodic and delayed tasks -------------------------------------------------------------

static PERIODIC_POOL: OnceLock<TaskPool> = OnceLock::new();
static TICKS: AtomicU32 = AtomicU32::new(0);

#[concurrent]
fn cancel_own_periodic() -> u32 {
    let n = TICKS.fetch_add(1, Ordering::SeqCst) + 1;
    if n == 2 {
        let id = taskpool::current_task_id().unwrap();
        send_data(format!("{:?}", PERIODIC_POOL.get().unwrap().cancel(id))).unwrap();
    }
    n
}

#[test]
fn a_periodic_body_canceling_itself_stops_the_ticks() {
    let pool = static_pool(&PERIODIC_POOL, 2);
    let ticker = pool
        .execute_periodically(
            Duration::from_millis(1),
            Task::new(cancel_own_periodic, ()),
            Priority::Medium,
        )
        .unwrap();
    let mut stream = ticker.data_stream::<String>();
    assert_eq!(
        bounded("the self-cancel", move || stream.next_blocking()).as_deref(),
        Some("Ok(())")
    );
    wait_until("the periodic task stops", || ticker.is_stopped());
    assert_eq!(ticker.runs_started(), 2);
    assert!(ticker.cancel().is_err());
}

static AGAIN_POOL: OnceLock<TaskPool> = OnceLock::new();
static AGAIN_RUNS: AtomicU32 = AtomicU32::new(0);

/// A periodic body that executes a task of its own function (once: depth 1 stops) and waits.
#[concurrent]
fn execute_self_again(depth: u32) -> u32 {
    AGAIN_RUNS.fetch_add(1, Ordering::SeqCst);
    if depth == 0 {
        let inner = AGAIN_POOL
            .get()
            .unwrap()
            .execute(Task::new(execute_self_again, (1,)));
        let value = inner.wait().unwrap();
        send_data(value).unwrap();
    }
    depth + 40
}

#[test]
fn a_periodic_body_executing_its_own_function_again_gets_its_value() {
    let pool = static_pool(&AGAIN_POOL, 1);
    let ticker = pool
        .execute_periodically(
            Duration::from_millis(1),
            Task::new(execute_self_again, (0,)),
            Priority::Medium,
        )
        .unwrap();
    let mut stream = ticker.data_stream::<u32>();
    let seen: Vec<u32> = bounded("three ticks", move || {
        stream.blocking_iter().take(3).collect()
    });
    assert_eq!(seen, [41, 41, 41]);
    ticker.cancel().unwrap();
    wait_until("the periodic task stops", || ticker.is_stopped());
}

/// A delayed task canceled from another task's listener, during its delay.
#[test]
fn a_delayed_task_canceled_from_another_tasks_listener_resolves_canceled() {
    static POOL: OnceLock<TaskPool> = OnceLock::new();
    let pool = static_pool(&POOL, 1);
    let delayed = pool.execute_delayed(Duration::MAX, Task::new(plain, (1,)), Priority::Low);
    let delayed_id = delayed.id();
    let task = Task::new(plain, (2,));
    let (tx, rx) = mpsc::channel();
    task.on_start_execution(move || {
        let _ = tx.send(POOL.get().unwrap().cancel(delayed_id));
    })
    .unwrap();
    assert_eq!(pool.execute(task).wait().unwrap(), 2);
    assert!(report(&rx, "the cancel").is_ok());
    assert!(matches!(
        bounded("the delayed handle", move || delayed.wait()),
        Err(Error::Canceled { .. })
    ));
}

// ---- 5. wait cycles ------------------------------------------------------------------------------

static CYCLE_HANDLES: Mutex<Vec<(u32, TaskHandle<String>)>> = Mutex::new(Vec::new());
/// What each task of a cycle saw when its wait returned: (its tag, the outcome).
static CYCLE_SEEN: Mutex<Vec<(u32, String)>> = Mutex::new(Vec::new());

fn take_cycle_handle(of: u32) -> TaskHandle<String> {
    let mut found = None;
    wait_until("the test hands over the other handle", || {
        let mut handles = CYCLE_HANDLES.lock().unwrap();
        if let Some(at) = handles.iter().position(|(tag, _)| *tag == of) {
            found = Some(handles.remove(at).1);
        }
        found.is_some()
    });
    found.unwrap()
}

/// Task `me`: waits for the handle of task `other`, after passing gate `gate`, and records
/// what the wait returned (the error's variant name, or `ok(<value>)`).
#[concurrent]
fn wait_for_other(me: u32, other: u32, gate: u64) -> String {
    pass_gate(gate);
    let seen = match take_cycle_handle(other).wait() {
        Ok(value) => format!("ok({value})"),
        Err(e) => format!("{e:?}")
            .split(['(', ' '])
            .next()
            .unwrap()
            .to_owned(),
    };
    CYCLE_SEEN.lock().unwrap().push((me, seen.clone()));
    seen
}

/// Starts tasks `first` and `first + 1` waiting for each other on `pool` (once `running` of
/// them hold a thread, `gate` opens), and returns what each saw, by tag.
fn cycle(pool: &TaskPool, first: u32, gate: u64, running: usize) -> Vec<String> {
    let second = first + 1;
    let a = pool.execute(Task::new(wait_for_other, (first, second, gate)));
    let b = pool.execute(Task::new(wait_for_other, (second, first, gate)));
    CYCLE_HANDLES
        .lock()
        .unwrap()
        .extend([(first, a), (second, b)]);
    wait_until("the tasks hold their threads", || {
        support::busy_threads(pool) == running
    });
    open_gate(gate);
    let mut seen = Vec::new();
    wait_until("both tasks of the cycle return from their wait", || {
        let mut all = CYCLE_SEEN.lock().unwrap();
        all.retain(|(tag, outcome)| {
            let mine = *tag == first || *tag == second;
            if mine {
                seen.push((*tag, outcome.clone()));
            }
            !mine
        });
        seen.len() == 2
    });
    seen.sort();
    seen.into_iter().map(|(_, outcome)| outcome).collect()
}

/// Two tasks waiting for each other on two threads: the second to wait is told at once
/// (`WaitsForItself`), and its error, returned as its value, ends the first one's wait. Before,
/// neither wait could end until the pool's time limit timed one out (here it never would).
#[test]
fn two_running_tasks_waiting_for_each_other_on_two_threads_are_told_at_once() {
    let pool = TaskPool::builder()
        .max_threads(2)
        .extra_threads(0)
        .time_limit(PATIENCE * 10)
        .build()
        .unwrap();
    // Both run before either waits: each holds one of the two threads.
    let mut seen = cycle(&pool, 1, 2_501, 2);
    seen.sort();
    assert_eq!(seen, ["WaitsForItself", "ok(WaitsForItself)"]);
    assert_eq!(
        bounded("the pool", move || pool.run(plain, (5,)).wait()).unwrap(),
        5
    );
}

/// On one thread the first task runs the second inline as it waits for it; the second, waiting
/// for the first from inside it, is told at once (`WaitsForItself`, naming the first), and the
/// first gets the second's value.
#[test]
fn two_tasks_waiting_for_each_other_on_one_thread_are_told_at_once() {
    let pool = TaskPool::builder()
        .max_threads(1)
        .extra_threads(0)
        .time_limit(PATIENCE * 10)
        .build()
        .unwrap();
    let seen = cycle(&pool, 3, 2_502, 1);
    assert_eq!(seen, ["ok(WaitsForItself)", "WaitsForItself"]);
}

// ---- 6. data receivers calling the pool --------------------------------------------------------

#[concurrent]
fn send_then_hold(gate: u64) -> u64 {
    send_data(gate).unwrap();
    pass_gate(gate);
    gate
}

#[test]
fn a_receiver_that_executes_a_task_and_waits_or_cancels_the_sender_does_not_deadlock() {
    static POOL: OnceLock<TaskPool> = OnceLock::new();
    let pool = static_pool(&POOL, 2);
    let (tx, rx) = mpsc::channel();
    let task = Task::new(send_then_hold, (2_601,));
    let id = task.id();
    task.on_receive_data(move |gate: u64| {
        let pool = POOL.get().unwrap();
        let value = pool.run(plain, (14,)).wait();
        let canceled = pool.cancel(id);
        open_gate(gate);
        let _ = tx.send(format!("{value:?} {canceled:?}"));
    });
    let handle = pool.execute(task);
    assert_eq!(report(&rx, "the receiver"), "Ok(14) Ok(())");
    assert!(matches!(handle.wait(), Err(Error::Canceled { .. })));
}

// ---- a task waiting for its own dependent --------------------------------------------------------

static DEP_HANDLE: Mutex<Option<TaskHandle<u32>>> = Mutex::new(None);

/// Waits for the handle of a task that depends on this one.
#[concurrent]
fn wait_for_dependent() -> String {
    let mut handle = None;
    wait_until("the test hands over the dependent's handle", || {
        handle = DEP_HANDLE.lock().unwrap().take();
        handle.is_some()
    });
    told(handle.unwrap().wait())
}

/// Before: the dependency waited for its dependent, held until the dependency succeeds, until
/// the time limit; then the dependent failed with `DependencyFailed`.
#[test]
fn a_task_waiting_for_a_task_that_depends_on_it_is_told_at_once() {
    let pool = pool(2);
    let dependency = Task::new(wait_for_dependent, ());
    let dependent = Task::new(plain, (15,));
    dependent.add_dependency(&dependency).unwrap();
    let first = pool.execute(dependency);
    let second = pool.execute(&dependent);
    let id = second.id();
    *DEP_HANDLE.lock().unwrap() = Some(second);
    let outcome = bounded("the dependency", move || first.wait());
    assert_eq!(outcome.unwrap(), "told: waits for itself");
    // The dependency succeeded (it returned what it was told): the dependent's held run is
    // released and runs; a later run needs no dependency any more.
    wait_until("the dependent's run ends", || {
        !pool.info().tasks.iter().any(|t| t.task_id == id)
    });
    assert_eq!(
        bounded("a later run", move || pool.execute(&dependent).wait()).unwrap(),
        15
    );
}

// ---- async tasks awaiting each other ---------------------------------------------------------

/// Async task `me`: awaits the handle of task `other` and records what the await returned.
#[concurrent]
async fn await_other(me: u32, other: u32) -> String {
    let seen = match take_cycle_handle(other).await {
        Ok(value) => format!("ok({value})"),
        Err(Error::Canceled { .. }) => "canceled".to_owned(),
        Err(e) => format!("unexpected: {e:?}"),
    };
    CYCLE_SEEN.lock().unwrap().push((me, seen.clone()));
    seen
}

/// Two `async` tasks awaiting each other hold no thread and are not timed (awaiting is not
/// limited), so they stay suspended, as two ArkTS promises awaiting each other do; canceling
/// one drops it where it awaits, and the other's await ends with that cancel. Neither holds
/// a thread meanwhile: the pool's only thread still runs other work.
#[test]
fn two_async_tasks_awaiting_each_other_stay_suspended_until_one_is_canceled() {
    let pool = TaskPool::builder()
        .max_threads(1)
        .extra_threads(0)
        .time_limit(PATIENCE / 2)
        .build()
        .unwrap();
    let a = pool.execute(Task::new(await_other, (2_701, 2_702)));
    let b = pool.execute(Task::new(await_other, (2_702, 2_701)));
    let (a_id, b_id) = (a.id(), b.id());
    CYCLE_HANDLES
        .lock()
        .unwrap()
        .extend([(2_701, a), (2_702, b)]);
    support::wait_until_suspended(&pool, a_id);
    support::wait_until_suspended(&pool, b_id);
    assert_eq!(pool.run(plain, (16,)).wait().unwrap(), 16);
    // Each handle is held by the other task now: follow them through `info()`.
    pool.cancel(a_id).unwrap();
    let mut seen = None;
    wait_until("the other task returned from its await", || {
        let mut all = CYCLE_SEEN.lock().unwrap();
        if let Some(at) = all.iter().position(|(tag, _)| *tag == 2_702) {
            seen = Some(all.remove(at).1);
        }
        seen.is_some()
    });
    assert_eq!(seen.as_deref(), Some("canceled"));
    let canceled_recorded = CYCLE_SEEN
        .lock()
        .unwrap()
        .iter()
        .any(|(tag, _)| *tag == 2_701);
    assert!(
        !canceled_recorded,
        "the canceled task was dropped where it awaited"
    );
    wait_until("both tasks are gone from info()", || {
        support::states_of(&pool, a_id).is_empty() && support::states_of(&pool, b_id).is_empty()
    });
}
