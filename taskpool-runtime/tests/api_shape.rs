//! The shape of the public API: auto traits, common traits and useful, deadlock-free `Debug`.
//!
//! Most checks are compile-time: a function below that names a bound on a type fails to build if
//! the type loses it. The runtime checks format the main types from inside running tasks and
//! while their internal locks are busy, each bounded so a deadlock fails instead of hanging.

mod support;

use std::collections::HashSet;
use std::error::Error as StdError;
use std::fmt::{Debug, Display};
use std::hash::Hash;
use std::sync::OnceLock;
use std::time::Duration;

use support::{bounded, hold, open_gate, wait_until_executing};
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

/// A payload type with no auto traits beyond `Send`, to show the bounds come from the API and
/// not from the payload.
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

fn lock_future<F: std::future::Future + Send + Debug>() {}

#[test]
fn shared_values_are_cheap_shared_handles() {
    for_cheap_shared_handle::<Shared<AsyncLock<P>>>();
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
    send::<TaskPoolInfo>();
    sync::<TaskPoolInfo>();
    clone::<TaskPoolInfo>();
    debug::<TaskPoolInfo>();
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
        let code = error.code().unwrap_or_else(|| panic!("{error:?} has a code"));
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
    let outside = bounded("format the pool from outside", || format!("{:?}", debug_pool()));
    assert!(outside.contains("TaskPool") && outside.contains("threads"), "{outside}");
    open_gate(GATE);
    let text = bounded("format the pool inside a task", move || inside.wait().unwrap());
    assert!(text.contains("TaskPool") && text.contains("Some(TaskId("), "{text}");
    busy.wait().unwrap();
}
