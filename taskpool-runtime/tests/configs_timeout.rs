//! `execute(task, configs)` and `execute(group, configs)` (ArkTS API 24): a lane and a timeout.
//! The timeout counts from the execution; a task past it resolves with 10200058 (a group with
//! 10200070), a waiting one never runs, a running one is flagged and its outcome and data are
//! dropped, its failure listener stays silent; a timed task or group runs once (10200057,
//! 10200059). Every wait is on a gate or a handle: no assertion depends on the machine's speed.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use support::{block_on, hold, open_gate, pass_gate, plain, wait_until, wait_until_executing};
use taskpool::{
    Configs, Error, Priority, Task, TaskGroup, TaskPool, TaskState, concurrent, is_canceled,
    send_data,
};

/// Short enough for a test to take milliseconds; the tasks that must outlive it wait on gates.
const SHORT: Duration = Duration::from_millis(20);
/// Long enough that no task of these tests can take it.
const LONG: Duration = Duration::from_secs(600);

fn pool(name: &str, threads: usize) -> TaskPool {
    TaskPool::builder()
        .max_threads(threads)
        .thread_name(name)
        .build()
        .unwrap()
}

fn timeout(after: Duration) -> Configs {
    Configs::new().with_timeout(after)
}

/// Waits until it is canceled (by its timeout), reports that through gate `seen`, then holds
/// its thread until gate `release` opens: its call outlives its handle's outcome.
#[concurrent]
fn until_canceled(seen: u64, release: u64) -> u64 {
    while !is_canceled() {
        std::thread::sleep(Duration::from_millis(1));
    }
    open_gate(seen);
    pass_gate(release);
    seen
}

static RAN: AtomicBool = AtomicBool::new(false);

#[concurrent]
fn marks_ran() -> u8 {
    RAN.store(true, Ordering::SeqCst);
    1
}

#[test]
fn a_task_that_ends_in_time_succeeds_and_configs_keep_what_they_were_given() {
    let pool = pool("cfg-ok", 2);
    let handle = pool.execute_with_configs(Task::new(plain, (9,)), timeout(LONG));
    assert_eq!(handle.wait().unwrap(), 9);
    // The longest timeout ArkTS takes.
    let handle = pool.execute_with_configs(Task::new(plain, (3,)), timeout(Configs::MAX_TIMEOUT));
    assert_eq!(handle.wait().unwrap(), 3);
    // Zero means no timeout, as ArkTS's 0.
    assert_eq!(timeout(Duration::ZERO).timeout(), None);
    assert_eq!(Configs::new().priority(), None);
    let configs = Configs::new()
        .with_priority(Priority::Low)
        .with_timeout(SHORT);
    assert_eq!(configs.priority(), Some(Priority::Low));
    assert_eq!(configs.timeout(), Some(SHORT));
    // Without a timeout, configs only choose the lane: the task may run again by reference.
    let task = Task::new(plain, (4,));
    let lane = Configs::new().with_priority(Priority::High);
    assert_eq!(pool.execute_with_configs(&task, lane).wait().unwrap(), 4);
    assert_eq!(pool.execute(&task).wait().unwrap(), 4);
}

#[test]
fn a_running_task_past_its_timeout_fails_with_10200058_while_its_call_goes_on() {
    let pool = pool("cfg-run", 2);
    let task = Task::new(until_canceled, (101, 102));
    let id = task.id();
    let handle = pool.execute_with_configs(task, timeout(SHORT));
    let error = handle.wait().unwrap_err();
    assert!(
        matches!(error, Error::TimeoutElapsed { task, timeout } if task == id && timeout == SHORT),
        "{error:?}"
    );
    assert_eq!(error.code(), Some(10200058));
    // The call saw the flag and still runs: the outcome came before it returned.
    pass_gate(101);
    wait_until_executing(&pool, id);
    open_gate(102);
    // The thread is not given up (unlike the pool's time limit): it takes the next task.
    assert_eq!(pool.run(plain, (5,)).wait().unwrap(), 5);
    let counters = pool.info().counters;
    assert_eq!((counters.timed_out, counters.failed), (1, 0));
    assert_eq!(counters.completed, 1);
}

#[test]
fn a_task_still_waiting_at_its_timeout_never_runs() {
    let pool = pool("cfg-wait", 1);
    let blocker = pool.run(hold, (111,));
    let waiting = pool.execute_with_configs(Task::new(marks_ran, ()), timeout(SHORT));
    let error = waiting.wait().unwrap_err();
    assert!(matches!(error, Error::TimeoutElapsed { .. }), "{error:?}");
    open_gate(111);
    assert_eq!(blocker.wait().unwrap(), 111);
    // Queued after it: once this ran, the timed-out task was passed over.
    assert_eq!(pool.run(plain, (6,)).wait().unwrap(), 6);
    assert!(!RAN.load(Ordering::SeqCst));
}

#[concurrent]
fn sends_around_its_timeout(seen: u64, release: u64) -> u32 {
    send_data(1u32).unwrap();
    while !is_canceled() {
        std::thread::sleep(Duration::from_millis(1));
    }
    // Over for the host: dropped, not an error for the sender.
    send_data(2u32).unwrap();
    open_gate(seen);
    pass_gate(release);
    7
}

#[concurrent]
fn fails_and_sends(value: u32) -> Result<u32, String> {
    send_data(value).unwrap();
    Err("expected".into())
}

#[test]
fn after_its_timeout_a_task_s_data_and_failure_listener_stay_silent() {
    let pool = pool("cfg-quiet", 2);
    let failures = Arc::new(AtomicUsize::new(0));
    let (data_tx, data_rx) = mpsc::channel();
    let task = Task::new(sends_around_its_timeout, (121, 122));
    let count = Arc::clone(&failures);
    task.on_execution_failed(move |_| {
        count.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    task.on_receive_data(move |v: u32| data_tx.send(v).unwrap());
    // By reference: the task, and so its receiver, outlive the run.
    let handle = pool.execute_with_configs(&task, timeout(SHORT));
    assert!(matches!(
        handle.wait().unwrap_err(),
        Error::TimeoutElapsed { .. }
    ));
    pass_gate(121);
    open_gate(122);
    // A later task's data and failure, posted to the same callback thread after anything the
    // timed-out task could have posted, mark the point by which its events would have come.
    let (mark_tx, mark_rx) = mpsc::channel();
    let later = Task::new(fails_and_sends, (9,));
    let mark = mark_tx.clone();
    later.on_receive_data(move |v: u32| mark.send(v).unwrap());
    later
        .on_execution_failed(move |_| mark_tx.send(0).unwrap())
        .unwrap();
    assert!(pool.execute(later).wait().is_err());
    assert_eq!(mark_rx.recv_timeout(LONG).unwrap(), 9);
    assert_eq!(mark_rx.recv_timeout(LONG).unwrap(), 0);
    assert_eq!(data_rx.try_iter().collect::<Vec<_>>(), [1]);
    assert_eq!(failures.load(Ordering::SeqCst), 0);
    drop(task);
}

/// The threads that dropped each [`Noted`], by its tag.
static NOTED: std::sync::Mutex<Vec<(u8, String)>> = std::sync::Mutex::new(Vec::new());

/// A value that notes on which thread it is dropped (each test uses its own tag).
#[derive(serde::Serialize, serde::Deserialize)]
struct Noted(u8);

impl Drop for Noted {
    fn drop(&mut self) {
        let name = std::thread::current().name().unwrap_or_default().to_owned();
        NOTED.lock().unwrap().push((self.0, name));
    }
}

/// The threads that dropped a [`Noted`] tagged `tag`.
fn dropped_on(tag: u8) -> Vec<String> {
    let noted = NOTED.lock().unwrap();
    noted
        .iter()
        .filter(|(t, _)| *t == tag)
        .map(|(_, name)| name.clone())
        .collect()
}

#[concurrent]
async fn waits_forever(noted: Noted) -> u8 {
    let _noted = noted;
    std::future::pending::<()>().await;
    0
}

#[test]
fn an_async_task_suspended_at_its_timeout_is_dropped_by_a_pool_thread() {
    let pool = pool("cfg-async", 2);
    let handle = pool.execute_with_configs(Task::new(waits_forever, (Noted(1),)), timeout(SHORT));
    // Awaited on an executor as well as waited on.
    let error = block_on(handle).unwrap_err();
    assert!(matches!(error, Error::TimeoutElapsed { .. }), "{error:?}");
    wait_until("the future is dropped", || !dropped_on(1).is_empty());
    let threads = dropped_on(1);
    assert_eq!(threads.len(), 1);
    assert!(
        threads[0].starts_with("cfg-async-"),
        "dropped on {threads:?}"
    );
}

#[test]
fn a_timed_task_runs_once_and_a_task_run_before_takes_no_timeout() {
    let pool = pool("cfg-once", 2);
    let timed = Task::new(plain, (1,));
    assert_eq!(
        pool.execute_with_configs(&timed, timeout(LONG))
            .wait()
            .unwrap(),
        1
    );
    for again in [
        pool.execute(&timed),
        pool.execute_with_configs(&timed, timeout(LONG)),
        pool.execute_with_priority(&timed, Priority::High),
    ] {
        let error = again.wait().unwrap_err();
        assert!(matches!(error, Error::ExecutedByAnotherApi(id) if id == timed.id()));
        assert_eq!(error.code(), Some(10200057));
    }
    let plain_first = Task::new(plain, (2,));
    assert_eq!(pool.execute(&plain_first).wait().unwrap(), 2);
    let error = pool
        .execute_with_configs(&plain_first, timeout(LONG))
        .wait()
        .unwrap_err();
    assert!(matches!(error, Error::ExecutedByAnotherApi(_)), "{error:?}");
    // The refusal did not mark it: it still runs without a timeout.
    assert_eq!(pool.execute(&plain_first).wait().unwrap(), 2);
}

#[test]
fn a_task_in_a_dependency_takes_no_timeout() {
    let pool = pool("cfg-deps", 2);
    let first = Task::new(plain, (1,));
    let second = Task::new(plain, (2,));
    second.add_dependency(&first).unwrap();
    for task in [&second, &first] {
        let error = pool
            .execute_with_configs(task, timeout(LONG))
            .wait()
            .unwrap_err();
        assert!(
            matches!(error, Error::TimeoutWithDependencies(id) if id == task.id()),
            "{error:?}"
        );
        assert_eq!(error.code(), Some(10200057));
    }
    // Without a timeout they run as before.
    let later = pool.execute(&second);
    assert_eq!(pool.execute(&first).wait().unwrap(), 1);
    assert_eq!(later.wait().unwrap(), 2);
}

#[test]
fn configs_choose_the_lane() {
    let pool = pool("cfg-lane", 1);
    let blocker = pool.run(hold, (131,));
    let task = Task::new(plain, (8,));
    let id = task.id();
    let lane = Configs::new()
        .with_priority(Priority::Low)
        .with_timeout(LONG);
    let handle = pool.execute_with_configs(task, lane);
    let listed = pool.info().tasks.into_iter().find(|t| t.task_id == id);
    let listed = listed.expect("the waiting task is listed");
    assert_eq!(
        (listed.priority, listed.state),
        (Priority::Low, TaskState::Waiting)
    );
    open_gate(131);
    assert_eq!(blocker.wait().unwrap(), 131);
    assert_eq!(handle.wait().unwrap(), 8);
}

#[test]
fn a_group_past_its_timeout_fails_with_10200070_and_its_waiting_tasks_never_run() {
    let pool = pool("cfg-group", 1);
    let mut group = TaskGroup::new();
    group
        .add_task(Task::new(until_canceled, (141, 142)))
        .unwrap();
    group.add_task(Task::new(marks_ran_in_group, ())).unwrap();
    let handle = pool.execute_group_with_configs(&group, timeout(SHORT));
    let error = handle.wait().unwrap_err();
    assert!(
        matches!(error, Error::GroupTimedOut { timeout } if timeout == SHORT),
        "{error:?}"
    );
    assert_eq!(error.code(), Some(10200070));
    // The running member was flagged and still runs; the waiting one never will.
    pass_gate(141);
    open_gate(142);
    assert_eq!(pool.run(plain, (7,)).wait().unwrap(), 7);
    assert!(!GROUP_RAN.load(Ordering::SeqCst));
}

static GROUP_RAN: AtomicBool = AtomicBool::new(false);

#[concurrent]
fn marks_ran_in_group() -> u64 {
    GROUP_RAN.store(true, Ordering::SeqCst);
    0
}

#[test]
fn a_timed_group_runs_once_and_a_group_run_before_takes_no_timeout() {
    let pool = pool("cfg-regroup", 2);
    let mut timed = TaskGroup::new();
    timed.add(plain, (1,)).unwrap();
    timed.add(plain, (2,)).unwrap();
    let configs = Configs::new()
        .with_priority(Priority::High)
        .with_timeout(LONG);
    assert_eq!(
        pool.execute_group_with_configs(&timed, configs)
            .wait()
            .unwrap(),
        [1, 2]
    );
    for again in [
        pool.execute_group(&timed, Priority::Medium),
        pool.execute_group_with_configs(&timed, configs),
    ] {
        let error = again.wait().unwrap_err();
        assert!(matches!(error, Error::GroupReexecuted), "{error:?}");
        assert_eq!(error.code(), Some(10200059));
    }
    let mut run_before = TaskGroup::new();
    run_before.add(plain, (3,)).unwrap();
    assert_eq!(
        pool.execute_group(&run_before, Priority::Low)
            .wait()
            .unwrap(),
        [3]
    );
    let refused = pool.execute_group_with_configs(&run_before, configs);
    assert!(refused.is_finished());
    assert!(matches!(
        block_on(refused).unwrap_err(),
        Error::GroupReexecuted
    ));
    // Refused, not marked: it still runs without a timeout, as often as asked.
    let no_timeout = Configs::new().with_priority(Priority::Low);
    assert_eq!(
        pool.execute_group_with_configs(&run_before, no_timeout)
            .wait()
            .unwrap(),
        [3]
    );
}

#[test]
fn the_global_pool_shorthands_take_configs() {
    let handle = taskpool::execute_with_configs(Task::new(plain, (11,)), timeout(LONG));
    assert_eq!(handle.wait().unwrap(), 11);
    let mut group = TaskGroup::new();
    group.add(plain, (12,)).unwrap();
    let handle = taskpool::execute_group_with_configs(&group, timeout(LONG));
    assert_eq!(handle.wait().unwrap(), [12]);
}

static INNER_RETURNED: AtomicBool = AtomicBool::new(false);

/// Runs until canceled, then until gate `release` opens, and notes that it returned.
#[concurrent]
fn until_canceled_and_released(release: u64) {
    while !is_canceled() {
        std::thread::sleep(Duration::from_millis(1));
    }
    pass_gate(release);
    INNER_RETURNED.store(true, Ordering::SeqCst);
}

/// Executes [`until_canceled_and_released`] with a timeout, waits for it from inside this task,
/// and only then opens the gate it waits for.
#[concurrent]
fn waits_for_a_timed_task(release: u64) -> String {
    let inner = Task::new(until_canceled_and_released, (release,));
    let handle = taskpool::execute_with_configs(inner, timeout(SHORT));
    let outcome = handle.wait();
    open_gate(release);
    match outcome {
        Err(Error::TimeoutElapsed { .. }) => "timed out".to_owned(),
        other => format!("{other:?}"),
    }
}

#[test]
fn a_pool_thread_waiting_for_a_timed_task_hears_of_the_timeout_when_it_passes() {
    // A waiting pool thread runs a queued task inline, but not one with a timeout: its wait
    // would last until the call returns, and here the call returns only after the wait did
    // (executed inline, the call would wait for its gate in vain, and never return normally).
    let outer = taskpool::execute(Task::new(waits_for_a_timed_task, (151,)));
    assert_eq!(outer.wait().unwrap(), "timed out");
    wait_until("the timed task returns", || {
        INNER_RETURNED.load(Ordering::SeqCst)
    });
}

#[test]
fn a_task_whose_dependencies_are_gone_takes_a_timeout() {
    let pool = pool("cfg-undep", 2);
    let first = Task::new(plain, (1,));
    let second = Task::new(plain, (2,));
    second.add_dependency(&first).unwrap();
    second.remove_dependency(&first).unwrap();
    assert_eq!(
        pool.execute_with_configs(&second, timeout(LONG))
            .wait()
            .unwrap(),
        2
    );
    // Its only dependent is gone: nothing depends on it any more.
    let third = Task::new(plain, (3,));
    third.add_dependency(&first).unwrap();
    drop(third);
    assert_eq!(
        pool.execute_with_configs(&first, timeout(LONG))
            .wait()
            .unwrap(),
        1
    );
}

#[concurrent]
fn takes_noted(noted: Noted) -> u8 {
    drop(noted);
    1
}

/// Blocks the thread that wakes it (the timer thread, expiring a run) until gate `gate` opens.
struct StallingWake(u64);

impl std::task::Wake for StallingWake {
    fn wake(self: Arc<Self>) {
        open_gate(self.0);
        pass_gate(self.0 + 1);
    }
}

#[test]
fn the_arguments_of_a_task_withdrawn_at_its_timeout_are_never_dropped_on_the_timer_thread() {
    let pool = pool("cfg-args", 1);
    let blocker = pool.run(hold, (161,));
    wait_until_executing(&pool, blocker.id());
    let mut handle = pool.execute_with_configs(Task::new(takes_noted, (Noted(2),)), timeout(SHORT));
    // Polled with a waker that holds the timer thread inside the expiry, after the withdrawal
    // and before the timer lets go of its reference to the run.
    let waker = std::task::Waker::from(Arc::new(StallingWake(162)));
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(std::pin::Pin::new(&mut handle).poll(&mut cx).is_pending());
    pass_gate(162);
    // Meanwhile every other reference goes: the handle, and the lane's once a thread passes it.
    drop(handle);
    open_gate(161);
    assert_eq!(blocker.wait().unwrap(), 161);
    assert_eq!(pool.run(plain, (1,)).wait().unwrap(), 1);
    open_gate(163);
    wait_until("the arguments are dropped", || !dropped_on(2).is_empty());
    let threads = dropped_on(2);
    assert!(
        threads.iter().all(|thread| thread.starts_with("cfg-args-")),
        "dropped on {threads:?}"
    );
}

static MEMBER_FAILURES: AtomicUsize = AtomicUsize::new(0);

#[test]
fn a_group_past_its_timeout_leaves_its_tasks_failure_listeners_silent() {
    let pool = pool("cfg-glisten", 1);
    let running = Task::new(until_canceled, (171, 172));
    let waiting = Task::new(until_canceled, (173, 174));
    for task in [&running, &waiting] {
        task.on_execution_failed(|_| {
            MEMBER_FAILURES.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    let mut group = TaskGroup::new();
    group.add_task(running).unwrap();
    group.add_task(waiting).unwrap();
    let error = pool
        .execute_group_with_configs(&group, timeout(SHORT))
        .wait()
        .unwrap_err();
    assert!(matches!(error, Error::GroupTimedOut { .. }), "{error:?}");
    pass_gate(171);
    open_gate(172);
    // A later failure's listener, on the same callback thread, marks the point by which the
    // members' would have come.
    let (mark_tx, mark_rx) = mpsc::channel();
    let later = Task::new(fails_and_sends, (1,));
    later
        .on_execution_failed(move |_| mark_tx.send(()).unwrap())
        .unwrap();
    later.on_receive_data(|_: u32| {});
    assert!(pool.execute(later).wait().is_err());
    mark_rx.recv_timeout(LONG).unwrap();
    assert_eq!(MEMBER_FAILURES.load(Ordering::SeqCst), 0);
}

#[concurrent]
fn waits_for_a_task_that_never_times_out(value: u32) -> u32 {
    let inner = Task::new(plain, (value,));
    let configs = timeout(Configs::MAX_TIMEOUT);
    support::one_thread_pool()
        .execute_with_configs(inner, configs)
        .wait()
        .unwrap()
}

#[test]
fn a_waiter_at_the_thread_ceiling_stands_in_for_a_timed_task() {
    // One thread and no extra: nothing but the waiting thread can run the timed task. It is
    // not executed inline before the wait (the wait would outlast the timeout), but a thread
    // stranded in its wait stands in for it, as for any task: no deadlock.
    let mut handle =
        support::one_thread_pool().execute(Task::new(waits_for_a_task_that_never_times_out, (5,)));
    let outcome = handle.wait_timeout(LONG).expect("the wait ends");
    assert_eq!(outcome.unwrap(), 5);
}

static LATE_MEMBER_RAN: AtomicBool = AtomicBool::new(false);

#[concurrent]
fn marks_late_member() -> u64 {
    LATE_MEMBER_RAN.store(true, Ordering::SeqCst);
    0
}

#[test]
fn a_timed_out_group_s_waiting_task_is_withdrawn_before_its_handle_resolves() {
    let pool = pool("cfg-gorder", 1);
    let mut group = TaskGroup::new();
    group.add(hold, (181,)).unwrap();
    group.add(marks_late_member, ()).unwrap();
    let mut handle = pool.execute_group_with_configs(&group, timeout(SHORT));
    // The handle's waker holds the timer thread inside the resolution of the group.
    let waker = std::task::Waker::from(Arc::new(StallingWake(183)));
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(std::pin::Pin::new(&mut handle).poll(&mut cx).is_pending());
    pass_gate(183);
    assert!(handle.is_finished());
    // The only thread is freed at once: the waiting member must already be withdrawn.
    open_gate(181);
    assert_eq!(pool.run(plain, (9,)).wait().unwrap(), 9);
    open_gate(184);
    assert!(!LATE_MEMBER_RAN.load(Ordering::SeqCst));
    assert!(matches!(
        block_on(handle).unwrap_err(),
        Error::GroupTimedOut { .. }
    ));
}

static AFTER_FAILURE_RAN: AtomicBool = AtomicBool::new(false);

/// Fails once gate `gate` opens.
#[concurrent]
fn fails_at_gate(gate: u64) -> Result<u64, String> {
    pass_gate(gate);
    Err("first failure".into())
}

#[concurrent]
fn marks_after_failure() -> u64 {
    AFTER_FAILURE_RAN.store(true, Ordering::SeqCst);
    0
}

#[test]
fn a_failed_group_s_waiting_task_is_canceled_before_its_handle_resolves() {
    // The same order for a group's first failure (no timeout involved): its tasks that have
    // not started are canceled before its waiter hears of the failure.
    let pool = pool("cfg-gfail", 2);
    let mut group = TaskGroup::new();
    group.add(fails_at_gate, (190,)).unwrap();
    let holder = Task::new(hold, (191,));
    let holder_id = holder.id();
    group.add_task(holder).unwrap();
    group.add(marks_after_failure, ()).unwrap();
    let mut handle = pool.execute_group(&group, Priority::Medium);
    let waker = std::task::Waker::from(Arc::new(StallingWake(193)));
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(std::pin::Pin::new(&mut handle).poll(&mut cx).is_pending());
    // Both threads busy (a thread that is free while the failure cancels the others one by
    // one may start the last before its turn to be canceled: it started, and runs to its end).
    wait_until_executing(&pool, holder_id);
    open_gate(190);
    pass_gate(193);
    open_gate(191);
    assert_eq!(pool.run(plain, (9,)).wait().unwrap(), 9);
    open_gate(194);
    assert!(!AFTER_FAILURE_RAN.load(Ordering::SeqCst));
    assert!(matches!(
        block_on(handle).unwrap_err(),
        Error::TaskFailed(_)
    ));
}

#[concurrent]
fn naps(millis: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(millis));
    millis
}

/// ArkTS `Configs.timeout`: whole milliseconds; below 1 or above 2^31 - 1 means no timeout (0).
/// Such configs set no timeout at all: the task is not refused a second run, nor dependencies,
/// and a run longer than the given duration succeeds.
#[test]
fn a_timeout_below_a_millisecond_or_beyond_the_limit_means_none() {
    let pool = pool("cfg-none", 2);
    for given in [
        Duration::from_micros(999),
        Configs::MAX_TIMEOUT + Duration::from_millis(1),
        Duration::MAX,
    ] {
        let configs = timeout(given);
        assert_eq!(configs.timeout(), None, "{given:?}");
        let task = Task::new(naps, (5,));
        assert_eq!(pool.execute_with_configs(&task, configs).wait().unwrap(), 5);
        // Not a timed task: it runs again, and a task with a dependency takes such configs.
        assert_eq!(pool.execute(&task).wait().unwrap(), 5);
        let (dependent, dependency) = (Task::new(plain, (2,)), Task::new(plain, (1,)));
        dependent.add_dependency(&dependency).unwrap();
        let dependent = pool.execute_with_configs(dependent, configs);
        assert_eq!(pool.execute(dependency).wait().unwrap(), 1);
        assert_eq!(dependent.wait().unwrap(), 2);
    }
    // Nor is a group given such configs timed: it runs again.
    let mut group = TaskGroup::new();
    group.add(naps, (3,)).unwrap();
    let configs = timeout(Duration::from_micros(500));
    assert_eq!(
        pool.execute_group_with_configs(&group, configs)
            .wait()
            .unwrap(),
        [3]
    );
    assert_eq!(
        pool.execute_group(&group, Priority::Medium).wait().unwrap(),
        [3]
    );
    // A fraction of a millisecond is dropped.
    let configs = timeout(Duration::from_micros(20_900));
    assert_eq!(configs.timeout(), Some(Duration::from_millis(20)));
}
