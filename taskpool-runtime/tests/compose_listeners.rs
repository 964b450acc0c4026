//! Lifecycle listeners: called once per run, in order (enqueued, started, succeeded/failed), on
//! the pool's callback thread; refused once the task was executed (10200034).

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use support::{open_gate, pass_gate, wait_until};
use taskpool::{Task, TaskPool, concurrent, send_data};

#[concurrent]
fn work(fail: bool) -> Result<u32, String> {
    send_data(1u32).unwrap();
    if fail { Err("bad input".into()) } else { Ok(2) }
}

#[concurrent]
fn gate(id: u64) {
    pass_gate(id);
}

type Log = Arc<Mutex<Vec<String>>>;

fn listen<T>(task: &Task<T>, log: &Log) {
    let l = Arc::clone(log);
    task.on_enqueued(move || l.lock().unwrap().push("enqueued".into()))
        .unwrap();
    let l = Arc::clone(log);
    task.on_start_execution(move || l.lock().unwrap().push("started".into()))
        .unwrap();
    let l = Arc::clone(log);
    task.on_execution_succeeded(move || l.lock().unwrap().push("succeeded".into()))
        .unwrap();
    let l = Arc::clone(log);
    task.on_execution_failed(move |e| l.lock().unwrap().push(format!("failed: {e}")))
        .unwrap();
}

#[test]
fn listeners_and_data_run_once_per_run_in_order() {
    let pool = TaskPool::builder()
        .max_threads(1)
        .thread_name("lsn")
        .build()
        .unwrap();
    let log: Log = Arc::default();
    let task = Task::new(work, (false,));
    listen(&task, &log);
    let l = Arc::clone(&log);
    task.on_receive_data(move |v: u32| {
        assert_eq!(std::thread::current().name(), Some("lsn-callbacks"));
        l.lock().unwrap().push(format!("data {v}"));
    });
    assert_eq!(pool.execute(&task).wait().unwrap(), 2);
    wait_until("four events", || log.lock().unwrap().len() == 4);
    assert_eq!(
        *log.lock().unwrap(),
        ["enqueued", "started", "data 1", "succeeded"]
    );
    // Refused once executed.
    assert_eq!(task.on_enqueued(|| {}).unwrap_err().code(), Some(10200034));
    // A second run reports again, once each.
    pool.execute(&task).wait().unwrap();
    wait_until("eight events", || log.lock().unwrap().len() == 8);
    assert_eq!(
        log.lock().unwrap()[4..],
        ["enqueued", "started", "data 1", "succeeded"]
    );
}

#[test]
fn a_failed_run_reports_its_error() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let log: Log = Arc::default();
    let task = Task::new(work, (true,));
    listen(&task, &log);
    task.on_receive_data(|_: u32| {});
    assert!(pool.execute(task).wait().is_err());
    wait_until("three events", || log.lock().unwrap().len() == 3);
    let log = log.lock().unwrap();
    assert_eq!(log[..2], ["enqueued", "started"]);
    assert!(
        log[2].starts_with("failed: ") && log[2].contains("bad input"),
        "{log:?}"
    );
}

#[test]
fn a_run_canceled_while_waiting_only_reports_the_failure() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let blocker = pool.execute(Task::new(gate, (81,)));
    let log: Log = Arc::default();
    let task = Task::new(work, (false,));
    listen(&task, &log);
    let handle = pool.execute(task);
    handle.cancel().unwrap();
    open_gate(81);
    blocker.wait().unwrap();
    assert!(handle.wait().unwrap_err().is_canceled());
    wait_until("two events", || log.lock().unwrap().len() == 2);
    let log = log.lock().unwrap();
    assert_eq!(log[0], "enqueued");
    assert!(log[1].contains("canceled"), "{log:?}");
}

#[test]
fn a_panicking_listener_is_contained() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let log: Log = Arc::default();
    let task = Task::new(work, (false,));
    task.on_enqueued(|| panic!("listener panics on purpose"))
        .unwrap();
    let l = Arc::clone(&log);
    task.on_execution_succeeded(move || l.lock().unwrap().push("succeeded".into()))
        .unwrap();
    task.on_receive_data(|_: u32| {});
    assert_eq!(pool.execute(task).wait().unwrap(), 2);
    wait_until("the success", || log.lock().unwrap().len() == 1);
}

/// Arguments whose `Clone` panics: a run of the task by reference fails when it starts and
/// copies them.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Uncopyable(u32);

impl Clone for Uncopyable {
    fn clone(&self) -> Uncopyable {
        panic!("Uncopyable cannot be cloned");
    }
}

#[concurrent]
fn uncopyable(u: Uncopyable) -> u32 {
    u.0
}

/// A run by reference copies its arguments when it starts, on its pool thread: a copy that
/// panics fails that run, heard by the task's listeners as any failed run is, after it was
/// enqueued and started (a periodic tick's run does the same).
#[test]
fn a_run_whose_copy_panics_reports_its_start_then_the_failure() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let log: Log = Arc::default();
    let task = Task::new(uncopyable, (Uncopyable(4),));
    listen(&task, &log);
    let error = pool.execute(&task).wait().unwrap_err();
    assert!(error.to_string().contains("cannot be cloned"), "{error}");
    wait_until("the failure is reported", || log.lock().unwrap().len() == 3);
    let log = log.lock().unwrap();
    assert_eq!(log[..2], ["enqueued", "started"]);
    assert!(
        log[2].starts_with("failed: ") && log[2].contains("cannot be cloned"),
        "{log:?}"
    );
}

#[concurrent]
fn gate_then_fail(id: u64) -> Result<u32, String> {
    pass_gate(id);
    Err("late failure".into())
}

#[test]
fn a_run_canceled_while_running_reports_so_with_its_late_error() {
    // The listener's copy of the error must tell what happened: canceled while running, with
    // the late outcome (here an error, which can be copied), not "stopped where it waited".
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    // The listener's message, and the late error's.
    type Seen = Option<(String, Option<String>)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let task = Task::new(gate_then_fail, (83,));
    let s = Arc::clone(&seen);
    task.on_execution_failed(move |error| {
        let late = match error {
            taskpool::Error::Canceled {
                late: Some(late), ..
            } => late.error().map(ToString::to_string),
            _ => None,
        };
        *s.lock().unwrap() = Some((error.to_string(), late));
    })
    .unwrap();
    let handle = pool.execute(&task);
    wait_until("it runs", || {
        pool.info()
            .tasks
            .iter()
            .any(|t| t.task_id == task.id() && t.state == taskpool::TaskState::Running)
    });
    handle.cancel().unwrap();
    open_gate(83);
    assert!(handle.wait().unwrap_err().is_canceled());
    wait_until("the failure is reported", || seen.lock().unwrap().is_some());
    let (message, late) = seen.lock().unwrap().take().unwrap();
    assert!(message.contains("while running"), "{message}");
    assert!(late.is_some_and(|late| late.contains("late failure")));
}

static LANE_CALLS: AtomicUsize = AtomicUsize::new(0);
static LANE_ACTIVE: AtomicUsize = AtomicUsize::new(0);
static LANE_OVERLAPS: AtomicUsize = AtomicUsize::new(0);
static FENCE_PASSED: AtomicBool = AtomicBool::new(false);

/// DESIGN.md, "Groups, runners, timing": host-side callbacks never run concurrently for one
/// task, even when its runs are on two pools (each pool has its own callback thread). The first
/// run's callback blocks on a gate; while it does, the second run's callback must wait. A
/// callback of another task, posted to the second pool after it, shows without a clock that
/// the second pool's callback thread went past it (it runs its callbacks in posting order).
#[test]
fn the_callbacks_of_one_task_run_on_two_pools_never_overlap() {
    let a = TaskPool::builder().max_threads(1).build().unwrap();
    let b = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(work, (false,));
    task.on_receive_data(|_: u32| {});
    task.on_start_execution(|| {
        let call = LANE_CALLS.fetch_add(1, Ordering::SeqCst);
        if LANE_ACTIVE.fetch_add(1, Ordering::SeqCst) != 0 {
            LANE_OVERLAPS.fetch_add(1, Ordering::SeqCst);
        }
        if call == 0 {
            pass_gate(7_301);
        }
        LANE_ACTIVE.fetch_sub(1, Ordering::SeqCst);
    })
    .unwrap();
    a.execute(&task).wait().unwrap();
    wait_until("the first run's callback runs", || {
        LANE_CALLS.load(Ordering::SeqCst) == 1
    });
    b.execute(&task).wait().unwrap();
    let fence = Task::new(work, (false,));
    fence.on_receive_data(|_: u32| {});
    fence
        .on_start_execution(|| FENCE_PASSED.store(true, Ordering::SeqCst))
        .unwrap();
    b.execute(fence).wait().unwrap();
    wait_until("the second pool's callbacks ran up to the fence", || {
        FENCE_PASSED.load(Ordering::SeqCst)
    });
    assert_eq!(
        LANE_CALLS.load(Ordering::SeqCst),
        1,
        "the second run's callback ran while the first one's was running"
    );
    open_gate(7_301);
    wait_until("the second run's callback runs", || {
        LANE_CALLS.load(Ordering::SeqCst) == 2
    });
    assert_eq!(LANE_OVERLAPS.load(Ordering::SeqCst), 0);
}

/// ArkTS does not report a periodic task's runs to `onExecutionSucceeded` (nor failures to
/// `onExecutionFailed`); here every run of a periodic task is reported, as any run is.
#[concurrent]
fn tick() -> u32 {
    2
}

#[test]
fn every_successful_run_of_a_periodic_task_is_reported() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(tick, ());
    let succeeded = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&succeeded);
    task.on_execution_succeeded(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    let periodic = pool
        .execute_periodically(
            std::time::Duration::from_millis(2),
            task,
            taskpool::Priority::Medium,
        )
        .unwrap();
    wait_until("three runs reported", || {
        succeeded.load(Ordering::SeqCst) >= 3
    });
    periodic.cancel().unwrap();
}
