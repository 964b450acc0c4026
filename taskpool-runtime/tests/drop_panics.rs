//! A user `Drop` that panics — of an argument, of a result nobody took, of a suspended future, of
//! a panic payload — is contained wherever the pool drops it: the workers survive, every handle
//! resolves, and neither `cancel()` nor dropping a pool panics in the caller.
//!
//! Each value's `Drop` prints a panic message when it goes off; that is expected.

mod support;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use support::{
    Bomb, PATIENCE, Signal, dropped, hold, nap, note_dropped, open_gate, pass_gate, plain,
    wait_until, wait_until_executing, wait_until_suspended,
};
use taskpool::{Error, TaskHandle, TaskPool, concurrent, sleep};

/// The ids of the bombs (and other values below) whose `Drop` ran.

#[concurrent]
fn make_bomb(gate: u64, id: u32) -> Bomb {
    pass_gate(gate);
    Bomb(id)
}

#[concurrent]
fn takes_bomb(bomb: Bomb) -> u32 {
    bomb.0
}

/// The pool still runs tasks and resolves their handles.
fn assert_pool_runs(pool: &TaskPool) {
    for x in 0..3 {
        let mut handle = pool.run(plain, (x,));
        match handle.wait_timeout(PATIENCE) {
            Some(Ok(value)) => assert_eq!(value, x),
            other => panic!("the pool stopped running tasks: {other:?}"),
        }
    }
}

fn assert_canceled<T: std::fmt::Debug + Send + 'static>(
    handle: &mut TaskHandle<T>,
    started: bool,
    what: &str,
) {
    match handle.wait_timeout(PATIENCE) {
        Some(Err(Error::Canceled {
            started: s,
            late: None,
            ..
        })) if s == started => {}
        other => panic!("{what}: expected Canceled {{ started: {started} }}, got {other:?}"),
    }
}

#[test]
fn a_result_nobody_took_whose_drop_panics_does_not_kill_the_only_worker() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let handle = pool.run(make_bomb, (1, 10));
    // Detached before the result exists: the pool drops the result.
    drop(handle);
    open_gate(1);
    wait_until("the pool dropped the result", || dropped(10));
    // The old code lost its only worker here while still counting it: nothing ran again.
    assert_pool_runs(&pool);
    assert_eq!(pool.thread_count(), 1);
}

#[test]
fn canceling_a_waiting_task_whose_argument_drop_panics_returns_ok_and_resolves_canceled() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let blocker = pool.run(hold, (2,));
    wait_until_executing(&pool, blocker.id());
    let mut waiting = pool.run(takes_bomb, (Bomb(20),));
    let cancel = catch_unwind(AssertUnwindSafe(|| waiting.cancel()))
        .unwrap_or_else(|_| panic!("cancel() let the argument's Drop panic reach the caller"));
    assert!(cancel.is_ok(), "{cancel:?}");
    assert!(dropped(20), "the cancel released the arguments");
    assert!(
        waiting.is_finished(),
        "a canceled waiting task resolves at once"
    );
    assert_canceled(&mut waiting, false, "the canceled waiting task");
    open_gate(2);
    assert_eq!(blocker.wait().unwrap(), 2);
    assert_pool_runs(&pool);
}

#[test]
fn dropping_a_pool_with_queued_arguments_whose_drop_panics_cancels_every_queued_task() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let blocker = pool.run(hold, (3,));
    wait_until_executing(&pool, blocker.id());
    let watched = pool.run(plain, (1,));
    // Handle dropped: only the pool holds this bomb.
    drop(pool.run(takes_bomb, (Bomb(30),)));
    let mut kept = vec![pool.run(plain, (2,))];
    let mut bomb_kept = pool.run(takes_bomb, (Bomb(31),));
    kept.push(pool.run(plain, (3,)));
    // The blocker returns once the shutdown has begun canceling the queue, so the drop below
    // (which waits for executing calls) can finish.
    let watcher = std::thread::spawn(move || {
        wait_until("the shutdown cancels the queue", || watched.is_finished());
        open_gate(3);
        watched
    });
    let dropping = catch_unwind(AssertUnwindSafe(move || drop(pool)));
    assert!(
        dropping.is_ok(),
        "dropping the pool let an argument's Drop panic reach the caller"
    );
    kept.push(watcher.join().unwrap());
    for handle in &mut kept {
        assert_canceled(handle, false, "a queued task at shutdown");
    }
    assert_canceled(&mut bomb_kept, false, "a queued task holding a bomb");
    assert!(
        dropped(30) && dropped(31),
        "the queued arguments were released"
    );
    assert_eq!(blocker.wait().unwrap(), 3);
}

#[concurrent]
async fn hold_bomb_across_a_long_sleep(bomb: Bomb) -> u32 {
    sleep(Duration::from_secs(3600)).await;
    bomb.0
}

#[test]
fn dropping_a_pool_with_a_suspended_future_whose_drop_panics_resolves_every_suspended_task() {
    // One thread: in the old code every suspended task lived on it, the bomb first.
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let mut handles = vec![pool.run(hold_bomb_across_a_long_sleep, (Bomb(40),))];
    handles.extend((0..3).map(|_| pool.run(nap, ())));
    for handle in &handles {
        wait_until_suspended(&pool, handle.id());
    }
    let dropping = catch_unwind(AssertUnwindSafe(move || drop(pool)));
    assert!(
        dropping.is_ok(),
        "dropping the pool let a future's Drop panic reach the caller"
    );
    assert!(dropped(40), "the suspended future was dropped");
    for handle in &mut handles {
        assert_canceled(handle, true, "a task suspended at shutdown");
    }
}

static SIGNAL_AFTER_OVERRUN: Signal = Signal::new();

#[concurrent]
async fn await_signal() -> u32 {
    SIGNAL_AFTER_OVERRUN.raised().await;
    5
}

#[concurrent]
async fn overrun_holding_a_bomb(bomb: Bomb) -> u32 {
    // Synchronous work in the first poll, far over the limit whatever the machine's speed.
    std::thread::sleep(Duration::from_millis(400));
    sleep(Duration::from_secs(3600)).await;
    bomb.0
}

#[test]
fn a_future_over_the_time_limit_whose_drop_panics_times_out_and_other_suspended_tasks_go_on() {
    let limit = Duration::from_millis(100);
    let pool = TaskPool::builder()
        .max_threads(1)
        .time_limit(limit)
        .build()
        .unwrap();
    // Suspended first, on the only thread: the one the overrunning task then runs on.
    let mut other = pool.run(await_signal, ());
    wait_until_suspended(&pool, other.id());
    let mut overrun = pool.run(overrun_holding_a_bomb, (Bomb(50),));
    match overrun.wait_timeout(PATIENCE) {
        Some(Err(Error::TimedOut {
            limit: reported, ..
        })) => assert_eq!(reported, limit),
        other => panic!("expected a time-out, got {other:?}"),
    }
    wait_until("the timed-out future is dropped", || dropped(50));
    SIGNAL_AFTER_OVERRUN.raise();
    match other.wait_timeout(PATIENCE) {
        Some(Ok(5)) => {}
        other => panic!("the other suspended task did not complete: {other:?}"),
    }
    assert_pool_runs(&pool);
}

#[concurrent]
fn panic_with_a_number() -> u32 {
    std::panic::panic_any(7_u32)
}

#[concurrent]
fn panic_with_a_bomb(id: u32) -> u32 {
    std::panic::panic_any(Bomb(id))
}

#[test]
fn a_panic_payload_that_is_not_a_string_even_one_whose_drop_panics_is_reported() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    for mut handle in [
        pool.run(panic_with_a_number, ()),
        pool.run(panic_with_a_bomb, (60,)),
    ] {
        match handle.wait_timeout(PATIENCE) {
            Some(Err(Error::Panicked { message, .. })) => {
                assert!(message.contains("non-string"), "{message}");
            }
            other => panic!("expected a panic, got {other:?}"),
        }
    }
    assert!(dropped(60), "the payload was dropped");
    assert_pool_runs(&pool);
    assert_eq!(pool.thread_count(), 1);
}

/// A future that never completes; when dropped it wakes its own waker, then panics.
struct WakeThenPanicOnDrop {
    id: u32,
    waker: Option<Waker>,
}

impl Future for WakeThenPanicOnDrop {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for WakeThenPanicOnDrop {
    fn drop(&mut self) {
        note_dropped(self.id);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
        if !std::thread::panicking() {
            panic!("future {} went off in Drop", self.id);
        }
    }
}

#[concurrent]
async fn pending_forever(id: u32) {
    WakeThenPanicOnDrop { id, waker: None }.await;
}

#[test]
fn canceling_a_suspended_task_whose_future_wakes_and_panics_in_drop_returns_ok() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let mut handle = pool.run(pending_forever, (70,));
    wait_until_suspended(&pool, handle.id());
    let cancel = catch_unwind(AssertUnwindSafe(|| handle.cancel()))
        .unwrap_or_else(|_| panic!("cancel() let the future's Drop panic reach the caller"));
    assert!(cancel.is_ok(), "{cancel:?}");
    assert!(dropped(70), "the future was dropped where it waited");
    assert!(handle.is_finished(), "the cancel resolved the handle");
    assert_canceled(&mut handle, true, "the canceled suspended task");
    assert_pool_runs(&pool);
}
