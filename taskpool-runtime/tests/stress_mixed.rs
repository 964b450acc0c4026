//! A seeded random walk over the parts of the public API that `stress_api` leaves out, mixed
//! together: sequence and async runners, groups executed by reference, dependencies (removed,
//! failing, canceled, dropped), delayed and periodic tasks, listeners and data streams,
//! `AsyncLock` and `ConditionVariable` inside tasks, workers whose handler uses its own pool,
//! time-limited pools, long tasks, pools dropped or shut down mid-walk and `async` tasks awaiting
//! handles.
//!
//! At the end of each walk: every handle, stream and worker receiver resolves within
//! [`PATIENCE`], each outcome is plausible for what was done to its task, `info()` is
//! consistent, and no pool or worker thread is left behind.
//!
//! `STRESS_SEED=<n>[,<n>…]` runs those seeds (default 1..=12), `STRESS_STEPS=<n>` sets the steps
//! per walk (default 400). A failing walk prints its last steps.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use support::walk::{self, Rng};
use support::{PATIENCE, open_gate, pass_gate, threads_named, wait_until};
use taskpool::{
    AbortSignal, AsyncLock, AsyncLockOptions, AsyncRunner, ConditionVariable, DataStream, Error,
    GroupHandle, HandlerResult, LongTask, PeriodicHandle, Priority, RecvTimeoutError,
    SequenceRunner, Task, TaskGroup, TaskHandle, TaskId, TaskPool, TaskState, Worker,
    WorkerHandler, WorkerPort, concurrent,
};

// ---------------------------------------------------------------------------------------------
// What the task functions share with the walk.

static NEXT: AtomicU64 = AtomicU64::new(1);
static VIOLATIONS: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Keys whose function body was entered: a run that resolved "never ran" must not be here.
static ENTERED: LazyLock<Mutex<HashSet<u64>>> = LazyLock::new(|| Mutex::new(HashSet::new()));
/// Handles that tasks take and wait for (action `AWAIT`).
static SLOTS: LazyLock<Mutex<HashMap<u64, TaskHandle<u64>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
/// Group handles that tasks take and wait for (action `AWAIT` too).
static GROUP_SLOTS: LazyLock<Mutex<HashMap<u64, GroupHandle<u64>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
/// Open gates, for the tasks that poll them (`async` gates and spinning tasks).
static OPEN: LazyLock<Mutex<HashSet<u64>>> = LazyLock::new(|| Mutex::new(HashSet::new()));
/// The lock every `LOCK` and `async` `CONDVAR` task takes; its value is the ticket.
static LOCK: LazyLock<AsyncLock<u64>> = LazyLock::new(|| AsyncLock::new(0));
/// Notified whenever the walk raises the ticket.
static CHANGED: LazyLock<ConditionVariable> = LazyLock::new(ConditionVariable::new);
/// The ticket, readable without the lock (for the blocking condition waits).
static TICKET: AtomicU64 = AtomicU64::new(0);
/// Holders of `LOCK` right now, by mode: checked against each other inside the lock.
static EXCLUSIVE: AtomicUsize = AtomicUsize::new(0);
static SHARED: AtomicUsize = AtomicUsize::new(0);
/// Per key: listener calls `[started, succeeded, failed, data]`.
static HEARD: LazyLock<Mutex<HashMap<u64, [u32; 4]>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The abort signals of the lock requests waiting now, by key: the walk aborts some.
static SIGNALS: LazyLock<Mutex<HashMap<u64, AbortSignal>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The options of a timed `LOCKED` request by `key`, with an abort signal the walk may pull.
fn lock_options(key: u64, arg: u64) -> AsyncLockOptions {
    let options = AsyncLockOptions::new().timeout(lock_timeout(arg));
    if arg & 4 == 0 {
        return options;
    }
    let signal = AbortSignal::new();
    SIGNALS.lock().unwrap().insert(key, signal.clone());
    options.signal(signal)
}

/// How often each kind of outcome came, by what was run (printed with `STRESS_STATS`).
static SEEN: LazyLock<Mutex<HashMap<String, usize>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

fn seen(what: &str, outcome: &str) {
    *SEEN
        .lock()
        .unwrap()
        .entry(format!("{what}: {outcome}"))
        .or_default() += 1;
}

fn next_id() -> u64 {
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn violation(what: String) {
    VIOLATIONS.lock().unwrap().push(what);
}

fn entered(key: u64) -> bool {
    ENTERED.lock().unwrap().contains(&key)
}

fn is_open(gate: u64) -> bool {
    OPEN.lock().unwrap().contains(&gate)
}

fn open(gate: u64) {
    OPEN.lock().unwrap().insert(gate);
    open_gate(gate);
}

fn hear(key: u64, which: usize) {
    HEARD.lock().unwrap().entry(key).or_default()[which] += 1;
}

fn heard(key: u64) -> [u32; 4] {
    HEARD.lock().unwrap().get(&key).copied().unwrap_or_default()
}

const COMPUTE: u8 = 0;
const PANIC: u8 = 1;
const FAIL: u8 = 2;
const GATE: u8 = 3;
const SLEEP: u8 = 4;
const SEND: u8 = 5;
const LOCKED: u8 = 6;
const CONDVAR: u8 = 7;
const SPIN: u8 = 8;
const AWAIT: u8 = 9;
const ACTIONS: u64 = 10;

/// How many values a `SEND` task sends.
const SENDS: u64 = 3;

fn result_of(value: u64) -> u64 {
    value.wrapping_mul(7).wrapping_add(3)
}

/// Marks `LOCK` held in a mode until dropped, recording a holder that conflicts.
struct Holding(bool);

impl Holding {
    fn enter(shared: bool) -> Holding {
        if shared {
            SHARED.fetch_add(1, Ordering::SeqCst);
            if EXCLUSIVE.load(Ordering::SeqCst) != 0 {
                violation("a shared holder met an exclusive one".into());
            }
        } else {
            if EXCLUSIVE.fetch_add(1, Ordering::SeqCst) != 0 {
                violation("two exclusive holders".into());
            }
            if SHARED.load(Ordering::SeqCst) != 0 {
                violation("an exclusive holder met a shared one".into());
            }
        }
        Holding(shared)
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        if self.0 {
            SHARED.fetch_sub(1, Ordering::SeqCst);
        } else {
            EXCLUSIVE.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The lock options of a `LOCKED` argument: bit 0 shared, bit 1 try, bits 8.. a timeout in ms.
fn lock_timeout(arg: u64) -> Duration {
    Duration::from_millis(1 + (arg >> 8) % 400)
}

fn check_lock_error(e: &Error) {
    seen("lock request", &format!("{e:?}")[..12]);
    if !matches!(
        e,
        Error::LockTimedOut { .. } | Error::LockUnavailable { .. } | Error::LockAborted { .. }
    ) {
        violation(format!("lock request failed with {e:?}"));
    }
}

#[concurrent]
fn job(key: u64, action: u8, arg: u64, value: u64) -> Result<u64, String> {
    ENTERED.lock().unwrap().insert(key);
    match action {
        PANIC => panic!("stress panic {value}"),
        FAIL => return Err(format!("stress error {value}")),
        GATE => pass_gate(arg),
        SLEEP => std::thread::sleep(Duration::from_micros(arg % 2000)),
        SEND => {
            for _ in 0..SENDS {
                let _ = taskpool::send_data(value);
            }
        }
        LOCKED => {
            let shared = arg & 1 == 1;
            let pause = Duration::from_micros(arg % 3000);
            if arg & 2 != 0 {
                if shared {
                    if let Some(_guard) = LOCK.try_lock_shared() {
                        let _h = Holding::enter(true);
                        std::thread::sleep(pause);
                    }
                } else if let Some(mut guard) = LOCK.try_lock() {
                    let _h = Holding::enter(false);
                    *guard += 0;
                    std::thread::sleep(pause);
                }
            } else {
                // Always with a timeout: a blocking lock in a pool thread may wait for an `async`
                // holder that needs a thread (README, known limitations).
                let options = lock_options(key, arg);
                if shared {
                    match LOCK.lock_shared_with(&options) {
                        Ok(_guard) => {
                            let _h = Holding::enter(true);
                            std::thread::sleep(pause);
                        }
                        Err(e) => check_lock_error(&e),
                    }
                } else {
                    match LOCK.lock_with(&options) {
                        Ok(_guard) => {
                            let _h = Holding::enter(false);
                            std::thread::sleep(pause);
                        }
                        Err(e) => check_lock_error(&e),
                    }
                }
            }
            SIGNALS.lock().unwrap().remove(&key);
        }
        CONDVAR => {
            let deadline = Instant::now() + PATIENCE;
            while TICKET.load(Ordering::SeqCst) < arg && !taskpool::is_canceled() {
                if Instant::now() > deadline {
                    violation(format!("condition wait for ticket {arg} never ended"));
                    break;
                }
                CHANGED.wait_for(Duration::from_millis(20));
            }
        }
        SPIN => {
            let deadline = Instant::now() + PATIENCE;
            while !taskpool::is_canceled() && !is_open(arg) {
                if Instant::now() > deadline {
                    violation(format!("spin on gate {arg} never ended"));
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        AWAIT => {
            let handle = SLOTS.lock().unwrap().remove(&arg);
            if let Some(handle) = handle {
                let _ = handle.wait();
            }
            let group = GROUP_SLOTS.lock().unwrap().remove(&arg);
            if let Some(group) = group {
                let _ = group.wait();
            }
        }
        _ => {}
    }
    Ok(result_of(value))
}

#[concurrent]
async fn ajob(key: u64, action: u8, arg: u64, value: u64) -> Result<u64, String> {
    ENTERED.lock().unwrap().insert(key);
    taskpool::sleep(Duration::from_micros(value % 300)).await;
    match action {
        PANIC => panic!("stress panic {value}"),
        FAIL => return Err(format!("stress error {value}")),
        GATE | SPIN => {
            let deadline = Instant::now() + PATIENCE;
            while !is_open(arg) {
                if Instant::now() > deadline {
                    violation(format!("async gate {arg} stayed closed"));
                    break;
                }
                taskpool::sleep(Duration::from_millis(1)).await;
            }
        }
        SLEEP => taskpool::sleep(Duration::from_micros(arg % 2000)).await,
        SEND => {
            for _ in 0..SENDS {
                let _ = taskpool::send_data(value);
            }
        }
        LOCKED => {
            let shared = arg & 1 == 1;
            let pause = Duration::from_micros(arg % 3000);
            let options = lock_options(key, arg);
            if shared {
                let guard = if arg & 2 != 0 {
                    LOCK.lock_shared_async_with(options).await
                } else {
                    Ok(LOCK.lock_shared_async().await)
                };
                match guard {
                    Ok(_guard) => {
                        let _h = Holding::enter(true);
                        taskpool::sleep(pause).await;
                    }
                    Err(e) => check_lock_error(&e),
                }
            } else {
                let guard = if arg & 2 != 0 {
                    LOCK.lock_async_with(options).await
                } else {
                    Ok(LOCK.lock_async().await)
                };
                match guard {
                    Ok(_guard) => {
                        let _h = Holding::enter(false);
                        taskpool::sleep(pause).await;
                    }
                    Err(e) => check_lock_error(&e),
                }
            }
            SIGNALS.lock().unwrap().remove(&key);
        }
        CONDVAR => {
            let mut guard = LOCK.lock_async().await;
            while *guard < arg {
                guard = CHANGED.wait_with_async(guard).await;
            }
        }
        AWAIT => {
            let handle = SLOTS.lock().unwrap().remove(&arg);
            if let Some(handle) = handle {
                let _ = handle.await;
            }
            let group = GROUP_SLOTS.lock().unwrap().remove(&arg);
            if let Some(group) = group {
                let _ = group.await;
            }
        }
        _ => {}
    }
    Ok(result_of(value))
}

/// The message that makes a worker's handler fail, which destroys the worker.
const FATAL: u64 = u64::MAX;

/// A worker handler that runs each message as a task on a pool of its own and replies with the
/// result.
struct PoolUser {
    pool: TaskPool,
}

impl WorkerHandler for PoolUser {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        if n == FATAL {
            return Err("a fatal message".into());
        }
        let action = if n % 3 == 0 { SLEEP } else { COMPUTE };
        let handle = if n % 2 == 0 {
            self.pool
                .execute(Task::new(ajob, (next_id(), action, n, n)))
        } else {
            self.pool.execute(Task::new(job, (next_id(), action, n, n)))
        };
        let value = handle.await?;
        port.post_message(value)?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The model.

fn lane(rng: &mut Rng, idle_ok: bool) -> Priority {
    match rng.below(8) {
        0 => Priority::High,
        1..=3 => Priority::Medium,
        4 | 5 => Priority::Low,
        _ if idle_ok => Priority::Idle,
        _ => Priority::Low,
    }
}

struct PoolModel {
    pool: Option<TaskPool>,
    prefix: String,
    limited: bool,
    /// Dropped or shut down mid-walk (its pool is gone).
    shut: bool,
    /// Made to be dropped or shut down mid-walk: no condition waits there.
    ephemeral: bool,
    gates: Vec<u64>,
    longs: Vec<TaskId>,
    sequence: Vec<SequenceRunner>,
    async_runners: Vec<AsyncRunner>,
}

struct Pending {
    handle: TaskHandle<u64>,
    id: TaskId,
    /// The run's own key (each pending run is its task's only run).
    key: u64,
    action: u8,
    /// What a `SEND` run sends.
    value: u64,
    expect: u64,
    pool: usize,
    via_async_runner: bool,
    /// Waits for a dependency: it may fail with `DependencyFailed`.
    dependent: bool,
    /// Never resolves by itself (a delay of `Duration::MAX`): canceled at the end.
    endless: bool,
    /// Executed plainly in a lane other than IDLE: an `AWAIT` task may take it.
    awaitable: bool,
    cancel_asked: bool,
    /// A cancel returned `Ok`: the handle must not succeed.
    cancel_ok: bool,
    /// A stream registered on the task before it was executed (`true`), or on the handle.
    stream: Option<(DataStream<u64>, bool)>,
    listened: bool,
    what: &'static str,
}

/// What `decorate` did to a task.
enum Decoration {
    Stream(DataStream<u64>),
    Listened,
    Late,
    None,
}

struct GroupPending {
    handle: GroupHandle<u64>,
    facts: GroupFacts,
}

/// What a group execution should give.
struct GroupFacts {
    expect: Vec<u64>,
    actions: Vec<u8>,
    pool: usize,
    canceled: bool,
    /// A cancel returned `Ok`: the group must not succeed.
    cancel_ok: bool,
}

/// Dependent tasks executed by reference, and their dependency not yet executed.
struct DepCase {
    dependents: Vec<Task<u64>>,
    dependency: Option<Task<u64>>,
    dependency_key: u64,
    dependency_action: u8,
    dependency_value: u64,
    pool: usize,
}

struct PeriodicCase {
    handle: PeriodicHandle,
    stream: Option<DataStream<u64>>,
    value: u64,
    pool: usize,
}

struct WorkerCase {
    worker: Option<Worker<u64, u64>>,
    name: String,
    pool_prefix: String,
    expect: Vec<u64>,
    received: Vec<u64>,
    /// Terminated, or sent `FATAL`: it may refuse messages, and replies to no more.
    terminated: bool,
    /// Sent `FATAL`: it ends by itself (exit code 1).
    fatal: bool,
    /// A `terminate()` returned `Ok`.
    terminate_ok: bool,
}

struct Model {
    rng: Rng,
    pools: Vec<PoolModel>,
    pending: Vec<Pending>,
    groups: Vec<GroupPending>,
    deps: Vec<DepCase>,
    periodic: Vec<PeriodicCase>,
    workers: Vec<WorkerCase>,
    /// Whether each dependency's run succeeded, by the dependency's id.
    dependency_ok: HashMap<TaskId, bool>,
    /// Dependents whose dependency was removed (they may run regardless).
    removed: HashSet<TaskId>,
    /// Dependent id → its dependency's id.
    depends_on: HashMap<TaskId, TaskId>,
    /// Highest ticket a condition wait asked for.
    max_ticket: u64,
    log: Vec<String>,
}

impl Model {
    fn new(seed: u64) -> Model {
        let mut rng = Rng::for_seed(seed);
        for _ in 0..4 {
            rng.next();
        }
        let mut model = Model {
            rng,
            pools: Vec::new(),
            pending: Vec::new(),
            groups: Vec::new(),
            deps: Vec::new(),
            periodic: Vec::new(),
            workers: Vec::new(),
            dependency_ok: HashMap::new(),
            removed: HashSet::new(),
            depends_on: HashMap::new(),
            max_ticket: 0,
            log: Vec::new(),
        };
        let limited = model.rng.chance(50);
        model.add_pool(false, false);
        model.add_pool(limited, false);
        model
    }

    fn note(&mut self, line: String) {
        self.log.push(line);
    }

    fn add_pool(&mut self, limited: bool, ephemeral: bool) -> usize {
        let prefix = format!("{}{}x", if ephemeral { "se" } else { "sm" }, next_id());
        let mut builder = TaskPool::builder()
            .max_threads(1 + self.rng.below(3) as usize)
            .extra_threads(self.rng.below(3) as usize)
            .idle_timeout(Duration::from_millis(1 + self.rng.below(20)))
            .check_interval(Duration::from_millis(1 + self.rng.below(10)))
            .thread_name(prefix.clone());
        if limited {
            builder = builder.time_limit(Duration::from_millis(10 + self.rng.below(60)));
        }
        self.note(format!(
            "pool {} {prefix} limited {limited} ephemeral {ephemeral}",
            self.pools.len()
        ));
        self.pools.push(PoolModel {
            pool: Some(builder.build().unwrap()),
            prefix,
            limited,
            shut: false,
            ephemeral,
            gates: Vec::new(),
            longs: Vec::new(),
            sequence: Vec::new(),
            async_runners: Vec::new(),
        });
        self.pools.len() - 1
    }

    fn live_pools(&self) -> Vec<usize> {
        (0..self.pools.len())
            .filter(|&p| !self.pools[p].shut)
            .collect()
    }

    fn pick_pool(&mut self) -> usize {
        let live = self.live_pools();
        live[self.rng.below(live.len() as u64) as usize]
    }

    fn pool(&self, p: usize) -> &TaskPool {
        self.pools[p].pool.as_ref().unwrap()
    }

    /// A random action for a task on pool `p`, and its argument.
    fn action(&mut self, p: usize, allow_await: bool) -> (u8, u64) {
        let mut action = self.rng.below(ACTIONS) as u8;
        if self.pools[p].ephemeral && action == CONDVAR {
            action = SLEEP;
        }
        match action {
            GATE | SPIN => {
                let gate = next_id();
                self.pools[p].gates.push(gate);
                (action, gate)
            }
            SLEEP => (SLEEP, self.rng.below(2000)),
            LOCKED => (LOCKED, self.rng.next() & 0xFFFF_FFFF),
            CONDVAR => {
                let ticket = TICKET.load(Ordering::SeqCst) + 1 + self.rng.below(3);
                self.max_ticket = self.max_ticket.max(ticket);
                (CONDVAR, ticket)
            }
            AWAIT if allow_await && !self.groups.is_empty() && self.rng.chance(25) => {
                // Groups run in lanes other than IDLE: one may be awaited.
                let i = self.rng.below(self.groups.len() as u64) as usize;
                let group = self.groups.swap_remove(i);
                let slot = next_id();
                self.note(format!("  slot {slot} takes group {i}"));
                GROUP_SLOTS.lock().unwrap().insert(slot, group.handle);
                (AWAIT, slot)
            }
            AWAIT if allow_await => {
                let candidates: Vec<usize> = (0..self.pending.len())
                    .filter(|&i| self.pending[i].awaitable)
                    .collect();
                if candidates.is_empty() {
                    return (COMPUTE, 0);
                }
                let i = candidates[self.rng.below(candidates.len() as u64) as usize];
                let pending = self.pending.swap_remove(i);
                let slot = next_id();
                self.note(format!("  slot {slot} takes {:?}", pending.id));
                SLOTS.lock().unwrap().insert(slot, pending.handle);
                (AWAIT, slot)
            }
            AWAIT => (COMPUTE, 0),
            other => (other, 0),
        }
    }

    /// A fresh task: `(task, key, action, value)`.
    fn fresh(&mut self, p: usize, allow_await: bool) -> (Task<u64>, u64, u8, u64) {
        let (action, arg) = self.action(p, allow_await);
        let key = next_id();
        let value = self.rng.below(1 << 20);
        let task = if self.rng.chance(40) {
            Task::new(ajob, (key, action, arg, value))
        } else {
            Task::new(job, (key, action, arg, value))
        };
        (task, key, action, value)
    }

    fn pending(
        &self,
        handle: TaskHandle<u64>,
        key: u64,
        action: u8,
        value: u64,
        pool: usize,
        what: &'static str,
    ) -> Pending {
        Pending {
            id: handle.id(),
            handle,
            key,
            action,
            value,
            expect: result_of(value),
            pool,
            via_async_runner: false,
            dependent: false,
            endless: false,
            awaitable: false,
            cancel_asked: false,
            cancel_ok: false,
            stream: None,
            listened: false,
            what,
        }
    }

    /// Maybe listens to `task` or streams its data: before it is executed, or (`Late`) on
    /// its handle, which `attach` then sets up.
    fn decorate(&mut self, task: &Task<u64>, key: u64) -> Decoration {
        match self.rng.below(5) {
            0 => Decoration::Stream(task.data_stream::<u64>()),
            1 => {
                Model::listen(task, key);
                Decoration::Listened
            }
            2 => Decoration::Late,
            _ => Decoration::None,
        }
    }

    fn attach(pending: &mut Pending, decoration: Decoration) {
        match decoration {
            Decoration::Stream(stream) => pending.stream = Some((stream, true)),
            Decoration::Listened => pending.listened = true,
            Decoration::Late => pending.stream = Some((pending.handle.data_stream::<u64>(), false)),
            Decoration::None => {}
        }
    }

    fn listen(task: &Task<u64>, key: u64) {
        task.on_start_execution(move || hear(key, 0)).unwrap();
        task.on_execution_succeeded(move || hear(key, 1)).unwrap();
        task.on_execution_failed(move |_| hear(key, 2)).unwrap();
        task.on_receive_data(move |_: u64| hear(key, 3));
    }

    fn step(&mut self) {
        let p = self.pick_pool();
        let choice = self.rng.below(33);
        self.note(format!("step {choice} pool {p}"));
        match choice {
            // A plain task, with listeners or a data stream.
            0..=2 => {
                let allow_await = !self.pools[p].ephemeral;
                let (task, key, action, value) = self.fresh(p, allow_await);
                let waits = matches!(action, AWAIT | CONDVAR);
                let priority = lane(&mut self.rng, !waits);
                let how = self.rng.below(4);
                let early = if how == 0 {
                    Some(task.data_stream::<u64>())
                } else {
                    None
                };
                if how == 1 {
                    Model::listen(&task, key);
                }
                let handle = self.pool(p).execute_with_priority(task, priority);
                let mut pending = self.pending(handle, key, action, value, p, "execute");
                pending.awaitable = priority != Priority::Idle && action != AWAIT;
                pending.listened = how == 1;
                pending.stream = match (early, how) {
                    (Some(stream), _) => Some((stream, true)),
                    (None, 2) => Some((pending.handle.data_stream::<u64>(), false)),
                    _ => None,
                };
                self.note(format!("  {:?} action {action} {priority:?}", pending.id));
                self.pending.push(pending);
            }
            // A sequence runner (maybe a new one).
            3 | 4 => {
                if self.pools[p].sequence.is_empty() || self.rng.chance(20) {
                    let priority = lane(&mut self.rng, false);
                    let runner = self.pool(p).sequence_runner(priority);
                    self.pools[p].sequence.push(runner);
                }
                let r = self.rng.below(self.pools[p].sequence.len() as u64) as usize;
                let allow_await = !self.pools[p].ephemeral;
                let (task, key, action, value) = self.fresh(p, allow_await);
                let decoration = self.decorate(&task, key);
                let handle = self.pools[p].sequence[r].execute(task);
                let mut pending = self.pending(handle, key, action, value, p, "sequence");
                Model::attach(&mut pending, decoration);
                self.note(format!("  {:?} action {action} runner {r}", pending.id));
                self.pending.push(pending);
            }
            // An async runner with small capacities.
            5 | 6 => {
                if self.pools[p].async_runners.is_empty() || self.rng.chance(20) {
                    let running = 1 + self.rng.below(2) as usize;
                    let waiting = self.rng.below(3) as usize;
                    let runner = self.pool(p).async_runner(running, waiting).unwrap();
                    self.pools[p].async_runners.push(runner);
                }
                let r = self.rng.below(self.pools[p].async_runners.len() as u64) as usize;
                let allow_await = !self.pools[p].ephemeral;
                let (task, key, action, value) = self.fresh(p, allow_await);
                let priority = lane(&mut self.rng, false);
                let decoration = self.decorate(&task, key);
                let handle = self.pools[p].async_runners[r].execute(task, priority);
                let mut pending = self.pending(handle, key, action, value, p, "async runner");
                Model::attach(&mut pending, decoration);
                pending.via_async_runner = true;
                self.note(format!("  {:?} action {action} runner {r}", pending.id));
                self.pending.push(pending);
            }
            // A group executed by reference, once or twice, maybe canceled.
            7 => {
                let mut group = TaskGroup::<u64>::new();
                let mut expect = Vec::new();
                let mut actions = Vec::new();
                for _ in 0..self.rng.below(4) {
                    let (action, arg) = match self.action(p, false) {
                        (CONDVAR | AWAIT, _) => (COMPUTE, 0),
                        other => other,
                    };
                    let value = self.rng.below(1 << 20);
                    group
                        .add_task(Task::new(job, (next_id(), action, arg, value)))
                        .unwrap();
                    expect.push(result_of(value));
                    actions.push(action);
                }
                for _ in 0..1 + self.rng.below(2) {
                    let priority = lane(&mut self.rng, false);
                    let handle = self.pool(p).execute_group(&group, priority);
                    let canceled = self.rng.chance(30);
                    let mut cancel_ok = false;
                    if canceled {
                        match handle.cancel() {
                            Ok(()) => cancel_ok = true,
                            Err(e) => assert_eq!(e.code(), Some(10200018), "group cancel: {e}"),
                        }
                    }
                    self.note(format!("  group {actions:?} canceled {canceled}"));
                    self.groups.push(GroupPending {
                        handle,
                        facts: GroupFacts {
                            expect: expect.clone(),
                            actions: actions.clone(),
                            pool: p,
                            canceled,
                            cancel_ok,
                        },
                    });
                }
            }
            // A dependent task, executed (or delayed) by reference while its dependency waits.
            8 | 9 => {
                let (dependency, dependency_key, dependency_action, dependency_value) =
                    self.fresh(p, false);
                let (task, key, action, value) = self.fresh(p, false);
                task.add_dependency(&dependency).unwrap();
                if self.rng.chance(10) {
                    // Runners refuse dependent tasks.
                    let (code, handle) = if self.rng.chance(50) {
                        let runner = self.pool(p).sequence_runner(Priority::Medium);
                        (10200025, runner.execute(task))
                    } else {
                        let runner = self.pool(p).async_runner(1, 0).unwrap();
                        (10200025, runner.execute(task, Priority::Medium))
                    };
                    let e = handle.wait().expect_err("a runner ran a dependent task");
                    assert_eq!(e.code(), Some(code), "runner with a dependent task: {e}");
                    return;
                }
                let mut tasks = vec![(task, key, action, value, p)];
                if self.rng.chance(30) {
                    // A second dependent, maybe on another pool.
                    let q = self.pick_pool();
                    let (task, key, action, value) = self.fresh(q, false);
                    task.add_dependency(&dependency).unwrap();
                    tasks.push((task, key, action, value, q));
                }
                let mut dependents = Vec::new();
                for (task, key, action, value, q) in tasks {
                    let priority = lane(&mut self.rng, false);
                    let handle = if self.rng.chance(30) {
                        let delay = Duration::from_micros(self.rng.below(3000));
                        self.pool(q).execute_delayed(delay, &task, priority)
                    } else {
                        self.pool(q).execute_with_priority(&task, priority)
                    };
                    let mut pending = self.pending(handle, key, action, value, q, "dependent");
                    if self.rng.chance(30) {
                        pending.stream = Some((pending.handle.data_stream::<u64>(), false));
                    }
                    pending.dependent = true;
                    self.depends_on.insert(pending.id, dependency.id());
                    self.note(format!(
                        "  {:?} on pool {q} action {action} waits for {:?} action {dependency_action}",
                        pending.id,
                        dependency.id()
                    ));
                    self.pending.push(pending);
                    dependents.push(task);
                }
                self.deps.push(DepCase {
                    dependents,
                    dependency: Some(dependency),
                    dependency_key,
                    dependency_action,
                    dependency_value,
                    pool: p,
                });
            }
            // Settle a dependency: execute it, remove it, or drop it.
            10 => {
                if self.deps.is_empty() {
                    return;
                }
                let i = self.rng.below(self.deps.len() as u64) as usize;
                self.settle_dependency(i);
            }
            // Delayed: short, or never (then canceled, by handle or id).
            11 => {
                let allow_await = !self.pools[p].ephemeral;
                let (task, key, action, value) = self.fresh(p, allow_await);
                let waits = matches!(action, AWAIT | CONDVAR);
                let priority = lane(&mut self.rng, !waits);
                let endless = self.rng.chance(20);
                let delay = if endless {
                    Duration::MAX
                } else {
                    Duration::from_micros(self.rng.below(5000))
                };
                let handle = self.pool(p).execute_delayed(delay, task, priority);
                let mut pending = self.pending(handle, key, action, value, p, "delayed");
                pending.endless = endless;
                self.note(format!(
                    "  {:?} action {action} endless {endless}",
                    pending.id
                ));
                self.pending.push(pending);
            }
            // Periodic, with a data stream or not.
            12 => {
                let value = self.rng.below(1000);
                let action =
                    [COMPUTE, SEND, SLEEP, FAIL, LOCKED, SPIN, PANIC][self.rng.below(7) as usize];
                let arg = if action == SPIN {
                    let gate = next_id();
                    self.pools[p].gates.push(gate);
                    gate
                } else {
                    self.rng.next() & 0xFFFF
                };
                let task = if self.rng.chance(50) {
                    Task::new(ajob, (next_id(), action, arg, value))
                } else {
                    Task::new(job, (next_id(), action, arg, value))
                };
                let early = self.rng.chance(50);
                let stream = early.then(|| task.data_stream::<u64>());
                let period = Duration::from_millis(1 + self.rng.below(4));
                let priority = lane(&mut self.rng, true);
                let handle = self
                    .pool(p)
                    .execute_periodically(period, task, priority)
                    .unwrap();
                let stream = match stream {
                    Some(stream) => Some(stream),
                    None if self.rng.chance(50) => Some(handle.data_stream::<u64>()),
                    None => None,
                };
                self.note(format!("  periodic {:?} action {action}", handle.id()));
                self.periodic.push(PeriodicCase {
                    handle,
                    stream,
                    value,
                    pool: p,
                });
            }
            13 => {
                if self.periodic.is_empty() {
                    return;
                }
                let i = self.rng.below(self.periodic.len() as u64) as usize;
                let mut case = self.periodic.swap_remove(i);
                let result = if self.rng.chance(50) || self.pools[case.pool].shut {
                    case.handle.cancel()
                } else {
                    self.pool(case.pool).cancel(case.handle.id())
                };
                self.note(format!(
                    "  cancel periodic {:?}: {result:?}",
                    case.handle.id()
                ));
                if let Err(e) = result {
                    assert_eq!(e.code(), Some(10200015), "periodic cancel: {e}");
                }
                assert!(case.handle.is_stopped(), "periodic stopped after cancel");
                if let Some(stream) = case.stream.take() {
                    drain(stream, case.value, "periodic stream");
                }
            }
            // Cancel a pending handle, by handle or by id.
            14 | 15 => {
                if self.pending.is_empty() {
                    return;
                }
                let i = self.rng.below(self.pending.len() as u64) as usize;
                let pool = self.pending[i].pool;
                let by_handle = self.rng.chance(50) || self.pools[pool].shut;
                let result = if by_handle {
                    self.pending[i].handle.cancel()
                } else {
                    self.pool(pool).cancel(self.pending[i].id)
                };
                self.note(format!("  cancel {:?}: {result:?}", self.pending[i].id));
                let pending = &mut self.pending[i];
                pending.cancel_asked = true;
                match result {
                    Ok(()) => pending.cancel_ok = true,
                    Err(e) => assert_eq!(e.code(), Some(10200015), "cancel: {e}"),
                }
            }
            // A long task, terminated later.
            16 => {
                let value = self.rng.below(1000);
                let (action, arg) = match self.action(p, false) {
                    (CONDVAR | LOCKED | AWAIT, _) => (COMPUTE, 0),
                    other => other,
                };
                let key = next_id();
                let long = if self.rng.chance(30) {
                    LongTask::new(ajob, (key, action, arg, value))
                } else {
                    LongTask::new(job, (key, action, arg, value))
                };
                let handle = self.pool(p).execute(long);
                self.pools[p].longs.push(handle.id());
                let pending = self.pending(handle, key, action, value, p, "long");
                self.note(format!("  long {:?} action {action}", pending.id));
                self.pending.push(pending);
            }
            17 => {
                if let Some(id) = self.pools[p].longs.pop() {
                    let result = self.pool(p).terminate_task(id);
                    self.note(format!("  terminate {id:?}: {result:?}"));
                    if let Err(e) = result {
                        assert_eq!(e.code(), Some(401), "terminate: {e}");
                    }
                }
            }
            // Raise the ticket: the condition waits up to it end.
            18 | 19 => {
                // Briefly: an `async` holder may wait for a thread that a task blocked on a gate
                // holds, and only the walk opens gates.
                let to = TICKET.load(Ordering::SeqCst) + 1 + self.rng.below(2);
                let patience = Duration::from_millis(self.rng.below(50));
                raise_ticket(to, patience);
                if self.rng.chance(50) {
                    CHANGED.notify_all();
                } else {
                    for _ in 0..1 + self.rng.below(3) {
                        CHANGED.notify_one();
                    }
                }
                self.note(format!("  ticket {}", TICKET.load(Ordering::SeqCst)));
            }
            // Open a random gate.
            20 => {
                let gates = &mut self.pools[p].gates;
                if !gates.is_empty() {
                    let i = self.rng.below(gates.len() as u64) as usize;
                    let gate = gates.swap_remove(i);
                    open(gate);
                }
            }
            // Workers: start, post, receive, terminate, drop.
            21 | 22 => self.worker_step(),
            // An ephemeral pool: made, or ended.
            23 => {
                let ephemeral: Vec<usize> = self
                    .live_pools()
                    .into_iter()
                    .filter(|&q| self.pools[q].ephemeral)
                    .collect();
                if ephemeral.len() < 2 && (ephemeral.is_empty() || self.rng.chance(50)) {
                    let limited = self.rng.chance(30);
                    self.add_pool(limited, true);
                } else {
                    let q = ephemeral[self.rng.below(ephemeral.len() as u64) as usize];
                    self.end_pool(q);
                }
            }
            // Collect finished handles.
            24 | 25 => {
                let mut i = 0;
                while i < self.pending.len() {
                    if self.pending[i].handle.is_finished() && !self.pending[i].dependent {
                        let mut pending = self.pending.swap_remove(i);
                        let outcome = pending.handle.wait_timeout(Duration::ZERO);
                        let outcome = outcome.expect("a finished handle has an outcome");
                        self.check(pending, outcome);
                    } else {
                        i += 1;
                    }
                }
            }
            // Run a plain task on a pool, from the walk.
            26 => {
                let value = self.rng.below(1000);
                let key = next_id();
                let handle = self.pool(p).run(job, (key, COMPUTE, 0, value));
                let mut pending = self.pending(handle, key, COMPUTE, value, p, "run");
                pending.awaitable = true;
                self.pending.push(pending);
            }
            // Abort a waiting lock request.
            31 => {
                let signal = SIGNALS.lock().unwrap().values().next().cloned();
                if let Some(signal) = signal {
                    signal.abort("the walk aborts");
                }
            }
            // Cancel a group execution later.
            32 => {
                if self.groups.is_empty() {
                    return;
                }
                let i = self.rng.below(self.groups.len() as u64) as usize;
                let group = &mut self.groups[i];
                let result = group.handle.cancel();
                group.facts.canceled = true;
                match &result {
                    Ok(()) => group.facts.cancel_ok = true,
                    Err(e) => assert_eq!(e.code(), Some(10200018), "group cancel: {e}"),
                }
                self.note(format!("  cancel group {i}: {result:?}"));
            }
            // Let time pass: delays, periods and time limits come due.
            29 => std::thread::sleep(Duration::from_millis(1 + self.rng.below(25))),
            // A snapshot.
            _ => self.check_info(p),
        }
    }

    fn settle_dependency(&mut self, i: usize) {
        let case = self.deps.swap_remove(i);
        let DepCase {
            dependents,
            dependency,
            dependency_key,
            dependency_action,
            dependency_value,
            pool,
        } = case;
        let Some(dependency) = dependency else {
            return;
        };
        // Executed on its dependents' pool, or another.
        let mut pool = if self.pools[pool].shut || self.rng.chance(30) {
            self.pick_pool()
        } else {
            pool
        };
        if dependency_action == CONDVAR && self.pools[pool].ephemeral {
            // Condition waits stay off the pools a drop waits for.
            pool = 0;
        }
        match self.rng.below(5) {
            0 => {
                for task in &dependents {
                    match task.remove_dependency(&dependency) {
                        Ok(()) => {
                            self.removed.insert(task.id());
                        }
                        Err(e) => {
                            assert_eq!(e.code(), Some(10200027), "remove_dependency: {e}")
                        }
                    }
                    self.note(format!(
                        "  removed {:?} from {:?}",
                        dependency.id(),
                        task.id()
                    ));
                }
            }
            1 => {
                self.note(format!("  dropped dependency {:?}", dependency.id()));
                self.dependency_ok.insert(dependency.id(), false);
                drop(dependency);
            }
            2 if !self.pools[pool].sequence.is_empty() => {
                // A task others depend on may join a sequence runner.
                let runner = self.pools[pool].sequence[0].clone();
                let handle = runner.execute(dependency);
                self.note(format!(
                    "  sequenced dependency {:?} action {dependency_action}",
                    handle.id()
                ));
                let pending = self.pending(
                    handle,
                    dependency_key,
                    dependency_action,
                    dependency_value,
                    pool,
                    "dependency",
                );
                self.pending.push(pending);
            }
            _ => {
                let priority = lane(&mut self.rng, false);
                let handle = if self.rng.chance(30) {
                    let delay = Duration::from_micros(self.rng.below(3000));
                    self.pool(pool).execute_delayed(delay, dependency, priority)
                } else {
                    self.pool(pool).execute_with_priority(dependency, priority)
                };
                self.note(format!(
                    "  executed dependency {:?} action {dependency_action}",
                    handle.id()
                ));
                let pending = self.pending(
                    handle,
                    dependency_key,
                    dependency_action,
                    dependency_value,
                    pool,
                    "dependency",
                );
                self.pending.push(pending);
            }
        }
        drop(dependents);
    }

    fn worker_step(&mut self) {
        let live: Vec<usize> = (0..self.workers.len())
            .filter(|&w| self.workers[w].worker.is_some())
            .collect();
        if live.is_empty() || (live.len() < 2 && self.rng.chance(20)) {
            let n = next_id();
            let name = format!("mw{n}x");
            let pool_prefix = format!("mp{n}x");
            let threads = 1 + self.rng.below(2) as usize;
            let for_pool = pool_prefix.clone();
            let worker = Worker::builder()
                .name(name.clone())
                .spawn(move || PoolUser {
                    pool: TaskPool::builder()
                        .max_threads(threads)
                        .idle_timeout(Duration::from_millis(5))
                        .check_interval(Duration::from_millis(5))
                        .thread_name(for_pool)
                        .build()
                        .unwrap(),
                })
                .expect("a worker starts");
            self.note(format!("  worker {name}"));
            self.workers.push(WorkerCase {
                worker: Some(worker),
                name,
                pool_prefix,
                expect: Vec::new(),
                received: Vec::new(),
                terminated: false,
                fatal: false,
                terminate_ok: false,
            });
            return;
        }
        let w = live[self.rng.below(live.len() as u64) as usize];
        let choice = self.rng.below(10);
        let n = self.rng.below(5000);
        let case = &mut self.workers[w];
        let worker = case.worker.as_ref().unwrap();
        match choice {
            0 if self.rng.chance(20) => {
                let result = worker.post_message(FATAL);
                if !case.terminated {
                    result.expect("a running worker takes a message");
                    case.fatal = true;
                }
                case.terminated = true;
            }
            0..=4 => {
                let result = worker.post_message(n);
                match result {
                    Ok(()) => {
                        // One that failed may not have ended yet; it replies to none of them.
                        assert!(
                            !case.terminated || case.fatal,
                            "a terminated worker took a message"
                        );
                        if !case.terminated {
                            case.expect.push(result_of(n));
                        }
                    }
                    Err(e) => {
                        assert!(case.terminated, "post failed: {e}");
                        assert_eq!(e.code(), Some(10200004), "post: {e}");
                    }
                }
            }
            5..=7 => {
                if let Ok(value) = worker.recv_timeout(Duration::from_millis(self.rng.below(3))) {
                    case.received.push(value);
                    check_prefix(case);
                }
            }
            8 => {
                let result = worker.terminate();
                if case.fatal {
                    // It may not have failed yet.
                    match result {
                        Ok(()) => case.terminate_ok = true,
                        Err(e) => assert_eq!(e.code(), Some(10200004), "terminate: {e}"),
                    }
                } else if case.terminated {
                    assert_eq!(result.unwrap_err().code(), Some(10200004));
                } else {
                    result.expect("terminate a running worker");
                    case.terminate_ok = true;
                }
                case.terminated = true;
            }
            _ => {
                let worker = case.worker.take().unwrap();
                drain_worker(case, &worker);
                drop(worker);
            }
        }
        let line = format!("  worker {} choice {choice}", self.workers[w].name);
        self.note(line);
    }

    /// Ends ephemeral pool `q`: dropped once its gates are open, or shut down with a timeout.
    fn end_pool(&mut self, q: usize) {
        let model = &mut self.pools[q];
        let pool = model.pool.take().unwrap();
        model.shut = true;
        let how = self.rng.below(3);
        self.note(format!("  end pool {q} how {how}"));
        if how == 0 {
            // Every gate: a dependency made for another pool may run here.
            for m in &mut self.pools {
                for gate in std::mem::take(&mut m.gates) {
                    open(gate);
                }
            }
            drop(pool);
            // Nothing of it blocks any more: dropping it took every thread down.
            let prefix = format!("{}-", self.pools[q].prefix);
            wait_until("a dropped pool's threads are gone", || {
                threads_named(&prefix) == 0
            });
        } else {
            pool.shutdown_timeout(Duration::from_millis(self.rng.below(30)));
        }
    }

    fn check_info(&self, p: usize) {
        let info = self.pool(p).info();
        let counters = info.counters;
        assert!(
            counters.settled() <= counters.submitted,
            "more settled than submitted: {counters:?}"
        );
        let listed: HashSet<TaskId> = info.tasks.iter().map(|t| t.task_id).collect();
        let mut running = HashSet::new();
        for task in &info.tasks {
            if task.state == TaskState::Running {
                assert!(
                    running.insert(task.task_id),
                    "task {:?} listed running twice: {:?}",
                    task.task_id,
                    info.tasks
                );
            }
        }
        let mut on_threads = HashSet::new();
        for thread in &info.threads {
            for id in &thread.task_ids {
                assert!(
                    on_threads.insert(*id),
                    "task {id:?} on two threads: {:?}",
                    info.threads
                );
                assert!(
                    listed.contains(id),
                    "task {id:?} on a thread but not listed: {info:?}"
                );
            }
        }
    }

    fn check(&mut self, mut pending: Pending, outcome: taskpool::Result<u64>) {
        let what = pending.what;
        let id = pending.id;
        let shut = self.pools[pending.pool].shut;
        let limited = self.pools[pending.pool].limited;
        let canceled = pending.cancel_asked || shut;
        let ran = pending.key != 0 && entered(pending.key);
        let never_ran = |why: &str| {
            assert!(!ran, "{what} {id:?}: {why}, but its function ran");
        };
        if what == "dependency" {
            self.dependency_ok.insert(id, outcome.is_ok());
        }
        let ok = outcome.is_ok();
        let mut failed = false;
        let kind = match &outcome {
            Ok(_) => "ok".to_owned(),
            Err(Error::Canceled { started, late, .. }) => {
                format!("canceled started {started} late {}", late.is_some())
            }
            Err(e) => format!("{:?}", e.code()).replace("None", &format!("{e:?}")[..8]),
        };
        seen(what, &kind);
        match outcome {
            Ok(value) => {
                assert!(
                    !matches!(pending.action, PANIC | FAIL),
                    "{what} {id:?}: action {} succeeded",
                    pending.action
                );
                assert_eq!(value, pending.expect, "{what} {id:?}: wrong value");
                assert!(
                    !pending.cancel_ok,
                    "{what} {id:?}: succeeded after a cancel that returned Ok"
                );
            }
            Err(Error::Panicked { .. }) => {
                assert_eq!(pending.action, PANIC, "{what} {id:?}: panicked");
                failed = true;
            }
            Err(Error::TaskFailed(_)) => {
                assert_eq!(pending.action, FAIL, "{what} {id:?}: failed");
                failed = true;
            }
            Err(Error::Canceled { started, late, .. }) => {
                assert!(canceled, "{what} {id:?}: canceled unasked");
                if !started {
                    assert!(late.is_none(), "{what} {id:?}: a late outcome, not started");
                    never_ran("canceled before it started");
                }
                if let Some(late) = late
                    && let Some(value) = late.into_value::<u64>()
                {
                    assert_eq!(value, pending.expect, "{what} {id:?}: wrong late value");
                }
            }
            Err(Error::AsyncRunnerCanceled(_)) => {
                assert!(
                    pending.via_async_runner && canceled,
                    "{what} {id:?}: 10200055"
                );
                never_ran("canceled waiting in its runner");
            }
            Err(Error::AsyncRunnerDiscarded(_)) => {
                assert!(pending.via_async_runner, "{what} {id:?}: 10200054");
                never_ran("discarded by its runner");
            }
            Err(Error::TimedOut { .. }) => {
                assert!(limited, "{what} {id:?}: timed out without a limit");
                assert!(
                    !matches!(pending.what, "long"),
                    "{what} {id:?}: a long task timed out"
                );
            }
            Err(Error::DependencyFailed { dependency, .. }) => {
                assert!(pending.dependent, "{what} {id:?}: dependency failed");
                assert_eq!(Some(&dependency), self.depends_on.get(&id));
                assert_ne!(
                    self.dependency_ok.get(&dependency),
                    Some(&true),
                    "{what} {id:?}: dependency {dependency:?} succeeded, yet failed"
                );
                never_ran("its dependency failed");
            }
            Err(Error::PoolShutDown) => assert!(shut, "{what} {id:?}: shut down early"),
            Err(other) => panic!("{what} {id:?}: implausible outcome {other:?}"),
        }
        if ok && pending.dependent && !self.removed.contains(&id) {
            let dependency = self.depends_on[&id];
            assert_eq!(
                self.dependency_ok.get(&dependency),
                Some(&true),
                "{what} {id:?} ran though its dependency {dependency:?} did not succeed"
            );
        }
        if let Some((stream, early)) = pending.stream.take() {
            let count = drain(stream, pending.value, what);
            if ok && early && pending.action == SEND {
                assert_eq!(count as u64, SENDS, "{what} {id:?}: values streamed");
            }
            if pending.action != SEND {
                assert_eq!(count, 0, "{what} {id:?}: values from nowhere");
            }
        }
        if pending.listened {
            let key = pending.key;
            let expect = if ok {
                Some(if pending.action == SEND {
                    [1, 1, 0, SENDS as u32]
                } else {
                    [1, 1, 0, 0]
                })
            } else if failed {
                Some([1, 0, 1, 0])
            } else {
                None
            };
            if let Some(expect) = expect {
                let deadline = Instant::now() + PATIENCE;
                while heard(key) != expect {
                    assert!(
                        Instant::now() < deadline,
                        "{what} {id:?} on pool {} (shut {shut}): the listeners heard {:?}, not {expect:?}",
                        pending.pool,
                        heard(key)
                    );
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            let h = heard(key);
            assert!(h[0] <= 1 && h[1] <= 1 && h[2] <= 1, "{what} {id:?}: {h:?}");
            assert!(
                h[1] + h[2] <= 1,
                "{what} {id:?}: succeeded and failed: {h:?}"
            );
        }
    }

    fn check_group(&self, group: &GroupFacts, outcome: taskpool::Result<Vec<u64>>) {
        let limited = self.pools[group.pool].limited;
        let shut = self.pools[group.pool].shut;
        match outcome {
            Ok(values) => {
                assert!(
                    group.actions.iter().all(|a| !matches!(*a, PANIC | FAIL)),
                    "a group with a failing member succeeded"
                );
                assert_eq!(values, group.expect, "group values");
                assert!(
                    !group.cancel_ok,
                    "a group succeeded after a cancel returned Ok"
                );
            }
            Err(Error::Panicked { .. }) => assert!(group.actions.contains(&PANIC)),
            Err(Error::TaskFailed(_)) => assert!(group.actions.contains(&FAIL)),
            Err(Error::Canceled { .. }) => {
                assert!(group.canceled || shut, "group canceled unasked")
            }
            Err(Error::TimedOut { .. }) => assert!(limited, "group timed out without a limit"),
            Err(Error::PoolShutDown) => assert!(shut, "group: shut down early"),
            Err(other) => panic!("group: implausible outcome {other:?}"),
        }
    }

    fn finish(mut self) {
        // Release everything: gates, condition waits, dependencies.
        for m in &mut self.pools {
            for gate in std::mem::take(&mut m.gates) {
                open(gate);
            }
        }
        assert!(
            raise_ticket(self.max_ticket, PATIENCE),
            "the walk never got the lock"
        );
        CHANGED.notify_all();
        while !self.deps.is_empty() {
            self.settle_dependency(0);
        }
        for case in std::mem::take(&mut self.periodic) {
            let PeriodicCase {
                handle,
                stream,
                value,
                pool,
            } = case;
            let _ = match self.pools[pool].pool.as_ref() {
                Some(pool) => pool.cancel(handle.id()),
                None => handle.cancel(),
            };
            assert!(handle.is_stopped(), "periodic task stopped after cancel");
            if let Some(stream) = stream {
                drain(stream, value, "periodic stream");
            }
        }
        // Endless delays are canceled; the rest resolve by themselves.
        for p in &mut self.pending {
            if p.endless {
                p.cancel_asked = true;
                p.cancel_ok = p.handle.cancel().is_ok();
            }
        }
        let deadline = Instant::now() + PATIENCE;
        let mut pending = std::mem::take(&mut self.pending);
        // Dependencies first, so that their dependents are checked against their outcomes.
        pending.sort_by_key(|p| p.dependent);
        for mut p in pending {
            let outcome = loop {
                // Long tasks hold their threads until terminated: release them as they finish.
                for m in self.pools.iter_mut() {
                    if let Some(pool) = m.pool.as_ref() {
                        m.longs.retain(|id| pool.terminate_task(*id).is_err());
                    }
                }
                if let Some(outcome) = p.handle.wait_timeout(Duration::from_millis(5)) {
                    break outcome;
                }
                if Instant::now() >= deadline {
                    let info = self.pools[p.pool].pool.as_ref().map(TaskPool::info);
                    panic!(
                        "{} {:?} (action {}, pool {}) never resolved; info: {info:#?}",
                        p.what, p.id, p.action, p.pool
                    );
                }
            };
            self.check(p, outcome);
        }
        for group in std::mem::take(&mut self.groups) {
            let (tx, rx) = std::sync::mpsc::channel();
            let GroupPending { handle, facts } = group;
            std::thread::spawn(move || {
                let _ = tx.send(handle.wait());
            });
            let left = deadline.saturating_duration_since(Instant::now());
            let outcome = rx.recv_timeout(left).expect("a group never resolved");
            self.check_group(&facts, outcome);
        }
        // Slots whose `AWAIT` task never ran: those handles resolve too.
        let untaken: Vec<TaskHandle<u64>> = SLOTS.lock().unwrap().drain().map(|(_, h)| h).collect();
        for mut handle in untaken {
            assert!(
                handle.wait_timeout(PATIENCE).is_some(),
                "an untaken slot's handle {:?} never resolved",
                handle.id()
            );
        }
        let groups: Vec<GroupHandle<u64>> = (GROUP_SLOTS.lock().unwrap().drain())
            .map(|(_, h)| h)
            .collect();
        for group in groups {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(group.wait().is_ok());
            });
            rx.recv_timeout(PATIENCE)
                .expect("an untaken slot's group never resolved");
        }
        for p in self.live_pools() {
            self.check_info(p);
        }
        for case in &mut self.workers {
            if let Some(worker) = case.worker.take() {
                drain_worker(case, &worker);
                drop(worker);
            }
        }
        for p in 0..self.pools.len() {
            if let Some(pool) = self.pools[p].pool.take() {
                pool.shutdown_timeout(Duration::from_millis(self.rng.below(50)));
            }
        }
        let mut prefixes: Vec<String> = self.pools.iter().map(|m| m.prefix.clone()).collect();
        for case in &self.workers {
            prefixes.push(case.name.clone());
            prefixes.push(case.pool_prefix.clone());
        }
        for prefix in prefixes {
            wait_until(&format!("the threads named {prefix}… are gone"), || {
                threads_named(&prefix) == 0
            });
        }
        let violations = std::mem::take(&mut *VIOLATIONS.lock().unwrap());
        assert!(violations.is_empty(), "{violations:?}");
        assert_eq!(EXCLUSIVE.load(Ordering::SeqCst), 0);
        assert_eq!(SHARED.load(Ordering::SeqCst), 0);
        self.log.clear();
    }
}

/// Reads `stream` to its end (which must come within [`PATIENCE`]); every value must be
/// `value`. Returns how many there were.
fn drain(stream: DataStream<u64>, value: u64, what: &str) -> usize {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let values: Vec<u64> = stream.into_iter().collect();
        let _ = tx.send(values);
    });
    let values = rx
        .recv_timeout(PATIENCE)
        .unwrap_or_else(|_| panic!("{what}: the data stream never ended"));
    assert!(
        values.iter().all(|v| *v == value),
        "{what}: streamed {values:?}, expected only {value}"
    );
    values.len()
}

/// Raises the ticket to `to`: first the atomic, which the blocking condition waits read without
/// the lock (so they end even while an `async` holder of the lock waits for a thread they
/// occupy), then the lock's value, for the `async` waits, if the lock comes within `patience`.
fn raise_ticket(to: u64, patience: Duration) -> bool {
    TICKET.fetch_max(to, Ordering::SeqCst);
    match LOCK.lock_with(&AsyncLockOptions::new().timeout(patience)) {
        Ok(mut guard) => {
            *guard = (*guard).max(TICKET.load(Ordering::SeqCst));
            true
        }
        Err(e) => {
            assert!(matches!(e, Error::LockTimedOut { .. }), "walk lock: {e:?}");
            false
        }
    }
}

fn check_prefix(case: &WorkerCase) {
    assert!(
        case.expect.starts_with(&case.received),
        "worker {}: received {:?}, sent for {:?}",
        case.name,
        case.received,
        case.expect
    );
}

/// Takes what worker `case` still sends: everything, if it was not terminated; then the
/// receivers end once it has.
fn drain_worker(case: &mut WorkerCase, worker: &Worker<u64, u64>) {
    if !case.terminated {
        while case.received.len() < case.expect.len() {
            match worker.recv_timeout(PATIENCE) {
                Ok(value) => case.received.push(value),
                Err(e) => panic!("worker {}: {e} before every reply", case.name),
            }
        }
        check_prefix(case);
        let _ = worker.terminate();
    }
    let deadline = Instant::now() + PATIENCE;
    loop {
        match worker.recv_timeout(Duration::from_millis(10)) {
            Ok(value) => {
                case.received.push(value);
                check_prefix(case);
            }
            Err(RecvTimeoutError::Exited) => {
                let code = worker.wait_for_exit_timeout(PATIENCE);
                if case.fatal && !case.terminate_ok {
                    assert_eq!(code, Some(1), "worker {}: exit code", case.name);
                    assert!(worker.take_exit_error().is_some(), "worker {}", case.name);
                } else {
                    assert!(
                        matches!(code, Some(0 | 1)),
                        "worker {}: {code:?}",
                        case.name
                    );
                }
                break;
            }
            Err(RecvTimeoutError::Timeout) => {
                assert!(
                    Instant::now() < deadline,
                    "worker {} never ended",
                    case.name
                )
            }
        }
    }
}

/// Prints the walk's last steps if it fails.
struct Trace(Arc<Mutex<Vec<String>>>);

impl Drop for Trace {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let start = if std::env::var("STRESS_FULL_LOG").is_ok() {
                0
            } else {
                log.len().saturating_sub(80)
            };
            eprintln!("last steps of the walk:\n{}", log[start..].join("\n"));
        }
    }
}

fn run_seed(seed: u64, steps: usize) {
    walk::install_quiet_panics();
    let mut model = Model::new(seed);
    let trace = Trace(Arc::new(Mutex::new(Vec::new())));
    for _ in 0..steps {
        model.step();
        trace.0.lock().unwrap().append(&mut model.log);
    }
    model.finish();
    drop(trace);
}

#[test]
fn random_mixed_walks_keep_the_invariants() {
    let seeds = walk::seeds(1..=12);
    let steps = walk::steps(400);
    for seed in seeds {
        eprintln!("stress_mixed seed {seed}");
        run_seed(seed, steps);
    }
    if std::env::var("STRESS_STATS").is_ok() {
        let mut seen: Vec<_> = SEEN.lock().unwrap().clone().into_iter().collect();
        seen.sort();
        for (kind, count) in seen {
            eprintln!("{count:8} {kind}");
        }
    }
}
