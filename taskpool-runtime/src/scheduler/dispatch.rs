//! The dispatch rule: which waiting task a free worker starts next. See `README.md` beside this
//! file for why it is shaped this way.

use std::collections::VecDeque;

use crate::priority::Priority;

/// The bit of one queue in a mask of queues: new jobs of lane `priority`, or its woken ones.
///
/// A job that arrives in a queue that already holds jobs cannot change the next pick (it is
/// behind them); only one that makes an empty queue non-empty can. The intake keeps this mask of
/// what it holds, so a pool thread moves the intake into the lanes only when that could matter.
pub(crate) fn queue_bit(priority: Priority, resumed: bool) -> u8 {
    1 << (priority.lane() + if resumed { 4 } else { 0 })
}

/// Which IDLE work the pick may take now (the caller decides: `Core::idle_gate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdleGate {
    /// A new IDLE task may start: no IDLE task executes, and every thread is quiet.
    pub(crate) fresh: bool,
    /// A woken IDLE task may resume: no IDLE task executes.
    pub(crate) resumed: bool,
}

impl IdleGate {
    /// No IDLE work may go.
    pub(crate) const CLOSED: IdleGate = IdleGate {
        fresh: false,
        resumed: false,
    };
    /// Every kind of IDLE work may go (unit tests).
    #[cfg(test)]
    pub(crate) const OPEN: IdleGate = IdleGate {
        fresh: true,
        resumed: true,
    };
    /// Only a woken IDLE task may go on (unit tests).
    #[cfg(test)]
    pub(crate) const RESUMED_ONLY: IdleGate = IdleGate {
        fresh: false,
        resumed: true,
    };
}

/// HIGH tasks a worker may start in a row before MEDIUM gets one turn (and likewise MEDIUM → LOW).
pub(crate) const STREAK: u8 = 5;

/// The four lanes and the two streak counters of the anti-starvation rule.
///
/// Each lane has two FIFO queues: jobs that have not started, and suspended `async` tasks that
/// were woken. A lane's turn serves its woken tasks first — they already hold resources and
/// their callers are waiting — so a resumed HIGH task never queues behind LOW work, and a
/// resumed task never waits behind the fresh backlog of its own lane. But not without end:
/// after [`STREAK`] woken tasks in a row while new ones wait, a new one gets the lane's turn,
/// since tasks that keep being woken (one yielding in a loop wakes itself in every poll) would
/// otherwise keep the lane's new tasks waiting forever.
pub(crate) struct Lanes<J> {
    fresh: [VecDeque<J>; 4],
    resumed: [VecDeque<J>; 4],
    high_streak: u8,
    medium_streak: u8,
    /// Per lane: woken tasks served in a row while new ones waited there.
    resumed_streak: [u8; 4],
}

impl<J> Lanes<J> {
    pub(crate) fn new() -> Lanes<J> {
        Lanes {
            fresh: Default::default(),
            resumed: Default::default(),
            high_streak: 0,
            medium_streak: 0,
            resumed_streak: [0; 4],
        }
    }

    /// Queues a job that has not started.
    pub(crate) fn push(&mut self, priority: Priority, job: J) {
        self.fresh[priority.lane()].push_back(job);
    }

    /// Queues a woken suspended task.
    pub(crate) fn push_resumed(&mut self, priority: Priority, job: J) {
        self.resumed[priority.lane()].push_back(job);
    }

    /// How many new and woken jobs lane `priority` holds.
    pub(crate) fn len(&self, priority: Priority) -> (usize, usize) {
        let lane = priority.lane();
        (self.fresh[lane].len(), self.resumed[lane].len())
    }

    /// Every job the lanes hold, new and woken, in no particular order (for `cancel(id)` and
    /// pool info, which scan instead of keeping a per-task index).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &J> {
        self.fresh.iter().chain(&self.resumed).flatten()
    }

    /// Removes and returns every job that has not started.
    pub(crate) fn drain(&mut self) -> Vec<J> {
        self.fresh
            .iter_mut()
            .flat_map(|queue| queue.drain(..))
            .collect()
    }

    /// Removes and returns every woken job.
    pub(crate) fn drain_resumed(&mut self) -> Vec<J> {
        self.resumed
            .iter_mut()
            .flat_map(|queue| queue.drain(..))
            .collect()
    }

    /// Drops the jobs at the front of the queues that `keep(job, resumed)` refuses (runs canceled
    /// while they waited), without counting them toward a streak.
    pub(crate) fn prune(&mut self, mut keep: impl FnMut(&J, bool) -> bool) {
        for (queues, resumed) in [(&mut self.fresh, false), (&mut self.resumed, true)] {
            for queue in queues.iter_mut() {
                while queue.front().is_some_and(|job| !keep(job, resumed)) {
                    queue.pop_front();
                }
            }
        }
    }

    /// Which queues hold jobs, as a mask: bit `lane` for new jobs, bit `4 + lane` for woken ones
    /// (the layout of [`queue_bit`]).
    pub(crate) fn occupied(&self) -> u8 {
        let mut mask = 0;
        for priority in Priority::ALL {
            if !self.fresh[priority.lane()].is_empty() {
                mask |= queue_bit(priority, false);
            }
            if !self.resumed[priority.lane()].is_empty() {
                mask |= queue_bit(priority, true);
            }
        }
        mask
    }

    /// Picks the next job; the flag says whether it is a resumed one. `keep(job, resumed)` is
    /// asked about each job at the front of a queue; a job it refuses (one canceled while it
    /// waited) is dropped without counting toward a streak. `idle` says which IDLE work may go
    /// (HIGH, MEDIUM and LOW empty is checked here; "every thread quiet, no IDLE task executing"
    /// by the caller).
    pub(crate) fn pick(
        &mut self,
        keep: impl FnMut(&J, bool) -> bool,
        idle: IdleGate,
    ) -> Option<(J, Priority, bool)> {
        self.prune(keep);
        let priority = self.choose_lane(idle)?;
        let lane = priority.lane();
        // IDLE work goes only through its gate, whatever the streak.
        let (fresh_may, resumed_may) = match priority {
            Priority::Idle => (idle.fresh, idle.resumed),
            _ => (true, true),
        };
        let fresh_waiting = fresh_may && !self.fresh[lane].is_empty();
        let fresh_owed = fresh_waiting && self.resumed_streak[lane] >= STREAK;
        if resumed_may && !fresh_owed {
            if let Some(job) = self.resumed[lane].pop_front() {
                self.resumed_streak[lane] = if fresh_waiting {
                    self.resumed_streak[lane] + 1
                } else {
                    0
                };
                return Some((job, priority, true));
            }
        }
        self.resumed_streak[lane] = 0;
        if !fresh_may {
            return None;
        }
        Some((self.fresh[lane].pop_front()?, priority, false))
    }

    fn choose_lane(&mut self, idle_gate: IdleGate) -> Option<Priority> {
        let waiting = |lane: Priority| {
            !self.fresh[lane.lane()].is_empty() || !self.resumed[lane.lane()].is_empty()
        };
        let (high, medium, low) = (
            waiting(Priority::High),
            waiting(Priority::Medium),
            waiting(Priority::Low),
        );
        let idle = (idle_gate.resumed && !self.resumed[Priority::Idle.lane()].is_empty())
            || (idle_gate.fresh && !self.fresh[Priority::Idle.lane()].is_empty());
        if high && self.high_streak < STREAK {
            self.high_streak += 1;
            return Some(Priority::High);
        }
        self.high_streak = 0;
        if medium && self.medium_streak < STREAK {
            self.medium_streak += 1;
            return Some(Priority::Medium);
        }
        self.medium_streak = 0;
        if low {
            return Some(Priority::Low);
        }
        // LOW was owed the turn but is empty: the turn goes back up rather than being wasted.
        if high {
            self.high_streak = 1;
            return Some(Priority::High);
        }
        if medium {
            self.medium_streak = 1;
            return Some(Priority::Medium);
        }
        idle.then_some(Priority::Idle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saturated(per_lane: usize) -> Lanes<Priority> {
        let mut lanes = Lanes::new();
        for priority in Priority::ALL {
            for _ in 0..per_lane {
                lanes.push(priority, priority);
            }
        }
        lanes
    }

    fn take(lanes: &mut Lanes<Priority>, count: usize, idle: IdleGate) -> Vec<Priority> {
        (0..count)
            .map_while(|_| lanes.pick(|_, _| true, idle).map(|(job, ..)| job))
            .collect()
    }

    #[test]
    fn saturated_lanes_start_thirty_high_five_medium_one_low() {
        let mut lanes = saturated(1000);
        let order = take(&mut lanes, 36 * 10, IdleGate::RESUMED_ONLY);
        for window in order.chunks(36) {
            let count = |p| window.iter().filter(|&&q| q == p).count();
            assert_eq!(
                (
                    count(Priority::High),
                    count(Priority::Medium),
                    count(Priority::Low)
                ),
                (30, 5, 1)
            );
        }
        assert_eq!(
            &order[..6],
            &[Priority::High; 5]
                .iter()
                .copied()
                .chain([Priority::Medium])
                .collect::<Vec<_>>()[..]
        );
    }

    #[test]
    fn low_gets_a_turn_after_five_high_when_medium_is_empty() {
        let mut lanes = Lanes::new();
        for _ in 0..20 {
            lanes.push(Priority::High, Priority::High);
        }
        lanes.push(Priority::Low, Priority::Low);
        let order = take(&mut lanes, 7, IdleGate::RESUMED_ONLY);
        assert_eq!(order[5], Priority::Low);
    }

    #[test]
    fn a_turn_owed_to_an_empty_lane_is_not_wasted() {
        let mut lanes = Lanes::new();
        for _ in 0..40 {
            lanes.push(Priority::High, Priority::High);
            lanes.push(Priority::Medium, Priority::Medium);
        }
        // With LOW empty, every pick still yields a job until both lanes are drained.
        assert_eq!(take(&mut lanes, 1000, IdleGate::RESUMED_ONLY).len(), 80);
    }

    #[test]
    fn idle_runs_only_when_allowed_and_high_medium_are_empty() {
        let mut lanes = Lanes::new();
        lanes.push(Priority::Idle, Priority::Idle);
        assert!(lanes.pick(|_, _| true, IdleGate::RESUMED_ONLY).is_none());
        lanes.push(Priority::Medium, Priority::Medium);
        assert_eq!(
            take(&mut lanes, 2, IdleGate::OPEN),
            vec![Priority::Medium, Priority::Idle]
        );
    }

    #[test]
    fn canceled_jobs_are_skipped_and_do_not_count_toward_a_streak() {
        let mut lanes = Lanes::new();
        for live in [false, false, true] {
            lanes.push(Priority::High, live);
        }
        let mut discarded = 0;
        let keep = |&live: &bool, _| {
            discarded += usize::from(!live);
            live
        };
        assert_eq!(
            lanes.pick(keep, IdleGate::RESUMED_ONLY),
            Some((true, Priority::High, false))
        );
        assert_eq!(discarded, 2);
        assert!(lanes.drain().is_empty());
        assert_eq!(lanes.high_streak, 1);
    }

    #[test]
    fn a_woken_task_goes_before_the_fresh_backlog_of_its_lane() {
        let mut lanes = Lanes::new();
        for n in 0..3 {
            lanes.push(Priority::Medium, n);
        }
        lanes.push_resumed(Priority::Medium, 99);
        assert_eq!(
            lanes.pick(|_, _| true, IdleGate::RESUMED_ONLY),
            Some((99, Priority::Medium, true))
        );
        assert_eq!(
            lanes.pick(|_, _| true, IdleGate::RESUMED_ONLY),
            Some((0, Priority::Medium, false))
        );
    }

    #[test]
    fn tasks_woken_again_and_again_leave_a_new_task_of_their_lane_a_turn() {
        let mut lanes = Lanes::new();
        lanes.push(Priority::Medium, 1);
        // A task woken in every poll is back in the woken queue each time it is picked.
        lanes.push_resumed(Priority::Medium, 99);
        let mut picks = Vec::new();
        for _ in 0..=STREAK {
            let (job, _, resumed) = lanes.pick(|_, _| true, IdleGate::OPEN).unwrap();
            if resumed {
                lanes.push_resumed(Priority::Medium, job);
            }
            picks.push(job);
        }
        let mut expected = vec![99; usize::from(STREAK)];
        expected.push(1);
        assert_eq!(picks, expected);
        // With no new task waiting, woken ones go on without a limit.
        for _ in 0..3 * STREAK {
            assert_eq!(
                lanes.pick(|_, _| true, IdleGate::OPEN),
                Some((99, Priority::Medium, true))
            );
            lanes.push_resumed(Priority::Medium, 99);
        }
    }

    #[test]
    fn a_woken_high_task_is_not_queued_behind_low_work() {
        let mut lanes = Lanes::new();
        for n in 0..10 {
            lanes.push(Priority::Low, n);
        }
        lanes.push_resumed(Priority::High, 99);
        assert_eq!(
            lanes.pick(|_, _| true, IdleGate::RESUMED_ONLY),
            Some((99, Priority::High, true))
        );
    }

    #[test]
    fn a_woken_idle_task_resumes_when_high_and_medium_are_empty_only() {
        let mut lanes = Lanes::new();
        lanes.push_resumed(Priority::Idle, 7);
        lanes.push(Priority::Medium, 1);
        assert_eq!(
            lanes.pick(|_, _| true, IdleGate::RESUMED_ONLY),
            Some((1, Priority::Medium, false))
        );
        // No new IDLE task may start, but the woken one goes on.
        assert_eq!(
            lanes.pick(|_, _| true, IdleGate::RESUMED_ONLY),
            Some((7, Priority::Idle, true))
        );
    }

    #[test]
    fn a_woken_idle_task_waits_while_another_idle_task_executes() {
        let mut lanes = Lanes::new();
        lanes.push_resumed(Priority::Idle, 7);
        lanes.push(Priority::Idle, 8);
        let closed = IdleGate {
            fresh: false,
            resumed: false,
        };
        assert_eq!(lanes.pick(|_, _| true, closed), None);
        assert_eq!(lanes.len(Priority::Idle), (1, 1));
        assert_eq!(
            lanes.pick(|_, _| true, IdleGate::OPEN),
            Some((7, Priority::Idle, true))
        );
    }
}
