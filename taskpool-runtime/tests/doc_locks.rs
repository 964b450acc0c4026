//! Conformance of the locks module with the ArkTS documentation (`js-apis-arkts-utils.md`,
//! `ArkTSUtils.locks`; the guide `arktsutils-locks-introduction.md`; `errorcode-utils.md`), and
//! containment of user wakers that panic when the lock is released or a condition variable is
//! notified. Deterministic: waits end on conditions, hangs fail on [`PATIENCE`].

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use support::wakers::poll_with_panicking_waker;
use support::{PATIENCE, block_on, wait_until};
use taskpool::{
    AbortSignal, AsyncLock, AsyncLockMode, AsyncLockOptions, ConditionVariable, Error, Shared,
    Task, concurrent, sendable,
};

// ---------------------------------------------------------------------------------------------
// A user waker that panics when woken.
// ---------------------------------------------------------------------------------------------

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
    assert!(
        released.is_ok(),
        "the waker's panic reached the guard's Drop"
    );
    assert_eq!(counter.woken(), 1, "the broken waker was called");
    assert_eq!(
        reader.recv_timeout(PATIENCE),
        Ok(0),
        "the reader behind was never woken"
    );
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
    wait_until("the second request queues", || {
        lock.state().pending.len() == 2
    });
    let released = catch_unwind(AssertUnwindSafe(|| drop(holder)));
    assert!(
        released.is_ok(),
        "the waker's panic reached the guard's Drop"
    );
    assert_eq!(
        second.recv_timeout(PATIENCE),
        Ok(()),
        "the queue was stranded"
    );
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
    assert_eq!(
        second.recv_timeout(PATIENCE),
        Ok(true),
        "the notification was lost"
    );
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
        move || {
            lock.lock_with(&AsyncLockOptions::new().signal(signal))
                .map(|_| ())
                .unwrap_err()
        }
    });
    wait_until("the second request queues", || {
        lock.state().pending.len() == 2
    });
    assert!(catch_unwind(AssertUnwindSafe(|| signal.abort("stop"))).is_ok());
    let error = second
        .recv_timeout(PATIENCE)
        .expect("the abort was not seen");
    assert!(
        matches!(&error, Error::LockAborted { reason, .. } if reason == "stop"),
        "{error:?}"
    );
    assert!(matches!(block_on(first), Err(Error::LockAborted { .. })));
    drop(holder);
    assert!(lock.state().pending.is_empty());
}

// ---------------------------------------------------------------------------------------------
// js-apis-arkts-utils.md / arkts-apis-arkts-utils-locks.md: AsyncLock
// ---------------------------------------------------------------------------------------------

/// Example 1 of `AsyncLock`: a `@Sendable class A` whose methods take the named lock
/// `"lock_1"` (`AsyncLock.request`) around the count. A named lock guards code, so the count
/// is an atomic field; the lock makes each read-modify-write whole.
#[sendable]
pub struct NamedGuarded {
    count: AtomicU64,
}

impl NamedGuarded {
    /// `getCount()`: `AsyncLock.request("lock_1").lockAsync(() => this.count_)`.
    async fn get_count(&self) -> u64 {
        let lock = AsyncLock::request("lock_1");
        let guard = lock.lock_async().await;
        let count = self.count.load(Ordering::SeqCst);
        drop(guard);
        count
    }

    /// `setCount(count)`: `await AsyncLock.request("lock_1").lockAsync(() => { this.count_ = count })`.
    async fn set_count(&self, count: u64) {
        let lock = AsyncLock::request("lock_1");
        let _guard = lock.lock_async().await;
        self.count.store(count, Ordering::SeqCst);
    }
}

/// `@Concurrent async function foo(a: A) { await a.setCount(10) }` for example 1.
#[concurrent]
async fn foo_named(a: Shared<NamedGuarded>) {
    a.set_count(10).await;
}

#[test]
fn example_1_a_named_lock_requested_in_each_method_guards_the_count() {
    let a = Shared::new(NamedGuarded {
        count: AtomicU64::new(0),
    });
    taskpool::execute(Task::new(foo_named, (a.clone(),)))
        .wait()
        .unwrap();
    assert_eq!(block_on(a.get_count()), 10);
    // Every call found the same lock by name: holding it here makes the task's request wait.
    let lock = AsyncLock::request("lock_1");
    assert_eq!(
        lock.name(),
        "lock_1",
        "the `name` property is the requested name"
    );
    let held = lock.lock();
    let handle = taskpool::execute(Task::new(foo_named, (a.clone(),)));
    wait_until("the task waits for lock_1", || {
        AsyncLock::query("lock_1").is_ok_and(|state| state.pending.len() == 1)
    });
    a.count.store(3, Ordering::SeqCst);
    drop(held);
    handle.wait().unwrap();
    assert_eq!(
        block_on(a.get_count()),
        10,
        "setCount ran after the holder let go"
    );
}

/// Example 2 of `AsyncLock`: the lock is a field of the `@Sendable` object (`lock_ = new
/// AsyncLock()`); here it holds the count it guards.
#[sendable]
pub struct FieldGuarded {
    count: AsyncLock<u64>,
}

#[concurrent]
async fn foo_field(a: Shared<FieldGuarded>) {
    // `await this.lock_.lockAsync(() => { this.count_ = count })`
    a.count
        .lock_async_then(
            AsyncLockMode::Exclusive,
            AsyncLockOptions::new(),
            |mut access| async move {
                *access.get_mut().expect("exclusive access") = 10;
            },
        )
        .await
        .unwrap();
}

#[test]
fn example_2_a_lock_field_of_a_sendable_object_is_shared_by_reference() {
    let a = Shared::new(FieldGuarded {
        count: AsyncLock::new(0),
    });
    taskpool::execute(Task::new(foo_field, (a.clone(),)))
        .wait()
        .unwrap();
    // `getCount()`: `return this.lock_.lockAsync(() => this.count_)` — the callback's value.
    let count = block_on(a.count.lock_async_then(
        AsyncLockMode::Exclusive,
        AsyncLockOptions::new(),
        |access| async move { *access },
    ));
    assert_eq!(count.unwrap(), 10);
}

/// `name`: read-only; `new AsyncLock()` gives each lock its own name.
#[test]
fn each_new_lock_has_a_name_of_its_own() {
    let (a, b) = (AsyncLock::new(()), AsyncLock::new(()));
    assert_ne!(a.name(), b.name());
    assert!(a.name().starts_with("anonymous#"), "{}", a.name());
    assert_eq!(a.state().name, a.name());
}

/// `query(name)`: "only locks obtained through the request API can be queried" — the name of a
/// lock made with `new` is not found (10200030), though `queryAll` lists it.
#[test]
fn query_finds_only_requested_locks_and_query_all_lists_every_live_lock() {
    let anonymous = AsyncLock::new(());
    let error = AsyncLock::query(&anonymous.name()).unwrap_err();
    assert_eq!(error.code(), Some(10200030));
    assert!(matches!(&error, Error::LockNotFound(name) if *name == anonymous.name()));
    assert!(error.to_string().contains("10200030"), "{error}");
    // `queryAll()`: at least the locks alive now, each with its name.
    let named = AsyncLock::request("doc-locks-query-test");
    let states = AsyncLock::query_all();
    assert!(states.iter().any(|state| state.name == anonymous.name()));
    assert!(
        states
            .iter()
            .any(|state| state.name == "doc-locks-query-test")
    );
    drop(named);
}

/// `query('queryTestLock')` example: the state lists `held` and `pending`, each entry with the
/// lock's name and the mode asked for.
#[test]
fn query_reports_held_and_pending_with_name_and_mode() {
    let lock = AsyncLock::request("queryTestLock");
    let reader = lock.lock_shared();
    let writer = on_thread({
        let lock = lock.clone();
        move || drop(lock.lock())
    });
    wait_until("the writer waits", || {
        AsyncLock::query("queryTestLock").is_ok_and(|state| state.pending.len() == 1)
    });
    let state = AsyncLock::query("queryTestLock").unwrap();
    assert_eq!(state.name, "queryTestLock");
    assert_eq!(state.held.len(), 1);
    assert_eq!(state.held[0].name, "queryTestLock");
    assert_eq!(state.held[0].mode, AsyncLockMode::Shared);
    assert_eq!(state.held[0].thread, std::thread::current().id());
    assert_eq!(state.pending[0].mode, AsyncLockMode::Exclusive);
    assert_ne!(state.pending[0].thread, std::thread::current().id());
    drop(reader);
    writer.recv_timeout(PATIENCE).unwrap();
    let state = AsyncLock::query("queryTestLock").unwrap();
    assert!(state.held.is_empty() && state.pending.is_empty());
}

/// `lockAsync(callback)`: exclusive by default; resolves to the callback's value once it ran,
/// and the lock is free again afterwards.
#[test]
fn lock_async_is_exclusive_by_default_and_resolves_to_the_callback_value() {
    assert_eq!(AsyncLockMode::default(), AsyncLockMode::Exclusive);
    assert_eq!(AsyncLockMode::Shared as u8, 1);
    assert_eq!(AsyncLockMode::Exclusive as u8, 2);
    let lock = AsyncLock::new(41);
    let value = block_on(async {
        let mut guard = lock.lock_async().await;
        assert!(
            lock.try_lock_shared().is_none(),
            "a default request is exclusive"
        );
        *guard += 1;
        *guard
    });
    assert_eq!(value, 42);
    let doubled = block_on(lock.lock_async_then(
        AsyncLockMode::default(),
        AsyncLockOptions::new(),
        |access| async move {
            assert_eq!(access.mode(), AsyncLockMode::Exclusive);
            *access * 2
        },
    ));
    assert_eq!(doubled.unwrap(), 84);
    assert!(lock.try_lock().is_some(), "released after the callback");
}

/// `lockAsync(callback, mode, options)` example: `timeout = 1000` on a free lock runs the
/// callback; on a lock held past the timeout it rejects with 10200031 ("Timeout exceeded"),
/// whose message names the holder.
#[test]
fn lock_async_with_a_timeout_runs_or_rejects_with_10200031() {
    let lock = AsyncLock::new(());
    let options = AsyncLockOptions::new().timeout(Duration::from_millis(1000));
    let ran = block_on(lock.lock_async_then(
        AsyncLockMode::Exclusive,
        options.clone(),
        |_| async { "ran" },
    ));
    assert_eq!(ran.unwrap(), "ran");
    let held = lock.lock_shared();
    let options = AsyncLockOptions::new().timeout(Duration::from_millis(20));
    let error = block_on(lock.lock_async_then(AsyncLockMode::Exclusive, options, |_| async {}))
        .unwrap_err();
    assert_eq!(error.code(), Some(10200031));
    let message = error.to_string();
    assert!(
        message.contains("10200031") && message.contains(&lock.name()),
        "{message}"
    );
    drop(held);
}

/// `AsyncLockOptions` constructor: every property at its default (`isAvailable` false, no
/// signal, timeout 0 = wait as long as it takes); the example's options (`isAvailable =
/// false`, a signal not aborted) queue normally and are granted once the holder releases.
#[test]
fn default_options_and_the_constructor_example_queue_until_released() {
    let defaults = AsyncLockOptions::new();
    assert!(!defaults.is_available);
    assert!(defaults.signal.is_none());
    assert_eq!(defaults.timeout, None);
    let signal = AbortSignal::new();
    assert!(!signal.is_aborted());
    assert_eq!(signal.reason(), None);
    let lock = Shared::new(AsyncLock::new(0));
    let holder = lock.lock();
    let waiter = on_thread({
        let (lock, signal) = (lock.clone(), signal.clone());
        move || {
            let options = AsyncLockOptions::new().is_available(false).signal(signal);
            lock.lock_then(AsyncLockMode::Exclusive, &options, |access| *access)
        }
    });
    wait_until("the request queues", || lock.state().pending.len() == 1);
    drop(holder);
    assert_eq!(waiter.recv_timeout(PATIENCE).unwrap().unwrap(), 0);
}

/// `isAvailable: true`: "a lock is granted only when it is not held" — refused at once while
/// held (in either mode), granted when free; it never waits.
#[test]
fn is_available_is_granted_only_when_the_lock_is_not_held() {
    let lock = AsyncLock::new(());
    let only_now = AsyncLockOptions::new().is_available(true);
    let guard = lock.lock_with(&only_now).expect("free: granted");
    let refused = lock.lock_with(&only_now).unwrap_err();
    assert!(matches!(
        refused,
        Error::LockUnavailable {
            mode: AsyncLockMode::Exclusive,
            ..
        }
    ));
    assert_eq!(refused.code(), None);
    drop(guard);
    assert!(
        lock.state().pending.is_empty(),
        "a refused request never queued"
    );
    let _shared = lock.lock_shared();
    let refused = block_on(lock.lock_async_with(only_now.clone())).unwrap_err();
    assert!(matches!(refused, Error::LockUnavailable { .. }));
}

/// `signal`: "If signal.aborted is true, the lock request is discarded", and `reason` is what
/// the rejected promise carries; a request already granted is not affected.
#[test]
fn an_aborted_signal_discards_the_request_with_its_reason() {
    let lock = AsyncLock::new(());
    let signal = AbortSignal::new();
    let options = AsyncLockOptions::new().signal(signal.clone());
    let granted = lock.lock_with(&options).expect("not aborted: granted");
    let waiting = on_thread({
        let signal = signal.clone();
        move || signal.abort("Aborted")
    });
    let mut pending = Box::pin(lock.lock_async_with(options.clone()));
    waiting.recv_timeout(PATIENCE).unwrap();
    let error = block_on(pending.as_mut()).unwrap_err();
    assert!(
        matches!(&error, Error::LockAborted { reason, .. } if reason == "Aborted"),
        "{error:?}"
    );
    assert!(signal.is_aborted());
    assert_eq!(signal.reason().as_deref(), Some("Aborted"));
    drop(granted);
    let again = lock.lock_with(&options).unwrap_err();
    assert!(
        matches!(again, Error::LockAborted { .. }),
        "an aborted signal discards new requests"
    );
    assert!(lock.state().pending.is_empty());
}

// ---------------------------------------------------------------------------------------------
// ConditionVariable (API 18)
// ---------------------------------------------------------------------------------------------

/// `request(name)`: "looks up or creates" — the same object for the same name, another for
/// another name; a named condition variable does not share its waiters with another.
#[test]
fn condition_variable_request_finds_the_same_object_by_name() {
    let a = ConditionVariable::request("conditionName");
    let b = ConditionVariable::request("conditionName");
    let other = ConditionVariable::request("conditionName-2");
    assert!(Shared::ptr_eq(&a, &b));
    assert!(!Shared::ptr_eq(&a, &other));
    let waiting = a.wait_async();
    assert_eq!(b.waiters(), 1);
    other.notify_all();
    assert_eq!(
        a.waiters(),
        1,
        "another name's notification does not reach it"
    );
    b.notify_one();
    block_on(waiting);
}

/// The `notifyAll` and `notifyOne` examples: `waitFor(3000)` then a notification right away —
/// the waiter is woken before its timeout.
#[test]
fn wait_for_then_notify_resolves_before_the_timeout() {
    let changed = ConditionVariable::new();
    let all = changed.wait_for_async(Duration::from_millis(3000));
    changed.notify_all();
    assert!(block_on(all), "notifyAll woke it");
    let first = changed.wait_for_async(Duration::from_millis(3000));
    let second = changed.wait_for_async(Duration::from_millis(3000));
    changed.notify_one();
    assert!(block_on(first), "notifyOne woke the first waiter");
    assert_eq!(changed.waiters(), 1, "and only the first");
    drop(second);
    // `wait()` example: woken by a notification from another thread.
    let changed = Shared::new(ConditionVariable::new());
    let notifier = on_thread({
        let changed = changed.clone();
        move || {
            wait_until("the waiter waits", || changed.waiters() == 1);
            changed.notify_all();
        }
    });
    block_on(changed.wait_async());
    notifier.recv_timeout(PATIENCE).unwrap();
}

/// `waitFor(timeout)`: with no notification the promise still resolves (it does not reject)
/// once the time is up; here `false` says it was not notified, and it leaves the queue.
#[test]
fn wait_for_without_notification_resolves_when_the_time_is_up() {
    let changed = ConditionVariable::new();
    assert!(!block_on(changed.wait_for_async(Duration::from_millis(5))));
    assert!(!changed.wait_for(Duration::from_millis(5)));
    assert_eq!(changed.waiters(), 0);
}
