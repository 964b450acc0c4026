//! A run that timed out has its outcome, but its call may still execute (Rust cannot stop it):
//! whatever keeps runs one at a time waits for that call to return, not for the outcome.
//! Runs of one task never overlap (the brief's "Task lifecycle"), nor do a `SequenceRunner`'s
//! tasks, nor more of an `AsyncRunner`'s than its running capacity, nor a periodic task's ticks.
//!
//! Each test blocks the first call on a gate past the pool's time limit, waits for its handle
//! to report the time-out, then gives any later run a window in which it would overlap the
//! blocked call if it were let go; the calls themselves count how many of them execute at once.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use support::{PATIENCE, open_gate, pass_gate, wait_until};
use taskpool::{Error, Priority, Task, TaskHandle, TaskPool, concurrent};

/// How long a later run is given to (wrongly) start while the first call is blocked. The
/// assertions hold whatever the machine's speed; a shorter window only makes a wrong start
/// less likely to be seen.
const WINDOW: Duration = Duration::from_millis(100);

/// Per test: calls executing now, the most at once, and calls made.
static IN_FLIGHT: [AtomicU32; 4] = [const { AtomicU32::new(0) }; 4];
static MOST: [AtomicU32; 4] = [const { AtomicU32::new(0) }; 4];
static CALLS: [AtomicU32; 4] = [const { AtomicU32::new(0) }; 4];

/// The first gate of each test; test `slot` uses gate `GATE + slot`.
const GATE: u64 = 7100;

/// Counts itself in and out; the first call of test `slot` blocks on its gate.
#[concurrent]
fn turn(slot: u32) -> u32 {
    let slot = slot as usize;
    let now = IN_FLIGHT[slot].fetch_add(1, Ordering::SeqCst) + 1;
    MOST[slot].fetch_max(now, Ordering::SeqCst);
    let call = CALLS[slot].fetch_add(1, Ordering::SeqCst);
    if call == 0 {
        pass_gate(GATE + slot as u64);
    }
    IN_FLIGHT[slot].fetch_sub(1, Ordering::SeqCst);
    call
}

/// A pool with a short time limit, checked often, and room for a second run to start.
fn limited_pool() -> TaskPool {
    TaskPool::builder()
        .max_threads(2)
        .time_limit(support::SHORT_LIMIT)
        .check_interval(Duration::from_millis(5))
        .build()
        .unwrap()
}

fn timed_out<T: std::fmt::Debug>(outcome: Result<T, Error>) -> bool {
    matches!(outcome, Err(Error::TimedOut { .. }))
}

/// Lets the first call of test `slot` return, and waits until it did.
fn release_and_check(slot: u32) {
    open_gate(GATE + slot as u64);
    wait_until("the blocked call returned", || {
        IN_FLIGHT[slot as usize].load(Ordering::SeqCst) == 0
    });
}

fn most_at_once(slot: u32) -> u32 {
    MOST[slot as usize].load(Ordering::SeqCst)
}

/// The shared course of the tests below: `first` (test `slot`'s first call, blocked on its
/// gate) times out; `second` must not start while that call executes (`why`), and runs once it
/// returned; no two calls ever overlapped.
fn second_waits_for_the_timed_out_call(
    slot: u32,
    first: TaskHandle<u32>,
    mut second: TaskHandle<u32>,
    why: &str,
) {
    assert!(timed_out(first.wait()));
    assert!(second.wait_timeout(WINDOW).is_none(), "{why}");
    release_and_check(slot);
    let outcome = second.wait_timeout(PATIENCE).expect("the second run");
    assert_eq!(outcome.unwrap(), 1, "it made the second call");
    assert_eq!(most_at_once(slot), 1);
}

#[test]
fn a_task_run_again_waits_for_the_call_of_its_timed_out_run() {
    const SLOT: u32 = 0;
    let pool = limited_pool();
    let task = Task::new(turn, (SLOT,));
    let first = pool.execute(&task);
    let second = pool.execute(&task);
    second_waits_for_the_timed_out_call(
        SLOT,
        first,
        second,
        "the second run must not start while the first call executes",
    );
}

#[test]
fn a_sequence_runner_waits_for_the_call_of_its_timed_out_task() {
    const SLOT: u32 = 1;
    let pool = limited_pool();
    let runner = pool.sequence_runner(Priority::Medium);
    let first = runner.execute(Task::new(turn, (SLOT,)));
    let second = runner.execute(Task::new(turn, (SLOT,)));
    second_waits_for_the_timed_out_call(
        SLOT,
        first,
        second,
        "the runner's next task must not start while the first call executes",
    );
}

#[test]
fn an_async_runner_keeps_the_slot_of_a_timed_out_task_until_its_call_returns() {
    const SLOT: u32 = 2;
    let pool = limited_pool();
    let runner = pool.async_runner(1, 0).unwrap();
    let first = runner.execute(Task::new(turn, (SLOT,)), Priority::Medium);
    let second = runner.execute(Task::new(turn, (SLOT,)), Priority::Medium);
    second_waits_for_the_timed_out_call(
        SLOT,
        first,
        second,
        "a running capacity of 1 admits no second task while the first call executes",
    );
}

#[test]
fn a_periodic_task_skips_its_ticks_while_a_timed_out_call_executes() {
    const SLOT: u32 = 3;
    let pool = limited_pool();
    let timed_out_once = std::sync::Arc::new(AtomicU32::new(0));
    let task = Task::new(turn, (SLOT,));
    let seen = std::sync::Arc::clone(&timed_out_once);
    task.on_execution_failed(move |error| {
        if matches!(error, Error::TimedOut { .. }) {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    })
    .unwrap();
    let handle = pool
        .execute_periodically(Duration::from_millis(5), task, Priority::Medium)
        .unwrap();
    wait_until("the first tick timed out", || {
        timed_out_once.load(Ordering::SeqCst) == 1
    });
    std::thread::sleep(WINDOW);
    assert_eq!(
        CALLS[SLOT as usize].load(Ordering::SeqCst),
        1,
        "no tick may start while the first call executes"
    );
    release_and_check(SLOT);
    wait_until("ticks resume once the call returned", || {
        CALLS[SLOT as usize].load(Ordering::SeqCst) >= 3
    });
    handle.cancel().unwrap();
    assert_eq!(most_at_once(SLOT), 1);
}

/// Blocks until gate `gate` opens (a call that outlives its pool).
#[concurrent]
fn stuck(gate: u64) -> u64 {
    pass_gate(gate);
    gate
}

#[test]
fn a_run_waiting_behind_a_timed_out_call_is_resolved_when_the_pool_shuts_down() {
    const STUCK: u64 = GATE + 10;
    let pool = limited_pool();
    let task = Task::new(stuck, (STUCK,));
    let first = pool.execute(&task);
    let runner = pool.sequence_runner(Priority::Medium);
    let held = runner.execute(Task::new(stuck, (STUCK + 1,)));
    let mut behind_runner = runner.execute(Task::new(stuck, (STUCK + 1,)));
    let mut second = pool.execute(&task);
    assert!(timed_out(first.wait()));
    assert!(timed_out(held.wait()));
    pool.shutdown_timeout(Duration::from_millis(50));
    for handle in [&mut second, &mut behind_runner] {
        let outcome = handle
            .wait_timeout(PATIENCE)
            .expect("a run still waiting for its turn is resolved by the shutdown");
        assert!(outcome.is_err(), "{outcome:?}");
    }
    open_gate(STUCK);
    open_gate(STUCK + 1);
}

/// An argument whose `Drop` blocks until gate `self.0` opens.
#[derive(serde::Serialize, serde::Deserialize)]
struct Sticky(u64);

impl Drop for Sticky {
    fn drop(&mut self) {
        pass_gate(self.0);
    }
}

static NOTICED_CANCEL: AtomicU32 = AtomicU32::new(0);

/// Runs until it is told to stop (or for `PATIENCE`).
#[concurrent]
fn until_canceled() -> u32 {
    let deadline = std::time::Instant::now() + PATIENCE;
    while !taskpool::is_canceled() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    if taskpool::is_canceled() {
        NOTICED_CANCEL.fetch_add(1, Ordering::SeqCst);
    }
    0
}

#[concurrent]
fn keeps(_sticky: Sticky) -> u32 {
    1
}

/// A time-out settles its run's composers: here the dependency graph fails the dependent
/// still held, whose argument's `Drop` blocks. The timed-out call must learn `is_canceled()`
/// at once, not once that `Drop` returns.
#[test]
fn a_timed_out_call_is_told_to_stop_before_its_dependents_are_failed() {
    const STICKY: u64 = GATE + 20;
    let pool = limited_pool();
    let dependency = Task::new(until_canceled, ());
    let dependent = Task::new(keeps, (Sticky(STICKY),));
    dependent.add_dependency(&dependency).unwrap();
    let held = pool.execute(dependent);
    let timed = pool.execute(&dependency);
    wait_until("the timed-out call noticed its cancel", || {
        NOTICED_CANCEL.load(Ordering::SeqCst) == 1
    });
    open_gate(STICKY);
    assert!(timed_out(timed.wait()));
    assert!(matches!(held.wait(), Err(Error::DependencyFailed { .. })));
}
