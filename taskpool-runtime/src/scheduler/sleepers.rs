//! The workers that are parked, and the counter that lets submitters skip waking anyone.

use crate::scheduler::parker::Parker;
use crate::sync::atomic::{AtomicUsize, Ordering, fence};
use crate::sync::{Arc, Mutex, lock};

/// Parked workers, most recently parked last.
///
/// `count` mirrors the list's length so a submitter can see "nobody sleeps" with one load.
/// Paired with the submission epoch it forms the handshake described in `README.md`: a worker
/// registers here *then* reads the epoch; a submitter bumps the epoch *then* reads `count`. A
/// `SeqCst` fence sits between each side's write and read (in [`register`](Sleepers::register)
/// after the write, in [`wake_one`](Sleepers::wake_one) before the read), so one of the two
/// always sees the other.
#[derive(Default)]
pub(crate) struct Sleepers {
    list: Mutex<Vec<(u64, Arc<Parker>)>>,
    count: AtomicUsize,
}

impl Sleepers {
    /// Registers worker `id` as about to park.
    pub(crate) fn register(&self, id: u64, parker: &Arc<Parker>) {
        let mut list = lock(&self.list);
        list.push((id, Arc::clone(parker)));
        self.count.fetch_add(1, Ordering::SeqCst);
        // Orders this registration before the caller's next read of the epoch.
        fence(Ordering::SeqCst);
    }

    /// Takes worker `id` off the list if it is still there (it was not woken by a submitter).
    pub(crate) fn unregister(&self, id: u64) {
        let mut list = lock(&self.list);
        if let Some(at) = list.iter().position(|(worker, _)| *worker == id) {
            list.swap_remove(at);
            self.count.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Wakes the most recently parked worker, if any (its caches are the warmest).
    pub(crate) fn wake_one(&self) {
        // Orders the caller's bump of the epoch before this read of the count.
        fence(Ordering::SeqCst);
        if self.count.load(Ordering::SeqCst) == 0 {
            return;
        }
        let parker = {
            let mut list = lock(&self.list);
            let Some((_, parker)) = list.pop() else {
                return;
            };
            self.count.fetch_sub(1, Ordering::SeqCst);
            parker
        };
        parker.unpark();
    }

    /// Wakes every parked worker.
    pub(crate) fn wake_all(&self) {
        let parkers = std::mem::take(&mut *lock(&self.list));
        self.count.fetch_sub(parkers.len(), Ordering::SeqCst);
        for (_, parker) in parkers {
            parker.unpark();
        }
    }
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicU64;

    /// The park handshake of `README.md`: a worker that saw epoch 0 and found nothing, racing a
    /// submitter that bumps the epoch, either sees the bump or is woken — it never sleeps
    /// through a submission.
    #[test]
    fn a_submission_never_slips_past_a_parking_worker() {
        loom::model(|| {
            let sleepers = std::sync::Arc::new(Sleepers::default());
            let epoch = std::sync::Arc::new(AtomicU64::new(0));
            let parker = Arc::new(Parker::default());
            let submitter = {
                let (sleepers, epoch) = (sleepers.clone(), epoch.clone());
                loom::thread::spawn(move || {
                    epoch.fetch_add(1, Ordering::SeqCst);
                    sleepers.wake_one();
                })
            };
            sleepers.register(1, &parker);
            if epoch.load(Ordering::SeqCst) == 0 {
                parker.park();
            }
            sleepers.unregister(1);
            submitter.join().unwrap();
        });
    }
}
