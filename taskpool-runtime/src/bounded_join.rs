//! The runtime's own OS threads (pool threads, a worker's threads), joined within a deadline —
//! which `std`'s `join` cannot do.
//!
//! A thread that has told us it is leaving still runs its thread-local destructors before
//! `join` can return, and so does one that [`JoinHandle::is_finished`] calls finished (that only
//! says its main function returned). Those destructors are user code: a task or handler that
//! left a value in a `thread_local!` whose `Drop` is slow or never returns. So each thread
//! registers, as the first thing it does, a thread-local guard that raises a flag when it is
//! destroyed: destructors run in reverse order of registration (glibc's
//! `__cxa_thread_atexit_impl`, std's fallback list, macOS), so the guard goes last, after every
//! destructor of what the thread's code left. A bounded join waits for that flag — yielding
//! first, then sleeping in growing steps, since the usual wait is a few microseconds — then
//! joins, which returns at once; at the deadline it leaves the thread detached, to end by itself.

use std::cell::Cell;
use std::thread::{Builder, JoinHandle, Thread};
use std::time::{Duration, Instant};

use crate::sync::Arc;
use crate::sync::atomic::{AtomicBool, Ordering};

/// Yields before the first sleep: the usual end of a leaving thread.
const YIELDS: u32 = 16;
/// The first sleep, doubled each time up to [`LONGEST_SLEEP`].
const FIRST_SLEEP: Duration = Duration::from_micros(50);
const LONGEST_SLEEP: Duration = Duration::from_millis(5);

/// Raised when the thread's last thread-local destructor has run.
#[derive(Default)]
struct Exited(AtomicBool);

impl Exited {
    fn is_raised(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Raises its flag when dropped (see the module documentation).
struct RaiseOnDrop(Arc<Exited>);

impl Drop for RaiseOnDrop {
    fn drop(&mut self) {
        self.0.0.store(true, Ordering::Release);
    }
}

std::thread_local! {
    static ON_EXIT: Cell<Option<RaiseOnDrop>> = const { Cell::new(None) };
}

/// An OS thread of the runtime that can be joined within a deadline.
pub(crate) struct JoinableThread<T> {
    handle: JoinHandle<T>,
    exited: Arc<Exited>,
}

impl<T: Send + 'static> JoinableThread<T> {
    /// Starts `body` on a thread `builder` describes; the system's error if it refused one.
    pub(crate) fn spawn(
        builder: Builder,
        body: impl FnOnce() -> T + Send + 'static,
    ) -> std::io::Result<JoinableThread<T>> {
        let exited = Arc::new(Exited::default());
        let guard = RaiseOnDrop(Arc::clone(&exited));
        let handle = builder.spawn(move || {
            // First, so that it is destroyed last.
            ON_EXIT.with(|slot| slot.set(Some(guard)));
            body()
        })?;
        Ok(JoinableThread { handle, exited })
    }
}

impl<T> JoinableThread<T> {
    pub(crate) fn thread(&self) -> &Thread {
        self.handle.thread()
    }

    /// Whether the thread ran all its code, thread-local destructors included: joining it
    /// returns at once.
    pub(crate) fn is_finished(&self) -> bool {
        self.exited.is_raised() && self.handle.is_finished()
    }

    /// Joins the thread if it finishes by `deadline` (`None`: waits as long as it takes);
    /// otherwise lets it go, detached. True if it was joined. The thread's own result is
    /// ignored: a panic that left it was contained or reported where it happened.
    pub(crate) fn join_until(self, deadline: Option<Instant>) -> bool {
        if let Some(deadline) = deadline {
            if !wait_until(&self.exited, deadline) {
                return false;
            }
        }
        let _ = self.handle.join();
        true
    }
}

/// Waits until `exited` is raised or `deadline` passes; true if it was raised.
fn wait_until(exited: &Exited, deadline: Instant) -> bool {
    let (mut yields, mut sleep) = (0, FIRST_SLEEP);
    while !exited.is_raised() {
        let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
        else {
            return false;
        };
        if yields < YIELDS {
            yields += 1;
            crate::sync::yield_now();
        } else {
            std::thread::sleep(sleep.min(left));
            sleep = (sleep * 2).min(LONGEST_SLEEP);
        }
    }
    true
}

#[cfg(all(test, not(taskpool_loom)))]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn spawn<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> JoinableThread<T> {
        JoinableThread::spawn(Builder::new(), body).unwrap()
    }

    #[test]
    fn a_thread_that_ended_is_joined() {
        let thread = spawn(|| 7);
        let later = Instant::now() + Duration::from_secs(60);
        assert!(thread.join_until(Some(later)));
    }

    #[test]
    fn a_thread_still_running_at_the_deadline_is_left_detached() {
        let (release, wait) = mpsc::channel::<()>();
        let thread = spawn(move || {
            let _ = wait.recv();
        });
        assert!(!thread.is_finished());
        assert!(!thread.join_until(Some(Instant::now())));
        release.send(()).unwrap();
    }

    #[test]
    fn a_thread_in_a_thread_local_destructor_has_not_finished() {
        struct Blocks(mpsc::Receiver<()>, mpsc::Sender<()>);
        impl Drop for Blocks {
            fn drop(&mut self) {
                let _ = self.1.send(());
                let _ = self.0.recv();
            }
        }
        std::thread_local! {
            static LEFT: Cell<Option<Blocks>> = const { Cell::new(None) };
        }
        let (release, wait) = mpsc::channel::<()>();
        let (dropping, in_drop) = mpsc::channel::<()>();
        let thread = spawn(move || LEFT.with(|left| left.set(Some(Blocks(wait, dropping)))));
        in_drop.recv().unwrap();
        // The main function returned; a destructor still runs.
        assert!(!thread.is_finished());
        assert!(!thread.join_until(Some(Instant::now() + Duration::from_millis(1))));
        release.send(()).unwrap();
    }

    #[test]
    fn without_a_deadline_it_waits() {
        let thread = spawn(|| std::thread::sleep(Duration::from_millis(1)));
        assert!(thread.join_until(None));
    }
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use super::*;

    /// What a thread wrote before its exit guard raised the flag is seen by the joiner that
    /// saw the flag (it then joins: nothing may be left to wait for but the thread's end).
    #[test]
    fn what_a_thread_did_before_its_guard_ran_is_seen_with_the_flag() {
        loom::model(|| {
            let exited = Arc::new(Exited::default());
            let written = Arc::new(AtomicBool::new(false));
            let (guard, wrote) = (RaiseOnDrop(Arc::clone(&exited)), Arc::clone(&written));
            let thread = loom::thread::spawn(move || {
                wrote.store(true, Ordering::Relaxed);
                drop(guard);
            });
            while !exited.is_raised() {
                loom::thread::yield_now();
            }
            assert!(written.load(Ordering::Relaxed));
            thread.join().unwrap();
        });
    }
}
