//! `AsyncRunner`: the running bound, the waiting bound that discards the oldest (10200054),
//! cancel while waiting (10200055), refusals (401, 10200025, 10200057), named runners.

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
    assert_eq!(error.code(), Some(10200025));
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

/// A shutdown that finds a long waiting queue behind the running task resolves every handle
/// without recursing once per task (each canceled run's hook used to queue the next, whose
/// cancel ran the hook again, until the worker's stack overflowed).
#[test]
fn a_shutdown_behind_a_long_waiting_queue_resolves_every_task_without_deep_recursion() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let runner = pool.async_runner(1, 0).unwrap();
    let first = runner.execute(Task::new(gated, (9_401, 7)), Priority::Medium);
    let rest: Vec<_> = (0..50_000)
        .map(|n| runner.execute(Task::new(plain, (n,)), Priority::Medium))
        .collect();
    wait_until("the first task runs", || {
        pool.info()
            .tasks
            .iter()
            .any(|task| task.state == taskpool::TaskState::Running)
    });
    let opener = std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        open_gate(9_401);
    });
    drop(pool);
    opener.join().unwrap();
    assert_eq!(first.wait().unwrap(), 7);
    for handle in rest {
        assert!(handle.wait().is_err());
    }
}

/// Capacities of `usize::MAX` are accepted and behave as "no bound".
#[test]
fn capacities_of_usize_max_mean_no_bound() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let runner = pool.async_runner(usize::MAX, usize::MAX).unwrap();
    let handles: Vec<_> = (0..64)
        .map(|n| runner.execute(Task::new(plain, (n,)), Priority::Medium))
        .collect();
    for (n, handle) in handles.into_iter().enumerate() {
        assert_eq!(handle.wait().unwrap(), n as u32);
    }
}
