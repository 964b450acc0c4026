//! More probes of the TaskPool API and its composition layer against `js-apis-taskpool.md`
//! (openharmony/docs) and against bad input and faults: each test here failed before the fix
//! its commit made. Every wait is on a gate or a condition with a generous timeout.

mod support;

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use support::{open_gate, pass_gate, wait_until, wait_until_executing};
use taskpool::{Error, Priority, Task, TaskPool, concurrent};

/// Gate ids of this file.
const G: u64 = 95_000;

/// Waits for its gate, then sends the gate to the host; returns it if the send went through.
#[concurrent]
fn hold_then_send(gate: u64) -> u64 {
    pass_gate(gate);
    taskpool::send_data(gate).map_or(0, |()| gate)
}

/// A task renamed (`with_name`) while a run of it is alive is still the same task: the run
/// that ends marks it done with its durations, and its later runs reach the receiver
/// registered on it. (The renamed task got a fresh copy of its record: `is_done()` stayed
/// false, `durations()` `None`, and `send_data` from a later run failed with 10200024.)
#[test]
fn a_task_renamed_while_a_run_of_it_is_alive_keeps_its_state() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let task = Task::new(hold_then_send, (G + 1,));
    let (tx, rx) = std::sync::mpsc::channel();
    task.on_receive_data(move |value: u64| tx.send(value).unwrap());
    let first = pool.execute(&task);
    wait_until_executing(&pool, first.id());
    let task = task.with_name("renamed");
    assert_eq!(task.name(), "renamed");
    open_gate(G + 1);
    assert_eq!(first.wait().unwrap(), G + 1);
    assert_eq!(rx.recv_timeout(support::PATIENCE).unwrap(), G + 1);
    assert!(task.is_done(), "a run of the task has ended");
    assert!(task.durations().is_some(), "the ended run's durations");
    let second = pool.execute(&task);
    assert_eq!(second.wait().unwrap(), G + 1, "sent to the task's receiver");
    assert_eq!(rx.recv_timeout(support::PATIENCE).unwrap(), G + 1);
}

/// Sends its argument to the host; returns it if the send went through.
#[concurrent]
fn send_value(value: u32) -> u32 {
    taskpool::send_data(value).map_or(0, |()| value)
}

/// A task of no consequence.
#[concurrent]
fn nothing() {}

/// The callbacks of one task never run concurrently, even when its runs are on two pools and
/// the pool that ran its callbacks so far shuts down while one of them still runs: a callback
/// of a later run on the other pool waits for it. (The task's callbacks moved to the other
/// pool's callback thread as soon as the first pool began shutting down, and ran there beside
/// the first pool's callback thread, still busy with the task's earlier callback.)
#[test]
fn a_task_s_callbacks_do_not_overlap_when_its_first_pool_shuts_down() {
    static ACTIVE: AtomicUsize = AtomicUsize::new(0);
    static MOST: AtomicUsize = AtomicUsize::new(0);
    static SEEN: Mutex<Vec<u32>> = Mutex::new(Vec::new());
    let seen = || SEEN.lock().unwrap().clone();
    let first = TaskPool::builder()
        .callback_timeout(support::PATIENCE)
        .build()
        .unwrap();
    let second = TaskPool::builder().build().unwrap();
    let task = Task::new(send_value, (1,));
    task.on_receive_data(|value: u32| {
        let active = ACTIVE.fetch_add(1, SeqCst) + 1;
        MOST.fetch_max(active, SeqCst);
        SEEN.lock().unwrap().push(value);
        if value == 1 {
            pass_gate(G + 2);
        }
        ACTIVE.fetch_sub(1, SeqCst);
    });
    assert_eq!(first.execute(&task).wait().unwrap(), 1);
    wait_until("the first callback runs", || seen() == [1]);
    // Resolved as the first pool's shutdown begins.
    let mut marker = first.execute_delayed(Duration::MAX, Task::new(nothing, ()), Priority::Low);
    let dropping = std::thread::spawn(move || drop(first));
    assert!(
        marker.wait_timeout(support::PATIENCE).is_some(),
        "the shutdown began"
    );
    // Its value is posted before its handle resolves.
    assert_eq!(second.execute(&task).wait().unwrap(), 1);
    // The second callback must not run while the first one does: give it every chance to.
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(seen(), [1], "a second callback ran beside the first");
    open_gate(G + 2);
    dropping.join().unwrap();
    wait_until("the second callback ran", || seen().len() == 2);
    assert_eq!(MOST.load(SeqCst), 1);
}

/// Waits for its gate; returns it, and whether the run was flagged canceled meanwhile.
#[concurrent]
fn hold_and_report(gate: u64) -> (u64, bool) {
    pass_gate(gate);
    (gate, taskpool::is_canceled())
}

/// A delayed task whose delay passed and that executes when its pool shuts down is an
/// executing call like any other: the shutdown waits for it, and its handle gets its value.
/// (The delay's shutdown hook still held the run, and "discarding" it flagged it canceled:
/// `is_canceled()` turned true and the handle resolved as canceled, the value only as `late`.)
#[test]
fn a_delayed_task_executing_when_its_pool_shuts_down_keeps_its_value() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let delayed = pool.execute_delayed(
        Duration::ZERO,
        Task::new(hold_and_report, (G + 3,)),
        Priority::Medium,
    );
    wait_until_executing(&pool, delayed.id());
    // Resolved by its own delay's shutdown hook, told after the executing one's.
    let mut marker = pool.execute_delayed(Duration::MAX, Task::new(nothing, ()), Priority::Low);
    let dropping = std::thread::spawn(move || drop(pool));
    assert!(
        marker.wait_timeout(support::PATIENCE).is_some(),
        "the shutdown began"
    );
    open_gate(G + 3);
    dropping.join().unwrap();
    assert_eq!(delayed.wait().unwrap(), (G + 3, false));
}

/// The handle a task of [`a_shutdown_does_not_wait_for_a_task_blocked_on_a_held_run`] waits for.
static HELD: Mutex<Option<taskpool::TaskHandle<u64>>> = Mutex::new(None);

/// Waits for the handle in [`HELD`]; returns whether it resolved with `PoolShutDown`.
#[concurrent]
fn wait_for_held() -> bool {
    let handle = HELD.lock().unwrap().take().expect("a handle to wait for");
    matches!(handle.wait(), Err(Error::PoolShutDown))
}

/// A pool's shutdown resolves the runs composers still hold (here: for a dependency that
/// never runs) as it begins, so that an executing task blocked waiting for one returns and the
/// shutdown, which waits for it, ends. (They were resolved only after the wait for the
/// executing calls: the shutdown waited for the blocked task's time limit — forever for a
/// `LongTask` or an unlimited pool.)
#[test]
fn a_shutdown_does_not_wait_for_a_task_blocked_on_a_held_run() {
    let pool = TaskPool::builder()
        .max_threads(2)
        .time_limit(Duration::MAX)
        .build()
        .unwrap();
    let dependency = Task::new(hold_then_send, (G + 4,));
    let dependent = Task::new(hold_then_send, (G + 4,));
    dependent.add_dependency(&dependency).unwrap();
    *HELD.lock().unwrap() = Some(pool.execute(dependent));
    let waiting = pool.execute(Task::new(wait_for_held, ()));
    wait_until("the task waits", || HELD.lock().unwrap().is_none());
    wait_until_executing(&pool, waiting.id());
    support::bounded("dropping the pool", move || drop(pool));
    assert!(
        waiting.wait().unwrap(),
        "the held run resolved with PoolShutDown"
    );
    drop(dependency);
}

/// Waits for its gate, then sends whether the run was flagged canceled meanwhile.
#[concurrent]
fn hold_and_send_canceled(gate: u64) {
    pass_gate(gate);
    let _ = taskpool::send_data(taskpool::is_canceled());
}

/// Executes [`hold_and_send_canceled`] on `pool` every millisecond; returns once its first run
/// executes (held at `gate`), with the stream of what its runs send and its handle.
fn executing_periodically(
    pool: &TaskPool,
    gate: u64,
) -> (taskpool::DataStream<bool>, taskpool::PeriodicHandle) {
    let task = Task::new(hold_and_send_canceled, (gate,));
    let id = task.id();
    let canceled = task.data_stream::<bool>();
    let ticker = pool
        .execute_periodically(Duration::from_millis(1), task, Priority::Medium)
        .unwrap();
    wait_until_executing(pool, id);
    (canceled, ticker)
}

/// A periodic task's run executing when its pool shuts down is an executing call like any
/// other: the shutdown stops the ticks and waits for it, without flagging it canceled. (The
/// shutdown stopped the task as `cancel` does, which flagged the executing run.)
#[test]
fn a_periodic_run_executing_when_its_pool_shuts_down_is_not_canceled() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let (mut canceled, ticker) = executing_periodically(&pool, G + 5);
    // Resolved by its own delay's shutdown hook, told after the periodic task's.
    let mut marker = pool.execute_delayed(Duration::MAX, Task::new(nothing, ()), Priority::Low);
    let dropping = std::thread::spawn(move || drop(pool));
    assert!(
        marker.wait_timeout(support::PATIENCE).is_some(),
        "the shutdown began"
    );
    assert!(ticker.is_stopped());
    open_gate(G + 5);
    dropping.join().unwrap();
    assert_eq!(canceled.next_blocking(), Some(false), "flagged canceled");
    assert_eq!(
        canceled.next_blocking(),
        None,
        "the stream ends with the run"
    );
}

/// A waker that holds the thread that wakes it until gate `.0` opens: the shutdown resolves a
/// waiting run's handle, waking whoever awaits it, after it set its flag and before it tells
/// its shutdown hooks.
struct HoldsTheWaker(u64);

impl std::task::Wake for HoldsTheWaker {
    fn wake(self: std::sync::Arc<Self>) {
        pass_gate(self.0);
    }
}

/// A periodic tick that fires once the shutdown has begun, before the periodic task's
/// shutdown hook ran, stops the task as the hook does: the run executing then is not flagged
/// canceled. (The tick stopped it as `cancel` does, flagging the executing run.)
#[test]
fn a_tick_that_finds_its_pool_shutting_down_does_not_flag_the_executing_run() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let (mut canceled, ticker) = executing_periodically(&pool, G + 6);
    // Queued behind the periodic run on the only thread, and awaited: the shutdown cancels it
    // and wakes its awaiter, which holds the shutdown there until the tick stopped the task.
    let mut waiting = pool.execute(Task::new(nothing, ()));
    let waker = std::task::Waker::from(std::sync::Arc::new(HoldsTheWaker(G + 7)));
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(std::pin::Pin::new(&mut waiting).poll(&mut cx).is_pending());
    let dropping = std::thread::spawn(move || drop(pool));
    wait_until("a tick found the pool shutting down", || {
        ticker.is_stopped()
    });
    open_gate(G + 7);
    open_gate(G + 6);
    dropping.join().unwrap();
    assert!(matches!(waiting.wait(), Err(Error::Canceled { .. })));
    assert_eq!(canceled.next_blocking(), Some(false), "flagged canceled");
    assert_eq!(
        canceled.next_blocking(),
        None,
        "the stream ends with the run"
    );
}
