//! Probes of the ArkTS TaskPool reference (`js-apis-taskpool.md`, `errorcode-utils.md`), fifth
//! round: what a task's own listeners, receiver and cancel flag do when the task runs as a
//! member of a `TaskGroup` or of a `SequenceRunner`, what `getTaskPoolInfo()` says about
//! priorities and durations, and misuse that must resolve rather than hang.
//!
//! Gate ids: 98_000–98_499.

mod support;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use support::{PATIENCE, open_gate, pass_gate, wait_until};
use taskpool::{
    Error, LongTask, Priority, SequenceRunner, Task, TaskGroup, TaskPool, TaskState, concurrent,
    is_canceled, send_data,
};

fn pool(prefix: &str, threads: usize) -> TaskPool {
    TaskPool::builder()
        .max_threads(threads)
        .thread_name(prefix)
        .build()
        .unwrap()
}

/// The events a task's listeners heard, in order.
#[derive(Default, Clone)]
struct Heard(Arc<Mutex<Vec<&'static str>>>);

impl Heard {
    fn attach<T: Send + 'static>(&self, task: &Task<T>) {
        let h = self.clone();
        task.on_enqueued(move || h.push("enqueued")).unwrap();
        let h = self.clone();
        task.on_start_execution(move || h.push("started")).unwrap();
        let h = self.clone();
        task.on_execution_succeeded(move || h.push("succeeded"))
            .unwrap();
        let h = self.clone();
        task.on_execution_failed(move |_| h.push("failed")).unwrap();
    }

    fn push(&self, what: &'static str) {
        self.0.lock().unwrap().push(what);
    }

    fn get(&self) -> Vec<&'static str> {
        self.0.lock().unwrap().clone()
    }
}

#[concurrent]
fn double(x: u32) -> u32 {
    x * 2
}

/// Runs a marker task and waits until its success listener ran: the pool's callback thread runs
/// listeners in order, so every event posted before the marker's has been heard by then.
fn flush_listeners(pool: &TaskPool) {
    let marker = Task::new(double, (2,));
    let done = Arc::new(AtomicBool::new(false));
    let heard = done.clone();
    marker
        .on_execution_succeeded(move || heard.store(true, Ordering::SeqCst))
        .unwrap();
    assert_eq!(pool.execute(marker).wait().unwrap(), 4);
    wait_until("the marker is heard", || done.load(Ordering::SeqCst));
}

#[concurrent]
fn report(x: u32) -> u32 {
    send_data(x + 100).unwrap();
    x
}

#[concurrent]
fn fail_now(x: u32) -> Result<u32, String> {
    Err(format!("refused {x}"))
}

/// "onEnqueued / onStartExecution / onExecutionSucceeded: Registers a callback function and
/// calls it when a task is enqueued / when the execution of a task starts / when a task is
/// executed successfully" — a `Task` "can be ... placed in a task group or serial queue for
/// execution": its listeners hear those runs too, once per run, in order.
#[test]
fn listeners_of_a_group_member_hear_each_execution_of_the_group() {
    let pool = pool("p5lgm", 2);
    let heard = Heard::default();
    let task = Task::new(double, (21,));
    heard.attach(&task);
    let mut group = TaskGroup::new();
    group.add_task(task).unwrap();
    group.add(double, (1,)).unwrap();
    assert_eq!(
        pool.execute_group(&group, Priority::Medium).wait().unwrap(),
        vec![42, 2]
    );
    wait_until("the first execution's listeners ran", || {
        heard.get().len() == 3
    });
    assert_eq!(heard.get(), ["enqueued", "started", "succeeded"]);
    assert_eq!(
        pool.execute_group(&group, Priority::High).wait().unwrap(),
        vec![42, 2]
    );
    wait_until("the second execution's listeners ran", || {
        heard.get().len() == 6
    });
    assert_eq!(
        heard.get(),
        [
            "enqueued",
            "started",
            "succeeded",
            "enqueued",
            "started",
            "succeeded"
        ]
    );
}

/// A failing member reports `onExecutionFailed` (and not `onExecutionSucceeded`).
#[test]
fn a_failing_group_member_reports_on_execution_failed() {
    let pool = pool("p5lgf", 2);
    let heard = Heard::default();
    let task = Task::new(fail_now, (7,));
    heard.attach(&task);
    let mut group = TaskGroup::new();
    group.add_task(task).unwrap();
    let error = pool
        .execute_group(&group, Priority::Medium)
        .wait()
        .unwrap_err();
    assert!(matches!(error, Error::TaskFailed(_)), "{error:?}");
    wait_until("the listeners ran", || heard.get().len() == 3);
    assert_eq!(heard.get(), ["enqueued", "started", "failed"]);
}

/// The same for a `SequenceRunner`'s tasks.
#[test]
fn listeners_of_a_sequence_runner_task_hear_its_run() {
    let pool = pool("p5lsr", 2);
    let runner = pool.sequence_runner(Priority::Medium);
    let ok = Task::new(double, (5,));
    let bad = Task::new(fail_now, (5,));
    let (heard_ok, heard_bad) = (Heard::default(), Heard::default());
    heard_ok.attach(&ok);
    heard_bad.attach(&bad);
    let first = runner.execute(ok);
    let second = runner.execute(bad);
    assert_eq!(first.wait().unwrap(), 10);
    assert!(second.wait().is_err());
    wait_until("the listeners ran", || {
        heard_ok.get().len() == 3 && heard_bad.get().len() == 3
    });
    assert_eq!(heard_ok.get(), ["enqueued", "started", "succeeded"]);
    assert_eq!(heard_bad.get(), ["enqueued", "started", "failed"]);
}

/// `sendData`: "Sends data to the host thread and triggers the registered callback" — a task
/// whose receiver was registered before it joined a group sends to that receiver from its
/// group run.
#[test]
fn a_group_member_sends_data_to_the_receiver_it_was_given() {
    let pool = pool("p5dgm", 2);
    let task = Task::new(report, (1,));
    let stream = task.data_stream::<u32>();
    let mut group = TaskGroup::new();
    group.add_task(task).unwrap();
    group.add(double, (4,)).unwrap();
    assert_eq!(
        pool.execute_group(&group, Priority::Medium).wait().unwrap(),
        vec![1, 8]
    );
    let mut stream = stream;
    assert_eq!(stream.next_blocking(), Some(101));
}

/// A member that sends with no receiver gets 10200024 ("The callback is not registered on the
/// host side"), in a group as anywhere.
#[test]
fn a_group_member_without_a_receiver_gets_10200024() {
    let pool = pool("p5dgn", 1);
    let mut group = TaskGroup::new();
    group.add(no_receiver, ()).unwrap();
    assert_eq!(
        pool.execute_group(&group, Priority::Medium).wait().unwrap(),
        vec![Some(10200024)]
    );
}

#[concurrent]
fn no_receiver() -> Option<u32> {
    send_data(1u32).err().and_then(|e| e.code())
}

static MEMBER_SAW_CANCEL: AtomicBool = AtomicBool::new(false);

#[concurrent]
fn member_waits_for_cancel(gate: u64) -> u32 {
    pass_gate(gate);
    MEMBER_SAW_CANCEL.store(is_canceled(), Ordering::SeqCst);
    1
}

/// `cancel(group)`: "Cancels a task group in the task pool" — a member already running keeps
/// running, as a canceled running task does, and `isCanceled()` "Returns true if the running
/// task is canceled".
#[test]
fn a_running_member_of_a_canceled_group_sees_is_canceled() {
    let pool = pool("p5cgm", 2);
    let task = Task::new(member_waits_for_cancel, (98_000,));
    let id = task.id();
    let mut group = TaskGroup::new();
    group.add_task(task).unwrap();
    let handle = pool.execute_group(&group, Priority::Medium);
    support::wait_until_executing(&pool, id);
    handle.cancel().unwrap();
    open_gate(98_000);
    let error = handle.wait().unwrap_err();
    assert!(matches!(error, Error::Canceled { .. }), "{error:?}");
    wait_until("the member returned", || pool.info().tasks.is_empty());
    assert!(MEMBER_SAW_CANCEL.load(Ordering::SeqCst));
}

/// `taskpool.cancel(task)` of a task that waits as a member of a group: the task "will not be
/// executed after being canceled"; the group, one of whose tasks will never give a result,
/// must still settle (whatever it settles with), and the pool goes on.
#[test]
fn canceling_a_waiting_group_member_by_id_settles_the_group() {
    let pool = pool("p5cgw", 1);
    let blocker = pool.run(support::hold, (98_001,));
    support::wait_until_executing(&pool, blocker.id());
    let member = Task::new(double, (3,));
    let id = member.id();
    let mut group = TaskGroup::new();
    group.add(double, (1,)).unwrap();
    group.add_task(member).unwrap();
    let handle = pool.execute_group(&group, Priority::Medium);
    wait_until("the member is listed", || {
        support::states_of(&pool, id) == [TaskState::Waiting]
    });
    pool.cancel(id).unwrap();
    open_gate(98_001);
    assert_eq!(blocker.wait().unwrap(), 98_001);
    let outcome = support::bounded("the group settles", move || handle.wait());
    let error = outcome.unwrap_err();
    assert!(matches!(error, Error::Canceled { .. }), "{error:?}");
    assert_eq!(pool.run(double, (8,)).wait().unwrap(), 16);
}

/// `ThreadInfo.priority`: "Priority of the calling thread"; `TaskInfo.duration`: "If the
/// return value is 0, the task is not running."
#[test]
fn info_reports_the_running_task_s_priority_and_zero_duration_while_waiting() {
    let pool = pool("p5inf", 1);
    let running = pool.execute_with_priority(Task::new(support::hold, (98_002,)), Priority::High);
    support::wait_until_executing(&pool, running.id());
    let waiting = pool.execute_with_priority(Task::new(double, (2,)), Priority::Low);
    wait_until("both are listed", || pool.info().tasks.len() == 2);
    let info = pool.info();
    let thread = info
        .threads
        .iter()
        .find(|t| t.task_ids.contains(&running.id()))
        .unwrap();
    assert_eq!(thread.priority, Some(Priority::High));
    let task = |id| info.tasks.iter().find(|t| t.task_id == id).unwrap().clone();
    assert_eq!(task(running.id()).priority, Priority::High);
    assert_eq!(task(running.id()).state, TaskState::Running);
    assert_eq!(task(waiting.id()).priority, Priority::Low);
    assert_eq!(task(waiting.id()).state, TaskState::Waiting);
    assert_eq!(task(waiting.id()).duration, Duration::ZERO);
    open_gate(98_002);
    assert_eq!(running.wait().unwrap(), 98_002);
    assert_eq!(waiting.wait().unwrap(), 4);
    wait_until("the thread is idle", || {
        pool.info().threads.iter().all(|t| t.priority.is_none())
    });
}

/// `execute(group, priority)`: "priority: Priority of the task group" — the members are
/// submitted with it, whatever lane the member tasks were set to on their own.
#[test]
fn group_members_run_at_the_group_s_priority() {
    let pool = pool("p5gpr", 1);
    let blocker = pool.run(support::hold, (98_003,));
    support::wait_until_executing(&pool, blocker.id());
    let member = Task::new(double, (1,)).with_priority(Priority::Low);
    let id = member.id();
    let mut group = TaskGroup::new();
    group.add_task(member).unwrap();
    let handle = pool.execute_group(&group, Priority::High);
    wait_until("the member is listed", || {
        pool.info().tasks.iter().any(|t| t.task_id == id)
    });
    let info = pool.info();
    let listed = info.tasks.iter().find(|t| t.task_id == id).unwrap();
    assert_eq!(listed.priority, Priority::High);
    open_gate(98_003);
    assert_eq!(blocker.wait().unwrap(), 98_003);
    assert_eq!(handle.wait().unwrap(), vec![2]);
}

/// `onReceiveData` documents no "executed" error (unlike the four listeners' 10200034): a
/// receiver registered while a run of the task executes receives what the run sends after.
#[test]
fn a_receiver_registered_while_the_task_runs_gets_later_data() {
    let pool = pool("p5rlt", 1);
    let task = Task::new(report_after_gate, (98_004,));
    let handle = pool.execute(&task);
    support::wait_until_executing(&pool, handle.id());
    let got = Arc::new(AtomicUsize::new(0));
    let g = got.clone();
    task.on_receive_data(move |v: u64| {
        g.store(v as usize, Ordering::SeqCst);
    });
    open_gate(98_004);
    assert_eq!(handle.wait().unwrap(), 98_004);
    wait_until("the value arrived", || got.load(Ordering::SeqCst) == 98_005);
}

#[concurrent]
fn report_after_gate(gate: u64) -> u64 {
    pass_gate(gate);
    send_data(gate + 1).unwrap();
    gate
}

/// `Task.name`: "Name of the task specified when the task is created", and a `LongTask`
/// "inherits from Task": its name (given or its function's) shows in `TaskInfo.name`.
#[test]
fn a_long_task_s_name_shows_in_info() {
    let pool = pool("p5lnm", 2);
    let named = LongTask::new(support::hold, (98_005,)).with_name("keeper");
    let unnamed = LongTask::new(support::hold, (98_006,));
    assert_eq!(named.name(), "keeper");
    assert_eq!(unnamed.name(), "hold");
    let a = pool.execute(named);
    let b = pool.execute(unnamed);
    wait_until("both are listed", || pool.info().tasks.len() == 2);
    let info = pool.info();
    let name = |id| {
        info.tasks
            .iter()
            .find(|t| t.task_id == id)
            .unwrap()
            .name
            .clone()
    };
    assert_eq!(name(a.id()), "keeper");
    assert_eq!(name(b.id()), "hold");
    open_gate(98_005);
    open_gate(98_006);
    let (ida, idb) = (a.id(), b.id());
    assert_eq!(a.wait().unwrap(), 98_005);
    assert_eq!(b.wait().unwrap(), 98_006);
    pool.terminate_task(ida).unwrap();
    pool.terminate_task(idb).unwrap();
    let _ = PATIENCE;
}

/// A task canceled while it waits in a `SequenceRunner` "will not be executed", and "The
/// failure or cancellation of a task does not affect the execution of subsequent tasks in the
/// serial queue."
#[test]
fn a_named_runner_s_waiting_task_canceled_by_id_lets_the_next_run() {
    let runner = SequenceRunner::named("probes5-runner", Priority::Medium);
    let first = runner.execute(Task::new(support::hold, (98_007,)));
    support::wait_until("the first runs", || {
        taskpool::TaskPool::global()
            .info()
            .threads
            .iter()
            .any(|t| t.task_ids.contains(&first.id()))
    });
    let second = runner.execute(Task::new(double, (10,)));
    let third = runner.execute(Task::new(double, (11,)));
    taskpool::cancel(second.id()).unwrap();
    open_gate(98_007);
    assert_eq!(first.wait().unwrap(), 98_007);
    assert!(matches!(second.wait(), Err(Error::Canceled { .. })));
    assert_eq!(third.wait().unwrap(), 22);
}

/// The failure events' listeners record the error code too.
#[derive(Default, Clone)]
struct Failures(Arc<Mutex<Vec<String>>>);

impl Failures {
    fn attach<T: Send + 'static>(&self, task: &Task<T>) {
        let f = self.clone();
        task.on_enqueued(move || f.push("enqueued".into())).unwrap();
        let f = self.clone();
        task.on_start_execution(move || f.push("started".into()))
            .unwrap();
        let f = self.clone();
        task.on_execution_succeeded(move || f.push("succeeded".into()))
            .unwrap();
        let f = self.clone();
        task.on_execution_failed(move |e| f.push(format!("failed {:?}", e.code())))
            .unwrap();
    }

    fn push(&self, what: String) {
        self.0.lock().unwrap().push(what);
    }

    fn get(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// `onEnqueued`: "calls it when a task is enqueued". A delayed task canceled during its delay
/// was never enqueued: it reports the failure only.
#[test]
fn a_delayed_task_canceled_during_its_delay_reports_only_the_failure() {
    let pool = pool("p5ldc", 1);
    let task = Task::new(double, (1,));
    let heard = Failures::default();
    heard.attach(&task);
    let handle = pool.execute_delayed(Duration::from_secs(3600), task, Priority::Medium);
    handle.cancel().unwrap();
    assert!(handle.wait().unwrap_err().is_canceled());
    wait_until("the failure is heard", || !heard.get().is_empty());
    // A marker task's listener, posted later to the same callback thread, comes after any
    // late event of the canceled task.
    flush_listeners(&pool);
    assert_eq!(heard.get(), ["failed None"]);
}

/// A dependent whose dependency fails was never enqueued either: it reports the failure only
/// (the `DependencyFailed` improvement has no ArkTS code).
#[test]
fn a_dependent_whose_dependency_fails_reports_only_the_failure() {
    let pool = pool("p5ldf", 1);
    let dependency = Task::new(fail_now, (1,));
    let dependent = Task::new(double, (1,));
    dependent.add_dependency(&dependency).unwrap();
    let heard = Failures::default();
    heard.attach(&dependent);
    let held = pool.execute(dependent);
    assert!(pool.execute(dependency).wait().is_err());
    let error = held.wait().unwrap_err();
    assert!(matches!(error, Error::DependencyFailed { .. }), "{error:?}");
    flush_listeners(&pool);
    wait_until("the failure is heard", || !heard.get().is_empty());
    assert_eq!(heard.get(), ["failed None"]);
}

/// A task held behind another in a `SequenceRunner` and canceled there, and the oldest waiting
/// task an `AsyncRunner` pushes out (10200054) or one canceled in it (10200055): none was
/// enqueued; each reports its failure, with its code.
#[test]
fn runner_held_tasks_that_never_run_report_only_their_failure() {
    let pool = pool("p5lrh", 2);
    let runner = pool.sequence_runner(Priority::Medium);
    let first = runner.execute(Task::new(support::hold, (98_010,)));
    support::wait_until_executing(&pool, first.id());
    let held = Task::new(double, (1,));
    let heard_seq = Failures::default();
    heard_seq.attach(&held);
    let held = runner.execute(held);
    held.cancel().unwrap();

    let async_runner = pool.async_runner(1, 1).unwrap();
    let running = async_runner.execute(Task::new(support::hold, (98_011,)), Priority::Medium);
    support::wait_until_executing(&pool, running.id());
    let (pushed, canceled) = (Task::new(double, (2,)), Task::new(double, (3,)));
    let (heard_pushed, heard_canceled) = (Failures::default(), Failures::default());
    heard_pushed.attach(&pushed);
    heard_canceled.attach(&canceled);
    let pushed = async_runner.execute(pushed, Priority::Medium);
    let canceled = async_runner.execute(canceled, Priority::Medium);
    assert_eq!(pushed.wait().unwrap_err().code(), Some(10200054));
    canceled.cancel().unwrap();
    assert_eq!(canceled.wait().unwrap_err().code(), Some(10200055));
    assert!(held.wait().unwrap_err().is_canceled());
    open_gate(98_010);
    open_gate(98_011);
    assert_eq!(first.wait().unwrap(), 98_010);
    assert_eq!(running.wait().unwrap(), 98_011);
    wait_until("the failures are heard", || {
        !heard_seq.get().is_empty()
            && !heard_pushed.get().is_empty()
            && !heard_canceled.get().is_empty()
    });
    flush_listeners(&pool);
    assert_eq!(heard_seq.get(), ["failed None"]);
    assert_eq!(heard_pushed.get(), ["failed Some(10200054)"]);
    assert_eq!(heard_canceled.get(), ["failed Some(10200055)"]);
}

/// `isDone`: "The value true means that the task is complete, and false means the opposite."
/// A task executed again is not complete while that run waits or runs (ArkTS's `isDone` reads
/// the task's state, which the new execution sets back to WAITING, then RUNNING), even though an
/// earlier run of it has ended; once the new run ends it is done again. (The documented pattern
/// `if (!task.isDone()) { taskpool.cancel(task) }` relies on it.)
#[test]
fn a_task_executed_again_is_not_done_until_that_run_ends() {
    let pool = pool("p5idn", 1);
    let task = Task::new(support::hold, (98_020,));
    open_gate(98_020);
    assert_eq!(pool.execute(&task).wait().unwrap(), 98_020);
    assert!(task.is_done());

    // Waiting behind a blocker.
    let blocker = pool.run(support::hold, (98_021,));
    support::wait_until_executing(&pool, blocker.id());
    let again = pool.execute(&task);
    assert!(!task.is_done(), "a run of it waits");
    open_gate(98_021);
    assert_eq!(blocker.wait().unwrap(), 98_021);
    assert_eq!(again.wait().unwrap(), 98_020);
    assert!(task.is_done());

    // Running.
    let running_task = Task::new(support::hold, (98_022,));
    let first = pool.execute(&running_task);
    let second = pool.execute(&running_task);
    open_gate(98_022);
    assert_eq!(first.wait().unwrap(), 98_022);
    assert_eq!(second.wait().unwrap(), 98_022);
    assert!(running_task.is_done());
    let third = pool.execute(&running_task);
    assert!(!running_task.is_done(), "a run of it waits or runs");
    assert_eq!(third.wait().unwrap(), 98_022);
    assert!(running_task.is_done());

    // A run canceled while waiting has ended: the task is done again.
    let blocker = pool.run(support::hold, (98_023,));
    support::wait_until_executing(&pool, blocker.id());
    let canceled = pool.execute(&task);
    assert!(!task.is_done());
    canceled.cancel().unwrap();
    assert!(task.is_done(), "its pending run ended (canceled)");
    open_gate(98_023);
    assert_eq!(blocker.wait().unwrap(), 98_023);
    assert!(canceled.wait().unwrap_err().is_canceled());
}

/// A group "can be executed for multiple times": canceling one execution ("Cancels a task
/// group") leaves another execution of the same group alone, even one whose runs wait for
/// their turn behind the canceled execution's running ones.
#[test]
fn canceling_one_execution_of_a_group_leaves_the_other_alone() {
    let pool = pool("p5gtw", 3);
    let mut group = TaskGroup::new();
    group.add(support::hold, (98_030,)).unwrap();
    group.add(support::hold, (98_031,)).unwrap();
    let first = pool.execute_group(&group, Priority::Medium);
    let second = pool.execute_group(&group, Priority::Medium);
    wait_until("a member of the first runs", || {
        support::busy_threads(&pool) >= 1
    });
    first.cancel().unwrap();
    open_gate(98_030);
    open_gate(98_031);
    let first = support::bounded("the first settles", move || first.wait());
    assert!(first.unwrap_err().is_canceled());
    let second = support::bounded("the second settles", move || second.wait());
    assert_eq!(second.unwrap(), [98_030, 98_031]);
}

static RUN_SAW_CANCEL: Mutex<Vec<bool>> = Mutex::new(Vec::new());

#[concurrent]
fn note_cancel(gate: u64) -> u64 {
    pass_gate(gate);
    RUN_SAW_CANCEL.lock().unwrap().push(is_canceled());
    gate
}

/// `isCanceled()`: "Returns true if the running task is canceled" — the cancel of one run of a
/// task executed twice is that run's: the next run of the task starts uncanceled.
#[test]
fn a_run_after_a_canceled_run_of_the_same_task_is_not_canceled() {
    let pool = pool("p5rac", 1);
    let task = Task::new(note_cancel, (98_032,));
    let first = pool.execute(&task);
    support::wait_until_executing(&pool, first.id());
    first.cancel().unwrap();
    open_gate(98_032);
    assert!(first.wait().unwrap_err().is_canceled());
    assert_eq!(pool.execute(&task).wait().unwrap(), 98_032);
    assert_eq!(*RUN_SAW_CANCEL.lock().unwrap(), [true, false]);
}

/// `cancel(group)`: 10200018 "The task group to cancel does not exist" — an execution of an
/// empty group is over at once (its result is `[]`): there is nothing to cancel.
#[test]
fn canceling_an_empty_group_execution_is_10200018() {
    let pool = pool("p5gem", 1);
    let group: TaskGroup<u32> = TaskGroup::new();
    let handle = pool.execute_group(&group, Priority::Medium);
    assert_eq!(handle.cancel().unwrap_err().code(), Some(10200018));
    assert_eq!(handle.wait().unwrap(), Vec::<u32>::new());
}

/// A group whose member is held by a dependency that never ran: canceling the group settles
/// it at once, and the member never runs when the dependency later succeeds.
#[test]
fn canceling_a_group_whose_member_is_held_by_a_dependency() {
    let pool = pool("p5ghd", 2);
    let dependency = Task::new(double, (1,));
    let member = Task::new(count_member, (5,));
    member.add_dependency(&dependency).unwrap();
    let mut group = TaskGroup::new();
    group.add_task(member).unwrap();
    group.add(count_member, (6,)).unwrap();
    let handle = pool.execute_group(&group, Priority::Medium);
    wait_until("the free member ran", || {
        MEMBER_RUNS.load(Ordering::SeqCst) == 1
    });
    handle.cancel().unwrap();
    let outcome = support::bounded("the group settles", move || handle.wait());
    assert!(outcome.unwrap_err().is_canceled());
    assert_eq!(pool.execute(dependency).wait().unwrap(), 2);
    // A marker run after the dependency's success: the held member, released then, would
    // have been queued before it.
    assert_eq!(pool.run(double, (3,)).wait().unwrap(), 6);
    assert_eq!(pool.run(double, (3,)).wait().unwrap(), 6);
    assert_eq!(MEMBER_RUNS.load(Ordering::SeqCst), 1);
}

static MEMBER_RUNS: AtomicUsize = AtomicUsize::new(0);

#[concurrent]
fn count_member(x: u32) -> u32 {
    MEMBER_RUNS.fetch_add(1, Ordering::SeqCst);
    x
}

/// `new SequenceRunner(priority)`: "priority: Priority of the task" — the runner's tasks run at
/// the runner's priority, whatever lane the task was set to on its own; an `AsyncRunner`'s at
/// the priority its `execute` was given.
#[test]
fn runner_tasks_run_at_the_runner_s_priority() {
    let pool = pool("p5rpr", 1);
    let blocker = pool.run(support::hold, (98_040,));
    support::wait_until_executing(&pool, blocker.id());
    let runner = pool.sequence_runner(Priority::High);
    let in_sequence = runner.execute(Task::new(double, (1,)).with_priority(Priority::Low));
    let async_runner = pool.async_runner(2, 0).unwrap();
    let in_async = async_runner.execute(
        Task::new(double, (2,)).with_priority(Priority::Low),
        Priority::Idle,
    );
    wait_until("both are listed", || pool.info().tasks.len() == 3);
    let info = pool.info();
    let priority = |id| {
        info.tasks
            .iter()
            .find(|t| t.task_id == id)
            .unwrap()
            .priority
    };
    assert_eq!(priority(in_sequence.id()), Priority::High);
    assert_eq!(priority(in_async.id()), Priority::Idle);
    open_gate(98_040);
    assert_eq!(blocker.wait().unwrap(), 98_040);
    assert_eq!(in_sequence.wait().unwrap(), 2);
    assert_eq!(in_async.wait().unwrap(), 4);
}

/// The same for a run executed with a delay, or held by a dependency: the task is not done
/// while that run waits for its delay or its dependency.
#[test]
fn a_task_is_not_done_while_a_delayed_or_held_run_of_it_waits() {
    let pool = pool("p5idd", 1);
    let task = Task::new(double, (4,));
    assert_eq!(pool.execute(&task).wait().unwrap(), 8);
    assert!(task.is_done());
    let delayed = pool.execute_delayed(Duration::from_secs(3600), &task, Priority::Medium);
    assert!(!task.is_done(), "a delayed run of it waits");
    delayed.cancel().unwrap();
    assert!(delayed.wait().unwrap_err().is_canceled());
    assert!(task.is_done());

    let dependency = Task::new(double, (5,));
    let dependent = Task::new(double, (6,));
    dependent.add_dependency(&dependency).unwrap();
    let held = pool.execute(&dependent);
    assert!(!dependent.is_done());
    assert_eq!(pool.execute(&dependency).wait().unwrap(), 10);
    assert_eq!(held.wait().unwrap(), 12);
    assert!(dependent.is_done());
    assert_eq!(pool.execute(&dependent).wait().unwrap(), 12);
    assert!(dependent.is_done());
}

/// A task's `onExecutionSucceeded` listener, called once the run ended, finds the task done.
#[test]
fn is_done_seen_from_the_success_listener() {
    let pool = pool("p5idl", 1);
    let task = Arc::new(Mutex::new(Task::new(double, (7,))));
    let weak = Arc::downgrade(&task);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    task.lock()
        .unwrap()
        .on_execution_succeeded(move || {
            if let Some(task) = weak.upgrade() {
                s.lock().unwrap().push(task.lock().unwrap().is_done());
            }
        })
        .unwrap();
    let handle = pool.execute(&*task.lock().unwrap());
    assert_eq!(handle.wait().unwrap(), 14);
    wait_until("the listener ran", || seen.lock().unwrap().len() == 1);
    assert_eq!(*seen.lock().unwrap(), [true]);
}

/// Canceling a group reaches its members' listeners: a member still queued hears that it was
/// enqueued, then its failure (never a start), as any run canceled while it waits.
#[test]
fn a_queued_member_of_a_canceled_group_reports_enqueued_then_failed() {
    let pool = pool("p5lgc", 1);
    let blocker = pool.run(support::hold, (98_050,));
    support::wait_until_executing(&pool, blocker.id());
    let member = Task::new(double, (1,));
    let id = member.id();
    let heard = Failures::default();
    heard.attach(&member);
    let mut group = TaskGroup::new();
    group.add_task(member).unwrap();
    let handle = pool.execute_group(&group, Priority::Medium);
    wait_until("the member is queued", || {
        support::states_of(&pool, id) == [TaskState::Waiting]
    });
    handle.cancel().unwrap();
    assert!(handle.wait().unwrap_err().is_canceled());
    open_gate(98_050);
    assert_eq!(blocker.wait().unwrap(), 98_050);
    wait_until("two events", || heard.get().len() == 2);
    flush_listeners(&pool);
    assert_eq!(heard.get(), ["enqueued", "failed None"]);
}
