//! # taskpool
//!
//! The ArkTS (OpenHarmony) TaskPool, Worker and Sendable model for Rust.
//!
//! Mark a free function `#[concurrent]`, bind it to its arguments in a [`Task`], and execute it on
//! a [`TaskPool`] with a [`Priority`]. The returned [`TaskHandle`] is both blocking
//! ([`TaskHandle::wait`]) and a [`Future`].
//!
//! ```
//! use taskpool::{concurrent, Priority, Task, TaskPool};
//!
//! #[concurrent]
//! fn add(a: i32, b: i32) -> i32 {
//!     a + b
//! }
//!
//! let pool = TaskPool::global();
//! let handle = pool.execute_with_priority(Task::new(add, (1, 2)), Priority::High);
//! assert_eq!(handle.wait().unwrap(), 3);
//! ```
//!
//! A [`Worker`] is a dedicated thread with its own message loop: the host posts typed messages,
//! the worker's [`WorkerHandler`] (which may hold `!Send` state, and may be `async`) handles
//! them one at a time and replies; it can run tasks on the TaskPool and `.await` them.
//!
//! ```
//! use taskpool::{concurrent, HandlerResult, Task, Worker, WorkerHandler, WorkerPort};
//!
//! #[concurrent]
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! struct Squarer;
//!
//! impl WorkerHandler for Squarer {
//!     type In = u64;
//!     type Out = u64;
//!
//!     async fn on_message(&mut self, x: u64, port: &WorkerPort<u64>) -> HandlerResult {
//!         let squared = taskpool::execute(Task::new(square, (x,))).await?;
//!         port.post_message(squared)?;
//!         Ok(())
//!     }
//! }
//!
//! let worker = Worker::new(|| Squarer).unwrap();
//! worker.post_message(12).unwrap();
//! assert_eq!(worker.recv(), Some(144));
//! ```

#![warn(missing_debug_implementations)]

// Lets the macros' `::taskpool::…` paths resolve inside this crate's own tests too.
extern crate self as taskpool;

mod bounded_join;
mod codec;
mod compose;
mod context;
mod data;
mod deep_drop;
mod descriptor;
mod error;
mod function;
mod handle;
mod info;
mod locks;
mod lru;
mod observe;
mod panic;
mod pool;
mod priority;
mod registry;
mod run;
mod scheduler;
mod sendable;
mod shared;
mod supervisor;
mod sync;
mod task;
mod time;
mod waker_offer;
mod weakly;
mod worker;

pub use codec::{DEFAULT_MAX_SERIALIZED_BYTES, Encoding, Payload};
pub use compose::async_runner::AsyncRunner;
pub use compose::delayed::execute_delayed;
pub use compose::dependency::Dependable;
pub use compose::group::{GroupHandle, TaskGroup, execute_group, execute_group_with_configs};
pub use compose::periodic::{PeriodicHandle, execute_periodically};
pub use compose::sequence::SequenceRunner;
pub use compose::timeout::{Configs, execute_with_configs};
pub use concurrent_macro::concurrent;
pub use context::{current_task_id, is_canceled};
pub use data::{BlockingIter, DataStream, send_data};
pub use descriptor::{DESCRIPTOR_FORMAT_VERSION, TaskDescriptor};
pub use error::{BoxError, Error, LateOutcome, Result};
pub use function::{BoxFuture, ConcurrentFunction, Fallible, Invocation, Transferable};
pub use handle::TaskHandle;
pub use info::{TaskInfo, TaskPoolInfo, TaskState, ThreadInfo};
pub use locks::{
    AbortSignal, AsyncLock, AsyncLockAccess, AsyncLockGuard, AsyncLockInfo, AsyncLockMode,
    AsyncLockOptions, AsyncLockSharedGuard, AsyncLockState, ConditionVariable, CondvarWait,
    CondvarWaitFor, LockFuture, LockWithFuture, SharedLockFuture, SharedLockWithFuture,
};
pub use lru::{DEFAULT_LRU_CAPACITY, SendableLruCache};
pub use observe::{Counters, LaneInfo, SliceKind, Timeline, TimelineSlice, WaitStats};
pub use pool::{
    DEFAULT_STACK_SIZE, MAX_STACK_SIZE, MAX_TIMELINE_ENTRIES, MIN_STACK_SIZE, TaskPool,
    TaskPoolBuilder, default_max_threads,
};
pub use priority::Priority;
pub use registry::{duplicate_functions, registered_functions};
pub use sendable::Sendable;
pub use sendable_macro::sendable;
pub use shared::Shared;
pub use task::{Executable, LongTask, Task, TaskDurations, TaskId};
pub use time::{Sleep, sleep};
pub use worker::{
    CallObject, DEFAULT_JOIN_TIMEOUT, DEFAULT_MAX_WORKERS, HandlerResult, MAX_GLOBAL_CALL_TIMEOUT,
    MessagePriority, Messages, RecvTimeoutError, Worker, WorkerBuilder, WorkerHandler, WorkerPort,
    WorkerRef, live_workers, max_workers, set_max_workers,
};

/// Executes a task on the global pool at its priority (ArkTS `taskpool.execute(task)`).
///
/// Shorthand for `TaskPool::global().execute(task)`.
pub fn execute<T: Send + 'static>(task: impl Executable<T>) -> TaskHandle<T> {
    TaskPool::global().execute(task)
}

/// Executes a task on the global pool in the given lane (ArkTS `taskpool.execute(task, priority)`).
pub fn execute_with_priority<T: Send + 'static>(
    task: impl Executable<T>,
    priority: Priority,
) -> TaskHandle<T> {
    TaskPool::global().execute_with_priority(task, priority)
}

/// Cancels a task of the global pool by id (ArkTS `taskpool.cancel`); 10200015 if it is neither
/// waiting nor running.
pub fn cancel(id: TaskId) -> Result<()> {
    TaskPool::global().cancel(id)
}

/// Releases the thread a long task of the global pool holds (ArkTS `taskpool.terminateTask`).
pub fn terminate_task(id: TaskId) -> Result<()> {
    TaskPool::global().terminate_task(id)
}

/// A snapshot of the global pool (ArkTS `taskpool.getTaskPoolInfo()`).
///
/// ```
/// let info = taskpool::task_pool_info();
/// assert!(info.threads.len() <= taskpool::TaskPool::global().max_threads());
/// ```
pub fn task_pool_info() -> TaskPoolInfo {
    TaskPool::global().info()
}

/// Items the macros' expansions name. Not a public API: it may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::codec::copy::{Copier, ViaClone, ViaSerde, by_serialization};
    pub use crate::function::checks::{
        OwnedArgument, OwnedResult, TaskError, assert_owned_argument, assert_owned_result,
        assert_transferable, fail,
    };
    pub use crate::registry::FunctionEntry;
    pub use crate::sendable::{DeserializedField, SendableField, SerializedField, SkippedField};
    pub use inventory;
    pub use serde;
}
