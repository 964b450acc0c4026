//! Still more ArkTS concurrency guides (openharmony/docs, `en/application-dev/arkts-utils/`),
//! the pages no other guide port covered: `worker-and-taskpool.md` (a worker that runs its
//! computation on the TaskPool), `worker-postMessageAtFront.md` (the worker's normal messages
//! reach a busy host in send order; the guide's `postMessageAtFront` example itself is ported in
//! `worker_at_front.rs`) and
//! `async-concurrency-overview.md` (promises and async/await on the pool), and the
//! `concurrency-faq.md` answers `guide_more.rs` left out (serialization failures; Sendable
//! functions as parameters instead of closures). The other ports live
//! in `guide_taskpool.rs`, `guide_worker.rs`, `guide_communication.rs`, `guide_locks.rs`,
//! `guide_sendable.rs`, `guide_more.rs` and the `seed_*` files. Timers of the guides are
//! replaced by gates and signals; nothing asserts on time. Gate ids: 94_000–94_999.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use serde::{Deserialize, Serialize};
use support::{PATIENCE, Signal, open_gate, pass_gate, wait_until, wait_until_suspended};
use taskpool::{
    Error, HandlerResult, Task, TaskPool, Worker, WorkerHandler, WorkerPort, concurrent,
};

// ---------------------------------------------------------------------------------------------
// worker-and-taskpool.md: the host posts `{ type: 'start', data: 10 }`; the worker processes
// the data itself, hands the rest to the TaskPool, awaits it and replies
// `{ status: 'success', result }`; the host then terminates the worker.

/// `{ type: 'start', data: 10 }`
#[derive(Debug, Serialize, Deserialize)]
struct Start {
    #[serde(rename = "type")]
    kind: String,
    data: u32,
}

/// `{ status: 'success', result: result }`
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Outcome {
    status: String,
    result: f64,
}

/// The thread the worker's handler ran on, and the thread `parallel_task` ran on.
static HANDLER_THREAD: Mutex<Option<ThreadId>> = Mutex::new(None);
static TASK_THREAD: Mutex<Option<ThreadId>> = Mutex::new(None);

/// `heavyComputation`: the part the worker computes itself.
fn heavy_computation(base: u32) -> f64 {
    (0..base * 10).map(|i| f64::from(i).sqrt()).sum()
}

/// `parallelTask`: alternately adds and subtracts every integer below `base`.
#[concurrent]
fn parallel_task(base: f64) -> f64 {
    *TASK_THREAD.lock().unwrap() = Some(std::thread::current().id());
    let mut total = 0.0;
    let mut i = 0.0;
    while i < base {
        total += if i % 2.0 == 0.0 { i } else { -i };
        i += 1.0;
    }
    total
}

/// `Worker.ets`: on 'start', computes, awaits the TaskPool, and posts the final result.
struct PoolUsingWorker;

impl WorkerHandler for PoolUsingWorker {
    type In = Start;
    type Out = Outcome;

    async fn on_message(&mut self, e: Start, port: &WorkerPort<Outcome>) -> HandlerResult {
        if e.kind == "start" {
            *HANDLER_THREAD.lock().unwrap() = Some(std::thread::current().id());
            let processed_data = heavy_computation(e.data);
            let task = Task::new(parallel_task, (processed_data,));
            let result = TaskPool::global().execute(task).await?;
            port.post_message(Outcome {
                status: "success".to_owned(),
                result,
            })?;
        }
        Ok(())
    }
}

#[test]
fn a_worker_awaits_a_taskpool_task_and_returns_its_result_to_the_host() {
    let my_worker = Worker::new(|| PoolUsingWorker).unwrap();
    let exited = Arc::new(Mutex::new(None));
    let exit = Arc::clone(&exited);
    my_worker.on_exit(move |code| *exit.lock().unwrap() = Some(code));
    // A message of another type is ignored: no reply comes for it.
    my_worker
        .post_message(Start {
            kind: "other".to_owned(),
            data: 1,
        })
        .unwrap();
    my_worker
        .post_message(Start {
            kind: "start".to_owned(),
            data: 10,
        })
        .unwrap();
    // Replies come in send order, so a reply to the ignored message would come first.
    let reply = my_worker.recv_timeout(PATIENCE).expect("the final result");
    // sqrt(0) + .. + sqrt(99) is about 661.5, so the task sums 0 - 1 + 2 - .. - 661: 331
    // pairs of -1.
    let processed = heavy_computation(10);
    assert!((661.0..662.0).contains(&processed), "{processed}");
    assert_eq!(
        reply,
        Outcome {
            status: "success".to_owned(),
            result: -331.0,
        }
    );
    // The concurrent part ran on a TaskPool thread, not on the worker's own thread.
    let handler = HANDLER_THREAD.lock().unwrap().expect("the handler ran");
    let task = TASK_THREAD.lock().unwrap().expect("the task ran");
    assert_ne!(handler, task, "parallelTask ran on the worker's thread");
    assert_ne!(handler, std::thread::current().id());
    // `myWorker.terminate()`: the host destroys the worker once it has the result.
    my_worker.terminate().unwrap();
    wait_until("onexit ran", || exited.lock().unwrap().is_some());
    assert_eq!(*exited.lock().unwrap(), Some(0));
}

// ---------------------------------------------------------------------------------------------
// worker-postMessageAtFront.md: "the messages are queued and processed in the order they are
// sent", also while the host is busy with an earlier one. This checks the ordering the page
// starts from, with the host held busy by a gate instead of the guide's 100 ms spin per message;
// the queue-jumping `postMessageAtFront(msg, priority)` (API 26) that the page then introduces
// is `WorkerPort::post_message_at_front`, tested in `worker_at_front.rs`.

/// Opened by the worker once it has posted every message.
const ALL_POSTED: u64 = 94_000;
const NORMAL_MESSAGES: usize = 10;

/// `Worker.ets`: on any message, posts ten normal messages. ArkTS's `postMessage` is a
/// serialized copy (`post_message_serialized`); every other one is moved instead
/// (`post_message`), and the two kinds still arrive in the order they were sent.
struct ChattyWorker;

impl WorkerHandler for ChattyWorker {
    type In = String;
    type Out = String;

    async fn on_message(&mut self, _: String, port: &WorkerPort<String>) -> HandlerResult {
        for i in 0..NORMAL_MESSAGES {
            let message = format!("normal message. {i}");
            if i % 2 == 0 {
                port.post_message_serialized(&message)?;
            } else {
                port.post_message(message)?;
            }
        }
        open_gate(ALL_POSTED);
        Ok(())
    }
}

#[test]
fn a_busy_host_processes_the_workers_messages_in_send_order() {
    let worker_object = Worker::new(|| ChattyWorker).unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&received);
    let busy_once = AtomicBool::new(true);
    worker_object.on_message(move |res: String| {
        // The host is busy with the first message until every other one is queued behind it.
        if busy_once.swap(false, Ordering::SeqCst) {
            pass_gate(ALL_POSTED);
        }
        sink.lock().unwrap().push(res);
    });
    // 'Trigger message sending'.
    worker_object.post_message("normal".to_owned()).unwrap();
    wait_until("every message was processed", || {
        received.lock().unwrap().len() == NORMAL_MESSAGES
    });
    let expected: Vec<String> = (0..NORMAL_MESSAGES)
        .map(|i| format!("normal message. {i}"))
        .collect();
    assert_eq!(*received.lock().unwrap(), expected);
    // 'Release worker'.
    worker_object.terminate().unwrap();
}

// ---------------------------------------------------------------------------------------------
// async-concurrency-overview.md: a promise resolves or rejects once its asynchronous operation
// completes (`then` / `catch`); `await` waits for it without occupying a thread, so other work
// proceeds meanwhile; a rejection caught with try/catch inside the async function does not
// reject the function's own promise.

/// The guide's executor: resolves with the random number above 0.5, else rejects. The number
/// is an argument here, so both outcomes are checked deterministically.
#[concurrent]
async fn random_promise(random_number: f64) -> Result<f64, String> {
    std::future::ready(()).await;
    if random_number > 0.5 {
        Ok(random_number)
    } else {
        Err("Random number is too small".to_owned())
    }
}

#[test]
fn a_promise_resolves_with_its_value_or_rejects_with_its_error() {
    // `.then((result) => ..)`
    let resolved = taskpool::execute(Task::new(random_promise, (0.75,)));
    assert_eq!(resolved.wait().unwrap(), 0.75);
    // `.catch((error) => console.error(error.message))`
    let rejected = taskpool::execute(Task::new(random_promise, (0.25,)));
    match rejected.wait() {
        Err(Error::TaskFailed(source)) => {
            assert_eq!(source.to_string(), "Random number is too small")
        }
        other => panic!("expected the promise to reject, got {other:?}"),
    }
}

/// Stands in for the guide's 3-second `setTimeout` that resolves the awaited promise.
static TIMEOUT_FIRED: Signal = Signal::new();

/// `myAsyncFunction`: awaits a promise that a timer resolves with 'Hello, world!'.
#[concurrent]
async fn my_async_function() -> String {
    TIMEOUT_FIRED.raised().await;
    "Hello, world!".to_owned()
}

#[test]
fn awaiting_a_promise_frees_the_thread_for_other_work() {
    // One thread: whatever else runs while `myAsyncFunction` awaits runs on that same thread.
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let mut res = pool.execute(Task::new(my_async_function, ()));
    wait_until_suspended(&pool, res.id());
    let mut other = pool.execute(Task::new(support::plain, (20,)));
    assert!(
        other.wait_timeout(PATIENCE).is_some(),
        "other work waited for the awaited promise"
    );
    assert!(
        res.wait_timeout(std::time::Duration::ZERO).is_none(),
        "the function returned before its promise resolved"
    );
    TIMEOUT_FIRED.raise();
    assert_eq!(
        res.wait_timeout(PATIENCE).expect("resolved").unwrap(),
        "Hello, world!"
    );
}

/// The guide's try/catch variant: the awaited promise rejects, the function catches it.
#[concurrent]
async fn my_async_function_catching() -> Result<String, String> {
    let inner: Result<String, String> = std::future::ready(Err("rejected".to_owned())).await;
    match inner {
        Ok(result) => Ok(result),
        Err(e) => Ok(format!("Get exception: {e}")),
    }
}

#[test]
fn a_rejection_caught_inside_an_async_function_does_not_reject_it() {
    let handle = taskpool::execute(Task::new(my_async_function_catching, ()));
    assert_eq!(handle.wait().unwrap(), "Get exception: rejected");
}

// ---------------------------------------------------------------------------------------------
// concurrency-faq.md, "Troubleshooting for TaskPool Serialization Failures". A concurrent
// function returning a `Task` (scenario 3) does not compile here (`Task` is not
// `Transferable`); the guide's solution, creating `task1` from the result in `.then`, does.
// The in-process path moves arguments without serializing them (README), so the failure of
// scenario 1 is reached where arguments are serialized: the per-run copy of a task executed
// by reference whose argument types are not `Clone`.

/// `printArgs`
#[concurrent]
fn print_args(args: u32) -> u32 {
    args
}

/// `createTask`, returning a serializable sum instead of a task.
#[concurrent]
fn create_sum_task(a: u32, b: u32) -> u32 {
    a + b
}

#[test]
fn the_follow_up_task_is_created_from_the_result_instead_of_returned_by_the_task() {
    let pool = TaskPool::global();
    let res = pool
        .execute(Task::new(create_sum_task, (1, 2)))
        .wait_timeout(PATIENCE)
        .expect("createTask settled")
        .unwrap();
    // `.then((res) => { let task1 = new taskpool.Task(printArgs, res) })`
    let task1 = Task::new(print_args, (res,));
    assert_eq!(
        pool.execute(task1).wait_timeout(PATIENCE).unwrap().unwrap(),
        3
    );
}

/// Set if `takes_unsupported` ever runs.
static UNSUPPORTED_RAN: AtomicBool = AtomicBool::new(false);

/// An argument type the encoder refuses, as ArkTS refuses a `Proxy` (a `@State` object): its
/// `Serialize` fails. Not `Clone`, so a per-run copy has to serialize it.
#[derive(Debug, Deserialize)]
struct StateProxy(u32);

impl Serialize for StateProxy {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "Serialize don't support object type: Proxy",
        ))
    }
}

#[concurrent]
fn takes_unsupported(value: StateProxy) -> u32 {
    UNSUPPORTED_RAN.store(true, Ordering::SeqCst);
    value.0
}

#[test]
fn an_argument_that_cannot_be_serialized_rejects_the_task_before_it_runs() {
    let task = Task::new(takes_unsupported, (StateProxy(7),));
    // Executed by reference: each run gets a serialized copy of the arguments.
    let outcome = TaskPool::global()
        .execute(&task)
        .wait_timeout(PATIENCE)
        .expect("the execution settled");
    match outcome {
        Err(error @ Error::Serialization(_)) => {
            assert_eq!(error.code(), Some(10200006));
            assert!(error.to_string().contains("Proxy"), "{error}");
        }
        other => panic!("expected a serialization failure, got {other:?}"),
    }
    assert!(!UNSUPPORTED_RAN.load(Ordering::SeqCst), "nothing runs");
}

// ---------------------------------------------------------------------------------------------
// concurrency-faq.md, "Can TaskPool Threads Execute JavaScript Closure Functions That Do Not
// Require @Concurrent and @Sendable Decorators?": closures cannot run as tasks, but Sendable
// functions passed as parameters can be called inside a concurrent function. A closure or a
// function pointer cannot be a task argument here (README, c21/c22/c35): the argument is data
// naming the function, which the concurrent function calls.

/// Names the Sendable function the guide would pass as a parameter.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum SendableFn {
    Double,
    Negate,
}

fn double(x: i64) -> i64 {
    x * 2
}

fn negate(x: i64) -> i64 {
    -x
}

/// Calls the function `f` names, on the pool thread, and says which thread that was.
#[concurrent]
fn call_sendable(f: SendableFn, x: i64) -> (i64, String) {
    let value = match f {
        SendableFn::Double => double(x),
        SendableFn::Negate => negate(x),
    };
    (value, format!("{:?}", std::thread::current().id()))
}

#[test]
fn a_function_passed_by_name_is_called_inside_the_concurrent_function() {
    let host = format!("{:?}", std::thread::current().id());
    for (f, expected) in [(SendableFn::Double, 42), (SendableFn::Negate, -21)] {
        let (value, thread) = taskpool::execute(Task::new(call_sendable, (f, 21)))
            .wait_timeout(PATIENCE)
            .expect("settled")
            .unwrap();
        assert_eq!(value, expected, "{f:?}");
        assert_ne!(thread, host, "{f:?} ran on the host thread");
    }
}
