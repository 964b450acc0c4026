//! Third pass of probes of the scheduling core: cancel by id from many threads at once, `info()`
//! under churn, `terminate_task` corner cases, builder extremes, bulk cancels, wakers that
//! outlive their pool, and the durations of runs that did not finish normally.

mod support;

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use support::{
    PATIENCE, hold, open_gate, pass_gate, plain, wait_until, wait_until_executing,
    wait_until_suspended,
};
use taskpool::{Error, LongTask, Priority, Task, TaskHandle, TaskPool, TaskState, concurrent};

/// Whether `outcome` is what a canceled run may resolve with.
fn is_canceled<T>(outcome: &Result<T, Error>) -> bool {
    matches!(outcome, Err(Error::Canceled { .. }))
}

#[concurrent]
fn spin_briefly(x: u32) -> u32 {
    // Some work, so that cancels land on waiting, running and finished runs alike.
    (0..200u32).fold(x, |acc, i| acc.wrapping_mul(31).wrapping_add(i))
}

/// Many threads cancel overlapping sets of ids while the tasks start and finish: every cancel
/// answers Ok or 10200015, every handle resolves with a value or as canceled, and the pool
/// still works afterwards.
#[test]
fn cancel_by_id_from_many_threads_while_tasks_start_and_finish() {
    let pool = Arc::new(TaskPool::builder().max_threads(3).build().unwrap());
    let handles: Vec<TaskHandle<u32>> = (0..2000).map(|i| pool.run(spin_briefly, (i,))).collect();
    let ids: Arc<Vec<_>> = Arc::new(handles.iter().map(TaskHandle::id).collect());
    let odd = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for start in 0..4 {
            let (pool, ids, odd) = (Arc::clone(&pool), Arc::clone(&ids), &odd);
            scope.spawn(move || {
                // Each thread walks the ids from its own offset, so every id gets canceled by
                // two threads, one of them usually too late.
                for id in ids.iter().skip(start * 250).step_by(2) {
                    match pool.cancel(*id) {
                        Ok(()) | Err(Error::TaskNotFound(_)) => {}
                        Err(_) => {
                            odd.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            });
        }
    });
    assert_eq!(
        odd.load(Ordering::SeqCst),
        0,
        "cancel answered something odd"
    );
    for mut handle in handles {
        match handle.wait_timeout(PATIENCE) {
            Some(Ok(_)) => {}
            Some(outcome) if is_canceled(&outcome) => {}
            other => panic!("a handle resolved oddly: {other:?}"),
        }
    }
    assert!(matches!(
        pool.run(plain, (5,)).wait_timeout(PATIENCE),
        Some(Ok(5))
    ));
}

/// A future that parks its waker in [`FOREIGN_WAKER`] and waits until it is woken once.
struct WokenFromAfar {
    polled: bool,
}

static FOREIGN_WAKER: Mutex<Option<Waker>> = Mutex::new(None);

impl Future for WokenFromAfar {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.polled {
            return Poll::Ready(());
        }
        self.polled = true;
        *FOREIGN_WAKER.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[concurrent]
async fn wait_for_a_foreign_wake() -> u32 {
    WokenFromAfar { polled: false }.await;
    9
}

/// A waker kept by a foreign thread outlives the pool of its task: waking it then (and
/// dropping it) neither panics nor revives anything, and the handle already resolved.
#[test]
fn an_async_task_woken_from_a_foreign_thread_after_its_pool_was_dropped() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let mut handle = pool.run(wait_for_a_foreign_wake, ());
    wait_until_suspended(&pool, handle.id());
    let waker = FOREIGN_WAKER
        .lock()
        .unwrap()
        .take()
        .expect("the task parked its waker");
    drop(pool);
    let outcome = handle.wait_timeout(PATIENCE);
    assert!(
        matches!(
            outcome,
            Some(Err(Error::Canceled { .. } | Error::PoolShutDown))
        ),
        "{outcome:?}"
    );
    let waker2 = waker.clone();
    std::thread::spawn(move || {
        waker.wake_by_ref();
        waker.wake();
    })
    .join()
    .expect("waking a task of a dropped pool must not panic");
    waker2.wake();
}

/// `info()` taken over and over while tasks of every kind come and go: no task is listed twice,
/// no thread is listed twice, every task a thread executes is in the task list of the same
/// snapshot (running, or canceled while it runs), and the threads stay within the ceiling.
#[test]
fn info_stays_consistent_under_churn_of_sync_async_and_canceled_tasks() {
    let pool = Arc::new(
        TaskPool::builder()
            .max_threads(3)
            .extra_threads(2)
            .build()
            .unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let churners: Vec<_> = (0..2)
        .map(|n| {
            let (pool, stop) = (Arc::clone(&pool), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut i = 0u32;
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    let priority = Priority::ALL[(i as usize + n) % 4];
                    let a = pool.execute_with_priority(Task::new(spin_briefly, (i,)), priority);
                    let b = pool.run(support::nap, ());
                    let c = pool.run(plain, (i,));
                    if i % 3 == 0 {
                        let _ = pool.cancel(a.id());
                    }
                    let _ = b.cancel();
                    let _ = c.cancel();
                    if i % 16 == 0 {
                        // Keeps the queue short, so that each snapshot stays cheap.
                        let _ = a.wait();
                    } else {
                        drop(a);
                    }
                    drop((b, c));
                }
            })
        })
        .collect();
    wait_until("the churn started", || support::busy_threads(&pool) > 0);
    for _ in 0..6000 {
        let info = pool.info();
        let mut ids = HashSet::new();
        for task in &info.tasks {
            assert!(
                ids.insert(task.task_id),
                "task {:?} listed twice: {:?}",
                task.task_id,
                info.tasks
            );
        }
        let mut threads = HashSet::new();
        for thread in &info.threads {
            assert!(threads.insert(thread.id), "thread listed twice: {info:?}");
            for id in &thread.task_ids {
                let listed = info.tasks.iter().find(|t| t.task_id == *id);
                // A running task canceled meanwhile still executes, listed as canceled.
                assert!(
                    listed.is_some_and(|t| t.state != TaskState::Waiting),
                    "thread {} executes {id:?}, listed as {listed:?}",
                    thread.id
                );
            }
        }
        assert!(info.threads.len() <= 5, "too many threads: {info:?}");
    }
    stop.store(true, Ordering::SeqCst);
    for churner in churners {
        churner.join().unwrap();
    }
}

#[concurrent]
fn terminate_myself() -> (bool, bool) {
    let me = taskpool::current_task_id().expect("a task knows its id");
    let pool = pool_of_long();
    let first = pool.terminate_task(me).is_ok();
    let second = matches!(pool.terminate_task(me), Err(Error::NotALongTask(_)));
    (first, second)
}

#[concurrent]
fn terminate_an_ordinary_task() -> bool {
    let me = taskpool::current_task_id().expect("a task knows its id");
    let pool = pool_of_long();
    matches!(pool.terminate_task(me), Err(Error::NotALongTask(_)))
}

static POOL_OF_LONG: Mutex<Option<Arc<TaskPool>>> = Mutex::new(None);

/// The pool the terminate probes run on (set by their test).
fn pool_of_long() -> Arc<TaskPool> {
    POOL_OF_LONG
        .lock()
        .unwrap()
        .clone()
        .expect("the pool is set")
}

/// A long task may terminate itself from inside (the thread is released when it returns); a
/// second terminate is 10200015, and so is terminating an ordinary task from inside it. The
/// released thread is reclaimed, and the pool goes on.
#[test]
fn a_long_task_terminates_itself_once_and_an_ordinary_task_cannot() {
    let pool = Arc::new(
        TaskPool::builder()
            .max_threads(1)
            .idle_timeout(Duration::from_millis(1))
            .check_interval(Duration::from_millis(5))
            .build()
            .unwrap(),
    );
    *POOL_OF_LONG.lock().unwrap() = Some(Arc::clone(&pool));
    let long = LongTask::new(terminate_myself, ());
    let id = long.id();
    let outcome = pool.execute(long).wait_timeout(PATIENCE);
    assert!(matches!(outcome, Some(Ok((true, true)))), "{outcome:?}");
    assert!(matches!(
        pool.terminate_task(id),
        Err(Error::NotALongTask(_))
    ));
    let ordinary = pool
        .run(terminate_an_ordinary_task, ())
        .wait_timeout(PATIENCE);
    assert!(matches!(ordinary, Some(Ok(true))), "{ordinary:?}");
    assert!(matches!(
        pool.run(plain, (3,)).wait_timeout(PATIENCE),
        Some(Ok(3))
    ));
    POOL_OF_LONG.lock().unwrap().take();
}

/// Terminating a long task that has not started yet (it waits behind another) is 10200015 and
/// does not stop it from running later; terminating one of another pool is 10200015 too.
#[test]
fn terminating_a_long_task_that_waits_or_belongs_to_another_pool_is_10200015() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let other = TaskPool::builder().max_threads(1).build().unwrap();
    let blocker = pool.run(hold, (3101,));
    wait_until_executing(&pool, blocker.id());
    let long = LongTask::new(plain, (4,));
    let id = long.id();
    let mut handle = pool.execute(long);
    assert!(matches!(
        pool.terminate_task(id),
        Err(Error::NotALongTask(_))
    ));
    assert!(matches!(
        other.terminate_task(id),
        Err(Error::NotALongTask(_))
    ));
    assert!(matches!(other.cancel(id), Err(Error::TaskNotFound(_))));
    open_gate(3101);
    assert!(matches!(handle.wait_timeout(PATIENCE), Some(Ok(4))));
    // It ran, so it now holds its thread until terminated.
    assert!(pool.terminate_task(id).is_ok());
    assert!(matches!(
        pool.terminate_task(id),
        Err(Error::NotALongTask(_))
    ));
}

/// 100 000 waiting tasks canceled one by one by id: each cancel finds its run without scanning
/// all the others, every handle resolves as canceled, and the pool then runs new work. (With a
/// scan per cancel the batch took minutes, under the lock every worker needs: the blocker's gate
/// gave up meanwhile, the thread took the queue, and the cancels found finished tasks.)
#[test]
fn a_hundred_thousand_waiting_tasks_canceled_by_id() {
    const COUNT: usize = 100_000;
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let blocker = pool.run(hold, (3201,));
    wait_until_executing(&pool, blocker.id());
    let handles: Vec<TaskHandle<u32>> = (0..COUNT as u32).map(|i| pool.run(plain, (i,))).collect();
    for handle in &handles {
        pool.cancel(handle.id())
            .expect("a waiting task can be canceled");
    }
    open_gate(3201);
    for mut handle in handles {
        let outcome = handle.wait_timeout(PATIENCE).expect("resolved");
        assert!(is_canceled(&outcome), "{outcome:?}");
    }
    assert!(matches!(
        pool.run(plain, (1,)).wait_timeout(PATIENCE),
        Some(Ok(1))
    ));
}

#[concurrent]
fn overrun(gate: u64) -> u32 {
    pass_gate(gate);
    1
}

/// The durations of a run that timed out are recorded once its call returns (total covers the
/// call; io is what total leaves over cpu); a task canceled before it started has none.
#[test]
fn durations_of_timed_out_and_canceled_runs() {
    let pool = TaskPool::builder()
        .max_threads(1)
        .time_limit(support::SHORT_LIMIT)
        .check_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    let task = Task::new(overrun, (3301,));
    let mut handle = pool.execute(&task);
    let outcome = handle.wait_timeout(PATIENCE);
    assert!(
        matches!(outcome, Some(Err(Error::TimedOut { .. }))),
        "{outcome:?}"
    );
    open_gate(3301);
    wait_until("the late call recorded its durations", || {
        task.durations().is_some()
    });
    let durations = task.durations().unwrap();
    assert!(durations.cpu <= durations.total, "{durations:?}");
    assert_eq!(durations.io, durations.total - durations.cpu);

    let blocker = pool.run(hold, (3302,));
    wait_until_executing(&pool, blocker.id());
    let never = Task::new(plain, (1,));
    let mut canceled = pool.execute(&never);
    canceled.cancel().unwrap();
    assert!(is_canceled(&canceled.wait_timeout(PATIENCE).unwrap()));
    assert!(never.durations().is_none(), "{:?}", never.durations());
    open_gate(3302);
}

/// One thread and no replacement threads: a call that timed out keeps the only thread, and the
/// task queued behind it runs as soon as that call returns (it is not stranded).
#[test]
fn one_thread_and_no_extra_threads_runs_the_queued_task_after_a_timed_out_call_returns() {
    let pool = TaskPool::builder()
        .max_threads(1)
        .extra_threads(0)
        .time_limit(support::SHORT_LIMIT)
        .check_interval(Duration::from_millis(5))
        .thread_name("cp3-noextra")
        .build()
        .unwrap();
    let mut stuck = pool.run(overrun, (3401,));
    assert!(matches!(
        stuck.wait_timeout(PATIENCE),
        Some(Err(Error::TimedOut { .. }))
    ));
    let mut next = pool.run(plain, (8,));
    open_gate(3401);
    assert!(matches!(next.wait_timeout(PATIENCE), Some(Ok(8))));
    // The retired thread may still be on its way out; the pool counts one worker at most.
    assert!(pool.thread_count() <= 1, "{:?}", pool.info().threads);
}

/// A check interval of one nanosecond and an idle timeout of zero: threads come and go as fast
/// as they can, yet every task runs, and at most the maximum exists at once.
#[test]
fn tiny_check_interval_and_zero_idle_timeout_still_run_everything() {
    let pool = TaskPool::builder()
        .max_threads(2)
        .idle_timeout(Duration::ZERO)
        .check_interval(Duration::from_nanos(1))
        .build()
        .unwrap();
    for round in 0..50u32 {
        let handles: Vec<_> = (0..4).map(|i| pool.run(plain, (round + i,))).collect();
        for (i, mut handle) in handles.into_iter().enumerate() {
            assert_eq!(
                handle.wait_timeout(PATIENCE).map(|r| r.ok()),
                Some(Some(round + i as u32))
            );
        }
        assert!(pool.thread_count() <= 2);
        if round % 10 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    wait_until("the pool shrank to one thread", || pool.thread_count() <= 1);
    assert!(matches!(
        pool.run(plain, (99,)).wait_timeout(PATIENCE),
        Some(Ok(99))
    ));
}

/// `shutdown_timeout(0)` with a running call, waiting tasks and a suspended task: it returns at
/// once, every handle resolves, and the stuck thread leaves when its call returns.
#[test]
fn shutdown_timeout_zero_resolves_everything_and_the_thread_leaves_later() {
    let pool = TaskPool::builder()
        .max_threads(2)
        .thread_name("cp3-zero")
        .build()
        .unwrap();
    let mut running = pool.run(hold, (3501,));
    wait_until_executing(&pool, running.id());
    let mut suspended = pool.run(support::nap, ());
    wait_until_suspended(&pool, suspended.id());
    let blocker = pool.run(hold, (3502,));
    wait_until_executing(&pool, blocker.id());
    let mut waiting: Vec<_> = (0..10).map(|i| pool.run(plain, (i,))).collect();
    pool.shutdown_timeout(Duration::ZERO);
    let outcome = running.wait_timeout(PATIENCE);
    assert!(
        matches!(outcome, Some(Err(Error::PoolShutDown))),
        "{outcome:?}"
    );
    assert!(is_canceled(&suspended.wait_timeout(PATIENCE).unwrap()));
    for handle in &mut waiting {
        assert!(is_canceled(&handle.wait_timeout(PATIENCE).unwrap()));
    }
    drop(blocker);
    open_gate(3501);
    open_gate(3502);
    wait_until("the detached threads left", || {
        support::threads_named("cp3-zero") == 0
    });
}

/// Runs of one task executed again and again (`&task`) while it is canceled by id from another
/// thread: each cancel takes every waiting run of it, and every handle resolves.
#[test]
fn canceling_a_task_executed_many_times_takes_all_its_runs() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let blocker = pool.run(hold, (3601,));
    wait_until_executing(&pool, blocker.id());
    let task = Task::new(plain, (6,));
    // Among other tasks' runs, enough of them for the core to index the queue by task id.
    let others: Vec<_> = (0..100).map(|i| pool.run(plain, (i,))).collect();
    let mut handles: Vec<_> = (0..100).map(|_| pool.execute(&task)).collect();
    pool.cancel(task.id()).unwrap();
    assert!(matches!(
        pool.cancel(task.id()),
        Err(Error::TaskNotFound(_))
    ));
    pool.cancel(others[7].id()).unwrap();
    open_gate(3601);
    for handle in &mut handles {
        assert!(is_canceled(&handle.wait_timeout(PATIENCE).unwrap()));
    }
    for (i, mut other) in others.into_iter().enumerate() {
        let outcome = other.wait_timeout(PATIENCE).unwrap();
        if i == 7 {
            assert!(is_canceled(&outcome), "{outcome:?}");
        } else {
            assert_eq!(outcome.ok(), Some(i as u32));
        }
    }
    // The queue ran dry, and the index with it: a later cancel finds a new waiting run.
    let blocker = pool.run(hold, (3602,));
    wait_until_executing(&pool, blocker.id());
    let mut again = pool.execute(&task);
    pool.cancel(task.id()).unwrap();
    assert!(is_canceled(&again.wait_timeout(PATIENCE).unwrap()));
    open_gate(3602);
    assert!(matches!(
        pool.execute(&task).wait_timeout(PATIENCE),
        Some(Ok(6))
    ));
}

/// A pool whose threads cannot start (a stack larger than the address space allows) does not
/// leave its handles waiting forever. Runs in a child process with a lowered address-space limit.
#[test]
fn a_pool_whose_thread_cannot_start_resolves_its_handles() {
    if std::env::var_os("CP3_CHILD").is_some() {
        let pool = TaskPool::builder()
            .max_threads(1)
            .stack_size(taskpool::MAX_STACK_SIZE)
            .build()
            .unwrap();
        let outcome = pool.run(plain, (1,)).wait_timeout(Duration::from_secs(10));
        println!("CP3 OUTCOME {outcome:?}");
        drop(pool);
        println!("CP3 DROPPED");
        return;
    }
    // A limit of 768 MiB of address space: the test harness fits, a 1 GiB stack does not.
    let Some(stdout) = support::run_under_address_limit(
        "a_pool_whose_thread_cannot_start_resolves_its_handles",
        "CP3_CHILD",
    ) else {
        return; // No prlimit here: nothing to probe.
    };
    assert!(stdout.contains("CP3 DROPPED"), "the child did not finish");
    // Either the system gave the thread after all (the task ran), or the handle says why not.
    assert!(
        stdout.contains("CP3 OUTCOME Some(Ok(1))")
            || stdout.contains("CP3 OUTCOME Some(Err(WorkerInitialization("),
        "the handle stayed unresolved or resolved oddly"
    );
}

/// Raised never: an `async` task awaiting it stays suspended until it is canceled.
static NEVER: support::Signal = support::Signal::new();

#[concurrent]
async fn await_forever() -> u32 {
    NEVER.raised().await;
    0
}

/// An `async` task canceled while suspended did run: its durations are recorded, its await
/// counted as io, never as cpu.
#[test]
fn an_async_task_canceled_while_suspended_reports_its_durations() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(await_forever, ());
    let mut handle = pool.execute(&task);
    wait_until_suspended(&pool, handle.id());
    handle.cancel().unwrap();
    assert!(is_canceled(&handle.wait_timeout(PATIENCE).unwrap()));
    wait_until("the durations are recorded", || task.durations().is_some());
    let durations = task.durations().unwrap();
    assert!(durations.cpu <= durations.total, "{durations:?}");
    assert_eq!(durations.io, durations.total - durations.cpu);
}

static SELF_CANCEL_POOL: Mutex<Option<Arc<TaskPool>>> = Mutex::new(None);

#[concurrent]
fn cancel_myself() -> (bool, bool, bool) {
    let me = taskpool::current_task_id().expect("a task knows its id");
    let pool = SELF_CANCEL_POOL
        .lock()
        .unwrap()
        .clone()
        .expect("the pool is set");
    let before = taskpool::is_canceled();
    let first = pool.cancel(me).is_ok();
    (before, first, taskpool::is_canceled())
}

/// A task may cancel itself by id: the cancel lands (it is running), it then sees
/// `is_canceled()`, and its handle resolves as canceled carrying the value it returned.
#[test]
fn a_task_canceling_itself_sees_it_and_its_handle_carries_the_value() {
    let pool = Arc::new(TaskPool::builder().max_threads(1).build().unwrap());
    *SELF_CANCEL_POOL.lock().unwrap() = Some(Arc::clone(&pool));
    let outcome = pool.run(cancel_myself, ()).wait_timeout(PATIENCE);
    match outcome {
        Some(Err(Error::Canceled {
            late: Some(late), ..
        })) => {
            let value = late.into_value::<(bool, bool, bool)>();
            assert_eq!(value, Some((false, true, true)));
        }
        other => panic!("expected a canceled run carrying its value: {other:?}"),
    }
    SELF_CANCEL_POOL.lock().unwrap().take();
}

#[concurrent]
fn inner_id() -> Option<u64> {
    taskpool::current_task_id().map(|id| id.into_raw())
}

static NEST_POOL: Mutex<Option<Arc<TaskPool>>> = Mutex::new(None);

#[concurrent]
fn outer_ids() -> (Option<u64>, Option<u64>, u64, Option<u64>) {
    let pool = NEST_POOL.lock().unwrap().clone().expect("the pool is set");
    let before = taskpool::current_task_id().map(|id| id.into_raw());
    let inner = pool.run(inner_id, ());
    let inner_task = inner.id().into_raw();
    // One thread: the wait runs the inner task inline on this very thread.
    let seen_inside = inner.wait().unwrap();
    let after = taskpool::current_task_id().map(|id| id.into_raw());
    (before, seen_inside, inner_task, after)
}

/// A task waiting for another on a one-thread pool runs it inline: inside, `current_task_id()`
/// is the inner task's, and back outside it is the outer task's again.
#[test]
fn current_task_id_follows_nested_inline_runs() {
    let pool = Arc::new(TaskPool::builder().max_threads(1).build().unwrap());
    *NEST_POOL.lock().unwrap() = Some(Arc::clone(&pool));
    let handle = pool.run(outer_ids, ());
    let outer = handle.id().into_raw();
    let (before, inside, inner, after) = handle.wait().unwrap();
    assert_eq!(before, Some(outer));
    assert_eq!(inside, Some(inner));
    assert_eq!(after, Some(outer));
    NEST_POOL.lock().unwrap().take();
}
