//! Counters of outcomes and per-lane wait-time histograms, read by [`TaskPool::info`].
//!
//! The counters are atomics bumped once per run, in the resolve funnel
//! (`TypedRun::resolve`), by whichever resolver wins, before the handle can see the outcome. The histograms are plain numbers updated
//! under the core lock when a worker picks a new run, so recording a wait costs a few additions.
//!
//! [`TaskPool::info`]: crate::TaskPool::info

use std::time::Duration;

use crate::priority::Priority;
use crate::sync::atomic::{AtomicU64, Ordering};

/// How many runs a pool has seen and how they ended, since the pool was built.
///
/// Each run is counted once in `submitted` and, when its handle resolves, once in exactly one of
/// the other counters; so `submitted - settled()` runs are waiting, running or held. A snapshot
/// taken while runs come and go never shows more runs settled than submitted.
///
/// ```
/// use taskpool::{concurrent, TaskPool};
///
/// #[concurrent]
/// fn one() -> u8 {
///     1
/// }
///
/// let pool = TaskPool::builder().build().unwrap();
/// pool.run(one, ()).wait().unwrap();
/// let counters = pool.info().counters;
/// assert_eq!(counters.submitted, 1);
/// assert_eq!(counters.completed, 1); // counted before the handle resolves
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Runs submitted (including runs refused at once, which count as failed).
    pub submitted: u64,
    /// Runs whose function returned a value.
    pub completed: u64,
    /// Runs that returned `Err`, panicked, were refused or were cut off by a shutdown.
    pub failed: u64,
    /// Runs canceled, before or after they started.
    pub canceled: u64,
    /// Runs that exceeded the pool's time limit, or the timeout of their
    /// [`Configs`](crate::Configs) (their own or their group's).
    pub timed_out: u64,
}

impl Counters {
    /// Runs whose handle has resolved: the sum of every outcome, saturating at `u64::MAX`
    /// (the fields are public, so a caller may fill them with anything).
    pub fn settled(&self) -> u64 {
        [self.failed, self.canceled, self.timed_out]
            .into_iter()
            .fold(self.completed, u64::saturating_add)
    }
}

/// How a run ended, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Completed,
    Failed,
    Canceled,
    TimedOut,
}

/// The live counters of one pool.
#[derive(Default)]
pub(crate) struct CounterCells {
    /// On its own cache line: submitters bump it while pool threads bump the others.
    submitted: crossbeam_utils::CachePadded<AtomicU64>,
    completed: AtomicU64,
    failed: AtomicU64,
    canceled: AtomicU64,
    timed_out: AtomicU64,
}

impl CounterCells {
    pub(crate) fn submitted(&self) {
        self.submitted.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn settled(&self, outcome: Outcome) {
        let cell = match outcome {
            Outcome::Completed => &self.completed,
            Outcome::Failed => &self.failed,
            Outcome::Canceled => &self.canceled,
            Outcome::TimedOut => &self.timed_out,
        };
        // Release: a snapshot that sees this outcome (acquire) also sees the run's submission,
        // which happened before it.
        cell.fetch_add(1, Ordering::Release);
    }

    /// The counters now. The outcomes are read before `submitted`, so a run submitted and
    /// settled while the snapshot is taken is never counted settled without being counted
    /// submitted: `settled() <= submitted` in every snapshot.
    pub(crate) fn snapshot(&self) -> Counters {
        let completed = self.completed.load(Ordering::Acquire);
        let failed = self.failed.load(Ordering::Acquire);
        let canceled = self.canceled.load(Ordering::Acquire);
        let timed_out = self.timed_out.load(Ordering::Acquire);
        Counters {
            submitted: self.submitted.load(Ordering::Relaxed),
            completed,
            failed,
            canceled,
            timed_out,
        }
    }
}

/// One lane in a pool snapshot: what waits in it and how long runs waited before they started.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LaneInfo {
    /// The lane.
    pub priority: Priority,
    /// New runs queued in the lane (runs canceled while queued, or taken by a thread waiting for
    /// them and executed inline, count until a worker reaches them).
    pub queued: usize,
    /// Suspended `async` runs that were woken and wait for a thread.
    pub woken: usize,
    /// How long the runs started from this lane waited, from being queued to their start,
    /// since the pool was built.
    pub waits: WaitStats,
}

/// A distribution of wait times. Percentiles come from a log-linear histogram (8 buckets per
/// power of two of nanoseconds): each is an upper bound at most 12.5 % above the true value,
/// and never above `max`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitStats {
    /// How many waits were recorded.
    pub count: u64,
    /// Their mean.
    pub mean: Duration,
    /// The median.
    pub p50: Duration,
    /// The 90th percentile.
    pub p90: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The longest.
    pub max: Duration,
}

/// Sub-buckets per power of two: 2^3 = 8.
const SUB_BITS: u32 = 3;
const SUB: u64 = 1 << SUB_BITS;
/// Values 0..8 exactly, then 8 buckets for each power of two from 2^3 to 2^63.
const BUCKETS: usize = ((64 - SUB_BITS + 1) as usize) * SUB as usize;

fn bucket_of(value: u64) -> usize {
    if value < SUB {
        return value as usize;
    }
    let exponent = 63 - value.leading_zeros();
    let sub = (value >> (exponent - SUB_BITS)) & (SUB - 1);
    ((exponent - SUB_BITS + 1) as u64 * SUB + sub) as usize
}

/// The largest value bucket `index` holds.
fn bucket_upper(index: usize) -> u64 {
    if index + 1 >= BUCKETS {
        return u64::MAX;
    }
    let next = index as u64 + 1;
    if next < SUB {
        return next - 1;
    }
    let exponent = next / SUB + SUB_BITS as u64 - 1;
    let sub = next % SUB;
    ((SUB + sub) << (exponent - SUB_BITS as u64)) - 1
}

/// A log-linear histogram of nanoseconds.
struct Histogram {
    buckets: Box<[u64]>,
    count: u64,
    sum: u128,
    max: u64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            buckets: vec![0; BUCKETS].into_boxed_slice(),
            count: 0,
            sum: 0,
            max: 0,
        }
    }

    fn record(&mut self, nanos: u64) {
        self.buckets[bucket_of(nanos)] += 1;
        self.count += 1;
        self.sum += u128::from(nanos);
        self.max = self.max.max(nanos);
    }

    fn percentile(&self, q: f64) -> u64 {
        let target = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (index, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= target {
                return bucket_upper(index).min(self.max);
            }
        }
        self.max
    }

    fn stats(&self) -> WaitStats {
        if self.count == 0 {
            return WaitStats::default();
        }
        let mean = (self.sum / u128::from(self.count)) as u64;
        WaitStats {
            count: self.count,
            mean: Duration::from_nanos(mean),
            p50: Duration::from_nanos(self.percentile(0.50)),
            p90: Duration::from_nanos(self.percentile(0.90)),
            p99: Duration::from_nanos(self.percentile(0.99)),
            max: Duration::from_nanos(self.max),
        }
    }
}

/// Wait times per lane, kept in the core (updated under its lock when a run is picked).
pub(crate) struct LaneWaits([Histogram; 4]);

impl Default for LaneWaits {
    fn default() -> LaneWaits {
        LaneWaits(std::array::from_fn(|_| Histogram::new()))
    }
}

impl LaneWaits {
    /// Records that a run of lane `priority` waited `waited` before it started.
    pub(crate) fn record(&mut self, priority: Priority, waited: Duration) {
        let nanos = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        self.0[priority.lane()].record(nanos);
    }

    /// The distribution of lane `priority`.
    pub(crate) fn stats(&self, priority: Priority) -> WaitStats {
        self.0[priority.lane()].stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_bounded() {
        let mut previous = 0;
        for value in (0..100_000u64).chain([u64::MAX / 2, u64::MAX]) {
            let bucket = bucket_of(value);
            assert!(bucket >= previous, "monotonic at {value}");
            assert!(bucket < BUCKETS);
            assert!(value <= bucket_upper(bucket), "{value} above its bucket");
            if bucket > 0 {
                assert!(value > bucket_upper(bucket - 1), "{value} below its bucket");
            }
            previous = bucket;
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_are_upper_bounds_within_an_eighth() {
        let mut histogram = Histogram::new();
        for nanos in 1..=1000u64 {
            histogram.record(nanos * 1000);
        }
        let stats = histogram.stats();
        assert_eq!(stats.count, 1000);
        assert_eq!(stats.max, Duration::from_micros(1000));
        for (p, exact) in [(stats.p50, 500u64), (stats.p90, 900), (stats.p99, 990)] {
            let exact = Duration::from_micros(exact);
            assert!(p >= exact && p <= exact + exact / 8, "{p:?} vs {exact:?}");
        }
        assert_eq!(stats.mean, Duration::from_nanos(500_500));
    }

    #[test]
    fn an_empty_lane_reports_zeros() {
        assert_eq!(
            LaneWaits::default().stats(Priority::Low),
            WaitStats::default()
        );
    }
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use super::*;
    use crate::error::Error;
    use crate::handle::Completion;

    /// Two resolvers race for one completion (a worker's value against a time-out): the
    /// winner alone counts, so every run is counted exactly once.
    #[test]
    fn each_outcome_is_counted_exactly_once() {
        loom::model(|| {
            let counters = loom::sync::Arc::new(CounterCells::default());
            let completion = loom::sync::Arc::new(Completion::<u32>::new());
            let timer = {
                let (counters, completion) = (counters.clone(), completion.clone());
                loom::thread::spawn(move || {
                    let error = Error::TimedOut {
                        task: crate::task::TaskId::from_raw(1),
                        limit: Duration::from_secs(1),
                    };
                    completion.resolve_and(Err(error), || counters.settled(Outcome::TimedOut));
                })
            };
            completion.resolve_and(Ok(1), || counters.settled(Outcome::Completed));
            timer.join().unwrap();
            let seen = counters.snapshot();
            assert_eq!(seen.settled(), 1, "counted once: {seen:?}");
        });
    }

    /// A snapshot racing a run's submission and its outcome never counts more runs settled
    /// than submitted.
    #[test]
    fn a_snapshot_never_shows_more_settled_than_submitted() {
        loom::model(|| {
            let counters = loom::sync::Arc::new(CounterCells::default());
            let run = {
                let counters = counters.clone();
                loom::thread::spawn(move || {
                    counters.submitted();
                    counters.settled(Outcome::Completed);
                })
            };
            let seen = counters.snapshot();
            assert!(seen.settled() <= seen.submitted, "over: {seen:?}");
            run.join().unwrap();
        });
    }
}
