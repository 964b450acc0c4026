//! `AsyncLock<T>`: a fair lock that can be taken by blocking or by awaiting (ArkTS `AsyncLock`).

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::function::Transferable;
use crate::sendable::Sendable;

/// A mutual-exclusion lock around a value that can be taken from synchronous code
/// ([`lock`](AsyncLock::lock), which blocks) and from async code
/// ([`lock_async`](AsyncLock::lock_async), which waits without blocking the thread): the Rust
/// counterpart of ArkTS `AsyncLock`.
///
/// * **Woken in order, no hand-over**: on release the longest-waiting async waiter is woken (and
///   blocked threads are notified); whoever reaches the free lock first takes it. The lock is not
///   handed to a chosen waiter because that waiter may be an `async` task suspended on the very
///   pool worker that is now blocked in [`lock`](AsyncLock::lock): a hand-over would deadlock
///   them, competing cannot.
/// * **No busy waiting**: blocked threads sleep on a condition variable, async waiters are woken
///   through their [`Waker`]. It works under any executor and needs none.
/// * **Send guards**: an [`AsyncLockGuard`] may be held across `.await` in a task that must be
///   `Send`. While locked, the value lives in the guard (it is moved, never cloned) and moves back
///   when the guard drops, also during a panic, so there is no poisoning.
/// * **Shareable**: `AsyncLock<T>` is [`Sendable`]; put it in a `#[sendable]` type or share it
///   directly with [`Shared`](crate::Shared). It serializes as its value (waiting for the lock to
///   read it); a deserialized lock is a new, unlocked lock.
///
/// ```
/// use taskpool::{AsyncLock, Shared};
///
/// let counter = Shared::new(AsyncLock::new(0u64));
/// let threads: Vec<_> = (0..4)
///     .map(|_| {
///         let counter = counter.clone();
///         std::thread::spawn(move || {
///             for _ in 0..100 {
///                 *counter.lock() += 1;
///             }
///         })
///     })
///     .collect();
/// for thread in threads {
///     thread.join().unwrap();
/// }
/// assert_eq!(*counter.lock(), 400);
/// ```
pub struct AsyncLock<T> {
    state: Mutex<State>,
    /// Wakes blocked (synchronous) waiters.
    released: Condvar,
    /// The value while nobody holds the lock.
    value: Mutex<Option<T>>,
}

#[derive(Default)]
struct State {
    /// Someone holds the lock.
    locked: bool,
    /// Waiters in arrival order.
    queue: VecDeque<Waiter>,
    next_ticket: u64,
}

impl State {
    fn enqueue(&mut self, waker: Option<Waker>) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.queue.push_back(Waiter { ticket, waker });
        ticket
    }

    fn leave_queue(&mut self, ticket: u64) {
        self.queue.retain(|waiter| waiter.ticket != ticket);
    }

    /// The lock is free: whom to wake so that a waiter, if any, takes it.
    fn wake_list(&self) -> (Option<Waker>, bool) {
        let first_async = self.queue.iter().find_map(|w| w.waker.clone());
        let any_blocked = self.queue.iter().any(|w| w.waker.is_none());
        (first_async, any_blocked)
    }
}

struct Waiter {
    ticket: u64,
    /// `None` for a blocked thread (woken through the condition variable).
    waker: Option<Waker>,
}

fn lock_ignoring_poison<U>(mutex: &Mutex<U>) -> MutexGuard<'_, U> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<T> AsyncLock<T> {
    /// A new, unlocked lock around `value`.
    ///
    /// ```
    /// let lock = taskpool::AsyncLock::new(vec![1, 2]);
    /// assert_eq!(lock.lock().len(), 2);
    /// ```
    pub fn new(value: T) -> AsyncLock<T> {
        AsyncLock {
            state: Mutex::new(State::default()),
            released: Condvar::new(),
            value: Mutex::new(Some(value)),
        }
    }

    /// Takes the lock, blocking the thread until it is this caller's turn.
    ///
    /// Inside a pool task, the thread counts as blocked while it waits, so the pool may add a
    /// thread to resume an `async` holder (within its hard ceiling of threads). Prefer
    /// [`lock_async`](AsyncLock::lock_async) in `async` tasks: it frees the thread meanwhile.
    ///
    /// ```
    /// let lock = taskpool::AsyncLock::new(String::from("a"));
    /// lock.lock().push('b');
    /// assert_eq!(*lock.lock(), "ab");
    /// ```
    pub fn lock(&self) -> AsyncLockGuard<'_, T> {
        let mut state = lock_ignoring_poison(&self.state);
        if state.locked {
            let ticket = state.enqueue(None);
            state = crate::pool::block_in_place(|| {
                while state.locked {
                    state = self
                        .released
                        .wait(state)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
                state
            });
            state.leave_queue(ticket);
        }
        state.locked = true;
        drop(state);
        self.guard()
    }

    /// Takes the lock asynchronously: the returned future resolves to the guard when it is this
    /// caller's turn, without blocking the thread meanwhile. Dropping the future gives up the
    /// place in the queue.
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(future: F) -> F::Output {
    /// #     use std::task::{Context, Poll, Wake, Waker};
    /// #     struct Nop;
    /// #     impl Wake for Nop { fn wake(self: std::sync::Arc<Self>) {} }
    /// #     let waker = Waker::from(std::sync::Arc::new(Nop));
    /// #     let mut future = std::pin::pin!(future);
    /// #     loop {
    /// #         if let Poll::Ready(value) = future.as_mut().poll(&mut Context::from_waker(&waker)) {
    /// #             return value;
    /// #         }
    /// #     }
    /// # }
    /// let lock = taskpool::AsyncLock::new(1);
    /// block_on(async {
    ///     let mut guard = lock.lock_async().await;
    ///     *guard += 1;
    /// });
    /// assert_eq!(*lock.lock(), 2);
    /// ```
    pub fn lock_async(&self) -> LockFuture<'_, T> {
        LockFuture {
            lock: self,
            ticket: None,
            done: false,
        }
    }

    /// Takes the lock if it is free, without waiting.
    ///
    /// ```
    /// let lock = taskpool::AsyncLock::new(0);
    /// let held = lock.try_lock().unwrap();
    /// assert!(lock.try_lock().is_none());
    /// drop(held);
    /// assert!(lock.try_lock().is_some());
    /// ```
    pub fn try_lock(&self) -> Option<AsyncLockGuard<'_, T>> {
        let mut state = lock_ignoring_poison(&self.state);
        if state.locked {
            return None;
        }
        state.locked = true;
        drop(state);
        Some(self.guard())
    }

    /// The value, through exclusive access (no locking needed).
    ///
    /// ```
    /// let mut lock = taskpool::AsyncLock::new(1);
    /// *lock.get_mut() = 5;
    /// assert_eq!(lock.into_inner(), 5);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.value
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_mut()
            .expect("the value is present while no guard exists")
    }

    /// Consumes the lock and returns the value.
    ///
    /// ```
    /// let lock = taskpool::AsyncLock::new("x");
    /// assert_eq!(lock.into_inner(), "x");
    /// ```
    pub fn into_inner(self) -> T {
        self.value
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .expect("the value is present while no guard exists")
    }

    /// The guard of a caller that now owns the lock: the value moves into it.
    fn guard(&self) -> AsyncLockGuard<'_, T> {
        let value = lock_ignoring_poison(&self.value).take();
        AsyncLockGuard {
            lock: self,
            value: Some(value.expect("the owner of the lock finds the value in place")),
        }
    }

    /// Releases the lock held by the caller and wakes whoever waits longest.
    fn release(&self) {
        let mut state = lock_ignoring_poison(&self.state);
        state.locked = false;
        self.wake_waiters(state);
    }

    /// With the lock free, wakes the first async waiter and every blocked thread.
    fn wake_waiters(&self, state: MutexGuard<'_, State>) {
        let (first_async, any_blocked) = state.wake_list();
        drop(state);
        if any_blocked {
            self.released.notify_all();
        }
        if let Some(waker) = first_async {
            waker.wake();
        }
    }
}

impl<T: Default> Default for AsyncLock<T> {
    fn default() -> AsyncLock<T> {
        AsyncLock::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for AsyncLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.try_lock() {
            Some(guard) => f.debug_struct("AsyncLock").field("value", &*guard).finish(),
            None => f.write_str("AsyncLock { <locked> }"),
        }
    }
}

impl<T: Serialize> Serialize for AsyncLock<T> {
    /// Serializes the value, waiting for the lock to read it. Do not serialize a lock while the
    /// same thread holds it.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.lock().serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for AsyncLock<T> {
    /// A new, unlocked lock around the deserialized value.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<AsyncLock<T>, D::Error> {
        T::deserialize(deserializer).map(AsyncLock::new)
    }
}

impl<T: Transferable> Sendable for AsyncLock<T> {}

/// Exclusive access to the value of an [`AsyncLock`]; releasing it hands the lock to the next
/// waiter. It is `Send` when `T` is, so it may be held across `.await`.
///
/// ```
/// let lock = taskpool::AsyncLock::new(vec![1]);
/// let mut guard = lock.lock();
/// guard.push(2);
/// drop(guard);
/// assert_eq!(*lock.lock(), [1, 2]);
/// ```
pub struct AsyncLockGuard<'a, T> {
    lock: &'a AsyncLock<T>,
    value: Option<T>,
}

impl<T> Deref for AsyncLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value.as_ref().expect("a live guard holds the value")
    }
}

impl<T> DerefMut for AsyncLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value.as_mut().expect("a live guard holds the value")
    }
}

impl<T> Drop for AsyncLockGuard<'_, T> {
    fn drop(&mut self) {
        *lock_ignoring_poison(&self.lock.value) = self.value.take();
        self.lock.release();
    }
}

impl<T: fmt::Debug> fmt::Debug for AsyncLockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AsyncLockGuard").field(&**self).finish()
    }
}

/// The future returned by [`AsyncLock::lock_async`]; it resolves to an [`AsyncLockGuard`].
#[must_use = "the lock is taken only when the future is awaited"]
pub struct LockFuture<'a, T> {
    lock: &'a AsyncLock<T>,
    /// The place in the queue, once this future had to wait.
    ticket: Option<u64>,
    done: bool,
}

impl<'a, T> Future for LockFuture<'a, T> {
    type Output = AsyncLockGuard<'a, T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<AsyncLockGuard<'a, T>> {
        assert!(!self.done, "LockFuture polled after completion");
        let lock = self.lock;
        let mut state = lock_ignoring_poison(&lock.state);
        if state.locked {
            match self.ticket {
                None => self.ticket = Some(state.enqueue(Some(cx.waker().clone()))),
                Some(ticket) => {
                    if let Some(waiter) = state.queue.iter_mut().find(|w| w.ticket == ticket) {
                        waiter.waker = Some(cx.waker().clone());
                    }
                }
            }
            return Poll::Pending;
        }
        if let Some(ticket) = self.ticket {
            state.leave_queue(ticket);
        }
        state.locked = true;
        drop(state);
        self.done = true;
        self.ticket = None;
        Poll::Ready(lock.guard())
    }
}

impl<T> Drop for LockFuture<'_, T> {
    fn drop(&mut self) {
        let Some(ticket) = self.ticket else {
            return;
        };
        let mut state = lock_ignoring_poison(&self.lock.state);
        state.leave_queue(ticket);
        if !state.locked {
            // This waiter may have been woken for a free lock it will never take: pass it on.
            self.lock.wake_waiters(state);
        }
    }
}

impl<T> fmt::Debug for LockFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockFuture")
            .field("ticket", &self.ticket)
            .finish_non_exhaustive()
    }
}
