//! Code outside the scheduler told when its pool starts shutting down ([`ShutdownHook`]), so
//! that it stops then rather than when it next looks (a periodic task whose next tick may be an
//! hour away).
//!
//! The handshake with a registration racing the shutdown: the shutdown sets its flag, then
//! takes the hooks; a registration reads the flag under the hooks' lock. So a hook is either
//! taken and told, or refused (its owner stops by itself) — never both, never neither. The
//! loom model below checks it.

use std::sync::Weak;

use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{Mutex, lock};

/// User values a hook hands over to the shutdown, which drops them with the arguments of the
/// runs that never ran (see `PoolShared::drop_bodies`): not on the thread shutting down, within
/// `shutdown_timeout`.
pub(crate) type Leftover = Box<dyn std::any::Any + Send>;

/// Told when its pool starts shutting down. Held weakly: registering keeps nothing alive.
/// Called without any pool lock held; must not block.
pub(crate) trait ShutdownHook: Send + Sync {
    /// The pool is shutting down; returns what the shutdown is to drop for it.
    fn pool_shutting_down(&self) -> Option<Leftover>;
}

/// The hooks of one pool.
#[derive(Default)]
pub(crate) struct ShutdownHooks {
    hooks: Mutex<Hooks>,
}

#[derive(Default)]
struct Hooks {
    list: Vec<Weak<dyn ShutdownHook>>,
    /// The length at which the next registration prunes the hooks whose owner is gone: twice
    /// the length left by the last pruning, so pruning costs O(1) per registration. (Pruning
    /// at every registration made scheduling many delayed tasks at once quadratic.)
    prune_at: usize,
}

/// The shortest list that is pruned.
const MIN_PRUNE_AT: usize = 16;

impl ShutdownHooks {
    /// Registers `hook` unless `shutting_down` is already set (then false: the caller stops by
    /// itself). Hooks whose owner is gone are pruned here whenever the list has doubled since
    /// the last pruning, so it stays within twice the hooks alive (at least 16).
    pub(crate) fn register(
        &self,
        hook: Weak<dyn ShutdownHook>,
        shutting_down: &AtomicBool,
    ) -> bool {
        let mut hooks = lock(&self.hooks);
        if shutting_down.load(Ordering::SeqCst) {
            return false;
        }
        if hooks.list.len() >= hooks.prune_at {
            hooks.list.retain(|hook| hook.strong_count() > 0);
            hooks.prune_at = (hooks.list.len() * 2).max(MIN_PRUNE_AT);
        }
        hooks.list.push(hook);
        true
    }

    /// Tells every registered hook, once; call after setting the flag `register` reads. A
    /// panic in a hook is contained. Returns what the hooks left for the shutdown to drop.
    pub(crate) fn notify(&self) -> Vec<Leftover> {
        let hooks = std::mem::take(&mut lock(&self.hooks).list);
        (hooks.iter().filter_map(Weak::upgrade))
            .filter_map(|hook| crate::panic::catch(|| hook.pool_shutting_down()).ok()?)
            .collect()
    }
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use super::*;
    use crate::sync::atomic::AtomicUsize;

    struct Counted(AtomicUsize);

    impl ShutdownHook for Counted {
        fn pool_shutting_down(&self) -> Option<Leftover> {
            self.0.fetch_add(1, Ordering::SeqCst);
            None
        }
    }

    /// A registration racing a shutdown: the hook is told exactly once, or refused and not
    /// told at all.
    #[test]
    fn a_registration_racing_the_shutdown_is_told_or_refused() {
        loom::model(|| {
            let hooks = loom::sync::Arc::new(ShutdownHooks::default());
            let flag = loom::sync::Arc::new(AtomicBool::new(false));
            let shutdown = {
                let (hooks, flag) = (hooks.clone(), flag.clone());
                loom::thread::spawn(move || {
                    flag.store(true, Ordering::SeqCst);
                    assert!(hooks.notify().is_empty());
                })
            };
            let hook = std::sync::Arc::new(Counted(AtomicUsize::new(0)));
            let weak = std::sync::Arc::downgrade(&hook) as Weak<dyn ShutdownHook>;
            let registered = hooks.register(weak, &flag);
            shutdown.join().unwrap();
            let told = hook.0.load(Ordering::SeqCst);
            assert_eq!(
                told,
                usize::from(registered),
                "told once if registered, else never"
            );
        });
    }
}
