//! Conformance of the locks module with the ArkTS documentation (`js-apis-arkts-utils.md`,
//! `ArkTSUtils.locks`; the guide `arktsutils-locks-introduction.md`; `errorcode-utils.md`), and
//! containment of user wakers that panic when the lock is released or a condition variable is
//! notified. Deterministic: waits end on conditions, hangs fail on [`PATIENCE`].

mod support;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use support::{PATIENCE, block_on, wait_until};
use taskpool::{
    AbortSignal, AsyncLock, AsyncLockMode, AsyncLockOptions, ConditionVariable, Error, Shared,
};

// ---------------------------------------------------------------------------------------------
// A user waker that panics when woken.
// ---------------------------------------------------------------------------------------------

/// A waker whose `wake` panics (a broken executor), counting the attempts.
#[derive(Default)]
struct PanickingWaker(AtomicUsize);

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("this waker panics");
    }
}

/// Polls `future` once with a waker that panics when woken.
fn poll_with_panicking_waker<F: Future + Unpin>(future: &mut F) -> (Poll<F::Output>, Arc<PanickingWaker>) {
    let counter = Arc::new(PanickingWaker::default());
    let waker = Waker::from(counter.clone());
    let poll = Pin::new(future).poll(&mut Context::from_waker(&waker));
    (poll, counter)
}

/// Runs `f` on a thread and returns a receiver for its result.
fn on_thread<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> mpsc::Receiver<R> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

/// Shared waiters woken together: the first one's waker panics as the writer releases. The
/// panic must not reach the releasing guard's `Drop`, and the reader behind it is still woken.
#[test]
fn a_panicking_waker_does_not_reach_the_releaser_and_the_rest_are_woken() {
    let lock = Shared::new(AsyncLock::new(0u32));
    let writer = lock.lock();
    let mut first = Box::pin(lock.lock_shared_async());
    let (poll, counter) = poll_with_panicking_waker(&mut first);
    assert!(poll.is_pending());
    let reader = on_thread({
        let lock = lock.clone();
        move || *lock.lock_shared()
    });
    wait_until("the reader queues", || lock.state().pending.len() == 2);
    let released = catch_unwind(AssertUnwindSafe(|| drop(writer)));
    assert!(released.is_ok(), "the waker's panic reached the guard's Drop");
    assert_eq!(counter.0.load(Ordering::SeqCst), 1, "the broken waker was called");
    assert_eq!(reader.recv_timeout(PATIENCE), Ok(0), "the reader behind was never woken");
    // The first request still completes when polled again with a working waker.
    let guard = block_on(first);
    assert_eq!(*guard, 0);
}

/// An exclusive waiter whose waker panics stands at the front: it must not keep the lock
/// reserved for itself forever; the blocked thread behind it gets the lock, and the first
/// request, polled again, gets it afterwards.
#[test]
fn a_front_waiter_with_a_panicking_waker_does_not_strand_the_queue() {
    let lock = Shared::new(AsyncLock::new(Vec::<String>::new()));
    let holder = lock.lock();
    let mut first = Box::pin(lock.lock_async());
    let (poll, _counter) = poll_with_panicking_waker(&mut first);
    assert!(poll.is_pending());
    let second = on_thread({
        let lock = lock.clone();
        move || lock.lock().push("second".to_owned())
    });
    wait_until("the second request queues", || lock.state().pending.len() == 2);
    let released = catch_unwind(AssertUnwindSafe(|| drop(holder)));
    assert!(released.is_ok(), "the waker's panic reached the guard's Drop");
    assert_eq!(second.recv_timeout(PATIENCE), Ok(()), "the queue was stranded");
    let mut guard = block_on(first);
    guard.push("first".to_owned());
    drop(guard);
    assert_eq!(*lock.lock(), ["second", "first"]);
    let state = lock.state();
    assert!(state.held.is_empty() || state.held.len() == 1);
    assert!(state.pending.is_empty());
}

/// A waiter with a panicking waker that is dropped after its wake leaves the lock free.
#[test]
fn a_dropped_waiter_whose_waker_panicked_leaves_the_lock_free() {
    let lock = AsyncLock::new(());
    let holder = lock.lock();
    let mut first = Box::pin(lock.lock_async());
    assert!(poll_with_panicking_waker(&mut first).0.is_pending());
    assert!(catch_unwind(AssertUnwindSafe(|| drop(holder))).is_ok());
    drop(first);
    let state = lock.state();
    assert!(state.held.is_empty() && state.pending.is_empty(), "{state}");
    assert!(lock.try_lock().is_some());
}

/// `notify_one` to a waiter whose waker panics: the panic does not reach the notifier, and the
/// notification is not lost — the next waiter gets it.
#[test]
fn notify_one_to_a_panicking_waker_is_contained_and_passed_on() {
    let changed = Shared::new(ConditionVariable::new());
    let mut first = Box::pin(changed.wait_async());
    assert!(poll_with_panicking_waker(&mut first).0.is_pending());
    let second = on_thread({
        let changed = changed.clone();
        move || changed.wait_for(PATIENCE)
    });
    wait_until("the second waiter waits", || changed.waiters() == 2);
    let notified = catch_unwind(AssertUnwindSafe(|| changed.notify_one()));
    assert!(notified.is_ok(), "the waker's panic reached notify_one");
    assert_eq!(second.recv_timeout(PATIENCE), Ok(true), "the notification was lost");
    drop(first);
    assert_eq!(changed.waiters(), 0);
}

/// `notify_all` with a panicking waker among the waiters: every other waiter is still woken.
#[test]
fn notify_all_with_a_panicking_waker_wakes_every_other_waiter() {
    let changed = Shared::new(ConditionVariable::new());
    let mut first = Box::pin(changed.wait_async());
    assert!(poll_with_panicking_waker(&mut first).0.is_pending());
    let second = on_thread({
        let changed = changed.clone();
        move || changed.wait_for(PATIENCE)
    });
    wait_until("the second waiter waits", || changed.waiters() == 2);
    assert!(catch_unwind(AssertUnwindSafe(|| changed.notify_all())).is_ok());
    assert_eq!(second.recv_timeout(PATIENCE), Ok(true));
    block_on(first); // notified: completes when polled again
}

/// An abort with a panicking waker among the requests that wait with the signal: the panic
/// does not reach `abort`, and the other waiter still learns of the abort.
#[test]
fn abort_with_a_panicking_waker_is_contained_and_wakes_the_others() {
    let lock = Shared::new(AsyncLock::new(()));
    let holder = lock.lock();
    let signal = AbortSignal::new();
    let mut first = Box::pin(lock.lock_async_with(AsyncLockOptions::new().signal(signal.clone())));
    assert!(poll_with_panicking_waker(&mut first).0.is_pending());
    let second = on_thread({
        let (lock, signal) = (lock.clone(), signal.clone());
        move || lock.lock_with(&AsyncLockOptions::new().signal(signal)).map(|_| ()).unwrap_err()
    });
    wait_until("the second request queues", || lock.state().pending.len() == 2);
    assert!(catch_unwind(AssertUnwindSafe(|| signal.abort("stop"))).is_ok());
    let error = second.recv_timeout(PATIENCE).expect("the abort was not seen");
    assert!(matches!(&error, Error::LockAborted { reason, .. } if reason == "stop"), "{error:?}");
    assert!(matches!(block_on(first), Err(Error::LockAborted { .. })));
    drop(holder);
    assert!(lock.state().pending.is_empty());
}
