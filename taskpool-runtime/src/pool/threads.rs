//! The OS threads a pool started, so that shutdown can join them — within a bound, and without
//! waiting for threads whose call already timed out.

use std::time::Instant;

use crate::bounded_join::JoinableThread;
use crate::pool::WorkerId;
use crate::sync::{Condvar, Mutex, lock};

/// One started thread: a pool thread (`Some(id)`) or the supervisor (`None`).
struct Entry {
    worker: Option<WorkerId>,
    handle: JoinableThread<()>,
    /// Its exit guard ran: joining it returns at once.
    exited: bool,
}

/// The pool's threads, and a condition that changes whenever one leaves or is retired.
///
/// Lock order: this lock may be held while taking the core lock (in [`ThreadSet::join`]), never
/// the other way round.
#[derive(Default)]
pub(crate) struct ThreadSet {
    entries: Mutex<Vec<Entry>>,
    changed: Condvar,
}

impl ThreadSet {
    /// Starts a thread named `name` with a stack of `stack_size` bytes running `body` and
    /// records it; the system's error if it refused a thread. The entry exists before the thread
    /// can report its exit (spawned under the lock).
    pub(crate) fn spawn(
        &self,
        worker: Option<WorkerId>,
        name: String,
        stack_size: usize,
        body: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<()> {
        let mut entries = lock(&self.entries);
        let builder = std::thread::Builder::new()
            .name(name)
            .stack_size(stack_size);
        let spawned = JoinableThread::spawn(builder, body);
        spawned.map(|handle| {
            entries.push(Entry {
                worker,
                handle,
                exited: false,
            })
        })
    }

    /// A thread is leaving (called from its exit guard).
    pub(crate) fn exited(&self, worker: Option<WorkerId>) {
        let mut entries = lock(&self.entries);
        let me = std::thread::current().id();
        if let Some(entry) = entries
            .iter_mut()
            .find(|e| e.worker == worker && e.handle.thread().id() == me)
        {
            entry.exited = true;
        }
        drop(entries);
        self.changed.notify_all();
    }

    /// Something a shutdown waits on changed (a thread was retired).
    pub(crate) fn notify(&self) {
        let _entries = lock(&self.entries);
        self.changed.notify_all();
    }

    /// Joins threads that have finished.
    pub(crate) fn reap(&self) {
        let finished: Vec<Entry> = {
            let mut entries = lock(&self.entries);
            let (finished, running) = std::mem::take(&mut *entries)
                .into_iter()
                .partition(|e| e.handle.is_finished());
            *entries = running;
            finished
        };
        for entry in finished {
            entry.handle.join_until(None);
        }
    }

    /// Waits until no thread that `must_wait` names is still running, or until `deadline`,
    /// then joins the threads that left and detaches the rest. The calling thread is never
    /// waited for (a pool may be dropped from one of its own tasks). Returns how many threads
    /// were left detached.
    pub(crate) fn join(
        &self,
        must_wait: impl Fn(Option<WorkerId>) -> bool,
        deadline: Option<Instant>,
    ) -> usize {
        let me = std::thread::current().id();
        let mut entries = lock(&self.entries);
        loop {
            let pending = entries
                .iter()
                .any(|e| !e.exited && e.handle.thread().id() != me && must_wait(e.worker));
            if !pending {
                break;
            }
            entries = match deadline {
                None => self
                    .changed
                    .wait(entries)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                        break;
                    };
                    self.changed
                        .wait_timeout(entries, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
        let all = std::mem::take(&mut *entries);
        drop(entries);
        let mut detached = 0;
        for entry in all {
            let left =
                (entry.exited || entry.handle.is_finished()) && entry.handle.thread().id() != me;
            // A thread that left may still run its thread-local destructors (user code):
            // joined within the same deadline. One stuck in a call that never returns, in
            // such a destructor, or the caller itself: let go.
            if !(left && entry.handle.join_until(deadline)) {
                detached += 1;
            }
        }
        detached
    }
}
