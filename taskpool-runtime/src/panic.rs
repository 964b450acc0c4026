//! Containment of user panics: task bodies, and the `Drop` of user values (arguments, results,
//! futures) wherever the pool happens to drop them.
//!
//! Nothing the user writes may unwind into a pool thread's loop, a `cancel()` caller or a pool's
//! `Drop`: the pool would lose a thread it still counts, or a handle would never resolve.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// A caught panic's payload.
pub(crate) type Payload = Box<dyn Any + Send>;

/// Runs `f`, catching a panic.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Payload> {
    catch_unwind(AssertUnwindSafe(f))
}

/// Drops `value`, swallowing a panic of its `Drop` (the value is gone either way).
pub(crate) fn drop_quietly<T>(value: T) {
    if let Err(payload) = catch(move || drop(value)) {
        forget_payload(payload);
    }
}

/// A user value whose `Drop` panic is swallowed if it is dropped unused, where the runtime
/// cannot catch it itself: a worker's constructor inside `std::thread::Builder::spawn`, which
/// drops it when the system refuses the thread.
pub(crate) struct DropQuietly<T>(Option<T>);

impl<T> DropQuietly<T> {
    pub(crate) fn new(value: T) -> DropQuietly<T> {
        DropQuietly(Some(value))
    }

    /// The value, to be used (its `Drop` is the caller's again).
    pub(crate) fn into_inner(mut self) -> T {
        self.0
            .take()
            .expect("a DropQuietly holds its value until into_inner")
    }
}

impl<T> Drop for DropQuietly<T> {
    fn drop(&mut self) {
        drop_quietly(self.0.take());
    }
}

/// Drops each of `values` on its own, swallowing panics: dropped together (one `Vec`, map or
/// tuple), a second `Drop` that panics while the first one's panic unwinds aborts the process.
pub(crate) fn drop_each_quietly<T>(values: impl IntoIterator<Item = T>) {
    values.into_iter().for_each(drop_quietly);
}

/// Wakes `waker`, swallowing a panic of the user's `wake` (a broken executor): the caller — a
/// lock being released, a condition variable being notified, a signal being aborted — must
/// not unwind, nor leave the wakers after this one unwoken. Returns `false` if `wake` panicked;
/// a panic of the waker's `Drop` (often the last reference, given up here) is swallowed apart:
/// the wake itself went through.
pub(crate) fn wake_quietly(waker: std::task::Waker) -> bool {
    let woken = match catch(|| waker.wake_by_ref()) {
        Ok(()) => true,
        Err(payload) => {
            forget_payload(payload);
            false
        }
    };
    drop_quietly(waker);
    woken
}

/// Disposes of a panic payload whose own `Drop` might panic again.
fn forget_payload(payload: Payload) {
    if let Err(again) = catch(move || drop(payload)) {
        // A payload whose drop panics while dropping: leaking it is the only safe end.
        std::mem::forget(again);
    }
}

/// What `value`'s `Display` writes, or a stand-in if it panics: the runtime quotes user errors
/// (in a dependent's reason, in a listener's copy of an error), where a panic would skip the
/// bookkeeping around the quote.
pub(crate) fn display_quietly(value: &dyn std::fmt::Display) -> String {
    match catch(|| value.to_string()) {
        Ok(text) => text,
        Err(payload) => {
            forget_payload(payload);
            "<the error's message could not be written: its Display panicked>".to_owned()
        }
    }
}

/// The message of a panic payload, for [`Error::Panicked`](crate::Error::Panicked).
pub(crate) fn message(payload: Payload) -> String {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned());
    forget_payload(payload);
    message
}
