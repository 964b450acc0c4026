//! `AbortSignal`: withdraws waiting lock requests (ArkTS `AbortSignal`).

use std::fmt;
use std::sync::Weak;
use std::task::Waker;

use super::core::LockCore;
use super::state::RequestId;
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{Arc, Mutex, lock};
use crate::waker_offer::with_offer;

/// A signal that withdraws lock requests while they wait (ArkTS `AbortSignal`).
///
/// Give a clone to [`AsyncLockOptions::signal`](crate::AsyncLockOptions::signal); calling
/// [`abort`](AbortSignal::abort) on any clone makes every request waiting with it give up its
/// place at once and fail with [`Error::LockAborted`](crate::Error::LockAborted), which carries
/// the reason. A request made with an already aborted signal fails without queueing. A request
/// that already holds the lock keeps it: the signal withdraws requests, it does not revoke
/// guards.
///
/// ArkTS's signal is a plain object whose `aborted` field the lock reads when the request comes
/// up; this one is thread-safe (clone it into other tasks) and wakes the waiters itself. The
/// reason is a `String` (ArkTS: any `T`).
///
/// ```
/// use taskpool::{AbortSignal, AsyncLock, AsyncLockOptions, Error};
///
/// let lock = std::sync::Arc::new(AsyncLock::new(()));
/// let signal = AbortSignal::new();
/// let held = lock.lock();
/// let waiter = std::thread::spawn({
///     let (lock, signal) = (lock.clone(), signal.clone());
///     move || lock.lock_with(&AsyncLockOptions::new().signal(signal)).map(drop)
/// });
/// while taskpool::AsyncLock::query_all()
///     .iter()
///     .all(|state| state.name != lock.name() || state.pending.is_empty())
/// {
///     std::thread::yield_now(); // until the waiter has queued
/// }
/// signal.abort("no longer needed");
/// match waiter.join().unwrap() {
///     Err(Error::LockAborted { reason, .. }) => assert_eq!(reason, "no longer needed"),
///     other => panic!("{other:?}"),
/// }
/// drop(held);
/// ```
#[derive(Clone)]
pub struct AbortSignal {
    inner: Arc<Inner>,
}

impl Default for AbortSignal {
    fn default() -> AbortSignal {
        AbortSignal {
            inner: Arc::new(Inner {
                aborted: AtomicBool::new(false),
                state: Mutex::new(State::default()),
            }),
        }
    }
}

struct Inner {
    aborted: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    reason: Option<String>,
    /// Requests waiting with this signal.
    waiters: Vec<Registration>,
    next_key: u64,
}

/// One request waiting with a signal: what an abort needs to withdraw it from its lock and to
/// tell its waiter, without waiting for the waiter to run.
struct Registration {
    key: u64,
    /// Woken by an abort: the request's future or blocked thread, which then fails.
    waker: Waker,
    withdrawal: Withdrawal,
}

/// Where a waiting request is queued: its lock (weakly: the signal must not keep a lock alive)
/// and its id there.
pub(crate) struct Withdrawal {
    pub(crate) lock: Weak<LockCore>,
    pub(crate) id: RequestId,
}

impl Withdrawal {
    /// Takes the request out of its lock's queue, waking whom its departure lets go. Nothing
    /// happens if it holds the lock already or left: only the waiter itself moves from the
    /// queue to the holders, so an abort never takes back a grant.
    fn withdraw(self) {
        if let Some(lock) = self.lock.upgrade() {
            lock.cancel(self.id);
        }
    }
}

impl AbortSignal {
    /// A signal that has not been aborted.
    ///
    /// ```
    /// assert!(!taskpool::AbortSignal::new().is_aborted());
    /// ```
    pub fn new() -> AbortSignal {
        AbortSignal::default()
    }

    /// Aborts: every request waiting with this signal gives up its place and fails with
    /// [`Error::LockAborted`](crate::Error::LockAborted) carrying `reason`. Aborting again keeps
    /// the first reason.
    ///
    /// ```
    /// let signal = taskpool::AbortSignal::new();
    /// signal.abort("first");
    /// signal.abort("second");
    /// assert_eq!(signal.reason().as_deref(), Some("first"));
    /// ```
    pub fn abort(&self, reason: impl Into<String>) {
        let waiters = {
            let mut state = lock(&self.inner.state);
            if state.reason.is_none() {
                state.reason = Some(reason.into());
            }
            self.inner.aborted.store(true, Ordering::SeqCst);
            std::mem::take(&mut state.waiters)
        };
        // The locks are visited after the signal's mutex is released: a lock's mutex is never
        // taken under it (nor it under a lock's), so no order between them can deadlock. A
        // request withdrawn here, found gone by its waiter, counts as aborted: the flag above
        // is set before any withdrawal.
        for Registration {
            waker, withdrawal, ..
        } in waiters
        {
            withdrawal.withdraw();
            // A user waker that panics must neither reach the caller nor keep the others
            // unwoken; its request sees the abort whenever it is polled.
            crate::panic::wake_quietly(waker);
        }
    }

    /// Whether [`abort`](AbortSignal::abort) was called (ArkTS `aborted`).
    ///
    /// ```
    /// let signal = taskpool::AbortSignal::new();
    /// signal.abort("done");
    /// assert!(signal.is_aborted());
    /// ```
    pub fn is_aborted(&self) -> bool {
        self.inner.aborted.load(Ordering::SeqCst)
    }

    /// The reason given to [`abort`](AbortSignal::abort), once aborted (ArkTS `reason`).
    ///
    /// ```
    /// assert_eq!(taskpool::AbortSignal::new().reason(), None);
    /// ```
    pub fn reason(&self) -> Option<String> {
        lock(&self.inner.state).reason.clone()
    }

    /// Registers the waiting request `withdrawal` names, to be withdrawn from its lock and
    /// `waker` woken by an abort; `None` if the signal is already aborted.
    pub(crate) fn register(&self, waker: &Waker, withdrawal: Withdrawal) -> Option<u64> {
        // Cloned before locking: the executor's clone may call back into this signal (abort
        // it). Dropped after unlocking if the signal was aborted meanwhile.
        let waker = waker.clone();
        let mut state = lock(&self.inner.state);
        if state.reason.is_some() {
            drop(state);
            crate::panic::drop_quietly(waker);
            return None;
        }
        let key = state.next_key;
        state.next_key += 1;
        state.waiters.push(Registration {
            key,
            waker,
            withdrawal,
        });
        Some(key)
    }

    /// Updates the registration under `key`: the request was polled with `waker`, and waits
    /// as request `id` (a request that asked anew has a new id). The old waker is dropped
    /// after unlocking, its panic contained (see [`AbortSignal::unregister`]).
    pub(crate) fn update(&self, key: u64, waker: &Waker, id: RequestId) {
        // Offered (see `waker_offer`), for the reason `register` clones before locking.
        with_offer(waker, |offer| {
            let mut state = lock(&self.inner.state);
            let found = state
                .waiters
                .iter_mut()
                .find(|registration| registration.key == key);
            match found {
                Some(registration) => {
                    registration.withdrawal.id = id;
                    offer.replace(&mut registration.waker).then_some(())
                }
                None => Some(()),
            }
        })
    }

    /// Forgets the waker registered under `key` (the request completed or gave up). The waker
    /// is dropped after unlocking, its panic contained: it may be the last reference to a task
    /// whose `Drop` panics, and a request just granted the lock must still return it.
    pub(crate) fn unregister(&self, key: u64) {
        let removed = {
            let mut state = lock(&self.inner.state);
            state
                .waiters
                .iter()
                .position(|registration| registration.key == key)
                .map(|at| state.waiters.swap_remove(at))
        };
        crate::panic::drop_quietly(removed);
    }

    /// The reason to report for an aborted request.
    pub(crate) fn reason_or_default(&self) -> String {
        self.reason().unwrap_or_else(|| String::from("aborted"))
    }
}

impl fmt::Debug for AbortSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortSignal")
            .field("aborted", &self.is_aborted())
            .field("reason", &self.reason())
            .finish()
    }
}
