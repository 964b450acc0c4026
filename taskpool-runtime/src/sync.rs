//! The synchronization types the scheduler uses, in one place.
//!
//! Under `--cfg taskpool_loom` they are loom's model-checked versions, so the park/wake protocol and the
//! cancel-versus-start race can be explored exhaustively; otherwise they are std's. Poisoning is
//! ignored: every critical section leaves the state consistent before it can panic.

#[cfg(taskpool_loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard, atomic};
#[cfg(not(taskpool_loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard, atomic};
// Reference counting has no interleavings worth exploring; std's `Arc` (with `Weak`) is kept.
pub(crate) use std::sync::Arc;

/// Locks `mutex`, ignoring poisoning.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `f` on the value of a mutex owned exclusively: no locking needed (loom's mutex has no
/// `get_mut`; a model locks it instead).
pub(crate) fn with_mut<T, R>(mutex: &mut Mutex<T>, f: impl FnOnce(&mut T) -> R) -> R {
    #[cfg(taskpool_loom)]
    return f(&mut lock(mutex));
    #[cfg(not(taskpool_loom))]
    f(mutex
        .get_mut()
        .unwrap_or_else(|poisoned| poisoned.into_inner()))
}

/// A spin-wait hint (loom: a yield, so a model never spins forever).
#[cfg(taskpool_loom)]
pub(crate) fn spin_loop() {
    loom::thread::yield_now();
}
#[cfg(not(taskpool_loom))]
pub(crate) use std::hint::spin_loop;

/// Gives up the rest of the time slice.
#[cfg(taskpool_loom)]
pub(crate) use loom::thread::yield_now;
#[cfg(not(taskpool_loom))]
pub(crate) use std::thread::yield_now;
