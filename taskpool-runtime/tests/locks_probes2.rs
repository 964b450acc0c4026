//! Second pass of probes of the locks module: guards and futures that are forgotten
//! (`mem::forget`) instead of dropped, bad input to the ArkTS-documented options (zero and huge
//! durations, abort signals fired before, while and after a wait), futures dropped mid-wait,
//! re-entrant and upgrading requests (which wait for themselves: a timeout names that), many
//! waiters withdrawn at once, and locks shared between pool tasks and plain threads.
//! Deterministic: waits end on conditions, hangs fail on [`PATIENCE`](support::PATIENCE).

mod support;

use std::time::Duration;

use support::Probe;
use taskpool::{AsyncLock, AsyncLockAccess, AsyncLockMode, AsyncLockOptions};

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
    let access = support::block_on(lock.lock_async_then(
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
