//! A seeded random walk over the TaskPool API driven from two or three threads at once, with the
//! pool shut down (or dropped) at a random point while the other threads go on using their
//! handles, runners, groups and periodic handles. `stress_api` and `stress_mixed` walk from one
//! thread; this one looks for races between API calls and between the calls and the shutdown.
//!
//! Checked per seed: no panic escapes an API call; every handle kept resolves within
//! [`PATIENCE`]; error codes are ones documented for the operation; `info()` never lists a task
//! twice; once the pool is gone, none of its threads is left.
//!
//! `POOL_WALK_SEEDS=<n>` walks seeds `0..n` (default a few dozen, to stay short in debug),
//! `POOL_WALK_FROM=<s>` starts at `s`, `POOL_WALK_SEED=<s>` walks that seed alone.

mod support;

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, RwLock};
use std::time::{Duration, Instant};

use support::walk::{Rng, Watchdog, install_quiet_panics};
use support::{PATIENCE, threads_named, wait_until};
use taskpool::{
    Error, GroupHandle, LongTask, PeriodicHandle, Priority, Task, TaskGroup, TaskHandle, TaskId,
    TaskPool, concurrent,
};

const COMPUTE: u8 = 0;
const PANIC: u8 = 1;
const SLEEP: u8 = 2;
const SEND: u8 = 3;
const WAIT: u8 = 4;

/// Handles tasks of kind `WAIT` take and wait for.
static SLOTS: LazyLock<Mutex<std::collections::HashMap<u64, TaskHandle<u64>>>> =
    LazyLock::new(|| Mutex::new(std::collections::HashMap::new()));
static NEXT_SLOT: AtomicU64 = AtomicU64::new(1);
static NEXT_POOL: AtomicU64 = AtomicU64::new(1);
/// What the tasks and listeners saw go wrong (checked after each walk).
static VIOLATIONS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Waits for the handle in `slot` (if still there), as a task or listener does. It resolves
/// long before [`PATIENCE`]: the pool ends within the walk, and its end resolves every handle.
fn wait_slot(slot: u64, cancel_first: bool, who: &str) {
    let handle = SLOTS.lock().unwrap().remove(&slot);
    if let Some(mut handle) = handle {
        if cancel_first {
            let _ = handle.cancel();
        }
        if handle.wait_timeout(PATIENCE).is_none() {
            VIOLATIONS
                .lock()
                .unwrap()
                .push(format!("{who}: a wait for {:?} did not end", handle.id()));
        }
    }
}

fn result_of(value: u64) -> u64 {
    value.wrapping_mul(3).wrapping_add(1)
}

#[concurrent]
fn job(kind: u8, arg: u64, value: u64) -> u64 {
    match kind {
        PANIC => panic!("stress panic {value}"),
        SLEEP => std::thread::sleep(Duration::from_micros(arg % 2000 * (1 + value % 8))),
        SEND => {
            let _ = taskpool::send_data(value);
        }
        WAIT => wait_slot(arg, value % 3 == 0, "a task"),
        _ => {}
    }
    result_of(value)
}

#[concurrent]
async fn ajob(kind: u8, arg: u64, value: u64) -> u64 {
    taskpool::sleep(Duration::from_micros(value % 700)).await;
    match kind {
        PANIC => panic!("stress panic {value}"),
        SLEEP => taskpool::sleep(Duration::from_micros(arg % 2000 * (1 + value % 8))).await,
        SEND => {
            let _ = taskpool::send_data(value);
        }
        WAIT => {
            let handle = SLOTS.lock().unwrap().remove(&arg);
            if let Some(handle) = handle {
                if value % 3 == 0 {
                    let _ = handle.cancel();
                }
                let _ = handle.await;
            }
        }
        _ => {}
    }
    result_of(value)
}

fn priority(rng: &mut Rng) -> Priority {
    match rng.below(6) {
        0 => Priority::High,
        1 | 2 => Priority::Medium,
        3 => Priority::Low,
        _ => Priority::Idle,
    }
}

/// What every walker thread shares.
#[derive(Default)]
struct Shared {
    handles: Vec<(TaskHandle<u64>, u64, &'static str)>,
    groups: Vec<(GroupHandle<u64>, Vec<u64>)>,
    periodic: Vec<PeriodicHandle>,
    ids: Vec<TaskId>,
    longs: Vec<TaskId>,
    /// Tasks executed by reference: their runs take turns, and each live run is listed.
    multi: HashSet<TaskId>,
    /// Data streams of runs and periodic tasks: each ends once the pool is gone.
    streams: Vec<(taskpool::DataStream<u64>, &'static str)>,
    seq: Vec<taskpool::SequenceRunner>,
    asy: Vec<taskpool::AsyncRunner>,
}

/// The outcome of a handle: its value if it succeeded, else an error a run may end with.
fn check_outcome(seed: u64, what: &str, outcome: taskpool::Result<u64>, expect: u64) {
    match outcome {
        Ok(v) => assert_eq!(v, expect, "seed {seed}: {what} returned a wrong value"),
        Err(
            Error::Canceled { .. }
            | Error::Panicked { .. }
            | Error::TimedOut { .. }
            | Error::PoolShutDown
            | Error::DependencyFailed { .. }
            | Error::AsyncRunnerDiscarded(_)
            | Error::AsyncRunnerCanceled(_),
        ) => {}
        // A kept task (maybe with dependencies, maybe executed before) given to a runner.
        Err(Error::DependentTaskInRunner(_) | Error::AsyncRunnerDependentTask(_))
            if what.starts_with("kept-") => {}
        Err(Error::ExecutedByAnotherApi(_)) if what == "kept-async-runner" => {}
        Err(e) => panic!("seed {seed}: {what} ended with an unexpected error: {e:?}"),
    }
}

fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::TaskNotFound(_))
}

struct Walker<'a> {
    seed: u64,
    rng: Rng,
    slot: &'a RwLock<Option<TaskPool>>,
    shared: &'a Mutex<Shared>,
    /// Tasks kept for runs by reference and dependencies (this thread's own).
    kept: Vec<(Task<u64>, u64)>,
    /// Whether this walker ends the pool, and at which step.
    end_at: Option<usize>,
}

impl Walker<'_> {
    /// Takes a random kept handle, with its expected value and what it ran.
    fn take_handle(&mut self) -> Option<(TaskHandle<u64>, u64, &'static str)> {
        let mut shared = self.shared.lock().unwrap();
        if shared.handles.is_empty() {
            return None;
        }
        let i = self.rng.below(shared.handles.len() as u64) as usize;
        Some(shared.handles.swap_remove(i))
    }

    fn new_task(&mut self) -> (Task<u64>, u64) {
        let kind = match self.rng.below(10) {
            0 => PANIC,
            1 | 2 => SLEEP,
            3 => SEND,
            4 => WAIT,
            _ => COMPUTE,
        };
        let value = self.rng.next() % 1_000_000;
        let mut arg = self.rng.below(2000);
        if kind == WAIT {
            arg = self.take_slot();
        }
        let task = if self.rng.chance(40) {
            Task::new(ajob, (kind, arg, value))
        } else {
            Task::new(job, (kind, arg, value))
        };
        if kind == SEND && self.rng.chance(50) {
            task.on_receive_data(|_: u64| {});
        }
        if self.rng.chance(10) {
            // A listener on the pool's callback thread that waits for another run.
            let slot = self.take_slot();
            let cancel_first = self.rng.chance(30);
            let listener = move || wait_slot(slot, cancel_first, "a listener");
            if self.rng.chance(50) {
                task.on_start_execution(listener).unwrap();
            } else {
                task.on_execution_succeeded(listener).unwrap();
            }
        }
        (task, result_of(value))
    }

    /// Moves a handle into a slot for a task or listener to wait for (0: none to take).
    fn take_slot(&mut self) -> u64 {
        // Not a runner's run: a runner's task waiting for a later one of the same runner waits
        // for ever (strict order: that one runs only after the waiter), and the walk cannot
        // tell them apart.
        let mut shared = self.shared.lock().unwrap();
        let candidates: Vec<usize> = (0..shared.handles.len())
            .filter(|&i| {
                let what = shared.handles[i].2;
                !what.contains("sequence") && !what.contains("async-runner")
            })
            .collect();
        if candidates.is_empty() {
            return 0;
        }
        let i = candidates[self.rng.below(candidates.len() as u64) as usize];
        let (handle, _, _) = shared.handles.swap_remove(i);
        let slot = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
        SLOTS.lock().unwrap().insert(slot, handle);
        slot
    }

    fn keep(&self, handle: TaskHandle<u64>, expect: u64, what: &'static str) {
        let mut shared = self.shared.lock().unwrap();
        shared.ids.push(handle.id());
        shared.handles.push((handle, expect, what));
    }

    fn step(&mut self, step: usize) {
        let seed = self.seed;
        if self.end_at == Some(step) {
            let pool = self.slot.write().unwrap().take();
            if let Some(pool) = pool {
                if self.rng.chance(50) {
                    pool.shutdown_timeout(PATIENCE);
                } else {
                    drop(pool);
                }
            }
            return;
        }
        let guard = self.slot.read().unwrap();
        let pool = guard.as_ref();
        match self.rng.below(27) {
            26 => {
                drop(guard);
                let mut shared = self.shared.lock().unwrap();
                let stream = if self.rng.chance(60) && !shared.handles.is_empty() {
                    let i = self.rng.below(shared.handles.len() as u64) as usize;
                    (shared.handles[i].0.data_stream::<u64>(), "run stream")
                } else if !shared.periodic.is_empty() {
                    let i = self.rng.below(shared.periodic.len() as u64) as usize;
                    (shared.periodic[i].data_stream::<u64>(), "periodic stream")
                } else {
                    return;
                };
                shared.streams.push(stream);
            }
            24 | 25 => {
                // A handle polled as a future: once, with a throwaway waker, while the pool
                // lives (the handle is kept and waited for later); to the end once it is gone.
                let gone = pool.is_none();
                drop(guard);
                let Some((mut handle, expect, what)) = self.take_handle() else {
                    return;
                };
                if gone {
                    check_outcome(seed, what, support::block_on(handle), expect);
                } else {
                    let waker = std::task::Waker::noop();
                    let mut cx = std::task::Context::from_waker(waker);
                    match std::pin::Pin::new(&mut handle).poll(&mut cx) {
                        std::task::Poll::Ready(outcome) => {
                            check_outcome(seed, what, outcome, expect)
                        }
                        std::task::Poll::Pending => self
                            .shared
                            .lock()
                            .unwrap()
                            .handles
                            .push((handle, expect, what)),
                    }
                }
            }
            22 | 23 => {
                // A kept task executed by value (it may have dependencies and earlier runs).
                drop(guard);
                if self.kept.is_empty() {
                    return;
                }
                let i = self.rng.below(self.kept.len() as u64) as usize;
                let (task, expect) = self.kept.swap_remove(i);
                let guard = self.slot.read().unwrap();
                let route = self.rng.below(6);
                let (handle, what) = match (route, guard.as_ref()) {
                    (0, Some(pool)) => (pool.execute(task), "kept-value"),
                    (1, _) => {
                        let shared = self.shared.lock().unwrap();
                        match shared.seq.first() {
                            Some(runner) => (runner.execute(task), "kept-sequence"),
                            None => return,
                        }
                    }
                    (2, _) => {
                        let p = priority(&mut self.rng);
                        let shared = self.shared.lock().unwrap();
                        match shared.asy.first() {
                            Some(runner) => (runner.execute(task, p), "kept-async-runner"),
                            None => return,
                        }
                    }
                    (5, Some(pool)) => {
                        let mut group = TaskGroup::<u64>::new();
                        group.add_task(task).unwrap();
                        let handle = pool.execute_group(&group, priority(&mut self.rng));
                        drop(guard);
                        self.shared
                            .lock()
                            .unwrap()
                            .groups
                            .push((handle, vec![expect]));
                        return;
                    }
                    (4, Some(pool)) => {
                        let period = Duration::from_micros(100 + self.rng.below(2000));
                        let p = priority(&mut self.rng);
                        match pool.execute_periodically(period, task, p) {
                            Ok(periodic) => {
                                drop(guard);
                                let mut shared = self.shared.lock().unwrap();
                                shared.ids.push(periodic.id());
                                shared.periodic.push(periodic);
                            }
                            Err(
                                Error::PeriodicWithDependencies(_)
                                | Error::ExecutedTaskNotPeriodic(_),
                            ) => {}
                            Err(e) => panic!("seed {seed}: kept periodic: {e:?}"),
                        }
                        return;
                    }
                    (_, Some(pool)) => {
                        let delay = Duration::from_micros(self.rng.below(1000));
                        let p = priority(&mut self.rng);
                        (pool.execute_delayed(delay, task, p), "kept-delayed")
                    }
                    _ => return,
                };
                drop(guard);
                self.keep(handle, expect, what);
            }
            0..=3 => {
                if let Some(pool) = pool {
                    let (task, expect) = self.new_task();
                    let p = priority(&mut self.rng);
                    let handle = pool.execute_with_priority(task, p);
                    let what = if p == Priority::Idle { "idle" } else { "plain" };
                    drop(guard);
                    self.keep(handle, expect, what);
                }
            }
            4 | 5 => {
                // By reference: a kept task or a new one kept afterwards.
                if let Some(pool) = pool {
                    if self.kept.is_empty() || self.rng.chance(30) {
                        let kept = self.new_task();
                        self.kept.push(kept);
                    }
                    let i = self.rng.below(self.kept.len() as u64) as usize;
                    let p = priority(&mut self.rng);
                    let handle = pool.execute_with_priority(&self.kept[i].0, p);
                    let expect = self.kept[i].1;
                    drop(guard);
                    self.shared.lock().unwrap().multi.insert(handle.id());
                    self.keep(handle, expect, "by-ref");
                }
            }
            6 => {
                if let Some(pool) = pool {
                    let delay = Duration::from_micros(self.rng.below(3000));
                    let p = priority(&mut self.rng);
                    let handle = if !self.kept.is_empty() && self.rng.chance(50) {
                        let i = self.rng.below(self.kept.len() as u64) as usize;
                        let expect = self.kept[i].1;
                        let id = self.kept[i].0.id();
                        self.shared.lock().unwrap().multi.insert(id);
                        (pool.execute_delayed(delay, &self.kept[i].0, p), expect)
                    } else {
                        let (task, expect) = self.new_task();
                        (pool.execute_delayed(delay, task, p), expect)
                    };
                    drop(guard);
                    self.keep(handle.0, handle.1, "delayed");
                }
            }
            7 => {
                if let Some(pool) = pool {
                    let (task, _) = self.new_task();
                    let period = Duration::from_micros(200 + self.rng.below(3000));
                    let p = priority(&mut self.rng);
                    match pool.execute_periodically(period, task, p) {
                        Ok(periodic) => {
                            drop(guard);
                            let mut shared = self.shared.lock().unwrap();
                            shared.ids.push(periodic.id());
                            shared.periodic.push(periodic);
                        }
                        Err(e) => panic!("seed {seed}: execute_periodically: {e:?}"),
                    }
                }
            }
            8 => {
                // Cancel a periodic execution.
                let periodic = {
                    let mut shared = self.shared.lock().unwrap();
                    if shared.periodic.is_empty() {
                        None
                    } else {
                        let i = self.rng.below(shared.periodic.len() as u64) as usize;
                        Some(shared.periodic.swap_remove(i))
                    }
                };
                drop(guard);
                if let Some(periodic) = periodic {
                    if let Err(e) = periodic.cancel() {
                        assert!(
                            is_not_found(&e) || matches!(e, Error::PoolShutDown),
                            "seed {seed}: periodic cancel: {e:?}"
                        );
                    }
                }
            }
            9 => {
                if let Some(pool) = pool {
                    let mut group = TaskGroup::<u64>::new();
                    let mut expect = Vec::new();
                    for _ in 0..self.rng.below(4) {
                        let (task, e) = self.new_task();
                        group.add_task(task).unwrap();
                        expect.push(e);
                    }
                    let p = priority(&mut self.rng);
                    let handle = pool.execute_group(&group, p);
                    if self.rng.chance(30) {
                        if let Err(e) = handle.cancel() {
                            assert!(
                                matches!(e, Error::GroupNotFound),
                                "seed {seed}: group cancel: {e:?}"
                            );
                        }
                    }
                    drop(guard);
                    self.shared.lock().unwrap().groups.push((handle, expect));
                }
            }
            10 => {
                // A sequence runner: a new one or a shared one (also after the pool is gone).
                let runner = {
                    let mut shared = self.shared.lock().unwrap();
                    match pool {
                        Some(pool) if shared.seq.is_empty() || self.rng.chance(20) => {
                            let runner = pool.sequence_runner(priority(&mut self.rng));
                            shared.seq.push(runner);
                            shared.seq.len() - 1
                        }
                        _ if shared.seq.is_empty() => return,
                        _ => self.rng.below(shared.seq.len() as u64) as usize,
                    }
                };
                drop(guard);
                let (task, expect) = self.new_task();
                let handle = {
                    let shared = self.shared.lock().unwrap();
                    shared.seq[runner].execute(task)
                };
                self.keep(handle, expect, "sequence");
            }
            11 => {
                let runner = {
                    let mut shared = self.shared.lock().unwrap();
                    match pool {
                        Some(pool) if shared.asy.is_empty() || self.rng.chance(20) => {
                            let running = 1 + self.rng.below(2) as usize;
                            let waiting = self.rng.below(3) as usize;
                            let runner = pool.async_runner(running, waiting).unwrap();
                            shared.asy.push(runner);
                            shared.asy.len() - 1
                        }
                        _ if shared.asy.is_empty() => return,
                        _ => self.rng.below(shared.asy.len() as u64) as usize,
                    }
                };
                drop(guard);
                let (task, expect) = self.new_task();
                let p = priority(&mut self.rng);
                let handle = {
                    let shared = self.shared.lock().unwrap();
                    shared.asy[runner].execute(task, p)
                };
                self.keep(handle, expect, "async-runner");
            }
            12 => {
                // Dependencies between this thread's kept tasks.
                if self.kept.len() >= 2 {
                    let a = self.rng.below(self.kept.len() as u64) as usize;
                    let b = self.rng.below(self.kept.len() as u64) as usize;
                    if a != b {
                        let result = if self.rng.chance(60) {
                            self.kept[a].0.add_dependency(&self.kept[b].0)
                        } else {
                            self.kept[a].0.remove_dependency(&self.kept[b].0)
                        };
                        if let Err(e) = result {
                            assert!(
                                matches!(
                                    e,
                                    Error::CircularDependency { .. }
                                        | Error::DependencyNotFound { .. }
                                        | Error::ExecutedTaskDependency(_)
                                ),
                                "seed {seed}: dependency: {e:?}"
                            );
                        }
                    }
                }
            }
            13 | 14 => {
                // Cancel a known id.
                if let Some(pool) = pool {
                    let id = {
                        let shared = self.shared.lock().unwrap();
                        if shared.ids.is_empty() {
                            return;
                        }
                        shared.ids[self.rng.below(shared.ids.len() as u64) as usize]
                    };
                    if let Err(e) = pool.cancel(id) {
                        assert!(
                            is_not_found(&e) || matches!(e, Error::PoolShutDown),
                            "seed {seed}: cancel {id:?}: {e:?}"
                        );
                    }
                }
            }
            15 => {
                if let Some(pool) = pool {
                    let info = pool.info();
                    let multi = self.shared.lock().unwrap().multi.clone();
                    let mut seen = HashSet::new();
                    for task in &info.tasks {
                        if seen.insert(task.task_id) {
                            continue;
                        }
                        // Live runs of a task executed by reference are each listed
                        // (`pool_info.rs`), a running one flagged canceled as `Canceled`.
                        let entries: Vec<_> = info
                            .tasks
                            .iter()
                            .filter(|t| t.task_id == task.task_id)
                            .collect();
                        assert!(
                            multi.contains(&task.task_id),
                            "seed {seed}: info() lists {:?} twice: {entries:?}",
                            task.task_id
                        );
                    }
                }
            }
            16 => {
                if let Some(pool) = pool {
                    let value = self.rng.next() % 1_000_000;
                    let long = if self.rng.chance(50) {
                        LongTask::new(ajob, (SLEEP, self.rng.below(2000), value))
                    } else {
                        LongTask::new(job, (SLEEP, self.rng.below(2000), value))
                    };
                    let handle = pool.execute(long);
                    self.shared.lock().unwrap().longs.push(handle.id());
                    drop(guard);
                    self.keep(handle, result_of(value), "long");
                }
            }
            17 => {
                if let Some(pool) = pool {
                    let id = {
                        let shared = self.shared.lock().unwrap();
                        let pool_of = if self.rng.chance(70) {
                            &shared.longs
                        } else {
                            &shared.ids
                        };
                        if pool_of.is_empty() {
                            return;
                        }
                        pool_of[self.rng.below(pool_of.len() as u64) as usize]
                    };
                    if let Err(e) = pool.terminate_task(id) {
                        assert!(
                            matches!(e, Error::NotALongTask(_) | Error::PoolShutDown),
                            "seed {seed}: terminate_task: {e:?}"
                        );
                    }
                }
            }
            18 => {
                // Drop a handle early.
                drop(guard);
                drop(self.take_handle());
            }
            19 | 20 => {
                // A zero or small wait_timeout on some handle (outside the shared lock).
                drop(guard);
                let Some((mut handle, expect, what)) = self.take_handle() else {
                    return;
                };
                // A finished handle has its outcome at once.
                let timeout = if handle.is_finished() {
                    let id = handle.id();
                    let outcome = handle.wait_timeout(Duration::ZERO);
                    assert!(
                        outcome.is_some(),
                        "seed {seed}: {what} {id:?} is finished but has no outcome"
                    );
                    check_outcome(seed, what, outcome.unwrap(), expect);
                    return;
                } else {
                    Duration::from_micros(self.rng.below(3) * self.rng.below(2000))
                };
                match handle.wait_timeout(timeout) {
                    Some(outcome) => check_outcome(seed, what, outcome, expect),
                    None => self
                        .shared
                        .lock()
                        .unwrap()
                        .handles
                        .push((handle, expect, what)),
                }
            }
            _ => {
                // Cancel through a handle.
                drop(guard);
                let shared = self.shared.lock().unwrap();
                if !shared.handles.is_empty() {
                    let i = self.rng.below(shared.handles.len() as u64) as usize;
                    if let Err(e) = shared.handles[i].0.cancel() {
                        assert!(
                            is_not_found(&e) || matches!(e, Error::PoolShutDown),
                            "seed {seed}: handle cancel: {e:?}"
                        );
                    }
                }
            }
        }
    }
}

/// Aborts the process, naming the seed, if one walk takes far too long (a hang).
static WATCHDOG: Watchdog = Watchdog::new();

fn walk(seed: u64) {
    WATCHDOG.begin(seed);
    let mut rng = Rng::for_seed(seed);
    let prefix = format!("pw{}", NEXT_POOL.fetch_add(1, Ordering::Relaxed));
    let mut builder = TaskPool::builder()
        .max_threads(1 + rng.below(3) as usize)
        .thread_name(prefix.clone());
    if rng.chance(50) {
        // Threads that retire and come back while the walk goes on.
        builder = builder
            .idle_timeout(Duration::from_millis(1 + rng.below(5)))
            .check_interval(Duration::from_millis(1 + rng.below(5)));
    }
    if rng.chance(35) {
        builder = builder.time_limit(Duration::from_millis(1 + rng.below(20)));
    }
    let slot = RwLock::new(Some(builder.build().unwrap()));
    let shared = Mutex::new(Shared::default());
    let walkers = 2 + rng.below(2) as usize;
    // `POOL_WALK_STEPS=<n>` multiplies the steps (for hunting).
    let scale: usize = std::env::var("POOL_WALK_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let steps = (30 + rng.below(31) as usize) * scale;
    let ender = rng.below(walkers as u64) as usize;
    let end_at = rng.below(steps as u64 + 10) as usize;
    std::thread::scope(|scope| {
        for w in 0..walkers {
            let mut walker = Walker {
                seed,
                rng: Rng::for_seed(seed.wrapping_mul(31).wrapping_add(w as u64 + 1)),
                slot: &slot,
                shared: &shared,
                kept: Vec::new(),
                end_at: (w == ender).then_some(end_at),
            };
            scope.spawn(move || {
                for step in 0..steps {
                    walker.step(step);
                }
                walker.kept
            });
        }
    });
    let pool = slot.write().unwrap().take();
    if let Some(pool) = pool {
        if rng.chance(50) {
            pool.shutdown_timeout(PATIENCE);
        } else {
            drop(pool);
        }
    }
    let Shared {
        handles,
        groups,
        periodic,
        seq,
        asy,
        streams,
        ..
    } = shared.into_inner().unwrap();
    for (stream, what) in streams {
        support::bounded(&format!("seed {seed}: {what} ends"), move || {
            let mut stream = stream;
            while stream.next_blocking().is_some() {}
        });
    }
    if std::env::var("POOL_WALK_VERBOSE").is_ok() {
        eprintln!(
            "seed {seed}: {walkers} walkers x {steps} steps, end at {end_at}, {} handles, {} groups",
            handles.len(),
            groups.len()
        );
    }
    for (mut handle, expect, what) in handles {
        let id = handle.id();
        match handle.wait_timeout(PATIENCE) {
            Some(outcome) => check_outcome(seed, what, outcome, expect),
            None => panic!("seed {seed}: {what} handle {id:?} did not resolve"),
        }
    }
    for (handle, expect) in groups {
        let outcome = support::bounded("group wait", move || handle.wait());
        match outcome {
            Ok(values) => assert_eq!(values, expect, "seed {seed}: group values"),
            Err(
                Error::Canceled { .. }
                | Error::Panicked { .. }
                | Error::TimedOut { .. }
                | Error::PoolShutDown
                | Error::DependencyFailed { .. },
            ) => {}
            Err(e) => panic!("seed {seed}: group ended with {e:?}"),
        }
    }
    drop(periodic);
    drop(seq);
    drop(asy);
    SLOTS.lock().unwrap().clear();
    let violations = std::mem::take(&mut *VIOLATIONS.lock().unwrap());
    assert!(violations.is_empty(), "seed {seed}: {violations:?}");
    let prefix_dash = format!("{prefix}-");
    wait_until(&format!("seed {seed}: threads of {prefix} end"), || {
        threads_named(&prefix_dash) == 0
    });
    WATCHDOG.end();
}

fn seeds() -> Vec<u64> {
    if let Ok(seed) = std::env::var("POOL_WALK_SEED") {
        return seed.split(',').map(|s| s.trim().parse().unwrap()).collect();
    }
    let from: u64 = std::env::var("POOL_WALK_FROM")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let count: u64 = std::env::var("POOL_WALK_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    (from..from + count).collect()
}

#[test]
fn pool_walk() {
    install_quiet_panics();
    WATCHDOG.arm("pool_walk", PATIENCE * 3, String::new);
    let started = Instant::now();
    for seed in seeds() {
        walk(seed);
    }
    eprintln!("pool_walk: {:?}", started.elapsed());
}
