//! Conformance with the ArkTS reference page `js-apis-taskpool.md` (and the 102000xx codes of
//! `errorcode-utils.md`): one test per documented behaviour, with the page's own examples
//! ported where they make sense. Everything waits on gates, flags and conditions; nothing
//! asserts on elapsed time.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{hold, open_gate, pass_gate, wait_until, wait_until_executing};
use taskpool::{
    AsyncRunner, Error, LongTask, Priority, SequenceRunner, Task, TaskGroup, TaskPool, TaskState,
    concurrent, is_canceled, send_data,
};

/// Gate ids of this file: 7000 and up, so they never meet another test file's.
const G: u64 = 7000;

fn pool(threads: usize) -> TaskPool {
    TaskPool::builder().max_threads(threads).build().unwrap()
}

// ---------------------------------------------------------------------------------------------
// taskpool.execute(func, ...args), execute<A, R>(func, ...args), execute(task, priority)

#[concurrent]
fn print_args(args: i64) -> i64 {
    args
}

#[concurrent]
fn test_with_three_params(_a: i64, b: String, _c: i64) -> String {
    b
}

#[concurrent]
fn test_with_array(_args: (i64, String)) -> String {
    "success".to_owned()
}

/// The page's examples of `execute(func, ...args)` and its generic form: the result is the
/// function's, typed.
#[test]
fn execute_a_function_with_its_arguments_returns_its_typed_result() {
    let pool = pool(2);
    assert_eq!(pool.run(print_args, (100,)).wait().unwrap(), 100);
    let b: String = pool
        .run(test_with_three_params, (100, "test".to_owned(), 100))
        .wait()
        .unwrap();
    assert_eq!(b, "test");
    let s = pool
        .run(test_with_array, ((100, "test".to_owned()),))
        .wait()
        .unwrap();
    assert_eq!(s, "success");
}

/// `execute(task, priority)`: the run goes to the lane given; without one, MEDIUM (the
/// default priority of the page's introduction).
#[test]
fn execute_a_task_in_the_lane_given_and_medium_by_default() {
    let pool = pool(1);
    let blocker = pool.run(hold, (G + 1,));
    wait_until_executing(&pool, blocker.id());
    let low = pool.execute_with_priority(Task::new(print_args, (100,)), Priority::Low);
    let medium = pool.execute(Task::new(print_args, (200,)));
    let high = pool.execute_with_priority(Task::new(print_args, (300,)), Priority::High);
    let lane_of = |id| {
        pool.info()
            .tasks
            .iter()
            .find(|t| t.task_id == id)
            .map(|t| t.priority)
    };
    assert_eq!(lane_of(low.id()), Some(Priority::Low));
    assert_eq!(lane_of(medium.id()), Some(Priority::Medium));
    assert_eq!(lane_of(high.id()), Some(Priority::High));
    open_gate(G + 1);
    assert_eq!(blocker.wait().unwrap(), G + 1);
    assert_eq!(low.wait().unwrap(), 100);
    assert_eq!(medium.wait().unwrap(), 200);
    assert_eq!(high.wait().unwrap(), 300);
}

static SAME_LANE_ORDER: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[concurrent]
fn note_order(n: u32) -> u32 {
    SAME_LANE_ORDER.lock().unwrap().push(n);
    n
}

/// "Tasks with the same priority ... are executed in the same sequence as you call the task
/// execution APIs."
#[test]
fn tasks_of_one_priority_start_in_the_order_they_were_executed() {
    let pool = pool(1);
    let blocker = pool.run(hold, (G + 2,));
    wait_until_executing(&pool, blocker.id());
    let handles: Vec<_> = (0..20)
        .map(|n| pool.execute_with_priority(Task::new(note_order, (n,)), Priority::Low))
        .collect();
    open_gate(G + 2);
    for handle in handles {
        handle.wait().unwrap();
    }
    assert_eq!(
        *SAME_LANE_ORDER.lock().unwrap(),
        (0..20).collect::<Vec<_>>()
    );
}

/// "A task can be executed for multiple times": executed by reference, the task stays usable
/// and every run gets its own result.
#[test]
fn a_task_executed_several_times_gives_each_run_its_result() {
    let pool = pool(2);
    let task = Task::new(print_args, (7,));
    let first = pool.execute(&task);
    let second = pool.execute_with_priority(&task, Priority::High);
    assert_eq!(first.wait().unwrap(), 7);
    assert_eq!(second.wait().unwrap(), 7);
    assert_eq!(pool.execute(task).wait().unwrap(), 7);
}

// ---------------------------------------------------------------------------------------------
// Priority, State

/// `Priority` HIGH 0, MEDIUM 1, LOW 2, IDLE 3; `State` WAITING 1, RUNNING 2, CANCELED 3.
#[test]
fn priority_and_state_keep_the_arkts_values() {
    assert_eq!(Priority::High as u8, 0);
    assert_eq!(Priority::Medium as u8, 1);
    assert_eq!(Priority::Low as u8, 2);
    assert_eq!(Priority::Idle as u8, 3);
    assert_eq!(Priority::default(), Priority::Medium);
    assert_eq!(TaskState::Waiting as u8, 1);
    assert_eq!(TaskState::Running as u8, 2);
    assert_eq!(TaskState::Canceled as u8, 3);
}

// ---------------------------------------------------------------------------------------------
// Task: constructor with name, name, taskId, isCanceled, durations, isDone

/// `new Task(name, func, ...args)` / `task.name`; `task.taskId` is the id `getTaskPoolInfo`
/// lists; a task without a name is named after its function.
#[test]
fn a_named_task_shows_its_name_and_id_in_pool_info() {
    let pool = pool(1);
    let task = Task::new(hold, (G + 3,)).with_name("taskName");
    assert_eq!(task.name(), "taskName");
    let unnamed = Task::new(print_args, (1,));
    assert_eq!(unnamed.name(), "print_args");
    let (id, unnamed_id) = (task.id(), unnamed.id());
    assert_ne!(id, unnamed_id);
    let running = pool.execute(task);
    assert_eq!(running.id(), id);
    let waiting = pool.execute(unnamed);
    wait_until_executing(&pool, id);
    let info = pool.info();
    let listed = |id| info.tasks.iter().find(|t| t.task_id == id).unwrap().clone();
    assert_eq!(listed(id).name, "taskName");
    assert_eq!(listed(id).state, TaskState::Running);
    assert_eq!(listed(unnamed_id).name, "print_args");
    assert_eq!(listed(unnamed_id).state, TaskState::Waiting);
    open_gate(G + 3);
    running.wait().unwrap();
    waiting.wait().unwrap();
}

/// An empty name is a name like any other (ArkTS takes any string).
#[test]
fn an_empty_task_name_is_kept() {
    let task = Task::new(print_args, (1,)).with_name("");
    assert_eq!(task.name(), "");
    assert_eq!(pool(1).execute(task).wait().unwrap(), 1);
}

#[concurrent]
fn inspect_status(arg: u64, gate: u64) -> u64 {
    if is_canceled() {
        return arg + 2;
    }
    pass_gate(gate);
    if is_canceled() {
        return arg + 3;
    }
    arg + 1
}

/// The page's `isCanceled` examples: without a cancel the result is 101; canceled while it
/// runs, the task sees it after its "sleep" and returns 103, which the handle carries as the
/// late outcome of a canceled run ("the execution result is returned in the catch branch").
#[test]
fn is_canceled_is_false_unless_canceled_and_a_running_task_returns_its_late_result() {
    let pool = pool(2);
    open_gate(G + 4);
    assert_eq!(pool.run(inspect_status, (100, G + 4)).wait().unwrap(), 101);

    let handle = pool.run(inspect_status, (100, G + 5));
    wait_until_executing(&pool, handle.id());
    pool.cancel(handle.id()).unwrap();
    open_gate(G + 5);
    match handle.wait() {
        Err(Error::Canceled {
            started: true,
            late: Some(late),
            ..
        }) => assert_eq!(late.into_value::<u64>().unwrap(), 103),
        other => panic!("expected a canceled run with its late value, got {other:?}"),
    }
    assert!(!is_canceled(), "outside a task, isCanceled() is false");
}

#[concurrent]
async fn awaits_then_spins(gate: u64) -> u32 {
    taskpool::sleep(Duration::from_millis(20)).await;
    pass_gate(gate);
    1
}

/// `totalDuration`, `cpuDuration`, `ioDuration`: known once a run finished; the asynchronous
/// I/O time of an `async` task is what it spent awaiting, and the three add up.
#[test]
fn durations_are_known_after_a_run_and_io_is_the_awaited_part() {
    let pool = pool(1);
    let task = Task::new(awaits_then_spins, (G + 6,));
    assert!(task.durations().is_none(), "no run has finished yet");
    open_gate(G + 6);
    assert_eq!(pool.execute(&task).wait().unwrap(), 1);
    let durations = task.durations().expect("a run finished");
    assert_eq!(durations.total, durations.cpu + durations.io);
    // The sleep's 20 ms started inside the first poll, so the part of them before that poll
    // returned counts as cpu: only the whole run is sure to be that long.
    assert!(
        durations.total >= Duration::from_millis(20),
        "{durations:?}"
    );
    assert!(durations.io > Duration::ZERO, "{durations:?}");

    let sync_task = Task::new(print_args, (1,));
    pool.execute(&sync_task).wait().unwrap();
    let durations = sync_task.durations().expect("a run finished");
    assert_eq!(durations.io, Duration::ZERO, "a sync task awaits nothing");
    assert_eq!(durations.total, durations.cpu);
}

/// `isDone()`: false before and while the task runs, true once it completed (the page's
/// example: "if (!task.isDone()) taskpool.cancel(task)").
#[test]
fn is_done_turns_true_when_the_run_completes() {
    let pool = pool(1);
    let task = Task::new(hold, (G + 7,));
    assert!(!task.is_done());
    let handle = pool.execute(&task);
    wait_until_executing(&pool, task.id());
    assert!(!task.is_done());
    open_gate(G + 7);
    handle.wait().unwrap();
    assert!(task.is_done());
    // Completed: a cancel now finds nothing (10200015), as the example guards against.
    assert_eq!(pool.cancel(task.id()).unwrap_err().code(), Some(10200015));
}

// ---------------------------------------------------------------------------------------------
// taskpool.cancel(task / taskId)

/// The page's example 6: canceling a task that already finished fails with 10200015; and a
/// task that was never executed cannot be canceled either.
#[test]
fn canceling_a_finished_or_never_executed_task_is_10200015() {
    let pool = pool(1);
    open_gate(G + 8);
    let handle = pool.run(inspect_status, (100, G + 8));
    let id = handle.id();
    assert_eq!(handle.wait().unwrap(), 101);
    let error = pool.cancel(id).unwrap_err();
    assert_eq!(error.code(), Some(10200015));
    assert!(matches!(error, Error::TaskNotFound(task) if task == id));
    let never = Task::new(print_args, (1,));
    assert_eq!(pool.cancel(never.id()).unwrap_err().code(), Some(10200015));
}

/// The first cancel example: six tasks on a busy pool, the first canceled while it runs; the
/// others are not affected.
#[test]
fn canceling_one_of_several_tasks_leaves_the_others_alone() {
    let pool = pool(2);
    let handles: Vec<_> = (1..=6u64)
        .map(|n| pool.run(inspect_status, (n * 100, G + 9)))
        .collect();
    wait_until_executing(&pool, handles[0].id());
    pool.cancel(handles[0].id()).unwrap();
    open_gate(G + 9);
    let mut handles = handles.into_iter();
    let first = handles.next().unwrap().wait().unwrap_err();
    assert!(first.is_canceled(), "{first:?}");
    for (n, handle) in (2..=6u64).zip(handles) {
        assert_eq!(handle.wait().unwrap(), n * 100 + 1);
    }
}

#[concurrent]
fn cancel_function(task_id: u64) -> Option<u32> {
    taskpool::cancel(taskpool::TaskId::from_raw(task_id))
        .err()
        .and_then(|e| e.code())
}

/// `cancel(taskId)` (API 18) from another task: the page's example cancels a running task by
/// its id from inside a second task; a second cancel of it is 10200015 once it finished.
#[test]
fn a_task_cancels_another_by_its_id() {
    let pool = TaskPool::global();
    let task = Task::new(inspect_status, (100, G + 10));
    let id = task.id();
    let handle = pool.execute(task);
    wait_until_executing(pool, id);
    assert_eq!(
        pool.run(cancel_function, (id.into_raw(),)).wait().unwrap(),
        None
    );
    open_gate(G + 10);
    match handle.wait() {
        Err(Error::Canceled {
            late: Some(late), ..
        }) => {
            assert_eq!(late.into_value::<u64>().unwrap(), 103)
        }
        other => panic!("expected canceled, got {other:?}"),
    }
    assert_eq!(
        pool.run(cancel_function, (id.into_raw(),)).wait().unwrap(),
        Some(10200015)
    );
}

/// A task executed several times has several waiting runs; `cancel(task)` cancels every one
/// of them (they are all "the task").
#[test]
fn canceling_a_task_cancels_every_waiting_run_of_it() {
    let pool = pool(1);
    let blocker = pool.run(hold, (G + 11,));
    wait_until_executing(&pool, blocker.id());
    let task = Task::new(print_args, (5,));
    let runs: Vec<_> = (0..3).map(|_| pool.execute(&task)).collect();
    pool.cancel(task.id()).unwrap();
    for run in runs {
        assert!(run.is_finished());
        assert!(matches!(
            run.wait(),
            Err(Error::Canceled { started: false, .. })
        ));
    }
    assert_eq!(pool.cancel(task.id()).unwrap_err().code(), Some(10200015));
    open_gate(G + 11);
    blocker.wait().unwrap();
}

// ---------------------------------------------------------------------------------------------
// executeDelayed

/// `executeDelayed(delayTime, task, priority)`: the task waits (WAITING, cancelable) during the
/// delay, then runs in the lane given; a zero delay runs at once.
#[test]
fn execute_delayed_waits_then_runs_and_a_zero_delay_runs() {
    let pool = pool(1);
    let handle = pool.execute_delayed(
        Duration::from_millis(10),
        Task::new(print_args, (100,)),
        Priority::High,
    );
    assert_eq!(handle.wait().unwrap(), 100);
    let zero = pool.execute_delayed(Duration::ZERO, Task::new(print_args, (1,)), Priority::Low);
    assert_eq!(zero.wait().unwrap(), 1);
    // Cancelable during the delay, with the usual error; a second cancel is 10200015.
    let far = pool.execute_delayed(
        Duration::from_secs(3600),
        Task::new(print_args, (2,)),
        Priority::Medium,
    );
    let id = far.id();
    assert_eq!(support::states_of(&pool, id), [TaskState::Waiting]);
    pool.cancel(id).unwrap();
    assert!(matches!(
        far.wait(),
        Err(Error::Canceled { started: false, .. })
    ));
    assert_eq!(pool.cancel(id).unwrap_err().code(), Some(10200015));
}

/// "This API can be called multiple times for a non-continuous task": a task executed by
/// reference through `execute_delayed` stays usable.
#[test]
fn a_task_may_be_delayed_several_times() {
    let pool = pool(1);
    let task = Task::new(print_args, (9,));
    let a = pool.execute_delayed(Duration::from_millis(1), &task, Priority::Medium);
    let b = pool.execute_delayed(Duration::from_millis(2), &task, Priority::Medium);
    assert_eq!(a.wait().unwrap(), 9);
    assert_eq!(b.wait().unwrap(), 9);
}

// ---------------------------------------------------------------------------------------------
// executePeriodically

#[concurrent]
fn test_execute_periodically(args: u32) {
    send_data(args).unwrap();
}

/// The page's example: a periodic task whose runs send data to the host's `onReceiveData`.
#[test]
fn a_periodic_task_sends_data_to_its_callback_every_period() {
    let pool = pool(1);
    let task = Task::new(test_execute_periodically, (200,));
    let seen = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&seen);
    task.on_receive_data(move |data: u32| {
        assert_eq!(data, 200);
        count.fetch_add(1, Ordering::SeqCst);
    });
    let periodic = pool
        .execute_periodically(Duration::from_millis(5), task, Priority::Medium)
        .unwrap();
    wait_until("three periods sent data", || {
        seen.load(Ordering::SeqCst) >= 3
    });
    periodic.cancel().unwrap();
    assert!(periodic.is_stopped());
}

/// 10200050: a task already executed cannot be executed periodically.
#[test]
fn a_task_executed_before_cannot_become_periodic_10200050() {
    let pool = pool(1);
    let task = Task::new(print_args, (1,));
    pool.execute_delayed(Duration::ZERO, &task, Priority::Medium)
        .wait()
        .unwrap();
    let error = pool
        .execute_periodically(Duration::from_millis(5), task, Priority::Medium)
        .unwrap_err();
    assert_eq!(error.code(), Some(10200050));
}

// ---------------------------------------------------------------------------------------------
// Task.sendData / onReceiveData

#[concurrent]
fn send_data_test(num: u32) -> u32 {
    send_data(num * 10).unwrap();
    num
}

/// The page's `sendData` example: the value reaches the host's callback, the task returns.
#[test]
fn send_data_reaches_the_registered_callback() {
    let pool = pool(1);
    let task = Task::new(send_data_test, (1,));
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = Mutex::new(tx);
    task.on_receive_data(move |data: u32| tx.lock().unwrap().send(data).unwrap());
    assert_eq!(pool.execute(task).wait().unwrap(), 1);
    assert_eq!(rx.recv_timeout(support::PATIENCE).unwrap(), 10);
}

#[concurrent]
fn send_and_report(value: u32) -> Option<u32> {
    send_data(value).err().and_then(|e| e.code())
}

/// `onReceiveData()` without a callback cancels the registered callbacks: values sent after
/// that have no receiver (10200024), and a stream registered before ends.
#[test]
fn on_receive_data_without_a_callback_unregisters_the_receiver() {
    let pool = pool(1);
    let task = Task::new(send_and_report, (3,));
    let seen = Arc::new(AtomicU32::new(0));
    let sink = Arc::clone(&seen);
    task.on_receive_data(move |v: u32| {
        sink.fetch_add(v, Ordering::SeqCst);
    });
    assert_eq!(pool.execute(&task).wait().unwrap(), None);
    wait_until("the value arrived", || seen.load(Ordering::SeqCst) == 3);
    task.clear_receive_data();
    assert_eq!(pool.execute(&task).wait().unwrap(), Some(10200024));
    assert_eq!(seen.load(Ordering::SeqCst), 3);

    // A stream is ended by it, after the values already sent.
    let mut stream = task.data_stream::<u32>();
    assert_eq!(pool.execute(&task).wait().unwrap(), None);
    task.clear_receive_data();
    assert_eq!(stream.next_blocking(), Some(3));
    assert_eq!(stream.next_blocking(), None);
    // Clearing twice, or with nothing registered, is fine.
    task.clear_receive_data();
    Task::new(print_args, (1,)).clear_receive_data();
    // Registering again works.
    task.on_receive_data(|_: u32| {});
    assert_eq!(pool.execute(&task).wait().unwrap(), None);
}

/// The same on a long task (a `LongTask` is a `Task`).
#[test]
fn a_long_task_s_receiver_can_be_unregistered() {
    let pool = pool(1);
    let long = LongTask::new(send_and_report, (4,));
    long.on_receive_data(|_: u32| {});
    long.clear_receive_data();
    let id = long.id();
    assert_eq!(pool.execute(long).wait().unwrap(), Some(10200024));
    pool.terminate_task(id).unwrap();
}

/// `sendData` outside a task pool thread: 10200022.
#[test]
fn send_data_outside_the_pool_is_10200022() {
    assert_eq!(send_data(1u32).unwrap_err().code(), Some(10200022));
}

// ---------------------------------------------------------------------------------------------
// addDependency / removeDependency

static DEP_ORDER: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[concurrent]
fn delay(args: u32) -> u32 {
    DEP_ORDER.lock().unwrap().push(args);
    args
}

/// The page's example: task1 depends on task2, which depends on task3; executed in the order
/// 1, 2, 3, they run 3, 2, 1.
#[test]
fn dependencies_run_in_dependency_order() {
    let pool = pool(3);
    let task1 = Task::new(delay, (100,));
    let task2 = Task::new(delay, (200,));
    let task3 = Task::new(delay, (300,));
    task1.add_dependency(&task2).unwrap();
    task2.add_dependency(&task3).unwrap();
    let h1 = pool.execute(task1);
    let h2 = pool.execute(task2);
    let h3 = pool.execute(task3);
    assert_eq!(h1.wait().unwrap(), 100);
    assert_eq!(h2.wait().unwrap(), 200);
    assert_eq!(h3.wait().unwrap(), 300);
    let order = DEP_ORDER.lock().unwrap();
    let pos = |v| order.iter().position(|&x| x == v).unwrap();
    assert!(pos(300) < pos(200) && pos(200) < pos(100), "{order:?}");
}

/// The `removeDependency` example: once removed, the tasks run independently; removing again
/// is 10200027.
#[test]
fn removed_dependencies_no_longer_hold_and_removing_twice_is_10200027() {
    let pool = pool(1);
    let task1 = Task::new(print_args, (1,));
    let task2 = Task::new(print_args, (2,));
    task1.add_dependency(&task2).unwrap();
    task1.remove_dependency(&task2).unwrap();
    assert_eq!(
        task1.remove_dependency(&task2).unwrap_err().code(),
        Some(10200027)
    );
    assert!(!task1.has_dependencies());
    // task2 is never executed, yet task1 runs.
    assert_eq!(pool.execute(task1).wait().unwrap(), 1);
    drop(task2);
}

/// 10200026: a circular dependency, including a task depending on itself.
#[test]
fn a_task_depending_on_itself_is_a_circular_dependency() {
    let task = Task::new(print_args, (1,));
    let error = task.add_dependency(&task).unwrap_err();
    assert_eq!(error.code(), Some(10200026), "{error}");
    assert!(!task.has_dependencies());
    assert_eq!(pool(1).execute(task).wait().unwrap(), 1);
}

/// Adding the same dependency twice is harmless; one removal removes it.
#[test]
fn adding_a_dependency_twice_then_removing_it_once_frees_the_task() {
    let a = Task::new(print_args, (1,));
    let b = Task::new(print_args, (2,));
    a.add_dependency(&b).unwrap();
    a.add_dependency(&b).unwrap();
    a.remove_dependency(&b).unwrap();
    assert!(!a.has_dependencies());
    assert_eq!(a.remove_dependency(&b).unwrap_err().code(), Some(10200027));
}

// ---------------------------------------------------------------------------------------------
// Listeners: onEnqueued, onStartExecution, onExecutionFailed, onExecutionSucceeded

#[concurrent]
fn fails(message: String) -> Result<u32, String> {
    Err(message)
}

/// The listener examples: each listener is called; `onExecutionFailed` gets the error; a
/// registration after the task was executed is 10200034, whichever API executed it.
#[test]
fn listeners_fire_and_registering_after_execution_is_10200034() {
    let pool = pool(1);
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let task = Task::new(print_args, (1,));
    for (name, log) in [("enqueued", &log), ("started", &log), ("succeeded", &log)] {
        let log = Arc::clone(log);
        let note = move || log.lock().unwrap().push(name.to_owned());
        match name {
            "enqueued" => task.on_enqueued(note).unwrap(),
            "started" => task.on_start_execution(note).unwrap(),
            _ => task.on_execution_succeeded(note).unwrap(),
        }
    }
    pool.execute(&task).wait().unwrap();
    wait_until("three events", || log.lock().unwrap().len() == 3);
    assert_eq!(*log.lock().unwrap(), ["enqueued", "started", "succeeded"]);
    assert_eq!(task.on_enqueued(|| {}).unwrap_err().code(), Some(10200034));
    assert_eq!(
        task.on_start_execution(|| {}).unwrap_err().code(),
        Some(10200034)
    );
    assert_eq!(
        task.on_execution_succeeded(|| {}).unwrap_err().code(),
        Some(10200034)
    );
    assert_eq!(
        task.on_execution_failed(|_| {}).unwrap_err().code(),
        Some(10200034)
    );

    let failing = Task::new(fails, ("no".to_owned(),));
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = Mutex::new(tx);
    failing
        .on_execution_failed(move |e| tx.lock().unwrap().send(e.to_string()).unwrap())
        .unwrap();
    let error = pool.execute(&failing).wait().unwrap_err();
    assert!(matches!(error, Error::TaskFailed(_)));
    assert!(rx.recv_timeout(support::PATIENCE).unwrap().contains("no"));

    // Executed with a delay (even one that has not elapsed): executed all the same.
    let delayed = Task::new(print_args, (1,));
    let handle = pool.execute_delayed(Duration::from_secs(3600), &delayed, Priority::Low);
    assert_eq!(
        delayed.on_enqueued(|| {}).unwrap_err().code(),
        Some(10200034)
    );
    handle.cancel().unwrap();
}

// ---------------------------------------------------------------------------------------------
// LongTask, terminateTask

#[concurrent]
fn long_task(arg: u64) -> u64 {
    pass_gate(arg);
    arg
}

/// The page's example: a long task runs, then `terminateTask` is called once it completed; a
/// second terminate, or one for a task that is not a long task, is a parameter error (401).
#[test]
fn terminate_task_after_the_long_task_completed() {
    let pool = pool(1);
    let task = LongTask::new(long_task, (G + 12,)).with_name("long");
    assert_eq!(task.name(), "long");
    let id = task.id();
    let handle = pool.execute(task);
    wait_until_executing(&pool, id);
    open_gate(G + 12);
    assert_eq!(handle.wait().unwrap(), G + 12);
    pool.terminate_task(id).unwrap();
    assert_eq!(pool.terminate_task(id).unwrap_err().code(), Some(401));
    let ordinary = pool.run(print_args, (1,));
    let ordinary_id = ordinary.id();
    ordinary.wait().unwrap();
    assert_eq!(
        pool.terminate_task(ordinary_id).unwrap_err().code(),
        Some(401)
    );
}

/// `totalDuration`, `cpuDuration` and `ioDuration` of a long task: executing consumed it, so
/// they are read from its handle, once its call ended (not while it executes).
#[test]
fn a_long_task_s_durations_are_read_from_its_handle() {
    let pool = pool(1);
    let task = LongTask::new(long_task, (G + 27,));
    let id = task.id();
    let mut handle = pool.execute(task);
    wait_until_executing(&pool, id);
    assert_eq!(handle.durations(), None, "not while it executes");
    open_gate(G + 27);
    let outcome = handle.wait_timeout(Duration::from_secs(20));
    assert_eq!(outcome.expect("the long task ended").unwrap(), G + 27);
    let durations = handle.durations().expect("the call ended");
    assert!(durations.total >= durations.cpu, "{durations:?}");
    assert_eq!(durations.io, durations.total - durations.cpu);
    pool.terminate_task(id).unwrap();
    // An ordinary task keeps them too when it has a record (a name): the same figures as the
    // task's own `durations()` would give.
    let mut named = pool.execute(Task::new(print_args, (3,)).with_name("timed"));
    let outcome = named.wait_timeout(Duration::from_secs(20));
    assert_eq!(outcome.expect("the task ended").unwrap(), 3);
    assert!(named.durations().is_some());
}

// ---------------------------------------------------------------------------------------------
// TaskGroup

/// The page's group example: functions added with arguments and created tasks; results in add
/// order; the group's name is kept.
#[test]
fn a_group_returns_its_results_in_add_order() {
    let pool = pool(2);
    let mut group1 = TaskGroup::with_name("groupName");
    assert_eq!(group1.name(), Some("groupName"));
    group1.add(print_args, (10,)).unwrap();
    group1.add(print_args, (20,)).unwrap();
    group1.add(print_args, (30,)).unwrap();
    let mut group2 = TaskGroup::new();
    assert_eq!(group2.name(), None);
    // `name` is writable.
    group2.set_name("renamed");
    assert_eq!(group2.name(), Some("renamed"));
    for n in [100, 200, 300] {
        group2.add_task(Task::new(print_args, (n,))).unwrap();
    }
    assert_eq!(
        pool.execute_group(&group1, Priority::Medium)
            .wait()
            .unwrap(),
        [10, 20, 30]
    );
    assert_eq!(
        pool.execute_group(&group2, Priority::High).wait().unwrap(),
        [100, 200, 300]
    );
    // Executed again: still the same results; no task can be added any more.
    assert_eq!(
        pool.execute_group(&group1, Priority::Low).wait().unwrap(),
        [10, 20, 30]
    );
    assert!(matches!(
        group1.add(print_args, (40,)),
        Err(Error::GroupExecuted)
    ));
}

static B_FAILED: AtomicBool = AtomicBool::new(false);

#[concurrent]
fn fail_after_gate(gate: u64) -> Result<u32, String> {
    pass_gate(gate);
    Err("first added, failed second".to_owned())
}

#[concurrent]
fn fail_at_once() -> Result<u32, String> {
    B_FAILED.store(true, Ordering::SeqCst);
    Err("added second, failed first".to_owned())
}

/// "If multiple tasks in the task group fail, the exception of the first failed task is
/// thrown": the first to fail, not the first added.
#[test]
fn a_group_reports_the_error_of_the_task_that_failed_first() {
    let pool = pool(2);
    let mut group = TaskGroup::new();
    group.add(fail_after_gate, (G + 13,)).unwrap();
    group.add(fail_at_once, ()).unwrap();
    let handle = pool.execute_group(&group, Priority::Medium);
    wait_until("the second task failed", || B_FAILED.load(Ordering::SeqCst));
    open_gate(G + 13);
    let error = handle.wait().unwrap_err();
    assert!(
        error.to_string().contains("added second, failed first"),
        "{error}"
    );
}

/// The page's example 7: a group canceled right after it was executed is canceled; another
/// group is unaffected; a second cancel is 10200018.
#[test]
fn a_group_canceled_before_it_finished_rejects_and_a_second_cancel_is_10200018() {
    let pool = pool(1);
    let blocker = pool.run(hold, (G + 14,));
    wait_until_executing(&pool, blocker.id());
    let mut group1 = TaskGroup::new();
    let mut group2 = TaskGroup::new();
    for n in [10, 20, 30] {
        group1.add(print_args, (n,)).unwrap();
    }
    for n in [100, 200, 300] {
        group2.add_task(Task::new(print_args, (n,))).unwrap();
    }
    let h1 = pool.execute_group(&group1, Priority::Medium);
    let h2 = pool.execute_group(&group2, Priority::Medium);
    h2.cancel().unwrap();
    assert_eq!(h2.cancel().unwrap_err().code(), Some(10200018));
    open_gate(G + 14);
    assert!(h2.wait().unwrap_err().is_canceled());
    assert_eq!(h1.wait().unwrap(), [10, 20, 30]);
    blocker.wait().unwrap();
}

// ---------------------------------------------------------------------------------------------
// SequenceRunner

static SEQ_DONE: Mutex<Vec<u64>> = Mutex::new(Vec::new());

#[concurrent]
fn addition_delay(gate: u64) {
    pass_gate(gate);
    SEQ_DONE.lock().unwrap().push(gate);
}

#[concurrent]
fn wait_for_runner() -> Vec<u64> {
    SEQ_DONE.lock().unwrap().clone()
}

/// The page's `SequenceRunner.execute` example: three tasks of decreasing length and a fourth
/// run one after another in submission order, whatever their lengths (here: gates opened in
/// reverse order); the fourth runs after the three are done.
#[test]
fn a_sequence_runner_runs_its_tasks_strictly_in_order() {
    let pool = pool(3);
    let runner = pool.sequence_runner(Priority::Medium);
    let gates = [G + 15, G + 16, G + 17];
    let handles: Vec<_> = gates
        .iter()
        .map(|&gate| runner.execute(Task::new(addition_delay, (gate,))))
        .collect();
    let last = runner.execute(Task::new(wait_for_runner, ()));
    for gate in gates.iter().rev() {
        open_gate(*gate);
    }
    for handle in handles {
        handle.wait().unwrap();
    }
    assert_eq!(last.wait().unwrap(), gates);
}

/// A named runner is a process-wide singleton: the same name gives the same queue, whose
/// priority cannot change; the unnamed constructor defaults to MEDIUM in ArkTS (here the
/// priority is explicit).
#[test]
fn named_sequence_runners_are_singletons_with_their_first_priority() {
    let a = SequenceRunner::named("doc-taskpool-runner1", Priority::Low);
    let b = SequenceRunner::named("doc-taskpool-runner1", Priority::High);
    assert_eq!(a.name(), Some("doc-taskpool-runner1"));
    assert_eq!(b.priority(), Priority::Low);
    assert_eq!(b.execute(Task::new(print_args, (1,))).wait().unwrap(), 1);
}

/// 10200025: a task with dependencies cannot be added to a serial queue.
#[test]
fn a_dependent_task_is_refused_by_a_sequence_runner_10200025() {
    let pool = pool(1);
    let runner = pool.sequence_runner(Priority::Medium);
    let dependency = Task::new(print_args, (1,));
    let task = Task::new(print_args, (2,));
    task.add_dependency(&dependency).unwrap();
    let error = runner.execute(task).wait().unwrap_err();
    assert_eq!(error.code(), Some(10200025));
}

// ---------------------------------------------------------------------------------------------
// AsyncRunner

#[concurrent]
fn gated(gate: u64, n: u32) -> u32 {
    pass_gate(gate);
    n
}

/// The page's `asyRunner` example: `AsyncRunner("runner1", 5, 5)` given 30 tasks runs 5, keeps
/// 5 waiting and discards the 20 oldest waiting ones (10200054), from the front of the queue.
#[test]
fn an_async_runner_5_5_given_30_tasks_discards_20_from_the_front() {
    let pool = TaskPool::builder().max_threads(5).build().unwrap();
    let runner = pool.async_runner(5, 5).unwrap();
    let handles: Vec<_> = (0..30)
        .map(|n| runner.execute(Task::new(gated, (G + 18, n)), Priority::Medium))
        .collect();
    // Discards happen at submission: tasks 5..25 are already resolved.
    for (n, handle) in handles.iter().enumerate() {
        assert_eq!(handle.is_finished(), (5..25).contains(&n), "task {n}");
    }
    open_gate(G + 18);
    for (n, handle) in handles.into_iter().enumerate() {
        match handle.wait() {
            Ok(value) => assert!(!(5..25).contains(&n) && value == n as u32),
            Err(error) => {
                assert!((5..25).contains(&n), "task {n}: {error}");
                assert_eq!(error.code(), Some(10200054));
            }
        }
    }
}

/// `asyRunner2`: `AsyncRunner(5)` has an unbounded waiting queue: all 20 tasks run.
#[test]
fn an_async_runner_without_waiting_capacity_runs_everything() {
    let pool = pool(3);
    let runner = pool.async_runner(5, 0).unwrap();
    let handles: Vec<_> = (0..20)
        .map(|n| runner.execute(Task::new(gated, (G + 19, n)), Priority::Low))
        .collect();
    open_gate(G + 19);
    for (n, handle) in handles.into_iter().enumerate() {
        assert_eq!(handle.wait().unwrap(), n as u32);
    }
}

/// The constructors: running capacity 0 is 401 (named too); unnamed runners are distinct even
/// with equal parameters; a named one is a singleton whose capacities cannot change.
#[test]
fn async_runner_constructors() {
    assert_eq!(AsyncRunner::new(0, 0).unwrap_err().code(), Some(401));
    assert_eq!(
        AsyncRunner::named("doc-taskpool-async", 0, 5)
            .unwrap_err()
            .code(),
        Some(401)
    );
    let a = AsyncRunner::named("doc-taskpool-async", 5, 5).unwrap();
    let b = AsyncRunner::named("doc-taskpool-async", 1, 0).unwrap();
    assert_eq!((b.running_capacity(), b.waiting_capacity()), (5, 5));
    assert_eq!(a.name(), Some("doc-taskpool-async"));
    let c = AsyncRunner::new(5, 0).unwrap();
    assert_eq!(c.name(), None);
    assert_eq!(
        c.execute(Task::new(print_args, (3,)), Priority::High)
            .wait()
            .unwrap(),
        3
    );
}

/// `cancel` of a task waiting in an async runner: the task is rejected with 10200055.
#[test]
fn a_task_canceled_in_an_async_runner_s_queue_is_10200055() {
    let pool = pool(2);
    let runner = pool.async_runner(1, 0).unwrap();
    let running = runner.execute(Task::new(gated, (G + 20, 1)), Priority::Medium);
    let waiting = runner.execute(Task::new(gated, (G + 20, 2)), Priority::Medium);
    wait_until_executing(&pool, running.id());
    pool.cancel(waiting.id()).unwrap();
    assert_eq!(waiting.wait().unwrap_err().code(), Some(10200055));
    open_gate(G + 20);
    assert_eq!(running.wait().unwrap(), 1);
}

// ---------------------------------------------------------------------------------------------
// getTaskPoolInfo: TaskPoolInfo, ThreadInfo, TaskInfo

/// `ThreadInfo.priority` / `taskIds` are empty on an idle thread and name the running task
/// otherwise; `TaskInfo.duration` is 0 while a task waits and grows once it runs.
#[test]
fn pool_info_describes_threads_and_tasks() {
    let pool = pool(1);
    assert!(pool.info().threads.is_empty() && pool.info().tasks.is_empty());
    let running = pool.execute_with_priority(Task::new(hold, (G + 21,)), Priority::Low);
    wait_until_executing(&pool, running.id());
    let waiting = pool.execute_with_priority(Task::new(print_args, (1,)), Priority::High);
    let info = pool.info();
    assert_eq!(info.threads.len(), 1);
    let thread = &info.threads[0];
    assert_eq!(thread.task_ids, [running.id()]);
    assert_eq!(thread.priority, Some(Priority::Low));
    let waiting_info = info
        .tasks
        .iter()
        .find(|t| t.task_id == waiting.id())
        .unwrap();
    assert_eq!(waiting_info.state, TaskState::Waiting);
    assert_eq!(waiting_info.duration, Duration::ZERO);
    wait_until("the running task has run a while", || {
        pool.info()
            .tasks
            .iter()
            .any(|t| t.task_id == running.id() && t.duration > Duration::ZERO)
    });
    open_gate(G + 21);
    running.wait().unwrap();
    waiting.wait().unwrap();
    wait_until("the thread is idle", || {
        pool.info()
            .threads
            .iter()
            .all(|t| t.task_ids.is_empty() && t.priority.is_none())
    });
}

/// `taskpool.getTaskPoolInfo()` (the global pool) lists a task of the global pool by its id.
#[test]
fn the_global_pool_info_lists_its_tasks() {
    let handle = taskpool::execute(Task::new(hold, (G + 22,)).with_name("global-info"));
    wait_until("listed", || {
        taskpool::task_pool_info()
            .tasks
            .iter()
            .any(|t| t.task_id == handle.id() && t.name == "global-info")
    });
    open_gate(G + 22);
    handle.wait().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Probes around the APIs: a periodic task's receiver, cancels from inside, nested runs, long
// tasks terminated while they run.

static PERIODIC_CODES: Mutex<Vec<Option<u32>>> = Mutex::new(Vec::new());

#[concurrent]
fn periodic_report() {
    let code = send_data(1u32).err().and_then(|e| e.code());
    PERIODIC_CODES.lock().unwrap().push(code);
}

/// `periodicTask.onReceiveData()` without a callback, after `executePeriodically`: later ticks
/// have no receiver (10200024) and the task keeps ticking.
#[test]
fn a_periodic_task_s_receiver_can_be_unregistered_while_it_ticks() {
    let pool = pool(1);
    let task = Task::new(periodic_report, ());
    task.on_receive_data(|_: u32| {});
    let periodic = pool
        .execute_periodically(Duration::from_millis(2), task, Priority::Medium)
        .unwrap();
    wait_until("a tick delivered", || {
        PERIODIC_CODES.lock().unwrap().contains(&None)
    });
    periodic.clear_receive_data();
    let seen = PERIODIC_CODES.lock().unwrap().len();
    wait_until("a later tick found no receiver", || {
        PERIODIC_CODES.lock().unwrap()[seen..].contains(&Some(10200024))
    });
    periodic.cancel().unwrap();
}

#[concurrent]
fn cancel_myself(n: u32) -> (bool, bool, u32) {
    let before = is_canceled();
    let id = taskpool::current_task_id().unwrap();
    taskpool::cancel(id).unwrap();
    (before, is_canceled(), n)
}

/// A task canceling itself (`taskpool.cancel(taskId)` from its own function): the cancel
/// succeeds, `isCanceled()` turns true, and the handle rejects with the late result.
#[test]
fn a_task_that_cancels_itself_sees_it_and_rejects_with_its_result() {
    let handle = taskpool::execute(Task::new(cancel_myself, (5,)));
    match handle.wait() {
        Err(Error::Canceled {
            started: true,
            late: Some(late),
            ..
        }) => assert_eq!(
            late.into_value::<(bool, bool, u32)>().unwrap(),
            (false, true, 5)
        ),
        other => panic!("expected canceled with a late value, got {other:?}"),
    }
}

#[concurrent]
fn inner_sender(n: u32) -> u32 {
    send_data(n).unwrap();
    n
}

#[concurrent]
fn outer_sender(inner: u32) -> u32 {
    send_data(1u32).unwrap();
    // Waiting on a task that has not started runs it inline, on this thread.
    let task = Task::new(inner_sender, (inner,));
    let log = INNER_DATA.get_or_init(Default::default).clone();
    task.on_receive_data(move |v: u32| log.lock().unwrap().push(v));
    let got = taskpool::execute(task).wait().unwrap();
    // Back in the outer task: its values still go to its own receiver.
    send_data(2u32).unwrap();
    got
}

static INNER_DATA: std::sync::OnceLock<Arc<Mutex<Vec<u32>>>> = std::sync::OnceLock::new();

/// `sendData` goes to the receiver of the task that calls it, also when a task waits for
/// another one that runs on the same thread meanwhile.
#[test]
fn send_data_reaches_each_task_s_own_receiver_across_nested_runs() {
    let pool = pool(1);
    let outer = Task::new(outer_sender, (40,));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    outer.on_receive_data(move |v: u32| sink.lock().unwrap().push(v));
    assert_eq!(pool.execute(outer).wait().unwrap(), 40);
    wait_until("both outer values arrived", || {
        seen.lock().unwrap().len() == 2
    });
    assert_eq!(*seen.lock().unwrap(), [1, 2]);
    let inner = INNER_DATA.get_or_init(Default::default);
    wait_until("the inner value arrived", || {
        !inner.lock().unwrap().is_empty()
    });
    assert_eq!(*inner.lock().unwrap(), [40]);
}

/// `terminateTask` called while the long task still runs (allowed here, see ARCHITECTURE.md):
/// the task is not interrupted and resolves with its value; a second terminate is 10200015.
#[test]
fn terminating_a_running_long_task_does_not_interrupt_it() {
    let pool = pool(1);
    let task = LongTask::new(long_task, (G + 23,));
    let id = task.id();
    let handle = pool.execute(task);
    wait_until_executing(&pool, id);
    pool.terminate_task(id).unwrap();
    assert!(!handle.is_finished());
    open_gate(G + 23);
    assert_eq!(handle.wait().unwrap(), G + 23);
    assert_eq!(pool.terminate_task(id).unwrap_err().code(), Some(401));
    // The pool goes on.
    assert_eq!(pool.run(print_args, (1,)).wait().unwrap(), 1);
}

/// An empty task group name is kept; unknown ids are refused by `cancel` and `terminateTask`.
#[test]
fn edge_values_of_names_and_ids() {
    let group: TaskGroup<i64> = TaskGroup::with_name("");
    assert_eq!(group.name(), Some(""));
    let pool = pool(1);
    for raw in [0, u64::MAX] {
        let id = taskpool::TaskId::from_raw(raw);
        assert_eq!(pool.cancel(id).unwrap_err().code(), Some(10200015));
        assert_eq!(pool.terminate_task(id).unwrap_err().code(), Some(401));
    }
}

static LISTENER_SAW: Mutex<Vec<(bool, Option<u32>)>> = Mutex::new(Vec::new());

/// In a listener (a host-side callback), `isCanceled()` is false and `sendData` is 10200023
/// ("Do not use this API in a callback function").
#[test]
fn inside_a_listener_is_canceled_is_false_and_send_data_is_10200023() {
    let pool = pool(1);
    let task = Task::new(print_args, (1,));
    task.on_start_execution(|| {
        let code = send_data(1u32).err().and_then(|e| e.code());
        LISTENER_SAW.lock().unwrap().push((is_canceled(), code));
    })
    .unwrap();
    pool.execute(task).wait().unwrap();
    wait_until("the listener ran", || {
        !LISTENER_SAW.lock().unwrap().is_empty()
    });
    assert_eq!(*LISTENER_SAW.lock().unwrap(), [(false, Some(10200023))]);
}

#[concurrent]
fn long_fails(gate: u64) -> Result<u64, String> {
    pass_gate(gate);
    Err("long task failed".to_owned())
}

/// `LongTask` inherits from `Task`: its listeners (`onEnqueued`, `onStartExecution`,
/// `onExecutionSucceeded`, `onExecutionFailed`) can be registered before it is executed.
#[test]
fn a_long_task_has_the_task_listeners() {
    let pool = pool(1);
    let log = Arc::new(Mutex::new(Vec::<&'static str>::new()));
    let note = |what: &'static str| {
        let log = Arc::clone(&log);
        move || log.lock().unwrap().push(what)
    };
    let ok = LongTask::new(long_task, (G + 24,));
    ok.on_enqueued(note("enqueued")).unwrap();
    ok.on_start_execution(note("started")).unwrap();
    ok.on_execution_succeeded(note("succeeded")).unwrap();
    ok.on_execution_failed(|_| panic!("must not fail")).unwrap();
    let id = ok.id();
    open_gate(G + 24);
    assert_eq!(pool.execute(ok).wait().unwrap(), G + 24);
    wait_until("three events", || log.lock().unwrap().len() == 3);
    assert_eq!(*log.lock().unwrap(), ["enqueued", "started", "succeeded"]);
    pool.terminate_task(id).unwrap();

    let failing = LongTask::new(long_fails, (G + 25,));
    let failed = Arc::new(Mutex::new(None));
    let sink = Arc::clone(&failed);
    failing
        .on_execution_failed(move |e| *sink.lock().unwrap() = Some(e.to_string()))
        .unwrap();
    let id = failing.id();
    open_gate(G + 25);
    assert!(pool.execute(failing).wait().is_err());
    wait_until("the failure was reported", || {
        failed.lock().unwrap().is_some()
    });
    assert!(
        failed
            .lock()
            .unwrap()
            .as_deref()
            .unwrap()
            .contains("long task failed")
    );
    pool.terminate_task(id).unwrap();
}

/// "After a task is created and execute() is called, the task is placed in the internal queue
/// and the state is WAITING": also while a runner, a dependency or a delay holds it back.
#[test]
fn held_tasks_are_listed_as_waiting() {
    let pool = pool(2);
    let blocker = pool.run(hold, (G + 26,));
    wait_until_executing(&pool, blocker.id());
    let sequence = pool.sequence_runner(Priority::Medium);
    let seq_first = sequence.execute(Task::new(hold, (G + 26,)));
    let seq_second = sequence.execute(Task::new(print_args, (2,)));
    let runner = pool.async_runner(1, 0).unwrap();
    // The async runner's one slot goes to a task that waits in the lane behind `blocker`...
    let async_first = runner.execute(Task::new(print_args, (3,)), Priority::Low);
    // ...so this one waits in the runner's queue.
    let async_second = runner.execute(Task::new(print_args, (4,)), Priority::Low);
    let dependency = Task::new(print_args, (5,));
    let dependent = Task::new(print_args, (6,));
    dependent.add_dependency(&dependency).unwrap();
    let dependent = pool.execute(dependent);
    let delayed = pool.execute_delayed(
        Duration::from_secs(3600),
        Task::new(print_args, (7,)),
        Priority::Medium,
    );
    for held in [
        seq_second.id(),
        async_second.id(),
        dependent.id(),
        delayed.id(),
    ] {
        assert_eq!(support::states_of(&pool, held), [TaskState::Waiting]);
    }
    delayed.cancel().unwrap();
    open_gate(G + 26);
    blocker.wait().unwrap();
    seq_first.wait().unwrap();
    assert_eq!(seq_second.wait().unwrap(), 2);
    assert_eq!(async_first.wait().unwrap(), 3);
    assert_eq!(async_second.wait().unwrap(), 4);
    assert_eq!(pool.execute(dependency).wait().unwrap(), 5);
    assert_eq!(dependent.wait().unwrap(), 6);
}

static SELF_CLEAR_CODES: Mutex<Vec<Option<u32>>> = Mutex::new(Vec::new());
static SELF_CLEARING: std::sync::OnceLock<taskpool::PeriodicHandle> = std::sync::OnceLock::new();

#[concurrent]
fn tick_and_report() {
    let code = send_data(1u32).err().and_then(|e| e.code());
    SELF_CLEAR_CODES.lock().unwrap().push(code);
}

/// A receiver may unregister itself from inside its own callback: no deadlock, and later
/// values have no receiver.
#[test]
fn a_receiver_can_unregister_itself_from_its_callback() {
    let pool = pool(1);
    let task = Task::new(tick_and_report, ());
    task.on_receive_data(|_: u32| {
        // Until the test stored the handle, a value is simply received; the first one after
        // that unregisters the receiver.
        if let Some(periodic) = SELF_CLEARING.get() {
            periodic.clear_receive_data();
        }
    });
    let periodic = pool
        .execute_periodically(Duration::from_millis(50), task, Priority::Medium)
        .unwrap();
    assert!(SELF_CLEARING.set(periodic).is_ok());
    wait_until("a tick found no receiver", || {
        SELF_CLEAR_CODES.lock().unwrap().contains(&Some(10200024))
    });
    SELF_CLEARING.get().unwrap().cancel().unwrap();
    let codes = SELF_CLEAR_CODES.lock().unwrap();
    let first_refused = codes.iter().position(|c| *c == Some(10200024)).unwrap();
    assert!(first_refused >= 1, "{codes:?}");
}

/// `AsyncRunner.execute`'s error table: a task with dependencies is refused with 10200025
/// ("dependent task not allowed"), the code `SequenceRunner.execute` uses; 10200056 is
/// `addDependency`'s code for a task of an async runner, a case ownership rules out here.
#[test]
fn a_dependent_task_is_refused_by_an_async_runner_10200025() {
    let pool = pool(1);
    let runner = pool.async_runner(1, 0).unwrap();
    let dependency = Task::new(print_args, (1,));
    let task = Task::new(print_args, (2,));
    task.add_dependency(&dependency).unwrap();
    let error = runner.execute(task, Priority::Medium).wait().unwrap_err();
    assert!(
        matches!(error, Error::AsyncRunnerDependentTask(_)),
        "{error}"
    );
    assert_eq!(error.code(), Some(10200025));
    assert!(error.to_string().contains("10200025"), "{error}");
}

/// `executePeriodically`'s error table has no 10200052 (that is `addDependency` /
/// `removeDependency` on a periodic task, which a moved task rules out here): a task in a
/// dependency relationship is refused as a parameter error, 401, as "a periodic task cannot
/// have a dependency relationship".
#[test]
fn a_task_with_a_dependency_relationship_cannot_be_periodic_401() {
    let pool = pool(1);
    let dependency = Task::new(print_args, (1,));
    let dependent = Task::new(print_args, (2,));
    dependent.add_dependency(&dependency).unwrap();
    let error = pool
        .execute_periodically(Duration::from_millis(5), dependent, Priority::Medium)
        .unwrap_err();
    assert!(
        matches!(error, Error::PeriodicWithDependencies(_)),
        "{error}"
    );
    assert_eq!(error.code(), Some(401));
    assert!(error.to_string().contains("(401)"), "{error}");
    // The depended-on side too (while its dependent exists).
    let depended_on = Task::new(print_args, (3,));
    let waits = Task::new(print_args, (4,));
    waits.add_dependency(&depended_on).unwrap();
    let error = pool
        .execute_periodically(Duration::from_millis(5), depended_on, Priority::Medium)
        .unwrap_err();
    assert_eq!(error.code(), Some(401));
    drop((dependency, waits));
}
