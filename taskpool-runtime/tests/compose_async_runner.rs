//! `AsyncRunner`: the running bound, the waiting bound that discards the oldest (10200054),
//! cancel while waiting (10200055), refusals (401, 10200056, 10200057), named runners.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};

use support::{open_gate, pass_gate, wait_until};
use taskpool::{AsyncRunner, Error, Priority, Task, TaskPool, concurrent};

static RUNNING: AtomicUsize = AtomicUsize::new(0);
static MOST: AtomicUsize = AtomicUsize::new(0);

/// Counts how many run at once (only the capacity test uses it).
#[concurrent]
fn counted(gate: u64, value: u32) -> u32 {
    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    MOST.fetch_max(now, Ordering::SeqCst);
    pass_gate(gate);
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    value
}

#[concurrent]
fn gated(gate: u64, value: u32) -> u32 {
    pass_gate(gate);
    value
}

#[concurrent]
fn plain(value: u32) -> u32 {
    value
}

#[test]
fn at_most_running_capacity_tasks_run_at_once() {
    let pool = TaskPool::builder().max_threads(4).build().unwrap();
    let runner = pool.async_runner(2, 0).unwrap();
    let handles: Vec<_> = (0..5)
        .map(|i| runner.execute(Task::new(counted, (91, i)), Priority::High))
        .collect();
    wait_until("two run", || RUNNING.load(Ordering::SeqCst) == 2);
    let waiting = pool
        .info()
        .tasks
        .iter()
        .filter(|t| t.state == taskpool::TaskState::Waiting)
        .count();
    assert_eq!(waiting, 3);
    open_gate(91);
    let results: Vec<u32> = handles.into_iter().map(|h| h.wait().unwrap()).collect();
    assert_eq!(results, [0, 1, 2, 3, 4]);
    assert_eq!(MOST.load(Ordering::SeqCst), 2);
}

#[test]
fn a_full_waiting_queue_discards_the_oldest_waiting_task() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let runner = pool.async_runner(1, 2).unwrap();
    let first = runner.execute(Task::new(gated, (92, 1)), Priority::Medium);
    let second = runner.execute(Task::new(plain, (2,)), Priority::Medium);
    let third = runner.execute(Task::new(plain, (3,)), Priority::Medium);
    let fourth = runner.execute(Task::new(plain, (4,)), Priority::Medium);
    let id = second.id();
    let error = second.wait().unwrap_err();
    assert!(matches!(error, Error::AsyncRunnerDiscarded(t) if t == id));
    assert_eq!(error.code(), Some(10200054));
    open_gate(92);
    assert_eq!(first.wait().unwrap(), 1);
    assert_eq!(third.wait().unwrap(), 3);
    assert_eq!(fourth.wait().unwrap(), 4);
}

#[test]
fn a_waiting_task_canceled_fails_with_10200055_and_the_next_one_runs() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let runner = pool.async_runner(1, 0).unwrap();
    let first = runner.execute(Task::new(gated, (93, 1)), Priority::Medium);
    let second = runner.execute(Task::new(plain, (2,)), Priority::Medium);
    let third = runner.execute(Task::new(plain, (3,)), Priority::Medium);
    pool.cancel(second.id()).unwrap();
    let error = second.wait().unwrap_err();
    assert_eq!(error.code(), Some(10200055));
    assert!(error.is_canceled());
    open_gate(93);
    assert_eq!(first.wait().unwrap(), 1);
    assert_eq!(third.wait().unwrap(), 3);
}

#[test]
fn refusals_keep_the_arkts_codes() {
    assert_eq!(AsyncRunner::new(0, 3).unwrap_err().code(), Some(401));
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let runner = pool.async_runner(1, 0).unwrap();
    // Already executed by another API.
    let task = Task::new(plain, (1,));
    pool.execute(&task).wait().unwrap();
    let error = runner.execute(task, Priority::Low).wait().unwrap_err();
    assert_eq!(error.code(), Some(10200057));
    // With dependencies.
    let dependency = Task::new(plain, (2,));
    let dependent = Task::new(plain, (3,));
    dependent.add_dependency(&dependency).unwrap();
    let error = runner.execute(dependent, Priority::Low).wait().unwrap_err();
    assert_eq!(error.code(), Some(10200056));
}

#[test]
fn named_runners_are_process_wide() {
    let a = AsyncRunner::named("compose-tests-runner", 3, 1).unwrap();
    let b = AsyncRunner::named("compose-tests-runner", 1, 0).unwrap();
    assert_eq!((b.running_capacity(), b.waiting_capacity()), (3, 1));
    assert_eq!(a.name(), Some("compose-tests-runner"));
    assert_eq!(
        b.execute(Task::new(plain, (7,)), Priority::High)
            .wait()
            .unwrap(),
        7
    );
}
