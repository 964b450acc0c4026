//! Probes of the locks module against the ArkTS `ArkTSUtils.locks` reference
//! (`js-apis-arkts-utils.md`), and of `Payload` and descriptors with bad input.
//! Deterministic: waits end on conditions, hangs fail on [`PATIENCE`](support::PATIENCE).

mod support;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use support::bounded;
use taskpool::{
    AbortSignal, AsyncLock, AsyncLockMode, AsyncLockOptions, ConditionVariable, Encoding, Error,
    Payload, Task, TaskDescriptor, TaskPool, concurrent,
};

/// Polls `future` once with a waker that does nothing.
fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

// ---------------------------------------------------------------------------------------------
// Locks
// ---------------------------------------------------------------------------------------------

/// ArkTS: the lock is released when the callback's promise settles. In Rust a callback future
/// dropped mid-await never settles: dropping it must release the lock all the same.
#[test]
fn a_lock_async_then_future_dropped_mid_callback_releases_the_lock() {
    let lock = AsyncLock::new(0);
    {
        let mut held = pin!(lock.lock_async_then(
            AsyncLockMode::Exclusive,
            AsyncLockOptions::new(),
            |access| async move {
                let _held = access;
                std::future::pending::<()>().await
            },
        ));
        assert!(poll_once(held.as_mut()).is_pending());
        assert!(lock.try_lock().is_none(), "the callback holds the lock");
    }
    assert!(
        lock.try_lock().is_some(),
        "dropping the callback released it"
    );
}

/// ArkTS: a callback that throws rejects `lockAsync` and releases the lock. In Rust, a callback
/// future that panics unwinds through its poll: the lock is released, and later requests, in
/// both modes, are granted.
#[test]
fn a_lock_async_then_callback_that_panics_releases_the_lock() {
    let lock = AsyncLock::new(1);
    let poll = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let future = pin!(lock.lock_async_then(
            AsyncLockMode::Exclusive,
            AsyncLockOptions::new(),
            |access| async move {
                let _held = access;
                panic!("the callback failed");
            },
        ));
        poll_once(future)
    }));
    assert!(poll.is_err(), "the panic reached the poller");
    assert!(lock.try_lock_shared().is_some());
    assert_eq!(*lock.try_lock().expect("released"), 1);
}

/// ArkTS `isAvailable`: rejects when the lock is held, in either mode.
#[test]
fn is_available_in_both_modes_against_both_holders() {
    let lock = AsyncLock::new(());
    let only_now = AsyncLockOptions::new().is_available(true);
    {
        let _reader = lock.lock_shared();
        assert!(lock.lock_shared_with(&only_now).is_ok(), "readers share");
        let refused = lock.lock_with(&only_now).unwrap_err();
        assert!(
            matches!(refused, Error::LockUnavailable { .. }),
            "{refused:?}"
        );
    }
    {
        let _writer = lock.lock();
        let refused = lock.lock_shared_with(&only_now).unwrap_err();
        assert!(
            matches!(refused, Error::LockUnavailable { .. }),
            "{refused:?}"
        );
    }
    assert!(lock.lock_with(&only_now).is_ok());
}

/// An abort signal shared by many named-lock requests from many threads withdraws every one
/// of them, and the holder's release afterwards finds nobody in the queue.
#[test]
fn one_abort_withdraws_waiters_of_a_named_lock_on_many_threads() {
    let name = "probes_docs_locks::abort_many";
    let lock = AsyncLock::request(name);
    let held = lock.lock();
    let signal = AbortSignal::new();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let signal = signal.clone();
            std::thread::spawn(move || {
                let lock = AsyncLock::request(name);
                let options = AsyncLockOptions::new().signal(signal);
                lock.lock_with(&options).map(drop)
            })
        })
        .collect();
    support::wait_until("waiters queued", || {
        AsyncLock::query(name).is_ok_and(|state| state.pending.len() == 8)
    });
    signal.abort("enough");
    for thread in threads {
        let error = thread.join().unwrap().unwrap_err();
        assert!(
            matches!(&error, Error::LockAborted { reason, .. } if reason == "enough"),
            "{error:?}"
        );
    }
    assert!(AsyncLock::query(name).unwrap().pending.is_empty());
    drop(held);
    assert!(lock.try_lock().is_some());
}

/// ArkTS `waitFor(timeout)`: a timeout too long to represent as a deadline still waits and is
/// notified.
#[test]
fn a_blocking_wait_for_with_huge_timeout_is_notified() {
    let condvar = Arc::new(ConditionVariable::new());
    let waiter = {
        let condvar = Arc::clone(&condvar);
        std::thread::spawn(move || condvar.wait_for(Duration::MAX))
    };
    support::wait_until("waiters queued", || condvar.waiters() == 1);
    condvar.notify_one();
    assert!(bounded("wait_for", move || waiter.join().unwrap()));
}

// ---------------------------------------------------------------------------------------------
// Payload and descriptors
// ---------------------------------------------------------------------------------------------

/// `Payload` is `Serialize + Deserialize`: a payload stored in the crate's own compact format
/// must read back, whichever encoding it holds.
#[test]
fn a_json_payload_round_trips_through_postcard() {
    let payload = Payload::encode(&(1, "a"), Encoding::Json).unwrap();
    let bytes = postcard::to_stdvec(&payload).unwrap();
    let back: Payload = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back, payload);
}

/// A compact `Payload` whose JSON variant holds text that is not JSON is refused when read.
#[test]
fn a_compact_json_payload_holding_no_json_is_refused() {
    // postcard writes a variant as its index, then the field: variant 1 (`Json`), a string.
    let bytes = postcard::to_stdvec(&(1u8, "{not json")).unwrap();
    assert!(postcard::from_bytes::<Payload>(&bytes).is_err());
    let error = Payload::Postcard(bytes).decode::<Payload>().unwrap_err();
    assert_eq!(error.code(), Some(10200006), "{error}");
}

/// A hostile JSON payload 100 000 levels deep, read as a `Payload`, is held as text (no
/// stack overflow) and refused with 10200006 when decoded.
#[test]
fn a_100_000_deep_json_payload_is_held_as_text_and_refused_when_decoded() {
    let deep = format!(
        "{{\"Json\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let payload: Payload = serde_json::from_str(&deep).unwrap();
    let error = payload.decode::<serde_json::Value>().unwrap_err();
    assert_eq!(error.code(), Some(10200006), "{error}");
}

#[concurrent]
fn payload_text(payload: Payload) -> String {
    payload.to_string()
}

/// A `Payload` is a valid task argument (README: `TaskGroup<Payload>`), so a descriptor in its
/// compact form must carry a JSON payload argument and read it back.
#[test]
fn a_json_payload_argument_survives_a_descriptor_in_bytes() {
    let argument = Payload::encode(&[1, 2], Encoding::Json).unwrap();
    let descriptor = Task::new(payload_text, (argument,)).descriptor().unwrap();
    let bytes = descriptor.to_bytes().unwrap();
    let read = TaskDescriptor::from_bytes(&bytes).unwrap();
    let pool = TaskPool::builder().build().unwrap();
    let result = pool.execute_descriptor(&read).wait().unwrap();
    assert_eq!(result.decode::<String>().unwrap(), "[1,2]");
    let json = TaskDescriptor::from_json(&descriptor.to_json().unwrap()).unwrap();
    let result = pool.execute_descriptor(&json).wait().unwrap();
    assert_eq!(result.decode::<String>().unwrap(), "[1,2]");
}

/// Both forms of `Payload` survive both encodings of `Payload` itself.
#[test]
fn payloads_round_trip_through_payloads_in_both_encodings() {
    for inner in [Encoding::Postcard, Encoding::Json] {
        let payload = Payload::encode(&("x", 3), inner).unwrap();
        for outer in [Encoding::Postcard, Encoding::Json] {
            let wrapped = Payload::encode(&payload, outer).unwrap();
            assert_eq!(
                wrapped.decode::<Payload>().unwrap(),
                payload,
                "{inner:?} in {outer:?}"
            );
        }
    }
}

#[concurrent]
async fn hold_forever(lock: taskpool::Shared<AsyncLock<u32>>) -> u32 {
    let mut guard = lock.lock_async().await;
    *guard += 1;
    std::future::pending::<()>().await;
    *guard
}

/// An `async` task canceled while it holds a lock across an `.await` is dropped there
/// (DESIGN: its future is not polled again): the guard goes with it, so the lock is free.
#[test]
fn a_task_canceled_mid_await_while_holding_a_lock_releases_it() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let lock = taskpool::Shared::new(AsyncLock::new(0u32));
    let handle = pool.execute(Task::new(hold_forever, (lock.clone(),)));
    support::wait_until_suspended(&pool, handle.id());
    assert!(
        lock.try_lock().is_none(),
        "the suspended task holds the lock"
    );
    handle.cancel().unwrap();
    let error = handle.wait().unwrap_err();
    assert!(error.is_canceled(), "{error}");
    let options = AsyncLockOptions::new().timeout(support::PATIENCE);
    assert_eq!(
        *lock.lock_with(&options).expect("released by the cancel"),
        1
    );
    pool.shutdown();
}
