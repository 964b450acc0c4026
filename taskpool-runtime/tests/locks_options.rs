//! `AsyncLockOptions`: timeouts (10200031, with holders, waiters and deadlock cycles named),
//! abort signals, and `is_available`. Deterministic: a timeout only ever runs out on a lock the
//! test holds for the whole wait, and waiters are observed through `state()`.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{Probe, block_on, wait_until};
use taskpool::{AbortSignal, AsyncLock, AsyncLockMode, AsyncLockOptions, Error};

const TINY: Duration = Duration::from_millis(5);

fn timeout(d: Duration) -> AsyncLockOptions {
    AsyncLockOptions::new().timeout(d)
}

#[test]
fn a_blocking_request_times_out_with_10200031_naming_holders_and_waiters() {
    let lock = Arc::new(AsyncLock::new(0));
    let (holding, release) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
    let reader = std::thread::Builder::new()
        .name("the-reader".into())
        .spawn({
            let lock = lock.clone();
            move || {
                let _shared = lock.lock_shared();
                holding.0.send(()).unwrap();
                release.1.recv().unwrap();
            }
        })
        .unwrap();
    holding.1.recv().unwrap();
    let _waiting_writer = Probe::new(lock.lock_async()).pending();
    let error = lock.lock_with(&timeout(TINY)).unwrap_err();
    assert_eq!(error.code(), Some(10200031));
    let Error::LockTimedOut {
        name,
        mode,
        timeout,
        diagnosis,
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(*name, lock.name());
    assert_eq!((*mode, *timeout), (AsyncLockMode::Exclusive, TINY));
    let message = error.to_string();
    assert!(message.contains("timeout exceeded (10200031)"), "{message}");
    assert!(
        diagnosis.contains("held by shared by thread \"the-reader\""),
        "{diagnosis}"
    );
    assert!(
        diagnosis.contains("waiting exclusive by thread"),
        "{diagnosis}"
    );
    assert!(diagnosis.contains("no cycle of waits"), "{diagnosis}");
    assert_eq!(
        lock.state().pending.len(),
        1,
        "the timed-out request left the queue"
    );
    release.0.send(()).unwrap();
    reader.join().unwrap();
}

#[test]
fn an_async_request_times_out_on_the_runtime_timer() {
    let lock = AsyncLock::new(0);
    let _held = lock.lock();
    let error = block_on(lock.lock_shared_async_with(timeout(TINY))).unwrap_err();
    assert_eq!(error.code(), Some(10200031));
    assert!(lock.state().pending.is_empty());
}

#[test]
fn a_zero_timeout_is_a_try_and_never_queues() {
    let lock = AsyncLock::new(0);
    assert!(
        lock.lock_with(&timeout(Duration::ZERO)).is_ok(),
        "free: granted"
    );
    let held = lock.lock();
    let mut probe = Probe::new(lock.lock_async_with(timeout(Duration::ZERO)));
    match probe.ready() {
        Err(Error::LockTimedOut { timeout, .. }) => assert_eq!(timeout, Duration::ZERO),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        lock.lock_shared_with(&timeout(Duration::ZERO)),
        Err(Error::LockTimedOut { .. })
    ));
    assert!(lock.state().pending.is_empty());
    drop(held);
}

#[test]
fn duration_max_means_no_timeout() {
    let lock = Arc::new(AsyncLock::new(0));
    assert!(lock.lock_with(&timeout(Duration::MAX)).is_ok());
    let held = lock.lock();
    let waiter = std::thread::spawn({
        let lock = lock.clone();
        move || {
            lock.lock_shared_with(&timeout(Duration::MAX))
                .map(|guard| *guard)
        }
    });
    wait_until("the thread waits", || lock.state().pending.len() == 1);
    let async_waiter = Probe::new(lock.lock_async_with(timeout(Duration::MAX))).pending();
    drop(held);
    assert_eq!(waiter.join().unwrap().unwrap(), 0);
    let mut async_waiter = async_waiter;
    assert!(async_waiter.ready().is_ok());
}

#[test]
fn a_timed_out_writer_at_the_front_lets_the_readers_behind_it_go() {
    let lock = Arc::new(AsyncLock::new(0));
    let reader = lock.lock_shared();
    let writer = std::thread::spawn({
        let lock = lock.clone();
        move || {
            lock.lock_with(&timeout(Duration::from_millis(50)))
                .map(drop)
        }
    });
    wait_until("the writer waits", || lock.state().pending.len() == 1);
    let late = Probe::new(lock.lock_shared_async()).pending();
    assert!(matches!(
        writer.join().unwrap(),
        Err(Error::LockTimedOut { .. })
    ));
    assert_eq!(late.wakes(), 1, "the reader behind the writer is woken");
    let mut late = late;
    let joined = late.ready();
    assert_eq!(lock.state().held.len(), 2);
    drop((reader, joined));
}

#[test]
fn a_timeout_reports_a_cycle_of_waits_as_a_possible_deadlock() {
    let first = Arc::new(AsyncLock::request("deadlock-first"));
    let second = Arc::new(AsyncLock::request("deadlock-second"));
    let (holding_first, go) = (
        std::sync::mpsc::channel::<()>(),
        std::sync::mpsc::channel::<()>(),
    );
    let (held_tx, held_rx) = holding_first;
    let (go_tx, go_rx) = go;
    let other = std::thread::Builder::new()
        .name("holds-first".into())
        .spawn({
            let (first, second) = (first.clone(), second.clone());
            move || {
                let _first = first.lock();
                held_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                drop(second.lock()); // waits for the test thread
            }
        })
        .unwrap();
    held_rx.recv().unwrap();
    let second_guard = second.lock();
    go_tx.send(()).unwrap();
    wait_until("the other thread waits for the second lock", || {
        second.state().pending.len() == 1
    });
    let error = first.lock_with(&timeout(TINY)).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("possible deadlock"), "{message}");
    assert!(message.contains("\"deadlock-second\""), "{message}");
    assert!(
        message.contains("\"deadlock-first\" held by thread"),
        "{message}"
    );
    assert!(message.contains("holds-first"), "{message}");
    drop(second_guard);
    other.join().unwrap();
}

#[test]
fn waiting_for_a_lock_one_holds_is_reported_as_such() {
    let lock = AsyncLock::new(());
    let _reader = lock.lock_shared();
    let error = lock.lock_with(&timeout(TINY)).unwrap_err();
    assert!(
        error.to_string().contains("which it holds itself"),
        "{error}"
    );
}

#[test]
fn an_abort_withdraws_a_waiting_blocking_request_with_its_reason() {
    let lock = Arc::new(AsyncLock::new(0));
    let held = lock.lock();
    let signal = AbortSignal::new();
    let waiter = std::thread::spawn({
        let (lock, signal) = (lock.clone(), signal.clone());
        move || {
            lock.lock_with(&AsyncLockOptions::new().signal(signal))
                .map(drop)
        }
    });
    wait_until("the thread waits", || lock.state().pending.len() == 1);
    let behind = Probe::new(lock.lock_async()).pending();
    signal.abort("user left");
    match waiter.join().unwrap() {
        Err(Error::LockAborted { reason, name }) => {
            assert_eq!(reason, "user left");
            assert_eq!(name, lock.name());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(lock.state().pending.len(), 1, "the aborted request left");
    assert_eq!(behind.wakes(), 0, "the lock is still held: nobody is woken");
    drop(held);
    assert_eq!(behind.wakes(), 1);
}

#[test]
fn an_abort_wakes_a_waiting_async_request_and_passes_the_turn_on() {
    let lock = AsyncLock::new(0);
    let signal = AbortSignal::new();
    let held = lock.lock();
    let aborted =
        Probe::new(lock.lock_async_with(AsyncLockOptions::new().signal(signal.clone()))).pending();
    let behind = Probe::new(lock.lock_shared_async()).pending();
    drop(held);
    assert_eq!(
        (aborted.wakes(), behind.wakes()),
        (1, 0),
        "the first in line is woken"
    );
    signal.abort("changed my mind");
    assert_eq!(aborted.wakes(), 2, "the signal wakes it");
    let mut aborted = aborted;
    assert!(matches!(aborted.ready(), Err(Error::LockAborted { .. })));
    assert_eq!(behind.wakes(), 1, "its turn passed to the next");
    let mut behind = behind;
    drop(behind.ready());
}

#[test]
fn an_aborted_signal_refuses_new_requests_and_does_not_revoke_held_guards() {
    let lock = AsyncLock::new(0);
    let signal = AbortSignal::new();
    let options = AsyncLockOptions::new().signal(signal.clone());
    let guard = lock.lock_with(&options).unwrap();
    signal.abort("late");
    assert_eq!(*guard, 0, "a granted guard stays valid");
    drop(guard);
    assert!(matches!(
        lock.lock_with(&options),
        Err(Error::LockAborted { .. })
    ));
    let mut probe = Probe::new(lock.lock_shared_async_with(options));
    assert!(matches!(probe.ready(), Err(Error::LockAborted { .. })));
    assert!(lock.state().pending.is_empty() && lock.state().held.is_empty());
}

#[test]
fn is_available_grants_only_when_no_holder_conflicts_and_never_queues() {
    let lock = AsyncLock::new(0);
    let available = AsyncLockOptions::new().is_available(true);
    drop(lock.lock_with(&available).unwrap());
    let reader = lock.lock_shared();
    let shared_too = lock.lock_shared_with(&available).expect("readers share");
    let refused = lock.lock_with(&available).unwrap_err();
    assert!(matches!(
        refused,
        Error::LockUnavailable {
            mode: AsyncLockMode::Exclusive,
            ..
        }
    ));
    assert_eq!(refused.code(), None);
    let writer = Probe::new(lock.lock_async()).pending();
    assert!(
        matches!(
            lock.lock_shared_with(&available),
            Err(Error::LockUnavailable { .. })
        ),
        "a reader never overtakes a waiting writer"
    );
    drop((reader, shared_too));
    assert_eq!(writer.wakes(), 1);
    assert!(
        lock.lock_with(&available).is_ok(),
        "free (reserved for a woken writer that has not run): a try may take it"
    );
    let mut writer = writer;
    drop(writer.ready());
    assert!(lock.state().pending.is_empty());
}
