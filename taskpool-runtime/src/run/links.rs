//! `Links`: what a run shares with code outside the scheduler — its task's record and its
//! hooks — behind one thin pointer that a plain one-shot run leaves empty.
//!
//! Most runs are one-shot tasks with neither: for them the links cost one word and no
//! allocation. Before, the record (a `OnceLock`, 16 bytes) and the boxed hooks (8) sat in every
//! run; together behind one pointer they take 16 bytes less (`scheduler/README.md`, memory per
//! task).
//! The price is one small allocation for a run that has a record from the start (a named
//! task, a run by reference) and did not have hooks: a run with hooks made one before too.

use std::sync::OnceLock;

use once_cell::race::OnceBox;

use super::RunHooks;
use crate::sync::Arc;
use crate::task::TaskRecord;

/// A run's record and hooks, allocated on first need (see the module's documentation).
pub(crate) struct Links(OnceBox<Shared>);

/// What [`Links`] points to.
#[derive(Default)]
struct Shared {
    /// Set when the run is built, never after.
    hooks: Option<Arc<dyn RunHooks>>,
    /// The task's record: the task's own, or one a run made for itself on first use (a
    /// handle's data stream).
    record: OnceLock<Arc<TaskRecord>>,
}

impl Links {
    /// The links of a run with this `record` and these `hooks` (no allocation if neither).
    pub(crate) fn new(record: Option<Arc<TaskRecord>>, hooks: Option<Arc<dyn RunHooks>>) -> Links {
        if record.is_none() && hooks.is_none() {
            return Links(OnceBox::new());
        }
        let shared = Shared {
            hooks,
            record: OnceLock::new(),
        };
        if let Some(record) = record {
            let _ = shared.record.set(record);
        }
        Links(OnceBox::with_value(Box::new(shared)))
    }

    /// The run's hooks, if it has any.
    pub(crate) fn hooks(&self) -> Option<&Arc<dyn RunHooks>> {
        self.0.get()?.hooks.as_ref()
    }

    /// The task's record, if the run has one yet.
    pub(crate) fn record(&self) -> Option<&Arc<TaskRecord>> {
        self.0.get()?.record.get()
    }

    /// The task's record, made with `make` if the run had none. Two threads may race to make
    /// it: one record wins, the other is dropped unused.
    pub(crate) fn record_or(&self, make: impl FnOnce() -> Arc<TaskRecord>) -> &Arc<TaskRecord> {
        self.0
            .get_or_init(|| Box::new(Shared::default()))
            .record
            .get_or_init(make)
    }
}

#[cfg(all(test, not(taskpool_loom)))]
mod tests {
    use super::*;
    use crate::task::TaskId;

    fn record() -> Arc<TaskRecord> {
        Arc::new(TaskRecord::of(TaskId::next(), "links"))
    }

    #[test]
    fn a_run_without_record_or_hooks_allocates_nothing_until_asked() {
        let links = Links::new(None, None);
        assert!(links.0.get().is_none());
        assert!(links.record().is_none() && links.hooks().is_none());
        let made = record();
        let first = Arc::as_ptr(links.record_or(|| made.clone()));
        assert!(std::ptr::eq(first, Arc::as_ptr(&made)));
        // Made once: a second ask keeps the first record.
        let second = links.record_or(record);
        assert!(std::ptr::eq(Arc::as_ptr(second), first));
        assert!(links.hooks().is_none());
    }

    #[test]
    fn a_record_given_at_the_start_is_kept() {
        let given = record();
        let links = Links::new(Some(given.clone()), None);
        assert!(std::ptr::eq(
            Arc::as_ptr(links.record().expect("kept")),
            Arc::as_ptr(&given)
        ));
        assert!(std::ptr::eq(
            Arc::as_ptr(links.record_or(record)),
            Arc::as_ptr(&given)
        ));
    }

    #[test]
    fn a_run_is_one_word_of_links() {
        assert_eq!(std::mem::size_of::<Links>(), std::mem::size_of::<usize>());
    }
}
