//! Drops of user values on threads the runtime does not own, with enough stack for what a task
//! could drop.
//!
//! A pool thread gives a task the pool's stack (16 MiB by default), so a task may drop a value
//! nested 100 000 deep. Some user values the runtime holds end on the caller's thread instead:
//! the arguments of a run canceled or discarded before it started (`cancel`, an `AsyncRunner`
//! pushing out its oldest waiting task, a failed or canceled dependency), the future of a
//! suspended run a cancel claims, an outcome nobody read when its handle is dropped, a periodic
//! task's arguments when it ends, a worker's unread messages and exit error when its link goes.
//! That thread may have far less: a spawned thread, a test's included, has 2 MiB. [`drop_quietly`] drops such a value with at least [`RED_ZONE`] of stack
//! left — on the caller's own stack while that much is left, else on a fresh segment
//! (`stacker`), which costs a mapping (some microseconds) only then — so a value a task could
//! drop never aborts the process for where it ends. Hot paths do not come here: a run's own
//! arguments and results end on its pool thread.

/// The stack a drop is given: half a default pool thread's stack, enough for a value nested
/// 100 000 deep in a debug build (a pool thread or the callback thread has it without a new
/// segment; a main thread of 8 MiB gets one).
const RED_ZONE: usize = crate::pool::DEFAULT_STACK_SIZE / 2;

/// Runs `f` with at least [`RED_ZONE`] of stack left (see the module documentation).
pub(crate) fn with_stack<R>(f: impl FnOnce() -> R) -> R {
    with_room(RED_ZONE, f)
}

/// Runs `f` with at least `room` bytes of stack left: on this stack while that much is left,
/// else on a fresh segment of twice `room`, so that a call nested in another (a sweep dropping
/// runs one by one, a chain of inline runs) finds its room on the same segment. The one place
/// the runtime grows a stack; a pool thread's inline runs come here with the pool's stack size.
pub(crate) fn with_room<R>(room: usize, f: impl FnOnce() -> R) -> R {
    // Loom runs its threads on stacks of its own, which `stacker` cannot measure.
    #[cfg(taskpool_loom)]
    return {
        let _ = room;
        f()
    };
    #[cfg(not(taskpool_loom))]
    stacker::maybe_grow(room, room.saturating_mul(2), f)
}

/// Drops `value` with at least [`RED_ZONE`] of stack left, swallowing a panic of its `Drop`
/// (as [`crate::panic::drop_quietly`]). Nothing to drop (`needs_drop` false) costs nothing.
pub(crate) fn drop_quietly<T>(value: T) {
    if std::mem::needs_drop::<T>() {
        with_stack(|| crate::panic::drop_quietly(value));
    }
}

#[cfg(all(test, not(taskpool_loom)))]
mod tests {
    /// A list nested `depth` deep, built without recursion; its default `Drop` recurses.
    enum Deep {
        Leaf,
        Node(Box<Deep>),
    }

    fn deep(depth: usize) -> Deep {
        (0..depth).fold(Deep::Leaf, |inner, _| Deep::Node(Box::new(inner)))
    }

    fn depth(mut value: &Deep) -> usize {
        let mut depth = 0;
        while let Deep::Node(inner) = value {
            (depth, value) = (depth + 1, inner);
        }
        depth
    }

    /// On a thread of 256 KiB a plain drop of this value overflows the stack (the tests in
    /// `tests/deep_drops.rs`, in child processes, saw the abort before); here it ends quietly.
    #[test]
    fn a_deep_value_is_dropped_on_a_small_thread() {
        let value = deep(100_000);
        assert_eq!(depth(&value), 100_000);
        let dropped = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || super::drop_quietly(value))
            .unwrap()
            .join();
        assert!(dropped.is_ok());
    }
}
