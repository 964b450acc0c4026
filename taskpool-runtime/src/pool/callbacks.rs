//! The pool's callback thread: where host-side user callbacks run (`on_receive_data`, the
//! lifecycle listeners), never on the pool thread executing the task.
//!
//! One thread per pool, started by the first callback, runs the callbacks one at a time in the
//! order they were posted: so a task's callbacks run in the order its events happened, and never
//! concurrently. A panicking callback is contained (the thread goes on); shutdown lets the thread
//! run what was posted before it (and what is posted to it until it exits), then joins it — within
//! a bound, so a callback that never returns cannot hang the shutdown (its thread is detached
//! instead, and runs what is queued behind that callback if it ever returns: a slow callback loses
//! none of them).
//!
//! The queue's state and its transitions are [`Queue`], a plain struct under the mutex: the
//! code here drives it, and so does the loom model below it. Starting and joining the thread
//! happen outside the lock, around those transitions.

use std::collections::VecDeque;
use std::time::Instant;

use crate::bounded_join::JoinableThread;
use crate::panic::{catch, drop_quietly};
use crate::sync::{Arc, Condvar, Mutex, lock};

/// One callback, bound to its arguments.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

thread_local! {
    /// The `Callbacks` whose thread this is (its address), or 0: for `send_data`'s 10200023,
    /// and so that a shutdown from one of its own callbacks does not wait for itself.
    static ON_CALLBACK_THREAD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Whether the calling thread is a pool's callback thread.
pub(crate) fn on_callback_thread() -> bool {
    ON_CALLBACK_THREAD.with(std::cell::Cell::get) != 0
}

/// The thread that runs the queue, as far as the queue knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Runner {
    /// None yet (or the last start failed): the next post starts one.
    Absent,
    /// A poster is starting it, outside the lock ([`Queue::spawned`] tells how it went).
    Starting,
    /// It runs (or ran: see `exited`).
    Started,
}

/// The callback queue's state: the jobs, the thread's lifecycle and shutdown. `J` is a job, `H`
/// the thread's join handle; both are opaque here, so the loom model drives the same
/// transitions with plain values.
pub(crate) struct Queue<J, H> {
    jobs: VecDeque<J>,
    runner: Runner,
    /// The started thread's handle, once its starter stored it.
    handle: Option<H>,
    /// Shutdown began: the thread drains the queue and exits; later posts are taken while it
    /// is starting or still running (it runs them before it exits), refused once it exited or
    /// when none was started.
    closing: bool,
    /// The thread has left its loop.
    exited: bool,
    /// A shutdown stopped waiting already (settled, or out of time): a later one (a pool's
    /// `Drop` after `shutdown_timeout`) waits no more, or the bound would be paid twice.
    finished: bool,
}

/// What the thread does next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next<J> {
    Run(J),
    /// Nothing to do yet: wait for a post or for shutdown.
    Wait,
    /// Shutdown began and everything posted before it has run: leave the loop.
    Exit,
}

/// What shutdown found once it stopped waiting.
pub(crate) struct Finished<J, H> {
    /// Posted, and no thread will run them (it exited, or never started): to be dropped.
    pub(crate) left_over: VecDeque<J>,
    /// The thread's handle: to join when `exited`, otherwise to detach.
    pub(crate) handle: Option<H>,
    pub(crate) exited: bool,
}

impl<J, H> Default for Queue<J, H> {
    fn default() -> Self {
        Queue {
            jobs: VecDeque::new(),
            runner: Runner::Absent,
            handle: None,
            closing: false,
            exited: false,
            finished: false,
        }
    }
}

impl<J, H> Queue<J, H> {
    /// Posts `job`: `Ok(true)` when the caller must start the thread (and then report with
    /// [`spawned`](Queue::spawned)), `Ok(false)` when it is queued for the running (or
    /// starting) one, `Err(job)` once shutdown began and no thread will run it: none runs or
    /// is starting, or it exited (the caller drops it, or posts it elsewhere). A thread still
    /// running when shutdown began takes posts until it exits, so that a task's callbacks
    /// posted here keep their order behind the ones it is still running.
    pub(crate) fn push(&mut self, job: J) -> Result<bool, J> {
        let thread_takes = match self.runner {
            Runner::Absent => false,
            Runner::Starting => true,
            Runner::Started => !self.exited,
        };
        if self.closing && !thread_takes {
            return Err(job);
        }
        self.jobs.push_back(job);
        if self.runner == Runner::Absent {
            self.runner = Runner::Starting;
            return Ok(true);
        }
        Ok(false)
    }

    /// The starter's report: `Some(handle)` if the thread started, `None` if the system refused
    /// one. Then the queued jobs are returned, to be dropped (nothing would run them), and the
    /// next post tries again.
    pub(crate) fn spawned(&mut self, handle: Option<H>) -> VecDeque<J> {
        debug_assert_eq!(self.runner, Runner::Starting);
        match handle {
            Some(handle) => {
                self.runner = Runner::Started;
                self.handle = Some(handle);
                VecDeque::new()
            }
            None => {
                self.runner = Runner::Absent;
                std::mem::take(&mut self.jobs)
            }
        }
    }

    /// The thread asks for its next job, oldest first.
    pub(crate) fn next(&mut self) -> Next<J> {
        match self.jobs.pop_front() {
            Some(job) => Next::Run(job),
            None if self.closing => {
                // Decided under the lock a post takes: a later post is refused, not stranded.
                self.exited = true;
                Next::Exit
            }
            None => Next::Wait,
        }
    }

    /// The thread left its loop (returned, or a `Drop` unwound it).
    pub(crate) fn exit(&mut self) {
        self.exited = true;
    }

    /// Shutdown begins: later posts are refused, the thread drains the queue and exits.
    pub(crate) fn begin_shutdown(&mut self) {
        self.closing = true;
    }

    /// Whether shutdown may stop waiting: no thread is being started, and none runs — or an
    /// earlier shutdown already stopped waiting.
    pub(crate) fn settled(&self) -> bool {
        if self.finished {
            return true;
        }
        match self.runner {
            Runner::Absent => true,
            Runner::Starting => false,
            Runner::Started => self.exited,
        }
    }

    /// Shutdown stops waiting (settled, or out of time): what is left to drop, join or detach.
    /// Callbacks still queued stay for a thread that is starting or running: it runs them
    /// after the shutdown returned (it is closing, so it exits once its queue is empty) rather
    /// than their being lost because the shutdown ran out of time. Only callbacks no thread
    /// will take (it exited, or none was started) are left over. A later shutdown finds
    /// nothing.
    pub(crate) fn finish(&mut self) -> Finished<J, H> {
        let thread_drains = self.runner != Runner::Absent && !self.exited;
        self.finished = true;
        Finished {
            left_over: if thread_drains {
                VecDeque::new()
            } else {
                std::mem::take(&mut self.jobs)
            },
            handle: self.handle.take(),
            exited: self.exited,
        }
    }
}

/// Drops `jobs` one by one, each panic of a `Drop` contained (dropping them as one collection
/// would abort the process on the second panic, raised while the first unwinds).
fn drop_each<J>(jobs: VecDeque<J>) {
    jobs.into_iter().for_each(drop_quietly);
}

/// The queue of callbacks and the thread that runs them.
#[derive(Default)]
pub(crate) struct Callbacks {
    state: Mutex<Queue<Job, JoinableThread<()>>>,
    /// Signals the thread (a job, or closing) and the shutdown (the thread started or exited).
    changed: Condvar,
}

impl Callbacks {
    /// Posts a callback, starting the thread `thread` configures on first use; handed back if
    /// no thread will run it (see [`Queue::push`]). Dropped (quietly) if the system refuses a
    /// thread.
    pub(crate) fn try_post(
        self: &Arc<Self>,
        thread: impl FnOnce() -> std::thread::Builder,
        job: Job,
    ) -> Result<(), Job> {
        let pushed = lock(&self.state).push(job);
        match pushed {
            Err(job) => return Err(job),
            Ok(false) => self.changed.notify_all(),
            Ok(true) => {
                let me = Arc::clone(self);
                let handle = JoinableThread::spawn(thread(), move || me.main()).ok();
                let refused = lock(&self.state).spawned(handle);
                // The thread, or a shutdown waiting for the outcome of the start.
                self.changed.notify_all();
                drop_each(refused);
            }
        }
        Ok(())
    }

    fn main(&self) {
        ON_CALLBACK_THREAD.with(|on| on.set(std::ptr::from_ref(self) as usize));
        let _exit = Exit(self);
        loop {
            let job = {
                let mut state = lock(&self.state);
                loop {
                    match state.next() {
                        Next::Run(job) => break job,
                        Next::Exit => return,
                        Next::Wait => {
                            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                        }
                    }
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
        let mut state = lock(&self.state);
        state.begin_shutdown();
        self.changed.notify_all();
        if ON_CALLBACK_THREAD.with(std::cell::Cell::get) == std::ptr::from_ref(self) as usize {
            // Shut down from one of its own callbacks: it exits after this one (and after
            // what was posted before); nobody joins it.
            return;
        }
        while !state.settled() {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        let finished = state.finish();
        drop(state);
        drop_each(finished.left_over);
        if let (Some(thread), true) = (finished.handle, finished.exited) {
            // Its loop is over; a callback's thread-local destructors may still run.
            thread.join_until(Some(deadline));
        }
    }
}

/// Marks the thread as gone, whether it returned or a `Drop` unwound it.
struct Exit<'a>(&'a Callbacks);

impl Drop for Exit<'_> {
    fn drop(&mut self) {
        lock(&self.0.state).exit();
        self.0.changed.notify_all();
    }
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use super::*;

    /// Job `task * 10 + n`: the `n`-th callback of task `task`.
    type Queue = super::Queue<u32, loom::thread::JoinHandle<()>>;

    /// What happened to each job.
    #[derive(Default)]
    struct Log {
        ran: Vec<u32>,
        dropped: Vec<u32>,
        /// Refused at post: shutdown had begun.
        refused: Vec<u32>,
    }

    struct Model {
        queue: Mutex<Queue>,
        changed: Condvar,
        /// Bookkeeping of the checks, not of the protocol: std's mutex, so that loom does not
        /// explore its interleavings (loom runs one thread at a time: it never blocks).
        log: std::sync::Mutex<Log>,
    }

    impl Model {
        fn new() -> Arc<Model> {
            Arc::new(Model {
                queue: Mutex::new(Queue::default()),
                changed: Condvar::new(),
                log: std::sync::Mutex::new(Log::default()),
            })
        }

        /// `Callbacks::try_post`; `spawn_fails` plays a system that refuses a thread.
        fn post(self: &Arc<Self>, job: u32, spawn_fails: bool) {
            let pushed = lock(&self.queue).push(job);
            match pushed {
                Err(job) => self.log.lock().unwrap().refused.push(job),
                Ok(false) => self.changed.notify_all(),
                Ok(true) => {
                    let handle = (!spawn_fails).then(|| {
                        let me = Arc::clone(self);
                        loom::thread::spawn(move || me.main())
                    });
                    let refused = lock(&self.queue).spawned(handle);
                    self.changed.notify_all();
                    self.log.lock().unwrap().dropped.extend(refused);
                }
            }
        }

        /// `Callbacks::main`.
        fn main(&self) {
            loop {
                let job = {
                    let mut queue = lock(&self.queue);
                    loop {
                        match queue.next() {
                            Next::Run(job) => break job,
                            Next::Exit => {
                                queue.exit();
                                drop(queue);
                                self.changed.notify_all();
                                return;
                            }
                            Next::Wait => queue = self.changed.wait(queue).unwrap(),
                        }
                    }
                };
                self.log.lock().unwrap().ran.push(job);
            }
        }

        /// `Callbacks::shutdown`; `patient`: the deadline is never reached (otherwise it has
        /// already passed: shutdown gives up at once).
        fn shutdown(&self, patient: bool) {
            let mut queue = lock(&self.queue);
            queue.begin_shutdown();
            self.changed.notify_all();
            while patient && !queue.settled() {
                queue = self.changed.wait(queue).unwrap();
            }
            let finished = queue.finish();
            drop(queue);
            self.log.lock().unwrap().dropped.extend(finished.left_over);
            // Joined when it exited; detached otherwise in the real code, but the model waits
            // for it to end, so that its last jobs are logged before the checks.
            if let Some(thread) = finished.handle {
                thread.join().unwrap();
            }
        }

        /// Every posted job ran once, or was dropped once (refused, or left over), never
        /// both; each task's jobs ran in posting order.
        fn check(&self, posted: &[u32]) -> Log {
            // A thread whose start was still being reported when an impatient shutdown
            // finished: detached in the real code, joined here so that its jobs are logged.
            let late = lock(&self.queue).finish().handle;
            if let Some(thread) = late {
                thread.join().unwrap();
            }
            let log = std::mem::take(&mut *self.log.lock().unwrap());
            let mut all: Vec<u32> = log
                .ran
                .iter()
                .chain(&log.dropped)
                .chain(&log.refused)
                .copied()
                .collect();
            all.sort_unstable();
            let mut expected = posted.to_vec();
            expected.sort_unstable();
            assert_eq!(
                all, expected,
                "ran {:?}, dropped {:?}",
                log.ran, log.dropped
            );
            for task in 1..=2 {
                let of_task: Vec<u32> =
                    log.ran.iter().copied().filter(|j| j / 10 == task).collect();
                assert!(
                    of_task.windows(2).all(|w| w[0] < w[1]),
                    "order {:?}",
                    log.ran
                );
            }
            log
        }
    }

    /// A thread posts callbacks of two tasks (`11, 21, 12`) while the pool shuts down with
    /// time to spare: every callback posted before shutdown began runs exactly once, in its
    /// task's order; later ones run too while the thread still runs, and are refused once it
    /// exited; shutdown waits for a start in progress and joins the thread.
    #[test]
    fn posts_racing_shutdown_run_once_in_order() {
        loom::model(|| {
            let model = Model::new();
            let poster = {
                let model = Arc::clone(&model);
                loom::thread::spawn(move || {
                    for job in [11, 21, 12] {
                        model.post(job, false);
                    }
                })
            };
            model.shutdown(true);
            poster.join().unwrap();
            let log = model.check(&[11, 21, 12]);
            assert!(
                log.dropped.is_empty(),
                "lost while the thread ran: {:?}",
                log.dropped
            );
            let queue = lock(&model.queue);
            assert!(queue.jobs.is_empty() && queue.handle.is_none());
        });
    }

    /// Shutdown out of time at once (a slow callback, in the real code): every callback posted
    /// before the shutdown began runs once, after the shutdown if need be, on the thread that
    /// was starting or running; none is dropped, none runs twice.
    #[test]
    fn an_impatient_shutdown_leaves_the_queue_to_its_thread() {
        loom::model(|| {
            let model = Model::new();
            let a = {
                let model = Arc::clone(&model);
                loom::thread::spawn(move || {
                    model.post(11, false);
                    model.post(12, false);
                })
            };
            model.shutdown(false);
            a.join().unwrap();
            let log = model.check(&[11, 12]);
            assert!(log.dropped.is_empty(), "dropped {:?}", log.dropped);
        });
    }

    /// The system refuses a thread while another task posts: the refused start drops what was
    /// queued behind it (never runs it, never twice), a later post starts a thread again, and
    /// shutdown finds everything settled.
    #[test]
    fn a_refused_start_drops_its_jobs_and_the_next_post_retries() {
        loom::model(|| {
            let model = Model::new();
            let a = {
                let model = Arc::clone(&model);
                loom::thread::spawn(move || model.post(11, true))
            };
            model.post(21, false);
            a.join().unwrap();
            model.shutdown(true);
            model.check(&[11, 21]);
            let queue = lock(&model.queue);
            assert!(queue.jobs.is_empty() && queue.handle.is_none() && queue.settled());
        });
    }
}
