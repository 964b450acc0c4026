//! The contract between `#[concurrent]` and the runtime: what a task function is.
//!
//! The attribute turns `fn add(a: i32, b: i32) -> i32` into a zero-sized value `add` whose type
//! implements [`ConcurrentFunction`]. Everything in the runtime that accepts "a concurrent function"
//! is bounded by this trait, so a closure or an unmarked function is rejected by the type checker
//! with the message below: the compile-time form of ArkTS error 10200014.

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Error;

pub(crate) mod checks;

/// A boxed, sendable future, as produced by `async fn` tasks.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A value that can cross threads as a task argument or result.
///
/// Every serializable (`serde`) owned value qualifies, and so does every `#[sendable]` type (the
/// attribute derives what it needs). Borrowed data, `Rc`, raw pointers and closures do not.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot cross threads as a task argument, a task result or a worker message",
    label = "not transferable between threads",
    note = "derive `Serialize` and `Deserialize` for it, or mark it `#[taskpool::sendable]` to share it by reference"
)]
pub trait Transferable: Serialize + DeserializeOwned + Send + 'static {}

impl<T: Serialize + DeserializeOwned + Send + 'static> Transferable for T {}

/// A free function marked `#[concurrent]`, seen as a type.
///
/// You never implement this by hand: `#[taskpool::concurrent]` does it for the zero-sized value
/// that carries the function's name. It is what [`Task::new`](crate::Task::new) and the pool's
/// `run` accept.
///
/// ```
/// use taskpool::{concurrent, ConcurrentFunction};
///
/// #[concurrent]
/// fn add(a: i32, b: i32) -> i32 {
///     a + b
/// }
///
/// fn name_of<F: ConcurrentFunction>(_: F) -> &'static str {
///     F::NAME
/// }
/// assert!(name_of(add).ends_with("::add"));
/// assert_eq!(add(1, 2), 3); // still an ordinary function
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `#[concurrent]` function",
    label = "expected a function marked `#[concurrent]`",
    note = "only a free function marked `#[taskpool::concurrent]` can run as a task; closures and unmarked functions cannot (ArkTS 10200014)"
)]
pub trait ConcurrentFunction: Copy + Send + Sync + 'static {
    /// The parameters, as a tuple (`(i32, i32)` for `fn add(a: i32, b: i32)`, `()` for none).
    type Args: Transferable;
    /// What the task yields: the return type, or `T` for a function returning `Result<T, E>`.
    type Output: Transferable;
    /// The stable, process-independent name: module path and function name.
    const NAME: &'static str;
    /// [`NAME`](ConcurrentFunction::NAME) behind a `'static` reference: a run keeps this thin
    /// pointer (8 bytes) instead of the name itself (16).
    #[doc(hidden)]
    const NAME_REF: &'static &'static str = &Self::NAME;
    /// Calls the function. A synchronous function runs to completion inside this call; an
    /// `async fn` returns its future, which the worker polls.
    fn invoke(args: Self::Args) -> Invocation<Self::Output>;

    /// A fresh copy of the arguments for one more run of a task executed several times.
    ///
    /// The default copies through a serialization round trip (which keeps every `Shared<T>`
    /// shared); `#[concurrent]` overrides it to use `Clone` when the argument types are
    /// `Clone`, which pays no serialization.
    fn copy_args(args: &Self::Args) -> Result<Self::Args, Error> {
        crate::codec::deep_copy(args)
    }
}

/// What calling a task function produced.
pub enum Invocation<T> {
    /// A synchronous function ran; here is its outcome.
    Ready(Result<T, Error>),
    /// An `async fn` started; the worker polls this future to completion.
    Pending(BoxFuture<Result<T, Error>>),
}

impl<T> std::fmt::Debug for Invocation<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Invocation::Ready(outcome) => f
                .debug_tuple("Ready")
                .field(&outcome.as_ref().map(|_| ..))
                .finish(),
            Invocation::Pending(_) => f.write_str("Pending(..)"),
        }
    }
}

/// The return type of a task function that can fail: `Result<T, E>` (or an alias of it).
///
/// `#[concurrent]` uses it for functions whose return type is a `Result` (however it is
/// spelled, an alias included): an `Ok` value becomes the task's result and an `Err` fails the
/// task with [`Error::TaskFailed`], keeping the original error as its source.
pub trait Fallible {
    /// The success type.
    type Ok;
    /// Splits the value into the task's outcome.
    fn into_task_result(self) -> Result<Self::Ok, Error>;
}

impl<T, E> Fallible for Result<T, E>
where
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    type Ok = T;
    fn into_task_result(self) -> Result<T, Error> {
        self.map_err(|error| Error::TaskFailed(error.into()))
    }
}
