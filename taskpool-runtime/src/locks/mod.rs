//! Sendable synchronization: the ArkTS `ArkTSUtils.locks` module in Rust.
//!
//! * [`AsyncLock<T>`]: a fair reader-writer lock around a value, in
//!   [shared](AsyncLockMode::Shared) or [exclusive](AsyncLockMode::Exclusive) mode, taken by
//!   blocking or by awaiting, through guards or a callback, with [`AsyncLockOptions`] (a
//!   timeout, an [`AbortSignal`], "only if available").
//! * Named locks ([`AsyncLock::request`]) and snapshots of who holds and who waits
//!   ([`AsyncLock::query`], [`AsyncLock::query_all`]: [`AsyncLockState`], [`AsyncLockInfo`]); a
//!   request that times out names them and reports any cycle of waits.
//! * [`ConditionVariable`]: wait and notify, asynchronously or by blocking, named or not.
//!
//! | file | one job |
//! |---|---|
//! | `state.rs` | the pure state machine: holders, the queue, the grant and wake rules |
//! | `core.rs` | one lock's state under a mutex; blocking and async waiting, timeouts, aborts |
//! | `async_lock.rs` | `AsyncLock<T>`: the value, guards, futures, the callback forms |
//! | `options.rs` | `AsyncLockMode`, `AsyncLockOptions` |
//! | `abort.rs` | `AbortSignal` |
//! | `who.rs` | who made a request: task and thread |
//! | `diagnosis.rs` | `AsyncLockState`, `AsyncLockInfo`, the timeout report and deadlock check |
//! | `named.rs` | the process-wide registry of named and live locks, named condition variables |
//! | `condvar.rs` | `ConditionVariable` |
//! | `deadline.rs` | an async wait's timeout, which withdraws the waiter at the deadline |
//! | `discarded.rs` | the user wakers let go of under a mutex, dropped after unlocking |

mod abort;
mod async_lock;
mod condvar;
mod core;
mod deadline;
mod diagnosis;
mod discarded;
mod named;
mod options;
mod state;
mod who;

pub use abort::AbortSignal;
pub use async_lock::{
    AsyncLock, AsyncLockAccess, AsyncLockGuard, AsyncLockSharedGuard, LockFuture, LockWithFuture,
    SharedLockFuture, SharedLockWithFuture,
};
pub use condvar::{ConditionVariable, CondvarWait, CondvarWaitFor};
pub use diagnosis::{AsyncLockInfo, AsyncLockState};
pub use options::{AsyncLockMode, AsyncLockOptions};
