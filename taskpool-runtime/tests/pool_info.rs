//! `TaskPool::info` (ArkTS `getTaskPoolInfo`) and shutdown.

mod support;

use support::{hold, open_gate, pass_gate, plain, threads_named, wait_until};
use taskpool::{Error, Priority, Task, TaskPool, TaskState, concurrent};

#[test]
fn info_lists_threads_with_their_tasks_and_every_live_task() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let running =
        pool.execute_with_priority(Task::new(hold, (1,)).with_name("blocker"), Priority::High);
    wait_until("the blocker runs", || {
        pool.info().threads.iter().any(|t| !t.task_ids.is_empty())
    });
    let waiting =
        pool.execute_with_priority(Task::new(hold, (1,)).with_name("queued"), Priority::Low);

    let info = pool.info();
    assert_eq!(info.threads.len(), 1);
    assert_eq!(info.threads[0].task_ids, vec![running.id()]);
    assert_eq!(info.threads[0].priority, Some(Priority::High));
    let task = |id| info.tasks.iter().find(|t| t.task_id == id).unwrap();
    let blocker = task(running.id());
    assert_eq!(
        (blocker.state, blocker.name.as_str()),
        (TaskState::Running, "blocker")
    );
    assert!(blocker.function.ends_with("::hold"));
    let queued = task(waiting.id());
    assert_eq!(
        (queued.state, queued.priority),
        (TaskState::Waiting, Priority::Low)
    );
    assert_eq!(queued.name, "queued");
    assert_eq!(
        queued.duration,
        std::time::Duration::ZERO,
        "a waiting task has not run yet"
    );
    assert_eq!(info.tasks.len(), 2);
    // The running task's duration grows while it runs.
    let first = blocker.duration;
    wait_until("the blocker's duration grows", || {
        pool.info()
            .tasks
            .iter()
            .any(|t| t.task_id == running.id() && t.duration > first)
    });
    // Time went by, and the waiting task still reports none: its queue stamp (kept where its
    // start stamp goes) is not a duration.
    let later = pool.info();
    let queued = later.tasks.iter().find(|t| t.task_id == waiting.id());
    assert_eq!(
        queued.map(|t| (t.state, t.duration)),
        Some((TaskState::Waiting, std::time::Duration::ZERO))
    );

    open_gate(1);
    running.wait().unwrap();
    waiting.wait().unwrap();
    assert!(
        pool.info().tasks.is_empty(),
        "finished tasks leave the snapshot"
    );
}

#[test]
fn shutdown_cancels_waiting_tasks_lets_running_ones_finish_and_joins_every_thread() {
    let pool = TaskPool::builder()
        .max_threads(2)
        .thread_name("tpshut")
        .build()
        .unwrap();
    let running: Vec<_> = (0..2).map(|_| pool.run(hold, (2,))).collect();
    wait_until("both workers run", || {
        pool.info().threads.iter().all(|t| !t.task_ids.is_empty()) && pool.thread_count() == 2
    });
    let waiting: Vec<_> = (0..5).map(|_| pool.run(hold, (2,))).collect();
    // `/proc` listings can skip a thread while others exit, so this is waited for, not asserted.
    wait_until("the workers show in /proc", || threads_named("tpshut") >= 2);

    let dropper = std::thread::spawn(move || pool.shutdown());
    for handle in waiting {
        assert!(matches!(
            handle.wait(),
            Err(Error::Canceled { late: None, .. })
        ));
    }
    open_gate(2);
    dropper.join().unwrap();
    for handle in running {
        assert_eq!(handle.wait().unwrap(), 2, "running tasks finish normally");
    }
    // No thread outlives its pool; /proc may show a joined thread for a moment longer.
    wait_until("no thread of the pool is left", || {
        threads_named("tpshut") == 0
    });
}

static POLL_GATE_SEEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[concurrent]
async fn polled_while_blocked(gate: u64) {
    POLL_GATE_SEEN.store(true, std::sync::atomic::Ordering::SeqCst);
    pass_gate(gate);
    taskpool::sleep(std::time::Duration::from_millis(1)).await;
}

#[test]
fn an_async_task_being_polled_is_listed_once() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let handle = pool.run(polled_while_blocked, (3,));
    wait_until("the task is polled", || {
        POLL_GATE_SEEN.load(std::sync::atomic::Ordering::SeqCst)
    });
    let info = pool.info();
    let listed: Vec<_> = info
        .threads
        .iter()
        .flat_map(|t| t.task_ids.clone())
        .collect();
    assert_eq!(listed, vec![handle.id()], "one thread, the task once");
    assert_eq!(
        info.tasks
            .iter()
            .filter(|t| t.task_id == handle.id())
            .count(),
        1
    );
    open_gate(3);
    handle.wait().unwrap();
}

#[test]
fn configuring_a_task_while_an_earlier_run_is_alive_does_not_panic() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(hold, (4,));
    let first = pool.execute(&task);
    // A run of the task is alive: renaming and re-prioritizing must not panic.
    let task = task.with_name("renamed").with_priority(Priority::High);
    assert_eq!(task.name(), "renamed");
    let second = pool.execute(&task);
    assert_eq!(second.id(), first.id(), "the same task");
    wait_until("both runs are listed", || pool.info().tasks.len() == 2);
    let info = pool.info();
    let names: Vec<_> = info.tasks.iter().map(|t| t.name.clone()).collect();
    // Unnamed tasks are named after their function (as ArkTS does).
    assert!(
        names.contains(&"hold".to_owned()),
        "the first run keeps its name"
    );
    assert!(names.contains(&"renamed".to_owned()));
    open_gate(4);
    assert_eq!(first.wait().unwrap(), 4);
    assert_eq!(second.wait().unwrap(), 4);
    assert!(
        task.durations().is_some(),
        "the renamed task's own run is recorded"
    );
}

#[test]
fn a_task_canceled_while_waiting_stays_listed_as_canceled_within_a_bound() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let blocker = pool.execute(Task::new(hold, (5,)));
    wait_until("the blocker runs", || {
        pool.info().threads.iter().any(|t| !t.task_ids.is_empty())
    });
    let waiting = pool.execute(Task::new(hold, (6,)));
    assert!(!waiting.is_finished());
    pool.cancel(waiting.id()).unwrap();
    let listed = |id| {
        pool.info()
            .tasks
            .iter()
            .find(|t| t.task_id == id)
            .map(|t| (t.state, t.name.clone()))
    };
    assert_eq!(
        listed(waiting.id()),
        Some((TaskState::Canceled, "hold".to_owned()))
    );
    // Still listed at the next snapshot; pushed out by 16 newer cancels.
    assert!(listed(waiting.id()).is_some());
    for _ in 0..16 {
        let newer = pool.execute(Task::new(hold, (6,)));
        newer.cancel().unwrap();
    }
    assert_eq!(listed(waiting.id()), None);
    open_gate(5);
    blocker.wait().unwrap();
}

#[test]
fn is_done_and_default_names() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(hold, (0,));
    assert_eq!(task.name(), "hold");
    assert!(!task.is_done());
    open_gate(0);
    pool.execute(&task).wait().unwrap();
    assert!(task.is_done());
}

/// DESIGN.md, "Task lifecycle": every task has a process-unique id, whichever thread built
/// it, and a task run by a pool sees that id as `current_task_id()`.
#[test]
fn task_ids_are_unique_across_threads_and_a_run_sees_its_task_s_id() {
    let builders: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                (0..1_000)
                    .map(|i| Task::new(plain, (i,)).id())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let ids: Vec<_> = builders
        .into_iter()
        .flat_map(|b| b.join().unwrap())
        .collect();
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "an id was handed out twice");

    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(own_id, ());
    let id = task.id();
    assert_eq!(pool.execute(&task).wait().unwrap(), Some(id));
    assert_eq!(pool.execute(task).wait().unwrap(), Some(id));
}

#[concurrent]
fn own_id() -> Option<taskpool::TaskId> {
    taskpool::current_task_id()
}

/// A one-thread pool whose thread holds a task until gate `blocker` opens, with its handle.
fn pool_behind(blocker: u64) -> (TaskPool, taskpool::TaskHandle<u64>) {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let held = pool.execute(Task::new(hold, (blocker,)));
    wait_until("the blocker runs", || {
        pool.info().threads.iter().any(|t| !t.task_ids.is_empty())
    });
    (pool, held)
}

/// The states `info()` lists for task `id`.
fn states_of(pool: &TaskPool, id: taskpool::TaskId) -> Vec<TaskState> {
    let info = pool.info();
    let listed = info.tasks.iter().filter(|t| t.task_id == id);
    listed.map(|t| t.state).collect()
}

/// Opens the gates of the blocker and of the task's new run, waits for both, and checks that
/// the task is no longer listed once its new run finished.
fn ends_unlisted(
    pool: &TaskPool,
    (blocker, blocker_gate): (taskpool::TaskHandle<u64>, u64),
    (again, again_gate): (taskpool::TaskHandle<u64>, u64),
    id: taskpool::TaskId,
) {
    open_gate(blocker_gate);
    open_gate(again_gate);
    assert_eq!(again.wait().unwrap(), again_gate);
    blocker.wait().unwrap();
    assert_eq!(states_of(pool, id), []);
}

/// A task canceled while waiting, then executed again: ArkTS keeps one state per task, which
/// the new execution sets back to WAITING, so `info()` lists the new run alone, and nothing
/// once it finished. The old run's `Canceled` entry used to stay beside it, and after it.
#[test]
fn a_canceled_task_executed_again_is_listed_by_its_new_run_only() {
    const BLOCKER: u64 = 99_600;
    const AGAIN: u64 = 99_601;
    let (pool, blocker) = pool_behind(BLOCKER);
    let task = Task::new(hold, (AGAIN,));
    let first = pool.execute(&task);
    pool.cancel(task.id()).unwrap();
    assert!(matches!(first.wait(), Err(Error::Canceled { .. })));
    assert_eq!(states_of(&pool, task.id()), [TaskState::Canceled]);
    let again = pool.execute(&task);
    assert_eq!(states_of(&pool, task.id()), [TaskState::Waiting]);
    ends_unlisted(&pool, (blocker, BLOCKER), (again, AGAIN), task.id());
}

/// The same with the old run canceled *after* the new one was queued (through its own handle,
/// which cancels that run alone): the task's state is its new run's, so once that run
/// finished nothing is listed. The old run's `Canceled` entry used to be hidden while the new
/// run was listed, then show again once it ended.
#[test]
fn a_run_canceled_after_a_later_run_of_its_task_was_queued_is_not_listed() {
    const BLOCKER: u64 = 99_602;
    const AGAIN: u64 = 99_603;
    let (pool, blocker) = pool_behind(BLOCKER);
    let task = Task::new(hold, (AGAIN,));
    let first = pool.execute(&task);
    let again = pool.execute(&task);
    first.cancel().unwrap();
    assert!(matches!(first.wait(), Err(Error::Canceled { .. })));
    assert_eq!(states_of(&pool, task.id()), [TaskState::Waiting]);
    ends_unlisted(&pool, (blocker, BLOCKER), (again, AGAIN), task.id());
}

/// One thread, none to add: a task waiting for another runs it inline.
fn one_thread() -> &'static TaskPool {
    support::one_thread_pool()
}

#[concurrent]
fn wait_for_a_low_task(gate: u64) -> u64 {
    let low = Task::new(hold, (gate,));
    let handle = one_thread().execute_with_priority(low, Priority::Low);
    handle.wait().unwrap()
}

/// Regression: a run started inline, in the wait of the task waiting for it, was missing from
/// its lane's waits.
#[test]
fn a_run_started_inline_is_counted_in_its_lanes_waits() {
    let pool = one_thread();
    let low_waits = |pool: &TaskPool| {
        let info = pool.info();
        let low = info.lanes.iter().find(|l| l.priority == Priority::Low);
        low.unwrap().waits.count
    };
    let before = low_waits(pool);
    let outer = Task::new(wait_for_a_low_task, (7_011,));
    let handle = pool.execute_with_priority(outer, Priority::High);
    wait_until("the inline run executes", || {
        pool.info().threads.iter().any(|t| t.task_ids.len() == 2)
    });
    assert_eq!(low_waits(pool), before + 1);
    open_gate(7_011);
    assert_eq!(handle.wait().unwrap(), 7_011);
}
