//! Outcomes other than a value: a task's own error, a panic, the time limit, and long tasks.

mod support;

use std::time::Duration;

use support::{busy_threads, hold, open_gate, thread_executing, wait_until};
use taskpool::{Error, LongTask, TaskPool, concurrent};

#[derive(Debug)]
struct Overdrawn(u32);

impl std::fmt::Display for Overdrawn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "overdrawn by {}", self.0)
    }
}

impl std::error::Error for Overdrawn {}

#[concurrent]
fn withdraw(balance: u32, amount: u32) -> Result<u32, Overdrawn> {
    balance
        .checked_sub(amount)
        .ok_or_else(|| Overdrawn(amount - balance))
}

#[test]
fn an_err_fails_the_task_and_keeps_the_original_error() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    assert_eq!(pool.run(withdraw, (10, 3)).wait().unwrap(), 7);
    match pool.run(withdraw, (10, 15)).wait() {
        Err(Error::TaskFailed(source)) => {
            assert_eq!(source.downcast_ref::<Overdrawn>().map(|o| o.0), Some(5));
        }
        other => panic!("expected the task's error, got {other:?}"),
    }
}

#[concurrent]
fn explode(message: String) -> u32 {
    panic!("{message}")
}

#[concurrent]
fn worker_name() -> String {
    std::thread::current().name().unwrap_or_default().to_owned()
}

#[test]
fn a_panic_reaches_the_handle_and_the_worker_survives() {
    let pool = TaskPool::builder()
        .max_threads(1)
        .thread_name("survivor")
        .build()
        .unwrap();
    let before = pool.run(worker_name, ()).wait().unwrap();
    match pool.run(explode, ("boom".to_owned(),)).wait() {
        Err(Error::Panicked { message, .. }) => assert_eq!(message, "boom"),
        other => panic!("expected a panic, got {other:?}"),
    }
    assert_eq!(
        pool.run(worker_name, ()).wait().unwrap(),
        before,
        "the same worker runs on"
    );
    assert_eq!(pool.thread_count(), 1);
}

#[concurrent]
fn quick() -> u32 {
    5
}

#[test]
fn a_task_over_the_time_limit_times_out_and_its_thread_is_replaced() {
    // Generous, so the quick task below never hits it even on a loaded machine.
    let limit = Duration::from_millis(200);
    let pool = TaskPool::builder()
        .max_threads(1)
        .time_limit(limit)
        .build()
        .unwrap();
    let stuck = pool.run(hold, (50,));
    match stuck.wait() {
        Err(error @ Error::TimedOut { .. }) => {
            assert!(matches!(error, Error::TimedOut { limit: reported, .. } if reported == limit));
            // ArkTS's code for a task past its timeout ("Task timed out").
            assert_eq!(error.code(), Some(10200058));
        }
        other => panic!("expected a time-out, got {other:?}"),
    }
    // The stuck thread is retired; a replacement serves new work while it is still blocked.
    assert_eq!(pool.run(quick, ()).wait().unwrap(), 5);
    open_gate(50);
    wait_until("the retired thread leaves", || {
        pool.info().threads.len() == 1
    });
}

/// Set by `spin_until_told_to_stop` once it saw `is_canceled()` and returned.
static STOPPED_AFTER_TIME_OUT: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

#[concurrent]
fn spin_until_told_to_stop() -> u32 {
    while !taskpool::is_canceled() {
        std::thread::sleep(Duration::from_millis(1));
    }
    STOPPED_AFTER_TIME_OUT.store(true, std::sync::atomic::Ordering::SeqCst);
    1
}

#[test]
fn a_task_over_the_time_limit_sees_is_canceled_so_it_can_return() {
    // ArkTS kills a thread over the limit; Rust cannot, so the task is told through
    // `is_canceled()` (the cooperative stop the brief promises) and its thread comes back.
    let pool = TaskPool::builder()
        .max_threads(1)
        .time_limit(support::SHORT_LIMIT)
        .check_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    let spinning = pool.run(spin_until_told_to_stop, ());
    assert!(matches!(spinning.wait(), Err(Error::TimedOut { .. })));
    wait_until("the timed-out task saw is_canceled() and returned", || {
        STOPPED_AFTER_TIME_OUT.load(std::sync::atomic::Ordering::SeqCst)
    });
    wait_until("the retired thread leaves", || {
        pool.info().threads.len() <= 1
    });
    assert_eq!(pool.run(quick, ()).wait().unwrap(), 5);
}

#[test]
fn a_long_task_has_no_time_limit_and_holds_its_thread_until_terminated() {
    let pool = TaskPool::builder()
        .max_threads(2)
        .time_limit(Duration::from_millis(200))
        .idle_timeout(Duration::from_millis(10))
        .check_interval(Duration::from_millis(5))
        .thread_name("longtest")
        .build()
        .unwrap();
    let long = LongTask::new(hold, (60,));
    let long_id = long.id();
    let long_handle = pool.execute(long);
    let other = pool.run(hold, (61,));
    wait_until("both run", || busy_threads(&pool) == 2);
    let holder = thread_executing(&pool, long_id).unwrap();
    let outcome = other.wait();
    assert!(
        matches!(outcome, Err(Error::TimedOut { .. })),
        "{outcome:?}"
    );
    open_gate(61);
    // Well past the limit, the long task is still running.
    wait_until("the ordinary thread retires", || {
        pool.info().threads.len() == 1
    });
    assert!(!long_handle.is_finished());
    open_gate(60);
    assert_eq!(long_handle.wait().unwrap(), 60);
    pool.run(quick, ()).wait().unwrap();
    assert!(
        pool.info().threads.iter().any(|t| t.id == holder),
        "the holder is kept"
    );
    pool.terminate_task(long_id).unwrap();
    assert_eq!(pool.terminate_task(long_id).unwrap_err().code(), Some(401));
}

/// Handles a task is handed (by the test, after executing it) so that it can wait for itself.
static OWN_HANDLES: std::sync::Mutex<Vec<taskpool::TaskHandle<()>>> =
    std::sync::Mutex::new(Vec::new());
/// What those waits gave, as the tasks saw it (their own handle is theirs, not the test's).
static OWN_WAITS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn take_own_handle() -> taskpool::TaskHandle<()> {
    let mut taken = None;
    wait_until("the test hands the task its handle", || {
        taken = OWN_HANDLES.lock().unwrap().pop();
        taken.is_some()
    });
    taken.unwrap()
}

fn report_own_wait(outcome: taskpool::Result<()>) {
    let report = match outcome {
        Err(error @ Error::WaitsForItself(_)) => format!("{error} / code {:?}", error.code()),
        other => format!("unexpected: {other:?}"),
    };
    OWN_WAITS.lock().unwrap().push(report);
}

#[concurrent]
fn wait_for_own_handle() {
    report_own_wait(take_own_handle().wait());
}

#[concurrent]
async fn await_own_handle() {
    report_own_wait(take_own_handle().await);
}

#[concurrent]
fn wait_for_own_handle_with_a_timeout() {
    // Longer than the test's patience: only an answer at once passes.
    let outcome = take_own_handle().wait_timeout(support::PATIENCE * 3);
    report_own_wait(outcome.unwrap_or(Ok(())));
}

/// Before, a task that waited for its own handle hung until the time limit, one that awaited
/// it stayed suspended forever, and one that waited with a timeout waited it out.
#[test]
fn a_task_waiting_for_its_own_handle_is_told_at_once() {
    let pool = TaskPool::builder()
        .max_threads(1)
        .time_limit(support::PATIENCE * 2)
        .build()
        .unwrap();
    for how in 0..3 {
        let handle = match how {
            0 => pool.run(wait_for_own_handle, ()),
            1 => pool.run(await_own_handle, ()),
            _ => pool.run(wait_for_own_handle_with_a_timeout, ()),
        };
        let id = handle.id();
        OWN_HANDLES.lock().unwrap().push(handle);
        let mut report = None;
        wait_until("the task reports its wait", || {
            report = OWN_WAITS.lock().unwrap().pop();
            report.is_some()
        });
        assert_eq!(
            report.unwrap(),
            format!("{} / code None", Error::WaitsForItself(id))
        );
    }
    // The pool's one thread is free again.
    assert!(pool.run(worker_name, ()).wait().is_ok());
}
