//! Third pass of probes of the locks module against the ArkTS documentation
//! (`js-apis-arkts-utils.md`: `AsyncLock`, `AsyncLockOptions`, `AbortSignal`,
//! `ConditionVariable`) and against bad input: each test pins a defect that was found and fixed.
//! Deterministic: waits end on conditions, hangs fail on [`PATIENCE`](support::PATIENCE).

mod support;

use std::time::Duration;

use support::{Probe, block_on};
use taskpool::{AsyncLock, AsyncLockOptions, ConditionVariable};

// ---------------------------------------------------------------------------------------------
// Timeouts: the report of a zero timeout (ArkTS: "possible deadlock warnings").
// ---------------------------------------------------------------------------------------------

/// A holder asking again for its own lock waits for itself. With a timeout of 1 ms the report
/// says so ("which it holds itself"); a zero timeout, refused without queueing, reported "no
/// cycle of waits: a holder is slow" instead — blaming a holder that is the caller itself. The
/// request counts as waiting in the search now, whether or not it queued.
#[test]
fn a_zero_timeout_request_by_the_holder_itself_is_reported_as_a_self_wait() {
    let lock = AsyncLock::new(0);
    let zero = AsyncLockOptions::new().timeout(Duration::ZERO);
    let held = lock.lock();
    for error in [
        lock.lock_with(&zero).map(drop).unwrap_err(),
        lock.lock_shared_with(&zero).map(drop).unwrap_err(),
        block_on(lock.lock_async_with(zero.clone()))
            .map(drop)
            .unwrap_err(),
    ] {
        assert_eq!(error.code(), Some(10200031), "{error}");
        let text = error.to_string();
        assert!(text.contains("which it holds itself"), "{text}");
        assert!(!text.contains("no cycle"), "{text}");
        assert!(text.contains("nobody waiting"), "it never queued: {text}");
    }
    drop(held);
    // An upgrade: a reader asking to write, at once.
    let reader = lock.lock_shared();
    let error = lock.lock_with(&zero).map(drop).unwrap_err();
    assert!(
        error.to_string().contains("which it holds itself"),
        "{error}"
    );
    drop(reader);
    assert!(lock.state().held.is_empty() && lock.state().pending.is_empty());
}

// ---------------------------------------------------------------------------------------------
// ConditionVariable: a notify_one is never lost to a waiter that gave up.
// ---------------------------------------------------------------------------------------------

/// ArkTS's `notifyOne` wakes the first waiter, and this crate promises that a waiter woken by
/// `notify_one` and dropped before it completes passes the notification on. `wait_with_async`
/// completes only once it has the lock back: dropped while it waits for the lock (a `select!`
/// whose timeout branch won), it took the notification with it, and the next waiter slept on
/// although the condition had changed. It passes the notification on now.
#[test]
fn a_wait_with_async_dropped_while_retaking_the_lock_passes_a_notify_one_on() {
    let lock = AsyncLock::new(0);
    let changed = ConditionVariable::new();
    let mut first = Probe::new(changed.wait_with_async(Probe::new(lock.lock_async()).ready()));
    assert!(first.poll().is_pending());
    let mut second = Probe::new(changed.wait_with_async(Probe::new(lock.lock_async()).ready()));
    assert!(second.poll().is_pending());
    assert_eq!(changed.waiters(), 2);
    let mut producer = lock.lock();
    *producer = 1;
    changed.notify_one();
    assert!(
        first.poll().is_pending(),
        "notified, it waits for the lock the producer holds"
    );
    drop(first);
    assert_eq!(second.wakes(), 1, "the notification was passed on");
    assert_eq!(changed.waiters(), 0);
    drop(producer);
    let guard = match second.poll() {
        std::task::Poll::Ready(guard) => guard,
        std::task::Poll::Pending => panic!("the second waiter was not notified"),
    };
    assert_eq!(*guard, 1);
    drop(guard);

    // Dropped after a notify_all, or after taking the lock back, it passes nothing on.
    let mut notified_by_all =
        Probe::new(changed.wait_with_async(Probe::new(lock.lock_async()).ready()));
    assert!(notified_by_all.poll().is_pending());
    let held = lock.lock();
    changed.notify_all();
    assert!(notified_by_all.poll().is_pending());
    let mut later = Probe::new(changed.wait_async());
    assert!(later.poll().is_pending());
    drop(notified_by_all);
    assert_eq!(later.wakes(), 0, "a notify_all reached everyone already");
    drop(held);
    let mut completed = Probe::new(changed.wait_with_async(Probe::new(lock.lock_async()).ready()));
    assert!(completed.poll().is_pending());
    changed.notify_one(); // to `later`, the longest waiting
    assert!(later.poll().is_ready());
    changed.notify_one(); // to `completed`
    drop(completed.ready());
    drop(completed);
    assert_eq!(changed.waiters(), 0);
    assert!(lock.try_lock().is_some());
}
