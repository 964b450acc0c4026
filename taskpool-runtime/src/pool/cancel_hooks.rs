//! Code outside the scheduler that owns a task between its runs ([`CancelHook`]), told when
//! `cancel(id)` names that task.
//!
//! `cancel(id)` finds the runs of a task where the scheduler keeps them (`live.rs`). A composer
//! that makes a run now and then — a periodic task between two ticks — has no run at all for a
//! while, yet ArkTS's `cancel(task)` must stop it whenever it is called. So such a composer
//! registers a hook under the task's id, and `cancel(id)` asks it too. The pool holds the hook
//! weakly: registering keeps nothing alive, and hooks whose owner is gone are pruned.
//!
//! No handshake of its own: the map is read and written under one lock, and a hook is called
//! after that lock is released (it may take its own locks and cancel runs). A cancel racing the
//! composer's next run is the composer's business, settled under its own lock (see
//! `compose/periodic.rs`).

use std::collections::HashMap;
use std::sync::Weak;

use crate::sync::{Mutex, lock};
use crate::task::TaskId;

/// Told when `cancel(id)` names the task it was registered for. Held weakly.
pub(crate) trait CancelHook: Send + Sync {
    /// Stops the task. True if it was still going (the cancel succeeds), false if it had
    /// stopped already. Called without any pool lock held; must not block.
    fn cancel_by_id(&self) -> bool;
}

/// The cancel hooks of one pool, by task id.
#[derive(Default)]
pub(crate) struct CancelHooks {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    hooks: HashMap<TaskId, Weak<dyn CancelHook>>,
    /// The size at which the next registration prunes dead hooks: twice the live ones after
    /// the last pruning, so pruning costs O(1) per registration however many tasks come and go.
    prune_at: usize,
}

/// Pruning never runs below this many entries.
const MIN_PRUNE_AT: usize = 16;

impl CancelHooks {
    /// Registers `hook` for task `id`, replacing any hook registered for it before.
    pub(crate) fn register(&self, id: TaskId, hook: Weak<dyn CancelHook>) {
        let mut inner = lock(&self.inner);
        if inner.hooks.len() >= inner.prune_at {
            inner.hooks.retain(|_, hook| hook.strong_count() > 0);
            inner.prune_at = (inner.hooks.len() * 2).max(MIN_PRUNE_AT);
        }
        inner.hooks.insert(id, hook);
    }

    /// Tells the hook of task `id`, if one is registered and alive. True if it stopped the
    /// task. A panic in the hook is contained (and counts as not stopped).
    pub(crate) fn cancel(&self, id: TaskId) -> bool {
        let hook = {
            let mut inner = lock(&self.inner);
            let Some(weak) = inner.hooks.get(&id) else {
                return false;
            };
            let hook = weak.upgrade();
            if hook.is_none() {
                inner.hooks.remove(&id);
            }
            hook
        };
        hook.is_some_and(|hook| {
            crate::panic::catch(|| hook.cancel_by_id()).unwrap_or_else(|payload| {
                crate::panic::drop_quietly(payload);
                false
            })
        })
    }
}

#[cfg(all(test, not(taskpool_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    struct Stoppable(AtomicBool);

    impl CancelHook for Stoppable {
        fn cancel_by_id(&self) -> bool {
            !self.0.swap(true, Ordering::SeqCst)
        }
    }

    #[test]
    fn a_hook_is_told_by_its_id_and_pruned_once_its_owner_is_gone() {
        let hooks = CancelHooks::default();
        let id = TaskId::next();
        let hook = Arc::new(Stoppable(AtomicBool::new(false)));
        hooks.register(id, Arc::downgrade(&hook) as Weak<dyn CancelHook>);
        assert!(!hooks.cancel(TaskId::next()), "another id");
        assert!(hooks.cancel(id));
        assert!(!hooks.cancel(id), "stopped already");
        drop(hook);
        assert!(!hooks.cancel(id));
        assert!(lock(&hooks.inner).hooks.is_empty());
        // Many owners come and go: the map stays about as large as the live ones.
        let kept = Arc::new(Stoppable(AtomicBool::new(false)));
        for _ in 0..10_000 {
            let gone = Arc::new(Stoppable(AtomicBool::new(false)));
            hooks.register(
                TaskId::next(),
                Arc::downgrade(&gone) as Weak<dyn CancelHook>,
            );
        }
        hooks.register(id, Arc::downgrade(&kept) as Weak<dyn CancelHook>);
        assert!(lock(&hooks.inner).hooks.len() <= 2 * MIN_PRUNE_AT);
        assert!(hooks.cancel(id));
    }

    struct Panicking;

    impl CancelHook for Panicking {
        fn cancel_by_id(&self) -> bool {
            panic!("a hook that panics");
        }
    }

    #[test]
    fn a_panicking_hook_is_contained() {
        let hooks = CancelHooks::default();
        let id = TaskId::next();
        let hook = Arc::new(Panicking);
        hooks.register(id, Arc::downgrade(&hook) as Weak<dyn CancelHook>);
        assert!(!hooks.cancel(id));
    }
}
