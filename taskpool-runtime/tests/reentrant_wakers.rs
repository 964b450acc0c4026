//! An executor's waker is user code, and its `clone` may call back into the object being
//! polled: cancel the task whose handle is polled, notify the condition variable waited on,
//! look at the lock requested, abort the signal a request waits with. The runtime clones a
//! waker only with its own lock let go (`waker_offer`), so none of these deadlocks the poll.
//! Regression tests: the first four deadlocked (each clone was made under the lock).

// A waker whose `clone` runs a hook can only be built from a `RawWaker` (`std::task::Wake`
// clones the `Arc` without calling out); the workspace denies unsafe code, allowed here for it.
#![allow(unsafe_code)]

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use futures::Stream;
use support::{PATIENCE, bounded, hold, open_gate, plain};
use taskpool::{
    AbortSignal, AsyncLock, AsyncLockOptions, ConditionVariable, Error, Task, TaskPool,
};

/// What a waker runs the first time it is cloned.
struct OnClone(Mutex<Option<Box<dyn FnOnce() + Send>>>);

const VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_raw);

/// Every data pointer below comes from `Arc::into_raw` of an `Arc<OnClone>`, and each `RawWaker`
/// owns one strong count of it.
fn clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` is a live `Arc<OnClone>` pointer (this waker owns a count); the new waker
    // gets a count of its own.
    let hook = unsafe {
        Arc::increment_strong_count(data.cast::<OnClone>());
        &*data.cast::<OnClone>()
    };
    // Taken out first: the hook may clone or drop this waker again.
    let once = hook.0.lock().unwrap().take();
    if let Some(once) = once {
        once();
    }
    RawWaker::new(data, &VTABLE)
}

fn wake(data: *const ()) {
    drop_raw(data);
}

fn wake_by_ref(_: *const ()) {}

fn drop_raw(data: *const ()) {
    // SAFETY: the count this waker owned, given back once.
    unsafe { Arc::decrement_strong_count(data.cast::<OnClone>()) };
}

/// A waker that runs `hook` the first time it is cloned.
fn waker_calling_back(hook: impl FnOnce() + Send + 'static) -> Waker {
    let data = Arc::into_raw(Arc::new(OnClone(Mutex::new(Some(Box::new(hook))))));
    // SAFETY: the vtable keeps the contract above (one count per waker, thread-safe: the hook
    // sits behind a mutex and the count is atomic).
    unsafe { Waker::from_raw(RawWaker::new(data.cast(), &VTABLE)) }
}

fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(waker))
}

/// A one-thread pool, kept in a static: the hooks call back into it from the waker.
fn one_thread(cell: &'static OnceLock<TaskPool>, name: &str) -> &'static TaskPool {
    cell.get_or_init(|| {
        TaskPool::builder()
            .max_threads(1)
            .thread_name(name)
            .build()
            .unwrap()
    })
}

#[test]
fn a_handle_polled_with_a_waker_whose_clone_cancels_its_task_resolves_canceled() {
    static POOL: OnceLock<TaskPool> = OnceLock::new();
    let pool = one_thread(&POOL, "reentrant-handle");
    let gate = 9_510_001;
    let blocker = pool.execute(Task::new(hold, (gate,)));
    let mut queued = pool.execute(Task::new(plain, (1,)));
    let id = queued.id();
    let waker = waker_calling_back(move || {
        POOL.get().unwrap().cancel(id).unwrap();
    });
    let outcome = bounded("the poll", move || {
        match poll_once(Pin::new(&mut queued), &waker) {
            Poll::Ready(outcome) => outcome,
            Poll::Pending => queued.wait_timeout(PATIENCE).expect("the handle resolves"),
        }
    });
    assert!(
        matches!(outcome, Err(Error::Canceled { .. })),
        "{outcome:?}"
    );
    open_gate(gate);
    blocker.wait().unwrap();
    assert_eq!(pool.run(plain, (7,)).wait().unwrap(), 7, "the pool runs on");
}

#[test]
fn a_data_stream_polled_with_a_waker_whose_clone_cancels_its_queued_task_ends() {
    static POOL: OnceLock<TaskPool> = OnceLock::new();
    let pool = one_thread(&POOL, "reentrant-stream");
    let gate = 9_510_002;
    let blocker = pool.execute(Task::new(hold, (gate,)));
    let task = Task::new(plain, (1,));
    let mut stream = task.data_stream::<u32>();
    let handle = pool.execute(task);
    let id = handle.id();
    let waker = waker_calling_back(move || {
        POOL.get().unwrap().cancel(id).unwrap();
    });
    let stream = bounded("the poll", move || {
        let _ = Pin::new(&mut stream).poll_next(&mut Context::from_waker(&waker));
        stream
    });
    open_gate(gate);
    blocker.wait().unwrap();
    assert!(stream.is_terminated(), "a canceled task sends nothing more");
    assert_eq!(pool.run(plain, (7,)).wait().unwrap(), 7, "the pool runs on");
}

#[test]
fn a_condition_wait_polled_with_a_waker_whose_clone_notifies_it_is_notified() {
    static CONDITION: LazyLock<ConditionVariable> = LazyLock::new(ConditionVariable::new);
    let notified = bounded("the polls", || {
        let mut wait = Box::pin(CONDITION.wait_async());
        assert!(poll_once(wait.as_mut(), Waker::noop()).is_pending());
        let waker = waker_calling_back(|| CONDITION.notify_one());
        let second = poll_once(wait.as_mut(), &waker);
        second.is_ready() || poll_once(wait.as_mut(), Waker::noop()).is_ready()
    });
    assert!(
        notified,
        "the notification from the waker's clone reached the waiter"
    );
    assert_eq!(CONDITION.waiters(), 0);
}

#[test]
fn a_lock_request_polled_with_a_waker_whose_clone_looks_at_the_lock_queues() {
    static LOCK: OnceLock<AsyncLock<u32>> = OnceLock::new();
    let lock = LOCK.get_or_init(|| AsyncLock::new(0));
    let held = lock.lock();
    let pending = bounded("the poll", || {
        let lock = LOCK.get().unwrap();
        let waker = waker_calling_back(|| {
            let lock = LOCK.get().unwrap();
            assert!(lock.try_lock().is_none(), "held by the test");
            let _ = lock.state();
        });
        let mut request = Box::pin(lock.lock_async());
        let pending = poll_once(request.as_mut(), &waker).is_pending();
        drop(request);
        pending
    });
    assert!(pending, "the lock is held: the request waits");
    drop(held);
    assert!(
        lock.try_lock().is_some(),
        "the dropped request left the queue"
    );
}

#[test]
fn a_lock_request_polled_with_a_waker_whose_clone_aborts_its_signal_fails_aborted() {
    let lock = Arc::new(AsyncLock::new(0u32));
    let held = lock.lock();
    let outcome = bounded("the polls", {
        let lock = Arc::clone(&lock);
        move || {
            let signal = AbortSignal::new();
            let options = AsyncLockOptions::new().signal(signal.clone());
            let mut request = Box::pin(lock.lock_async_with(options));
            let waker = waker_calling_back(move || signal.abort("from the waker"));
            match poll_once(request.as_mut(), &waker) {
                Poll::Ready(outcome) => outcome.map(drop),
                Poll::Pending => support::block_on(request).map(drop),
            }
        }
    });
    assert!(
        matches!(&outcome, Err(Error::LockAborted { reason, .. }) if reason == "from the waker"),
        "{outcome:?}"
    );
    drop(held);
    assert!(
        lock.try_lock().is_some(),
        "the aborted request left the queue"
    );
}
