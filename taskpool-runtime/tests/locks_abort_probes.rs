//! Probes of `AbortSignal` on waiting lock requests: an abort withdraws a request at once, with
//! no help from the request's own future or thread (readers behind an aborted writer go in,
//! snapshots stop listing it), and races of aborts with grants, timeouts, drops, tries and
//! condition-variable notifications end clean. Deterministic: hand-polled futures, and waits
//! that end on conditions ([`PATIENCE`](support::PATIENCE)).

mod support;

use std::time::Duration;

use support::{Probe, wait_until};
use taskpool::{AbortSignal, AsyncLock, AsyncLockMode, AsyncLockOptions, Error};

/// A timeout no test waits for.
const NEVER: Duration = Duration::MAX;

fn with_signal(signal: &AbortSignal) -> AsyncLockOptions {
    AsyncLockOptions::new().signal(signal.clone())
}

/// The modes of the pending requests a snapshot lists, in order.
fn pending_modes<T>(lock: &AsyncLock<T>) -> Vec<AsyncLockMode> {
    lock.state().pending.iter().map(|info| info.mode).collect()
}

fn assert_aborted<T: std::fmt::Debug>(outcome: taskpool::Result<T>, expected: &str) {
    match outcome {
        Err(Error::LockAborted { reason, .. }) => assert_eq!(reason, expected),
        other => panic!("expected LockAborted({expected}), got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The defect: an aborted request kept its place until its own future ran again.
// ---------------------------------------------------------------------------------------------

/// A reader holds; a writer with a signal and no timeout queues; a reader queues behind it.
/// The abort alone lets the second reader in: its future is woken and granted, and the
/// snapshot no longer lists the writer, all before the writer's future is polled again.
#[test]
fn an_abort_lets_the_readers_behind_an_aborted_writer_in_at_once() {
    let lock = AsyncLock::new(0);
    let first = lock.lock_shared();
    let signal = AbortSignal::new();
    let mut writer =
        Probe::new(lock.lock_async_with(with_signal(&signal).timeout(NEVER))).pending();
    let mut reader = Probe::new(lock.lock_shared_async()).pending();
    assert_eq!(
        pending_modes(&lock),
        [AsyncLockMode::Exclusive, AsyncLockMode::Shared]
    );

    signal.abort("x");

    assert_eq!(
        reader.wakes(),
        1,
        "the reader behind the writer was not woken"
    );
    assert!(writer.wakes() >= 1, "the aborted writer was not woken");
    assert_eq!(pending_modes(&lock), [AsyncLockMode::Shared]);
    let second = reader.ready();
    assert!(lock.state().pending.is_empty());
    assert_eq!(lock.state().held.len(), 2);
    assert_aborted(writer.ready().map(drop), "x");
    drop((first, second));
    assert!(lock.try_lock().is_some(), "the lock ends free");
}

/// The same through `AsyncLock::query` on a named lock: the query shows the aborted writer gone
/// before its future runs again.
#[test]
fn an_aborted_named_writer_leaves_the_query_at_once() {
    let name = "locks_abort_probes::named_writer";
    let lock = AsyncLock::request(name);
    let first = lock.lock_shared();
    let signal = AbortSignal::new();
    let mut writer = Probe::new(lock.lock_async_with(with_signal(&signal))).pending();
    let mut reader = Probe::new(lock.lock_shared_async()).pending();
    assert_eq!(AsyncLock::query(name).unwrap().pending.len(), 2);

    signal.abort("named");

    let pending = AsyncLock::query(name).unwrap().pending;
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].mode, AsyncLockMode::Shared);
    assert!(reader.poll().is_ready());
    assert_aborted(writer.ready().map(drop), "named");
    drop(first);
    assert!(AsyncLock::query(name).unwrap().held.is_empty());
}

/// A blocked writer thread: the abort lets the reader queued behind it in without waiting for
/// the writer's thread to run.
#[test]
fn an_abort_withdraws_a_blocked_writer_before_its_thread_runs() {
    let lock = std::sync::Arc::new(AsyncLock::new(()));
    let first = lock.lock_shared();
    let signal = AbortSignal::new();
    let writer = std::thread::spawn({
        let (lock, signal) = (lock.clone(), signal.clone());
        move || lock.lock_with(&with_signal(&signal)).map(drop)
    });
    wait_until("the writer queues", || lock.state().pending.len() == 1);
    let mut reader = Probe::new(lock.lock_shared_async()).pending();

    signal.abort("blocked");

    assert_eq!(
        reader.wakes(),
        1,
        "the reader behind the writer was not woken"
    );
    assert!(reader.poll().is_ready());
    assert_aborted(writer.join().unwrap(), "blocked");
    drop(first);
}
