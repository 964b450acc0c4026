//! Wakers whose `clone` panics (a broken executor) polling an `AsyncLock` request: the panic
//! reaches only the poller of that request, and the lock stays usable for everyone else.
//! (A waker that panics when woken or dropped is covered in `locks_probes.rs` and
//! `probes_docs_locks2.rs`.)
//!
//! A waker whose `clone` panics cannot be made from safe code (`Wake` clones an `Arc`), so this
//! file builds one from a `RawWaker` vtable whose functions touch no data.
#![allow(unsafe_code)]

mod support;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use support::{PATIENCE, block_on};
use taskpool::{AbortSignal, AsyncLock, AsyncLockOptions};

/// How many clones the broken waker allows before its clones panic.
static CLONES_LEFT: AtomicUsize = AtomicUsize::new(0);
/// How many times a clone of the broken waker was woken.
static WAKES: AtomicUsize = AtomicUsize::new(0);

const VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop_raw);

fn clone(_: *const ()) -> RawWaker {
    if CLONES_LEFT
        .fetch_update(SeqCst, SeqCst, |left| left.checked_sub(1))
        .is_err()
    {
        panic!("a broken waker: clone panics");
    }
    RawWaker::new(std::ptr::null(), &VTABLE)
}

fn wake(_: *const ()) {
    WAKES.fetch_add(1, SeqCst);
}

fn drop_raw(_: *const ()) {}

/// A waker that allows `clones` clones, then panics on every further one.
fn broken_waker(clones: usize) -> Waker {
    CLONES_LEFT.store(clones, SeqCst);
    // SAFETY: the vtable's functions ignore the data pointer (null) and are thread-safe (they
    // touch only atomics), which is all `RawWaker`'s contract asks of them.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

/// Polls `future` once with `waker`; whether the poll panicked.
fn poll_panics<F: Future + Unpin>(future: &mut F, waker: &Waker) -> bool {
    let mut cx = Context::from_waker(waker);
    catch_unwind(AssertUnwindSafe(|| {
        let _ = Pin::new(future).poll(&mut cx);
    }))
    .is_err()
}

/// One test at a time: the broken waker's counters are global.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A request with an abort signal whose waker panics on its second clone (the signal's
/// registration, after the request was queued) leaves no ghost in the queue once its future is
/// dropped: the lock goes to the next requester. (The request stayed queued, reserved the lock
/// when its holder released it, and every later request waited forever.)
#[test]
fn a_request_whose_waker_clone_panics_at_the_signal_leaves_the_queue_with_its_future() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lock = AsyncLock::new(0u32);
    let held = lock.try_lock().expect("a free lock");
    let options = AsyncLockOptions::new().signal(AbortSignal::new());
    let mut request = Box::pin(lock.lock_async_with(options));
    assert!(
        poll_panics(&mut request, &broken_waker(1)),
        "the poller sees its waker's panic"
    );
    drop(request);
    drop(held);
    let next = support::bounded("the next request", {
        let lock = std::sync::Arc::new(lock);
        move || {
            let options = AsyncLockOptions::new().timeout(PATIENCE);
            *lock.lock_with(&options).expect("the lock is free") + 1
        }
    });
    assert_eq!(next, 1);
}

/// The same at the timer: a request with a timeout whose waker panics on its second clone (the
/// one its timeout keeps to wake the task at the deadline) leaves no ghost in the queue once
/// its future is dropped.
#[test]
fn a_request_whose_waker_clone_panics_at_the_timeout_leaves_the_queue_with_its_future() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lock = AsyncLock::new(0u32);
    let held = lock.try_lock().expect("a free lock");
    let options = AsyncLockOptions::new().timeout(PATIENCE);
    let mut request = Box::pin(lock.lock_async_with(options));
    assert!(
        poll_panics(&mut request, &broken_waker(1)),
        "the poller sees its waker's panic"
    );
    drop(request);
    assert!(lock.state().pending.is_empty(), "a ghost stayed queued");
    drop(held);
    assert!(lock.try_lock().is_some(), "the lock ends free");
}

/// A waiter whose waker panics on every clone after its registration does not break the
/// release that hands it the lock: the holder's guard drops quietly, the waiter is woken and
/// takes the lock when polled again, and the waiter behind it gets the lock after it. (The
/// release cloned the waiter's waker under the lock's mutex: the panic reached the releasing
/// caller, and the waiters marked woken on the way were never woken.)
#[test]
fn a_release_does_not_clone_the_waker_it_wakes() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lock = std::sync::Arc::new(AsyncLock::new(0u32));
    let held = lock.try_lock().expect("a free lock");
    let mut broken = Box::pin(lock.lock_async());
    let waker = broken_waker(1);
    assert!(!poll_panics(&mut broken, &waker), "queued, one clone");
    let behind = std::thread::spawn({
        let lock = std::sync::Arc::clone(&lock);
        move || {
            let options = AsyncLockOptions::new().timeout(PATIENCE);
            let mut guard = lock.lock_with(&options).expect("its turn came");
            *guard += 10;
            *guard
        }
    });
    support::wait_until("the second waiter queued", || {
        lock.state().pending.len() == 2
    });
    let wakes = WAKES.load(SeqCst);
    let released = catch_unwind(AssertUnwindSafe(|| drop(held)));
    assert!(released.is_ok(), "the release panicked");
    assert_eq!(WAKES.load(SeqCst), wakes + 1, "the first waiter was woken");
    let mut cx = Context::from_waker(Waker::noop());
    let Poll::Ready(mut guard) = broken.as_mut().poll(&mut cx) else {
        panic!("the woken waiter's turn came");
    };
    *guard += 1;
    drop(guard);
    assert_eq!(behind.join().unwrap(), 11);
    assert_eq!(*block_on(lock.lock_async()), 11);
}
