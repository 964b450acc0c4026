//! Resource accounting across the public API: every value a test creates — task arguments and
//! results, state captured by listeners and callbacks, worker messages and handler state, call
//! objects, values in locks, caches and `Shared` — is dropped once its owners are gone, in
//! every way a run can end (finished, canceled at each stage, abandoned, its pool dropped);
//! the threads of dropped pools and workers end; and the process-wide registries stay bounded
//! under churn.
//!
//! A [`Tracked`] value counts its creations (construction, clone, deserialization) and drops
//! per key; each test uses its own keys and its own thread-name prefix, so the tests of this
//! binary may run in parallel.

mod support;

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use support::{
    PATIENCE, hold, open_gate, pass_gate, plain, threads_named, wait_until, wait_until_executing,
    wait_until_suspended,
};
use taskpool::{
    AsyncLock, AsyncRunner, CallObject, Error, HandlerResult, LongTask, Priority, SendableLruCache,
    SequenceRunner, Shared, Task, TaskGroup, TaskPool, Worker, WorkerHandler, WorkerPort,
    concurrent, is_canceled, send_data, sleep,
};

// ---------------------------------------------------------------------------------------------
// The accounting.

/// Per key: how many values were created, how many dropped.
static BOOK: Mutex<BTreeMap<u32, (u64, u64)>> = Mutex::new(BTreeMap::new());

fn book() -> std::sync::MutexGuard<'static, BTreeMap<u32, (u64, u64)>> {
    BOOK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A value that counts its creations and drops under its key.
#[derive(Debug)]
struct Tracked(u32);

impl Tracked {
    fn new(key: u32) -> Tracked {
        book().entry(key).or_default().0 += 1;
        Tracked(key)
    }

    /// The key, through `&self`: a `move` closure calling this captures the whole value (one
    /// reading only the field `.0` would capture a copy of the field and leave the value out).
    fn key(&self) -> u32 {
        self.0
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Tracked {
        Tracked::new(self.0)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut book = book();
        let entry = book.entry(self.0).or_default();
        entry.1 += 1;
        // Safe code cannot drop a value twice; a count above the creations would mean it did.
        assert!(
            entry.1 <= entry.0,
            "value {} dropped more often than made",
            self.0
        );
    }
}

impl Serialize for Tracked {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Tracked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Tracked, D::Error> {
        u32::deserialize(deserializer).map(Tracked::new)
    }
}

/// How many values of `key` were created.
fn made(key: u32) -> u64 {
    book().get(&key).map_or(0, |e| e.0)
}

/// How many values of `key` are alive.
fn live(key: u32) -> u64 {
    book().get(&key).map_or(0, |e| e.0 - e.1)
}

/// Waits until every value of `key` ever created was dropped (at least one was created).
fn all_dropped(key: u32) {
    assert!(made(key) > 0, "no value {key} was created");
    wait_until(&format!("every value {key} was dropped"), || live(key) == 0);
}

/// Waits until no thread of this process is named with `prefix` (exited threads stay listed
/// briefly, so this waits rather than asserts).
fn no_threads(prefix: &str) {
    wait_until(&format!("the threads {prefix}* ended"), || {
        threads_named(prefix) == 0
    });
}

/// A pool of `max` threads named `<prefix>-…`.
fn pool(prefix: &str, max: usize) -> TaskPool {
    TaskPool::builder()
        .max_threads(max)
        .thread_name(prefix)
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Task functions.

#[concurrent]
fn keep(value: Tracked) -> Tracked {
    value
}

#[concurrent]
fn keep_after(gate: u64, value: Tracked) -> Tracked {
    pass_gate(gate);
    value
}

#[concurrent]
fn fail_with(value: Tracked) -> Result<Tracked, String> {
    Err(format!("refusing {}", value.0))
}

#[concurrent]
async fn keep_napping(value: Tracked) -> Tracked {
    sleep(Duration::from_secs(3600)).await;
    value
}

#[concurrent]
fn keep_until_canceled(value: Tracked) -> Tracked {
    while !is_canceled() {
        std::thread::sleep(Duration::from_millis(1));
    }
    value
}

/// Sends `count` values of `key`, then returns how many were received.
#[concurrent]
fn send_tracked(key: u32, count: u32) -> u32 {
    (0..count)
        .filter(|_| send_data(Tracked::new(key)).is_ok())
        .count() as u32
}

/// Sends `count` values of `key` after gate `gate` opens.
#[concurrent]
fn send_tracked_after(gate: u64, key: u32, count: u32) -> u32 {
    pass_gate(gate);
    (0..count)
        .filter(|_| send_data(Tracked::new(key)).is_ok())
        .count() as u32
}

// ---------------------------------------------------------------------------------------------
// Pools dropped with work inside.

/// A pool dropped while a task runs, others wait in the queue, one waits out a delay and one
/// is periodic: every argument and result is dropped once the handles go, and the pool's
/// threads end.
#[test]
fn a_pool_dropped_with_running_waiting_delayed_and_periodic_work_drops_everything() {
    const K: u32 = 100;
    let prefix = "lk-drop-pool";
    let pool = pool(prefix, 1);
    let running = pool.execute(Task::new(keep_after, (40_100, Tracked::new(K))));
    wait_until_executing(&pool, running.id());
    let waiting: Vec<_> = (0..5)
        .map(|_| pool.execute(Task::new(keep, (Tracked::new(K),))))
        .collect();
    let delayed = pool.execute_delayed(
        Duration::from_secs(3600),
        Task::new(keep, (Tracked::new(K),)),
        Priority::Low,
    );
    let periodic = pool
        .execute_periodically(
            Duration::from_secs(3600),
            Task::new(keep, (Tracked::new(K),)),
            Priority::Low,
        )
        .unwrap();
    let dropper = std::thread::spawn(move || drop(pool));
    open_gate(40_100);
    dropper.join().unwrap();
    drop((running, waiting, delayed, periodic));
    all_dropped(K);
    no_threads(prefix);
}

/// The same with `shutdown_timeout` while the running task outlasts it.
#[test]
fn a_pool_shut_down_with_a_timeout_drops_everything_once_its_last_run_ends() {
    const K: u32 = 110;
    let prefix = "lk-shut-pool";
    let pool = pool(prefix, 2);
    let running = pool.execute(Task::new(keep_after, (40_110, Tracked::new(K))));
    wait_until_executing(&pool, running.id());
    let waiting: Vec<_> = (0..5)
        .map(|n| {
            pool.execute(Task::new(keep_after, (40_110, Tracked::new(K))).with_name(format!("{n}")))
        })
        .collect();
    pool.shutdown_timeout(Duration::from_millis(20));
    open_gate(40_110);
    drop((running, waiting));
    all_dropped(K);
    no_threads(prefix);
}

/// Handles dropped unawaited, in every state: the results are dropped as the runs end.
#[test]
fn handles_dropped_unawaited_drop_their_results() {
    const K: u32 = 120;
    let prefix = "lk-unawaited";
    let pool = pool(prefix, 2);
    for _ in 0..50 {
        drop(pool.execute(Task::new(keep, (Tracked::new(K),))));
        drop(pool.execute_delayed(
            Duration::from_millis(1),
            Task::new(keep, (Tracked::new(K),)),
            Priority::High,
        ));
    }
    all_dropped(K);
    assert_eq!(pool.run(plain, (1,)).wait().unwrap(), 1);
    drop(pool);
    no_threads(prefix);
}

// ---------------------------------------------------------------------------------------------
// Canceled at each stage, the pool alive: the values go at the cancel, not with the pool.

/// Canceled while waiting in the queue (it then stays listed among the recently canceled).
#[test]
fn a_task_canceled_while_waiting_drops_its_argument_while_the_pool_lives() {
    const K: u32 = 200;
    let prefix = "lk-cancel-wait";
    let pool = pool(prefix, 1);
    let blocker = pool.run(hold, (40_200,));
    wait_until_executing(&pool, blocker.id());
    let mut handles: Vec<_> = (0..20)
        .map(|_| pool.execute(Task::new(keep, (Tracked::new(K),))))
        .collect();
    for handle in &handles {
        handle.cancel().unwrap();
    }
    for handle in &mut handles {
        assert!(matches!(
            handle.wait_timeout(PATIENCE),
            Some(Err(Error::Canceled { .. }))
        ));
    }
    drop(handles);
    all_dropped(K);
    open_gate(40_200);
    blocker.wait().unwrap();
    drop(pool);
    no_threads(prefix);
}

/// Canceled during its delay.
#[test]
fn a_delayed_task_canceled_during_its_delay_drops_its_argument() {
    const K: u32 = 210;
    let prefix = "lk-cancel-delay";
    let pool = pool(prefix, 1);
    let handles: Vec<_> = (0..10)
        .map(|_| {
            pool.execute_delayed(
                Duration::from_secs(3600),
                Task::new(keep, (Tracked::new(K),)),
                Priority::Medium,
            )
        })
        .collect();
    for handle in handles {
        pool.cancel(handle.id()).unwrap();
        assert!(matches!(handle.wait(), Err(Error::Canceled { .. })));
    }
    all_dropped(K);
    drop(pool);
    no_threads(prefix);
}

/// Delayed tasks whose handles are dropped during the delay, then the pool: dropped.
#[test]
fn delayed_tasks_abandoned_during_the_delay_go_with_their_pool() {
    const K: u32 = 215;
    let prefix = "lk-abandon-delay";
    let pool = pool(prefix, 1);
    for _ in 0..10 {
        drop(pool.execute_delayed(
            Duration::from_secs(3600),
            Task::new(keep, (Tracked::new(K),)),
            Priority::Medium,
        ));
    }
    drop(pool);
    all_dropped(K);
    no_threads(prefix);
}

/// Held back by a dependency: canceled, or its dependency failed or canceled, or never
/// executed at all.
#[test]
fn tasks_held_by_a_dependency_drop_their_arguments_however_they_end() {
    const K: u32 = 220;
    let prefix = "lk-dep";
    let pool = pool(prefix, 2);

    // Canceled while its dependency runs.
    let first = Task::new(hold, (40_220,));
    let second = Task::new(keep, (Tracked::new(K),));
    second.add_dependency(&first).unwrap();
    let first = pool.execute(first);
    let second = pool.execute(second);
    second.cancel().unwrap();
    assert!(matches!(second.wait(), Err(Error::Canceled { .. })));
    all_dropped(K);
    open_gate(40_220);
    first.wait().unwrap();

    // Its dependency fails.
    let failing = Task::new(fail_with, (Tracked::new(K + 1),));
    let dependent = Task::new(keep, (Tracked::new(K + 1),));
    dependent.add_dependency(&failing).unwrap();
    let dependent = pool.execute(dependent);
    assert!(pool.execute(failing).wait().is_err());
    assert!(dependent.wait().is_err());
    all_dropped(K + 1);

    // Its dependency is canceled while waiting in its delay.
    let delayed = Task::new(keep, (Tracked::new(K + 2),));
    let dependent = Task::new(keep, (Tracked::new(K + 2),));
    dependent.add_dependency(&delayed).unwrap();
    let dependent = pool.execute(dependent);
    let delayed = pool.execute_delayed(Duration::from_secs(3600), delayed, Priority::Medium);
    delayed.cancel().unwrap();
    assert!(dependent.wait().is_err());
    drop(delayed);
    all_dropped(K + 2);

    // Executed, but its dependency never is: the dependency is dropped unexecuted.
    let never = Task::new(keep, (Tracked::new(K + 3),));
    let dependent = Task::new(keep, (Tracked::new(K + 3),));
    dependent.add_dependency(&never).unwrap();
    let dependent = pool.execute(dependent);
    drop(never);
    // The dependent still waits (nothing settles it) or failed: either way, once its handle
    // and the pool go, nothing of it is left.
    drop(dependent);
    drop(pool);
    all_dropped(K + 3);
    no_threads(prefix);
}

/// Queued in a runner behind a running task: canceled, displaced, or the runner and its pool
/// dropped.
#[test]
fn tasks_queued_in_runners_drop_their_arguments_however_they_end() {
    const K: u32 = 230;
    let prefix = "lk-runner";
    let pool = pool(prefix, 2);

    let sequence = pool.sequence_runner(Priority::Medium);
    let first = sequence.execute(Task::new(hold, (40_230,)));
    let queued: Vec<_> = (0..5)
        .map(|_| sequence.execute(Task::new(keep, (Tracked::new(K),))))
        .collect();
    for handle in &queued {
        handle.cancel().unwrap();
    }
    drop(queued);
    all_dropped(K);

    let runner = pool.async_runner(1, 2).unwrap();
    let busy = runner.execute(Task::new(hold, (40_230,)), Priority::Medium);
    let waiting: Vec<_> = (0..5)
        .map(|_| runner.execute(Task::new(keep, (Tracked::new(K + 1),)), Priority::Medium))
        .collect();
    // Three were displaced (waiting capacity 2); cancel the other two.
    for handle in &waiting {
        let _ = handle.cancel();
    }
    drop(waiting);
    all_dropped(K + 1);

    // Queued, then the runners and the pool are dropped while the first tasks still run.
    let left_behind: Vec<_> = (0..3)
        .map(|_| sequence.execute(Task::new(keep, (Tracked::new(K + 2),))))
        .chain(
            (0..2).map(|_| runner.execute(Task::new(keep, (Tracked::new(K + 2),)), Priority::Low)),
        )
        .collect();
    drop((sequence, runner));
    let dropper = std::thread::spawn(move || drop(pool));
    open_gate(40_230);
    dropper.join().unwrap();
    drop((first, busy, left_behind));
    all_dropped(K + 2);
    no_threads(prefix);
}

/// Canceled while suspended at an `.await`, and while running.
#[test]
fn tasks_canceled_while_suspended_or_running_drop_their_state() {
    const K: u32 = 240;
    let prefix = "lk-cancel-run";
    let pool = pool(prefix, 2);
    let napping = pool.execute(Task::new(keep_napping, (Tracked::new(K),)));
    wait_until_suspended(&pool, napping.id());
    napping.cancel().unwrap();
    assert!(matches!(napping.wait(), Err(Error::Canceled { .. })));
    all_dropped(K);

    let running = pool.execute(Task::new(keep_until_canceled, (Tracked::new(K + 1),)));
    wait_until_executing(&pool, running.id());
    running.cancel().unwrap();
    let _ = running.wait();
    all_dropped(K + 1);

    // Suspended, and its handle dropped: it stays suspended until the pool goes.
    let abandoned = pool.execute(Task::new(keep_napping, (Tracked::new(K + 2),)));
    wait_until_suspended(&pool, abandoned.id());
    drop(abandoned);
    drop(pool);
    all_dropped(K + 2);
    no_threads(prefix);
}

// ---------------------------------------------------------------------------------------------
// Periodic tasks.

/// A periodic task whose handle is dropped without a cancel keeps ticking (as in ArkTS) until
/// its pool goes; then each run's copy of the argument and its template are dropped. A
/// periodic task canceled through the pool drops them at once.
#[test]
fn periodic_tasks_drop_their_template_when_canceled_or_with_their_pool() {
    const K: u32 = 300;
    let prefix = "lk-periodic";
    let pool = pool(prefix, 2);
    let canceled = pool
        .execute_periodically(
            Duration::from_millis(1),
            Task::new(keep, (Tracked::new(K),)),
            Priority::High,
        )
        .unwrap();
    wait_until("three ticks", || canceled.runs_started() >= 3);
    pool.cancel(canceled.id()).unwrap();
    wait_until("the periodic task stopped", || canceled.is_stopped());
    drop(canceled);
    all_dropped(K);

    drop(
        pool.execute_periodically(
            Duration::from_millis(1),
            Task::new(keep, (Tracked::new(K + 1),)),
            Priority::High,
        )
        .unwrap(),
    );
    wait_until("a few runs of the abandoned periodic task", || {
        made(K + 1) >= 4
    });
    drop(pool);
    all_dropped(K + 1);
    no_threads(prefix);
}

// ---------------------------------------------------------------------------------------------
// Listeners and data.

/// Registers every listener of `task`, each capturing a value of `key`.
fn listen_all<T>(task: &Task<T>, key: u32) {
    let v = Tracked::new(key);
    task.on_enqueued(move || assert_eq!(v.key(), key)).unwrap();
    let v = Tracked::new(key);
    task.on_start_execution(move || assert_eq!(v.key(), key))
        .unwrap();
    let v = Tracked::new(key);
    task.on_execution_succeeded(move || assert_eq!(v.key(), key))
        .unwrap();
    let v = Tracked::new(key);
    task.on_execution_failed(move |_| assert_eq!(v.key(), key))
        .unwrap();
    let v = Tracked::new(key);
    task.on_receive_data(move |_: Tracked| assert_eq!(v.key(), key));
}

/// Listeners of tasks never executed, executed once, executed by reference several times,
/// replaced, and of a failing task: all dropped once the task and its runs are gone.
#[test]
fn listeners_and_their_captured_state_are_dropped_with_the_task() {
    const K: u32 = 400;
    let prefix = "lk-listen";
    let pool = pool(prefix, 2);

    let never = Task::new(keep, (Tracked::new(K),));
    listen_all(&never, K);
    assert_eq!(live(K), 6, "the argument and five listeners' captures");
    listen_all(&never, K); // replaces every one
    assert_eq!(live(K), 6, "the replaced listeners were dropped");
    drop(never);
    all_dropped(K);

    let once = Task::new(send_tracked, (K + 1, 5));
    listen_all(&once, K + 1);
    assert_eq!(pool.execute(once).wait().unwrap(), 5);
    all_dropped(K + 1);

    let again = Task::new(keep, (Tracked::new(K + 2),));
    listen_all(&again, K + 2);
    for _ in 0..5 {
        drop(pool.execute(&again).wait().unwrap());
    }
    assert!(made(K + 2) >= 11, "each run copies the argument");
    drop(again);
    all_dropped(K + 2);

    let failing = Task::new(fail_with, (Tracked::new(K + 3),));
    listen_all(&failing, K + 3);
    assert!(pool.execute(failing).wait().is_err());
    all_dropped(K + 3);

    // Executed by reference, its handle dropped, and the task dropped while the run waits.
    let blocker = pool.run(hold, (40_400,));
    let blocker2 = pool.run(hold, (40_400,));
    wait_until_executing(&pool, blocker.id());
    wait_until_executing(&pool, blocker2.id());
    let queued = Task::new(keep, (Tracked::new(K + 4),));
    listen_all(&queued, K + 4);
    drop(pool.execute(&queued));
    drop(queued);
    open_gate(40_400);
    drop((blocker.wait(), blocker2.wait()));
    all_dropped(K + 4);

    drop(pool);
    no_threads(prefix);
}

/// A long task's listeners and argument are dropped when it is terminated, and when it is
/// never executed.
#[test]
fn a_long_task_s_listeners_go_when_it_is_terminated_or_dropped() {
    const K: u32 = 410;
    let prefix = "lk-long";
    let pool = pool(prefix, 2);
    let long = LongTask::new(keep, (Tracked::new(K),));
    let v = Tracked::new(K);
    long.on_enqueued(move || assert_eq!(v.key(), K)).unwrap();
    let v = Tracked::new(K);
    long.on_receive_data(move |_: u32| assert_eq!(v.key(), K));
    let handle = pool.execute(long);
    let id = handle.id();
    drop(handle.wait().unwrap());
    pool.terminate_task(id).unwrap();
    all_dropped(K);

    let never = LongTask::new(keep, (Tracked::new(K + 1),));
    let v = Tracked::new(K + 1);
    never
        .on_execution_succeeded(move || assert_eq!(v.key(), K + 1))
        .unwrap();
    drop(never);
    all_dropped(K + 1);
    drop(pool);
    no_threads(prefix);
}

/// A data stream dropped part-way: the values already delivered to it and those sent after
/// are dropped; so are values sent to a callback.
#[test]
fn data_streams_dropped_mid_way_drop_every_value() {
    const K: u32 = 420;
    let prefix = "lk-stream";
    let pool = pool(prefix, 2);
    let task = Task::new(send_tracked_after, (40_420, K, 200));
    let mut stream = task.data_stream::<Tracked>();
    let handle = pool.execute(task);
    open_gate(40_420);
    for _ in 0..3 {
        drop(stream.next_blocking().unwrap());
    }
    drop(stream);
    handle.wait().unwrap();
    all_dropped(K);

    // Values queued in a stream never read.
    let task = Task::new(send_tracked, (K + 1, 50));
    let stream = task.data_stream::<Tracked>();
    assert_eq!(pool.execute(task).wait().unwrap(), 50);
    drop(stream);
    all_dropped(K + 1);

    // Values sent to a callback, and the callback's state.
    let task = Task::new(send_tracked, (K + 2, 50));
    let v = Tracked::new(K + 2);
    task.on_receive_data(move |value: Tracked| assert_eq!(value.0, v.key()));
    assert_eq!(pool.execute(task).wait().unwrap(), 50);
    drop(pool);
    all_dropped(K + 2);
    no_threads(prefix);
}

// ---------------------------------------------------------------------------------------------
// Groups.

/// A group executed several times, canceled, and dropped: its members' arguments and every
/// run's copies go.
#[test]
fn group_members_and_their_copies_are_dropped() {
    const K: u32 = 500;
    let prefix = "lk-group";
    let pool = pool(prefix, 2);
    let mut group = TaskGroup::new();
    for _ in 0..4 {
        group.add(keep, (Tracked::new(K),)).unwrap();
    }
    for _ in 0..3 {
        assert_eq!(
            pool.execute_group(&group, Priority::Medium)
                .wait()
                .unwrap()
                .len(),
            4
        );
    }
    let blocker = pool.run(hold, (40_500,));
    let blocker2 = pool.run(hold, (40_500,));
    wait_until_executing(&pool, blocker.id());
    wait_until_executing(&pool, blocker2.id());
    let canceled = pool.execute_group(&group, Priority::Low);
    canceled.cancel().unwrap();
    drop(canceled);
    drop(pool.execute_group(&group, Priority::Low)); // abandoned
    drop(group);
    open_gate(40_500);
    drop((blocker.wait(), blocker2.wait()));
    drop(pool);
    all_dropped(K);
    no_threads(prefix);
}

// ---------------------------------------------------------------------------------------------
// Workers.

/// A handler holding a tracked value; it counts messages and replies with them.
struct Keeper {
    _state: Tracked,
    gate: Option<u64>,
}

impl WorkerHandler for Keeper {
    type In = Tracked;
    type Out = Tracked;

    async fn on_message(&mut self, message: Tracked, port: &WorkerPort<Tracked>) -> HandlerResult {
        if let Some(gate) = self.gate.take() {
            pass_gate(gate);
        }
        port.post_message(message)?;
        Ok(())
    }
}

/// Spawns a worker named `name` with every callback and a call object capturing `key`.
fn tracked_worker(name: &str, key: u32, gate: Option<u64>) -> Worker<Tracked, Tracked> {
    let state = Tracked::new(key);
    let worker = Worker::builder()
        .name(name)
        .spawn(move || Keeper {
            _state: state,
            gate,
        })
        .unwrap();
    let v = Tracked::new(key);
    worker.on_message(move |m: Tracked| assert_eq!(m.0, v.key()));
    let v = Tracked::new(key);
    worker.on_exit(move |_| assert_eq!(v.key(), key));
    let v = Tracked::new(key);
    worker.on_error(move |_| assert_eq!(v.key(), key));
    let v = Tracked::new(key);
    worker.on_all_errors(move |_| assert_eq!(v.key(), key));
    let v = Tracked::new(key);
    worker.on_message_error(move |_| assert_eq!(v.key(), key));
    let object =
        CallObject::new(Tracked::new(key)).method("id", |state: &mut Tracked, _: u32| state.0);
    worker
        .register_global_call_object("tracked", object)
        .unwrap();
    worker
}

/// Workers dropped, terminated and closed with messages queued: the handler's state, the
/// messages, the callbacks and the call objects are dropped, and the worker's threads end.
#[test]
fn workers_ending_every_way_with_messages_queued_drop_everything() {
    // Dropped while its handler is busy and messages wait.
    const K: u32 = 600;
    let worker = tracked_worker("lkw-dropped", K, Some(40_600));
    for _ in 0..10 {
        worker.post_message(Tracked::new(K)).unwrap();
    }
    let dropper = std::thread::spawn(move || drop(worker));
    open_gate(40_600);
    dropper.join().unwrap();
    all_dropped(K);
    no_threads("lkw-dropped");

    // Terminated, then dropped.
    let worker = tracked_worker("lkw-terminated", K + 1, Some(40_601));
    for _ in 0..10 {
        worker.post_message(Tracked::new(K + 1)).unwrap();
    }
    worker.terminate().unwrap();
    open_gate(40_601);
    assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(0));
    drop(worker);
    all_dropped(K + 1);
    no_threads("lkw-terminated");

    // Replies never received, and the worker closed by itself after serving.
    struct Closer(Tracked);
    impl WorkerHandler for Closer {
        type In = Tracked;
        type Out = Tracked;
        async fn on_message(&mut self, m: Tracked, port: &WorkerPort<Tracked>) -> HandlerResult {
            port.post_message(m)?;
            port.post_message(self.0.clone())?;
            port.close()?;
            Ok(())
        }
    }
    let state = Tracked::new(K + 2);
    let worker = Worker::builder()
        .name("lkw-closed")
        .spawn(move || Closer(state))
        .unwrap();
    for _ in 0..10 {
        let _ = worker.post_message(Tracked::new(K + 2));
    }
    assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(0));
    // Posting after the close is refused; the refused message is dropped.
    assert!(worker.post_message(Tracked::new(K + 2)).is_err());
    drop(worker);
    all_dropped(K + 2);
    no_threads("lkw-closed");
}

/// Call objects replaced and unregistered are dropped at once; the rest when the worker goes.
#[test]
fn call_objects_replaced_or_unregistered_are_dropped() {
    const K: u32 = 610;
    let worker = tracked_worker("lkw-objects", K + 1, None);
    for _ in 0..20 {
        let object = CallObject::new(Tracked::new(K)).method("id", |s: &mut Tracked, _: u32| s.0);
        worker
            .register_global_call_object("replaced", object)
            .unwrap();
    }
    worker
        .unregister_global_call_object(Some("replaced"))
        .unwrap();
    all_dropped(K);
    worker.clear_callbacks();
    drop(worker);
    all_dropped(K + 1);
    no_threads("lkw-objects");
}

// ---------------------------------------------------------------------------------------------
// Shared values, locks, caches.

/// A sendable value holding a tracked one.
#[taskpool::sendable]
struct Held {
    value: Tracked,
}

#[concurrent]
fn read_shared(held: Shared<Held>) -> u32 {
    held.value.0
}

/// A `Shared` value passed to tasks (by value and by reference, re-run) is dropped with its
/// last handle; a lock's value with the lock; a cache's entries when evicted, removed, cleared
/// or dropped.
#[test]
fn shared_values_locks_and_cache_entries_are_dropped() {
    const K: u32 = 700;
    let prefix = "lk-shared";
    let pool = pool(prefix, 2);
    let shared = Shared::new(Held {
        value: Tracked::new(K),
    });
    let task = Task::new(read_shared, (shared.clone(),));
    for _ in 0..3 {
        assert_eq!(pool.execute(&task).wait().unwrap(), K);
    }
    assert_eq!(pool.run(read_shared, (shared.clone(),)).wait().unwrap(), K);
    drop((task, shared));
    all_dropped(K);
    assert_eq!(made(K), 1, "a Shared is never copied");

    let lock = AsyncLock::new(Tracked::new(K + 1));
    *lock.lock() = Tracked::new(K + 1);
    drop(lock.lock_shared());
    drop(lock);
    all_dropped(K + 1);

    let cache: SendableLruCache<u32, Tracked> =
        SendableLruCache::with_capacity(NonZeroUsize::new(4).unwrap());
    for n in 0..20 {
        drop(cache.put(n % 7, Tracked::new(K + 2)));
        drop(cache.get(&(n % 5)));
        drop(cache.get_or_create(n + 100, |_| Some(Tracked::new(K + 2))));
    }
    drop(cache.remove(&3));
    cache.update_capacity(NonZeroUsize::new(1).unwrap());
    assert!(cache.len() <= 1);
    drop(cache.values());
    cache.clear();
    assert_eq!(live(K + 2), 0);
    cache.put(1, Tracked::new(K + 2));
    drop(cache);
    all_dropped(K + 2);
    drop(pool);
    no_threads(prefix);
}

// ---------------------------------------------------------------------------------------------
// Registries under churn.

/// Named locks and condition variables requested and dropped 10 000 times: the live list
/// (`query_all`) does not keep them, and an old name is found no more.
#[test]
fn named_lock_churn_leaves_nothing_behind() {
    let before = AsyncLock::query_all().len();
    for n in 0..10_000 {
        let lock = AsyncLock::request(&format!("lk-churn-{n}"));
        drop(lock.lock());
        drop(taskpool::ConditionVariable::request(&format!(
            "lk-churn-{n}"
        )));
    }
    assert!(AsyncLock::query("lk-churn-0").is_err());
    let after = AsyncLock::query_all().len();
    // Other tests of this binary may hold a few locks meanwhile.
    assert!(
        after <= before + 16,
        "{before} live locks before, {after} after the churn"
    );
}

/// A named runner lives as long as a handle to it or a task in it does, as ArkTS's global
/// runners (reference-counted, destroyed with their last reference): a name dropped and
/// requested again makes a new runner, so 10 000 short-lived names do not pile up.
#[test]
fn named_runners_are_released_with_their_last_handle() {
    for n in 0..10_000 {
        drop(SequenceRunner::named(
            &format!("lk-seq-{n}"),
            Priority::High,
        ));
        drop(AsyncRunner::named(&format!("lk-async-{n}"), 2, 0).unwrap());
    }
    // Released: a new creation takes the new parameters.
    drop(SequenceRunner::named("lk-seq-0", Priority::High));
    assert_eq!(
        SequenceRunner::named("lk-seq-0", Priority::Low).priority(),
        Priority::Low
    );
    drop(AsyncRunner::named("lk-async-0", 2, 0).unwrap());
    assert_eq!(
        AsyncRunner::named("lk-async-0", 3, 0)
            .unwrap()
            .running_capacity(),
        3
    );
    // Alive: the same runner.
    let kept = SequenceRunner::named("lk-seq-kept", Priority::High);
    assert_eq!(
        SequenceRunner::named("lk-seq-kept", Priority::Low).priority(),
        Priority::High
    );
    drop(kept);
}

/// A named runner with a task still queued in it, all handles to the runner dropped: the
/// name still gives that runner, so the order holds.
#[test]
fn a_named_runner_with_queued_tasks_stays_the_same_runner_without_handles() {
    let runner = SequenceRunner::named("lk-seq-busy", Priority::High);
    let first = runner.execute(Task::new(hold, (40_800,)));
    wait_until("the first task runs", || {
        TaskPool::global()
            .info()
            .threads
            .iter()
            .any(|t| t.task_ids.contains(&first.id()))
    });
    let queued = runner.execute(Task::new(plain, (8,)));
    drop(runner);
    let again = SequenceRunner::named("lk-seq-busy", Priority::Low);
    assert_eq!(
        again.priority(),
        Priority::High,
        "the queued task keeps it alive"
    );
    let third = again.execute(Task::new(plain, (9,)));
    drop(again);
    open_gate(40_800);
    assert_eq!(first.wait().unwrap(), 40_800);
    assert_eq!(queued.wait().unwrap(), 8);
    assert_eq!(third.wait().unwrap(), 9);

    let runner = AsyncRunner::named("lk-async-busy", 1, 0).unwrap();
    let first = runner.execute(Task::new(hold, (40_801,)), Priority::High);
    let queued = runner.execute(Task::new(plain, (8,)), Priority::High);
    drop(runner);
    let again = AsyncRunner::named("lk-async-busy", 5, 0).unwrap();
    assert_eq!(
        again.running_capacity(),
        1,
        "the queued task keeps it alive"
    );
    drop(again);
    open_gate(40_801);
    assert_eq!(first.wait().unwrap(), 40_801);
    assert_eq!(queued.wait().unwrap(), 8);
}

/// 10 000 tasks with dependencies dropped without executing, and 10 000 canceled while
/// waiting: their arguments go, and `info()` lists at most the recently canceled.
#[test]
fn dependency_and_cancel_churn_leaves_nothing_behind() {
    const K: u32 = 900;
    let prefix = "lk-churn";
    let pool = pool(prefix, 1);
    for _ in 0..10_000 {
        let a = Task::new(keep, (Tracked::new(K),));
        let b = Task::new(keep, (Tracked::new(K),));
        b.add_dependency(&a).unwrap();
        // Dropped unexecuted, dependent first or dependency first.
        if made(K) % 4 == 0 {
            drop((a, b));
        } else {
            drop((b, a));
        }
    }
    all_dropped(K);
    let blocker = pool.run(hold, (40_900,));
    wait_until_executing(&pool, blocker.id());
    for _ in 0..10_000 {
        let handle = pool.execute(Task::new(keep, (Tracked::new(K + 1),)));
        handle.cancel().unwrap();
    }
    all_dropped(K + 1);
    let listed = pool.info().tasks.len();
    assert!(listed <= 17, "{listed} tasks listed");
    open_gate(40_900);
    blocker.wait().unwrap();
    let counters = pool.info().counters;
    assert_eq!(counters.canceled, 10_000);
    drop(pool);
    no_threads(prefix);
}

/// 1 000 periodic tasks started and canceled, and 10 000 delayed ones canceled: nothing stays
/// listed, every template is dropped, and no timer thread is left per task.
#[test]
fn periodic_and_delayed_churn_leaves_nothing_behind() {
    const K: u32 = 910;
    let prefix = "lk-timers";
    let pool = pool(prefix, 2);
    for _ in 0..1_000 {
        let periodic = pool
            .execute_periodically(
                Duration::from_millis(1),
                Task::new(keep, (Tracked::new(K),)),
                Priority::Medium,
            )
            .unwrap();
        periodic.cancel().unwrap();
    }
    for _ in 0..10_000 {
        let delayed = pool.execute_delayed(
            Duration::from_secs(3600),
            Task::new(keep, (Tracked::new(K + 1),)),
            Priority::Medium,
        );
        delayed.cancel().unwrap();
    }
    all_dropped(K);
    all_dropped(K + 1);
    wait_until("only the recently canceled are listed", || {
        pool.info().tasks.len() <= 16
    });
    assert!(
        threads_named(prefix) <= 2 + 4,
        "threads: {}",
        threads_named(prefix)
    );
    drop(pool);
    no_threads(prefix);
}

/// 10 000 short tasks on the global pool, their handles dropped or awaited: `info()` does not
/// keep them.
#[test]
fn global_pool_churn_leaves_nothing_listed() {
    const K: u32 = 920;
    let global = TaskPool::global();
    for n in 0..10_000 {
        let handle = global.execute(Task::new(keep, (Tracked::new(K),)).with_name("lk-global"));
        if n % 2 == 0 {
            drop(handle);
        } else {
            drop(handle.wait().unwrap());
        }
    }
    all_dropped(K);
    wait_until("the churn left the global pool's list", || {
        !global.info().tasks.iter().any(|t| t.name == "lk-global")
    });
}

/// A task executed with a dependency that is then dropped unexecuted: its handle resolves (the
/// dependency can never run) rather than staying pending, and nothing of either is left.
#[test]
fn a_dependent_whose_dependency_is_dropped_unexecuted_resolves_and_drops_everything() {
    const K: u32 = 930;
    let prefix = "lk-dep-gone";
    let pool = pool(prefix, 1);
    let never = Task::new(keep, (Tracked::new(K),));
    let dependent = Task::new(keep, (Tracked::new(K),));
    dependent.add_dependency(&never).unwrap();
    let mut dependent = pool.execute(dependent);
    drop(never);
    assert!(matches!(
        dependent.wait_timeout(PATIENCE),
        Some(Err(Error::DependencyFailed { .. }))
    ));
    drop(dependent);
    all_dropped(K);
    drop(pool);
    no_threads(prefix);
}

/// A worker handler suspended at an `.await`, and futures it spawned with `spawn_local`, each
/// holding a value: terminating or dropping the worker drops them all.
#[test]
fn a_worker_s_suspended_handler_and_local_futures_are_dropped_when_it_ends() {
    const K: u32 = 940;
    struct Sleeper;
    impl WorkerHandler for Sleeper {
        type In = Tracked;
        type Out = u32;
        async fn on_message(&mut self, m: Tracked, port: &WorkerPort<u32>) -> HandlerResult {
            for _ in 0..3 {
                let held = Tracked::new(m.key());
                port.spawn_local(async move {
                    sleep(Duration::from_secs(3600)).await;
                    drop(held);
                    Ok(())
                });
            }
            port.post_message(m.key())?;
            sleep(Duration::from_secs(3600)).await;
            drop(m);
            Ok(())
        }
    }
    for (at, terminate) in [(0u32, true), (1, false)] {
        let key = K + at;
        let name = format!("lkw-sleeper{at}");
        let worker = Worker::builder().name(&name).spawn(|| Sleeper).unwrap();
        worker.post_message(Tracked::new(key)).unwrap();
        worker.post_message(Tracked::new(key)).unwrap(); // queued behind the sleeping one
        assert_eq!(worker.recv_timeout(PATIENCE), Ok(key));
        wait_until("the local futures were spawned", || made(key) >= 5);
        if terminate {
            worker.terminate().unwrap();
            assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(0));
        }
        drop(worker);
        all_dropped(key);
        no_threads(&name);
    }
}

/// 200 workers spawned and dropped, and 100 pools built, used and dropped: the live-worker
/// count returns, and every thread they started ends.
#[test]
fn worker_and_pool_churn_leaves_no_thread_behind() {
    const K: u32 = 950;
    for n in 0..200 {
        let worker = tracked_worker("lkw-churn", K, None);
        if n % 2 == 0 {
            // The reply goes to the `on_message` callback (or is dropped with the worker).
            worker.post_message(Tracked::new(K)).unwrap();
        }
        drop(worker);
    }
    all_dropped(K);
    no_threads("lkw-churn");
    for n in 0..100 {
        let pool = pool("lk-pool-churn", 2);
        let handle = pool.execute(Task::new(keep, (Tracked::new(K + 1),)));
        if n % 2 == 0 {
            drop(handle.wait().unwrap());
        }
        drop(pool);
    }
    all_dropped(K + 1);
    no_threads("lk-pool-churn");
}

/// 10 000 `sleep` futures of an hour polled once and dropped, on a pool and outside: the
/// values they hold go at once, and the pool goes on.
#[test]
fn dropped_sleeps_release_what_they_hold() {
    const K: u32 = 960;
    #[concurrent]
    async fn napping_then_give_up(value: Tracked) -> u32 {
        let nap = sleep(Duration::from_secs(3600));
        let mut nap = std::pin::pin!(nap);
        let ready = futures::poll!(nap.as_mut()).is_ready();
        value.key() + u32::from(ready)
    }
    let prefix = "lk-sleeps";
    let pool = pool(prefix, 2);
    let handles: Vec<_> = (0..10_000)
        .map(|_| pool.execute(Task::new(napping_then_give_up, (Tracked::new(K),))))
        .collect();
    for handle in handles {
        assert_eq!(handle.wait().unwrap(), K);
    }
    all_dropped(K);
    drop(pool);
    no_threads(prefix);
}

/// A long task left holding its thread (never terminated), and a run that timed out while
/// its call still runs: when the pool goes, their values are dropped once the calls return,
/// and every thread ends.
#[test]
fn long_tasks_never_terminated_and_timed_out_runs_go_with_their_pool() {
    const K: u32 = 970;
    let prefix = "lk-long-kept";
    let pool = TaskPool::builder()
        .max_threads(2)
        .thread_name(prefix)
        .time_limit(Duration::from_millis(30))
        .check_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    let long = pool.execute(LongTask::new(keep, (Tracked::new(K),)));
    drop(long.wait().unwrap()); // its thread stays held until terminated
    let mut timed_out = pool.execute(Task::new(keep_after, (40_970, Tracked::new(K + 1))));
    assert!(matches!(
        timed_out.wait_timeout(PATIENCE),
        Some(Err(Error::TimedOut { .. }))
    ));
    drop(timed_out);
    drop(pool);
    all_dropped(K);
    open_gate(40_970); // the timed-out call returns now
    all_dropped(K + 1);
    no_threads(prefix);
}

/// 1 000 blocking requests that time out, 1 000 async requests polled once and dropped, and
/// 1 000 aborted ones, all behind a held lock: none is left in its queue.
#[test]
fn abandoned_lock_requests_leave_the_queue_empty() {
    const K: u32 = 980;
    let lock = AsyncLock::new(Tracked::new(K));
    let guard = lock.lock();
    let quick = taskpool::AsyncLockOptions::new().timeout(Duration::from_millis(1));
    for _ in 0..1_000 {
        assert!(lock.lock_with(&quick).is_err());
        let mut probe = support::Probe::new(lock.lock_async());
        assert!(probe.poll().is_pending());
        drop(probe);
        let signal = taskpool::AbortSignal::new();
        let aborted = support::Probe::new(
            lock.lock_shared_async_with(taskpool::AsyncLockOptions::new().signal(signal.clone())),
        )
        .pending();
        signal.abort("gone");
        drop(aborted);
    }
    assert!(lock.state().pending.is_empty(), "{}", lock.state());
    drop(guard);
    drop(lock);
    all_dropped(K);
}

/// A periodic task's data receivers (a stream left unread, a callback holding a value) and
/// the values sent to them are dropped when it is canceled and when its pool goes.
#[test]
fn a_periodic_task_s_receivers_and_values_are_dropped() {
    const K: u32 = 990;
    let prefix = "lk-periodic-data";
    let pool = pool(prefix, 2);
    let periodic = pool
        .execute_periodically(
            Duration::from_millis(1),
            Task::new(send_tracked, (K, 3)),
            Priority::High,
        )
        .unwrap();
    let stream = periodic.data_stream::<Tracked>();
    wait_until("a few ticks", || periodic.runs_started() >= 3);
    periodic.cancel().unwrap();
    wait_until("the periodic task stopped", || periodic.is_stopped());
    drop((periodic, stream));
    all_dropped(K);

    let task = Task::new(send_tracked, (K + 1, 3));
    let v = Tracked::new(K + 1);
    task.on_receive_data(move |value: Tracked| assert_eq!(value.key(), v.key()));
    drop(
        pool.execute_periodically(Duration::from_millis(1), task, Priority::High)
            .unwrap(),
    );
    wait_until("a few ticks sent values", || made(K + 1) >= 7);
    drop(pool);
    all_dropped(K + 1);
    no_threads(prefix);
}

/// A group whose first member fails: the members canceled for it and the ones that ran drop
/// their arguments and results.
#[test]
fn a_failed_group_drops_every_member_s_values() {
    const K: u32 = 995;
    let prefix = "lk-group-fail";
    let pool = pool(prefix, 1);
    let mut group = TaskGroup::new();
    group
        .add_task(Task::new(fail_with, (Tracked::new(K),)))
        .unwrap();
    for _ in 0..5 {
        group
            .add_task(Task::new(fail_with, (Tracked::new(K),)))
            .unwrap();
    }
    assert!(pool.execute_group(&group, Priority::High).wait().is_err());
    drop(group);
    all_dropped(K);
    drop(pool);
    no_threads(prefix);
}

/// A task executed by reference again while its first run holds its thread: the later runs
/// wait their turn, each with its own copy of the argument. The task, the handles and the
/// pool dropped before the first run ends: every copy is dropped.
#[test]
fn re_runs_waiting_their_turn_are_dropped_with_the_pool() {
    const K: u32 = 1_000;
    let prefix = "lk-turns";
    let pool = pool(prefix, 3);
    let task = Task::new(keep_after, (41_000, Tracked::new(K)));
    let handles: Vec<_> = (0..5).map(|_| pool.execute(&task)).collect();
    wait_until_executing(&pool, task.id());
    drop(task);
    let dropper = std::thread::spawn(move || drop(pool));
    open_gate(41_000);
    dropper.join().unwrap();
    drop(handles);
    all_dropped(K);
    no_threads(prefix);
}

/// The replies of a worker: a `messages()` stream dropped after one, and replies never
/// received, are dropped with the worker; a `WorkerRef` kept after the worker is gone keeps
/// no thread alive and drops what it is asked to post.
#[test]
fn worker_replies_and_worker_refs_outliving_the_worker_leak_nothing() {
    const K: u32 = 1_010;
    let name = "lkw-replies";
    let state = Tracked::new(K);
    let worker = Worker::builder()
        .name(name)
        .spawn(move || Keeper {
            _state: state,
            gate: None,
        })
        .unwrap();
    for _ in 0..10 {
        worker.post_message(Tracked::new(K)).unwrap();
    }
    let mut replies = worker.messages();
    drop(support::block_on(futures::StreamExt::next(&mut replies)));
    drop(replies);
    let kept = worker.worker_ref();
    drop(worker);
    assert!(kept.post_message(Tracked::new(K)).is_err());
    all_dropped(K);
    no_threads(name);
    drop(kept);
}
