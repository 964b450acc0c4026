//! Shutting a pool down: dropping it never waits for a call that timed out (before or during the
//! drop), `shutdown_timeout` bounds the wait and resolves what it gives up on, an idle pool's
//! threads are all joined, and every handle resolves saying what happened.

mod support;

use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use support::{
    PATIENCE, StallOnDrop, bounded, hold, nap, open_gate, pass_gate, plain, threads_named,
    wait_until, wait_until_suspended,
};
use taskpool::{Error, LongTask, Priority, Task, TaskPool, concurrent};

/// Per call slot: the call is inside its gate, and the call has left it (returned or unwound).
static ENTERED: [AtomicBool; 4] = [
    AtomicBool::new(false),
    AtomicBool::new(false),
    AtomicBool::new(false),
    AtomicBool::new(false),
];
static LEFT: [AtomicBool; 4] = [
    AtomicBool::new(false),
    AtomicBool::new(false),
    AtomicBool::new(false),
    AtomicBool::new(false),
];

/// Sets `LEFT[slot]` when the call leaves, even by unwinding (`pass_gate` gives up eventually).
struct Leaves(usize);

impl Drop for Leaves {
    fn drop(&mut self) {
        LEFT[self.0].store(true, Ordering::SeqCst);
    }
}

/// Blocks on gate `slot` (the gates of this file are numbered like the slots).
#[concurrent]
fn stuck(slot: usize) -> usize {
    let _leaves = Leaves(slot);
    ENTERED[slot].store(true, Ordering::SeqCst);
    pass_gate(slot as u64);
    slot
}

fn assert_still_stuck(slot: usize) {
    assert!(
        !LEFT[slot].load(Ordering::SeqCst),
        "the shutdown returned only after the stuck call did"
    );
}

/// Lets the detached thread finish.
fn release(slot: usize) {
    open_gate(slot as u64);
    wait_until("the detached call returns", || {
        LEFT[slot].load(Ordering::SeqCst)
    });
}

#[test]
fn dropping_a_pool_does_not_wait_for_a_call_that_timed_out() {
    let pool = TaskPool::builder()
        .max_threads(1)
        .time_limit(Duration::from_millis(50))
        .build()
        .unwrap();
    let mut handle = pool.run(stuck, (0,));
    match handle.wait_timeout(PATIENCE) {
        Some(Err(Error::TimedOut { .. })) => {}
        other => panic!("expected a time-out, got {other:?}"),
    }
    drop(pool);
    // The gate is still closed: the drop returned without the call.
    assert_still_stuck(0);
    release(0);
}

#[test]
fn dropping_a_pool_stops_waiting_for_a_call_that_times_out_meanwhile() {
    let pool = TaskPool::builder()
        .max_threads(1)
        .time_limit(Duration::from_millis(50))
        .build()
        .unwrap();
    let mut handle = pool.run(stuck, (1,));
    wait_until("the call is stuck", || ENTERED[1].load(Ordering::SeqCst));
    // The time limit still applies while the drop waits for the executing call.
    drop(pool);
    assert_still_stuck(1);
    match handle.wait_timeout(PATIENCE) {
        Some(Err(Error::TimedOut { .. })) => {}
        other => panic!("expected a time-out, got {other:?}"),
    }
    release(1);
}

#[test]
fn shutdown_timeout_detaches_a_call_that_never_returns() {
    let pool = TaskPool::builder()
        .max_threads(1)
        .time_limit(Duration::from_millis(50))
        .build()
        .unwrap();
    // A long task has no time limit: only the shutdown's own bound ends the wait.
    let mut handle = pool.execute(LongTask::new(stuck, (2,)));
    wait_until("the long call is stuck", || {
        ENTERED[2].load(Ordering::SeqCst)
    });
    pool.shutdown_timeout(Duration::from_millis(50));
    assert_still_stuck(2);
    match handle.wait_timeout(PATIENCE) {
        Some(Err(Error::PoolShutDown)) => {}
        other => panic!("expected PoolShutDown, got {other:?}"),
    }
    release(2);
}

/// Threads that ran `note_thread`, and how many of them have since ended.
static NOTED: AtomicUsize = AtomicUsize::new(0);
static ENDED: AtomicUsize = AtomicUsize::new(0);

/// A thread-local whose destructor runs when its thread ends, before a join of it returns.
struct ThreadEnd;

impl Drop for ThreadEnd {
    fn drop(&mut self) {
        ENDED.fetch_add(1, Ordering::SeqCst);
    }
}

thread_local! {
    static END: ThreadEnd = {
        NOTED.fetch_add(1, Ordering::SeqCst);
        ThreadEnd
    };
    static MET_HERE: Cell<bool> = const { Cell::new(false) };
}

static ARRIVED: AtomicUsize = AtomicUsize::new(0);

/// Notes its thread, and returns once `parties` calls are inside it at once (so each runs on a
/// thread of its own).
#[concurrent]
fn note_thread(parties: usize) -> bool {
    END.with(|_| ());
    let first_here = !MET_HERE.replace(true);
    ARRIVED.fetch_add(1, Ordering::SeqCst);
    wait_until("every party arrives", || {
        ARRIVED.load(Ordering::SeqCst) >= parties
    });
    first_here
}

#[test]
fn shutdown_timeout_joins_every_thread_of_an_idle_pool() {
    let pool = TaskPool::builder()
        .max_threads(3)
        .thread_name("sdjoin")
        .build()
        .unwrap();
    let parties: Vec<_> = (0..3).map(|_| pool.run(note_thread, (3,))).collect();
    for handle in parties {
        assert!(handle.wait().unwrap(), "each party ran on its own thread");
    }
    assert_eq!(pool.run(plain, (1,)).wait().unwrap(), 1);
    assert_eq!(NOTED.load(Ordering::SeqCst), 3);
    // A thread names itself when it starts.
    wait_until("three workers and the supervisor run", || {
        threads_named("sdjoin") == 4
    });
    pool.shutdown_timeout(PATIENCE);
    // Joined: each worker's thread-local destructors ran before the shutdown returned.
    assert_eq!(ENDED.load(Ordering::SeqCst), 3, "every worker thread ended");
    // The kernel may list an ended thread for a moment after it was joined.
    wait_until("no thread of the pool is left", || {
        threads_named("sdjoin") == 0
    });
}

#[test]
fn a_task_abandoned_at_shutdown_after_it_started_says_so() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let mut handle = pool.run(nap, ());
    wait_until_suspended(&pool, handle.id());
    drop(pool);
    match handle.wait_timeout(PATIENCE) {
        Some(Err(
            error @ Error::Canceled {
                started: true,
                late: None,
                ..
            },
        )) => {
            let message = error.to_string();
            assert!(!message.contains("before it started"), "{message}");
            assert!(message.contains("after it started"), "{message}");
        }
        other => panic!("expected a cancel after start, got {other:?}"),
    }
}

#[test]
fn waiting_runs_at_shutdown_resolve_canceled_before_they_started() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let blocker = pool.run(hold, (10,));
    wait_until("the blocker executes", || {
        pool.info()
            .threads
            .iter()
            .any(|t| t.task_ids.contains(&blocker.id()))
    });
    let watched = pool.run(plain, (1,));
    let mut waiting: Vec<_> = (2..5).map(|x| pool.run(plain, (x,))).collect();
    // The blocker returns once the shutdown has begun, so the drop's wait for it ends.
    let watcher = std::thread::spawn(move || {
        wait_until("the shutdown cancels the queue", || watched.is_finished());
        open_gate(10);
        watched
    });
    drop(pool);
    waiting.push(watcher.join().unwrap());
    for handle in &mut waiting {
        match handle.wait_timeout(PATIENCE) {
            Some(Err(
                error @ Error::Canceled {
                    started: false,
                    late: None,
                    ..
                },
            )) => assert!(error.to_string().contains("before it started"), "{error}"),
            other => panic!("expected a cancel before start, got {other:?}"),
        }
    }
    assert_eq!(blocker.wait().unwrap(), 10);
}

/// Pools dropped from inside one of their own tasks, by slot (gate `20 + slot`).
static OWN_POOLS: Mutex<[Option<TaskPool>; 3]> = Mutex::new([None, None, None]);
static DROPPED_INSIDE: [AtomicBool; 3] = [
    AtomicBool::new(false),
    AtomicBool::new(false),
    AtomicBool::new(false),
];

/// Shuts down the pool it runs on — the last handle to it — and goes on.
fn shut_down_own_pool(slot: usize, bounded: bool) {
    let pool = OWN_POOLS.lock().unwrap()[slot].take().unwrap();
    if bounded {
        pool.shutdown_timeout(Duration::from_secs(3600));
    } else {
        drop(pool);
    }
    DROPPED_INSIDE[slot].store(true, Ordering::SeqCst);
}

#[concurrent]
fn drop_own_pool(slot: usize, bounded: bool) -> usize {
    pass_gate(20 + slot as u64);
    shut_down_own_pool(slot, bounded);
    slot
}

#[concurrent]
async fn drop_own_pool_async(slot: usize) -> usize {
    pass_gate(20 + slot as u64);
    taskpool::sleep(Duration::from_millis(1)).await;
    // Resumed by a poll: shut down in the middle of it.
    shut_down_own_pool(slot, false);
    slot
}

#[test]
fn a_pool_shut_down_inside_its_own_task_does_not_wait_for_that_task() {
    for (slot, bounded) in [(0, false), (1, true), (2, false)] {
        let name = format!("sdself{slot}");
        let pool = TaskPool::builder()
            .max_threads(2)
            .thread_name(name.clone())
            .build()
            .unwrap();
        let mut handle = if slot == 2 {
            pool.run(drop_own_pool_async, (slot,))
        } else {
            pool.run(drop_own_pool, (slot, bounded))
        };
        let other = pool.run(plain, (7,));
        assert_eq!(other.wait().unwrap(), 7);
        OWN_POOLS.lock().unwrap()[slot] = Some(pool);
        open_gate(20 + slot as u64);
        // It waited for the supervisor, which leaves with the last pool thread — the caller's:
        // a drop hung for the time limit (3 minutes), a bounded shutdown for its timeout.
        wait_until("the shutdown inside the task returns", || {
            DROPPED_INSIDE[slot].load(Ordering::SeqCst)
        });
        // The task was not given up on: it returned, with its own outcome.
        match handle.wait_timeout(PATIENCE) {
            Some(Ok(value)) => assert_eq!(value, slot),
            other => panic!("slot {slot}: expected the task's value, got {other:?}"),
        }
        wait_until("no thread of the pool is left", || {
            threads_named(&format!("{name}-")) == 0
        });
    }
}

/// Pool threads that noted themselves in `note_leaving`, and how many have since ended.
static LEAVERS: AtomicUsize = AtomicUsize::new(0);
static LEFT_FOR_GOOD: AtomicUsize = AtomicUsize::new(0);

struct LeaverEnd;

impl Drop for LeaverEnd {
    fn drop(&mut self) {
        LEFT_FOR_GOOD.fetch_add(1, Ordering::SeqCst);
    }
}

thread_local! {
    static LEAVER: LeaverEnd = {
        LEAVERS.fetch_add(1, Ordering::SeqCst);
        LeaverEnd
    };
}

#[concurrent]
fn note_leaving() {
    LEAVER.with(|_| ());
}

#[test]
fn a_shutdown_joins_threads_that_are_leaving_as_it_looks() {
    // A pool thread leaving at shutdown was forgotten by the pool before it said it had exited:
    // a shutdown looking in between neither waited for it nor joined it, and returned while
    // the thread was still running (its thread-locals not yet destroyed).
    for round in 0..1000 {
        let pool = TaskPool::builder().max_threads(2).build().unwrap();
        let handles: Vec<_> = (0..4).map(|_| pool.run(note_leaving, ())).collect();
        for handle in handles {
            handle.wait().unwrap();
        }
        pool.shutdown_timeout(PATIENCE);
        assert_eq!(
            LEFT_FOR_GOOD.load(Ordering::SeqCst),
            LEAVERS.load(Ordering::SeqCst),
            "round {round}: a thread outlived the shutdown"
        );
    }
}

/// A pool kept in a thread-local, used and dropped by its destructor as the thread exits.
struct PoolOnDrop(Option<TaskPool>);

impl Drop for PoolOnDrop {
    fn drop(&mut self) {
        if let Some(pool) = self.0.take() {
            assert_eq!(pool.run(support::plain, (3,)).wait().unwrap(), 3);
            assert_eq!(taskpool::current_task_id(), None);
            drop(pool);
        }
    }
}

thread_local! {
    static POOL_ON_DROP: std::cell::RefCell<PoolOnDrop> =
        const { std::cell::RefCell::new(PoolOnDrop(None)) };
}

#[test]
fn a_pool_used_and_dropped_in_a_thread_local_destructor_does_not_abort_the_process() {
    // The destructor runs after the runtime's own thread-locals of this thread are gone (they
    // were made after it was registered): the pool must not read them as if they were there.
    std::thread::spawn(|| {
        POOL_ON_DROP.with(|_| {});
        let pool = TaskPool::builder().max_threads(1).build().unwrap();
        assert_eq!(pool.run(support::plain, (1,)).wait().unwrap(), 1);
        POOL_ON_DROP.with(|slot| slot.borrow_mut().0 = Some(pool));
    })
    .join()
    .unwrap();
}

/// A shutdown out of time while the callback thread runs a slow callback does not lose the
/// callbacks queued behind it: the thread, no longer waited for, runs them once the slow one
/// returns, then ends.
#[test]
fn callbacks_queued_behind_a_slow_one_still_run_after_an_impatient_shutdown() {
    const SLOW: u64 = 64_901;
    let pool = TaskPool::builder()
        .max_threads(1)
        .thread_name("cbslow")
        .build()
        .unwrap();
    let slow = taskpool::Task::new(plain, (1,));
    slow.on_execution_succeeded(|| pass_gate(SLOW)).unwrap();
    let heard = std::sync::Arc::new(AtomicUsize::new(0));
    let later = taskpool::Task::new(plain, (2,));
    let noted = std::sync::Arc::clone(&heard);
    later
        .on_execution_succeeded(move || {
            noted.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    assert_eq!(pool.execute(slow).wait().unwrap(), 1);
    assert_eq!(pool.execute(later).wait().unwrap(), 2);
    // The slow callback holds the callback thread: out of time at once.
    pool.shutdown_timeout(Duration::ZERO);
    open_gate(SLOW);
    wait_until("the callback behind the slow one ran", || {
        heard.load(Ordering::SeqCst) == 1
    });
    wait_until("the callback thread ended", || threads_named("cbslow") == 0);
}

#[concurrent]
fn take_stall(_value: StallOnDrop) {}

/// Regression: a delayed task's arguments were dropped on the thread shutting the pool down,
/// as the shutdown began, so a `Drop` that blocks held `shutdown_timeout` past its bound. They
/// are dropped with the arguments of the other tasks that never ran, within the bound.
#[test]
fn a_blocking_argument_of_a_delayed_task_does_not_hold_up_shutdown_timeout() {
    const GATE: u64 = 40;
    let pool = TaskPool::builder().build().unwrap();
    let task = Task::new(take_stall, (StallOnDrop(GATE),));
    let mut handle = pool.execute_delayed(Duration::from_secs(3600), task, Priority::Medium);
    bounded(
        "the shutdown, while the argument's Drop blocks",
        move || {
            pool.shutdown_timeout(Duration::from_millis(20));
        },
    );
    let outcome = handle.wait_timeout(PATIENCE).expect("resolved");
    assert!(matches!(outcome, Err(Error::PoolShutDown)), "{outcome:?}");
    open_gate(GATE);
}

/// A list as deep as it is long: dropping it recurses once per link.
#[derive(serde::Serialize, serde::Deserialize)]
enum Deep {
    Link(Box<Deep>),
    End,
}

#[concurrent]
fn take_deep(value: Deep) -> bool {
    matches!(value, Deep::Link(_))
}

/// Runs `f` on a thread with `stack` bytes of stack.
fn on_a_stack_of<R: Send + 'static>(stack: usize, f: impl FnOnce() -> R + Send + 'static) -> R {
    let thread = std::thread::Builder::new().stack_size(stack).spawn(f);
    thread.unwrap().join().unwrap()
}

/// Regression: the same drop of a delayed task's arguments, on the thread shutting the pool
/// down, aborted the process when they were nested deeper than that thread's stack allows.
#[test]
fn a_deep_argument_of_a_delayed_task_is_not_dropped_by_the_thread_shutting_down() {
    support::in_child_process(
        "a_deep_argument_of_a_delayed_task_is_not_dropped_by_the_thread_shutting_down",
        || {
            let pool = TaskPool::builder().build().unwrap();
            let deep = on_a_stack_of(512 << 20, || {
                (0..100_000).fold(Deep::End, |tail, _| Deep::Link(Box::new(tail)))
            });
            let task = Task::new(take_deep, (deep,));
            let handle = pool.execute_delayed(Duration::from_secs(3600), task, Priority::Low);
            on_a_stack_of(2 << 20, move || pool.shutdown_timeout(PATIENCE));
            drop(handle);
        },
    );
}
