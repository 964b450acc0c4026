//! Delayed and periodic execution: cancel while waiting, "never" delays, skipped ticks that
//! never overlap, and 10200050 / 401 (a task in a dependency relationship). Delays and periods
//! are tiny; nothing asserts on elapsed time.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::{open_gate, pass_gate, wait_until};
use taskpool::{Error, Priority, Task, TaskPool, TaskState, concurrent};

#[concurrent]
fn echo(n: u32) -> u32 {
    n
}

static NEVER: AtomicUsize = AtomicUsize::new(0);

#[concurrent]
fn never() {
    NEVER.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn a_delayed_task_runs_after_its_delay_with_the_usual_handle() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let handle = pool.execute_delayed(
        Duration::from_millis(2),
        Task::new(echo, (4,)),
        Priority::High,
    );
    assert_eq!(handle.wait().unwrap(), 4);
    let global = taskpool::execute_delayed(Duration::ZERO, Task::new(echo, (5,)), Priority::Low);
    assert_eq!(global.wait().unwrap(), 5);
}

#[test]
fn a_delayed_task_is_waiting_and_cancelable_until_its_delay_passes() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let handle = pool.execute_delayed(Duration::MAX, Task::new(never, ()), Priority::Medium);
    let info = pool.info();
    assert!(
        info.tasks
            .iter()
            .any(|t| t.task_id == handle.id() && t.state == TaskState::Waiting)
    );
    pool.cancel(handle.id()).unwrap();
    assert!(handle.is_finished());
    assert!(handle.wait().unwrap_err().is_canceled());
    assert_eq!(NEVER.load(Ordering::SeqCst), 0);
}

#[test]
fn a_never_elapsing_delay_resolves_at_shutdown() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let handle = pool.execute_delayed(Duration::MAX, Task::new(echo, (1,)), Priority::Medium);
    pool.shutdown();
    assert!(matches!(handle.wait(), Err(Error::PoolShutDown)));
}

static BEATS: AtomicUsize = AtomicUsize::new(0);

#[concurrent]
fn beat() {
    BEATS.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn a_periodic_task_runs_until_canceled() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let ticker = pool
        .execute_periodically(
            Duration::from_millis(1),
            Task::new(beat, ()),
            Priority::Medium,
        )
        .unwrap();
    wait_until("three beats", || BEATS.load(Ordering::SeqCst) >= 3);
    assert!(ticker.runs_started() >= 3);
    ticker.cancel().unwrap();
    assert!(ticker.is_stopped());
    assert_eq!(ticker.cancel().unwrap_err().code(), Some(10200015));
    let started = ticker.runs_started();
    // Whatever still comes in flight, no new run is started after the cancel.
    assert_eq!(ticker.runs_started(), started);
}

static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static OVERLAPS: AtomicUsize = AtomicUsize::new(0);

static FIRST_TICKS: AtomicUsize = AtomicUsize::new(0);

#[concurrent]
fn first_tick() {
    FIRST_TICKS.fetch_add(1, Ordering::SeqCst);
}

/// DESIGN.md, "Groups, runners, timing": a periodic task first runs after one period, not at
/// once. Without reading a clock: the timer fires alarms in deadline order and the one thread
/// starts a lane in submission order, so a first run due at once would start before a probe
/// delayed by zero that was armed after it.
#[test]
fn a_periodic_task_first_runs_after_one_period_not_at_once() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let ticker = pool
        .execute_periodically(
            Duration::from_secs(3600),
            Task::new(first_tick, ()),
            Priority::Medium,
        )
        .unwrap();
    let probe = pool.execute_delayed(Duration::ZERO, Task::new(echo, (7,)), Priority::Medium);
    assert_eq!(probe.wait().unwrap(), 7);
    assert_eq!(FIRST_TICKS.load(Ordering::SeqCst), 0);
    assert_eq!(ticker.runs_started(), 0);
    ticker.cancel().unwrap();
}

#[concurrent]
fn slow_tick(gate: u64) {
    if ACTIVE.fetch_add(1, Ordering::SeqCst) != 0 {
        OVERLAPS.fetch_add(1, Ordering::SeqCst);
    }
    pass_gate(gate);
    ACTIVE.fetch_sub(1, Ordering::SeqCst);
}

#[test]
fn a_tick_during_the_previous_run_is_skipped_never_overlapping() {
    let pool = TaskPool::builder().max_threads(4).build().unwrap();
    let ticker = pool
        .execute_periodically(
            Duration::from_millis(1),
            Task::new(slow_tick, (401,)),
            Priority::High,
        )
        .unwrap();
    wait_until("ticks skipped while the first run holds", || {
        ticker.ticks_skipped() >= 3
    });
    assert_eq!(ticker.runs_started(), 1);
    open_gate(401);
    wait_until("a second run", || ticker.runs_started() >= 2);
    ticker.cancel().unwrap();
    assert_eq!(OVERLAPS.load(Ordering::SeqCst), 0);
}

/// A run a tick queued that is canceled before a thread takes it never started:
/// `runs_started` does not count it. (It counted every run a tick queued.)
#[test]
fn a_tick_canceled_while_it_waits_for_a_thread_is_not_counted_as_started() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let blocker = pool.run(support::hold, (421,));
    support::wait_until_executing(&pool, blocker.id());
    let ticker = pool
        .execute_periodically(
            Duration::from_millis(1),
            Task::new(beat, ()),
            Priority::High,
        )
        .unwrap();
    // A tick is skipped only while the run of an earlier one is alive: that run waits.
    wait_until("a tick queued a run", || ticker.ticks_skipped() >= 1);
    ticker.cancel().unwrap();
    open_gate(421);
    assert_eq!(blocker.wait().unwrap(), 421);
    assert_eq!(pool.run(echo, (5,)).wait().unwrap(), 5);
    assert_eq!(ticker.runs_started(), 0);
}

#[concurrent]
fn held_tick(gate: u64) {
    pass_gate(gate);
}

#[test]
fn canceling_a_run_by_id_stops_the_periodic_task() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let ticker = pool
        .execute_periodically(
            Duration::from_millis(1),
            Task::new(held_tick, (411,)),
            Priority::Medium,
        )
        .unwrap();
    wait_until("the first run", || {
        pool.info().tasks.iter().any(|t| t.task_id == ticker.id())
    });
    pool.cancel(ticker.id()).unwrap();
    open_gate(411);
    wait_until("stopped", || ticker.is_stopped());
}

#[test]
fn canceling_a_periodic_task_by_id_between_ticks_stops_it() {
    // ArkTS `taskpool.cancel(task)` stops a periodic task whenever it is called; here
    // `pool.cancel(id)` is that call, and between two ticks it must not answer 10200015 and
    // leave the task ticking.
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let ticker = pool
        .execute_periodically(
            Duration::from_secs(3600),
            Task::new(echo, (1,)),
            Priority::Medium,
        )
        .unwrap();
    pool.cancel(ticker.id()).unwrap();
    assert!(ticker.is_stopped());
    assert_eq!(ticker.cancel().unwrap_err().code(), Some(10200015));
}

static RACED: AtomicUsize = AtomicUsize::new(0);

#[concurrent]
fn raced_tick() {
    RACED.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn canceling_a_periodic_task_by_id_racing_its_ticks_stops_it_for_good() {
    // A cancel by id lands before, during or after a tick prepares its run: whichever, it
    // succeeds and no run starts once the stop is over.
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    for round in 0..200 {
        let ticker = pool
            .execute_periodically(
                Duration::from_millis(1),
                Task::new(raced_tick, ()),
                Priority::Medium,
            )
            .unwrap();
        let stream = ticker.data_stream::<()>();
        wait_until("some ticks", || ticker.runs_started() >= round % 3);
        pool.cancel(ticker.id()).unwrap();
        assert!(ticker.is_stopped());
        // Ends once stopped and its last run (canceled or finished) is over. A run a thread
        // took just before the stop starts (and is counted) then.
        for () in stream {}
        let started = ticker.runs_started();
        let executed = RACED.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(3));
        assert_eq!(ticker.runs_started(), started, "round {round}");
        assert_eq!(RACED.load(Ordering::SeqCst), executed, "round {round}");
    }
}

#[test]
fn an_executed_task_cannot_become_periodic_10200050() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(echo, (1,));
    assert_eq!(pool.execute(&task).wait().unwrap(), 1);
    let error = pool
        .execute_periodically(Duration::from_millis(1), task, Priority::Medium)
        .unwrap_err();
    assert!(matches!(error, Error::ExecutedTaskNotPeriodic(_)));
    assert_eq!(error.code(), Some(10200050));
}

#[test]
fn a_task_with_dependencies_cannot_be_periodic_401() {
    let dependency = Task::new(echo, (1,));
    let task = Task::new(echo, (2,));
    task.add_dependency(&dependency).unwrap();
    let error = taskpool::execute_periodically(Duration::from_millis(1), task, Priority::Medium)
        .unwrap_err();
    assert_eq!(error.code(), Some(401));
}

#[test]
fn a_task_another_depends_on_cannot_be_periodic_401() {
    // ArkTS: a periodic task cannot "have a dependency relationship", either side of it.
    // Before, the dependency ticked and its first success released the dependent.
    let dependency = Task::new(echo, (1,));
    let dependent = Task::new(echo, (2,));
    dependent.add_dependency(&dependency).unwrap();
    let error =
        taskpool::execute_periodically(Duration::from_millis(1), dependency, Priority::Medium)
            .unwrap_err();
    assert!(matches!(error, Error::PeriodicWithDependencies(_)));
    assert_eq!(error.code(), Some(401));
    // Once the edge is gone, the task may tick.
    let dependency = Task::new(echo, (3,));
    let dependent = Task::new(echo, (4,));
    dependent.add_dependency(&dependency).unwrap();
    dependent.remove_dependency(&dependency).unwrap();
    let ticking =
        taskpool::execute_periodically(Duration::from_millis(1), dependency, Priority::Medium)
            .unwrap();
    ticking.cancel().unwrap();
}
