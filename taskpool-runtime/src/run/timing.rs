//! When a run was queued, when it started and how long it executed, slice by slice (a slice is
//! the first call, or one poll of an `async fn`).
//!
//! Three nanosecond stamps in atomics rather than instants under a lock: they are part of every
//! queued run, and they are written on the run's path. Only the thread executing the run writes
//! them (one at a time: see `suspension.rs`); the supervisor and `info()` read them. Each write
//! order is chosen so that a reader between two writes under-counts, never over-counts: a time
//! limit is then enforced a moment late, never early.

use std::time::{Duration, Instant};

use crate::observe::stamp;
use crate::sync::atomic::{AtomicU64, Ordering};

/// The execution times of one run (see the module documentation). A stamp of 0 means "not yet".
#[derive(Default)]
pub(crate) struct Timing {
    /// When the run was queued until it starts, then when it started: the queue stamp is only
    /// read once, by the thread that starts the run.
    started: AtomicU64,
    /// Execution time of the closed slices, in nanoseconds.
    cpu: AtomicU64,
    slice_started: AtomicU64,
}

/// `at` as a stamp that is never 0.
fn nonzero_stamp(at: Instant) -> u64 {
    stamp(at).max(1)
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
        self.slice_started
            .store(nonzero_stamp(now), Ordering::Release);
        Duration::from_nanos(self.cpu.load(Ordering::Relaxed))
    }

    /// Closes the current execution slice; returns the execution time used so far.
    pub(crate) fn end_slice(&self) -> Duration {
        let slice_started = self.slice_started.swap(0, Ordering::AcqRel);
        let cpu = self.cpu.load(Ordering::Relaxed);
        let cpu = match slice_started {
            0 => cpu,
            started => {
                let cpu = cpu.saturating_add(stamp(Instant::now()).saturating_sub(started));
                self.cpu.store(cpu, Ordering::Release);
                cpu
            }
        };
        Duration::from_nanos(cpu)
    }

    /// How long ago the run started; zero if it has not. Only for a run that has started (the
    /// stamp is the queue stamp before).
    pub(crate) fn running_for(&self, now: Instant) -> Duration {
        match self.started.load(Ordering::Relaxed) {
            0 => Duration::ZERO,
            started => Duration::from_nanos(stamp(now).saturating_sub(started)),
        }
    }

    /// The execution time of the closed slices.
    pub(crate) fn cpu_used(&self) -> Duration {
        Duration::from_nanos(self.cpu.load(Ordering::Acquire))
    }

    /// `(total, cpu)` as of now: from the start to now, and the execution time including an
    /// open slice.
    pub(crate) fn totals(&self) -> (Duration, Duration) {
        let now = stamp(Instant::now());
        let open = match self.slice_started.load(Ordering::Acquire) {
            0 => 0,
            started => now.saturating_sub(started),
        };
        let cpu = self.cpu.load(Ordering::Acquire).saturating_add(open);
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
