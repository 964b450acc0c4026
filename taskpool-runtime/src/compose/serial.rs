//! One run at a time, in the order the runs came: the lane a `SequenceRunner` keeps for its
//! tasks, and the one every task executed by reference keeps for its own runs (DESIGN: "one
//! `Task` object never runs concurrently with itself: executing it again while it runs queues
//! the second run"; ArkTS keeps such a run pending).
//!
//! A lane lets one run go (it is queued) and holds the others; when that run settles — it
//! ended, failed, was canceled — the next one still waiting is let go (`compose::hand_over`).

use std::collections::{BTreeMap, HashMap};

use super::Abandoned;
use crate::run::{Holder, Run, RunHeader, RunHooks};
use crate::sync::{Arc, Mutex, lock};
use crate::task::TaskRecord;

/// One lane of runs, one at a time, in the order they joined.
#[derive(Default)]
pub(crate) struct Serial {
    /// The run that was queued and has not settled yet.
    pub(super) current: Option<Arc<Run>>,
    /// Held runs, in submission order.
    pub(super) waiting: Waiting,
}

/// Held runs in the order they arrived, any of which can leave: a queue that removes a run
/// in O(log n). (A `VecDeque` scanned for the run on every cancel made canceling the tasks
/// of a long runner queue one by one quadratic: minutes for 50 000.)
#[derive(Default)]
pub(crate) struct Waiting {
    /// Arrival number → run: the oldest first.
    order: BTreeMap<u64, Arc<Run>>,
    /// Run (by header address) → its arrival number. A run is in `order` while it is here,
    /// which keeps its address from being reused meanwhile.
    arrival: HashMap<usize, u64>,
    next: u64,
}

fn address(run: &RunHeader) -> usize {
    std::ptr::from_ref(run) as usize
}

impl Waiting {
    /// `run` joins at the back.
    pub(crate) fn push_back(&mut self, run: Arc<Run>) {
        let number = self.next;
        self.next += 1;
        self.arrival.insert(address(&run), number);
        self.order.insert(number, run);
    }

    /// The oldest run leaves.
    pub(crate) fn pop_front(&mut self) -> Option<Arc<Run>> {
        let (_, run) = self.order.pop_first()?;
        self.arrival.remove(&address(&run));
        Some(run)
    }

    /// `run` leaves, wherever it is (nothing happens if it is not here).
    pub(crate) fn remove(&mut self, run: &RunHeader) {
        if let Some(number) = self.arrival.remove(&address(run)) {
            self.order.remove(&number);
        }
    }

    /// Every run leaves, oldest first.
    pub(crate) fn drain(&mut self) -> Vec<Arc<Run>> {
        self.arrival.clear();
        std::mem::take(&mut self.order).into_values().collect()
    }

    /// Whether `run` waits here.
    pub(crate) fn contains(&self, run: &RunHeader) -> bool {
        self.arrival.contains_key(&address(run))
    }

    /// How many runs wait.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }
}

impl FromIterator<Arc<Run>> for Waiting {
    fn from_iter<I: IntoIterator<Item = Arc<Run>>>(runs: I) -> Waiting {
        let mut waiting = Waiting::default();
        runs.into_iter().for_each(|run| waiting.push_back(run));
        waiting
    }
}

impl Serial {
    /// A prepared run joins the lane: true when it became the current run and is to be queued
    /// now, false when it waits (or was canceled already: nothing to track).
    ///
    /// Checked under the lock the hook takes: a cancel that landed before is seen here, one that
    /// lands after finds the run waiting or current.
    /// Whether `run` is the run the lane let go last (queued, or about to be).
    fn is_current(&self, run: &Arc<Run>) -> bool {
        self.current
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, run))
    }

    pub(super) fn admit(&mut self, run: &Arc<Run>) -> bool {
        if !run.is_waiting() {
            false
        } else if self.current.is_none() {
            self.current = Some(Arc::clone(run));
            true
        } else {
            self.waiting.push_back(Arc::clone(run));
            false
        }
    }

    /// `run` ended (no code of it runs any more: see `RunHooks::on_ended`). If it was the
    /// current run, the next waiting one (skipping those canceled meanwhile) becomes current
    /// and is returned, to be queued; a waiting run that ended (canceled, shut down) just
    /// leaves the queue.
    pub(super) fn ended(&mut self, run: &RunHeader) -> Option<Arc<Run>> {
        let is_current = self
            .current
            .as_ref()
            .is_some_and(|current| std::ptr::eq(&**current as &RunHeader, run));
        if !is_current {
            self.waiting.remove(run);
            return None;
        }
        self.current = None;
        while let Some(candidate) = self.waiting.pop_front() {
            if candidate.is_waiting() {
                self.current = Some(Arc::clone(&candidate));
                return Some(candidate);
            }
        }
        None
    }

    /// If `run` waits in this lane, the run it waits behind (see `RunHooks::held_behind`).
    pub(super) fn held_behind(&self, run: &RunHeader, holders: &mut Vec<Holder>) {
        match &self.current {
            Some(current) if self.waiting.contains(run) => {
                holders.push(Holder::Run(Arc::clone(current)));
            }
            _ => {}
        }
    }

    /// The run the lane's turn went to cannot be queued (its pool is gone or shutting down):
    /// the waiting runs that cannot run either leave the lane (returned first, to be canceled
    /// by the caller; their hooks then find nothing to do), while those `alive` says can run —
    /// the runs of a task executed on several pools share its lane, and one pool shutting down
    /// must not cancel another's — stay in order, the first of them made current (returned
    /// second, to be queued). Decided under the lane's lock, so that a run joining meanwhile
    /// waits behind them.
    pub(super) fn abandon_where(
        &mut self,
        mut alive: impl FnMut(&Arc<Run>) -> bool,
    ) -> (Vec<Arc<Run>>, Option<Arc<Run>>) {
        self.current = None;
        let mut given_up = Vec::new();
        let mut next = None;
        // A run canceled meanwhile leaves (as in `ended`): its hook then finds nothing to do.
        for run in self
            .waiting
            .drain()
            .into_iter()
            .filter(|run| run.is_waiting())
        {
            if !alive(&run) {
                given_up.push(run);
            } else if self.current.is_none() {
                self.current = Some(Arc::clone(&run));
                next = Some(run);
            } else {
                self.waiting.push_back(run);
            }
        }
        (given_up, next)
    }

    /// Nothing will run any more (the pool is gone or shutting down): the waiting runs, to be
    /// canceled by the caller. The lane is left empty, so their hooks find nothing to do.
    pub(super) fn abandon(&mut self) -> Vec<Arc<Run>> {
        self.current = None;
        self.waiting.drain()
    }
}

/// The hook that keeps a task's runs one at a time: the first in its task's hooks, so that
/// it decides before any other hook may hold the run (a dependency), and a run it lets go
/// later is queued through `PoolShared::enqueue`, which asks the other hooks again.
struct OneRunAtATime(Mutex<Serial>);

impl RunHooks for OneRunAtATime {
    fn hold(&self, run: &Arc<Run>) -> bool {
        let mut lane = lock(&self.0);
        // The run the lane let go comes back here on its way to the queue: it goes on.
        !(lane.is_current(run) || lane.admit(run))
    }

    // A run that timed out keeps its turn until its call returns.
    fn on_ended(&self, run: &RunHeader) {
        let next = lock(&self.0).ended(run);
        if let Some(next) = next {
            super::hand_over(next, || {
                // The pools looked at are let go of after the lane's lock (one may be the last
                // reference to its pool).
                let mut pools = Vec::new();
                let (given_up, next) = lock(&self.0).abandon_where(|run| {
                    let Some(pool) = run.pool.upgrade() else {
                        return false;
                    };
                    let live = !pool.is_shutting_down();
                    pools.push(pool);
                    live
                });
                Abandoned {
                    given_up,
                    next,
                    pools,
                }
            });
        }
    }

    fn held_behind(&self, run: &RunHeader, holders: &mut Vec<Holder>) {
        lock(&self.0).held_behind(run, holders);
    }
}

/// Makes the runs of the task of `record` go one at a time, from now on (idempotent). Called
/// when a task is executed by reference: only then can two runs of it exist at once.
pub(crate) fn one_run_at_a_time(record: &TaskRecord) {
    if record
        .serial
        .swap(true, std::sync::atomic::Ordering::AcqRel)
    {
        return;
    }
    let hook: Arc<dyn RunHooks> = Arc::new(OneRunAtATime(Mutex::new(Serial::default())));
    lock(&record.hooks).insert(0, hook);
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use super::*;
    use crate::function::Invocation;
    use crate::priority::Priority;
    use crate::run::TypedRun;
    use crate::task::Call;
    use std::sync::Weak;

    fn run() -> Arc<Run> {
        let record = crate::task::Owner::anonymous(&"loom::step");
        let call: Call<u32> = Box::new(|| Invocation::Ready(Ok(0)));
        TypedRun::new(record, Priority::Medium, call, Weak::new(), None)
    }

    fn index(runs: &[Arc<Run>], run: &Arc<Run>) -> usize {
        runs.iter().position(|r| Arc::ptr_eq(r, run)).unwrap()
    }

    /// The current run settles (thread A) while a new run is executed (B) and the waiting one
    /// is canceled (C): the lane hands a run out (to be queued) only once every run handed out
    /// before has settled, never hands one out twice, loses none, and keeps submission order.
    /// (A run handed out and canceled before it is queued is ignored by `enqueue`.)
    #[test]
    fn the_hand_off_keeps_one_run_active_in_order() {
        loom::model(|| {
            let runs: Vec<Arc<Run>> = (0..3).map(|_| run()).collect();
            let state = Arc::new(Mutex::new(Serial {
                current: Some(Arc::clone(&runs[0])),
                waiting: Waiting::from_iter([Arc::clone(&runs[1])]),
            }));
            // The runs handed out, in the order the lane decided it.
            let handed = Arc::new(Mutex::new(vec![Arc::clone(&runs[0])]));
            let hand_out = {
                let handed = Arc::clone(&handed);
                move |run: Option<&Arc<Run>>| {
                    if let Some(run) = run {
                        let mut handed = lock(&handed);
                        for earlier in handed.iter() {
                            assert!(!earlier.is_waiting(), "handed out before the last settled");
                        }
                        handed.push(Arc::clone(run));
                    }
                }
            };
            // A run settles: canceled here (it ends without running), then the hook.
            let settle = {
                let (state, hand_out) = (Arc::clone(&state), hand_out.clone());
                move |run: &Arc<Run>| {
                    run.cancel();
                    let mut state = lock(&state);
                    let next = state.ended(run);
                    hand_out(next.as_ref());
                }
            };
            let a = {
                let (first, settle) = (Arc::clone(&runs[0]), settle.clone());
                loom::thread::spawn(move || settle(&first))
            };
            let b = {
                let (third, state) = (Arc::clone(&runs[2]), Arc::clone(&state));
                loom::thread::spawn(move || {
                    let mut state = lock(&state);
                    if state.admit(&third) {
                        hand_out(Some(&third));
                    }
                })
            };
            settle(&runs[1]);
            a.join().unwrap();
            b.join().unwrap();
            // The pool runs what is left to the end.
            loop {
                let current = lock(&state).current.clone();
                let Some(current) = current else { break };
                settle(&current);
            }
            let order: Vec<usize> = lock(&handed).iter().map(|r| index(&runs, r)).collect();
            assert!(order.windows(2).all(|w| w[0] < w[1]), "order {order:?}");
            assert_eq!(
                order.last(),
                Some(&2),
                "the new run was never lost: {order:?}"
            );
            let state = lock(&state);
            assert!(state.current.is_none() && state.waiting.len() == 0);
        });
    }

    /// The turn went to a run whose pool shut down: the lane gives up the runs of dead pools
    /// and keeps the others (thread A: `hand_over`'s `abandon`) while a new run joins (B) and a
    /// kept run is canceled (the main thread, then its hook). The kept runs stay ahead of the
    /// new one, a run is handed out (to be queued) only once every one handed out before has
    /// settled, and none is lost, handed out twice, or handed out after it was given up.
    #[test]
    fn giving_up_the_runs_of_dead_pools_keeps_the_others_ahead_of_a_run_joining_meanwhile() {
        loom::model(|| {
            // 0: the run the turn went to (its pool shut down); 1: a run of a dead pool too;
            // 2, 3: runs of live pools; 4: joins meanwhile (a live pool).
            let runs: Vec<Arc<Run>> = (0..5).map(|_| run()).collect();
            let state = Arc::new(Mutex::new(Serial {
                current: Some(Arc::clone(&runs[0])),
                waiting: Waiting::from_iter(runs[1..4].iter().cloned()),
            }));
            let handed: Arc<Mutex<Vec<Arc<Run>>>> = Arc::new(Mutex::new(Vec::new()));
            let hand_out = {
                let handed = Arc::clone(&handed);
                move |run: Option<Arc<Run>>| {
                    if let Some(run) = run {
                        let mut handed = lock(&handed);
                        for earlier in handed.iter() {
                            assert!(!earlier.is_waiting(), "handed out before the last settled");
                        }
                        handed.push(run);
                    }
                }
            };
            let a = {
                let (state, runs, hand_out) = (Arc::clone(&state), runs.clone(), hand_out.clone());
                loom::thread::spawn(move || {
                    let live = |run: &Arc<Run>| runs[2..].iter().any(|r| Arc::ptr_eq(r, run));
                    let (given_up, next) = lock(&state).abandon_where(live);
                    let given_up: Vec<usize> = given_up.iter().map(|r| index(&runs, r)).collect();
                    assert_eq!(
                        given_up,
                        [1],
                        "only the dead pool's waiting run is given up"
                    );
                    hand_out(next);
                })
            };
            let b = {
                let (state, joining, hand_out) =
                    (Arc::clone(&state), Arc::clone(&runs[4]), hand_out.clone());
                loom::thread::spawn(move || {
                    let mut lane = lock(&state);
                    if lane.admit(&joining) {
                        drop(lane);
                        hand_out(Some(joining));
                    }
                })
            };
            // Run 3 is canceled while it waits: its hook takes it out of the lane.
            runs[3].cancel();
            let next = lock(&state).ended(&runs[3]);
            hand_out(next);
            a.join().unwrap();
            b.join().unwrap();
            // The pool runs what is left to the end.
            loop {
                let current = lock(&state).current.clone();
                let Some(current) = current else { break };
                current.cancel();
                let next = lock(&state).ended(&current);
                hand_out(next);
            }
            let order: Vec<usize> = lock(&handed).iter().map(|r| index(&runs, r)).collect();
            assert_eq!(
                order,
                [2, 4],
                "kept run first, the joining one after, once each"
            );
            let state = lock(&state);
            assert!(state.current.is_none() && state.waiting.len() == 0);
        });
    }
}
