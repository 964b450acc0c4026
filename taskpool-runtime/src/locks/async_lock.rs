//! `AsyncLock<T>`: a fair reader-writer lock around a value, taken by blocking or by awaiting,
//! with guards (Rust's idiom) or callbacks (ArkTS's `lockAsync(callback, mode, options)`).

use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::core::{Acquire, LockCore};
use super::diagnosis::AsyncLockState;
use super::named;
use super::options::{AsyncLockMode, AsyncLockOptions};
use super::state::RequestId;
use crate::error::Result;
use crate::function::Transferable;
use crate::sendable::Sendable;
use crate::shared::Shared;
use crate::sync::Arc;

/// A lock around a value that can be taken in [shared](AsyncLockMode::Shared) or
/// [exclusive](AsyncLockMode::Exclusive) mode, from synchronous code (which blocks) and from
/// async code (which waits without blocking the thread): the Rust counterpart of ArkTS
/// `ArkTSUtils.locks.AsyncLock`.
///
/// | | exclusive (`&mut T`) | shared (`&T`) |
/// |---|---|---|
/// | blocking | [`lock`](AsyncLock::lock) | [`lock_shared`](AsyncLock::lock_shared) |
/// | async | [`lock_async`](AsyncLock::lock_async) | [`lock_shared_async`](AsyncLock::lock_shared_async) |
/// | now or never | [`try_lock`](AsyncLock::try_lock) | [`try_lock_shared`](AsyncLock::try_lock_shared) |
/// | with [`AsyncLockOptions`] (timeout, abort, is-available) | [`lock_with`](AsyncLock::lock_with), [`lock_async_with`](AsyncLock::lock_async_with) | [`lock_shared_with`](AsyncLock::lock_shared_with), [`lock_shared_async_with`](AsyncLock::lock_shared_async_with) |
/// | a callback, mode chosen at run time | [`lock_then`](AsyncLock::lock_then), [`lock_async_then`](AsyncLock::lock_async_then) | the same |
///
/// * **Fair**: requests are served in arrival order. Shared requests at the front of the queue
///   go together; a shared request that arrives while an exclusive one waits queues behind it,
///   so readers never starve a writer (ArkTS's `AsyncLockMode` example). When its turn comes a
///   waiter is woken and takes the lock as soon as it runs. Before it has run, a try
///   (`try_lock`, `is_available`) may take the free lock, and so may a new exclusive request,
///   at most 64 times per waiter (bounded overtaking: without it, every hand-over under
///   contention would cost a context switch).
/// * **Safe inside pool tasks**: a blocking `lock` in a pool task counts its thread as blocked
///   (as `TaskHandle::wait` does), so the pool may add a thread to resume an `async` holder.
///   Prefer the `async` forms in `async fn` tasks: they free the thread meanwhile.
/// * **Send guards**: [`AsyncLockGuard`] (`&mut T`) and [`AsyncLockSharedGuard`] (`&T`) may be
///   held across `.await` in a future that must be `Send`. Dropping a guard releases the lock,
///   also during a panic, so there is no poisoning.
/// * **The value**: it lives in the lock, behind an inner reader-writer lock that only the
///   holders this lock grants ever touch, so it never waits (`T` must be `Send + Sync` for the
///   lock to be shared). Guards borrow it; nothing ever copies `T`. For a lock that guards code
///   rather than data, use `AsyncLock<()>` (the default type): [`AsyncLock::request`] makes those.
/// * **Forgotten guards and futures** (`std::mem::forget`): a forgotten guard keeps the lock
///   held, and a forgotten waiting future keeps its place in the queue, as with
///   `std::sync::Mutex`: later requests wait (give them a timeout) and tries fail. Nothing
///   panics: [`get_mut`](AsyncLock::get_mut) and [`into_inner`](AsyncLock::into_inner) still
///   return the value, since `&mut self` and ownership prove that no guard is alive.
/// * **Observable**: every lock has a [`name`](AsyncLock::name) and a [`state`](AsyncLock::state)
///   (who holds it, who waits, in which mode, from which task and thread);
///   [`AsyncLock::query_all`] lists every live lock, and a request that times out names holders
///   and waiters and reports any cycle of waits (a possible deadlock).
/// * **Shareable**: `AsyncLock<T>` is [`Sendable`]: put it in a `#[sendable]` type or share it
///   directly with [`Shared`]. It serializes as its value (taking the lock in shared mode to read
///   it); a deserialized lock is a new, free lock.
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
/// assert_eq!(*counter.lock_shared(), 400);
/// ```
pub struct AsyncLock<T = ()> {
    core: Arc<LockCore>,
    /// The value. `core` decides who may touch it; the guards then take this inner lock, which
    /// is therefore never contended (its guards are `Send` through `send_guard`). It is what
    /// lets `get_mut` reach the value past a forgotten guard without `unsafe`.
    value: RwLock<T>,
}

impl<T> AsyncLock<T> {
    /// A new, free lock around `value` (ArkTS `new AsyncLock()`). Its name is `anonymous#<n>`.
    ///
    /// ```
    /// let lock = taskpool::AsyncLock::new(vec![1, 2]);
    /// assert_eq!(lock.lock().len(), 2);
    /// assert!(lock.name().starts_with("anonymous#"));
    /// ```
    pub fn new(value: T) -> AsyncLock<T> {
        AsyncLock::with_core(LockCore::new(None), value)
    }

    pub(crate) fn with_core(core: LockCore, value: T) -> AsyncLock<T> {
        let core = Arc::new(core);
        named::register(&core);
        AsyncLock {
            core,
            value: RwLock::new(value),
        }
    }

    /// The lock's name (ArkTS `name`): the one given to [`AsyncLock::request`], or
    /// `anonymous#<n>` for a lock made with [`new`](AsyncLock::new).
    ///
    /// ```
    /// let lock = taskpool::AsyncLock::request("docs-name");
    /// assert_eq!(lock.name(), "docs-name");
    /// ```
    pub fn name(&self) -> String {
        self.core.name()
    }

    /// Who holds this lock and who waits for it, now (ArkTS `AsyncLock.query(name)`, for any
    /// lock).
    ///
    /// ```
    /// let lock = taskpool::AsyncLock::new(());
    /// let guard = lock.lock();
    /// assert_eq!(lock.state().held.len(), 1);
    /// drop(guard);
    /// assert!(lock.state().held.is_empty());
    /// ```
    pub fn state(&self) -> AsyncLockState {
        self.core.snapshot()
    }

    /// Takes the lock in exclusive mode, blocking the thread until it is this caller's turn.
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
        let id = self
            .core
            .acquire_blocking(AsyncLockMode::Exclusive, &AsyncLockOptions::default())
            .expect("a request without options always gets the lock");
        self.exclusive(id)
    }

    /// Takes the lock in shared mode, blocking the thread until it is this caller's turn. Shared
    /// holders hold the lock together; a shared request waits for any exclusive one that
    /// arrived before it.
    ///
    /// ```
    /// let lock = taskpool::AsyncLock::new(5);
    /// let a = lock.lock_shared();
    /// let b = lock.lock_shared(); // readers share
    /// assert_eq!(*a + *b, 10);
    /// ```
    pub fn lock_shared(&self) -> AsyncLockSharedGuard<'_, T> {
        let id = self
            .core
            .acquire_blocking(AsyncLockMode::Shared, &AsyncLockOptions::default())
            .expect("a request without options always gets the lock");
        self.shared(id)
    }

    /// Takes the lock in exclusive mode, blocking, with `options`: a timeout
    /// ([`Error::LockTimedOut`](crate::Error::LockTimedOut), 10200031), an abort signal
    /// ([`Error::LockAborted`](crate::Error::LockAborted)) or "only if available"
    /// ([`Error::LockUnavailable`](crate::Error::LockUnavailable)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskpool::{AsyncLock, AsyncLockOptions};
    ///
    /// let lock = AsyncLock::new(1);
    /// let options = AsyncLockOptions::new().timeout(Duration::from_secs(5));
    /// *lock.lock_with(&options).unwrap() += 1;
    /// assert_eq!(*lock.lock(), 2);
    /// ```
    pub fn lock_with(&self, options: &AsyncLockOptions) -> Result<AsyncLockGuard<'_, T>> {
        let id = self
            .core
            .acquire_blocking(AsyncLockMode::Exclusive, options)?;
        Ok(self.exclusive(id))
    }

    /// Takes the lock in shared mode, blocking, with `options` (see
    /// [`lock_with`](AsyncLock::lock_with)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskpool::{AsyncLock, AsyncLockOptions};
    ///
    /// let lock = AsyncLock::new(1);
    /// let _writer = lock.lock();
    /// let options = AsyncLockOptions::new().timeout(Duration::ZERO);
    /// let error = lock.lock_shared_with(&options).unwrap_err();
    /// assert_eq!(error.code(), Some(10200031));
    /// ```
    pub fn lock_shared_with(
        &self,
        options: &AsyncLockOptions,
    ) -> Result<AsyncLockSharedGuard<'_, T>> {
        let id = self.core.acquire_blocking(AsyncLockMode::Shared, options)?;
        Ok(self.shared(id))
    }

    /// Takes the lock in exclusive mode asynchronously: the future resolves to the guard when it
    /// is this caller's turn, without blocking the thread meanwhile. The request is made at the
    /// first poll; dropping the future gives up its place in the queue (and passes on a turn
    /// that had come).
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(future: F) -> F::Output {
    /// #     let mut future = std::pin::pin!(future);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop {
    /// #         if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut cx) {
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
            acquire: self
                .core
                .acquire(AsyncLockMode::Exclusive, AsyncLockOptions::default()),
        }
    }

    /// Takes the lock in shared mode asynchronously (see [`lock_async`](AsyncLock::lock_async)).
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(future: F) -> F::Output {
    /// #     let mut future = std::pin::pin!(future);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop {
    /// #         if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut cx) {
    /// #             return value;
    /// #         }
    /// #     }
    /// # }
    /// let lock = taskpool::AsyncLock::new(vec![1, 2, 3]);
    /// let sum: i32 = block_on(async { lock.lock_shared_async().await.iter().sum() });
    /// assert_eq!(sum, 6);
    /// ```
    pub fn lock_shared_async(&self) -> SharedLockFuture<'_, T> {
        SharedLockFuture {
            lock: self,
            acquire: self
                .core
                .acquire(AsyncLockMode::Shared, AsyncLockOptions::default()),
        }
    }

    /// Takes the lock in exclusive mode asynchronously, with `options` (ArkTS
    /// `lockAsync(callback, EXCLUSIVE, options)`, guard form). The timeout runs on the
    /// runtime's timer ([`sleep`](crate::sleep)); an abort wakes the request at once.
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(future: F) -> F::Output {
    /// #     let mut future = std::pin::pin!(future);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop {
    /// #         if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut cx) {
    /// #             return value;
    /// #         }
    /// #     }
    /// # }
    /// use taskpool::{AsyncLock, AsyncLockOptions, Error};
    ///
    /// let lock = AsyncLock::new(0);
    /// let held = lock.lock_shared();
    /// let options = AsyncLockOptions::new().is_available(true);
    /// let refused = block_on(lock.lock_async_with(options.clone()));
    /// assert!(matches!(refused, Err(Error::LockUnavailable { .. })));
    /// drop(held);
    /// assert!(block_on(lock.lock_async_with(options)).is_ok());
    /// ```
    pub fn lock_async_with(&self, options: AsyncLockOptions) -> LockWithFuture<'_, T> {
        LockWithFuture {
            lock: self,
            acquire: self.core.acquire(AsyncLockMode::Exclusive, options),
        }
    }

    /// Takes the lock in shared mode asynchronously, with `options` (see
    /// [`lock_async_with`](AsyncLock::lock_async_with)).
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(future: F) -> F::Output {
    /// #     let mut future = std::pin::pin!(future);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop {
    /// #         if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut cx) {
    /// #             return value;
    /// #         }
    /// #     }
    /// # }
    /// use std::time::Duration;
    /// use taskpool::{AsyncLock, AsyncLockOptions};
    ///
    /// let lock = AsyncLock::new(7);
    /// let options = AsyncLockOptions::new().timeout(Duration::from_secs(5));
    /// let guard = block_on(lock.lock_shared_async_with(options)).unwrap();
    /// assert_eq!(*guard, 7);
    /// ```
    pub fn lock_shared_async_with(&self, options: AsyncLockOptions) -> SharedLockWithFuture<'_, T> {
        SharedLockWithFuture {
            lock: self,
            acquire: self.core.acquire(AsyncLockMode::Shared, options),
        }
    }

    /// Takes the lock in exclusive mode if that is possible at once, without waiting: no holder,
    /// whatever waits (a try may go before a waiter whose turn came but which has not run yet).
    ///
    /// ```
    /// let lock = taskpool::AsyncLock::new(0);
    /// let held = lock.try_lock().unwrap();
    /// assert!(lock.try_lock().is_none());
    /// drop(held);
    /// assert!(lock.try_lock().is_some());
    /// ```
    #[must_use = "if unused the AsyncLock is released at once"]
    pub fn try_lock(&self) -> Option<AsyncLockGuard<'_, T>> {
        let id = self.core.try_acquire(AsyncLockMode::Exclusive)?;
        Some(self.exclusive(id))
    }

    /// Takes the lock in shared mode if that is possible at once: no exclusive holder, and no
    /// exclusive request waiting (a reader never overtakes a waiting writer, even by trying).
    ///
    /// ```
    /// let lock = taskpool::AsyncLock::new(0);
    /// let reader = lock.try_lock_shared().unwrap();
    /// assert!(lock.try_lock_shared().is_some());
    /// assert!(lock.try_lock().is_none());
    /// drop(reader);
    /// ```
    #[must_use = "if unused the AsyncLock is released at once"]
    pub fn try_lock_shared(&self) -> Option<AsyncLockSharedGuard<'_, T>> {
        let id = self.core.try_acquire(AsyncLockMode::Shared)?;
        Some(self.shared(id))
    }

    /// Takes the lock in `mode` with `options`, blocking, runs `callback` with the access and
    /// releases the lock (the blocking form of ArkTS `lockAsync(callback, mode, options)`).
    ///
    /// ```
    /// use taskpool::{AsyncLock, AsyncLockMode, AsyncLockOptions};
    ///
    /// let lock = AsyncLock::new(1);
    /// let options = AsyncLockOptions::new();
    /// lock.lock_then(AsyncLockMode::Exclusive, &options, |mut access| {
    ///     *access.get_mut().expect("exclusive") += 1;
    /// })
    /// .unwrap();
    /// let read = lock.lock_then(AsyncLockMode::Shared, &options, |access| *access);
    /// assert_eq!(read.unwrap(), 2);
    /// ```
    pub fn lock_then<R>(
        &self,
        mode: AsyncLockMode,
        options: &AsyncLockOptions,
        callback: impl FnOnce(AsyncLockAccess<'_, T>) -> R,
    ) -> Result<R> {
        let id = self.core.acquire_blocking(mode, options)?;
        Ok(callback(self.access(mode, id)))
    }

    /// Takes the lock in `mode` with `options` asynchronously, then awaits what `callback`
    /// returns; the lock is released when that future completes, or earlier if it drops the
    /// access (ArkTS `lockAsync(callback, mode, options)`; a callback that returns a plain value
    /// wraps it in `async move { .. }`). Fails, without calling `callback`, with the request's
    /// error.
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(future: F) -> F::Output {
    /// #     let mut future = std::pin::pin!(future);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop {
    /// #         if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut cx) {
    /// #             return value;
    /// #         }
    /// #     }
    /// # }
    /// use taskpool::{AsyncLock, AsyncLockMode, AsyncLockOptions};
    ///
    /// // ArkTS: await lock.lockAsync(async () => { this.count_ = count; }, EXCLUSIVE)
    /// let count = AsyncLock::new(0);
    /// block_on(count.lock_async_then(
    ///     AsyncLockMode::Exclusive,
    ///     AsyncLockOptions::new(),
    ///     |mut access| async move { *access.get_mut().unwrap() = 10 },
    /// ))
    /// .unwrap();
    /// assert_eq!(*count.lock_shared(), 10);
    /// ```
    pub async fn lock_async_then<'a, R, F, Fut>(
        &'a self,
        mode: AsyncLockMode,
        options: AsyncLockOptions,
        callback: F,
    ) -> Result<R>
    where
        F: FnOnce(AsyncLockAccess<'a, T>) -> Fut,
        Fut: Future<Output = R>,
    {
        let id = self.core.acquire(mode, options).await?;
        Ok(callback(self.access(mode, id)).await)
    }

    /// The value, through exclusive access (no locking needed: `&mut self` proves that no
    /// guard is alive). A guard that was forgotten (`std::mem::forget`) is not alive either:
    /// the value is returned as that guard last left it.
    ///
    /// ```
    /// let mut lock = taskpool::AsyncLock::new(1);
    /// *lock.get_mut() = 5;
    /// std::mem::forget(lock.lock()); // the lock stays held, the value stays reachable
    /// assert_eq!(*lock.get_mut(), 5);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// Consumes the lock and returns the value, also past a forgotten guard (see
    /// [`get_mut`](AsyncLock::get_mut)).
    ///
    /// ```
    /// let lock = taskpool::AsyncLock::new("x");
    /// assert_eq!(lock.into_inner(), "x");
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }

    /// The guard of the exclusive holder `id`. The inner lock is free: the core granted `id`
    /// alone, and every earlier guard unlocked it before releasing its grant.
    fn exclusive(&self, id: RequestId) -> AsyncLockGuard<'_, T> {
        AsyncLockGuard {
            lock: self,
            id,
            value: Some(self.value.write()),
        }
    }

    /// The guard of the shared holder `id`: the core granted only shared holders, so the inner
    /// lock is held only for reading, and nobody waits on it to write.
    fn shared(&self, id: RequestId) -> AsyncLockSharedGuard<'_, T> {
        AsyncLockSharedGuard {
            lock: self,
            id,
            value: Some(self.value.read()),
        }
    }

    fn access(&self, mode: AsyncLockMode, id: RequestId) -> AsyncLockAccess<'_, T> {
        match mode {
            AsyncLockMode::Shared => AsyncLockAccess::Shared(self.shared(id)),
            AsyncLockMode::Exclusive => AsyncLockAccess::Exclusive(self.exclusive(id)),
        }
    }
}

impl AsyncLock {
    /// Finds the live lock named `name`, or creates it (ArkTS `AsyncLock.request(name)`).
    ///
    /// Every caller, on any thread, that asks for the same name while a handle to it is alive
    /// gets the same lock. A named lock guards code, not data (`AsyncLock<()>`); to guard data
    /// by name, keep it in a `#[sendable]` type next to the lock, or share an `AsyncLock<T>`
    /// itself. The registry does not keep a lock alive: once every handle is dropped, the name
    /// is free, and [`query`](AsyncLock::query) reports 10200030 until it is requested again.
    ///
    /// ```
    /// use taskpool::{AsyncLock, Shared};
    ///
    /// let a = AsyncLock::request("docs-request");
    /// let b = std::thread::spawn(|| AsyncLock::request("docs-request")).join().unwrap();
    /// assert!(Shared::ptr_eq(&a, &b));
    /// let _guard = a.lock();
    /// assert!(b.try_lock().is_none());
    /// ```
    pub fn request(name: &str) -> Shared<AsyncLock> {
        named::request_lock(name)
    }

    /// The state of the live named lock `name` (ArkTS `AsyncLock.query(name)`): its holders and
    /// waiters. [`Error::LockNotFound`](crate::Error::LockNotFound) (10200030) if no live lock
    /// was requested under that name.
    ///
    /// ```
    /// use taskpool::AsyncLock;
    ///
    /// assert_eq!(AsyncLock::query("docs-nobody").unwrap_err().code(), Some(10200030));
    /// let lock = AsyncLock::request("docs-query");
    /// let _guard = lock.lock();
    /// let state = AsyncLock::query("docs-query").unwrap();
    /// assert_eq!(state.held.len(), 1);
    /// assert_eq!(state.held[0].name, "docs-query");
    /// ```
    pub fn query(name: &str) -> Result<AsyncLockState> {
        named::query(name)
    }

    /// The states of every live lock of the process, named and anonymous, oldest first (ArkTS
    /// `AsyncLock.queryAll()`): a snapshot to diagnose a deadlock from.
    ///
    /// ```
    /// let lock = taskpool::AsyncLock::new(());
    /// let _guard = lock.lock();
    /// let all = taskpool::AsyncLock::query_all();
    /// assert!(all.iter().any(|state| state.name == lock.name() && state.held.len() == 1));
    /// ```
    pub fn query_all() -> Vec<AsyncLockState> {
        named::query_all()
    }
}

/// An anonymous lock around `value`, as [`AsyncLock::new`] (as std's `Mutex` is `From<T>`).
impl<T> From<T> for AsyncLock<T> {
    fn from(value: T) -> AsyncLock<T> {
        AsyncLock::new(value)
    }
}

impl<T: Default> Default for AsyncLock<T> {
    fn default() -> AsyncLock<T> {
        AsyncLock::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for AsyncLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.try_lock_shared() {
            Some(guard) => f
                .debug_struct("AsyncLock")
                .field("name", &self.name())
                .field("value", &*guard)
                .finish(),
            None => write!(f, "AsyncLock {{ name: {:?}, <locked> }}", self.name()),
        }
    }
}

impl<T: Serialize> Serialize for AsyncLock<T> {
    /// Serializes the value, taking the lock in shared mode to read it (waiting for a writer
    /// that holds it). If the caller holds the lock itself and cannot share it at once — it
    /// holds it exclusively, or a writer waits behind its shared hold — the shared request would
    /// wait for the caller forever: that is a serde error naming the lock instead.
    ///
    /// "The caller" is who the lock records as the holder: the pool task that took the guard
    /// (wherever it runs now), or, for a guard taken outside tasks, the thread that took it.
    /// Where the guard is now does not count. A guard moved to another thread (guards are
    /// `Send`) or handed to another task is not recognized there: serializing the lock from
    /// there, while it holds that guard exclusively, waits for the guard it holds itself, for
    /// ever, as [`lock_shared`](AsyncLock::lock_shared) would. Conversely, the task or thread
    /// that took a guard gets the error even after moving the guard away. Serialize where the
    /// guard was taken, or drop it first.
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        if let Some(guard) = self.try_lock_shared() {
            return guard.serialize(serializer);
        }
        if self.core.held_by_caller() {
            let message = format!(
                "cannot serialize the lock `{}`: the caller holds it, and reading it for serialization would wait for that hold; release the guard first",
                self.name()
            );
            return Err(serde::ser::Error::custom(message));
        }
        self.lock_shared().serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for AsyncLock<T> {
    /// A new, free lock around the deserialized value.
    fn deserialize<D: Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<AsyncLock<T>, D::Error> {
        T::deserialize(deserializer).map(AsyncLock::new)
    }
}

impl<T: Transferable + Sync> Sendable for AsyncLock<T> {}

/// Exclusive access to the value of an [`AsyncLock`] (`&mut T`); dropping it releases the lock
/// to the next waiters. It is `Send` when `T` is `Send + Sync`, so it may be held across
/// `.await`.
///
/// ```
/// let lock = taskpool::AsyncLock::new(vec![1]);
/// let mut guard = lock.lock();
/// guard.push(2);
/// drop(guard);
/// assert_eq!(*lock.lock(), [1, 2]);
/// ```
#[must_use = "if unused the AsyncLock is released at once"]
pub struct AsyncLockGuard<'a, T> {
    lock: &'a AsyncLock<T>,
    id: RequestId,
    /// The inner write guard (`None` only in `drop`, which unlocks it before the release).
    value: Option<RwLockWriteGuard<'a, T>>,
}

impl<'a, T> AsyncLockGuard<'a, T> {
    /// The lock this guard holds, for re-locking after a condition wait.
    pub(crate) fn lock_ref(&self) -> &'a AsyncLock<T> {
        self.lock
    }
}

impl<T> Deref for AsyncLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value.as_deref().expect("a live guard holds the value")
    }
}

impl<T> DerefMut for AsyncLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value
            .as_deref_mut()
            .expect("a live guard holds the value")
    }
}

impl<T> Drop for AsyncLockGuard<'_, T> {
    fn drop(&mut self) {
        // Unlock the value first: the next holder the release lets in takes it at once.
        drop(self.value.take());
        self.lock.core.release(self.id);
    }
}

impl<T: fmt::Debug> fmt::Debug for AsyncLockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AsyncLockGuard").field(&**self).finish()
    }
}

/// Shared access to the value of an [`AsyncLock`] (`&T`), held together with other shared
/// holders; dropping it releases this holder's share. `Send` when `T` is `Send + Sync`.
///
/// ```
/// let lock = taskpool::AsyncLock::new(String::from("read me"));
/// let first = lock.lock_shared();
/// let second = lock.lock_shared();
/// assert_eq!(first.len(), second.len());
/// ```
#[must_use = "if unused the AsyncLock is released at once"]
pub struct AsyncLockSharedGuard<'a, T> {
    lock: &'a AsyncLock<T>,
    id: RequestId,
    /// The inner read guard (`None` only in `drop`, which unlocks it before the release).
    value: Option<RwLockReadGuard<'a, T>>,
}

impl<T> Deref for AsyncLockSharedGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value.as_deref().expect("a live guard holds the value")
    }
}

impl<T> Drop for AsyncLockSharedGuard<'_, T> {
    fn drop(&mut self) {
        // Unlock the value first, so that an exclusive holder after us finds it free.
        drop(self.value.take());
        self.lock.core.release(self.id);
    }
}

impl<T: fmt::Debug> fmt::Debug for AsyncLockSharedGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AsyncLockSharedGuard")
            .field(&**self)
            .finish()
    }
}

/// Access to the value in a mode chosen at run time: what the callback of
/// [`AsyncLock::lock_then`] and [`AsyncLock::lock_async_then`] receives. It derefs to `&T` in
/// either mode; [`get_mut`](AsyncLockAccess::get_mut) gives `&mut T` in exclusive mode.
/// Dropping it releases the lock.
///
/// ```
/// use taskpool::{AsyncLock, AsyncLockAccess, AsyncLockMode, AsyncLockOptions};
///
/// let lock = AsyncLock::new(3);
/// let mode = AsyncLockMode::Shared;
/// lock.lock_then(mode, &AsyncLockOptions::new(), |mut access| {
///     assert_eq!(*access, 3);
///     assert_eq!(access.mode(), AsyncLockMode::Shared);
///     assert!(access.get_mut().is_none());
///     assert!(matches!(access, AsyncLockAccess::Shared(_)));
/// })
/// .unwrap();
/// ```
#[derive(Debug)]
#[must_use = "if unused the AsyncLock is released at once"]
pub enum AsyncLockAccess<'a, T> {
    /// Held in shared mode.
    Shared(AsyncLockSharedGuard<'a, T>),
    /// Held in exclusive mode.
    Exclusive(AsyncLockGuard<'a, T>),
}

impl<T> AsyncLockAccess<'_, T> {
    /// The mode the lock is held in.
    ///
    /// ```
    /// use taskpool::{AsyncLock, AsyncLockMode, AsyncLockOptions};
    /// let lock = AsyncLock::new(());
    /// let mode = lock.lock_then(AsyncLockMode::Exclusive, &AsyncLockOptions::new(), |a| a.mode());
    /// assert_eq!(mode.unwrap(), AsyncLockMode::Exclusive);
    /// ```
    pub fn mode(&self) -> AsyncLockMode {
        match self {
            AsyncLockAccess::Shared(_) => AsyncLockMode::Shared,
            AsyncLockAccess::Exclusive(_) => AsyncLockMode::Exclusive,
        }
    }

    /// `&mut T` in exclusive mode; `None` in shared mode.
    ///
    /// ```
    /// use taskpool::{AsyncLock, AsyncLockMode, AsyncLockOptions};
    /// let lock = AsyncLock::new(1);
    /// lock.lock_then(AsyncLockMode::Exclusive, &AsyncLockOptions::new(), |mut access| {
    ///     if let Some(value) = access.get_mut() {
    ///         *value = 2;
    ///     }
    /// })
    /// .unwrap();
    /// assert_eq!(*lock.lock(), 2);
    /// ```
    pub fn get_mut(&mut self) -> Option<&mut T> {
        match self {
            AsyncLockAccess::Shared(_) => None,
            AsyncLockAccess::Exclusive(guard) => Some(&mut **guard),
        }
    }
}

impl<T> Deref for AsyncLockAccess<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match self {
            AsyncLockAccess::Shared(guard) => guard,
            AsyncLockAccess::Exclusive(guard) => guard,
        }
    }
}

/// The future of [`AsyncLock::lock_async`]: resolves to an [`AsyncLockGuard`]. Dropping it gives
/// up its place in the queue.
#[must_use = "the lock is taken only when the future is awaited"]
pub struct LockFuture<'a, T> {
    lock: &'a AsyncLock<T>,
    acquire: Acquire<'a>,
}

impl<'a, T> Future for LockFuture<'a, T> {
    type Output = AsyncLockGuard<'a, T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<AsyncLockGuard<'a, T>> {
        let lock = self.lock;
        Pin::new(&mut self.acquire).poll(cx).map(|granted| {
            lock.exclusive(granted.expect("a request without options always gets the lock"))
        })
    }
}

/// The future of [`AsyncLock::lock_shared_async`]: resolves to an [`AsyncLockSharedGuard`].
/// Dropping it gives up its place in the queue.
#[must_use = "the lock is taken only when the future is awaited"]
pub struct SharedLockFuture<'a, T> {
    lock: &'a AsyncLock<T>,
    acquire: Acquire<'a>,
}

impl<'a, T> Future for SharedLockFuture<'a, T> {
    type Output = AsyncLockSharedGuard<'a, T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<AsyncLockSharedGuard<'a, T>> {
        let lock = self.lock;
        Pin::new(&mut self.acquire).poll(cx).map(|granted| {
            lock.shared(granted.expect("a request without options always gets the lock"))
        })
    }
}

/// The future of [`AsyncLock::lock_async_with`]: resolves to an [`AsyncLockGuard`] or the
/// request's error. Dropping it gives up its place in the queue.
#[must_use = "the lock is taken only when the future is awaited"]
pub struct LockWithFuture<'a, T> {
    lock: &'a AsyncLock<T>,
    acquire: Acquire<'a>,
}

impl<'a, T> Future for LockWithFuture<'a, T> {
    type Output = Result<AsyncLockGuard<'a, T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let lock = self.lock;
        Pin::new(&mut self.acquire)
            .poll(cx)
            .map(|granted| granted.map(|id| lock.exclusive(id)))
    }
}

/// The future of [`AsyncLock::lock_shared_async_with`]: resolves to an
/// [`AsyncLockSharedGuard`] or the request's error. Dropping it gives up its place in the queue.
#[must_use = "the lock is taken only when the future is awaited"]
pub struct SharedLockWithFuture<'a, T> {
    lock: &'a AsyncLock<T>,
    acquire: Acquire<'a>,
}

impl<'a, T> Future for SharedLockWithFuture<'a, T> {
    type Output = Result<AsyncLockSharedGuard<'a, T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let lock = self.lock;
        Pin::new(&mut self.acquire)
            .poll(cx)
            .map(|granted| granted.map(|id| lock.shared(id)))
    }
}

macro_rules! debug_future {
    ($($future:ident),*) => {$(
        impl<T> fmt::Debug for $future<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($future))
                    .field("lock", &self.lock.name())
                    .finish_non_exhaustive()
            }
        }
    )*};
}

debug_future!(
    LockFuture,
    SharedLockFuture,
    LockWithFuture,
    SharedLockWithFuture
);
