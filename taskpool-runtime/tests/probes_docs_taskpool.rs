//! Probes of the TaskPool API surface against `js-apis-taskpool.md` (openharmony/docs): its
//! documented error codes in the documented situations, and faults (panicking listeners and
//! `Drop`s, handles dropped early, cancels racing completions) that must neither hang nor
//! panic the caller. Every wait is on a gate or a condition with a generous timeout.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::walk::Rng;
use support::{bounded, hold, open_gate, pass_gate, plain, wait_until, wait_until_executing};
use taskpool::{
    AsyncRunner, Error, LongTask, Priority, Task, TaskGroup, TaskPool, TaskState, concurrent,
};

/// Gate ids of this file.
const G: u64 = 91_000;

fn pool(threads: usize) -> TaskPool {
    TaskPool::builder().max_threads(threads).build().unwrap()
}

/// A value whose `Drop` panics (after noting it ran).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Bomb(u32);

impl Drop for Bomb {
    fn drop(&mut self) {
        support::note_dropped(self.0);
        if !std::thread::panicking() {
            panic!("bomb {} went off", self.0);
        }
    }
}

#[concurrent]
fn make_bomb(id: u32) -> Bomb {
    Bomb(id)
}

#[concurrent]
fn make_bomb_after(gate: u64, id: u32) -> Bomb {
    pass_gate(gate);
    Bomb(id)
}

#[concurrent]
fn fail_always() -> Result<u32, String> {
    Err("no".to_owned())
}

// ---------------------------------------------------------------------------------------------
// Documented error codes

/// `taskpool.cancel(task)` of a task that finished, or of an id never executed: 10200015.
#[test]
fn cancel_of_a_finished_or_unknown_task_is_10200015() {
    let pool = pool(1);
    let task = Task::new(plain, (1,));
    let id = task.id();
    assert_eq!(pool.cancel(id).unwrap_err().code(), Some(10200015));
    let handle = pool.execute(&task);
    assert_eq!(handle.wait().unwrap(), 1);
    assert_eq!(pool.cancel(id).unwrap_err().code(), Some(10200015));
}

/// `taskpool.cancel(group)` twice: the first cancels, the second finds no group (10200018).
#[test]
fn cancel_of_a_group_twice_gives_10200018_the_second_time() {
    let pool = pool(1);
    let blocker = pool.run(hold, (G + 1,));
    wait_until_executing(&pool, blocker.id());
    let mut group = TaskGroup::new();
    group.add(plain, (1,)).unwrap();
    group.add(plain, (2,)).unwrap();
    let handle = pool.execute_group(&group, Priority::Medium);
    handle.cancel().unwrap();
    assert_eq!(handle.cancel().unwrap_err().code(), Some(10200018));
    open_gate(G + 1);
    assert!(handle.wait().is_err());
    blocker.wait().unwrap();
}

/// `executePeriodically` of a task already executed: 10200050.
#[test]
fn periodic_of_an_executed_task_is_10200050() {
    let pool = pool(1);
    let task = Task::new(plain, (1,));
    pool.execute(&task).wait().unwrap();
    let error = pool
        .execute_periodically(Duration::from_millis(5), task, Priority::Medium)
        .unwrap_err();
    assert_eq!(error.code(), Some(10200050));
}

/// `cancel` of a periodic task twice: the second finds it stopped (10200015), through the
/// pool's `cancel(id)` as through the handle.
#[test]
fn cancel_of_a_periodic_task_twice_is_10200015() {
    let pool = pool(1);
    let task = Task::new(plain, (1,));
    let id = task.id();
    let periodic = pool
        .execute_periodically(Duration::from_secs(3600), task, Priority::Medium)
        .unwrap();
    pool.cancel(id).unwrap();
    assert_eq!(pool.cancel(id).unwrap_err().code(), Some(10200015));
    assert_eq!(periodic.cancel().unwrap_err().code(), Some(10200015));
}

/// `addDependency` that closes a cycle (itself included): 10200026; `removeDependency` of one
/// never added: 10200027.
#[test]
fn self_dependency_is_a_cycle_and_removing_an_absent_one_is_10200027() {
    let a = Task::new(plain, (1,));
    let b = Task::new(plain, (2,));
    assert_eq!(a.add_dependency(&a).unwrap_err().code(), Some(10200026));
    a.add_dependency(&b).unwrap();
    assert_eq!(b.add_dependency(&a).unwrap_err().code(), Some(10200026));
    assert_eq!(b.remove_dependency(&a).unwrap_err().code(), Some(10200027));
    a.remove_dependency(&b).unwrap();
    assert_eq!(a.remove_dependency(&b).unwrap_err().code(), Some(10200027));
}

/// `terminateTask` of an ordinary task, an unknown one, and a long task terminated already: 401.
#[test]
fn terminate_task_of_a_non_long_task_is_401() {
    let pool = pool(1);
    let task = Task::new(plain, (1,));
    let id = task.id();
    pool.execute(task).wait().unwrap();
    assert_eq!(pool.terminate_task(id).unwrap_err().code(), Some(401));
    let long = LongTask::new(plain, (2,));
    let long_id = long.id();
    assert_eq!(pool.execute(long).wait().unwrap(), 2);
    pool.terminate_task(long_id).unwrap();
    assert_eq!(pool.terminate_task(long_id).unwrap_err().code(), Some(401));
}

/// AsyncRunner: capacities 0 (running: 401) and huge (accepted, no allocation up front).
#[test]
fn async_runner_capacities_zero_and_huge() {
    assert_eq!(AsyncRunner::new(0, 5).unwrap_err().code(), Some(401));
    let pool = pool(2);
    let runner = pool.async_runner(usize::MAX, usize::MAX).unwrap();
    let handles: Vec<_> = (0..8)
        .map(|x| runner.execute(Task::new(plain, (x,)), Priority::Low))
        .collect();
    let values: Vec<u32> = handles.into_iter().map(|h| h.wait().unwrap()).collect();
    assert_eq!(values, (0..8).collect::<Vec<_>>());
}

/// AsyncRunner discard: with one running slot and one waiting place, the third task pushes out
/// the second (10200054); canceling a waiting one is 10200055.
#[test]
fn async_runner_discard_and_cancel_codes() {
    let pool = pool(2);
    let runner = pool.async_runner(1, 1).unwrap();
    let first = runner.execute(Task::new(hold, (G + 2,)), Priority::Medium);
    wait_until_executing(&pool, first.id());
    let second = runner.execute(Task::new(hold, (G + 2,)), Priority::Medium);
    let third = runner.execute(Task::new(hold, (G + 2,)), Priority::Medium);
    assert_eq!(second.wait().unwrap_err().code(), Some(10200054));
    third.cancel().unwrap();
    assert_eq!(third.wait().unwrap_err().code(), Some(10200055));
    open_gate(G + 2);
    first.wait().unwrap();
}

/// `addTask` on a group already executed: ArkTS throws its parameter error, 401 ("taskpool::
/// executed taskGroup cannot addTask", `ErrorHelper::TYPE_ERROR`), as for the other parameter
/// errors this crate maps to 401; the message carries the code.
#[test]
fn add_task_to_an_executed_group_is_401() {
    let pool = pool(1);
    let mut group = TaskGroup::new();
    group.add(plain, (1,)).unwrap();
    assert_eq!(
        pool.execute_group(&group, Priority::Medium).wait().unwrap(),
        [1]
    );
    let error = group.add(plain, (2,)).unwrap_err();
    assert!(matches!(error, Error::GroupExecuted));
    assert_eq!(error.code(), Some(401));
    assert!(error.to_string().contains("(401)"), "{error}");
    let error = group.add_task(Task::new(plain, (3,))).unwrap_err();
    assert_eq!(error.code(), Some(401));
}

/// ArkTS's `AsyncRunner.execute` checks a task's dependencies before an earlier execution
/// (`Task::CanForAsyncRunner`): a task with dependencies executed by reference before is
/// refused with 10200025, not 10200057; the run it was executed with still waits for its
/// dependency and then runs.
#[test]
fn async_runner_tells_dependencies_before_an_earlier_execution() {
    let pool = pool(1);
    let asr = pool.async_runner(1, 0).unwrap();
    let (waiting, dependency) = (Task::new(plain, (4,)), Task::new(plain, (5,)));
    waiting.add_dependency(&dependency).unwrap();
    let held = pool.execute(&waiting);
    let refused = asr.execute(waiting, Priority::Low).wait().unwrap_err();
    assert!(
        matches!(refused, Error::AsyncRunnerDependentTask(_)),
        "{refused}"
    );
    assert_eq!(refused.code(), Some(10200025));
    assert_eq!(pool.execute(dependency).wait().unwrap(), 5);
    assert_eq!(bounded("the held run", move || held.wait()).unwrap(), 4);
}

/// A task other tasks depend on (the other end of a dependency, which ArkTS refuses in runners
/// with 10200025 too, as README documents) runs in a sequence runner or an async runner, and
/// its success releases its dependents.
#[test]
fn runners_run_a_task_another_depends_on() {
    let pool = pool(2);
    let seq = pool.sequence_runner(Priority::Medium);
    let asr = pool.async_runner(1, 0).unwrap();
    let dependent = Task::new(plain, (1,));
    let (first, second) = (Task::new(plain, (2,)), Task::new(plain, (3,)));
    dependent.add_dependency(&first).unwrap();
    dependent.add_dependency(&second).unwrap();
    let held = pool.execute(dependent);
    assert_eq!(seq.execute(first).wait().unwrap(), 2);
    assert_eq!(asr.execute(second, Priority::Low).wait().unwrap(), 3);
    assert_eq!(bounded("the dependent", move || held.wait()).unwrap(), 1);
}

// ---------------------------------------------------------------------------------------------
// Faults

/// Every listener panics: the run still resolves, each listener is called, the pool goes on
/// and drops cleanly.
#[test]
fn panicking_listeners_neither_hang_nor_break_the_pool() {
    let calls = Arc::new(AtomicUsize::new(0));
    let pool = pool(2);
    let task = Task::new(plain, (7,));
    let failing = Task::new(fail_always, ());
    {
        let t = &task;
        let c = Arc::clone(&calls);
        t.on_enqueued(move || {
            c.fetch_add(1, Ordering::SeqCst);
            panic!("enqueued")
        })
        .unwrap();
        let c = Arc::clone(&calls);
        t.on_start_execution(move || {
            c.fetch_add(1, Ordering::SeqCst);
            panic!("started")
        })
        .unwrap();
        let c = Arc::clone(&calls);
        t.on_execution_succeeded(move || {
            c.fetch_add(1, Ordering::SeqCst);
            panic!("succeeded")
        })
        .unwrap();
    }
    let c = Arc::clone(&calls);
    failing
        .on_execution_failed(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            panic!("failed")
        })
        .unwrap();
    assert_eq!(pool.execute(&task).wait().unwrap(), 7);
    assert!(pool.execute(failing).wait().is_err());
    wait_until("every listener ran", || calls.load(Ordering::SeqCst) == 4);
    assert_eq!(pool.execute(&task).wait().unwrap(), 7);
    wait_until("every listener ran again", || {
        calls.load(Ordering::SeqCst) == 7
    });
    bounded("dropping the pool", move || drop(pool));
}

/// A result whose `Drop` panics, of a run whose handle was dropped before it ended: contained
/// on the pool thread, which goes on.
#[test]
fn panicking_result_drop_with_the_handle_dropped_early_is_contained() {
    let pool = pool(1);
    let handle = pool.run(make_bomb_after, (G + 3, 31));
    wait_until_executing(&pool, handle.id());
    drop(handle);
    open_gate(G + 3);
    wait_until("the result was dropped", || support::dropped(31));
    assert_eq!(pool.run(plain, (5,)).wait().unwrap(), 5);
    bounded("dropping the pool", move || drop(pool));
}

/// A result whose `Drop` panics, of a run canceled while it ran: the late outcome is dropped
/// with the error, contained.
#[test]
fn panicking_late_result_of_a_canceled_run_is_contained() {
    let pool = pool(1);
    let handle = pool.run(make_bomb_after, (G + 4, 32));
    wait_until_executing(&pool, handle.id());
    handle.cancel().unwrap();
    open_gate(G + 4);
    // The error holds the late value, the caller's to drop (here, under `catch_unwind`).
    let canceled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        matches!(handle.wait(), Err(Error::Canceled { .. }))
    }));
    assert!(canceled.unwrap_or(true));
    assert_eq!(pool.run(plain, (5,)).wait().unwrap(), 5);
    bounded("dropping the pool", move || drop(pool));
}

/// Bomb arguments of waiting runs: canceled, discarded by a full async runner, dropped by a
/// failed group, dropped by a shutdown. None reaches the caller.
#[test]
fn panicking_argument_drops_on_every_refusal_path_are_contained() {
    let pool = pool(1);
    let blocker = pool.run(hold, (G + 5,));
    wait_until_executing(&pool, blocker.id());
    #[concurrent]
    fn eat(b: Bomb) -> u32 {
        std::mem::forget(b);
        1
    }
    // canceled while waiting
    let waiting = pool.execute(Task::new(eat, (Bomb(41),)));
    waiting.cancel().unwrap();
    assert!(waiting.wait().is_err());
    // discarded by an async runner
    let runner = pool.async_runner(1, 1).unwrap();
    let r1 = runner.execute(Task::new(eat, (Bomb(42),)), Priority::Medium);
    let r2 = runner.execute(Task::new(eat, (Bomb(43),)), Priority::Medium);
    let r3 = runner.execute(Task::new(eat, (Bomb(44),)), Priority::Medium);
    assert_eq!(r2.wait().unwrap_err().code(), Some(10200054));
    // a group whose first task fails
    let mut group: TaskGroup<u32> = TaskGroup::new();
    group.add_task(Task::new(eat, (Bomb(45),))).unwrap();
    let gh = pool.execute_group(&group, Priority::Medium);
    gh.cancel().unwrap();
    assert!(gh.wait().is_err());
    // The group still owns its task's bomb: the caller's own to drop.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(group)));
    r1.cancel().unwrap();
    open_gate(G + 5);
    blocker.wait().unwrap();
    let _ = r1.wait();
    assert!(r3.wait().is_ok());
    let late = pool.execute(Task::new(eat, (Bomb(46),)));
    let late2 = pool.execute(Task::new(eat, (Bomb(47),)));
    bounded("shutting the pool down", move || pool.shutdown());
    let _ = late.wait();
    let _ = late2.wait();
}

/// A task executed by reference and dropped while its run's handle is awaited: the handle
/// resolves.
#[test]
fn task_dropped_while_its_handle_is_awaited() {
    let pool = pool(1);
    let task = Task::new(hold, (G + 6,));
    let handle = pool.execute(&task);
    wait_until_executing(&pool, handle.id());
    let waiter = std::thread::spawn(move || support::block_on(handle));
    drop(task);
    open_gate(G + 6);
    assert_eq!(waiter.join().unwrap().unwrap(), G + 6);
}

#[concurrent]
fn spin_a_little(x: u32) -> u32 {
    std::hint::black_box((0..200).fold(x, |a, b| a.wrapping_add(b)))
}

/// Many cancels race many completions, on plain executions, a sequence runner and an async
/// runner: each cancel answers Ok or 10200015, each handle resolves, and the pool is left
/// with nothing listed as waiting or running.
#[test]
fn cancels_racing_completions_resolve_everything() {
    let pool = Arc::new(pool(3));
    let seq = pool.sequence_runner(Priority::High);
    let asr = pool.async_runner(2, 3).unwrap();
    for round in 0..20 {
        let mut handles = Vec::new();
        for x in 0..60u32 {
            let task = Task::new(spin_a_little, (x,));
            handles.push(match x % 3 {
                0 => pool.execute(task),
                1 => seq.execute(task),
                _ => asr.execute(task, Priority::Low),
            });
        }
        let ids: Vec<_> = handles.iter().map(|h| h.id()).collect();
        let p = Arc::clone(&pool);
        let canceler = std::thread::spawn(move || {
            for id in ids.iter().rev() {
                match p.cancel(*id) {
                    Ok(()) => {}
                    Err(e) => assert_eq!(e.code(), Some(10200015), "round {round}: {e}"),
                }
            }
        });
        for h in handles {
            let _ = bounded("a handle", move || h.wait());
        }
        canceler.join().unwrap();
    }
    wait_until("nothing waits or runs", || {
        pool.info()
            .tasks
            .iter()
            .all(|t| t.state == TaskState::Canceled)
    });
    assert_eq!(pool.run(plain, (9,)).wait().unwrap(), 9);
}

/// `on_execution_failed` of a task refused by an async runner (10200057, executed before by
/// another API) hears the refusal with its code.
#[test]
fn runner_refusal_reaches_on_execution_failed() {
    let pool = pool(1);
    let task = Task::new(plain, (3,));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    task.on_execution_failed(move |e| s.lock().unwrap().push(e.code()))
        .unwrap();
    pool.execute(&task).wait().unwrap();
    let runner = pool.async_runner(1, 0).unwrap();
    let error = runner.execute(task, Priority::Medium).wait().unwrap_err();
    assert_eq!(error.code(), Some(10200057));
    wait_until("the listener heard the refusal", || {
        seen.lock().unwrap().contains(&Some(10200057))
    });
}

/// `send_data` in a listener (outside any task's run, on the callback thread): 10200023.
#[test]
fn send_data_in_a_listener_is_10200023() {
    let pool = pool(1);
    let task = Task::new(plain, (3,));
    let seen = Arc::new(Mutex::new(None));
    let s = Arc::clone(&seen);
    task.on_execution_succeeded(move || {
        *s.lock().unwrap() = Some(taskpool::send_data(1u8).unwrap_err().code());
    })
    .unwrap();
    pool.execute(&task).wait().unwrap();
    wait_until("the listener ran", || seen.lock().unwrap().is_some());
    assert_eq!(*seen.lock().unwrap(), Some(Some(10200023)));
    assert_eq!(taskpool::send_data(1u8).unwrap_err().code(), Some(10200022));
}

/// `isDone` and the durations: false/None before a run, true/Some after a run ended, also
/// when it failed.
#[test]
fn is_done_and_durations_after_success_and_failure() {
    let pool = pool(1);
    let task = Task::new(plain, (1,));
    assert!(!task.is_done());
    assert!(task.durations().is_none());
    pool.execute(&task).wait().unwrap();
    assert!(task.is_done());
    assert!(task.durations().is_some());
    let failing = Task::new(fail_always, ());
    let h = pool.execute(&failing);
    assert!(h.wait().is_err());
    wait_until("the failed run is done", || failing.is_done());
    assert!(failing.durations().is_some());
}

/// A bomb returned by a long task whose handle is dropped: contained; terminate still works.
#[test]
fn long_task_with_a_panicking_result_and_no_handle() {
    let pool = pool(1);
    let long = LongTask::new(make_bomb, (51,));
    let id = long.id();
    drop(pool.execute(long));
    wait_until("the result was dropped", || support::dropped(51));
    wait_until("terminated", || pool.terminate_task(id).is_ok());
    assert_eq!(pool.run(plain, (5,)).wait().unwrap(), 5);
}

// ---------------------------------------------------------------------------------------------
// Cancels from inside, and of tasks with several runs

/// Two runs of one task executed by reference (the second waits its turn): `cancel(id)` of the
/// task cancels both; canceling it again while its canceled run still executes is no error
/// (ArkTS skips a task already canceled); every handle resolves as canceled.
#[test]
fn cancel_by_id_of_a_task_with_two_runs() {
    let pool = pool(2);
    let task = Task::new(hold, (G + 7,));
    let first = pool.execute(&task);
    wait_until_executing(&pool, first.id());
    let second = pool.execute(&task);
    for _ in 0..3 {
        pool.cancel(task.id()).unwrap();
    }
    open_gate(G + 7);
    let a = bounded("first", move || first.wait());
    let b = bounded("second", move || second.wait());
    assert!(
        matches!(a, Err(Error::Canceled { started: true, .. })),
        "{a:?}"
    );
    assert!(
        matches!(b, Err(Error::Canceled { started: false, .. })),
        "{b:?}"
    );
    wait_until("the task left the pool", || pool.cancel(task.id()).is_err());
}

#[concurrent]
fn cancel_self() -> bool {
    let id = taskpool::current_task_id().unwrap();
    taskpool::cancel(id).is_ok() && taskpool::is_canceled()
}

/// A task that cancels itself while running: Ok, it sees `is_canceled`, its handle resolves
/// as canceled.
#[test]
fn a_task_canceling_itself() {
    let handle = taskpool::execute(Task::new(cancel_self, ()));
    let outcome = bounded("self-cancel", move || handle.wait());
    match outcome {
        Err(Error::Canceled { late, .. }) => {
            let late = late.expect("the late outcome");
            assert_eq!(late.into_value::<bool>(), Some(true));
        }
        other => panic!("unexpected {other:?}"),
    }
}

static PERIODIC_SELF: AtomicUsize = AtomicUsize::new(0);

#[concurrent]
fn periodic_cancel_self() -> u32 {
    PERIODIC_SELF.fetch_add(1, Ordering::SeqCst);
    let id = taskpool::current_task_id().unwrap();
    match taskpool::cancel(id) {
        Ok(()) => 0,
        Err(e) => e.code().unwrap_or(1),
    }
}

/// A periodic task that cancels itself from its first run: it stops, nothing hangs.
#[test]
fn a_periodic_task_canceling_itself_stops() {
    let periodic = taskpool::execute_periodically(
        Duration::from_millis(1),
        Task::new(periodic_cancel_self, ()),
        Priority::High,
    )
    .unwrap();
    wait_until("it stopped", || periodic.is_stopped());
    assert_eq!(PERIODIC_SELF.load(Ordering::SeqCst), 1);
    assert_eq!(periodic.cancel().unwrap_err().code(), Some(10200015));
}

#[concurrent]
fn terminate_self() -> u32 {
    let id = taskpool::current_task_id().unwrap();
    match taskpool::terminate_task(id) {
        Ok(()) => 0,
        Err(e) => e.code().unwrap_or(1),
    }
}

/// A long task that terminates itself from inside: an answer, no hang; its handle resolves.
#[test]
fn a_long_task_terminating_itself() {
    let long = LongTask::new(terminate_self, ());
    let id = long.id();
    let handle = taskpool::execute(long);
    let answer = bounded("self-terminate", move || handle.wait());
    assert_eq!(answer.unwrap(), 0);
    assert_eq!(taskpool::terminate_task(id).unwrap_err().code(), Some(401));
}

/// Shutting a pool down with a delayed task that never elapses, a periodic task and a held
/// sequence: every handle resolves, the periodic one stops.
#[test]
fn shutdown_resolves_delayed_periodic_and_runner_handles() {
    let pool = pool(1);
    let delayed = pool.execute_delayed(Duration::MAX, Task::new(plain, (1,)), Priority::Low);
    let periodic = pool
        .execute_periodically(
            Duration::from_millis(1),
            Task::new(plain, (2,)),
            Priority::Idle,
        )
        .unwrap();
    let seq = pool.sequence_runner(Priority::Medium);
    let s1 = seq.execute(Task::new(hold, (G + 8,)));
    wait_until_executing(&pool, s1.id());
    let s2 = seq.execute(Task::new(plain, (3,)));
    let asr = pool.async_runner(1, 0).unwrap();
    let a1 = asr.execute(Task::new(plain, (4,)), Priority::Low);
    // The shutdown waits for the sequence's running task, released here.
    let opener = std::thread::spawn(|| open_gate(G + 8));
    bounded("shutdown", move || pool.shutdown());
    opener.join().unwrap();
    assert!(matches!(delayed.wait(), Err(Error::PoolShutDown)));
    let _ = s2.wait();
    let _ = a1.wait();
    wait_until("periodic stopped", || periodic.is_stopped());
    assert_eq!(s1.wait().unwrap(), G + 8);
}

// ---------------------------------------------------------------------------------------------
// Dependencies satisfied by runs of other APIs

/// A task waiting for a dependency whose run is made by a group or a delayed execution: the
/// run that succeeds releases it (runners refuse a dependency: see
/// `runners_refuse_a_task_another_depends_on_with_10200025`).
#[test]
fn a_dependency_run_by_a_group_or_a_delay_releases_its_dependent() {
    let pool = pool(2);
    for how in 0..2 {
        let dependency = Task::new(plain, (10,));
        let dependent = Task::new(plain, (20,));
        dependent.add_dependency(&dependency).unwrap();
        let waiting = pool.execute(dependent);
        let ran = if how == 0 {
            let mut group = TaskGroup::new();
            group.add_task(dependency).unwrap();
            bounded("group", move || pool_of_global_group(group).map(|v| v[0]))
        } else {
            pool.execute_delayed(Duration::from_millis(1), dependency, Priority::Low)
                .wait()
        };
        assert_eq!(ran.map_err(|e| e.to_string()), Ok(10), "api {how}");
        let released = bounded("dependent", move || waiting.wait());
        assert_eq!(released.map_err(|e| e.to_string()), Ok(20), "api {how}");
    }
}

fn pool_of_global_group(group: TaskGroup<u32>) -> taskpool::Result<Vec<u32>> {
    taskpool::execute_group(&group, Priority::Medium).wait()
}

// ---------------------------------------------------------------------------------------------
// Groups

/// Cancel of a group whose execution already failed (one member failed, another still runs):
/// the execution has ended, 10200018.
#[test]
fn cancel_of_a_group_that_already_failed_is_10200018() {
    #[concurrent]
    fn fail_or_hold(fail: bool, gate: u64) -> Result<u32, String> {
        if fail {
            return Err("member failed".to_owned());
        }
        pass_gate(gate);
        Ok(1)
    }
    let pool = pool(2);
    let mut group = TaskGroup::new();
    group.add(fail_or_hold, (false, G + 9)).unwrap();
    group.add(fail_or_hold, (true, G + 9)).unwrap();
    let handle = pool.execute_group(&group, Priority::Medium);
    wait_until("the group failed", || handle.is_finished());
    let answer = handle.cancel();
    open_gate(G + 9);
    assert_eq!(answer.unwrap_err().code(), Some(10200018));
    assert!(handle.wait().is_err());
}

/// A group handle dropped early, its members' results `Drop`-panicking: contained.
#[test]
fn group_handle_dropped_early_with_panicking_results() {
    let pool = pool(2);
    let mut group = TaskGroup::new();
    group.add(make_bomb_after, (G + 10, 61)).unwrap();
    group.add(make_bomb_after, (G + 10, 62)).unwrap();
    let handle = pool.execute_group(&group, Priority::Medium);
    drop(handle);
    open_gate(G + 10);
    wait_until("both results dropped", || {
        support::dropped(61) && support::dropped(62)
    });
    assert_eq!(pool.run(plain, (5,)).wait().unwrap(), 5);
    bounded("dropping the pool", move || drop(pool));
}

// ---------------------------------------------------------------------------------------------
// Periodic

static PANICKY_TICKS: AtomicUsize = AtomicUsize::new(0);

#[concurrent]
fn panicky_tick() -> u32 {
    PANICKY_TICKS.fetch_add(1, Ordering::SeqCst);
    panic!("tick panicked")
}

/// A periodic task whose every run panics keeps ticking, and its failure listener hears each.
#[test]
fn a_periodic_task_that_panics_keeps_ticking() {
    let failures = Arc::new(AtomicUsize::new(0));
    let task = Task::new(panicky_tick, ());
    let f = Arc::clone(&failures);
    task.on_execution_failed(move |_| {
        f.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    let pool = pool(1);
    let periodic = pool
        .execute_periodically(Duration::from_millis(1), task, Priority::Medium)
        .unwrap();
    wait_until("three runs failed", || failures.load(Ordering::SeqCst) >= 3);
    periodic.cancel().unwrap();
    assert!(PANICKY_TICKS.load(Ordering::SeqCst) >= 3);
}

// ---------------------------------------------------------------------------------------------
// Listeners that never return

/// A success listener that blocks (until the test ends): dropping, or shutting down, its pool
/// neither hangs nor leaves a later task's handle unresolved.
#[test]
fn a_blocked_listener_does_not_hang_the_pool_drop() {
    for shutdown in [false, true] {
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let blocked = Mutex::new(blocked);
        let entered = Arc::new(AtomicUsize::new(0));
        // A short wait for the callback thread: the blocked listener is then left behind.
        let pool = TaskPool::builder()
            .max_threads(1)
            .callback_timeout(Duration::from_millis(50))
            .build()
            .unwrap();
        let task = Task::new(plain, (1,));
        let e = Arc::clone(&entered);
        task.on_execution_succeeded(move || {
            e.fetch_add(1, Ordering::SeqCst);
            let _ = blocked.lock().unwrap().recv();
        })
        .unwrap();
        assert_eq!(pool.execute(task).wait().unwrap(), 1);
        wait_until("the listener is blocked", || {
            entered.load(Ordering::SeqCst) == 1
        });
        let later = pool.run(plain, (2,));
        assert_eq!(later.wait().unwrap(), 2);
        bounded("dropping the pool", move || {
            if shutdown {
                pool.shutdown_timeout(Duration::from_millis(100));
            } else {
                drop(pool);
            }
        });
        drop(release);
    }
}

// ---------------------------------------------------------------------------------------------
// Runner bookkeeping under churn

#[concurrent]
async fn nap_briefly(x: u32) -> u32 {
    taskpool::sleep(Duration::from_micros(200)).await;
    x
}

/// Submissions from two threads to an async runner and a sequence runner, sync and `async`
/// tasks, while a third thread cancels: every handle resolves, and afterwards each runner
/// still runs a task (no running slot or turn was left behind).
#[test]
fn runners_keep_their_slots_through_cancel_churn() {
    let pool = Arc::new(pool(3));
    let asr = pool.async_runner(2, 3).unwrap();
    let seq = pool.sequence_runner(Priority::Medium);
    for _round in 0..10 {
        let (ids_tx, ids_rx) = std::sync::mpsc::channel();
        let submitters: Vec<_> = (0..2u32)
            .map(|s| {
                let (asr, seq, ids_tx) = (asr.clone(), seq.clone(), ids_tx.clone());
                std::thread::spawn(move || {
                    let mut handles = Vec::new();
                    for x in 0..40u32 {
                        let handle = match (x + s) % 4 {
                            0 => asr.execute(Task::new(spin_a_little, (x,)), Priority::High),
                            1 => asr.execute(Task::new(nap_briefly, (x,)), Priority::Low),
                            2 => seq.execute(Task::new(spin_a_little, (x,))),
                            _ => seq.execute(Task::new(nap_briefly, (x,))),
                        };
                        ids_tx.send(handle.id()).unwrap();
                        handles.push(handle);
                    }
                    handles
                })
            })
            .collect();
        drop(ids_tx);
        let p = Arc::clone(&pool);
        let canceler = std::thread::spawn(move || {
            for (n, id) in ids_rx.into_iter().enumerate() {
                if n % 2 == 0 {
                    let _ = p.cancel(id);
                }
            }
        });
        for submitter in submitters {
            for handle in submitter.join().unwrap() {
                let _ = bounded("a runner handle", move || handle.wait());
            }
        }
        canceler.join().unwrap();
    }
    let a = asr.execute(Task::new(plain, (1,)), Priority::Low);
    let b = asr.execute(Task::new(plain, (2,)), Priority::Low);
    let s = seq.execute(Task::new(plain, (3,)));
    assert_eq!(bounded("async runner", move || a.wait()).unwrap(), 1);
    assert_eq!(bounded("async runner", move || b.wait()).unwrap(), 2);
    assert_eq!(bounded("sequence runner", move || s.wait()).unwrap(), 3);
}

#[concurrent]
fn overrun(gate: u64) -> u32 {
    pass_gate(gate);
    1
}

/// A runner's task that overruns the time limit: its handle resolves `TimedOut`, and once the
/// call returns the runner goes on.
#[test]
fn runners_go_on_after_a_timed_out_task_returns() {
    let pool = TaskPool::builder()
        .max_threads(2)
        .time_limit(support::SHORT_LIMIT)
        .build()
        .unwrap();
    let asr = pool.async_runner(1, 0).unwrap();
    let seq = pool.sequence_runner(Priority::High);
    let a1 = asr.execute(Task::new(overrun, (G + 11,)), Priority::Medium);
    let s1 = seq.execute(Task::new(overrun, (G + 11,)));
    let a2 = asr.execute(Task::new(plain, (2,)), Priority::Medium);
    let s2 = seq.execute(Task::new(plain, (3,)));
    assert!(matches!(a1.wait(), Err(Error::TimedOut { .. })));
    assert!(matches!(s1.wait(), Err(Error::TimedOut { .. })));
    open_gate(G + 11);
    assert_eq!(bounded("async runner", move || a2.wait()).unwrap(), 2);
    assert_eq!(bounded("sequence runner", move || s2.wait()).unwrap(), 3);
}

/// A dependency added then removed leaves no relationship: both tasks may run periodically;
/// while it stands, either is refused with 401.
#[test]
fn periodic_after_a_removed_dependency_is_accepted() {
    let pool = pool(1);
    let a = Task::new(plain, (1,));
    let b = Task::new(plain, (2,));
    a.add_dependency(&b).unwrap();
    let c = Task::new(plain, (3,));
    c.add_dependency(&a).unwrap();
    c.remove_dependency(&a).unwrap();
    a.remove_dependency(&b).unwrap();
    let pa = pool
        .execute_periodically(Duration::from_secs(3600), a, Priority::Low)
        .unwrap();
    let pb = pool
        .execute_periodically(Duration::from_secs(3600), b, Priority::Low)
        .unwrap();
    let d = Task::new(plain, (4,));
    let e = Task::new(plain, (5,));
    d.add_dependency(&e).unwrap();
    assert_eq!(
        pool.execute_periodically(Duration::from_secs(1), e, Priority::Low)
            .unwrap_err()
            .code(),
        Some(401)
    );
    assert_eq!(
        pool.execute_periodically(Duration::from_secs(1), d, Priority::Low)
            .unwrap_err()
            .code(),
        Some(401)
    );
    pa.cancel().unwrap();
    pb.cancel().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Handles awaited across pools

static OTHER: Mutex<Vec<taskpool::TaskHandle<u32>>> = Mutex::new(Vec::new());

#[concurrent]
async fn await_other() -> String {
    let handle = OTHER.lock().unwrap().pop().unwrap();
    match handle.await {
        Ok(v) => format!("ok {v}"),
        Err(e) => format!("err {e}"),
    }
}

/// An `async` task of one pool awaits a handle of another pool's delayed task that never
/// elapses; the other pool is dropped: the awaiting task wakes with the shutdown error.
#[test]
fn awaiting_a_handle_of_a_pool_that_is_dropped() {
    let a = pool(1);
    let b = pool(1);
    let never = b.execute_delayed(Duration::MAX, Task::new(plain, (1,)), Priority::Low);
    OTHER.lock().unwrap().push(never);
    let waiter = a.execute(Task::new(await_other, ()));
    support::wait_until_suspended(&a, waiter.id());
    bounded("dropping the other pool", move || drop(b));
    let said = bounded("the waiter", move || waiter.wait()).unwrap();
    assert!(said.starts_with("err"), "{said}");
}

/// Runs of one task on two pools take turns; the pool holding the earlier run shuts down
/// before running it: the later run, on the other pool, is released and runs.
#[test]
fn a_run_waiting_its_turn_behind_a_run_of_a_pool_that_shuts_down() {
    let a = pool(1);
    let b = pool(1);
    let blocker = a.run(hold, (G + 12,));
    wait_until_executing(&a, blocker.id());
    let task = Task::new(plain, (5,));
    let first = a.execute(&task);
    let second = b.execute(&task);
    // Gives up on the blocked call, so the queued first run is canceled.
    bounded("shutting a down", move || {
        a.shutdown_timeout(Duration::from_millis(10))
    });
    assert!(first.wait().is_err());
    assert_eq!(bounded("the second run", move || second.wait()).unwrap(), 5);
    open_gate(G + 12);
    let _ = blocker.wait();
}

/// A long task executed with a delay is still a long task: it holds its thread, so
/// `terminate_task` takes it while it runs (an ordinary task's id gives 401).
#[test]
fn a_delayed_long_task_is_still_long() {
    let pool = pool(2);
    let long = LongTask::new(overrun, (G + 13,));
    let id = long.id();
    let handle = pool.execute_delayed(Duration::from_millis(1), long, Priority::Medium);
    wait_until_executing(&pool, id);
    pool.terminate_task(id).unwrap();
    open_gate(G + 13);
    assert_eq!(handle.wait().unwrap(), 1);
}

fn listen_all<T>(task: &Task<T>) -> Arc<Mutex<Vec<String>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = Arc::clone(&log);
    task.on_enqueued(move || l.lock().unwrap().push("enqueued".to_owned()))
        .unwrap();
    let l = Arc::clone(&log);
    task.on_start_execution(move || l.lock().unwrap().push("started".to_owned()))
        .unwrap();
    let l = Arc::clone(&log);
    task.on_execution_succeeded(move || l.lock().unwrap().push("succeeded".to_owned()))
        .unwrap();
    let l = Arc::clone(&log);
    task.on_execution_failed(move |e| l.lock().unwrap().push(format!("failed {e}")))
        .unwrap();
    log
}

/// A run that times out, then returns a value, and a run canceled while running that returns
/// a value: each is reported failed once, never also succeeded.
#[test]
fn a_timed_out_or_canceled_run_that_returns_is_not_also_succeeded() {
    let pool = TaskPool::builder()
        .max_threads(2)
        .time_limit(support::SHORT_LIMIT)
        .build()
        .unwrap();
    let timed = Task::new(overrun, (G + 14,));
    let timed_log = listen_all(&timed);
    let canceled = Task::new(overrun, (G + 14,));
    let canceled_log = listen_all(&canceled);
    let h1 = pool.execute(&timed);
    let h2 = pool.execute(&canceled);
    wait_until_executing(&pool, h2.id());
    h2.cancel().unwrap();
    assert!(matches!(h1.wait(), Err(Error::TimedOut { .. })));
    open_gate(G + 14);
    assert!(h2.wait().is_err());
    // The timed-out call has returned once its durations are recorded.
    wait_until("the timed-out call returned", || {
        timed.durations().is_some()
    });
    // Listeners run in order on the pool's callback thread: once a later task's events are
    // in, any event the two calls' returns posted is in too.
    let probe = Task::new(plain, (2,));
    let probe_log = listen_all(&probe);
    pool.execute(&probe).wait().unwrap();
    wait_until("the probe's events", || {
        probe_log.lock().unwrap().len() == 3
    });
    for log in [&timed_log, &canceled_log] {
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 3, "{log:?}");
        assert_eq!(log[0], "enqueued");
        assert_eq!(log[1], "started");
        assert!(log[2].starts_with("failed"), "{log:?}");
    }
}

/// `remove_dependency` after the dependent was executed (its run held for that dependency)
/// succeeds and releases the held run at once (ArkTS refuses it with 10200027, as README
/// documents); removing it again is 10200027.
#[test]
fn removing_the_dependency_a_held_run_waits_for() {
    let pool = pool(1);
    let a = Task::new(plain, (1,));
    let b = Task::new(plain, (2,));
    a.add_dependency(&b).unwrap();
    let held = pool.execute(&a);
    a.remove_dependency(&b).unwrap();
    assert_eq!(bounded("the released run", move || held.wait()).unwrap(), 1);
    assert_eq!(a.remove_dependency(&b).unwrap_err().code(), Some(10200027));
}

/// A long task that completed but was never terminated does not keep the pool's only thread
/// from ordinary work; several such tasks neither.
#[test]
fn unterminated_long_tasks_do_not_starve_the_pool() {
    let pool = pool(1);
    for x in 0..5 {
        assert_eq!(pool.execute(LongTask::new(plain, (x,))).wait().unwrap(), x);
    }
    let h = pool.run(plain, (9,));
    assert_eq!(bounded("an ordinary task", move || h.wait()).unwrap(), 9);
}

// ---------------------------------------------------------------------------------------------
// A random mix of every API, from several threads

#[concurrent]
fn maybe_fail(x: u32) -> Result<u32, String> {
    if x % 5 == 0 {
        return Err(format!("{x} fails"));
    }
    if x % 7 == 0 {
        panic!("{x} panics");
    }
    Ok(x)
}

#[concurrent]
async fn nap_then(x: u32) -> u32 {
    taskpool::sleep(Duration::from_micros(u64::from(x % 300))).await;
    x
}

fn some_task(rng: &mut Rng) -> Task<u32> {
    let x = rng.below(1000) as u32;
    match rng.below(3) {
        0 => Task::new(maybe_fail, (x,)),
        1 => Task::new(nap_then, (x,)),
        _ => Task::new(spin_a_little, (x,)),
    }
}

/// What a round left in flight.
struct InFlight {
    seed: u64,
    handles: Vec<taskpool::TaskHandle<u32>>,
    groups: Vec<taskpool::GroupHandle<u32>>,
    periodic: Vec<taskpool::PeriodicHandle>,
    kept: Vec<Task<u32>>,
}

fn one_round(seed: u64, pool: &TaskPool) {
    settle(start_round(seed, pool), || format!("{:#?}", pool.info()));
}

/// Every handle of the round resolves (`describe` says what the pool looked like if not).
fn settle(round: InFlight, describe: impl Fn() -> String) {
    for h in round.periodic {
        let _ = h.cancel();
    }
    for g in round.groups {
        let _ = bounded("a group handle", move || g.wait());
    }
    for (n, mut h) in round.handles.into_iter().enumerate() {
        if h.wait_timeout(support::PATIENCE).is_none() {
            panic!(
                "seed {}: handle {n} ({:?}) never resolved; {}",
                round.seed,
                h.id(),
                describe()
            );
        }
    }
    drop(round.kept);
}

fn start_round(seed: u64, pool: &TaskPool) -> InFlight {
    let mut rng = Rng::for_seed(seed);
    let seq = pool.sequence_runner(Priority::Medium);
    let asr = pool
        .async_runner(1 + rng.below(2) as usize, rng.below(3) as usize)
        .unwrap();
    let mut handles: Vec<taskpool::TaskHandle<u32>> = Vec::new();
    let mut groups = Vec::new();
    let mut periodic = Vec::new();
    let mut kept: Vec<Task<u32>> = Vec::new();
    let priorities = [
        Priority::High,
        Priority::Medium,
        Priority::Low,
        Priority::Idle,
    ];
    for _ in 0..60 {
        let p = priorities[rng.below(4) as usize];
        match rng.below(12) {
            0 => handles.push(pool.execute_with_priority(some_task(&mut rng), p)),
            1 => {
                let t = some_task(&mut rng);
                handles.push(pool.execute_with_priority(&t, p));
                kept.push(t);
            }
            2 => {
                let d = Duration::from_micros(rng.below(2000));
                handles.push(pool.execute_delayed(d, some_task(&mut rng), p));
            }
            3 => handles.push(seq.execute(some_task(&mut rng))),
            4 => handles.push(asr.execute(some_task(&mut rng), p)),
            5 => {
                let mut g = TaskGroup::new();
                for _ in 0..rng.below(3) {
                    g.add_task(some_task(&mut rng)).unwrap();
                }
                groups.push(pool.execute_group(&g, p));
            }
            6 => {
                let t = Task::new(spin_a_little, (1,));
                if let Ok(h) = pool.execute_periodically(Duration::from_millis(1), t, p) {
                    periodic.push(h);
                }
            }
            7 if !kept.is_empty() => {
                let dep = some_task(&mut rng);
                let i = rng.below(kept.len() as u64) as usize;
                if kept[i].add_dependency(&dep).is_ok() {
                    handles.push(pool.execute_with_priority(&kept[i], p));
                    if rng.below(2) == 0 {
                        handles.push(pool.execute_with_priority(dep, p));
                    } else {
                        drop(dep);
                    }
                }
            }
            8 if !handles.is_empty() => {
                let i = rng.below(handles.len() as u64) as usize;
                let _ = pool.cancel(handles[i].id());
            }
            9 if !handles.is_empty() => {
                let i = rng.below(handles.len() as u64) as usize;
                drop(handles.swap_remove(i));
            }
            10 if !groups.is_empty() => {
                let i = rng.below(groups.len() as u64) as usize;
                let _ = groups[i].cancel();
            }
            11 if !periodic.is_empty() => {
                let i = rng.below(periodic.len() as u64) as usize;
                let _ = periodic[i].cancel();
            }
            _ => {}
        }
    }
    InFlight {
        seed,
        handles,
        groups,
        periodic,
        kept,
    }
}

/// Random mixes of every API from three threads at once: every handle resolves, nothing
/// panics the callers, and the pool is left with nothing waiting or running.
#[test]
fn random_mixes_of_every_api_resolve_every_handle() {
    let pool = Arc::new(pool(3));
    let rounds: u64 = std::env::var("PROBE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(6);
    for base in 0..rounds {
        let threads: Vec<_> = (0..3u64)
            .map(|t| {
                let pool = Arc::clone(&pool);
                std::thread::spawn(move || one_round(0x9E37_79B9 + base * 31 + t * 7919, &pool))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
    wait_until("nothing waits or runs", || {
        pool.info()
            .tasks
            .iter()
            .all(|t| t.state == TaskState::Canceled)
    });
}

/// The same mixes, each on its own pool that shuts down (bounded) while the work is in flight:
/// every handle still resolves.
#[test]
fn random_mixes_cut_short_by_a_shutdown_resolve_every_handle() {
    let rounds: u64 = std::env::var("PROBE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(6);
    for base in 0..rounds {
        let threads: Vec<_> = (0..2u64)
            .map(|t| {
                std::thread::spawn(move || {
                    let pool = pool(2);
                    let seed = 0x0005_1517 + base * 131 + t * 17;
                    let round = start_round(seed, &pool);
                    let wait = Duration::from_micros(Rng::for_seed(seed).below(500));
                    bounded("the shutdown", move || pool.shutdown_timeout(wait));
                    settle(round, String::new);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}

/// Canceling a task again: while its canceled run still executes, Ok (as ArkTS, which skips a
/// canceled task); once its runs are over — one canceled before it started is over at once —
/// 10200015, where ArkTS still answers without an error (README documents the difference).
#[test]
fn canceling_a_task_again() {
    let pool = pool(1);
    let blocker = pool.run(hold, (G + 15,));
    wait_until_executing(&pool, blocker.id());
    let task = Task::new(plain, (1,));
    let handle = pool.execute(&task);
    pool.cancel(task.id()).unwrap();
    assert_eq!(pool.cancel(task.id()).unwrap_err().code(), Some(10200015));
    assert_eq!(handle.cancel().unwrap_err().code(), Some(10200015));
    blocker.cancel().unwrap();
    blocker.cancel().unwrap();
    open_gate(G + 15);
    assert!(blocker.wait().is_err());
}

/// Arguments whose `Clone` always panics.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Uncopyable(u32);

impl Clone for Uncopyable {
    fn clone(&self) -> Uncopyable {
        panic!("Uncopyable cannot be cloned")
    }
}

#[concurrent]
fn uncopyable(u: Uncopyable) -> u32 {
    u.0
}

/// A periodic task's arguments are copied at each tick: `execute_periodically` accepts
/// arguments that cannot be copied, and each tick's run fails, heard by the failure listener
/// (as README documents; ArkTS throws 10200006 at the call).
#[test]
fn a_periodic_task_whose_arguments_cannot_be_copied_fails_each_tick() {
    let pool = pool(1);
    let failures = Arc::new(AtomicUsize::new(0));
    let task = Task::new(uncopyable, (Uncopyable(1),));
    let f = Arc::clone(&failures);
    task.on_execution_failed(move |e| {
        assert!(matches!(e, Error::Panicked { .. }), "{e}");
        f.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    let ticker = pool
        .execute_periodically(Duration::from_millis(1), task, Priority::Low)
        .unwrap();
    wait_until("two ticks failed", || failures.load(Ordering::SeqCst) >= 2);
    ticker.cancel().unwrap();
}
