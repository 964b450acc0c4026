//! User values the runtime drops on a caller's thread — the arguments of a run canceled or
//! discarded before it started, an outcome nobody read — get enough stack for what a task could
//! drop (`src/deep_drop.rs`), and a periodic task's arguments go when it ends, not with its handle.
//! The copy of a task's arguments for a run by reference (`execute(&task)`, a group) is made when
//! the run starts, on its pool thread, so a deep argument never overflows the submitting thread.
//!
//! Each deep case runs in a child process (an overflow aborts it), on a thread of 2 MiB, the
//! size of any spawned thread, a test harness's included; the deep values are built and the
//! checks made on threads with room to spare, so only the runtime's drop is on the small stack.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use support::{
    dropped, hold, in_child_process, note_dropped, open_gate, plain, wait_until,
    wait_until_executing,
};
use taskpool::{
    Error, HandlerResult, Priority, Task, TaskGroup, TaskHandle, TaskPool, Worker, WorkerHandler,
    WorkerPort, concurrent,
};

/// Gate ids of this file: 9800 and up.
const G: u64 = 9800;
/// How long a test waits for an outcome before it fails.
const PATIENCE: Duration = Duration::from_secs(20);
/// The depth of the deep values: what a task on a pool thread may own and drop.
const DEPTH: usize = 100_000;

/// A list as deep as it is long: its derived `Drop` recurses once per link.
#[derive(Clone, Serialize, Deserialize)]
enum Deep {
    Link(Box<Deep>),
    End,
}

/// Built without recursion.
fn deep(depth: usize) -> Deep {
    (0..depth).fold(Deep::End, |tail, _| Deep::Link(Box::new(tail)))
}

/// Dropped without recursion.
fn unlink(mut value: Deep) {
    while let Deep::Link(next) = value {
        value = *next;
    }
}

#[concurrent]
fn take_deep(value: Deep) -> u32 {
    unlink(value);
    1
}

#[concurrent]
fn make_deep(depth: u32) -> Deep {
    deep(depth as usize)
}

/// Runs `f` on a thread of `stack` bytes.
fn on_a_stack_of<R: Send + 'static>(stack: usize, f: impl FnOnce() -> R + Send + 'static) -> R {
    let thread = std::thread::Builder::new().stack_size(stack).spawn(f);
    thread.unwrap().join().unwrap()
}

/// Runs `f` on a thread with the default stack of a spawned thread.
fn small<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    on_a_stack_of(2 << 20, f)
}

/// A task holding a deep argument, built on a thread with room for it.
fn deep_task() -> Task<u32> {
    on_a_stack_of(512 << 20, || Task::new(take_deep, (deep(DEPTH),)))
}

fn assert_pool_runs(pool: &TaskPool) {
    let mut handle = pool.execute(Task::new(plain, (7,)));
    let outcome = handle.wait_timeout(PATIENCE).expect("a plain task ends");
    assert_eq!(outcome.unwrap(), 7);
}

/// `cancel` drops a waiting run's arguments on the canceling thread.
#[test]
fn canceling_a_waiting_deep_task_from_a_small_thread() {
    in_child_process("canceling_a_waiting_deep_task_from_a_small_thread", || {
        let pool = Arc::new(TaskPool::builder().max_threads(1).build().unwrap());
        let blocker = pool.execute(Task::new(hold, (G,)));
        wait_until_executing(&pool, blocker.id());
        let mut waiting = pool.execute(deep_task());
        let (canceler, id) = (Arc::clone(&pool), waiting.id());
        small(move || canceler.cancel(id).unwrap());
        let outcome = waiting.wait_timeout(PATIENCE).expect("canceled");
        assert!(matches!(outcome, Err(Error::Canceled { .. })));
        open_gate(G);
        assert_pool_runs(&pool);
    });
}

/// An `AsyncRunner` whose waiting queue is full pushes out its oldest waiting task in the
/// `execute` of a newer one, on that caller's thread.
#[test]
fn a_runner_pushing_out_a_deep_task_on_a_small_thread() {
    in_child_process("a_runner_pushing_out_a_deep_task_on_a_small_thread", || {
        let pool = TaskPool::builder().build().unwrap();
        let runner = Arc::new(pool.async_runner(1, 1).unwrap());
        let running = runner.execute(Task::new(hold, (G + 1,)), Priority::Medium);
        wait_until_executing(&pool, running.id());
        let mut pushed_out = runner.execute(deep_task(), Priority::Medium);
        let newer = Arc::clone(&runner);
        let mut last = small(move || newer.execute(Task::new(plain, (3,)), Priority::Medium));
        let outcome = pushed_out.wait_timeout(PATIENCE).expect("discarded");
        assert!(matches!(outcome, Err(Error::AsyncRunnerDiscarded(_))));
        open_gate(G + 1);
        assert_eq!(last.wait_timeout(PATIENCE).expect("runs").unwrap(), 3);
    });
}

/// A canceled dependency resolves its dependents, whose arguments are dropped there.
#[test]
fn canceling_the_dependency_of_a_deep_task_from_a_small_thread() {
    in_child_process(
        "canceling_the_dependency_of_a_deep_task_from_a_small_thread",
        || {
            let pool = Arc::new(TaskPool::builder().max_threads(1).build().unwrap());
            let blocker = pool.execute(Task::new(hold, (G + 2,)));
            wait_until_executing(&pool, blocker.id());
            let dependency = Task::new(plain, (1,));
            let dependent = deep_task();
            dependent.add_dependency(&dependency).unwrap();
            let mut held = pool.execute(dependent);
            let id = pool.execute(dependency).id();
            let canceler = Arc::clone(&pool);
            small(move || canceler.cancel(id).unwrap());
            let outcome = held.wait_timeout(PATIENCE).expect("resolved");
            assert!(matches!(outcome, Err(Error::DependencyFailed { .. })));
            open_gate(G + 2);
            assert_pool_runs(&pool);
        },
    );
}

/// Submits two tasks by reference, returning their handles.
type SubmitTwo = fn(&TaskPool, &[Task<u32>; 2]) -> [TaskHandle<u32>; 2];

/// Two deep tasks, submitted by reference with `submit` from a small thread: their runs copy
/// the arguments on the pool threads that run them, not on the submitting thread (a derived
/// `Clone` recurses once per link, as `Drop` does), and both succeed.
fn deep_tasks_submitted_by_reference_from_a_small_thread(submit: SubmitTwo) {
    let pool = Arc::new(TaskPool::builder().build().unwrap());
    let submitter = Arc::clone(&pool);
    let (tasks, outcomes) = small(move || {
        let tasks = [deep_task(), deep_task()];
        let handles = submit(&submitter, &tasks);
        (
            tasks,
            handles.map(|mut handle| handle.wait_timeout(PATIENCE)),
        )
    });
    on_a_stack_of(512 << 20, move || drop(tasks));
    for outcome in outcomes {
        assert!(matches!(outcome, Some(Ok(1))), "{outcome:?}");
    }
    assert_pool_runs(&pool);
}

/// One deep task executed by reference twice.
#[test]
fn executing_a_deep_task_by_reference_from_a_small_thread() {
    in_child_process(
        "executing_a_deep_task_by_reference_from_a_small_thread",
        || {
            deep_tasks_submitted_by_reference_from_a_small_thread(|pool, [task, _]| {
                [pool.execute(task), pool.execute(task)]
            });
        },
    );
}

/// A delayed run and a run with `Configs`: every composer that takes `&task` copies on the
/// pool thread too.
#[test]
fn a_deep_task_delayed_or_configured_by_reference_from_a_small_thread() {
    in_child_process(
        "a_deep_task_delayed_or_configured_by_reference_from_a_small_thread",
        || {
            deep_tasks_submitted_by_reference_from_a_small_thread(|pool, [delayed, configured]| {
                let delay = Duration::from_millis(1);
                let configs = taskpool::Configs::new().with_timeout(PATIENCE);
                [
                    pool.execute_delayed(delay, delayed, Priority::Low),
                    pool.execute_with_configs(configured, configs),
                ]
            });
        },
    );
}

/// A group executed from a small thread: each member's copy is made on its pool thread.
#[test]
fn executing_a_group_of_deep_tasks_from_a_small_thread() {
    in_child_process(
        "executing_a_group_of_deep_tasks_from_a_small_thread",
        || {
            let pool = Arc::new(TaskPool::builder().build().unwrap());
            let mut group = TaskGroup::new();
            group.add_task(deep_task()).unwrap();
            group.add_task(deep_task()).unwrap();
            let submitter = Arc::clone(&pool);
            let (group, results) = small(move || {
                let results = submitter.execute_group(&group, Priority::High).wait();
                (group, results.unwrap())
            });
            assert_eq!(results, [1, 1]);
            on_a_stack_of(512 << 20, move || drop(group));
            assert_pool_runs(&pool);
        },
    );
}

/// A handle dropped unread drops the outcome on the dropping thread.
#[test]
fn dropping_an_unread_deep_result_on_a_small_thread() {
    in_child_process("dropping_an_unread_deep_result_on_a_small_thread", || {
        let pool = TaskPool::builder().build().unwrap();
        let handle = pool.execute(Task::new(make_deep, (DEPTH as u32,)));
        wait_until("the result is there", || handle.is_finished());
        small(move || drop(handle));
        assert_pool_runs(&pool);
    });
}

/// The deep result of a group member (its value if the member fails, nobody's).
#[concurrent]
fn deep_or_failure(fail: bool) -> Result<Deep, String> {
    if fail {
        Err("the member failed".to_owned())
    } else {
        Ok(deep(DEPTH))
    }
}

/// A group's finished results nobody will read — a failed group's other members', an ended
/// group's whose handle is dropped unread — end on the thread that waits or drops.
#[test]
fn a_group_s_unread_deep_results_end_on_a_small_thread() {
    in_child_process(
        "a_group_s_unread_deep_results_end_on_a_small_thread",
        || {
            // One thread: the members run in the order they were added.
            let pool = TaskPool::builder().max_threads(1).build().unwrap();
            let mut failing = TaskGroup::new();
            failing.add(deep_or_failure, (false,)).unwrap();
            failing.add(deep_or_failure, (true,)).unwrap();
            let handle = pool.execute_group(&failing, Priority::Medium);
            let outcome = small(move || handle.wait().map(|results| results.len()));
            assert!(outcome.is_err(), "the second member failed");
            let mut ended = TaskGroup::new();
            ended.add(deep_or_failure, (false,)).unwrap();
            let handle = pool.execute_group(&ended, Priority::Medium);
            wait_until("the group ended", || handle.is_finished());
            small(move || drop(handle));
            assert_pool_runs(&pool);
        },
    );
}

/// Notes its drop (ids from 9800 up, so they meet no other test's).
#[derive(Clone, Serialize, Deserialize)]
struct Mark(u32);

impl Drop for Mark {
    fn drop(&mut self) {
        note_dropped(self.0);
    }
}

/// Forgets its copy of the mark: only the periodic task's own arguments note a drop.
#[concurrent]
fn take_mark(mark: Mark) -> u32 {
    let id = mark.0;
    std::mem::forget(mark);
    id
}

/// Ticks at once and often: the tests wait for runs, never for time.
const PERIOD: Duration = Duration::from_millis(2);

/// Canceled, a periodic task lets its arguments go (they may hold resources), while its handle
/// still lives.
#[test]
fn a_canceled_periodic_task_lets_its_arguments_go() {
    let pool = TaskPool::builder().build().unwrap();
    let task = Task::new(take_mark, (Mark(9800),));
    let periodic = pool
        .execute_periodically(PERIOD, task, Priority::Medium)
        .unwrap();
    wait_until("two runs", || periodic.runs_started() >= 2);
    periodic.cancel().unwrap();
    wait_until("the arguments are dropped", || dropped(9800));
    assert!(periodic.is_stopped());
    drop(periodic);
}

/// A pool shutting down lets a periodic task's arguments go with the rest of what never ran,
/// while the handle still lives; dropping the pool does too.
#[test]
fn a_shutdown_lets_a_periodic_task_s_arguments_go() {
    for (mark, shut_down) in [(9801, true), (9802, false)] {
        let pool = TaskPool::builder().build().unwrap();
        let task = Task::new(take_mark, (Mark(mark),));
        let periodic = pool
            .execute_periodically(PERIOD, task, Priority::Medium)
            .unwrap();
        wait_until("two runs", || periodic.runs_started() >= 2);
        if shut_down {
            pool.shutdown_timeout(PATIENCE);
        } else {
            drop(pool);
        }
        wait_until("the arguments are dropped", || dropped(mark));
        assert!(periodic.is_stopped());
    }
}

/// A periodic task holding a deep argument, its pool shut down from a small thread.
#[test]
fn a_periodic_deep_task_s_pool_shut_down_from_a_small_thread() {
    in_child_process(
        "a_periodic_deep_task_s_pool_shut_down_from_a_small_thread",
        || {
            let pool = TaskPool::builder().build().unwrap();
            let periodic = pool
                .execute_periodically(PERIOD, deep_task(), Priority::Medium)
                .unwrap();
            wait_until("two runs", || periodic.runs_started() >= 2);
            small(move || pool.shutdown_timeout(PATIENCE));
            wait_until("stopped", || periodic.is_stopped());
            small(move || drop(periodic));
        },
    );
}

/// Replies with a deep value to `Deep::End`; to a `Deep::Link`, fails with a deep error.
struct DeepReplies;

/// Replies the handler posted.
static REPLIED: AtomicUsize = AtomicUsize::new(0);

struct DeepError(Deep);

impl std::fmt::Debug for DeepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DeepError").field(&self.0).finish()
    }
}

impl std::fmt::Display for DeepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a deep error")
    }
}

impl std::fmt::Debug for Deep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deep")
    }
}

impl std::error::Error for DeepError {}

impl WorkerHandler for DeepReplies {
    type In = Deep;
    type Out = Deep;

    async fn on_message(&mut self, message: Deep, port: &WorkerPort<Deep>) -> HandlerResult {
        let fail = matches!(message, Deep::Link(_));
        unlink(message);
        if fail {
            return Err(Box::new(DeepError(deep(DEPTH))));
        }
        port.post_message(deep(DEPTH))?;
        REPLIED.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Replies nobody received, and the error that destroyed the worker nobody took, are dropped
/// with the `Worker` by the thread that drops it, here a small one.
#[test]
fn a_worker_with_unread_deep_replies_and_error_dropped_on_a_small_thread() {
    in_child_process(
        "a_worker_with_unread_deep_replies_and_error_dropped_on_a_small_thread",
        || {
            let worker = Worker::new(|| DeepReplies).unwrap();
            worker.post_message(Deep::End).unwrap();
            worker.post_message(Deep::End).unwrap();
            wait_until("two replies", || REPLIED.load(Ordering::SeqCst) == 2);
            worker.post_message(deep(1)).unwrap();
            assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(1));
            small(move || drop(worker));
        },
    );
}

/// A timeout refused for a task with dependencies drops the task's arguments on the calling
/// thread (`compose::refused`), as a runner's refusal does.
#[test]
fn a_refused_timeout_drops_a_deep_task_on_a_small_thread() {
    in_child_process(
        "a_refused_timeout_drops_a_deep_task_on_a_small_thread",
        || {
            let pool = Arc::new(TaskPool::builder().max_threads(1).build().unwrap());
            let dependency = Task::new(plain, (1,));
            let task = deep_task();
            task.add_dependency(&dependency).unwrap();
            let configs = taskpool::Configs::new().with_timeout(PATIENCE);
            let caller = Arc::clone(&pool);
            let outcome = small(move || caller.execute_with_configs(task, configs).wait().err());
            assert!(matches!(outcome, Some(Error::TimeoutWithDependencies(_))));
            assert_pool_runs(&pool);
        },
    );
}
