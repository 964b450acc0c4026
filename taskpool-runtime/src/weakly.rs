//! [`Weakly`]: a collection of weak references that prunes its dead entries at amortized O(1)
//! per addition — the process-wide registries of named locks, condition variables and runners,
//! and the list of live locks, which must neither keep their entries alive nor grow without
//! bound under churn.

use std::collections::HashMap;
use std::sync::Weak;

/// A collection of weak references that drops its dead entries once it has grown to twice the
/// size it had after its last prune (and to at least [`Weakly::MIN_PRUNE`]): each prune visits
/// at most twice as many entries as were added since the one before, so adding costs amortized
/// O(1) however many entries stay alive, and the dead ones never outnumber the live ones by
/// more than that margin. (Pruning only when a `Vec` was full, or when a map's length was a
/// power of two, pruned at every addition once the live entries sat just below that mark.)
pub(crate) struct Weakly<C> {
    pub(crate) entries: C,
    /// The length at which the next addition prunes first.
    prune_at: usize,
    /// Entries visited by prunes so far, for the tests of the amortized cost.
    #[cfg(test)]
    pub(crate) visited: usize,
}

/// What [`Weakly`] needs of its collection.
pub(crate) trait WeakEntries: Default {
    fn len(&self) -> usize;
    /// Drops the entries whose referent is gone.
    fn retain_live(&mut self);
    /// Gives back memory left over from a burst of entries that have since died.
    fn shrink_to(&mut self, capacity: usize);
}

impl<T> WeakEntries for Vec<Weak<T>> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn retain_live(&mut self) {
        self.retain(|weak| weak.strong_count() > 0);
    }
    fn shrink_to(&mut self, capacity: usize) {
        Vec::shrink_to(self, capacity);
    }
}

impl<T> WeakEntries for HashMap<String, Weak<T>> {
    fn len(&self) -> usize {
        HashMap::len(self)
    }
    fn retain_live(&mut self) {
        self.retain(|_, weak| weak.strong_count() > 0);
    }
    fn shrink_to(&mut self, capacity: usize) {
        HashMap::shrink_to(self, capacity);
    }
}

impl<C: WeakEntries> Default for Weakly<C> {
    fn default() -> Weakly<C> {
        Weakly {
            entries: C::default(),
            prune_at: Weakly::<C>::MIN_PRUNE,
            #[cfg(test)]
            visited: 0,
        }
    }
}

impl<C: WeakEntries> Weakly<C> {
    /// Below this many entries a collection is never pruned: a few dead entries cost nothing.
    pub(crate) const MIN_PRUNE: usize = 32;

    /// Prunes if the collection doubled since the last prune: call before each addition.
    pub(crate) fn make_room(&mut self) {
        if self.entries.len() < self.prune_at {
            return;
        }
        #[cfg(test)]
        {
            self.visited += self.entries.len();
        }
        self.entries.retain_live();
        self.prune_at = (2 * self.entries.len()).max(Self::MIN_PRUNE);
        // After a burst of short-lived entries, keep room for the next doubling only.
        self.entries.shrink_to(self.prune_at);
    }
}

impl<T> Weakly<HashMap<String, Weak<T>>> {
    /// The live entry `name` (as `upgrade` makes a handle of it), else a new one from `create`
    /// (its error returned as is), registered through `downgrade`.
    pub(crate) fn find_or_create<S, E>(
        &mut self,
        name: &str,
        upgrade: impl FnOnce(&Weak<T>) -> Option<S>,
        downgrade: impl FnOnce(&S) -> Weak<T>,
        create: impl FnOnce() -> Result<S, E>,
    ) -> Result<S, E> {
        if let Some(live) = self.entries.get(name).and_then(upgrade) {
            return Ok(live);
        }
        let new = create()?;
        self.make_room();
        self.entries.insert(name.to_owned(), downgrade(&new));
        Ok(new)
    }
}
