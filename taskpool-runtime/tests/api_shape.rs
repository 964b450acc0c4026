//! The shape of the public API: auto traits, common traits and useful, deadlock-free `Debug`.
//!
//! Most checks are compile-time: a function below that names a bound on a type fails to build if
//! the type loses it. The runtime checks format the main types from inside running tasks and
//! while their internal locks are busy, each bounded so a deadlock fails instead of hanging.

mod support;

use std::collections::{HashMap, HashSet};
use std::error::Error as StdError;
use std::fmt::{Debug, Display};
use std::hash::Hash;
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Duration;

use support::{PATIENCE, bounded, hold, open_gate, wait_until, wait_until_executing};
use taskpool::*;

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn unpin<T: Unpin>() {}
fn static_<T: 'static>() {}
fn clone<T: Clone>() {}
fn debug<T: Debug>() {}
fn default<T: Default>() {}
fn id_like<T: Copy + Eq + Ord + Hash + Debug + Display + Send + Sync + Unpin>() {}
fn plain_enum<T: Copy + Eq + Hash + Debug + Send + Sync + Unpin>() {}
fn snapshot<T: Clone + Eq + Debug + Send + Sync + Unpin>() {}
fn error<T: StdError + Send + Sync + 'static>() {}

/// Fails to compile if `$type` implements `$trait`: with the trait, both impls of `Probe` apply
/// and the call is ambiguous; without it only the blanket one does.
macro_rules! assert_not_impl {
    ($type:ty: $trait:path) => {{
        trait Probe<A> {
            fn probe() {}
        }
        impl<T: ?Sized> Probe<()> for T {}
        struct HasTrait;
        impl<T: ?Sized + $trait> Probe<HasTrait> for T {}
        <$type as Probe<_>>::probe();
    }};
}

/// An ordinary payload type (`Send + Sync + Unpin`): what the checks below see is what a
/// typical caller gets.
type P = Vec<u8>;

#[test]
fn pools_runners_and_handles_are_send_sync_and_unpin() {
    send::<TaskPool>();
    sync::<TaskPool>();
    debug::<TaskPool>();
    default::<TaskPool>();
    send::<TaskPoolBuilder>();
    sync::<TaskPoolBuilder>();
    clone::<TaskPoolBuilder>();
    debug::<TaskPoolBuilder>();
    default::<TaskPoolBuilder>();

    send::<TaskHandle<P>>();
    sync::<TaskHandle<P>>();
    unpin::<TaskHandle<P>>();
    debug::<TaskHandle<P>>();
    send::<GroupHandle<P>>();
    sync::<GroupHandle<P>>();
    unpin::<GroupHandle<P>>();
    debug::<GroupHandle<P>>();
    send::<PeriodicHandle>();
    sync::<PeriodicHandle>();
    unpin::<PeriodicHandle>();
    debug::<PeriodicHandle>();
    clone::<PeriodicHandle>();

    for_cheap_shared_handle::<SequenceRunner>();
    for_cheap_shared_handle::<AsyncRunner>();
}

fn for_cheap_shared_handle<T: Send + Sync + Unpin + Clone + Debug + 'static>() {}

#[test]
fn tasks_and_groups_are_send() {
    send::<Task<P>>();
    debug::<Task<P>>();
    send::<LongTask<P>>();
    debug::<LongTask<P>>();
    send::<TaskGroup<P>>();
    // A task owns its arguments, which need only be `Send`: it moves to its run, it is not
    // shared (listeners and data streams, which are, are `Send + Sync` on their own).
    assert_not_impl!(Task<P>: Sync);
    assert_not_impl!(LongTask<P>: Sync);
    assert_not_impl!(TaskGroup<P>: Sync);
    debug::<TaskGroup<P>>();
    default::<TaskGroup<P>>();
    send::<Invocation<P>>();
    debug::<Invocation<P>>();
}

#[test]
fn streams_and_futures_are_send_and_unpin() {
    send::<DataStream<P>>();
    sync::<DataStream<P>>();
    unpin::<DataStream<P>>();
    debug::<DataStream<P>>();
    send::<BlockingIter<P>>();
    unpin::<BlockingIter<P>>();
    debug::<BlockingIter<P>>();
    send::<Messages<P>>();
    sync::<Messages<P>>();
    unpin::<Messages<P>>();
    debug::<Messages<P>>();
    send::<Sleep>();
    sync::<Sleep>();
    unpin::<Sleep>();
    debug::<Sleep>();
}

#[test]
fn workers_are_send_and_their_refs_are_cheap_shared_handles() {
    send::<Worker<P, P>>();
    sync::<Worker<P, P>>();
    debug::<Worker<P, P>>();
    for_cheap_shared_handle::<WorkerRef<P>>();
    send::<WorkerBuilder>();
    sync::<WorkerBuilder>();
    clone::<WorkerBuilder>();
    debug::<WorkerBuilder>();
    default::<WorkerBuilder>();
    send::<CallObject<P>>();
    debug::<CallObject<P>>();
    // `WorkerPort` is deliberately `!Send`: it belongs to the worker's thread (its
    // `spawn_local` futures are `!Send`); `Clone` and `Debug` it has.
    assert_not_impl!(WorkerPort<P>: Send);
    assert_not_impl!(WorkerPort<P>: Sync);
    clone::<WorkerPort<P>>();
    debug::<WorkerPort<P>>();
    static_::<WorkerPort<P>>();
}

#[test]
fn locks_guards_and_their_futures_are_send() {
    type L = AsyncLock<P>;
    send::<L>();
    sync::<L>();
    debug::<L>();
    default::<L>();
    send::<AsyncLockGuard<'static, P>>();
    sync::<AsyncLockGuard<'static, P>>();
    debug::<AsyncLockGuard<'static, P>>();
    send::<AsyncLockSharedGuard<'static, P>>();
    sync::<AsyncLockSharedGuard<'static, P>>();
    debug::<AsyncLockSharedGuard<'static, P>>();
    send::<AsyncLockAccess<'static, P>>();
    debug::<AsyncLockAccess<'static, P>>();
    lock_future::<LockFuture<'static, P>>();
    lock_future::<SharedLockFuture<'static, P>>();
    lock_future::<LockWithFuture<'static, P>>();
    lock_future::<SharedLockWithFuture<'static, P>>();
    lock_future::<CondvarWait<'static>>();
    lock_future::<CondvarWaitFor<'static>>();

    send::<ConditionVariable>();
    sync::<ConditionVariable>();
    debug::<ConditionVariable>();
    default::<ConditionVariable>();
    for_cheap_shared_handle::<AbortSignal>();
    default::<AbortSignal>();
    send::<AsyncLockOptions>();
    sync::<AsyncLockOptions>();
    clone::<AsyncLockOptions>();
    debug::<AsyncLockOptions>();
    default::<AsyncLockOptions>();
    plain_enum::<AsyncLockMode>();
    default::<AsyncLockMode>();
    snapshot::<AsyncLockState>();
    snapshot::<AsyncLockInfo>();
}

fn lock_future<F: std::future::Future + Send + Unpin + Debug>() {}

#[test]
fn shared_values_are_cheap_shared_handles() {
    for_cheap_shared_handle::<Shared<AsyncLock<P>>>();
    default::<Shared<AsyncLock<P>>>();
    send::<SendableLruCache<String, P>>();
    sync::<SendableLruCache<String, P>>();
    debug::<SendableLruCache<String, P>>();
    default::<SendableLruCache<String, P>>();
}

#[test]
fn ids_are_copy_ordered_hashable_and_printable() {
    id_like::<TaskId>();
    // Raw ids round-trip, so an id logged as a number can be looked up again.
    let id = Task::new(support::plain, (1,)).id();
    assert_eq!(TaskId::from_raw(id.into_raw()), id);
    assert_eq!(id.to_string(), format!("#{}", id.into_raw()));
}

#[test]
fn public_enums_are_plain_values() {
    plain_enum::<Priority>();
    default::<Priority>();
    id_like_without_display::<Priority>();
    plain_enum::<TaskState>();
    plain_enum::<SliceKind>();
    plain_enum::<Encoding>();
    default::<Encoding>();
    plain_enum::<RecvTimeoutError>();
    plain_enum::<MessagePriority>();
    default::<MessagePriority>();
    id_like_without_display::<MessagePriority>();
    assert_eq!(MessagePriority::default(), MessagePriority::High);
    let lanes: HashSet<Priority> = Priority::ALL.into_iter().collect();
    assert_eq!(lanes.len(), 4);
    assert_eq!(Priority::default(), Priority::Medium);
}

fn id_like_without_display<T: Copy + Eq + Ord + Hash + Debug>() {}

#[test]
fn snapshots_are_comparable_values() {
    snapshot::<ThreadInfo>();
    snapshot::<TaskInfo>();
    snapshot::<LaneInfo>();
    snapshot::<TimelineSlice>();
    snapshot::<Counters>();
    snapshot::<WaitStats>();
    snapshot::<TaskDurations>();
    snapshot::<TaskDescriptor>();
    snapshot::<Payload>();
    snapshot::<TaskPoolInfo>();
    default::<TaskPoolInfo>();
    send::<Timeline>();
    sync::<Timeline>();
    clone::<Timeline>();
    debug::<Timeline>();
    default::<Counters>();
    default::<WaitStats>();
    default::<TaskDurations>();
}

#[test]
fn errors_are_std_errors_that_cross_threads() {
    error::<Error>();
    error::<RecvTimeoutError>();
    send::<LateOutcome>();
    sync::<LateOutcome>();
    debug::<LateOutcome>();
    // `?` turns a runtime error into the boxed error a task or a handler returns.
    let boxed: BoxError = Error::PoolShutDown.into();
    assert!(boxed.downcast_ref::<Error>().is_some());
    let handler: HandlerResult = Err(Error::GroupNotFound.into());
    assert!(handler.is_err());
}

/// Every error that has an ArkTS code says it in its message, so a log line alone is enough to
/// look the code up.
#[test]
fn every_error_with_an_arkts_code_prints_it() {
    let id = TaskId::from_raw(7);
    let text = || String::from("x");
    let errors = [
        Error::TaskNotFound(id),
        Error::NotALongTask(id),
        Error::Serialization(text()),
        Error::NotConcurrent(text()),
        Error::LockNotFound(text()),
        Error::LockTimedOut {
            name: text(),
            mode: AsyncLockMode::Exclusive,
            timeout: Duration::from_millis(1),
            diagnosis: text(),
        },
        Error::GroupNotFound,
        Error::DependentTaskInRunner(id),
        Error::CircularDependency {
            task: id,
            dependency: id,
        },
        Error::DependencyNotFound {
            task: id,
            dependency: id,
        },
        Error::ExecutedTaskDependency(id),
        Error::ExecutedTaskNotPeriodic(id),
        Error::PeriodicWithDependencies(id),
        Error::NotInPoolThread,
        Error::NotInConcurrentFunction,
        Error::NoDataReceiver(id),
        Error::ListenerAfterExecution(id),
        Error::AsyncRunnerDiscarded(id),
        Error::AsyncRunnerCanceled(id),
        Error::AsyncRunnerDependentTask(id),
        Error::ExecutedByAnotherApi(id),
        Error::InvalidConfig {
            setting: "max_threads",
            reason: text(),
        },
        Error::WorkerInitialization(text()),
        Error::WorkerNotRunning(text()),
        Error::CallObjectNotRegistered(text()),
        Error::CallObjectMethodNotFound {
            object: text(),
            method: text(),
        },
        Error::CallObjectTimedOut {
            object: text(),
            method: text(),
            timeout: Duration::from_millis(1),
        },
    ];
    for error in errors {
        let code = error
            .code()
            .unwrap_or_else(|| panic!("{error:?} has a code"));
        let message = error.to_string();
        assert!(message.contains(&format!("({code})")), "{message}");
    }
}

/// A pool the tasks below can reach to format it from inside.
fn debug_pool() -> &'static TaskPool {
    static POOL: OnceLock<TaskPool> = OnceLock::new();
    POOL.get_or_init(|| TaskPool::builder().max_threads(2).build().unwrap())
}

#[concurrent]
fn format_own_pool(gate: u64) -> String {
    support::pass_gate(gate);
    let pool = debug_pool();
    format!("{pool:?} {:?} {:?}", pool.info(), current_task_id())
}

/// Formatting the pool and its snapshot from inside one of its tasks (while another task of it
/// holds a thread) neither deadlocks nor panics, and says something.
#[test]
fn debug_of_a_pool_from_inside_its_tasks_does_not_deadlock() {
    const GATE: u64 = 31_001;
    let pool = debug_pool();
    let busy = pool.run(hold, (GATE,));
    wait_until_executing(pool, busy.id());
    let inside = pool.run(format_own_pool, (GATE,));
    let outside = bounded("format the pool from outside", || {
        format!("{:?}", debug_pool())
    });
    assert!(
        outside.contains("TaskPool") && outside.contains("threads"),
        "{outside}"
    );
    open_gate(GATE);
    let text = bounded("format the pool inside a task", move || {
        inside.wait().unwrap()
    });
    assert!(
        text.contains("TaskPool") && text.contains("Some(TaskId("),
        "{text}"
    );
    busy.wait().unwrap();
}

/// What a [`run_probe`] task runs, by key: a closure that formats something and reports it.
type Probe = Box<dyn FnOnce() + Send>;

fn probes() -> &'static Mutex<HashMap<u64, Probe>> {
    static PROBES: OnceLock<Mutex<HashMap<u64, Probe>>> = OnceLock::new();
    PROBES.get_or_init(Default::default)
}

/// Runs the probe registered under `key`, waiting for it: a handle's probe can only be
/// registered once the handle exists, after the task was submitted.
#[concurrent]
fn run_probe(key: u64) {
    wait_until("the probe is registered", || {
        probes().lock().unwrap().contains_key(&key)
    });
    take_probe(key);
}

/// Runs the probe registered under `key`, if any: a periodic task runs it on the first tick that
/// finds it.
#[concurrent]
fn tick_probe(key: u64) {
    take_probe(key);
}

fn take_probe(key: u64) {
    let probe = probes().lock().unwrap().remove(&key);
    if let Some(probe) = probe {
        probe();
    }
}

/// Registers `probe` under `key`; the returned receiver gets what it returns once a
/// `run_probe(key)` task ran it.
fn inside_task(
    key: u64,
    probe: impl FnOnce() -> String + Send + 'static,
) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let probe: Probe = Box::new(move || {
        let _ = tx.send(probe());
    });
    probes().lock().unwrap().insert(key, probe);
    rx
}

/// Registers a probe that formats `value` under `key` (see [`inside_task`]).
fn format_inside<D: Debug + Send + Sync + 'static>(
    key: u64,
    value: &Arc<D>,
) -> mpsc::Receiver<String> {
    let value = Arc::clone(value);
    inside_task(key, move || format!("{value:?}"))
}

fn received(what: &str, rx: &mpsc::Receiver<String>) -> String {
    rx.recv_timeout(PATIENCE)
        .unwrap_or_else(|_| panic!("{what}: no answer within PATIENCE (deadlocked?)"))
}

/// Each handle or runner, formatted from inside the very task it runs (while the runtime has it
/// running), answers without deadlocking and says what it is and that it is not finished.
#[test]
fn debug_of_handles_and_runners_from_inside_their_own_task() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();

    let handle = Arc::new(pool.run(run_probe, (32_001,)));
    let inside = received("TaskHandle", &format_inside(32_001, &handle));
    let id = handle.id();
    assert_eq!(
        inside,
        format!("TaskHandle {{ task: {id:?}, finished: false }}")
    );

    let runner = Arc::new(pool.sequence_runner(Priority::High));
    let rx = format_inside(32_002, &runner);
    let handle = runner.execute(Task::new(run_probe, (32_002,)));
    let inside = received("SequenceRunner", &rx);
    assert!(
        inside.contains("SequenceRunner") && inside.contains("running: true"),
        "{inside}"
    );
    handle.wait().unwrap();

    let runner = Arc::new(pool.async_runner(1, 4).unwrap());
    let rx = format_inside(32_003, &runner);
    let handle = runner.execute(Task::new(run_probe, (32_003,)), Priority::Low);
    let inside = received("AsyncRunner", &rx);
    assert!(
        inside.contains("AsyncRunner") && inside.contains("running: 1"),
        "{inside}"
    );
    handle.wait().unwrap();

    let mut group = TaskGroup::new();
    group.add(run_probe, (32_004,)).unwrap();
    let handle = Arc::new(pool.execute_group(&group, Priority::Medium));
    let inside = received("GroupHandle", &format_inside(32_004, &handle));
    assert_eq!(inside, "GroupHandle { tasks: 1, finished: false }");

    let periodic = Arc::new(
        pool.execute_periodically(
            Duration::from_millis(1),
            Task::new(tick_probe, (32_005,)),
            Priority::Medium,
        )
        .unwrap(),
    );
    let inside = received("PeriodicHandle", &format_inside(32_005, &periodic));
    let id = periodic.id();
    assert!(
        inside.contains(&format!("task: {id:?}")) && inside.contains("stopped: false"),
        "{inside}"
    );
    periodic.cancel().unwrap();
}

fn api_lock() -> &'static AsyncLock<Vec<u32>> {
    static LOCK: OnceLock<AsyncLock<Vec<u32>>> = OnceLock::new();
    LOCK.get_or_init(|| AsyncLock::new(vec![1, 2]))
}

/// Takes [`api_lock`] and formats it and its guard while holding it, then holds it until `gate`
/// opens.
#[concurrent]
fn hold_api_lock(gate: u64) -> String {
    let guard = api_lock().lock();
    let text = format!("{:?} / {guard:?}", api_lock());
    support::pass_gate(gate);
    drop(guard);
    text
}

/// An `AsyncLock` formats while it is held (by the formatting task itself, by another task,
/// by another thread) without waiting for it: it says it is locked, and shows the value when
/// it can be read.
#[test]
fn debug_of_a_held_lock_does_not_wait_for_it() {
    const GATE: u64 = 32_101;
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let holder = pool.run(hold_api_lock, (GATE,));
    wait_until("the task holds the lock", || {
        !api_lock().state().held.is_empty()
    });
    let locked = bounded("format a held lock", || format!("{:?}", api_lock()));
    assert!(
        locked.contains("<locked>") && locked.contains("anonymous#"),
        "{locked}"
    );
    let rx = inside_task(32_102, || format!("{:?}", api_lock()));
    pool.run(run_probe, (32_102,)).wait().unwrap();
    assert_eq!(received("lock held by another task", &rx), locked);
    open_gate(GATE);
    let own = holder.wait().unwrap();
    assert_eq!(own, format!("{locked} / AsyncLockGuard([1, 2])"));

    let shared = api_lock().lock_shared();
    let readable = bounded("format a lock held shared", || format!("{:?}", api_lock()));
    assert!(readable.contains("value: [1, 2]"), "{readable}");
    assert_eq!(format!("{shared:?}"), "AsyncLockSharedGuard([1, 2])");
}

fn api_condvar() -> &'static ConditionVariable {
    static CONDVAR: OnceLock<ConditionVariable> = OnceLock::new();
    CONDVAR.get_or_init(ConditionVariable::new)
}

#[concurrent]
fn wait_on_api_condvar() -> bool {
    api_condvar().wait_for(PATIENCE)
}

/// A condition variable and an abort signal format while a task waits on them, and say so.
#[test]
fn debug_of_a_condvar_with_a_waiter() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let waiter = pool.run(wait_on_api_condvar, ());
    wait_until("the task waits", || api_condvar().waiters() == 1);
    let text = bounded("format a waited-on condvar", || {
        format!("{:?}", api_condvar())
    });
    assert_eq!(text, "ConditionVariable { waiters: 1 }");
    api_condvar().notify_all();
    assert!(waiter.wait().unwrap(), "notified before the timeout");

    let waiting = api_condvar().wait_async();
    assert_eq!(format!("{waiting:?}"), "CondvarWait { notified: false }");
    let waiting = api_condvar().wait_for_async(PATIENCE);
    assert_eq!(
        format!("{waiting:?}"),
        "CondvarWaitFor { outcome: None, .. }"
    );

    let signal = AbortSignal::new();
    signal.abort("enough");
    assert_eq!(
        format!("{signal:?}"),
        r#"AbortSignal { aborted: true, reason: Some("enough") }"#
    );
}

struct Blocker;

impl WorkerHandler for Blocker {
    type In = u64;
    type Out = String;

    async fn on_message(&mut self, gate: u64, port: &WorkerPort<String>) -> HandlerResult {
        support::pass_gate(gate);
        port.post_message(format!("{port:?}"))?;
        Ok(())
    }
}

/// A worker, its ref, its port and its message stream format while its handler is busy.
#[test]
fn debug_of_a_busy_worker() {
    const GATE: u64 = 32_201;
    let worker = Arc::new(
        Worker::builder()
            .name("api-shape")
            .spawn(|| Blocker)
            .unwrap(),
    );
    worker.post_message(GATE).unwrap();
    let busy = Arc::clone(&worker);
    let text = bounded("format a busy worker", move || {
        format!("{busy:?} {:?} {:?}", busy.worker_ref(), busy.messages())
    });
    assert!(
        text.contains(r#"name: "api-shape", running: true"#),
        "{text}"
    );
    assert!(
        text.contains(r#"WorkerRef { name: "api-shape" }"#),
        "{text}"
    );
    open_gate(GATE);
    let port = worker.recv().unwrap();
    assert_eq!(
        port,
        r#"WorkerPort { worker: "api-shape", closing: false }"#
    );
}

/// A task whose enqueue, start and success listeners each send what `describe` returns.
fn task_describing(
    describe: impl Fn() -> String + Send + Sync + 'static,
) -> (Task<u32>, mpsc::Receiver<String>) {
    let (tx, rx) = mpsc::channel();
    let listen = Arc::new(move || {
        let _ = tx.send(describe());
    });
    let task = Task::new(support::plain, (1,));
    let each = || {
        let listen = Arc::clone(&listen);
        move || listen()
    };
    task.on_enqueued(each()).unwrap();
    task.on_start_execution(each()).unwrap();
    task.on_execution_succeeded(each()).unwrap();
    (task, rx)
}

/// Listeners are user code the runtime calls while it enqueues, starts and settles a run: the
/// pool and the runner that runs the task format from each of them without deadlocking.
#[test]
fn debug_from_listeners_does_not_deadlock() {
    let pool = debug_pool();
    let sequence = Arc::new(pool.sequence_runner(Priority::Low));
    let runner = Arc::clone(&sequence);
    let (task, rx) = task_describing(move || format!("{:?} {runner:?}", debug_pool()));
    let handle = sequence.execute(task);
    bounded("a sequence runner task whose listeners format", move || {
        handle.wait()
    })
    .unwrap();
    let texts: Vec<String> = (0..3).map(|_| received("a listener", &rx)).collect();
    assert!(
        texts
            .iter()
            .all(|t| t.contains("TaskPool") && t.contains("SequenceRunner")),
        "{texts:?}"
    );

    let async_runner = Arc::new(pool.async_runner(1, 2).unwrap());
    let runner = Arc::clone(&async_runner);
    let (task, rx) = task_describing(move || format!("{:?} {runner:?}", debug_pool()));
    let handle = async_runner.execute(task, Priority::Low);
    bounded("an async runner task whose listeners format", move || {
        handle.wait()
    })
    .unwrap();
    let texts: Vec<String> = (0..3).map(|_| received("a listener", &rx)).collect();
    assert!(
        texts
            .iter()
            .all(|t| t.contains("TaskPool") && t.contains("AsyncRunner")),
        "{texts:?}"
    );
}

/// The obvious conversions: a value into its lock, a default into a shared handle, a default
/// builder into a default pool.
#[test]
fn obvious_conversions_exist() {
    let lock: AsyncLock<Vec<u32>> = vec![3].into();
    assert_eq!(*lock.lock(), [3]);
    let shared: Shared<AsyncLock<u32>> = Shared::default();
    assert_eq!(*shared.lock(), 0);
    let built = TaskPoolBuilder::default().build().unwrap();
    assert_eq!(built.max_threads(), default_max_threads());
}

/// A result that formats [`debug_pool`] and its snapshot when it is dropped.
#[derive(serde::Serialize, serde::Deserialize)]
struct Reporter(u64);

fn reporters() -> &'static Mutex<HashMap<u64, mpsc::Sender<String>>> {
    static REPORTERS: OnceLock<Mutex<HashMap<u64, mpsc::Sender<String>>>> = OnceLock::new();
    REPORTERS.get_or_init(Default::default)
}

impl Drop for Reporter {
    fn drop(&mut self) {
        let tx = reporters().lock().unwrap().remove(&self.0);
        if let Some(tx) = tx {
            let _ = tx.send(format!("{:?} {:?}", debug_pool(), debug_pool().info()));
        }
    }
}

#[concurrent]
fn report_after(gate: u64, key: u64) -> Reporter {
    support::pass_gate(gate);
    Reporter(key)
}

/// The result of a detached run is dropped by the pool thread that ends the run: formatting
/// the pool from that `Drop` does not deadlock.
#[test]
fn debug_from_the_drop_of_a_detached_result() {
    const GATE: u64 = 32_301;
    let (tx, rx) = mpsc::channel();
    reporters().lock().unwrap().insert(32_302, tx);
    let handle = debug_pool().run(report_after, (GATE, 32_302));
    wait_until_executing(debug_pool(), handle.id());
    drop(handle);
    open_gate(GATE);
    let text = received("the drop of a detached result", &rx);
    assert!(
        text.contains("TaskPool") && text.contains("TaskPoolInfo"),
        "{text}"
    );
}
