//! Second pass of probes of the locks module: guards and futures that are forgotten
//! (`mem::forget`) instead of dropped, bad input to the ArkTS-documented options (zero and huge
//! durations, abort signals fired before, while and after a wait), futures dropped mid-wait,
//! re-entrant and upgrading requests (which wait for themselves: a timeout names that), many
//! waiters withdrawn at once, and locks shared between pool tasks and plain threads.
//! Deterministic: waits end on conditions, hangs fail on [`PATIENCE`](support::PATIENCE).

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{PATIENCE, Probe, block_on, wait_until};
use taskpool::{
    AbortSignal, AsyncLock, AsyncLockAccess, AsyncLockMode, AsyncLockOptions, ConditionVariable,
    Error, Shared, TaskPool, concurrent, sendable,
};

/// A timeout short enough that a test waiting for it does not drag.
const TINY: Duration = Duration::from_millis(1);

// ---------------------------------------------------------------------------------------------
// Forgotten guards and futures: `get_mut` and `into_inner` still reach the value.
// ---------------------------------------------------------------------------------------------

/// `&mut self` and ownership prove that no guard is alive: a forgotten one is not, so the value
/// is returned as it was last written.
#[test]
fn a_forgotten_exclusive_guard_leaves_the_value_to_get_mut_and_into_inner() {
    let mut lock = AsyncLock::new(vec![1]);
    let mut guard = lock.lock();
    guard.push(2);
    std::mem::forget(guard);
    assert_eq!(*lock.get_mut(), [1, 2]);
    lock.get_mut().push(3);
    assert_eq!(lock.into_inner(), [1, 2, 3]);
}

#[test]
fn forgotten_shared_guards_leave_the_value_to_get_mut_and_into_inner() {
    let mut lock = AsyncLock::new(String::from("kept"));
    std::mem::forget(lock.lock_shared());
    std::mem::forget(lock.try_lock_shared().expect("readers share"));
    lock.get_mut().push('!');
    assert_eq!(lock.into_inner(), "kept!");
}

#[test]
fn a_forgotten_callback_access_leaves_the_value_to_into_inner() {
    let lock = AsyncLock::new(1);
    lock.lock_then(
        AsyncLockMode::Exclusive,
        &AsyncLockOptions::new(),
        |mut access| {
            *access.get_mut().expect("exclusive") = 2;
            std::mem::forget(access);
        },
    )
    .unwrap();
    assert_eq!(lock.into_inner(), 2);
}

/// A forgotten guard keeps holding the lock, as with `std::sync::Mutex`: later requests wait
/// (a timeout says so, with 10200031) and tries fail, but nothing panics.
#[test]
fn a_forgotten_guard_keeps_the_lock_held_and_requests_fail_cleanly() {
    let lock = AsyncLock::new(0);
    std::mem::forget(lock.lock());
    assert!(lock.try_lock().is_none());
    assert!(lock.try_lock_shared().is_none());
    let options = AsyncLockOptions::new().timeout(Duration::from_millis(1));
    assert_eq!(lock.lock_with(&options).unwrap_err().code(), Some(10200031));
    let unavailable = AsyncLockOptions::new().is_available(true);
    assert!(lock.lock_shared_with(&unavailable).is_err());
    assert_eq!(
        lock.state().held.len(),
        1,
        "the forgotten holder still holds it"
    );
    assert!(format!("{lock:?}").contains("<locked>"));
}

/// A forgotten waiting future keeps its place (it is a request nobody withdrew); the value is
/// still reachable through ownership.
#[test]
fn a_forgotten_waiting_future_leaves_the_value_to_into_inner() {
    let lock = AsyncLock::new(5);
    {
        let held = lock.lock();
        let waiting = Probe::new(lock.lock_async()).pending();
        std::mem::forget(waiting);
        let reading = Probe::new(lock.lock_shared_async()).pending();
        std::mem::forget(reading);
        drop(held);
    }
    assert_eq!(lock.state().pending.len(), 2);
    assert_eq!(lock.into_inner(), 5);
}

/// An exclusive access forgotten inside an async callback, and a guard dropped on another
/// thread than the one that took it.
#[test]
fn guards_dropped_on_another_thread_release_the_lock() {
    let lock = AsyncLock::new(0u64);
    std::thread::scope(|scope| {
        let mut guard = lock.lock();
        *guard += 1;
        let shared = lock.try_lock_shared();
        assert!(shared.is_none());
        scope.spawn(move || drop(guard)).join().unwrap();
        let reader = lock.lock_shared();
        scope.spawn(move || drop(reader)).join().unwrap();
    });
    let access = block_on(lock.lock_async_then(
        AsyncLockMode::Exclusive,
        AsyncLockOptions::new(),
        |access| async move { access },
    ))
    .unwrap();
    assert!(matches!(access, AsyncLockAccess::Exclusive(_)));
    std::thread::scope(|scope| {
        scope.spawn(move || drop(access)).join().unwrap();
    });
    assert_eq!(*lock.lock(), 1);
}

// ---------------------------------------------------------------------------------------------
// Futures dropped mid-wait, many waiters withdrawn at once.
// ---------------------------------------------------------------------------------------------

/// A writer whose turn came (it was woken) but which is dropped before it runs: its turn passes
/// to every reader behind it, together.
#[test]
fn a_woken_writer_dropped_before_it_runs_passes_its_turn_to_the_readers_behind_it() {
    let lock = AsyncLock::new(0);
    let held = lock.lock();
    let writer = Probe::new(lock.lock_async()).pending();
    let mut readers: Vec<_> = (0..3)
        .map(|_| Probe::new(lock.lock_shared_async()).pending())
        .collect();
    drop(held);
    assert_eq!(writer.wakes(), 1, "the writer's turn came");
    assert!(readers.iter().all(|reader| reader.wakes() == 0));
    drop(writer);
    let guards: Vec<_> = readers
        .iter_mut()
        .map(|reader| {
            assert_eq!(reader.wakes(), 1, "each reader is woken once");
            reader.ready()
        })
        .collect();
    assert_eq!(lock.state().held.len(), 3);
    drop(guards);
    assert!(lock.try_lock().is_some());
}

/// Ten thousand waiting futures of both modes dropped (from the back, then from the front):
/// the queue empties, and a blocked thread queued behind them all gets the lock when the
/// holder lets go.
#[test]
fn ten_thousand_waiting_futures_dropped_leave_the_turn_to_the_waiter_behind_them() {
    let lock = Arc::new(AsyncLock::new(0u32));
    let held = lock.lock();
    let mut waiting: Vec<_> = (0..10_000)
        .map(|at| {
            let future: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> =
                if at % 3 == 0 {
                    Box::pin(async { drop(lock.lock_shared_async().await) })
                } else {
                    Box::pin(async { drop(lock.lock_async().await) })
                };
            Probe::new(future).pending()
        })
        .collect();
    let behind = std::thread::spawn({
        let lock = lock.clone();
        move || {
            *lock
                .lock_with(&AsyncLockOptions::new().timeout(PATIENCE))
                .unwrap() += 1
        }
    });
    wait_until("the thread waits behind them", || {
        lock.state().pending.len() == 10_001
    });
    let front = waiting.split_off(5_000);
    while waiting.pop().is_some() {}
    drop(front);
    assert_eq!(lock.state().pending.len(), 1, "only the thread still waits");
    drop(held);
    behind.join().unwrap();
    assert_eq!(*lock.lock(), 1);
}

/// One abort withdraws ten thousand waiting requests, blocking and async, each failing with the
/// signal's reason; the lock is then free, and no request is left behind.
#[test]
fn one_abort_withdraws_ten_thousand_waiting_requests() {
    let lock = Arc::new(AsyncLock::new(()));
    let signal = AbortSignal::new();
    let options = AsyncLockOptions::new()
        .signal(signal.clone())
        .timeout(PATIENCE);
    let held = lock.lock();
    let blocked = std::thread::spawn({
        let (lock, options) = (lock.clone(), options.clone());
        move || lock.lock_shared_with(&options).map(drop)
    });
    wait_until("the thread waits", || lock.state().pending.len() == 1);
    let mut waiting: Vec<_> = (0..10_000)
        .map(|at| {
            let options = options.clone();
            let future: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send + '_>> =
                if at % 2 == 0 {
                    Box::pin(async { lock.lock_async_with(options).await.map(drop) })
                } else {
                    Box::pin(async { lock.lock_shared_async_with(options).await.map(drop) })
                };
            Probe::new(future).pending()
        })
        .collect();
    signal.abort("everyone home");
    for waiter in &mut waiting {
        assert!(waiter.wakes() >= 1, "the abort wakes every waiter");
        match waiter.ready() {
            Err(Error::LockAborted { reason, .. }) => assert_eq!(reason, "everyone home"),
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(
        blocked.join().unwrap(),
        Err(Error::LockAborted { .. })
    ));
    assert!(lock.state().pending.is_empty());
    drop(held);
    assert!(lock.try_lock().is_some());
}

/// An abort after the request timed out, or after it was granted and released, changes
/// nothing; a later request with the same (now aborted) signal is refused without queueing,
/// even a try on a free lock (ArkTS: "if `signal.aborted` is true, the lock request is
/// discarded").
#[test]
fn an_abort_after_the_request_ended_changes_nothing_and_discards_later_requests() {
    let lock = AsyncLock::new(0);
    let signal = AbortSignal::new();
    let held = lock.lock();
    let options = AsyncLockOptions::new().signal(signal.clone()).timeout(TINY);
    assert_eq!(lock.lock_with(&options).unwrap_err().code(), Some(10200031));
    let timed_out = block_on(lock.lock_shared_async_with(options.clone()));
    assert_eq!(timed_out.unwrap_err().code(), Some(10200031));
    drop(held);
    drop(lock.lock_with(&options).unwrap());
    signal.abort("too late");
    assert!(lock.state().held.is_empty() && lock.state().pending.is_empty());
    let try_only = options.clone().is_available(true);
    assert!(matches!(
        lock.lock_with(&try_only),
        Err(Error::LockAborted { .. })
    ));
    let zero = options.timeout(Duration::ZERO);
    assert!(matches!(
        block_on(lock.lock_async_with(zero)),
        Err(Error::LockAborted { .. })
    ));
    assert!(
        lock.try_lock().is_some(),
        "the refusals left nothing behind"
    );
}

// ---------------------------------------------------------------------------------------------
// Re-entrant requests and upgrades: they wait for themselves, and a timeout says so.
// ---------------------------------------------------------------------------------------------

/// A shared holder asking for the lock exclusively (an upgrade) waits for itself: a try and
/// `is_available` refuse at once, a timeout fails with 10200031 naming the self-wait, and the
/// shared hold is intact afterwards.
#[test]
fn an_upgrade_from_shared_to_exclusive_is_refused_or_times_out_naming_the_self_wait() {
    let lock = AsyncLock::new(7);
    let reader = lock.lock_shared();
    assert!(lock.try_lock().is_none());
    let available = AsyncLockOptions::new().is_available(true);
    assert!(matches!(
        lock.lock_with(&available),
        Err(Error::LockUnavailable {
            mode: AsyncLockMode::Exclusive,
            ..
        })
    ));
    let error = block_on(lock.lock_async_with(AsyncLockOptions::new().timeout(TINY))).unwrap_err();
    assert_eq!(error.code(), Some(10200031));
    assert!(
        error.to_string().contains("which it holds itself"),
        "{error}"
    );
    assert_eq!(*reader, 7);
    assert_eq!(lock.state().held.len(), 1);
    assert!(
        lock.state().pending.is_empty(),
        "the timed-out upgrade left"
    );
}

/// A shared holder asking again for a shared hold while a writer waits queues behind the
/// writer (readers never overtake a waiting writer, ArkTS's `AsyncLockMode` example), which
/// waits for the first hold: a timeout breaks the cycle and names it; without the writer the
/// second shared hold is granted at once.
#[test]
fn a_reentrant_shared_request_behind_a_waiting_writer_times_out_naming_the_cycle() {
    let lock = Arc::new(AsyncLock::new(0));
    let reader = lock.lock_shared();
    let again = lock.lock_shared();
    drop(again);
    let writer = std::thread::spawn({
        let lock = lock.clone();
        move || {
            *lock
                .lock_with(&AsyncLockOptions::new().timeout(PATIENCE))
                .unwrap() += 1
        }
    });
    wait_until("the writer waits", || lock.state().pending.len() == 1);
    assert!(lock.try_lock_shared().is_none());
    let error = lock
        .lock_shared_with(&AsyncLockOptions::new().timeout(TINY))
        .unwrap_err();
    assert_eq!(error.code(), Some(10200031));
    assert!(
        error.to_string().contains("which it holds itself"),
        "{error}"
    );
    drop(reader);
    writer.join().unwrap();
    assert_eq!(*lock.lock_shared(), 1);
}

/// A callback that asks for its own lock again (ArkTS: `lockAsync` inside its own callback)
/// waits for itself; with a timeout it fails cleanly and the outer hold completes.
#[test]
fn a_callback_asking_for_its_own_lock_times_out_and_the_outer_hold_completes() {
    let lock = AsyncLock::new(1);
    let outer = block_on(lock.lock_async_then(
        AsyncLockMode::Exclusive,
        AsyncLockOptions::new(),
        |mut access| {
            let lock = &lock;
            async move {
                let inner = lock
                    .lock_shared_async_with(AsyncLockOptions::new().timeout(TINY))
                    .await;
                *access.get_mut().unwrap() += 1;
                inner.map(drop).unwrap_err().code()
            }
        },
    ));
    assert_eq!(outer.unwrap(), Some(10200031));
    assert_eq!(*lock.lock(), 2);
}

// ---------------------------------------------------------------------------------------------
// Condition variables: notifications with nobody waiting, zero and huge durations, many waiters.
// ---------------------------------------------------------------------------------------------

/// ArkTS `notifyOne`/`notifyAll` with no waiter: nothing is kept for a later waiter, blocking
/// or async, and a zero `waitFor` reports that it was not notified.
#[test]
fn notifications_with_nobody_waiting_are_not_kept() {
    let changed = ConditionVariable::new();
    changed.notify_one();
    changed.notify_all();
    assert!(!changed.wait_for(Duration::ZERO));
    assert!(!block_on(changed.wait_for_async(Duration::ZERO)));
    let mut later = Probe::new(changed.wait_async()).pending();
    changed.notify_one();
    assert_eq!(later.wakes(), 1);
    assert!(later.poll().is_ready());
    assert_eq!(changed.waiters(), 0);
}

/// A zero `waitFor` created before a notification takes it (the waiter took its place at the
/// call); huge durations, representable or not, wait until notified, blocking or async.
#[test]
fn wait_for_with_zero_and_huge_durations() {
    let changed = Arc::new(ConditionVariable::new());
    let zero = changed.wait_for_async(Duration::ZERO);
    changed.notify_one();
    assert!(block_on(zero), "notified before its first poll");
    let huge = [
        Duration::MAX,
        Duration::from_secs(u64::MAX / 4),
        Duration::from_secs(100 * 365 * 24 * 3600),
    ];
    for timeout in huge {
        let mut waiting = Probe::new(changed.wait_for_async(timeout)).pending();
        let blocked = std::thread::spawn({
            let changed = changed.clone();
            move || changed.wait_for(timeout)
        });
        wait_until("both wait", || changed.waiters() == 2);
        changed.notify_all();
        assert!(waiting.ready(), "{timeout:?}: notified");
        assert!(blocked.join().unwrap(), "{timeout:?}: notified");
    }
}

/// Ten thousand async waiters ahead of a blocked thread: one `notifyOne`, then every async
/// waiter is dropped before it runs; the notification passes down the line to the thread.
#[test]
fn a_notification_passes_through_ten_thousand_dropped_waiters_to_a_blocked_thread() {
    let changed = Arc::new(ConditionVariable::new());
    let waiting: Vec<_> = (0..10_000)
        .map(|_| Probe::new(changed.wait_async()).pending())
        .collect();
    let blocked = std::thread::spawn({
        let changed = changed.clone();
        move || changed.wait_for(PATIENCE)
    });
    wait_until("the thread waits behind them", || {
        changed.waiters() == 10_001
    });
    changed.notify_one();
    assert_eq!(waiting[0].wakes(), 1);
    drop(waiting);
    assert!(
        blocked.join().unwrap(),
        "the notification reached the thread"
    );
    assert_eq!(changed.waiters(), 0);
}

// ---------------------------------------------------------------------------------------------
// One lock and condition variable used by pool tasks and plain threads at once.
// ---------------------------------------------------------------------------------------------

#[sendable]
struct Gate {
    pub open: AsyncLock<(bool, u32)>,
    pub opened: ConditionVariable,
}

/// Waits (asynchronously, in a pool task) until the gate opens, then counts itself through.
#[concurrent]
async fn pass_async(gate: Shared<Gate>) -> u32 {
    let mut state = gate.open.lock_async().await;
    while !state.0 {
        state = gate.opened.wait_with_async(state).await;
    }
    state.1 += 1;
    state.1
}

/// The same, blocking its pool thread.
#[concurrent]
fn pass_blocking(gate: Shared<Gate>) -> u32 {
    let mut state = gate.open.lock();
    while !state.0 {
        state = gate.opened.wait_with(state);
    }
    state.1 += 1;
    state.1
}

/// Async and blocking pool tasks and plain threads wait on one condition variable with one
/// lock; one `notifyAll` under the lock lets every one of them through, exactly once each.
#[test]
fn pool_tasks_and_plain_threads_wait_on_one_condition_and_all_pass_once() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let gate = Shared::new(Gate {
        open: AsyncLock::new((false, 0)),
        opened: ConditionVariable::new(),
    });
    let mut tasks: Vec<_> = (0..6)
        .map(|at| {
            if at % 2 == 0 {
                pool.run(pass_async, (gate.clone(),))
            } else {
                pool.run(pass_blocking, (gate.clone(),))
            }
        })
        .collect();
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let gate = gate.clone();
            std::thread::spawn(move || {
                let mut state = gate.open.lock();
                while !state.0 {
                    state = gate.opened.wait_with(state);
                }
                state.1 += 1;
            })
        })
        .collect();
    wait_until("everyone waits with the lock released", || {
        gate.opened.waiters() == 9 && gate.open.state().held.is_empty()
    });
    {
        let mut state = gate.open.lock();
        state.0 = true;
        gate.opened.notify_all();
    }
    for task in &mut tasks {
        let passed = task.wait_timeout(PATIENCE).unwrap().unwrap();
        assert!((1..=9).contains(&passed));
    }
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(gate.open.lock_shared().1, 9);
    assert_eq!(gate.opened.waiters(), 0);
}

// ---------------------------------------------------------------------------------------------
// Serializing a lock its own caller holds.
// ---------------------------------------------------------------------------------------------

/// Serializing takes a shared hold to read the value. A caller that holds the lock exclusively,
/// or shares it while a writer waits, would wait for itself forever: it gets a serde error
/// naming the lock instead. Serializing while sharing it with nobody waiting still works.
#[test]
fn serializing_a_lock_the_caller_holds_is_an_error_not_a_hang() {
    let lock = Arc::new(AsyncLock::new(vec![1, 2]));
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn({
        let lock = lock.clone();
        move || {
            let guard = lock.lock();
            let exclusive = serde_json::to_string(&*lock).map_err(|error| error.to_string());
            drop(guard);
            let reader = lock.lock_shared();
            let shared = serde_json::to_string(&*lock).map_err(|error| error.to_string());
            drop(reader);
            done.send((exclusive, shared)).unwrap();
        }
    });
    let (exclusive, shared) = outcome
        .recv_timeout(PATIENCE)
        .expect("serializing a lock its caller holds waited for itself");
    let error = exclusive.unwrap_err();
    assert!(
        error.contains(&lock.name()) && error.contains("holds"),
        "{error}"
    );
    assert_eq!(shared.unwrap(), "[1,2]");

    let reader = lock.lock_shared();
    let writer = std::thread::spawn({
        let lock = lock.clone();
        move || {
            lock.lock_with(&AsyncLockOptions::new().timeout(PATIENCE))
                .map(drop)
        }
    });
    wait_until("the writer waits", || lock.state().pending.len() == 1);
    let error = serde_json::to_string(&*lock).unwrap_err().to_string();
    assert!(error.contains(&lock.name()), "{error}");
    drop(reader);
    writer.join().unwrap().unwrap();
    assert_eq!(serde_json::to_string(&*lock).unwrap(), "[1,2]");
}

/// "The caller" of a serialization is who took the guard (the task, or outside tasks the
/// thread), not who has it now: the thread that took an exclusive guard still gets the error
/// after moving the guard away, and any other thread, whatever guard it carries, is not
/// recognized and waits (here until the guard is dropped; holding that guard itself, it would
/// wait for ever, as `AsyncLock`'s `Serialize` documents).
#[test]
fn serializing_knows_its_caller_by_who_took_the_guard() {
    let lock = AsyncLock::new(7u32);
    let slot = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        *slot.lock().unwrap() = Some(lock.lock());
        let error = serde_json::to_string(&lock).unwrap_err().to_string();
        assert!(error.contains("the caller holds it"), "{error}");
        let other = scope.spawn(|| serde_json::to_string(&lock).map_err(|e| e.to_string()));
        wait_until("the other thread waits to read", || {
            lock.state().pending.len() == 1
        });
        drop(slot.lock().unwrap().take());
        assert_eq!(other.join().unwrap().unwrap(), "7");
    });
}

// ---------------------------------------------------------------------------------------------
// Condition waits polled again after they completed.
// ---------------------------------------------------------------------------------------------

/// A condition wait polled again after it completed (a hand-written `select` loop) answers
/// again instead of panicking: `wait` is ready, `waitFor` repeats its answer.
#[test]
fn condition_waits_polled_after_completion_answer_again() {
    let changed = ConditionVariable::new();
    let mut waiting = Probe::new(changed.wait_async()).pending();
    let mut notified = Probe::new(changed.wait_for_async(PATIENCE)).pending();
    changed.notify_all();
    assert!(waiting.poll().is_ready());
    assert!(waiting.poll().is_ready());
    assert!(notified.ready());
    assert!(notified.ready());
    let mut timed_out = Probe::new(changed.wait_for_async(Duration::ZERO));
    assert!(!timed_out.ready());
    assert!(!timed_out.ready());
    assert_eq!(changed.waiters(), 0);
}
