//! A worker thread: asks the pool's core for work, executes it, and polls its own suspended
//! `async` tasks when their wakers fire.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crate::context;
use crate::error::Error;
use crate::function::BoxFuture;
use crate::pool::{Ask, NewWorker, Next, PoolShared, Report, WorkerId};
use crate::run::{Run, Step};
use crate::scheduler::parker::Parker;
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{Arc, Mutex, lock};
use crate::task::TaskRecord;

/// How many times a worker that ran out of work looks again, yielding in between, before it
/// parks.
const SEARCHES_BEFORE_SLEEP: u32 = 32;

/// The keys of a worker's suspended tasks whose wakers fired.
pub(crate) struct Inbox {
    woken: Mutex<VecDeque<usize>>,
    parker: Arc<Parker>,
}

impl Inbox {
    fn push(&self, key: usize) {
        lock(&self.woken).push_back(key);
        self.parker.unpark();
    }

    fn pop(&self) -> Option<usize> {
        lock(&self.woken).pop_front()
    }

    fn is_empty(&self) -> bool {
        lock(&self.woken).is_empty()
    }
}

/// The waker of one suspended task: queues it on its own worker, at most once per wake-up.
struct TaskWaker {
    inbox: Arc<Inbox>,
    key: usize,
    scheduled: AtomicBool,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            self.inbox.push(self.key);
        }
    }
}

/// An `async fn` task suspended on this worker.
struct Suspended {
    run: Arc<Run>,
    future: BoxFuture<()>,
    waker: Arc<TaskWaker>,
}

/// The suspended tasks of one worker, in a slab indexed by waker key.
struct LocalTasks {
    slots: Vec<Option<Suspended>>,
    free: Vec<usize>,
    inbox: Arc<Inbox>,
}

/// The worker thread's main loop.
pub(crate) fn run(pool: Arc<PoolShared>, worker: NewWorker) {
    let inbox = Arc::new(Inbox {
        woken: Mutex::new(VecDeque::new()),
        parker: Arc::clone(&worker.parker),
    });
    let mut local = LocalTasks {
        slots: Vec::new(),
        free: Vec::new(),
        inbox: Arc::clone(&inbox),
    };
    let limit = pool.config.time_limit;
    let mut report = Report::default();
    let mut searches = 0;
    loop {
        if let Some(run) = &report.finished {
            pool.live.remove(run);
        }
        let ask = Ask {
            report: std::mem::take(&mut report),
            local_ready: !inbox.is_empty(),
            was_searching: searches > 0,
            may_sleep: searches >= SEARCHES_BEFORE_SLEEP,
        };
        let next = pool.core().next_for(&pool.intake, worker.id, ask);
        match next {
            Next::Run(run, picked_at) => {
                searches = 0;
                report = local.start(run, picked_at, limit);
            }
            Next::Local => {
                searches = 0;
                if let Some(key) = inbox.pop() {
                    report = local.resume(key, &pool, worker.id, limit);
                }
            }
            Next::Search => {
                // Sleeping and being woken costs two system calls and a context switch; a
                // burst of submissions usually refills the queue within a few yields.
                searches += 1;
                std::thread::yield_now();
            }
            Next::Park { epoch } => {
                searches = 0;
                park(&pool, &worker, &inbox, epoch);
            }
            Next::Exit => break,
        }
    }
    local.abandon_all(&pool);
    if !pool.is_shutting_down() {
        // Whatever this worker would have picked up next is someone else's now.
        pool.sleepers.wake_one();
    }
}

/// Parks the worker unless something arrived since it last looked (`epoch`, checked after
/// registering as a sleeper: see the handshake in `scheduler/README.md`).
fn park(pool: &PoolShared, worker: &NewWorker, inbox: &Inbox, epoch: Option<u64>) {
    pool.sleepers.register(worker.id, &worker.parker);
    let arrived = epoch.is_some_and(|seen| pool.intake.epoch.load(Ordering::SeqCst) != seen);
    if !arrived && inbox.is_empty() && !pool.is_shutting_down() {
        worker.parker.park();
    }
    pool.sleepers.unregister(worker.id);
}

impl LocalTasks {
    /// Starts a run: calls its body, and polls it at once if it is an `async fn`.
    fn start(&mut self, run: Arc<Run>, picked_at: Instant, limit: Duration) -> Report {
        run.begin_slice(picked_at);
        let step = {
            let _entered = context::enter(&run);
            catch_unwind(AssertUnwindSafe(|| Arc::clone(&run).start()))
        };
        match step {
            // The call was already taken: nothing of this run is left to do here.
            Ok(None) => Report::default(),
            Ok(Some(Step::Done)) => finished(run),
            Ok(Some(Step::Suspended(future))) => {
                let key = self.insert(run, future);
                self.poll(key, limit, true)
            }
            Err(payload) => {
                run.fail(panicked(&run.record, payload));
                finished(run)
            }
        }
    }

    /// Polls a woken suspended task, telling the core first so its time budget is watched.
    fn resume(&mut self, key: usize, pool: &PoolShared, me: WorkerId, limit: Duration) -> Report {
        let Some(task) = self.slots.get(key).and_then(Option::as_ref) else {
            return Report::default();
        };
        let now = Instant::now();
        pool.core()
            .begin_poll(me, &task.run, task.run.cpu_used(), now);
        task.run.begin_slice(now);
        self.poll(key, limit, false)
    }

    fn insert(&mut self, run: Arc<Run>, future: BoxFuture<()>) -> usize {
        let key = self.free.pop().unwrap_or(self.slots.len());
        let waker = Arc::new(TaskWaker {
            inbox: Arc::clone(&self.inbox),
            key,
            scheduled: AtomicBool::new(false),
        });
        let task = Suspended { run, future, waker };
        if key == self.slots.len() {
            self.slots.push(Some(task));
        } else {
            self.slots[key] = Some(task);
        }
        key
    }

    /// Polls suspended task `key` inside an execution slice opened by the caller.
    fn poll(&mut self, key: usize, limit: Duration, first_poll: bool) -> Report {
        let task = self.slots[key].as_mut().expect("only live keys are polled");
        task.waker.scheduled.store(false, Ordering::Release);
        let waker = Waker::from(Arc::clone(&task.waker));
        let mut cx = Context::from_waker(&waker);
        let poll = {
            let _entered = context::enter(&task.run);
            catch_unwind(AssertUnwindSafe(|| task.future.as_mut().poll(&mut cx)))
        };
        let cpu = task.run.end_slice();
        let over_budget = !task.run.record.long && cpu >= limit;
        match poll {
            Ok(Poll::Pending) if !over_budget => Report {
                finished: None,
                suspended: first_poll.then_some(task.run.record.id),
            },
            outcome => {
                let task = self.remove(key);
                match outcome {
                    Ok(Poll::Ready(())) => {}
                    Ok(Poll::Pending) => task.run.fail(Error::TimedOut {
                        task: task.run.record.id,
                        limit,
                    }),
                    Err(payload) => task.run.fail(panicked(&task.run.record, payload)),
                }
                finished(task.run)
            }
        }
    }

    fn remove(&mut self, key: usize) -> Suspended {
        let task = self.slots[key].take().expect("only live keys are removed");
        self.free.push(key);
        task
    }

    /// Drops every suspended task (the pool is shutting down); their handles report canceled.
    fn abandon_all(&mut self, pool: &PoolShared) {
        for task in self.slots.drain(..).flatten() {
            pool.live.remove(&task.run);
            task.run.fail(Error::Canceled {
                task: task.run.record.id,
                late: None,
            });
        }
    }
}

fn finished(run: Arc<Run>) -> Report {
    Report {
        finished: Some(run),
        suspended: None,
    }
}

fn panicked(task: &TaskRecord, payload: Box<dyn std::any::Any + Send>) -> Error {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned());
    Error::Panicked {
        task: task.id,
        message,
    }
}
