//! When a run was queued, when it started and how long it executed, slice by slice (a slice is
//! the first call, or one poll of an `async fn`).
//!
//! Two nanosecond stamps in atomics rather than instants under a lock: they are part of every
//! queued run, and they are written on the run's path. Only the thread executing the run writes
//! them (one at a time: see `suspension.rs`); the supervisor and `info()` read them. A reader
//! between two writes under-counts, never over-counts: a time limit is then enforced a moment
//! late, never early.
//!
//! The execution time is one word: the closed slices' total, or, while a slice is open, the
//! instant it would have started had the run executed without a break ([`OPEN`] set). So a
//! reader never pairs a slice's start with a total from another slice, and a run is 8 bytes
//! smaller than with the total and the slice's start apart (`scheduler/README.md`, memory).

use std::time::{Duration, Instant};

use crate::observe::stamp;
use crate::sync::atomic::{AtomicU64, Ordering};

/// In [`Timing::execution`]: a slice is open, and the rest of the word is the slice's start
/// minus the closed slices' total. Stamps count nanoseconds from the process's first stamp, so
/// they stay below this bit for 292 years.
const OPEN: u64 = 1 << 63;

/// The execution times of one run (see the module documentation). A stamp of 0 means "not yet".
#[derive(Default)]
pub(crate) struct Timing {
    /// When the run was queued until it starts, then when it started: the queue stamp is only
    /// read once, by the thread that starts the run.
    started: AtomicU64,
    /// The closed slices' total in nanoseconds, or [`OPEN`] with the open slice's start shifted
    /// back by that total.
    execution: AtomicU64,
}

/// `at` as a stamp that is never 0.
fn nonzero_stamp(at: Instant) -> u64 {
    stamp(at).max(1)
}

/// The execution time that `execution` stands for at stamp `now`.
fn executed(execution: u64, now: u64) -> u64 {
    if execution & OPEN == 0 {
        execution
    } else {
        now.saturating_sub(execution & !OPEN)
    }
}

impl Timing {
    /// The run was queued at `now`.
    pub(crate) fn queued(&self, now: Instant) {
        self.started.store(nonzero_stamp(now), Ordering::Relaxed);
    }

    /// The run starts at `now` (called once, when it leaves its lane); returns how long it
    /// waited since it was queued (zero if it never was).
    pub(crate) fn start(&self, now: Instant) -> Duration {
        let now = nonzero_stamp(now);
        match self.started.swap(now, Ordering::Relaxed) {
            0 => Duration::ZERO,
            queued => Duration::from_nanos(now.saturating_sub(queued)),
        }
    }

    /// Marks the start of an execution slice at `now`; returns the execution time used before.
    pub(crate) fn begin_slice(&self, now: Instant) -> Duration {
        let now = stamp(now).min(OPEN - 1);
        let before = executed(self.execution.load(Ordering::Relaxed), now);
        self.execution
            .store(OPEN | now.saturating_sub(before), Ordering::Release);
        Duration::from_nanos(before)
    }

    /// Closes the current execution slice; returns the execution time used so far.
    pub(crate) fn end_slice(&self) -> Duration {
        let execution = self.execution.load(Ordering::Relaxed);
        let total = executed(execution, stamp(Instant::now()));
        if execution & OPEN != 0 {
            self.execution.store(total, Ordering::Release);
        }
        Duration::from_nanos(total)
    }

    /// How long ago the run started; zero if it has not. Only for a run that has started (the
    /// stamp is the queue stamp before).
    pub(crate) fn running_for(&self, now: Instant) -> Duration {
        match self.started.load(Ordering::Relaxed) {
            0 => Duration::ZERO,
            started => Duration::from_nanos(stamp(now).saturating_sub(started)),
        }
    }

    /// The execution time of the closed slices; zero while a slice is open (the word no longer
    /// tells the closed part apart, and zero can only make a time limit late). A thread reads
    /// it when it takes the run, before it opens the run's next slice.
    pub(crate) fn cpu_used(&self) -> Duration {
        match self.execution.load(Ordering::Acquire) {
            execution if execution & OPEN == 0 => Duration::from_nanos(execution),
            _ => Duration::ZERO,
        }
    }

    /// `(total, cpu)` as of now: from the start to now, and the execution time including an
    /// open slice.
    pub(crate) fn totals(&self) -> (Duration, Duration) {
        let now = stamp(Instant::now());
        let cpu = executed(self.execution.load(Ordering::Acquire), now);
        let total = match self.started.load(Ordering::Relaxed) {
            0 => cpu,
            started => now.saturating_sub(started).max(cpu),
        };
        (Duration::from_nanos(total), Duration::from_nanos(cpu))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_add_up_and_an_unstarted_run_reports_zero() {
        let timing = Timing::default();
        assert_eq!(timing.running_for(Instant::now()), Duration::ZERO);
        assert_eq!(timing.totals(), (Duration::ZERO, Duration::ZERO));
        let start = Instant::now();
        timing.start(start);
        assert_eq!(timing.begin_slice(start), Duration::ZERO);
        std::thread::sleep(Duration::from_millis(2));
        let first = timing.end_slice();
        assert!(first >= Duration::from_millis(2), "{first:?}");
        assert_eq!(timing.cpu_used(), first);
        // A second slice adds to the first; the start stays the first slice's.
        assert_eq!(timing.begin_slice(Instant::now()), first);
        let second = timing.end_slice();
        assert!(second >= first);
        let (total, cpu) = timing.totals();
        assert_eq!(cpu, second);
        assert!(total >= cpu);
        assert!(timing.running_for(Instant::now()) >= Duration::from_millis(2));
    }

    #[test]
    fn an_open_slice_counts_in_the_totals_but_not_in_cpu_used() {
        let timing = Timing::default();
        timing.start(Instant::now());
        timing.begin_slice(Instant::now());
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(timing.cpu_used(), Duration::ZERO);
        let (total, cpu) = timing.totals();
        assert!(cpu >= Duration::from_millis(2));
        assert!(total >= cpu);
    }

    #[test]
    fn one_word_holds_the_closed_total_or_the_open_slice() {
        let timing = Timing::default();
        let t0 = Instant::now();
        timing.start(t0);
        assert_eq!(timing.begin_slice(t0), Duration::ZERO);
        // Open: the closed part is not told apart, and reads as zero (a time limit late).
        assert_eq!(timing.cpu_used(), Duration::ZERO);
        std::thread::sleep(Duration::from_millis(2));
        let first = timing.end_slice();
        assert!(first >= Duration::from_millis(2), "{first:?}");
        // A second slice, after a pause the run did not execute in, adds only its own time.
        std::thread::sleep(Duration::from_millis(30));
        let resumed = Instant::now();
        assert_eq!(timing.begin_slice(resumed), first);
        std::thread::sleep(Duration::from_millis(2));
        let (total, open) = timing.totals();
        let upper = first + resumed.elapsed();
        assert!(
            open >= first + Duration::from_millis(2) && open <= upper,
            "{open:?}"
        );
        assert!(
            total >= Duration::from_millis(34),
            "the pause counts in the total: {total:?}"
        );
        // Closing twice counts once.
        let closed = timing.end_slice();
        assert!(closed >= open && closed <= first + resumed.elapsed());
        assert_eq!(timing.end_slice(), closed);
        assert_eq!(timing.cpu_used(), closed);
    }

    #[test]
    fn the_queue_stamp_gives_the_wait_and_then_the_start() {
        let timing = Timing::default();
        let queued = Instant::now();
        timing.queued(queued);
        let waited = timing.start(queued + Duration::from_millis(3));
        assert_eq!(waited, Duration::from_millis(3));
        // From now on the stamp is the start.
        let later = queued + Duration::from_millis(10);
        assert_eq!(timing.running_for(later), Duration::from_millis(7));
        // A run that was never queued (started inline) waited for nothing.
        assert_eq!(Timing::default().start(later), Duration::ZERO);
    }
}
