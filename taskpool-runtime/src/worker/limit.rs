//! The process-wide cap on live workers: 64 by default, as in ArkTS (10200003 beyond).
//!
//! A worker takes a slot before its thread is spawned and gives it back when its thread ends
//! (not when its `Worker` value is dropped: a detached thread still counts until it returns).
//! The counter is one atomic compare-and-swap loop, model-checked with loom below.

use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::sync::atomic::{AtomicUsize, Ordering};

/// The default cap on live workers, as in ArkTS.
pub const DEFAULT_MAX_WORKERS: usize = 64;

/// Live workers and their cap.
pub(crate) struct LiveCounter {
    live: AtomicUsize,
    max: AtomicUsize,
}

impl LiveCounter {
    pub(crate) fn new(max: usize) -> LiveCounter {
        LiveCounter {
            live: AtomicUsize::new(0),
            max: AtomicUsize::new(max),
        }
    }

    /// Takes a slot if fewer than the cap are live. Never lets the count pass the cap, however
    /// many threads race: the check and the increment are one compare-and-swap.
    pub(crate) fn try_acquire(&self) -> bool {
        let mut live = self.live.load(Ordering::Acquire);
        loop {
            if live >= self.max.load(Ordering::Acquire) {
                return false;
            }
            match self.live.compare_exchange_weak(
                live,
                live + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => live = now,
            }
        }
    }

    /// Gives a slot back.
    pub(crate) fn release(&self) {
        let previous = self.live.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(previous > 0, "a worker slot was released twice");
    }

    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    pub(crate) fn max(&self) -> usize {
        self.max.load(Ordering::Acquire)
    }

    pub(crate) fn set_max(&self, max: usize) {
        self.max.store(max, Ordering::Release);
    }
}

fn global() -> &'static LiveCounter {
    static GLOBAL: OnceLock<LiveCounter> = OnceLock::new();
    GLOBAL.get_or_init(|| LiveCounter::new(DEFAULT_MAX_WORKERS))
}

/// A live worker's slot, given back when dropped (at the very end of the worker's thread).
#[derive(Debug)]
pub(crate) struct Slot(());

impl Slot {
    /// Takes a slot, or fails with 10200003.
    pub(crate) fn acquire() -> Result<Slot> {
        if global().try_acquire() {
            Ok(Slot(()))
        } else {
            Err(Error::WorkerInitialization(format!(
                "the process already has {} live workers, the maximum; terminate idle workers or reuse one",
                global().max()
            )))
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        global().release();
    }
}

/// Sets how many workers may be alive at once in this process (default
/// [`DEFAULT_MAX_WORKERS`], 64, as in ArkTS). Creating one more fails with
/// [`Error::WorkerInitialization`] (10200003).
///
/// Lowering the cap below the number of live workers stops nothing: new workers are refused
/// until enough have ended. Meant for tests and for processes that need a tighter budget.
///
/// ```
/// let before = taskpool::max_workers();
/// taskpool::set_max_workers(8);
/// assert_eq!(taskpool::max_workers(), 8);
/// taskpool::set_max_workers(before);
/// ```
pub fn set_max_workers(max: usize) {
    global().set_max(max);
}

/// The cap on live workers (see [`set_max_workers`]).
///
/// ```
/// assert_eq!(taskpool::max_workers(), taskpool::DEFAULT_MAX_WORKERS);
/// ```
pub fn max_workers() -> usize {
    global().max()
}

/// How many workers are alive in this process: created, and whose thread has not ended yet.
///
/// ```
/// assert_eq!(taskpool::live_workers(), 0);
/// ```
pub fn live_workers() -> usize {
    global().live()
}

#[cfg(all(test, not(taskpool_loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_counter_refuses_past_its_cap_and_frees_slots() {
        let counter = LiveCounter::new(2);
        assert!(counter.try_acquire());
        assert!(counter.try_acquire());
        assert!(!counter.try_acquire());
        counter.release();
        assert!(counter.try_acquire());
        counter.set_max(1);
        assert!(!counter.try_acquire(), "lowering the cap stops new slots");
        assert_eq!(counter.live(), 2);
    }
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use super::*;
    use crate::sync::Arc;

    /// Three threads race for two slots: exactly two win, and the count never passes the cap.
    #[test]
    fn racing_acquires_never_pass_the_cap() {
        loom::model(|| {
            let counter = Arc::new(LiveCounter::new(2));
            let racers: Vec<_> = (0..3)
                .map(|_| {
                    let counter = Arc::clone(&counter);
                    loom::thread::spawn(move || {
                        let won = counter.try_acquire();
                        assert!(counter.live() <= 2);
                        won
                    })
                })
                .collect();
            let won = racers
                .into_iter()
                .map(|r| r.join().unwrap())
                .filter(|&w| w)
                .count();
            assert_eq!(won, 2);
            assert_eq!(counter.live(), 2);
        });
    }

    /// A release racing an acquire at the cap: the acquire wins or loses, the count stays
    /// exact either way.
    #[test]
    fn a_release_racing_an_acquire_keeps_the_count_exact() {
        loom::model(|| {
            let counter = Arc::new(LiveCounter::new(1));
            assert!(counter.try_acquire());
            let releaser = {
                let counter = Arc::clone(&counter);
                loom::thread::spawn(move || counter.release())
            };
            let acquirer = {
                let counter = Arc::clone(&counter);
                loom::thread::spawn(move || counter.try_acquire())
            };
            releaser.join().unwrap();
            let won = acquirer.join().unwrap();
            assert_eq!(counter.live(), usize::from(won));
        });
    }
}
