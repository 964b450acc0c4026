//! The trait bounds a `#[concurrent]` expansion asserts on a function's signature, with the
//! diagnostics a user sees when one fails.
//!
//! They live in this crate, not in the expansion, because a `#[diagnostic::…]` attribute cannot
//! be resolved in a module under `#![no_implicit_prelude]`: emitted into the user's crate, the
//! attributes would make such a module fail to compile. Here they are written once, and the
//! expansion only names them through `taskpool::__private`.

use crate::{Error, Fallible, Transferable};

/// An error type a task can fail with: whatever `Result<_, E>` is [`Fallible`] for.
#[diagnostic::on_unimplemented(
    message = "the error type `{Self}` cannot fail a task: it must be a `std::error::Error + Send + Sync + 'static`",
    label = "this `Result` has the error type `{Self}`",
    note = "a task fails with its `Err` value, converted into `Box<dyn std::error::Error + Send + Sync>`: implement `std::error::Error` for `{Self}`, or use a `String` error"
)]
pub trait TaskError {
    /// Converts the value into the error that fails the task.
    fn into_task_error(self) -> Error;
}

#[diagnostic::do_not_recommend]
impl<E> TaskError for E
where
    Result<(), E>: Fallible,
{
    fn into_task_error(self) -> Error {
        match Fallible::into_task_result(Err::<(), E>(self)) {
            Err(error) => error,
            Ok(_) => unreachable!("an `Err` converts into an error"),
        }
    }
}

/// Converts a task function's `Err` value into the error that fails the task.
pub fn fail<E: TaskError>(error: E) -> Error {
    error.into_task_error()
}

/// Implemented only for `()`: the expansion maps an owned argument type to `()` and a
/// reference to itself, so a reference fails this bound with the message below.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is borrowed data, which cannot be a task argument: use an owned type",
    label = "this type is a reference",
    note = "task data moves to a worker thread and may be serialized, so it must be owned: use the owned type (`T` for `&T`, `String` for `&str`, `Vec<T>` for `&[T]`), or `Shared<T>` to share a `#[sendable]` value"
)]
pub trait OwnedArgument {}

#[diagnostic::do_not_recommend]
impl OwnedArgument for () {}

/// Asserts that an argument type is owned (see [`OwnedArgument`]).
pub fn assert_owned_argument<T: ?Sized + OwnedArgument>() {}

/// Implemented only for `()`, as [`OwnedArgument`], for the result type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is borrowed data, which cannot be a task result: return an owned type",
    label = "this type is a reference",
    note = "a task's result moves back to the caller's thread and may be serialized, so it must be owned: return the owned type (`T` for `&T`, `String` for `&str`, `Vec<T>` for `&[T]`)"
)]
pub trait OwnedResult {}

#[diagnostic::do_not_recommend]
impl OwnedResult for () {}

/// Asserts that a result type is owned (see [`OwnedResult`]).
pub fn assert_owned_result<T: ?Sized + OwnedResult>() {}

/// Asserts that an argument or result type can cross to a worker (see [`Transferable`]).
pub fn assert_transferable<T: Transferable>() {}
