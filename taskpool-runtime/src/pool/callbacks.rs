//! The pool's callback thread: where host-side user callbacks run (`on_receive_data`, the
//! lifecycle listeners), never on the pool thread executing the task.
//!
//! One thread per pool, started by the first callback, runs the callbacks one at a time in the
//! order they were posted: so a task's callbacks run in the order its events happened, and
//! never concurrently. A panicking callback is contained (the thread goes on); shutdown lets the
//! thread run what was posted before it, then joins it — within a bound, so a callback that
//! never returns cannot hang the shutdown (its thread is detached instead).

use std::collections::VecDeque;
use std::thread::{JoinHandle, ThreadId};
use std::time::Instant;

use crate::panic::{catch, drop_quietly};
use crate::sync::{Arc, Condvar, Mutex, lock};

/// One callback, bound to its arguments.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

thread_local! {
    /// Whether this thread is a pool's callback thread (for `send_data`'s 10200023).
    static ON_CALLBACK_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the calling thread is a pool's callback thread.
pub(crate) fn on_callback_thread() -> bool {
    ON_CALLBACK_THREAD.with(std::cell::Cell::get)
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    thread: Option<JoinHandle<()>>,
    /// Shutdown began: the thread drains the queue and exits; later posts are dropped.
    closing: bool,
    /// The thread has left its loop.
    exited: bool,
}

/// The queue of callbacks and the thread that runs them.
#[derive(Default)]
pub(crate) struct Callbacks {
    state: Mutex<State>,
    /// Signals the thread (a job, or closing) and the shutdown (the thread exited).
    changed: Condvar,
}

impl Callbacks {
    /// Posts a callback, starting the thread on first use. Dropped (quietly) once the pool
    /// shut down, or if the system refuses a thread.
    pub(crate) fn post(self: &Arc<Self>, name: impl FnOnce() -> String, job: Job) {
        let mut state = lock(&self.state);
        if state.closing {
            drop(state);
            drop_quietly(job);
            return;
        }
        if state.thread.is_none() {
            let me = Arc::clone(self);
            match std::thread::Builder::new()
                .name(name())
                .spawn(move || me.main())
            {
                Ok(handle) => state.thread = Some(handle),
                Err(_) => {
                    drop(state);
                    drop_quietly(job);
                    return;
                }
            }
        }
        state.queue.push_back(job);
        drop(state);
        self.changed.notify_all();
    }

    fn main(&self) {
        ON_CALLBACK_THREAD.with(|on| on.set(true));
        let _exit = Exit(self);
        loop {
            let job = {
                let mut state = lock(&self.state);
                loop {
                    if let Some(job) = state.queue.pop_front() {
                        break job;
                    }
                    if state.closing {
                        return;
                    }
                    state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                }
            };
            if let Err(payload) = catch(job) {
                drop_quietly(payload);
            }
        }
    }

    /// Lets the thread run what was posted, then joins it; waits at most until `deadline`,
    /// then detaches it (a callback that never returns) and drops what it did not run.
    pub(crate) fn shutdown(&self, deadline: Instant) {
        let me: ThreadId = std::thread::current().id();
        let mut state = lock(&self.state);
        state.closing = true;
        self.changed.notify_all();
        let Some(thread) = state.thread.take() else {
            return;
        };
        if thread.thread().id() == me {
            // Shut down from one of its own callbacks: it exits after this one.
            return;
        }
        while !state.exited {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        let exited = state.exited;
        let left_over = std::mem::take(&mut state.queue);
        drop(state);
        drop_quietly(left_over);
        if exited {
            let _ = thread.join();
        }
    }
}

/// Marks the thread as gone, whether it returned or a `Drop` unwound it.
struct Exit<'a>(&'a Callbacks);

impl Drop for Exit<'_> {
    fn drop(&mut self) {
        lock(&self.0.state).exited = true;
        self.0.changed.notify_all();
    }
}
