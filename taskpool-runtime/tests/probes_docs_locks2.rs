//! Third pass of probes of the locks module against the ArkTS documentation
//! (`js-apis-arkts-utils.md`: `AsyncLock`, `AsyncLockOptions`, `AbortSignal`,
//! `ConditionVariable`) and against bad input: each test pins a defect that was found and fixed.
//! Deterministic: waits end on conditions, hangs fail on [`PATIENCE`](support::PATIENCE).

mod support;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::task::{Context, Poll};
use std::time::Duration;

use support::wakers::PanicsWhenDropped;
use support::{Probe, block_on};
use taskpool::{
    AbortSignal, AsyncLock, AsyncLockOptions, ConditionVariable, Encoding, Payload, Shared, Task,
    concurrent, sendable,
};

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

// ---------------------------------------------------------------------------------------------
// Broken executors: a waker whose last reference panics when dropped.
// ---------------------------------------------------------------------------------------------

/// Polls `future` once with a waker of [`PanicsWhenDropped`], which the lock then holds alone.
fn poll_with_waker_that_panics_when_dropped<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    let waker = PanicsWhenDropped::waker();
    std::pin::Pin::new(future).poll(&mut Context::from_waker(&waker))
}

/// A waiter leaving the queue (its future dropped) let go of its waker under the lock's mutex;
/// that waker's panic reached whoever dropped the future, and cut the departure short before
/// the waiter behind it, whose turn it had made, was woken: it waited forever. The waker is
/// dropped after unlocking now, its panic contained, and the next waiter is woken.
#[test]
fn a_departing_waiter_whose_waker_panics_when_dropped_still_passes_its_turn_on() {
    let lock = AsyncLock::new(0);
    let held = lock.lock();
    let mut first = Box::pin(lock.lock_async());
    assert!(poll_with_waker_that_panics_when_dropped(&mut first).is_pending());
    let mut second = Probe::new(lock.lock_async()).pending();
    drop(held);
    assert_eq!(second.wakes(), 0, "the first waiter's turn");
    let departed = catch_unwind(AssertUnwindSafe(|| drop(first)));
    assert!(departed.is_ok(), "the waker's panic reached the departure");
    assert_eq!(second.wakes(), 1, "the turn was passed on");
    match second.poll() {
        Poll::Ready(mut guard) => *guard += 1,
        Poll::Pending => panic!("the second waiter did not get the free lock"),
    }
    assert_eq!(*lock.try_lock().expect("released"), 1);
}

/// A waiter granted the lock when polled with a new waker let go of its old one under the
/// lock's mutex, the grant already recorded: the old waker's panic unwound out of the poll
/// instead of returning the guard, and the lock stayed held by nobody, for ever. The same
/// through the abort signal's copy of the old waker. The poll returns the guard now.
#[test]
fn a_waiter_whose_old_waker_panics_when_dropped_still_gets_the_lock_it_was_granted() {
    for signal in [None, Some(AbortSignal::new())] {
        let lock = AsyncLock::new(0);
        let held = lock.lock();
        let options = match &signal {
            Some(signal) => AsyncLockOptions::new().signal(signal.clone()),
            None => AsyncLockOptions::new(),
        };
        let mut request = Box::pin(lock.lock_async_with(options));
        assert!(poll_with_waker_that_panics_when_dropped(&mut request).is_pending());
        drop(held);
        let polled = catch_unwind(AssertUnwindSafe(|| {
            request
                .as_mut()
                .poll(&mut Context::from_waker(std::task::Waker::noop()))
        }));
        match polled {
            Ok(Poll::Ready(Ok(mut guard))) => *guard += 1,
            Ok(other) => panic!("with signal {signal:?}: {:?}", other.map(|r| r.map(drop))),
            Err(_) => panic!("with signal {signal:?}: the old waker's panic unwound the poll"),
        }
        drop(request);
        assert!(lock.state().held.is_empty(), "{}", lock.state());
        assert_eq!(*lock.try_lock().expect("released"), 1);
    }
}

/// The condition variable let go of a waiter's waker under its mutex too (a wait dropped or
/// timed out, a waker replaced by a newer poll's): the panic of a waker whose task panics when
/// dropped reached whoever dropped or polled the wait (a wait dropped as its task unwinds
/// aborted the process). Those wakers are dropped after
/// unlocking now, their panics contained, and each wait ends as it should.
#[test]
fn a_condition_wait_whose_waker_panics_when_dropped_ends_quietly() {
    let changed = ConditionVariable::new();
    let noop = &mut Context::from_waker(std::task::Waker::noop());
    // Dropped while it waits.
    let mut dropped = Box::pin(changed.wait_async());
    assert!(poll_with_waker_that_panics_when_dropped(&mut dropped).is_pending());
    let outcome = catch_unwind(AssertUnwindSafe(|| drop(dropped)));
    assert!(outcome.is_ok(), "dropping the wait panicked");
    assert_eq!(changed.waiters(), 0);
    // Polled again with another waker, then notified.
    let mut moved = Box::pin(changed.wait_async());
    assert!(poll_with_waker_that_panics_when_dropped(&mut moved).is_pending());
    let outcome = catch_unwind(AssertUnwindSafe(|| moved.as_mut().poll(noop)));
    assert!(
        matches!(outcome, Ok(Poll::Pending)),
        "the second poll panicked"
    );
    changed.notify_one();
    assert!(moved.as_mut().poll(noop).is_ready());
    assert_eq!(changed.waiters(), 0);
}

// ---------------------------------------------------------------------------------------------
// Serialization: a lock its caller holds is refused by name, in either encoding.
// ---------------------------------------------------------------------------------------------

#[sendable]
struct Ledger {
    entries: AsyncLock<Vec<u32>>,
}

#[concurrent]
fn count_entries(ledger: Shared<Ledger>) -> usize {
    ledger.entries.lock_shared().len()
}

/// Serializing a lock its caller holds (and cannot share at once) is a serde error that names
/// the lock and says why, instead of a wait for itself. `postcard` drops the message of a
/// custom error, so in the compact encoding — `Task::descriptor`, the per-run copy of a
/// re-executed task's arguments — the 10200006 said only "Serde Serialization Error". It
/// carries the lock's message now, as the JSON encoding did.
#[test]
fn serializing_a_lock_its_caller_holds_names_the_lock_in_the_compact_encoding_too() {
    let ledger = Shared::new(Ledger {
        entries: AsyncLock::new(vec![1, 2]),
    });
    let name = ledger.entries.name();
    let task = Task::new(count_entries, (Shared::clone(&ledger),));
    let held = ledger.entries.lock();
    let mut errors = vec![task.descriptor().map(drop).unwrap_err()];
    for encoding in [Encoding::Postcard, Encoding::Json] {
        errors.push(Payload::encode(&*ledger, encoding).map(drop).unwrap_err());
    }
    for error in errors {
        assert_eq!(error.code(), Some(10200006), "{error}");
        let text = error.to_string();
        assert!(text.contains(&format!("`{name}`")), "{text}");
        assert!(text.contains("the caller holds it"), "{text}");
    }
    drop(held);
    assert!(task.descriptor().is_ok(), "free again");
}
