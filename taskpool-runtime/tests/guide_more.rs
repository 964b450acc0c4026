//! More ArkTS concurrency guides (openharmony/docs, `en/application-dev/arkts-utils/`), program
//! by program and rule by rule: `taskpool-introduction.md` (its concurrent functions returning
//! promises, the promise errors, and its precautions: the time limit, the 16 MB cap, the IDLE
//! lane, the number of tasks), `taskpool-vs-worker.md`, `global-configuration-guide.md`,
//! `makeobserved-sendable.md`, `concurrency-faq.md` and `single-io-development.md`. The guides
//! already ported live in `guide_taskpool.rs`, `guide_worker.rs`, `guide_communication.rs`,
//! `guide_locks.rs`, `guide_sendable.rs` and the `seed_*` files. Timers of the guides are
//! replaced by gates and conditions; nothing asserts on time.

mod support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use support::echo::Echo;
use support::{PATIENCE, block_on, open_gate, pass_gate, wait_until};
use taskpool::{
    AsyncLock, CallObject, DEFAULT_MAX_SERIALIZED_BYTES, Error, HandlerResult, Payload, Priority,
    Shared, Task, TaskId, TaskPool, TaskState, Worker, WorkerHandler, WorkerPort, concurrent,
    default_max_threads, sendable,
};

/// The state `id` is listed in by `pool.info()`, if it is listed.
fn state_of(pool: &TaskPool, id: TaskId) -> Option<TaskState> {
    pool.info()
        .tasks
        .iter()
        .find(|t| t.task_id == id)
        .map(|t| t.state)
}

/// Whether some thread of `pool` executes `id` now.
fn executing(pool: &TaskPool, id: TaskId) -> bool {
    pool.info().threads.iter().any(|t| t.task_ids.contains(&id))
}

// ---------------------------------------------------------------------------------------------
// taskpool-introduction.md, "Concurrent Functions Returning Promises": every form resolves
// with the promise's value. A synchronous `@Concurrent` function returning a Promise is an
// `async fn` here (returning a future from a plain `fn` is a compile error, c26).

/// `@Concurrent function testPromise(args1, args2): Promise<number>` (resolves at once).
#[concurrent]
async fn test_promise(args1: i64, args2: i64) -> i64 {
    args1 + args2
}

/// `@Concurrent async function testPromise2(..)`: `return await new Promise(..)`.
#[concurrent]
async fn test_promise2(args1: i64, args2: i64) -> i64 {
    std::future::ready(args1 + args2).await
}

/// `@Concurrent function testPromise3() { return Promise.resolve(1); }`
#[concurrent]
async fn test_promise3() -> i64 {
    1
}

/// `@Concurrent async function testPromise5(): Promise<string>`: resolves after a timer.
#[concurrent]
async fn test_promise5() -> String {
    taskpool::sleep(Duration::from_millis(20)).await;
    "Promise setTimeout after resolve".to_owned()
}

#[test]
fn concurrent_functions_returning_promises_resolve_with_their_values() {
    // task1..task3 are `(1, 2)`; task4 and task5 resolve `1`; task6 after its timer.
    let task1 = taskpool::execute(Task::new(test_promise, (1, 2)));
    let task3 = taskpool::execute(Task::new(test_promise2, (1, 2)));
    let task4 = taskpool::execute(test_promise3::task());
    let task6 = taskpool::execute(test_promise5::task());
    assert_eq!(task1.wait().unwrap(), 3, "task1 res is: 3");
    assert_eq!(task3.wait().unwrap(), 3, "task3 res is: 3");
    assert_eq!(task4.wait().unwrap(), 1, "task4 res is: 1");
    assert_eq!(
        task6.wait().unwrap(),
        "Promise setTimeout after resolve",
        "task6 res"
    );
}

// taskpool-introduction.md, "Using Promises in Concurrent Asynchronous Functions": an error
// thrown after an await, a rejected awaited promise and a returned rejected promise all reject
// the task's promise with that error.

/// `testPromiseError`: `throw new Error("testPromise Error")` in a `.then` that is awaited.
#[concurrent]
async fn test_promise_error() -> Result<(), String> {
    std::future::ready(1).await;
    Err("testPromise Error".to_owned())
}

/// `testPromiseError1`: awaits a promise rejected with a message.
#[concurrent]
async fn test_promise_error1() -> Result<(), String> {
    let rejected: Result<(), String> = Err("testPromiseError1 Error msg".to_owned());
    std::future::ready(rejected).await
}

/// `testPromiseError2`: a plain function returning a rejected promise.
#[concurrent]
fn test_promise_error2() -> Result<(), String> {
    Err("testPromiseError2 Error msg".to_owned())
}

/// The message an execution failed with (`task catch e: ..`), which must be a `TaskFailed`.
fn failure_message<T: std::fmt::Debug>(outcome: taskpool::Result<T>) -> String {
    match outcome {
        Err(Error::TaskFailed(source)) => source.to_string(),
        other => panic!("expected the task to fail with its error, got {other:?}"),
    }
}

#[test]
fn errors_inside_concurrent_async_functions_reject_the_task() {
    let task1 = taskpool::execute(test_promise_error::task());
    let task2 = taskpool::execute(test_promise_error1::task());
    let task3 = taskpool::execute(test_promise_error2::task());
    assert_eq!(failure_message(task1.wait()), "testPromise Error");
    assert_eq!(failure_message(task2.wait()), "testPromiseError1 Error msg");
    assert_eq!(failure_message(task3.wait()), "testPromiseError2 Error msg");
}

// ---------------------------------------------------------------------------------------------
// taskpool-introduction.md, "Precautions for TaskPool"

/// Spins (cooperatively) until the pool flags the run canceled, as it does at the time limit.
#[concurrent]
fn run_until_stopped() -> bool {
    let deadline = std::time::Instant::now() + PATIENCE;
    while !taskpool::is_canceled() {
        assert!(std::time::Instant::now() < deadline, "never flagged");
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// Awaits `rounds` timers of `each` milliseconds: awaiting is not executing.
#[concurrent]
async fn await_for_long(rounds: u32, each: u64) -> u32 {
    for _ in 0..rounds {
        taskpool::sleep(Duration::from_millis(each)).await;
    }
    rounds
}

/// "A task function must finish the execution in a TaskPool worker thread within 3 minutes
/// (excluding the time used for Promise or async/await asynchronous call ...). Otherwise, it is
/// forcibly terminated." The limit is configurable (3 minutes by default); Rust cannot stop the
/// call, so the handle resolves with `TimedOut` and the call reads `is_canceled()` (README,
/// "Known limitations").
#[test]
fn the_time_limit_counts_executing_time_and_not_awaiting() {
    let limit = Duration::from_millis(150);
    let pool = TaskPool::builder().time_limit(limit).build().unwrap();
    // Awaiting four times the limit in all is not executing: the task succeeds.
    let awaited = pool.execute(Task::new(await_for_long, (4, 150)));
    assert_eq!(awaited.wait().unwrap(), 4);
    // Executing past the limit: the handle resolves with `TimedOut` naming the limit.
    let task = Task::new(run_until_stopped, ());
    let id = task.id();
    match pool.execute(task).wait() {
        Err(Error::TimedOut { task, limit: l }) => {
            assert_eq!((task, l), (id, limit));
        }
        other => panic!("expected TimedOut, got {other:?}"),
    }
}

/// A task that takes the (moved) buffer and returns its length.
#[concurrent]
fn buffer_length(buffer: Vec<u8>) -> usize {
    buffer.len()
}

/// "A maximum of 16 MB data can be serialized": above it, 10200006 and nothing runs; a copy
/// just below it runs. (Moved arguments are not serialized: no cap, ARCHITECTURE.md.)
#[test]
fn at_most_sixteen_megabytes_can_be_serialized() {
    assert_eq!(DEFAULT_MAX_SERIALIZED_BYTES, 16 * 1024 * 1024);
    let over = Task::new(
        buffer_length,
        (vec![7u8; DEFAULT_MAX_SERIALIZED_BYTES + 1],),
    );
    let error = over.descriptor().unwrap_err();
    assert_eq!(error.code(), Some(10200006), "{error}");
    drop(over);

    // Under the cap with room for the descriptor's other fields (its function name, the
    // length prefix: the cap applies to the whole descriptor on the wire): the descriptor is
    // built, crosses as bytes and runs.
    let under = DEFAULT_MAX_SERIALIZED_BYTES - 1024;
    let task = Task::new(buffer_length, (vec![7u8; under],));
    let bytes = task.descriptor().unwrap().to_bytes().unwrap();
    drop(task);
    let descriptor = taskpool::TaskDescriptor::from_bytes(&bytes).unwrap();
    let result = TaskPool::global()
        .execute_descriptor(&descriptor)
        .wait()
        .unwrap();
    assert_eq!(result.decode::<usize>().unwrap(), under);

    // The Worker's copies obey the same cap (`taskpool-vs-worker.md`, "Precautions for Worker").
    let worker = Worker::new(|| BufferLength).unwrap();
    let error = worker
        .post_message_serialized(&vec![0u8; DEFAULT_MAX_SERIALIZED_BYTES + 1])
        .unwrap_err();
    assert_eq!(error.code(), Some(10200006), "{error}");
    worker.post_message_serialized(&vec![0u8; under]).unwrap();
    assert_eq!(worker.recv(), Some(under));
}

/// A worker that answers the length of every buffer it is sent.
struct BufferLength;

impl WorkerHandler for BufferLength {
    type In = Vec<u8>;
    type Out = usize;

    async fn on_message(&mut self, buffer: Vec<u8>, port: &WorkerPort<usize>) -> HandlerResult {
        port.post_message(buffer.len())?;
        Ok(())
    }
}

/// A large argument that is not `Clone`: a re-executed task copies it by serialization.
#[derive(Serialize, Deserialize)]
struct Scan(Vec<u8>);

/// The length of the scan it was given.
#[concurrent]
fn scan_length(scan: Scan) -> usize {
    scan.0.len()
}

/// The same cap on the copy a re-executed task makes of arguments that are not `Clone`: 16 MiB
/// (10200006), whatever the pool's own cap, which governs descriptors and their results only.
/// The error must not send the caller to a setting that cannot help, and must name the ways
/// out: `Clone` arguments, `Shared<T>`, or executing the task by value (moved, never copied).
#[test]
fn an_over_cap_copy_for_another_run_says_how_to_avoid_it() {
    let pool = TaskPool::builder()
        .max_serialized_bytes(64 << 20)
        .build()
        .unwrap();
    let task = Task::new(
        scan_length,
        (Scan(vec![1; DEFAULT_MAX_SERIALIZED_BYTES + 1]),),
    );
    let error = pool.execute(&task).wait().unwrap_err();
    assert_eq!(error.code(), Some(10200006), "{error}");
    let message = error.to_string();
    assert!(
        !message.contains("raise the pool's"),
        "the pool's cap (64 MiB here) does not govern this copy: {message}"
    );
    for way_out in ["`Clone`", "`Shared<T>`", "by value"] {
        assert!(message.contains(way_out), "{way_out} in: {message}");
    }
    // By value, the argument moves: no copy, no cap.
    assert_eq!(
        pool.execute(task).wait().unwrap(),
        DEFAULT_MAX_SERIALIZED_BYTES + 1
    );
}

static IDLE_RUNNING: AtomicU32 = AtomicU32::new(0);
static IDLE_MOST: AtomicU32 = AtomicU32::new(0);

/// A background chore: counts how many chores run at once, then waits for its gate.
#[concurrent]
fn background_chore(gate: u64) {
    let now = IDLE_RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    IDLE_MOST.fetch_max(now, Ordering::SeqCst);
    pass_gate(gate);
    IDLE_RUNNING.fetch_sub(1, Ordering::SeqCst);
}

/// A foreground task that holds its thread until its gate opens.
#[concurrent]
fn foreground(gate: u64) {
    pass_gate(gate);
}

/// "IDLE ... Tasks marked with this priority are executed only when all threads are idle and
/// occupy only one thread for execution."
#[test]
fn idle_tasks_wait_for_idle_threads_and_take_one_thread() {
    let pool = TaskPool::builder().max_threads(3).build().unwrap();
    let busy = Task::new(foreground, (101,));
    let busy_id = busy.id();
    let busy = pool.execute(busy);
    wait_until("the foreground task runs", || executing(&pool, busy_id));
    let first = Task::new(background_chore, (102,));
    let second = Task::new(background_chore, (103,));
    let (first_id, second_id) = (first.id(), second.id());
    let first = pool.execute_with_priority(first, Priority::Idle);
    let second = pool.execute_with_priority(second, Priority::Idle);
    // The pool has free threads, yet a thread is busy: the chores wait.
    assert_eq!(state_of(&pool, first_id), Some(TaskState::Waiting));
    assert_eq!(state_of(&pool, second_id), Some(TaskState::Waiting));
    open_gate(101);
    busy.wait().unwrap();
    // Now the first starts, and the second keeps waiting while it runs: one thread only.
    wait_until("the first chore runs", || executing(&pool, first_id));
    assert_eq!(state_of(&pool, second_id), Some(TaskState::Waiting));
    open_gate(102);
    first.wait().unwrap();
    open_gate(103);
    second.wait().unwrap();
    assert_eq!(IDLE_MOST.load(Ordering::SeqCst), 1);
}

/// Returns its argument doubled.
#[concurrent]
fn double(n: u64) -> u64 {
    n * 2
}

/// "While it can theoretically handle an unlimited number of tasks, the actual task execution
/// is influenced by the task priority and the availability of system resources": far more
/// tasks than threads, in every lane, all complete with their own results.
#[test]
fn many_more_tasks_than_threads_all_complete() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let lanes = [
        Priority::High,
        Priority::Medium,
        Priority::Low,
        Priority::Idle,
    ];
    let handles: Vec<_> = (0..4000u64)
        .map(|n| pool.execute_with_priority(Task::new(double, (n,)), lanes[n as usize % 4]))
        .collect();
    for (n, handle) in (0u64..).zip(handles) {
        assert_eq!(handle.wait().unwrap(), n * 2);
    }
    assert!(pool.thread_count() <= 2 + 2, "within the hard ceiling");
}

// ---------------------------------------------------------------------------------------------
// taskpool-vs-worker.md

/// "The maximum number of worker threads ... The formula is max(3, Number of physical cores –
/// 1)."
#[test]
fn the_default_thread_maximum_is_max_of_three_and_cores_minus_one() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let expected = std::cmp::max(3, cores.saturating_sub(1));
    assert_eq!(default_max_threads(), expected);
    assert_eq!(TaskPool::new().max_threads(), expected);
}

static STARTED_TO_CANCEL: AtomicBool = AtomicBool::new(false);

/// Runs until it sees it was canceled; returns whether it did.
#[concurrent]
fn cancelable_work() -> bool {
    STARTED_TO_CANCEL.store(true, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + PATIENCE;
    while !taskpool::is_canceled() {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// TaskPool: "Tasks that have been initiated can be canceled"; "Setting the task priority is
/// supported". A canceled running task's handle resolves `Canceled`, carrying what it returned.
#[test]
fn initiated_tasks_can_be_canceled_and_priorities_set() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(cancelable_work, ()).with_priority(Priority::High);
    assert_eq!(task.priority(), Priority::High);
    let id = task.id();
    let handle = pool.execute(task);
    wait_until("the task started", || {
        STARTED_TO_CANCEL.load(Ordering::SeqCst)
    });
    wait_until("the task is listed as running", || {
        state_of(&pool, id) == Some(TaskState::Running)
    });
    pool.cancel(id).unwrap();
    match handle.wait() {
        Err(Error::Canceled {
            task,
            started: true,
            late: Some(late),
        }) => {
            assert_eq!(task, id);
            assert!(late.into_value::<bool>().unwrap(), "it saw is_canceled()");
        }
        other => panic!("expected a canceled run with its late outcome, got {other:?}"),
    }
    // Ended: canceling again is 10200015.
    assert_eq!(pool.cancel(id).unwrap_err().code(), Some(10200015));
}

/// Worker: "If a worker thread is destroyed or being destroyed, an error is thrown when it is
/// called." (10200004)
#[test]
fn a_terminated_worker_refuses_messages() {
    let worker = Worker::new(|| Echo).unwrap();
    worker.post_message(1).unwrap();
    assert_eq!(worker.recv(), Some(1));
    worker.terminate().unwrap();
    assert_eq!(worker.post_message(2).unwrap_err().code(), Some(10200004));
    assert_eq!(worker.terminate().unwrap_err().code(), Some(10200004));
    assert_eq!(worker.wait_for_exit(), 0);
}

// ---------------------------------------------------------------------------------------------
// global-configuration-guide.md: a shared module's `Config` (Wi-Fi state, login) guarded by an
// `AsyncLock`, read by a `download` task and changed by the host.

/// The fields the guide's `Config` guards with its lock.
#[derive(Serialize, Deserialize, Default)]
struct ConfigState {
    is_login: bool,
    login_user: Option<String>,
    wifi_on: bool,
}

/// `@Sendable class Config { lock; isLogin; loginUser?; wifiOn }`: the lock holds the fields.
#[sendable]
struct Config {
    lock: AsyncLock<ConfigState>,
}

impl Config {
    async fn login(&self, user: &str) {
        let mut state = self.lock.lock_async().await;
        state.is_login = true;
        state.login_user = Some(user.to_owned());
    }

    async fn logout(&self) {
        let mut state = self.lock.lock_async().await;
        state.is_login = false;
        state.login_user = Some(String::new());
    }

    async fn get_is_login(&self) -> bool {
        self.lock.lock_shared_async().await.is_login
    }

    async fn get_user(&self) -> String {
        let state = self.lock.lock_shared_async().await;
        state.login_user.clone().unwrap_or_default()
    }

    async fn set_wifi_state(&self, on: bool) {
        self.lock.lock_async().await.wifi_on = on;
    }

    async fn is_wifi_on(&self) -> bool {
        self.lock.lock_shared_async().await.wifi_on
    }
}

/// `"use shared"` + `export let config = new Config()`: one per process.
static CONFIG: LazyLock<Config> = LazyLock::new(|| Config {
    lock: AsyncLock::new(ConfigState::default()),
});

/// `@Concurrent async function download()`: what it logs, and whether it downloads.
#[concurrent]
async fn download() -> (String, bool) {
    if !CONFIG.is_wifi_on().await {
        return ("wifi is off".to_owned(), false);
    }
    if !CONFIG.get_is_login().await {
        return ("not login".to_owned(), false);
    }
    let user = CONFIG.get_user().await;
    (format!("User[{user}] start download ..."), true)
}

/// The guide's "login" button: logs in only when not logged in and a name was typed.
fn login_clicked(input: &str) {
    if !block_on(CONFIG.get_is_login()) && !input.is_empty() {
        block_on(CONFIG.login(input));
    }
}

#[test]
fn a_download_task_reads_the_global_configuration() {
    let run = || taskpool::execute(download::task()).wait().unwrap();
    assert_eq!(run(), ("wifi is off".to_owned(), false), "download fail");
    block_on(CONFIG.set_wifi_state(true)); // the toggle
    assert_eq!(run(), ("not login".to_owned(), false));
    login_clicked("");
    assert_eq!(run(), ("not login".to_owned(), false), "no name typed");
    login_clicked("Tom");
    assert_eq!(
        run(),
        ("User[Tom] start download ...".to_owned(), true),
        "download success"
    );
    // Many downloads at once read one configuration.
    let handles: Vec<_> = (0..16)
        .map(|_| taskpool::execute(download::task()))
        .collect();
    assert!(handles.into_iter().all(|h| h.wait().unwrap().1));
    if block_on(CONFIG.get_is_login()) {
        block_on(CONFIG.logout());
    }
    assert_eq!(run(), ("not login".to_owned(), false));
    block_on(CONFIG.set_wifi_state(false));
    assert_eq!(run(), ("wifi is off".to_owned(), false));
}

// ---------------------------------------------------------------------------------------------
// makeobserved-sendable.md: a task builds a Sendable object from the name the host passes;
// the host replaces its own object with it, changes it, and passes only the name back.

/// `@Sendable class SendableData`
#[sendable]
#[derive(Debug, Clone, PartialEq)]
struct SendableData {
    name: String,
    age: u32,
    gender: u32,
    likes: u32,
    follow: bool,
}

impl Default for SendableData {
    fn default() -> SendableData {
        SendableData {
            name: "Tom".to_owned(),
            age: 20,
            gender: 1,
            likes: 1,
            follow: false,
        }
    }
}

/// `@Concurrent function threadGetData(param: string): SendableData` (the guide's random age
/// and likes are derived from the name here, so the test is deterministic).
#[concurrent]
fn thread_get_data(param: String) -> SendableData {
    let seed = param.bytes().map(u32::from).sum::<u32>();
    SendableData {
        name: format!("{param}-o"),
        age: seed % 40,
        likes: seed % 100,
        ..SendableData::default()
    }
}

#[test]
fn a_task_builds_sendable_data_that_replaces_the_hosts_copy() {
    let mut send = SendableData::default();
    send.name += "0"; // "change name"
    // "task": only the name crosses; the whole object comes back.
    send = taskpool::TaskPool::global()
        .run(thread_get_data, (send.name.clone(),))
        .wait()
        .unwrap();
    assert_eq!(send.name, "Tom0-o");
    assert!(send.age < 40 && send.likes < 100);
    assert_eq!((send.gender, send.follow), (1, false));
    send.name += "0";
    let again = taskpool::execute(Task::new(thread_get_data, (send.name.clone(),)))
        .wait()
        .unwrap();
    assert_eq!(again.name, "Tom0-o0-o");
    // The object can also be shared back by reference rather than copied.
    let shared = Shared::new(again.clone());
    assert_eq!(*shared, again);
}

// ---------------------------------------------------------------------------------------------
// concurrency-faq.md

/// "How Do I Save the Execution Result of a TaskPool Task to a Custom Data Structure?":
/// `@Sendable class testClass { name; setName; getName }`.
#[sendable]
struct TestClass {
    name: AsyncLock<String>,
}

impl TestClass {
    fn set_name(&self, name: String) {
        *self.name.lock() = name;
    }

    fn get_name(&self) -> String {
        self.name.lock_shared().clone()
    }
}

/// `@Concurrent function createTask(a: number): string`
#[concurrent]
fn create_task(a: u32) -> String {
    format!("test{a}")
}

/// Saves its own result in the Sendable object it was given (the first solution).
#[concurrent]
fn create_and_save(a: u32, object: Shared<TestClass>) {
    object.set_name(format!("test{a}"));
}

#[test]
fn a_task_result_is_saved_in_a_sendable_object() {
    // Solution 2: in `.then`, on the host.
    let test_object = Shared::new(TestClass {
        name: AsyncLock::new("test".to_owned()),
    });
    let res = taskpool::execute(Task::new(create_task, (1,)))
        .wait()
        .unwrap();
    test_object.set_name(res);
    assert_eq!(test_object.get_name(), "test1");
    // Solution 1: the task saves it in the shared object itself.
    taskpool::execute(Task::new(create_and_save, (2, test_object.clone())))
        .wait()
        .unwrap();
    assert_eq!(test_object.get_name(), "test2");
}

/// A task that throws (panics) while it computes.
#[concurrent]
fn create_failing_task(a: i32, b: i32) -> i32 {
    if b == 0 {
        panic!("division of {a} by zero");
    }
    a / b
}

/// "If a JavaScript exception occurs during task execution, the TaskPool catches the
/// JavaScript exception and returns the exception information through
/// `taskpool.execute().catch(..)`": a panic is caught, its message returned, and the pool
/// thread keeps serving.
#[test]
fn an_exception_in_a_task_is_returned_to_the_caller() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(create_failing_task, (1, 0));
    let id = task.id();
    match pool.execute(task).wait() {
        Err(Error::Panicked { task, message }) => {
            assert_eq!(task, id);
            assert!(message.contains("division of 1 by zero"), "{message}");
        }
        other => panic!("expected the panic, got {other:?}"),
    }
    assert_eq!(
        pool.execute(Task::new(create_failing_task, (6, 3)))
            .wait()
            .unwrap(),
        2
    );
}

/// "If the call state log exists but the execution state log is missing, it may be because a
/// preceding task has blocked the worker thread": with every thread blocked, a new task is
/// listed as waiting until the blocking one ends.
#[test]
fn a_task_behind_a_blocked_thread_waits_listed_until_it_is_freed() {
    let pool = TaskPool::builder()
        .max_threads(1)
        .extra_threads(0)
        .build()
        .unwrap();
    let blocker = Task::new(foreground, (201,));
    let blocker_id = blocker.id();
    let blocker = pool.execute(blocker);
    wait_until("the blocker runs", || executing(&pool, blocker_id));
    let task = Task::new(create_task, (7,));
    let id = task.id();
    let handle = pool.execute(task);
    let info = pool.info();
    let listed = info.tasks.iter().find(|t| t.task_id == id).unwrap();
    assert_eq!(
        (listed.state, listed.priority, listed.name.as_str()),
        (TaskState::Waiting, Priority::Medium, "create_task"),
        "the \"Task Allocation\" of the task: listed, waiting"
    );
    assert_eq!(state_of(&pool, blocker_id), Some(TaskState::Running));
    open_gate(201);
    blocker.wait().unwrap();
    assert_eq!(handle.wait().unwrap(), "test7");
}

static SERIAL_ORDER: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// A serial-queue task; task 2 is the slow predecessor.
#[concurrent]
fn serial_step(n: u32, gate: u64) -> u32 {
    if gate != 0 {
        pass_gate(gate);
    }
    SERIAL_ORDER.lock().unwrap().push(n);
    n
}

/// "Tasks in Serial Queue Delayed by Slow Predecessors": the fourth task of a runner waits
/// for the slow second one, and the queue keeps its order.
#[test]
fn a_serial_queue_task_waits_for_its_slow_predecessor() {
    let pool = TaskPool::builder().max_threads(3).build().unwrap();
    let runner = pool.sequence_runner(Priority::High);
    let first = runner.execute(Task::new(serial_step, (1, 0)));
    let second = Task::new(serial_step, (2, 301));
    let second_id = second.id();
    let second = runner.execute(second);
    let third = Task::new(serial_step, (3, 0));
    let fourth = Task::new(serial_step, (4, 0));
    let fourth_id = fourth.id();
    let third = runner.execute(third);
    let fourth = runner.execute(fourth);
    assert_eq!(first.wait().unwrap(), 1);
    wait_until("the slow second task runs", || executing(&pool, second_id));
    // Threads are free, yet the fourth task has not started.
    assert!(!executing(&pool, fourth_id));
    assert_eq!(SERIAL_ORDER.lock().unwrap().as_slice(), &[1]);
    open_gate(301);
    assert_eq!(
        (
            second.wait().unwrap(),
            third.wait().unwrap(),
            fourth.wait().unwrap()
        ),
        (2, 3, 4)
    );
    assert_eq!(SERIAL_ORDER.lock().unwrap().as_slice(), &[1, 2, 3, 4]);
}

static LANE_ORDER: Mutex<Vec<Priority>> = Mutex::new(Vec::new());

/// Records the lane it ran in.
#[concurrent]
fn record_lane(lane: Priority) {
    LANE_ORDER.lock().unwrap().push(lane);
}

/// "Low-Priority Tasks Delayed by Many Medium-Priority Tasks": a LOW task queued before many
/// MEDIUM ones is delayed by them, yet not starved: it gets a turn after at most five MEDIUM
/// tasks (`DESIGN.md`, the 5-in-a-row dispatch rule).
#[test]
fn a_low_task_behind_many_medium_tasks_is_delayed_but_not_starved() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let blocker = Task::new(foreground, (401,));
    let blocker_id = blocker.id();
    let blocker = pool.execute_with_priority(blocker, Priority::High);
    wait_until("the blocker runs", || executing(&pool, blocker_id));
    let mut handles =
        vec![pool.execute_with_priority(Task::new(record_lane, (Priority::Low,)), Priority::Low)];
    for _ in 0..20 {
        handles.push(pool.execute(Task::new(record_lane, (Priority::Medium,))));
    }
    open_gate(401);
    blocker.wait().unwrap();
    handles.into_iter().for_each(|h| h.wait().unwrap());
    let order = LANE_ORDER.lock().unwrap().clone();
    let low = order.iter().position(|&p| p == Priority::Low).unwrap();
    assert!(low >= 1, "MEDIUM tasks go first: {order:?}");
    assert!(
        low <= 5,
        "LOW gets a turn after at most five MEDIUM: {order:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// single-io-development.md: one I/O operation needs no thread of its own (async); here it runs
// as an `async fn` task that writes 'Hello World!' to a file.

/// `async function write(data: string, file: fs.File)`: the length written.
#[concurrent]
async fn write_file(data: String, file_path: PathBuf) -> std::io::Result<usize> {
    std::fs::write(&file_path, data.as_bytes())?;
    Ok(data.len())
}

#[test]
fn a_single_io_task_writes_its_file() {
    let dir = std::env::temp_dir().join(format!("taskpool-guide-more-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file_path = dir.join("test.txt");
    let written = taskpool::execute(Task::new(
        write_file,
        ("Hello World!".to_owned(), file_path.clone()),
    ))
    .wait()
    .unwrap();
    assert_eq!(written, 12, "write data length is: 12");
    assert_eq!(std::fs::read_to_string(&file_path).unwrap(), "Hello World!");
    // Writing into a directory that does not exist rejects with the I/O error.
    let missing = dir.join("missing").join("test.txt");
    let error = taskpool::execute(Task::new(write_file, ("x".to_owned(), missing)))
        .wait()
        .unwrap_err();
    assert!(matches!(error, Error::TaskFailed(_)), "{error:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------------------------
// taskpool-introduction.md, the time limit again: only executing counts. Waiting for a delay,
// a dependency, a runner's turn, a previous run of the same task or an awaited handle is not
// executing, whatever its length.

/// Awaits `millis` on the runtime's timer, then returns `n`.
#[concurrent]
async fn slow_async(n: u32, millis: u64) -> u32 {
    taskpool::sleep(Duration::from_millis(millis)).await;
    n
}

/// Returns `n` at once.
#[concurrent]
fn quick(n: u32) -> u32 {
    n
}

/// Awaits the handle of a slow async task it starts on the same pool.
#[concurrent]
async fn await_a_slow_task(millis: u64) -> u32 {
    taskpool::execute(Task::new(slow_async, (9, millis)))
        .await
        .unwrap()
}

#[test]
fn waiting_of_every_kind_does_not_count_against_the_time_limit() {
    let limit = Duration::from_millis(250);
    let long = 3 * 250;
    let pool = TaskPool::builder()
        .time_limit(limit)
        .max_threads(2)
        .build()
        .unwrap();

    // A delay three times the limit.
    let delayed = pool.execute_delayed(
        Duration::from_millis(long),
        Task::new(quick, (1,)),
        Priority::Medium,
    );
    // A dependency that awaits three times the limit.
    let dependency = Task::new(slow_async, (2, long));
    let dependent = Task::new(quick, (3,));
    dependent.add_dependency(&dependency).unwrap();
    let dependent = pool.execute(dependent);
    let dependency = pool.execute(dependency);
    // A runner's second task behind a predecessor that awaits.
    let runner = pool.sequence_runner(Priority::Medium);
    let first = runner.execute(Task::new(slow_async, (4, long)));
    let second = runner.execute(Task::new(quick, (5,)));
    // The second run of one task, behind its first run that awaits.
    let again = Task::new(slow_async, (6, long));
    let run1 = pool.execute(&again);
    let run2 = pool.execute(&again);
    // An async runner of one running task.
    let async_runner = pool.async_runner(1, 0).unwrap();
    let a1 = async_runner.execute(Task::new(slow_async, (7, long)), Priority::Medium);
    let a2 = async_runner.execute(Task::new(quick, (8,)), Priority::Medium);
    // A task awaiting another's handle.
    let awaiting = pool.execute(Task::new(await_a_slow_task, (long,)));

    assert_eq!(delayed.wait().unwrap(), 1, "delayed");
    assert_eq!(dependency.wait().unwrap(), 2, "dependency");
    assert_eq!(dependent.wait().unwrap(), 3, "dependent");
    assert_eq!(first.wait().unwrap(), 4, "runner's first");
    assert_eq!(second.wait().unwrap(), 5, "runner's second");
    assert_eq!(run1.wait().unwrap(), 6, "first run");
    assert_eq!(run2.wait().unwrap(), 6, "second run");
    assert_eq!(a1.wait().unwrap(), 7, "async runner's first");
    assert_eq!(a2.wait().unwrap(), 8, "async runner's second");
    assert_eq!(awaiting.wait().unwrap(), 9, "awaiting a handle");
    assert_eq!(pool.info().counters.timed_out, 0);
}

// taskpool-vs-worker.md, "Lifecycle Precautions": "If a worker thread is destroyed or being
// destroyed, an error is thrown when it is called": a worker that closed itself but still
// finishes its message is being destroyed.

/// Closes itself on its first message, then waits for gate 501 before it returns.
struct ClosesSlowly;

impl WorkerHandler for ClosesSlowly {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        port.close()?;
        port.post_message(n)?;
        pass_gate(501);
        Ok(())
    }
}

#[test]
fn a_worker_being_destroyed_refuses_messages() {
    let worker = Worker::new(|| ClosesSlowly).unwrap();
    worker.post_message(1).unwrap();
    // Its reply comes after `close()`: it is being destroyed now.
    assert_eq!(worker.recv(), Some(1));
    assert!(!worker.is_running());
    let posted = worker.post_message(2);
    let copied = worker.post_message_serialized(&3);
    let payload = worker.post_payload(Payload::Json("4".to_owned()));
    let through_ref = worker.worker_ref().post_message(5);
    let registered = worker.register_global_call_object(
        "object",
        CallObject::new(0u64).method("get", |n: &mut u64, (): ()| *n),
    );
    let terminated = worker.terminate();
    open_gate(501);
    for (what, outcome) in [
        ("post_message", posted),
        ("post_message_serialized", copied),
        ("post_payload", payload),
        ("WorkerRef::post_message", through_ref),
        ("register_global_call_object", registered),
        ("terminate", terminated),
    ] {
        assert_eq!(
            outcome.as_ref().map_err(Error::code),
            Err(Some(10200004)),
            "{what}: {outcome:?}"
        );
    }
    assert_eq!(worker.wait_for_exit(), 0);
    assert_eq!(worker.recv(), None);
}

// taskpool-vs-worker.md, "Use Case Comparison": "Use TaskPool for a task that needs to be
// canceled frequently. For example, in the large image browsing scenario in Gallery, both
// images on the left and right sides of the current image are cached. When the user slides to
// the next image, a cache task on one side needs to be canceled."

/// Caches image `index`: the bytes of its thumbnail.
#[concurrent]
fn cache_image(index: u32) -> Vec<u8> {
    index.to_le_bytes().to_vec()
}

#[test]
fn gallery_cache_tasks_are_canceled_as_the_user_slides() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    // The only thread is busy, so every cache task is still waiting when the user slides.
    let blocker = Task::new(foreground, (601,));
    let blocker_id = blocker.id();
    let blocker = pool.execute(blocker);
    wait_until("the blocker runs", || executing(&pool, blocker_id));
    let mut kept = Vec::new();
    let mut canceled = Vec::new();
    for current in 1..=40u32 {
        let left = Task::new(cache_image, (current - 1,));
        let right = Task::new(cache_image, (current + 1,));
        let left_id = left.id();
        canceled.push((left_id, pool.execute(left)));
        kept.push((current + 1, pool.execute(right)));
        // Sliding right: the left cache is not needed any more.
        pool.cancel(left_id).unwrap();
    }
    let info = pool.info();
    let listed_canceled = info
        .tasks
        .iter()
        .filter(|t| t.state == TaskState::Canceled)
        .count();
    assert_eq!(listed_canceled, 16, "the last 16 canceled runs stay listed");
    open_gate(601);
    blocker.wait().unwrap();
    for (id, handle) in canceled {
        match handle.wait() {
            Err(Error::Canceled {
                task,
                started: false,
                late: None,
            }) => assert_eq!(task, id),
            other => panic!("expected a canceled waiting run, got {other:?}"),
        }
    }
    for (index, handle) in kept {
        assert_eq!(handle.wait().unwrap(), index.to_le_bytes().to_vec());
    }
    assert_eq!(pool.info().counters.canceled, 40);
}

/// A synchronous task that executes `slow_async` on its own pool and blocks until it ends;
/// it records the inner outcome, since its own result is lost when it times out.
#[concurrent]
fn block_on_slow(millis: u64) -> String {
    let inner = POOL_FOR_INNER
        .get()
        .expect("the test sets the pool first")
        .execute(Task::new(slow_async, (11, millis)));
    let outcome = format!("{:?}", inner.wait());
    *INNER_OUTCOME.lock().unwrap() = Some(outcome.clone());
    outcome
}

static POOL_FOR_INNER: std::sync::OnceLock<TaskPool> = std::sync::OnceLock::new();
static INNER_OUTCOME: Mutex<Option<String>> = Mutex::new(None);

/// The guide excludes "the time used for Promise or async/await asynchronous call": a
/// synchronous task that *blocks* on another task's handle is executing (as a synchronous call
/// is in ArkTS) and times out, while the awaited `async` task, run inline on the blocked
/// thread or elsewhere, is not charged for its own awaits.
#[test]
fn a_blocking_wait_counts_but_the_awaited_tasks_awaits_do_not() {
    let limit = Duration::from_millis(250);
    let pool = POOL_FOR_INNER.get_or_init(|| {
        TaskPool::builder()
            .time_limit(limit)
            .max_threads(1)
            .build()
            .unwrap()
    });
    let outer = Task::new(block_on_slow, (3 * 250,));
    let outer_id = outer.id();
    match pool.execute(outer).wait() {
        Err(Error::TimedOut { task, limit: l }) => assert_eq!((task, l), (outer_id, limit)),
        other => panic!("expected the blocked waiter to time out, got {other:?}"),
    }
    wait_until("the inner task ends", || {
        INNER_OUTCOME.lock().unwrap().is_some()
    });
    assert_eq!(INNER_OUTCOME.lock().unwrap().as_deref(), Some("Ok(11)"));
}
