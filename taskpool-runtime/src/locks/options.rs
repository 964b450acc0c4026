//! What a lock request asks for: its mode ([`AsyncLockMode`]) and its options
//! ([`AsyncLockOptions`]: a timeout, an abort signal, "only if available").

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::abort::AbortSignal;

/// The mode of a lock request (ArkTS `AsyncLockMode`).
///
/// Any number of [`Shared`](AsyncLockMode::Shared) holders may hold a lock together; an
/// [`Exclusive`](AsyncLockMode::Exclusive) holder holds it alone. Requests are served in arrival
/// order: a shared request that arrives while an exclusive one waits queues behind it, so readers
/// never starve a writer.
///
/// ```
/// use taskpool::AsyncLockMode;
///
/// assert_eq!(AsyncLockMode::default(), AsyncLockMode::Exclusive);
/// assert_eq!(AsyncLockMode::Shared as u8, 1); // the ArkTS values
/// assert_eq!(AsyncLockMode::Exclusive.to_string(), "exclusive");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum AsyncLockMode {
    /// Held together with other shared holders: read access (`&T`).
    Shared = 1,
    /// Held alone: write access (`&mut T`). The default, as in ArkTS.
    #[default]
    Exclusive = 2,
}

impl fmt::Display for AsyncLockMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AsyncLockMode::Shared => "shared",
            AsyncLockMode::Exclusive => "exclusive",
        })
    }
}

/// Options of a lock request (ArkTS `AsyncLockOptions`): how long to wait, a signal that
/// withdraws the request, and whether to take the lock only if it is available at once.
///
/// The default waits as long as it takes, like [`AsyncLock::lock`](crate::AsyncLock::lock).
/// The fields are public; the builder methods of the same names read well in a call chain.
///
/// | option | effect | on failure |
/// |---|---|---|
/// | `timeout: Some(d)` | give up after `d` (the request leaves the queue then, even before its future runs again); `Duration::ZERO` grants only at once; a duration too long to represent (`Duration::MAX`) means no timeout | [`Error::LockTimedOut`](crate::Error::LockTimedOut) (10200031), naming holders and waiters |
/// | `signal: Some(s)` | [`AbortSignal::abort`] withdraws the waiting request at once | [`Error::LockAborted`](crate::Error::LockAborted) with the signal's reason |
/// | `is_available: true` | granted only if no holder conflicts now (a try-lock); never waits | [`Error::LockUnavailable`](crate::Error::LockUnavailable) |
///
/// ```
/// use std::time::Duration;
/// use taskpool::{AbortSignal, AsyncLock, AsyncLockOptions, Error};
///
/// let lock = AsyncLock::new(0);
/// let _held = lock.lock();
/// let options = AsyncLockOptions::new().timeout(Duration::from_millis(1));
/// let refused = lock.lock_with(&options).unwrap_err();
/// assert_eq!(refused.code(), Some(10200031));
///
/// let options = AsyncLockOptions::new().is_available(true);
/// assert!(matches!(lock.lock_with(&options), Err(Error::LockUnavailable { .. })));
///
/// let signal = AbortSignal::new();
/// signal.abort("shutting down");
/// let options = AsyncLockOptions::new().signal(signal);
/// assert!(matches!(lock.lock_with(&options), Err(Error::LockAborted { .. })));
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct AsyncLockOptions {
    /// Grant only if no holder conflicts now; never wait (ArkTS `isAvailable`). Default `false`.
    pub is_available: bool,
    /// A signal that withdraws the request while it waits (ArkTS `signal`). Default `None`.
    pub signal: Option<AbortSignal>,
    /// How long to wait at most (ArkTS `timeout`; `None`, the default, waits as long as it takes).
    pub timeout: Option<Duration>,
}

impl AsyncLockOptions {
    /// The defaults: wait as long as it takes, no signal.
    ///
    /// ```
    /// let options = taskpool::AsyncLockOptions::new();
    /// assert!(options.timeout.is_none() && options.signal.is_none() && !options.is_available);
    /// ```
    #[must_use]
    pub fn new() -> AsyncLockOptions {
        AsyncLockOptions::default()
    }

    /// Sets [`is_available`](AsyncLockOptions::is_available): grant only if no holder conflicts.
    ///
    /// ```
    /// let options = taskpool::AsyncLockOptions::new().is_available(true);
    /// assert!(options.is_available);
    /// ```
    #[must_use]
    pub fn is_available(mut self, only_if_available: bool) -> AsyncLockOptions {
        self.is_available = only_if_available;
        self
    }

    /// Sets the [`signal`](AsyncLockOptions::signal) that can withdraw the request.
    ///
    /// ```
    /// let signal = taskpool::AbortSignal::new();
    /// let options = taskpool::AsyncLockOptions::new().signal(signal.clone());
    /// assert!(options.signal.is_some());
    /// ```
    #[must_use]
    pub fn signal(mut self, signal: AbortSignal) -> AsyncLockOptions {
        self.signal = Some(signal);
        self
    }

    /// Sets the [`timeout`](AsyncLockOptions::timeout). `Duration::ZERO` grants only at once;
    /// `Duration::MAX` (or any duration too long to represent) means no timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = taskpool::AsyncLockOptions::new().timeout(Duration::from_secs(1));
    /// assert_eq!(options.timeout, Some(Duration::from_secs(1)));
    /// ```
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> AsyncLockOptions {
        self.timeout = Some(timeout);
        self
    }
}
