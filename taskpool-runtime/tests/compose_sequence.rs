//! `SequenceRunner`: strict order without overlap, failures and cancels that do not stop later
//! tasks, named singletons, and 10200025.

mod support;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::{hold, open_gate, wait_until};
use taskpool::{Error, Priority, SequenceRunner, Task, TaskPool, TaskState, concurrent};

static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static OVERLAPS: AtomicUsize = AtomicUsize::new(0);
static LOG: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[concurrent]
fn record(n: u32) -> u32 {
    if ACTIVE.fetch_add(1, Ordering::SeqCst) != 0 {
        OVERLAPS.fetch_add(1, Ordering::SeqCst);
    }
    LOG.lock().unwrap().push(n);
    std::thread::yield_now();
    ACTIVE.fetch_sub(1, Ordering::SeqCst);
    n
}

#[concurrent]
fn boom(n: u32) -> u32 {
    panic!("task {n} fails")
}

#[concurrent]
fn echo(n: u32) -> u32 {
    n
}

#[test]
fn tasks_run_one_after_another_in_submission_order_on_a_wide_pool() {
    let pool = TaskPool::builder().max_threads(4).build().unwrap();
    let runner = pool.sequence_runner(Priority::High);
    assert_eq!(runner.priority(), Priority::High);
    let handles: Vec<_> = (0..200)
        .map(|n| runner.execute(Task::new(record, (n,))))
        .collect();
    for (n, handle) in handles.into_iter().enumerate() {
        assert_eq!(handle.wait().unwrap(), n as u32);
    }
    assert_eq!(*LOG.lock().unwrap(), (0..200).collect::<Vec<_>>());
    assert_eq!(
        OVERLAPS.load(Ordering::SeqCst),
        0,
        "no two tasks overlapped"
    );
}

static STARTS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[concurrent]
fn note_start(n: u32) -> u32 {
    STARTS.lock().unwrap().push(n);
    n
}

/// DESIGN.md, "SequenceRunner": a runner's tasks run at the runner's priority, whatever
/// priority the task itself carries.
#[test]
fn a_runner_s_tasks_run_at_the_runner_s_priority() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let blocker = pool.execute(Task::new(hold, (241,)));
    wait_until("the blocker runs", || {
        pool.info().threads.iter().any(|t| !t.task_ids.is_empty())
    });
    let medium = pool.execute(Task::new(note_start, (1,)));
    let runner = pool.sequence_runner(Priority::High);
    let high = runner.execute(Task::new(note_start, (2,)).with_priority(Priority::Low));
    open_gate(241);
    blocker.wait().unwrap();
    assert_eq!((high.wait().unwrap(), medium.wait().unwrap()), (2, 1));
    assert_eq!(
        *STARTS.lock().unwrap(),
        [2, 1],
        "the runner's HIGH task goes before the MEDIUM one queued earlier"
    );
}

#[test]
fn a_failure_does_not_stop_later_tasks() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let runner = pool.sequence_runner(Priority::Medium);
    let first = runner.execute(Task::new(boom, (1,)));
    let second = runner.execute(Task::new(echo, (2,)));
    assert!(matches!(first.wait(), Err(Error::Panicked { .. })));
    assert_eq!(second.wait().unwrap(), 2);
}

#[test]
fn canceling_a_waiting_task_resolves_it_and_the_rest_go_on() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let runner = pool.sequence_runner(Priority::Medium);
    let running = runner.execute(Task::new(hold, (201,)));
    let waiting = runner.execute(Task::new(echo, (2,)));
    let after = runner.execute(Task::new(echo, (3,)));
    wait_until("the first task runs", || {
        pool.info()
            .tasks
            .iter()
            .any(|t| t.state == TaskState::Running)
    });
    // Held by the runner, the second task is visible as waiting.
    assert!(
        pool.info()
            .tasks
            .iter()
            .any(|t| t.task_id == waiting.id() && t.state == TaskState::Waiting)
    );
    waiting.cancel().unwrap();
    assert!(waiting.is_finished(), "a waiting task resolves at once");
    assert!(
        !after.is_finished(),
        "the next one still waits for the running one"
    );
    open_gate(201);
    assert_eq!(running.wait().unwrap(), 201);
    assert!(waiting.wait().unwrap_err().is_canceled());
    assert_eq!(after.wait().unwrap(), 3);
}

#[test]
fn canceling_the_running_task_does_not_stop_later_tasks() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let runner = pool.sequence_runner(Priority::Low);
    let running = runner.execute(Task::new(hold, (211,)));
    let after = runner.execute(Task::new(echo, (9,)));
    wait_until("the first task runs", || {
        pool.info()
            .tasks
            .iter()
            .any(|t| t.state == TaskState::Running)
    });
    pool.cancel(running.id()).unwrap();
    open_gate(211);
    assert!(running.wait().unwrap_err().is_canceled());
    assert_eq!(after.wait().unwrap(), 9);
}

#[test]
fn named_runners_are_singletons_and_the_first_priority_stands() {
    let a = SequenceRunner::named("compose-tests-shared", Priority::High);
    let b = SequenceRunner::named("compose-tests-shared", Priority::Low);
    assert_eq!(a.name(), Some("compose-tests-shared"));
    assert_eq!(b.priority(), Priority::High);
    let first = a.execute(Task::new(hold, (221,)));
    let second = b.execute(Task::new(echo, (5,)));
    assert!(!second.is_finished());
    open_gate(221);
    assert_eq!(first.wait().unwrap(), 221);
    assert_eq!(second.wait().unwrap(), 5);
    let other = SequenceRunner::named("compose-tests-other", Priority::Low);
    assert_eq!(other.priority(), Priority::Low);
}

#[test]
fn a_task_with_dependencies_cannot_join_a_runner_10200025() {
    let runner = SequenceRunner::new(Priority::Medium);
    let dependency = Task::new(echo, (1,));
    let task = Task::new(echo, (2,));
    task.add_dependency(&dependency).unwrap();
    let refused = runner.execute(task);
    assert!(refused.is_finished());
    assert_eq!(refused.wait().unwrap_err().code(), Some(10200025));
    // The runner still works.
    assert_eq!(runner.execute(Task::new(echo, (3,))).wait().unwrap(), 3);
}

#[test]
fn a_runner_of_a_dropped_pool_refuses_and_its_held_tasks_resolve() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let runner = pool.sequence_runner(Priority::Medium);
    let running = runner.execute(Task::new(hold, (231,)));
    let held = runner.execute(Task::new(echo, (1,)));
    open_gate(231);
    drop(pool);
    // Each task either ran before the shutdown or was canceled by it; none is left pending.
    match running.wait() {
        Ok(value) => assert_eq!(value, 231),
        Err(error) => assert!(error.is_canceled()),
    }
    match held.wait() {
        Ok(value) => assert_eq!(value, 1),
        Err(error) => assert!(error.is_canceled() || matches!(error, Error::PoolShutDown)),
    }
    assert!(matches!(
        runner.execute(Task::new(echo, (2,))).wait(),
        Err(Error::PoolShutDown)
    ));
}

/// A shutdown that finds a long queue behind the running task resolves every waiting handle
/// without recursing once per task (it used to: each canceled run's hook queued the next,
/// whose cancel ran the hook again, until the worker's stack overflowed).
#[test]
fn a_shutdown_behind_a_long_queue_resolves_every_task_without_deep_recursion() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let runner = pool.sequence_runner(Priority::Medium);
    let first = runner.execute(Task::new(hold, (9_301,)));
    let rest: Vec<_> = (0..50_000)
        .map(|n| runner.execute(Task::new(echo, (n,))))
        .collect();
    wait_until("the first task runs", || {
        pool.info()
            .tasks
            .iter()
            .any(|task| task.state == TaskState::Running)
    });
    let opener = std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        open_gate(9_301);
    });
    drop(pool);
    opener.join().unwrap();
    assert_eq!(first.wait().unwrap(), 9_301);
    for handle in rest {
        assert!(handle.wait().is_err());
    }
}
