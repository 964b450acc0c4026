//! Probes of the core's documented rules and robustness: user `Drop`s that never return,
//! terminate rules, pools dropped from callbacks, pool churn, `info()` under churn.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use support::{PATIENCE, open_gate, pass_gate, threads_named, wait_until};
use taskpool::{Error, LongTask, Task, TaskPool, TaskState, concurrent};

/// A result whose `Drop` blocks until its gate opens (a `Drop` that "never returns" while
/// the gate stays closed).
#[derive(Serialize, Deserialize, Debug)]
struct StuckOnDrop(u64);

impl Drop for StuckOnDrop {
    fn drop(&mut self) {
        pass_gate(self.0);
    }
}

#[concurrent]
fn make_stuck(start: u64, drop_gate: u64) -> StuckOnDrop {
    pass_gate(start);
    StuckOnDrop(drop_gate)
}

#[concurrent]
fn seven() -> u32 {
    7
}

/// A result nobody took, whose `Drop` never returns, ties up the pool thread that drops it:
/// the pool must still run later work (the time limit covers it, or another thread does).
#[test]
fn a_result_whose_drop_never_returns_does_not_stall_the_pool() {
    let pool = TaskPool::builder()
        .max_threads(1)
        .time_limit(Duration::from_millis(200))
        .check_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    let handle = pool.run(make_stuck, (1001, 1002));
    drop(handle);
    open_gate(1001);
    let mut next = pool.run(seven, ());
    let outcome = next.wait_timeout(PATIENCE);
    open_gate(1002);
    assert!(
        matches!(outcome, Some(Ok(7))),
        "a later task must run: {outcome:?}"
    );
}

/// The pool a [`LooksAtPool`] asks for a snapshot when it is dropped.
static LOOKED_AT: Mutex<Option<Arc<TaskPool>>> = Mutex::new(None);
static LOOKED: AtomicUsize = AtomicUsize::new(0);

/// A result whose `Drop` uses the pool that ran it (here: `info()`).
#[derive(Serialize, Deserialize, Debug)]
struct LooksAtPool(u32);

impl Drop for LooksAtPool {
    fn drop(&mut self) {
        let pool = LOOKED_AT.lock().unwrap().clone();
        if let Some(pool) = pool {
            let _ = pool.info();
            LOOKED.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[concurrent]
fn make_looker(start: u64) -> LooksAtPool {
    pass_gate(start);
    LooksAtPool(1)
}

/// A result nobody took is dropped by the pool; its `Drop` may use that pool (user code must
/// not run under the pool's internal lock).
#[test]
fn a_result_whose_drop_uses_the_pool_does_not_deadlock_it() {
    let pool = Arc::new(TaskPool::builder().max_threads(1).build().unwrap());
    *LOOKED_AT.lock().unwrap() = Some(Arc::clone(&pool));
    drop(pool.run(make_looker, (1401,)));
    open_gate(1401);
    wait_until("the result was dropped", || {
        LOOKED.load(Ordering::SeqCst) == 1
    });
    let mut next = pool.run(seven, ());
    assert!(matches!(next.wait_timeout(PATIENCE), Some(Ok(7))));
    LOOKED_AT.lock().unwrap().take();
}

/// A pool that values' `Drop` use, and how many such drops ran: one per test.
struct PoolUser {
    pool: Mutex<Option<Arc<TaskPool>>>,
    drops: AtomicUsize,
}

impl PoolUser {
    const fn new() -> PoolUser {
        PoolUser {
            pool: Mutex::new(None),
            drops: AtomicUsize::new(0),
        }
    }
}

static LISTENED: PoolUser = PoolUser::new();
static CANCELED: PoolUser = PoolUser::new();

/// Captured by a listener: its `Drop` uses the pool that ran the task.
struct UsesPoolOnDrop(&'static PoolUser);

impl Drop for UsesPoolOnDrop {
    fn drop(&mut self) {
        let pool = self.0.pool.lock().unwrap().clone();
        if let Some(pool) = pool {
            let _ = pool.info();
            self.0.drops.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A task executed by value hands its listeners to the run; whoever lets go of the run last
/// drops them. Their captures' `Drop` may use the pool: never under the pool's lock.
#[test]
fn a_listener_capture_whose_drop_uses_the_pool_does_not_deadlock_it() {
    let pool = Arc::new(TaskPool::builder().max_threads(1).build().unwrap());
    *LISTENED.pool.lock().unwrap() = Some(Arc::clone(&pool));
    for round in 0..20 {
        let task = Task::new(seven, ());
        let capture = UsesPoolOnDrop(&LISTENED);
        task.on_enqueued(move || {
            let _ = &capture;
        })
        .unwrap();
        drop(pool.execute(task));
        wait_until("the listener was dropped", || {
            LISTENED.drops.load(Ordering::SeqCst) == round + 1
        });
        let mut next = pool.run(seven, ());
        assert!(matches!(next.wait_timeout(PATIENCE), Some(Ok(7))));
    }
    LISTENED.pool.lock().unwrap().take();
}

/// A run canceled while waiting stays in its lane until a pool thread prunes it; if that is
/// the last reference, its listeners' captures are dropped there: never under the pool's lock.
#[test]
fn a_canceled_waiting_task_s_listener_capture_may_use_the_pool_when_dropped() {
    let pool = Arc::new(TaskPool::builder().max_threads(1).build().unwrap());
    *CANCELED.pool.lock().unwrap() = Some(Arc::clone(&pool));
    let blocker = pool.run(hold, (1501,));
    wait_until("the blocker runs", || support::busy_threads(&pool) == 1);
    let task = Task::new(seven, ());
    let capture = UsesPoolOnDrop(&CANCELED);
    // A listener that never fires (the task never runs): nothing else holds the capture.
    task.on_execution_succeeded(move || {
        let _ = &capture;
    })
    .unwrap();
    let id = task.id();
    drop(pool.execute(task));
    pool.cancel(id).unwrap();
    open_gate(1501);
    assert_eq!(blocker.wait().unwrap(), 1501);
    wait_until("the listener was dropped", || {
        CANCELED.drops.load(Ordering::SeqCst) == 1
    });
    let mut next = pool.run(seven, ());
    assert!(matches!(next.wait_timeout(PATIENCE), Some(Ok(7))));
    CANCELED.pool.lock().unwrap().take();
}

#[concurrent]
fn hold(gate: u64) -> u64 {
    pass_gate(gate);
    gate
}

/// `terminate_task` names a long task: an ordinary task, running or finished, is not one.
#[test]
fn terminate_task_refuses_ordinary_and_unknown_tasks_with_401() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let running = pool.run(hold, (1101,));
    let id = running.id();
    wait_until("it runs", || {
        pool.info()
            .tasks
            .iter()
            .any(|t| t.task_id == id && t.state == TaskState::Running)
    });
    assert_eq!(pool.terminate_task(id).unwrap_err().code(), Some(401));
    open_gate(1101);
    assert_eq!(running.wait().unwrap(), 1101);
    assert_eq!(pool.terminate_task(id).unwrap_err().code(), Some(401));
}

/// A long task terminated after it ran lets its thread go; terminating twice is 401.
#[test]
fn a_terminated_long_task_s_thread_is_released() {
    let pool = TaskPool::builder()
        .max_threads(2)
        .idle_timeout(Duration::from_millis(1))
        .check_interval(Duration::from_millis(2))
        .build()
        .unwrap();
    let long = LongTask::new(hold, (1201,));
    let long_id = long.id();
    let long_handle = pool.execute(long);
    let other = pool.run(hold, (1202,));
    wait_until("both run", || support::busy_threads(&pool) == 2);
    open_gate(1201);
    open_gate(1202);
    assert_eq!(long_handle.wait().unwrap(), 1201);
    assert_eq!(other.wait().unwrap(), 1202);
    // Both idle; one thread stays anyway. Terminating lets the holder go too.
    pool.terminate_task(long_id).unwrap();
    wait_until("down to one thread", || pool.thread_count() == 1);
    assert_eq!(pool.terminate_task(long_id).unwrap_err().code(), Some(401));
    assert_eq!(pool.run(seven, ()).wait().unwrap(), 7);
}

/// Dropping the pool from one of its own host callbacks (run on the pool's callback thread)
/// must not hang nor panic.
#[test]
fn a_pool_dropped_from_its_own_callback_shuts_down() {
    let pool = TaskPool::builder().thread_name("cbdrop").build().unwrap();
    let slot: Arc<Mutex<Option<TaskPool>>> = Arc::new(Mutex::new(None));
    let done = Arc::new(AtomicUsize::new(0));
    let task = Task::new(seven, ());
    {
        let slot = Arc::clone(&slot);
        let done = Arc::clone(&done);
        task.on_execution_succeeded(move || {
            let pool = slot.lock().unwrap().take();
            drop(pool);
            done.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    // In the slot before it runs: the callback may come at once.
    *slot.lock().unwrap() = Some(pool);
    let handle = slot.lock().unwrap().as_ref().unwrap().execute(task);
    assert_eq!(handle.wait().unwrap(), 7);
    wait_until("the callback dropped the pool", || {
        done.load(Ordering::SeqCst) == 1
    });
    let deadline = std::time::Instant::now() + PATIENCE;
    while threads_named("cbdrop") != 0 {
        if std::time::Instant::now() > deadline {
            let names: Vec<String> = std::fs::read_dir("/proc/self/task")
                .unwrap()
                .filter_map(Result::ok)
                .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
                .filter(|n| n.starts_with("cbdrop"))
                .collect();
            panic!("threads left: {names:?}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Thousands of pools, each used once, then dropped: no thread of theirs stays behind.
#[test]
fn thousands_of_pools_leave_no_thread_behind() {
    for round in 0..2000u32 {
        let pool = TaskPool::builder()
            .thread_name("churnpool")
            .max_threads(2)
            .build()
            .unwrap();
        assert_eq!(pool.run(seven, ()).wait().unwrap(), 7, "round {round}");
        if round % 2 == 0 {
            let task = Task::new(seven, ());
            task.on_start_execution(|| {}).unwrap();
            assert_eq!(pool.execute(task).wait().unwrap(), 7);
        }
        drop(pool);
    }
    // Every pool thread was joined; /proc may show a joined thread for a moment longer.
    wait_until("every pool thread is gone", || {
        threads_named("churnpool") == 0
    });
}

#[concurrent]
fn tiny(n: u32) -> u32 {
    n
}

/// Under churn, a snapshot lists each task once, and a thread's current task is listed.
#[test]
fn info_lists_each_task_once_under_churn() {
    let pool = Arc::new(TaskPool::builder().max_threads(3).build().unwrap());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let submitters: Vec<_> = (0..2)
        .map(|_| {
            let pool = Arc::clone(&pool);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let handles: Vec<_> = (0..50).map(|i| pool.run(tiny, (i,))).collect();
                    for (i, handle) in handles.into_iter().enumerate() {
                        if i % 7 == 0 {
                            let _ = handle.cancel();
                        }
                        let _ = handle.wait();
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    for _ in 0..2000 {
        let info = pool.info();
        let mut seen = std::collections::HashSet::new();
        for task in info.tasks.iter().filter(|t| t.state != TaskState::Canceled) {
            assert!(seen.insert(task.task_id), "listed twice: {info:?}");
        }
        assert!(info.threads.len() <= 5, "{info:?}");
    }
    stop.store(true, Ordering::Relaxed);
    for s in submitters {
        s.join().unwrap();
    }
}

/// A handle `.await`ed on another thread's executor resolves when its pool is dropped.
#[test]
fn a_handle_awaited_elsewhere_resolves_when_its_pool_is_dropped() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let blocker = pool.run(hold, (1301,));
    let queued = pool.run(seven, ());
    let waiter = std::thread::spawn(move || futures::executor::block_on(queued));
    wait_until("the blocker runs", || support::busy_threads(&pool) == 1);
    let dropper = std::thread::spawn(move || drop(pool));
    let outcome = waiter.join().unwrap();
    assert!(
        matches!(outcome, Err(Error::Canceled { started: false, .. })),
        "{outcome:?}"
    );
    open_gate(1301);
    dropper.join().unwrap();
    assert_eq!(blocker.wait().unwrap(), 1301);
}

#[concurrent]
fn make_bomb(gate: u64, id: u32) -> support::Bomb {
    pass_gate(gate);
    support::Bomb(id)
}

/// A result that comes after its run timed out (nobody will take it) and whose `Drop`
/// panics: contained; the pool goes on and every handle resolves.
#[test]
fn a_late_result_after_a_time_out_whose_drop_panics_is_contained() {
    let pool = TaskPool::builder()
        .max_threads(1)
        .time_limit(support::SHORT_LIMIT)
        .check_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    let mut late = pool.run(make_bomb, (1601, 1601));
    assert!(matches!(
        late.wait_timeout(PATIENCE),
        Some(Err(Error::TimedOut { .. }))
    ));
    open_gate(1601);
    wait_until("the late result was dropped", || support::dropped(1601));
    for _ in 0..3 {
        assert_eq!(pool.run(seven, ()).wait().unwrap(), 7);
    }
}

/// A running task canceled, its handle dropped, its late result's `Drop` panics: contained.
#[test]
fn a_canceled_running_task_s_unclaimed_late_result_whose_drop_panics_is_contained() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let handle = pool.run(make_bomb, (1701, 1701));
    let id = handle.id();
    wait_until("it runs", || support::busy_threads(&pool) == 1);
    pool.cancel(id).unwrap();
    drop(handle);
    open_gate(1701);
    wait_until("the late result was dropped", || support::dropped(1701));
    assert_eq!(pool.run(seven, ()).wait().unwrap(), 7);
    assert_eq!(pool.cancel(id).unwrap_err().code(), Some(10200015));
}

/// Handles dropped early, in every state, from several threads at once: every result is
/// dropped exactly once (none leaks in the pool), and the pool goes on.
#[test]
fn handles_dropped_early_from_many_threads_drop_each_result_once() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    #[derive(Serialize, Deserialize, Debug)]
    struct Counted(u32);
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }
    #[concurrent]
    fn counted(n: u32) -> Counted {
        Counted(n)
    }
    let pool = Arc::new(TaskPool::builder().max_threads(3).build().unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || {
                for i in 0..500u32 {
                    let handle = pool.run(counted, (i,));
                    match (i + t) % 3 {
                        0 => drop(handle),
                        1 => {
                            std::thread::yield_now();
                            drop(handle)
                        }
                        _ => drop(handle.wait().unwrap()),
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    wait_until("every result was dropped once", || {
        DROPS.load(Ordering::SeqCst) == 2000
    });
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(DROPS.load(Ordering::SeqCst), 2000, "never twice");
}

/// A run that timed out is over for the API (its handle resolved, `info()` lists it as
/// canceled; ArkTS kills its thread): canceling it is 10200015, as for a finished run, even
/// while its call still runs on the retired thread.
#[test]
fn canceling_a_timed_out_run_whose_call_still_runs_is_10200015() {
    let pool = TaskPool::builder()
        .max_threads(1)
        .time_limit(Duration::from_millis(50))
        .check_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    let mut stuck = pool.run(hold, (1801,));
    let id = stuck.id();
    assert!(matches!(
        stuck.wait_timeout(PATIENCE),
        Some(Err(Error::TimedOut { .. }))
    ));
    let second = pool.cancel(id);
    let listed = support::states_of(&pool, id);
    open_gate(1801);
    assert_eq!(listed, [TaskState::Canceled], "info() shows it over");
    assert_eq!(second.unwrap_err().code(), Some(10200015));
}

/// The pool a task of another pool drops (see `drop_the_other_pool`).
static OTHER_POOL: Mutex<Option<TaskPool>> = Mutex::new(None);

#[concurrent]
fn drop_the_other_pool() -> bool {
    let other = OTHER_POOL.lock().unwrap().take();
    let found = other.is_some();
    drop(other);
    found
}

/// A task of one pool drops another pool whose call is still running: the drop waits for that
/// call, then every thread of the other pool is gone and both pools' handles resolve.
#[test]
fn a_pool_dropped_by_another_pool_s_task_waits_for_its_calls_and_leaves_no_thread() {
    let first = TaskPool::builder().max_threads(2).build().unwrap();
    let other = TaskPool::builder()
        .thread_name("otherpool")
        .max_threads(2)
        .build()
        .unwrap();
    let running = other.run(hold, (1901,));
    let queued = other.run(hold, (1902,));
    wait_until("its first call runs", || support::busy_threads(&other) >= 1);
    *OTHER_POOL.lock().unwrap() = Some(other);
    let dropper = first.run(drop_the_other_pool, ());
    open_gate(1901);
    open_gate(1902);
    assert!(dropper.wait().unwrap());
    assert_eq!(running.wait().unwrap(), 1901);
    // The second ran, or was canceled by the shutdown before it started.
    match queued.wait() {
        Ok(1902) | Err(Error::Canceled { started: false, .. }) => {}
        other => panic!("{other:?}"),
    }
    // Joined, yet Linux may list an exited thread for a moment longer.
    wait_until("its threads are gone", || threads_named("otherpool") == 0);
    assert_eq!(first.run(seven, ()).wait().unwrap(), 7);
}

#[concurrent]
fn boom() -> u32 {
    panic!("boom")
}

/// A run that panicked, or was canceled while running, has ended: `is_done()` and durations.
#[test]
fn a_panicked_or_canceled_running_run_is_done_with_durations() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let panicking = Task::new(boom, ());
    assert!(matches!(
        pool.execute(&panicking).wait(),
        Err(Error::Panicked { .. })
    ));
    assert!(panicking.is_done());
    let durations = panicking.durations().expect("a panicked run has durations");
    assert_eq!(durations.total, durations.cpu + durations.io);

    let held = Task::new(hold, (2001,));
    let handle = pool.execute(&held);
    wait_until("it runs", || support::busy_threads(&pool) == 1);
    handle.cancel().unwrap();
    assert!(!held.is_done(), "still running");
    open_gate(2001);
    assert!(matches!(
        handle.wait(),
        Err(Error::Canceled { started: true, .. })
    ));
    assert!(held.is_done());
    assert!(held.durations().is_some());
}
