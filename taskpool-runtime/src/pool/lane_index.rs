//! Which runs of each task wait in the core's lanes, so that `cancel(id)` finds them without
//! scanning every waiting run.
//!
//! Kept only while it pays: the core builds it when a `cancel(id)` finds many runs waiting
//! (one scan), keeps it up to date while runs enter and leave the lanes, and drops it once the
//! lanes are empty. A pool nobody cancels by id never pays for it; a burst of cancels by id
//! over a long queue costs one scan, not one per cancel.

use std::collections::HashMap;

use crate::run::Run;
use crate::scheduler::dispatch::Lanes;
use crate::sync::Arc;
use crate::task::TaskId;

/// How many waiting runs make a `cancel(id)` build the index rather than scan the lanes.
pub(crate) const INDEX_FROM: usize = 64;

/// The lanes' runs by task id: each lane entry once (a run queued twice is listed twice).
pub(crate) struct LaneIndex(HashMap<TaskId, Vec<Arc<Run>>>);

impl LaneIndex {
    /// Indexes every run in `lanes`.
    pub(crate) fn build(lanes: &Lanes<Arc<Run>>) -> LaneIndex {
        let mut index = LaneIndex(HashMap::new());
        for run in lanes.iter() {
            index.insert(run);
        }
        index
    }

    /// A run entered the lanes.
    pub(crate) fn insert(&mut self, run: &Arc<Run>) {
        self.0.entry(run.id).or_default().push(Arc::clone(run));
    }

    /// A run left the lanes: one entry of it goes.
    pub(crate) fn remove(&mut self, run: &Arc<Run>) {
        let Some(runs) = self.0.get_mut(&run.id) else {
            return;
        };
        if let Some(at) = runs.iter().position(|r| Arc::ptr_eq(r, run)) {
            runs.swap_remove(at);
        }
        if runs.is_empty() {
            self.0.remove(&run.id);
        }
    }

    /// The runs of task `id` in the lanes.
    pub(crate) fn runs_of(&self, id: TaskId) -> &[Arc<Run>] {
        self.0.get(&id).map_or(&[], Vec::as_slice)
    }
}
