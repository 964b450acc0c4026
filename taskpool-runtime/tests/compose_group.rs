//! `TaskGroup`: add order, failure, cancel, re-execution, typed results, and its error codes.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::{hold, open_gate, wait_until};
use taskpool::{Error, Priority, Task, TaskGroup, TaskPool, concurrent};

#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("refused")
    }
}

impl std::error::Error for Refused {}

#[concurrent]
fn refuse() -> Result<u64, Refused> {
    Err(Refused)
}

static RAN: AtomicUsize = AtomicUsize::new(0);

#[concurrent]
fn count_run(x: u64) -> u64 {
    RAN.fetch_add(1, Ordering::SeqCst);
    x
}

static THIRD_RAN: AtomicUsize = AtomicUsize::new(0);

#[concurrent]
fn third(x: u64) -> u64 {
    THIRD_RAN.fetch_add(1, Ordering::SeqCst);
    x
}

#[concurrent]
fn label(x: u32) -> String {
    format!("#{x}")
}

#[test]
fn results_come_back_in_add_order_whatever_the_finishing_order() {
    let pool = TaskPool::builder().max_threads(3).build().unwrap();
    let mut group = TaskGroup::new();
    for gate in [101, 102, 103] {
        group.add(hold, (gate,)).unwrap();
    }
    let handle = pool.execute_group(&group, Priority::High);
    // Finish last-added first.
    open_gate(103);
    wait_until("the last task finished", || pool.info().tasks.len() == 2);
    open_gate(102);
    open_gate(101);
    assert_eq!(handle.wait().unwrap(), vec![101, 102, 103]);
}

#[test]
fn an_empty_group_yields_an_empty_vec() {
    let group: TaskGroup<u64> = TaskGroup::new();
    assert!(group.is_empty());
    let handle = taskpool::execute_group(&group, Priority::Medium);
    assert!(handle.is_finished());
    assert_eq!(handle.wait().unwrap(), Vec::<u64>::new());
}

#[test]
fn a_group_runs_again_and_refuses_tasks_once_executed() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let mut group = TaskGroup::with_name("labels");
    assert_eq!(group.name(), Some("labels"));
    group.add(label, (1,)).unwrap();
    group.add_task(Task::new(label, (2,))).unwrap();
    for _ in 0..3 {
        let typed: Vec<String> = pool.execute_group(&group, Priority::Low).wait().unwrap();
        assert_eq!(typed, ["#1", "#2"]);
    }
    assert!(group.is_executed());
    assert!(matches!(group.add(label, (3,)), Err(Error::GroupExecuted)));
    assert_eq!(group.len(), 2);
}

#[test]
fn the_first_failure_fails_the_group_and_its_waiting_tasks_never_run() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let mut group = TaskGroup::new();
    group.add(hold, (111,)).unwrap();
    group.add(refuse, ()).unwrap();
    group.add(third, (7,)).unwrap();
    let handle = pool.execute_group(&group, Priority::Medium);
    open_gate(111);
    match handle.wait() {
        Err(Error::TaskFailed(source)) => assert!(source.downcast_ref::<Refused>().is_some()),
        other => panic!("expected the failing task's error, got {other:?}"),
    }
    // The worker settles the failure (and cancels the rest) before it picks the next run.
    assert_eq!(pool.run(count_run, (0,)).wait().unwrap(), 0);
    assert_eq!(
        THIRD_RAN.load(Ordering::SeqCst),
        0,
        "the third task never ran"
    );
}

#[test]
fn canceling_a_group_cancels_its_tasks_and_a_second_cancel_is_10200018() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let mut group = TaskGroup::new();
    group.add(hold, (121,)).unwrap();
    group.add(hold, (122,)).unwrap();
    let handle = pool.execute_group(&group, Priority::Medium);
    wait_until("the first task runs", || {
        pool.info()
            .tasks
            .iter()
            .any(|t| t.state == taskpool::TaskState::Running)
    });
    handle.cancel().unwrap();
    assert!(
        handle.is_finished(),
        "the waiting task resolved the group at once"
    );
    assert_eq!(handle.cancel().unwrap_err().code(), Some(10200018));
    open_gate(121);
    assert!(handle.wait().unwrap_err().is_canceled());
}

#[test]
fn a_finished_group_cannot_be_canceled() {
    let mut group = TaskGroup::new();
    group.add(label, (5,)).unwrap();
    let handle = taskpool::execute_group(&group, Priority::High);
    wait_until("the group finished", || handle.is_finished());
    assert!(matches!(handle.cancel(), Err(Error::GroupNotFound)));
    assert_eq!(handle.wait().unwrap(), ["#5"]);
}

#[test]
fn a_group_handle_is_a_future() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let mut group = TaskGroup::new();
    for x in 0..20 {
        group.add(count_run, (x,)).unwrap();
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let values = runtime
        .block_on(pool.execute_group(&group, Priority::Medium))
        .unwrap();
    assert_eq!(values, (0..20).collect::<Vec<_>>());
}

#[test]
fn a_large_group_collects_every_result() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let mut group = TaskGroup::new();
    for x in 0..2_000 {
        group.add(count_run, (x,)).unwrap();
    }
    let values = pool.execute_group(&group, Priority::Medium).wait().unwrap();
    assert_eq!(values, (0..2_000).collect::<Vec<_>>());
}

#[test]
fn a_group_of_a_shut_down_pool_fails_instead_of_hanging() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let mut group = TaskGroup::new();
    group.add(hold, (131,)).unwrap();
    let handle = pool.execute_group(&group, Priority::Medium);
    open_gate(131);
    pool.shutdown();
    // Either everything ran before the shutdown, or the group reports the shutdown or cancel.
    match handle.wait() {
        Ok(values) => assert_eq!(values, vec![131]),
        Err(error) => assert!(error.is_canceled() || matches!(error, Error::PoolShutDown)),
    }
}

#[test]
fn a_bounded_wait_returns_none_until_every_result_is_there_and_keeps_the_handle_usable() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let mut group = TaskGroup::new();
    group.add(count_run, (1,)).unwrap();
    group.add(hold, (131,)).unwrap();
    let mut handle = pool.execute_group(&group, Priority::Medium);
    assert!(handle.wait_timeout(Duration::from_millis(1)).is_none());
    assert!(!handle.is_finished());
    open_gate(131);
    let values = handle
        .wait_timeout(Duration::from_secs(60))
        .expect("resolved within the minute")
        .unwrap();
    assert_eq!(values, [1, 131]);
}

#[test]
fn a_bounded_wait_reports_the_failure_and_spends_the_handle() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let mut group = TaskGroup::new();
    group.add(refuse, ()).unwrap();
    group.add(count_run, (2,)).unwrap();
    let mut handle = pool.execute_group(&group, Priority::Medium);
    let outcome = handle.wait_timeout(Duration::MAX).expect("no deadline");
    assert!(matches!(outcome, Err(Error::TaskFailed(_))), "{outcome:?}");
    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = handle.wait_timeout(Duration::ZERO);
    }));
    assert!(
        again.is_err(),
        "a spent handle panics when waited for again"
    );
}

#[test]
fn a_member_waiting_for_its_own_group_with_a_bound_is_told_at_once() {
    static GROUP: std::sync::Mutex<Option<taskpool::GroupHandle<u64>>> =
        std::sync::Mutex::new(None);
    #[concurrent]
    fn wait_for_own_group() -> Result<u64, Error> {
        let mut handle = loop {
            if let Some(handle) = GROUP.lock().unwrap().take() {
                break handle;
            }
            std::thread::yield_now();
        };
        match handle.wait_timeout(Duration::from_secs(600)) {
            Some(Err(error @ Error::WaitsForItself(_))) => Err(error),
            other => panic!("expected WaitsForItself at once, got {other:?}"),
        }
    }
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let mut group = TaskGroup::new();
    group.add(wait_for_own_group, ()).unwrap();
    *GROUP.lock().unwrap() = Some(pool.execute_group(&group, Priority::Medium));
    let mut task = pool.run(count_run, (9,));
    assert_eq!(
        task.wait_timeout(Duration::from_secs(60))
            .map(Result::unwrap),
        Some(9),
        "the pool's only thread is free again"
    );
}
