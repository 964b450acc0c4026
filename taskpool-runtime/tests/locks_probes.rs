//! Probes of the locks module's robustness: requests from unusual places (thread-local
//! destructors), condition-variable timeouts racing notifications, named locks churned from many
//! threads, callbacks that panic. Deterministic: waits end on conditions, hangs fail on
//! [`PATIENCE`](support::PATIENCE).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::{PATIENCE, block_on, wait_until};
use taskpool::{AsyncLock, AsyncLockMode, AsyncLockOptions, ConditionVariable, Shared};

/// A value whose destructor takes a lock, kept in a thread-local: it runs while the thread's
/// thread-locals are being destroyed.
struct LocksOnDrop {
    lock: Arc<AsyncLock<u32>>,
    changed: Arc<ConditionVariable>,
}

impl Drop for LocksOnDrop {
    fn drop(&mut self) {
        *self.lock.lock() += 1;
        *self
            .lock
            .lock_with(&AsyncLockOptions::new().timeout(PATIENCE))
            .unwrap() += 1;
        *block_on(self.lock.lock_async()) += 1;
        assert!(!self.changed.wait_for(Duration::ZERO));
        assert!(!taskpool::is_canceled());
        // A contended request and a condition wait: this thread really waits.
        let (held, holding) = std::sync::mpsc::channel();
        let helper = std::thread::spawn({
            let (lock, changed) = (self.lock.clone(), self.changed.clone());
            move || {
                let guard = lock.lock();
                held.send(()).unwrap();
                wait_until("the destructor waits for the lock", || {
                    lock.state().pending.len() == 1
                });
                drop(guard);
                wait_until("the destructor waits for a notification", || {
                    changed.waiters() == 1
                });
                changed.notify_one();
            }
        });
        holding.recv().unwrap();
        *self.lock.lock() += 1;
        assert!(self.changed.wait_for(PATIENCE));
        helper.join().unwrap();
    }
}

thread_local! {
    static LOCKS_ON_DROP: std::cell::RefCell<Option<LocksOnDrop>> =
        const { std::cell::RefCell::new(None) };
}

#[test]
fn a_lock_taken_in_a_thread_local_destructor_does_not_abort_the_process() {
    let lock = Arc::new(AsyncLock::new(0u32));
    let changed = Arc::new(ConditionVariable::new());
    std::thread::spawn({
        let (lock, changed) = (lock.clone(), changed.clone());
        move || {
            // Registered first, so destroyed after the runtime's own thread-locals, which
            // the lock below makes this thread initialize.
            LOCKS_ON_DROP.with(|slot| {
                *slot.borrow_mut() = Some(LocksOnDrop {
                    lock: lock.clone(),
                    changed: changed.clone(),
                })
            });
            *lock.lock() += 1;
            assert!(!changed.wait_for(Duration::ZERO));
        }
    })
    .join()
    .unwrap();
    assert_eq!(*lock.lock_shared(), 5);
}

/// A small pseudo-random sequence (xorshift), so each round races at a different moment.
fn jitter(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// Spins for a pseudo-random short while.
fn spin(seed: &mut u64) {
    for _ in 0..jitter(seed) % 20_000 {
        std::hint::spin_loop();
    }
}

/// A waiter whose timeout runs out as `notify_one` picks it, with a second waiter behind it:
/// the one notification goes to exactly one of them. Either the timed waiter reports it was
/// notified (and the second still waits), or it reports a timeout and the second is woken —
/// never both, never neither (a lost notification would leave the second waiting forever).
#[test]
fn a_timed_wait_racing_notify_one_passes_the_notification_to_exactly_one_waiter() {
    let changed = Arc::new(ConditionVariable::new());
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for round in 0..300 {
        let timeout = Duration::from_micros(jitter(&mut seed) % 300);
        let blocking = round % 2 == 0;
        let timed = std::thread::spawn({
            let changed = changed.clone();
            move || {
                if blocking {
                    changed.wait_for(timeout)
                } else {
                    block_on(changed.wait_for_async(timeout))
                }
            }
        });
        // The second waiter takes its place after the timed one (unless that one is gone).
        wait_until("the timed waiter waits or is done", || {
            changed.waiters() == 1 || timed.is_finished()
        });
        let mut second = support::Probe::new(changed.wait_async());
        assert!(second.poll().is_pending());
        spin(&mut seed);
        changed.notify_one();
        let notified = timed.join().unwrap();
        if notified {
            assert!(
                second.poll().is_pending(),
                "round {round}: both were notified"
            );
            assert_eq!(changed.waiters(), 1, "round {round}");
            drop(second);
        } else {
            assert!(
                second.poll().is_ready(),
                "round {round}: the notification was lost"
            );
        }
        assert_eq!(changed.waiters(), 0, "round {round}");
    }
}

/// Many threads request, lock and drop the same name while others query it: every live handle
/// is the same lock (so the holders exclude each other), and a query finds it or reports
/// 10200030, nothing else.
#[test]
fn a_named_lock_churned_from_many_threads_stays_one_lock() {
    const NAME: &str = "probe-churned-name";
    let inside = Arc::new(AtomicUsize::new(0));
    let entries = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let (inside, entries) = (inside.clone(), entries.clone());
            std::thread::spawn(move || {
                for round in 0..400 {
                    if (t + round) % 3 == 0 {
                        match AsyncLock::query(NAME) {
                            Ok(state) => assert!(state.held.len() <= 1, "{state}"),
                            Err(error) => assert_eq!(error.code(), Some(10200030)),
                        }
                    }
                    let handle = AsyncLock::request(NAME);
                    let guard = handle.lock();
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                    entries.fetch_add(1, Ordering::SeqCst);
                    inside.fetch_sub(1, Ordering::SeqCst);
                    drop(guard);
                    drop(handle);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(entries.load(Ordering::SeqCst), 6 * 400);
}

/// The same for named condition variables: a notification through one handle reaches a waiter
/// that waits through another, however handles come and go.
#[test]
fn a_named_condition_variable_churned_from_many_threads_stays_one() {
    const NAME: &str = "probe-churned-condition";
    for _ in 0..200 {
        let waiter = std::thread::spawn(|| {
            let changed = ConditionVariable::request(NAME);
            changed.wait_for(PATIENCE)
        });
        let churn = std::thread::spawn(|| {
            for _ in 0..20 {
                drop(ConditionVariable::request(NAME));
            }
        });
        let changed = ConditionVariable::request(NAME);
        wait_until("the waiter waits", || changed.waiters() == 1);
        changed.notify_one();
        assert!(
            waiter.join().unwrap(),
            "the waiter timed out: two condition variables"
        );
        churn.join().unwrap();
    }
}

/// A request with a timeout far in the future (representable, unlike `Duration::MAX`) waits
/// like one without a timeout: no overflow, no early error, and it gets the lock when freed.
#[test]
fn a_huge_but_representable_timeout_waits_until_the_lock_is_free() {
    let huge = Duration::from_secs(u64::MAX / 4);
    let lock = Arc::new(AsyncLock::new(0));
    let changed = Arc::new(ConditionVariable::new());
    let held = lock.lock();
    let blocking = std::thread::spawn({
        let lock = lock.clone();
        move || {
            *lock
                .lock_with(&AsyncLockOptions::new().timeout(huge))
                .unwrap() += 1
        }
    });
    let asynchronous = std::thread::spawn({
        let lock = lock.clone();
        move || {
            let options = AsyncLockOptions::new().timeout(huge);
            *block_on(lock.lock_async_with(options)).unwrap() += 1
        }
    });
    let condition = std::thread::spawn({
        let changed = changed.clone();
        move || {
            (
                changed.wait_for(huge),
                block_on(changed.wait_for_async(huge)),
            )
        }
    });
    wait_until("both requests wait", || lock.state().pending.len() == 2);
    drop(held);
    blocking.join().unwrap();
    asynchronous.join().unwrap();
    assert_eq!(*lock.lock_shared(), 2);
    for _ in 0..2 {
        wait_until("the condition waiter waits", || changed.waiters() == 1);
        changed.notify_one();
    }
    assert_eq!(condition.join().unwrap(), (true, true));
}

/// A callback that panics releases the lock it was given, in the blocking and the async form,
/// in either mode; the lock stays usable and lists no holder.
#[test]
fn a_panicking_callback_releases_the_lock() {
    let lock = AsyncLock::new(0);
    for mode in [AsyncLockMode::Shared, AsyncLockMode::Exclusive] {
        let blocking = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            lock.lock_then(mode, &AsyncLockOptions::new(), |_access| {
                panic!("callback panics")
            })
        }));
        assert!(blocking.is_err());
        assert!(lock.state().held.is_empty());
        let asynchronous = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            block_on(
                lock.lock_async_then(mode, AsyncLockOptions::new(), |_access| async move {
                    panic!("callback future panics")
                }),
            )
        }));
        assert!(asynchronous.is_err());
        assert!(lock.state().held.is_empty());
        *lock.try_lock().expect("the lock is free") += 1;
    }
    assert_eq!(*lock.lock_shared(), 2);
}

/// Dropping `wait_with_async` after its notification, while it waits to take the lock back,
/// leaves no waiter behind in the lock's queue nor in the condition variable.
#[test]
fn a_condition_wait_dropped_while_retaking_the_lock_leaves_nothing_behind() {
    let lock = AsyncLock::new(0);
    let changed = ConditionVariable::new();
    let guard = support::Probe::new(lock.lock_async()).ready();
    let mut waiting = support::Probe::new(changed.wait_with_async(guard));
    assert!(waiting.poll().is_pending());
    assert!(lock.state().held.is_empty());
    let held = lock.lock();
    changed.notify_one();
    assert!(
        waiting.poll().is_pending(),
        "the lock is held: it waits to take it back"
    );
    assert_eq!(lock.state().pending.len(), 1);
    drop(waiting);
    assert!(lock.state().pending.is_empty());
    assert_eq!(changed.waiters(), 0);
    drop(held);
    assert!(lock.try_lock().is_some());
}

#[taskpool::sendable]
struct Mailbox {
    pub value: AsyncLock<u32>,
    pub changed: ConditionVariable,
}

/// Waits (async) for the value to reach `target` under the lock, then adds one.
#[taskpool::concurrent]
async fn await_value(mailbox: Shared<Mailbox>, target: u32) -> u32 {
    let mut guard = mailbox.value.lock_async().await;
    while *guard < target {
        guard = mailbox.changed.wait_with_async(guard).await;
    }
    *guard += 1;
    *guard
}

/// Asks for the lock with a short timeout while the test holds it: must time out.
#[taskpool::concurrent]
async fn time_out_waiting(mailbox: Shared<Mailbox>) -> Option<u32> {
    let options = AsyncLockOptions::new().timeout(Duration::from_millis(2));
    match mailbox.value.lock_async_with(options).await {
        Ok(_) => None,
        Err(error) => error.code(),
    }
}

/// Many async waiters on a pool with a single thread and no extra one: they all wait on the
/// lock and the condition variable without holding the thread, a timed-out request leaves the
/// queue, and each is woken in turn as the value moves on.
#[test]
fn many_async_condition_waiters_on_a_one_thread_pool_are_all_woken() {
    const WAITERS: u32 = 40;
    let pool = taskpool::TaskPool::builder()
        .max_threads(1)
        .extra_threads(0)
        .build()
        .unwrap();
    let mailbox = Shared::new(Mailbox {
        value: AsyncLock::new(0),
        changed: ConditionVariable::new(),
    });
    let held = mailbox.value.lock();
    let handles: Vec<_> = (0..WAITERS)
        .map(|n| pool.run(await_value, (mailbox.clone(), n)))
        .collect();
    wait_until("every waiter queues for the lock", || {
        mailbox.value.state().pending.len() == WAITERS as usize
    });
    let mut timed_out = pool.run(time_out_waiting, (mailbox.clone(),));
    assert_eq!(
        timed_out.wait_timeout(PATIENCE).unwrap().unwrap(),
        Some(10200031)
    );
    assert_eq!(mailbox.value.state().pending.len(), WAITERS as usize);
    drop(held);
    // Waiter 0 goes at once; every other one waits for its turn and is woken by notify_all.
    let mut results = Vec::new();
    for mut handle in handles {
        let result = loop {
            if let Some(result) = handle.wait_timeout(Duration::from_millis(1)) {
                break result.unwrap();
            }
            mailbox.changed.notify_all();
        };
        results.push(result);
    }
    results.sort_unstable();
    assert_eq!(results, (1..=WAITERS).collect::<Vec<_>>());
    assert!(mailbox.value.state().pending.is_empty());
    assert_eq!(mailbox.changed.waiters(), 0);
}
