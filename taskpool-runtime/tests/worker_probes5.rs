//! Worker probes, fifth round: js-apis-worker.md details the earlier rounds left out — `close()`
//! from a task the handler spawned, a `Worker` dropped on its own thread, global calls with
//! mismatched types, the serialized cap's boundary, `on_exit` replaced, the error routing after
//! `clear_callbacks`, a handler terminating itself through a `WorkerRef`, and workers nested in
//! a constructor.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::time::Duration;

use futures::StreamExt;

use support::echo::{Echo, Gated};
use support::{PATIENCE, bounded, open_gate, pass_gate, wait_until};
use taskpool::{
    CallObject, Encoding, HandlerResult, Payload, Worker, WorkerHandler, WorkerPort, WorkerRef,
};

/// Spawns a local task that replies, then closes the worker from that task, after the handler
/// returned: the loop is idle, waiting for messages, when the close comes.
struct CloseLater;

impl WorkerHandler for CloseLater {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        let port2 = port.clone();
        port.spawn_local(async move {
            taskpool::sleep(Duration::from_millis(5)).await;
            port2.post_message(n + 1)?;
            port2.close()?;
            Ok(())
        });
        Ok(())
    }
}

/// ArkTS `workerPort.close()` "closes the worker thread to stop the worker from receiving
/// messages", whatever code calls it on the worker thread: a task the handler spawned closes it
/// too, while the loop waits for messages, and the worker exits normally.
#[test]
fn close_from_a_spawned_task_while_the_loop_is_idle_ends_the_worker_normally() {
    let worker = Worker::new(|| CloseLater).unwrap();
    worker.post_message(41).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(42));
    assert_eq!(
        bounded("the close", {
            let to_worker = worker.worker_ref();
            let (tx, rx) = mpsc::channel();
            worker.on_exit(move |code| tx.send(code).unwrap());
            move || {
                let code = rx.recv_timeout(PATIENCE).unwrap();
                (code, to_worker.post_message(1).unwrap_err().code())
            }
        }),
        (0, Some(10200004))
    );
    assert_eq!(worker.exit_code(), Some(0));
    assert!(worker.take_exit_error().is_none());
}

fn own_slot() -> &'static Mutex<Option<Worker<u64, u64>>> {
    static SLOT: Mutex<Option<Worker<u64, u64>>> = Mutex::new(None);
    &SLOT
}

/// Drops its own `Worker` (taken from a slot) on its own thread, then tries to reply.
struct DropsItself;

impl WorkerHandler for DropsItself {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, _: u64, port: &WorkerPort<u64>) -> HandlerResult {
        let own = own_slot().lock().unwrap().take();
        drop(own);
        // Dropping the `Worker` terminates it: a reply now is refused.
        let refused = port.post_message(7).unwrap_err().code();
        OWN_REFUSED.store(refused == Some(10200004), Ordering::SeqCst);
        taskpool::sleep(Duration::from_millis(1)).await;
        unreachable!("a terminated handler is stopped at its next .await");
    }
}

static OWN_REFUSED: AtomicBool = AtomicBool::new(false);

/// A `Worker` dropped by its own handler (ArkTS: `workerInstance.terminate()` reached from the
/// worker side) cannot join its own thread: it is terminated, the handler stops at its next
/// `.await`, and the worker's threads and message stream end, without a panic or a hang.
#[test]
fn a_worker_dropped_by_its_own_handler_ends_without_hanging() {
    let worker = Worker::builder()
        .name("w5-drops-itself")
        .spawn(|| DropsItself)
        .unwrap();
    let errors = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&errors);
    worker.on_error(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    });
    let stream = worker.messages();
    let to_worker = worker.worker_ref();
    *own_slot().lock().unwrap() = Some(worker);
    to_worker.post_message(1).unwrap();
    let received: Vec<u64> = bounded("the stream's end", move || {
        futures::executor::block_on(stream.collect())
    });
    assert!(received.is_empty(), "{received:?}");
    // The drop ends the receivers at once (it cannot wait for its own thread): the reply the
    // handler tries next may come after the end, and is refused.
    wait_until("the reply is refused", || {
        OWN_REFUSED.load(Ordering::SeqCst)
    });
    wait_until("the worker's threads end", || {
        support::threads_named("w5-drops-itself") == 0
    });
    assert_eq!(errors.load(Ordering::SeqCst), 0, "no error: a normal end");
    assert_eq!(
        to_worker.post_message(2).unwrap_err().code(),
        Some(10200004)
    );
}

/// Calls `obj.method` with a `u64` argument, expecting a `String`, and replies with the error
/// code it got (0 for success).
struct CallsWith {
    method: &'static str,
}

impl WorkerHandler for CallsWith {
    type In = u64;
    type Out = Option<i64>;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<Option<i64>>) -> HandlerResult {
        let code = match port.call_global_object_method::<u64, String>(
            "obj",
            self.method,
            Duration::ZERO,
            n,
        ) {
            Ok(_) => Some(0),
            Err(error) => error.code().map(i64::from),
        };
        port.post_message(code)?;
        Ok(())
    }
}

fn typed_object(calls: Arc<AtomicUsize>) -> CallObject<Arc<AtomicUsize>> {
    CallObject::new(calls)
        // Takes a string: the worker's `u64` does not decode as one.
        .method("wants_text", |calls: &mut Arc<AtomicUsize>, _: String| {
            calls.fetch_add(1, Ordering::SeqCst);
            String::new()
        })
        // Returns a number: the worker's `String` does not decode from it.
        .method("gives_number", |calls: &mut Arc<AtomicUsize>, n: u64| {
            calls.fetch_add(1, Ordering::SeqCst);
            n
        })
        .method("fine", |_: &mut Arc<AtomicUsize>, n: u64| n.to_string())
}

/// Global call arguments and results are serialized copies (errorcode-utils.md 10200006, "An
/// exception occurred during serialization"): an argument the method does not take, or a result
/// the caller does not expect, is 10200006 for that call, and the object stays callable.
#[test]
fn global_calls_with_mismatched_types_get_10200006_and_the_object_stays_callable() {
    for (method, called) in [("wants_text", 0), ("gives_number", 1)] {
        let worker = Worker::new(move || CallsWith { method }).unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        worker
            .register_global_call_object("obj", typed_object(Arc::clone(&calls)))
            .unwrap();
        worker.post_message(3).unwrap();
        assert_eq!(
            worker.recv_timeout(PATIENCE),
            Ok(Some(10200006)),
            "{method}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), called, "{method}");
        worker.post_message(3).unwrap();
        assert_eq!(
            worker.recv_timeout(PATIENCE),
            Ok(Some(10200006)),
            "{method}"
        );
        assert!(worker.is_running());
        drop(worker);
    }
    let worker = Worker::new(|| CallsWith { method: "fine" }).unwrap();
    worker
        .register_global_call_object("obj", typed_object(Arc::default()))
        .unwrap();
    worker.post_message(3).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(Some(0)));
    // Every object unregistered (ArkTS `unregisterGlobalCallObject()` without a name): 10200019.
    worker.unregister_global_call_object(None).unwrap();
    worker.post_message(3).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(Some(10200019)));
    // Only callbacks registered (the host thread runs, no object): 10200019 as well.
    let worker = Worker::new(|| CallsWith { method: "fine" }).unwrap();
    worker.on_exit(|_| {});
    worker.post_message(3).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(Some(10200019)));
}

/// Replies with the byte length of what it receives.
struct Length;

impl WorkerHandler for Length {
    type In = Vec<u8>;
    type Out = usize;

    async fn on_message(&mut self, bytes: Vec<u8>, port: &WorkerPort<usize>) -> HandlerResult {
        port.post_message(bytes.len())?;
        Ok(())
    }
}

/// The serialized cap is a maximum: a copy of exactly `max_serialized_bytes` is sent, one byte
/// more is 10200006, through the `Worker` and through a `WorkerRef` alike.
#[test]
fn a_copy_of_exactly_the_cap_is_sent_and_one_byte_more_is_10200006() {
    let exact = Payload::encode(&vec![7u8; 10], Encoding::Postcard).unwrap();
    let cap = exact.size();
    let worker = Worker::builder()
        .max_serialized_bytes(cap)
        .spawn(|| Length)
        .unwrap();
    worker.post_payload(exact).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(10));
    worker.post_message_serialized(&vec![1u8; 10]).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(10));
    let over = worker.post_message_serialized(&vec![1u8; 11]).unwrap_err();
    assert_eq!(over.code(), Some(10200006));
    let to_worker: WorkerRef<Vec<u8>> = worker.worker_ref();
    to_worker.post_message_serialized(&vec![1u8; 10]).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(10));
    let over = to_worker
        .post_message_serialized(&vec![1u8; 11])
        .unwrap_err();
    assert_eq!(over.code(), Some(10200006));
    // Moved messages have no cap.
    worker.post_message(vec![0; 1000]).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(1000));
}

/// Fails every message it gets.
struct Fails;

impl WorkerHandler for Fails {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, _: &WorkerPort<u64>) -> HandlerResult {
        Err(format!("failed on {n}").into())
    }
}

/// `onexit` is a property: assigning it again replaces the previous handler, which never runs;
/// the last one runs once. `clear_callbacks` (ArkTS `removeAllListener` / `off`) takes
/// `onAllErrors` away too: the next error destroys the worker and is kept for the host.
#[test]
fn on_exit_replaced_runs_only_the_last_and_cleared_error_callbacks_no_longer_keep_the_worker() {
    let worker = Worker::new(|| Fails).unwrap();
    let first = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&first);
    worker.on_exit(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    });
    let (exit_tx, exit_rx) = mpsc::channel();
    worker.on_exit(move |code| exit_tx.send(code).unwrap());
    let (error_tx, error_rx) = mpsc::channel();
    worker.on_all_errors(move |error| error_tx.send(error.to_string()).unwrap());
    worker.post_message(1).unwrap();
    let heard = error_rx.recv_timeout(PATIENCE).unwrap();
    assert!(heard.contains("failed on 1"), "{heard}");
    assert!(worker.is_running(), "onAllErrors keeps the worker alive");
    worker.clear_callbacks();
    worker.post_message(2).unwrap();
    assert_eq!(
        bounded("the exit", {
            let to_worker = worker.worker_ref();
            move || {
                wait_until("the worker ends", || !to_worker.is_running());
                0
            }
        }),
        0
    );
    assert_eq!(worker.wait_for_exit(), 1);
    let kept = worker
        .take_exit_error()
        .expect("no callback took the error");
    assert!(kept.to_string().contains("failed on 2"), "{kept}");
    assert!(
        exit_rx.try_recv().is_err(),
        "cleared: this on_exit never runs"
    );
    assert_eq!(first.load(Ordering::SeqCst), 0, "replaced: never runs");
    assert!(error_rx.try_recv().is_err());
}

fn self_ref_slot() -> &'static Mutex<Option<WorkerRef<u64>>> {
    static SLOT: Mutex<Option<WorkerRef<u64>>> = Mutex::new(None);
    &SLOT
}

/// Terminates its own worker through a `WorkerRef`, then awaits.
struct TerminatesItself;

impl WorkerHandler for TerminatesItself {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        port.post_message(n)?;
        let own = self_ref_slot().lock().unwrap().clone().unwrap();
        own.terminate()?;
        assert!(port.is_terminating());
        assert_eq!(own.terminate().unwrap_err().code(), Some(10200004));
        assert_eq!(port.close().unwrap_err().code(), Some(10200004));
        taskpool::sleep(Duration::from_millis(1)).await;
        unreachable!("a terminated handler is stopped at its next .await");
    }
}

/// A handler that terminates its own worker (through a `WorkerRef`) is stopped at its next
/// `.await`; a second terminate and a close are 10200004; the exit is normal (code 0).
#[test]
fn a_handler_terminating_its_own_worker_stops_at_its_next_await_and_exits_normally() {
    let worker = Worker::new(|| TerminatesItself).unwrap();
    *self_ref_slot().lock().unwrap() = Some(worker.worker_ref());
    worker.post_message(5).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(5));
    assert_eq!(worker.wait_for_exit(), 0);
    assert!(worker.take_exit_error().is_none());
    assert_eq!(worker.terminate().unwrap_err().code(), Some(10200004));
}

/// Builds a child worker in its constructor (ArkTS: a worker file that creates a worker at its
/// top level) and forwards every message through it.
struct Parent {
    child: Worker<u64, u64>,
}

impl WorkerHandler for Parent {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        self.child.post_message(n * 10)?;
        let mut replies = self.child.messages();
        let reply = replies.next().await.ok_or("the child ended")?;
        port.post_message(reply + 1)?;
        Ok(())
    }
}

/// A worker created in another worker's constructor lives on the parent's thread's terms: it
/// answers through the parent, and ends with it (the parent's handler, dropped at its exit,
/// drops the child).
#[test]
fn a_child_worker_created_in_a_constructor_answers_and_ends_with_its_parent() {
    let parent = Worker::builder()
        .name("w5-parent")
        .spawn(|| Parent {
            child: Worker::builder().name("w5-child").spawn(|| Echo).unwrap(),
        })
        .unwrap();
    parent.post_message(4).unwrap();
    assert_eq!(parent.recv_timeout(PATIENCE), Ok(41));
    parent.terminate().unwrap();
    assert_eq!(parent.wait_for_exit(), 0);
    wait_until("the child's threads end", || {
        support::threads_named("w5-child") == 0
    });
}

/// Terminating a worker whose handler is blocked in synchronous code: the terminate returns at
/// once, a second is 10200004, posts are refused, and the exit comes when the code returns.
#[test]
fn terminate_twice_while_a_handler_is_blocked_refuses_the_second_and_exits_normally() {
    const GATE: u64 = 98_500;
    let worker = Worker::new(|| Gated).unwrap();
    worker.post_message(GATE).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(GATE));
    worker.terminate().unwrap();
    assert_eq!(worker.terminate().unwrap_err().code(), Some(10200004));
    assert_eq!(worker.post_message(1).unwrap_err().code(), Some(10200004));
    assert_eq!(
        worker.post_message_serialized(&1).unwrap_err().code(),
        Some(10200004)
    );
    assert_eq!(worker.exit_code(), None, "still in its synchronous code");
    open_gate(GATE);
    assert_eq!(worker.wait_for_exit(), 0);
}

fn made_in_task() -> &'static Mutex<Vec<Worker<u64, u64>>> {
    static MADE: Mutex<Vec<Worker<u64, u64>>> = Mutex::new(Vec::new());
    &MADE
}

#[taskpool::concurrent]
fn make_worker_in_task(n: u64) -> u64 {
    let worker = Worker::builder()
        .name(format!("w5-from-task-{n}"))
        .spawn(|| Echo)
        .unwrap();
    worker.post_message(n).unwrap();
    let echoed = worker.recv_timeout(PATIENCE).unwrap();
    made_in_task().lock().unwrap().push(worker);
    echoed
}

/// A Worker created inside a TaskPool task (ArkTS: a worker created on a TaskPool thread) may
/// outlive the task and its pool: the pool shuts down and is dropped without waiting for the
/// worker, and the worker still answers its host afterwards.
#[test]
fn a_worker_created_in_a_task_outlives_its_pool() {
    let pool = taskpool::TaskPool::builder()
        .max_threads(1)
        .thread_name("w5-maker")
        .build()
        .unwrap();
    let handle = pool.execute(make_worker_in_task::task(3));
    assert_eq!(handle.wait().unwrap(), 3);
    bounded("the pool's shutdown", move || drop(pool));
    let worker = made_in_task().lock().unwrap().pop().unwrap();
    worker.post_message(9).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(9));
    drop(worker);
    wait_until("the worker's threads end", || {
        support::threads_named("w5-from-task") == 0
    });
}

/// Panics on an odd number, fails on an even one.
struct OddPanics;

impl WorkerHandler for OddPanics {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, _: &WorkerPort<u64>) -> HandlerResult {
        assert!(n % 2 == 0, "odd {n}");
        Err(format!("even {n}").into())
    }
}

/// An `onAllErrors` callback that panics itself is contained: every later error still reaches
/// it and the worker stays alive. An `onerror` callback that panics still lets `onexit` run with
/// 1, and the error counts as received (nothing is kept for `take_exit_error`).
#[test]
fn panicking_error_callbacks_are_contained_and_the_routing_holds() {
    let worker = Worker::new(|| OddPanics).unwrap();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&heard);
    worker.on_all_errors(move |error| {
        seen.lock().unwrap().push(error.to_string());
        panic!("the onAllErrors callback panics");
    });
    for n in 1..=4 {
        worker.post_message(n).unwrap();
    }
    wait_until("four errors heard", || heard.lock().unwrap().len() == 4);
    let heard = heard.lock().unwrap().clone();
    for (n, text) in (1..=4).zip(&heard) {
        let expected = if n % 2 == 0 { "even" } else { "odd" };
        assert!(text.contains(&format!("{expected} {n}")), "{text}");
    }
    assert!(worker.is_running());

    let worker = Worker::new(|| OddPanics).unwrap();
    let (error_tx, error_rx) = mpsc::channel();
    worker.on_error(move |error| {
        error_tx.send(error.to_string()).unwrap();
        panic!("the onerror callback panics");
    });
    let (exit_tx, exit_rx) = mpsc::channel();
    worker.on_exit(move |code| exit_tx.send(code).unwrap());
    worker.post_message(1).unwrap();
    assert!(error_rx.recv_timeout(PATIENCE).unwrap().contains("odd 1"));
    assert_eq!(exit_rx.recv_timeout(PATIENCE), Ok(1));
    assert!(worker.take_exit_error().is_none());
    assert_eq!(worker.post_message(2).unwrap_err().code(), Some(10200004));
}

/// Replies `n` times, then asks the host's object for a number, from a spawned task, after
/// the handler returned.
struct CallsLater;

impl WorkerHandler for CallsLater {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        for i in 0..n {
            port.post_message(i)?;
        }
        let port2 = port.clone();
        port.spawn_local(async move {
            taskpool::sleep(Duration::from_millis(1)).await;
            let got: u64 = port2.call_global_object_method("obj", "fine", Duration::ZERO, n)?;
            port2.post_message(got)?;
            Ok(())
        });
        Ok(())
    }
}

/// The host thread serves the worker's messages, its global calls and `onexit` in the order
/// they come: the replies sent before a call reach `onmessage` before the call is served, and
/// `onexit` comes after every message. A task the handler spawned may make the call.
#[test]
fn messages_calls_and_the_exit_reach_the_host_thread_in_order() {
    let worker = Worker::new(|| CallsLater).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&events);
    worker.on_message(move |n| log.lock().unwrap().push(format!("message {n}")));
    let log = Arc::clone(&events);
    worker
        .register_global_call_object(
            "obj",
            CallObject::new(log).method("fine", |log: &mut Arc<Mutex<Vec<String>>>, n: u64| {
                log.lock().unwrap().push(format!("call {n}"));
                n * 100
            }),
        )
        .unwrap();
    let log = Arc::clone(&events);
    worker.on_exit(move |code| log.lock().unwrap().push(format!("exit {code}")));
    worker.post_message(3).unwrap();
    wait_until("the call's reply arrives", || {
        events.lock().unwrap().len() == 5
    });
    worker.terminate().unwrap();
    assert_eq!(worker.wait_for_exit(), 0);
    wait_until("the exit is heard", || events.lock().unwrap().len() == 6);
    assert_eq!(
        *events.lock().unwrap(),
        [
            "message 0",
            "message 1",
            "message 2",
            "call 3",
            "message 300",
            "exit 0"
        ]
    );
}

/// A worker created in a callback on another worker's host thread (ArkTS: a worker created in
/// `onmessage` on the host) works and can be dropped there.
#[test]
fn a_worker_created_and_dropped_in_another_worker_s_callback_works() {
    let outer = Worker::new(|| Echo).unwrap();
    let (tx, rx) = mpsc::channel();
    outer.on_message(move |n| {
        let inner = Worker::new(|| Echo).unwrap();
        inner.post_message(n * 2).unwrap();
        let answer = inner.recv_timeout(PATIENCE);
        drop(inner);
        tx.send(answer).unwrap();
    });
    outer.post_message(21).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), Ok(42));
}

/// Panics on every message (with a backtrace if the environment asks for one).
struct AlwaysPanics;

impl WorkerHandler for AlwaysPanics {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        port.post_message(n)?;
        panic!("panics on {n}");
    }
}

/// Host code in a callback of a worker built with the smallest stack: 256 KiB of locals.
fn host_callback_on_a_small_worker_stack() {
    let worker = Worker::builder()
        .stack_size(taskpool::MIN_STACK_SIZE)
        .spawn(|| Echo)
        .unwrap();
    let (tx, rx) = mpsc::channel();
    worker.on_message(move |n| {
        let buffer = std::hint::black_box([n as u8; 256 * 1024]);
        tx.send(buffer.iter().map(|&b| u64::from(b)).sum::<u64>())
            .unwrap();
    });
    worker.post_message(1).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE), Ok(256 * 1024));
}

/// Regression: the host thread that runs a worker's callbacks took the worker's own stack
/// size, so a small worker stack made ordinary host code overflow it and abort the process.
#[test]
fn a_small_worker_stack_leaves_the_host_callbacks_a_full_stack() {
    support::in_child_process(
        "a_small_worker_stack_leaves_the_host_callbacks_a_full_stack",
        host_callback_on_a_small_worker_stack,
    );
}

/// The smallest stack `stack_size` accepts (`MIN_STACK_SIZE`) runs a worker whose handler
/// panics and whose host thread serves callbacks: an accepted option must not overflow the
/// stack of the runtime's own code on either thread.
#[test]
fn a_worker_with_the_smallest_accepted_stack_handles_messages_and_panics() {
    let worker = Worker::builder()
        .stack_size(taskpool::MIN_STACK_SIZE)
        .spawn(|| AlwaysPanics)
        .unwrap();
    let (tx, rx) = mpsc::channel();
    worker.on_all_errors(move |error| tx.send(error.to_string()).unwrap());
    let (msg_tx, msg_rx) = mpsc::channel();
    worker.on_message(move |n| msg_tx.send(n).unwrap());
    for n in 0..3 {
        worker.post_message(n).unwrap();
        assert_eq!(msg_rx.recv_timeout(PATIENCE), Ok(n));
        assert!(
            rx.recv_timeout(PATIENCE)
                .unwrap()
                .contains(&format!("panics on {n}"))
        );
    }
    worker
        .post_payload(Payload::encode(&"not a number", Encoding::Json).unwrap())
        .unwrap();
    wait_until("the undecodable message is counted", || {
        worker.message_errors() == 1
    });
    worker.terminate().unwrap();
    assert_eq!(worker.wait_for_exit(), 0);
}

/// Does what each message says: 0 reply, 1 await a timer then reply, 2 close, 3 fail, 4 panic,
/// 5 call the host's object, 6 spawn a task that replies later, 7 spawn a task that fails.
struct Chaotic;

impl WorkerHandler for Chaotic {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        match n % 8 {
            0 => port.post_message(n)?,
            1 => {
                taskpool::sleep(Duration::from_micros(n % 300)).await;
                port.post_message(n)?;
            }
            2 => port.close()?,
            3 => return Err(format!("fails on {n}").into()),
            4 => panic!("stress panic on {n}"),
            5 => {
                let got: u64 =
                    port.call_global_object_method("obj", "id", Duration::from_secs(1), n)?;
                port.post_message(got)?;
            }
            6 => {
                let port2 = port.clone();
                port.spawn_local(async move {
                    taskpool::sleep(Duration::from_micros(n % 200)).await;
                    port2.post_message(n)?;
                    Ok(())
                });
            }
            _ => port.spawn_local(async move { Err(format!("spawned fails on {n}").into()) }),
        }
        Ok(())
    }
}

/// Seeded walks: host threads post, register and clear callbacks and objects, terminate and
/// drop a worker that replies, awaits, closes, fails, panics, calls its host and spawns tasks,
/// all at once. Whatever the interleaving: every call answers Ok or 10200004, nothing hangs or
/// panics the host, `on_exit` runs at most once with 0 or 1, the exit code is 0 or 1, a receive
/// after the end stays ended, and the worker's threads end.
#[test]
fn seeded_walks_over_the_worker_api_keep_its_promises() {
    support::walk::install_quiet_panics();
    for seed in support::walk::seeds(1..=24) {
        bounded(&format!("walk {seed}"), move || walk(seed));
    }
}

fn walk(seed: u64) {
    let mut rng = support::walk::Rng::for_seed(seed);
    let name = format!("w5-walk-{seed}");
    let builder = Worker::builder().name(name.clone());
    let builder = if rng.chance(30) {
        builder.join_timeout(Duration::from_millis(rng.below(20)))
    } else {
        builder
    };
    let worker = Arc::new(RwLock::new(Some(builder.spawn(|| Chaotic).unwrap())));
    let exits = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..3)
        .map(|t| {
            let worker = Arc::clone(&worker);
            let exits = Arc::clone(&exits);
            let mut rng = support::walk::Rng::for_seed(seed * 31 + t);
            std::thread::spawn(move || {
                for _ in 0..40 {
                    let guard = worker.read().unwrap();
                    let Some(w) = guard.as_ref() else { return };
                    let check = |result: taskpool::Result<()>| {
                        if let Err(error) = result {
                            assert_eq!(error.code(), Some(10200004), "seed {seed}: {error}");
                        }
                    };
                    match rng.below(14) {
                        0..=4 => check(w.post_message(rng.below(64))),
                        5 => check(w.post_message_serialized(&rng.below(64))),
                        6 => {
                            let exits = Arc::clone(&exits);
                            w.on_exit(move |code| {
                                assert!(code == 0 || code == 1, "exit code {code}");
                                exits.fetch_add(1, Ordering::SeqCst);
                            });
                        }
                        7 => w.on_all_errors(|_| {}),
                        8 => w.on_error(|_| {}),
                        9 => w.on_message(|_| {}),
                        10 => w.clear_callbacks(),
                        11 => check(w.register_global_call_object(
                            "obj",
                            CallObject::new(()).method("id", |(): &mut (), n: u64| n),
                        )),
                        12 => check(w.unregister_global_call_object(None)),
                        _ => {
                            if rng.chance(30) {
                                check(w.terminate());
                            } else if rng.chance(5) {
                                drop(guard);
                                drop(worker.write().unwrap().take());
                                return;
                            }
                        }
                    }
                    drop(guard);
                    let _ = w_recv(&worker, &mut rng);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let last = worker.write().unwrap().take();
    if let Some(w) = last {
        let _ = w.terminate();
        let code = w.wait_for_exit();
        assert!(code == 0 || code == 1, "seed {seed}: exit code {code}");
        // Messages still on their way through the host thread (to an `on_message` cleared
        // since) reach the receivers before the end; after it, nothing.
        while w.recv().is_some() {}
        assert!(w.recv().is_none(), "seed {seed}: a message after the end");
        assert_eq!(
            w.recv_timeout(Duration::ZERO),
            Err(taskpool::RecvTimeoutError::Exited)
        );
    }
    wait_until("the walk's threads end", || {
        support::threads_named(&name) == 0
    });
    // One exit, one `on_exit`, however many were registered (before the fix, registrations
    // racing the exit's job each queued a job that ran whichever callback was there).
    assert!(exits.load(Ordering::SeqCst) <= 1, "seed {seed}");
}

/// Takes a message now and then (without waiting).
fn w_recv(worker: &RwLock<Option<Worker<u64, u64>>>, rng: &mut support::walk::Rng) -> Option<u64> {
    if !rng.chance(20) {
        return None;
    }
    let guard = worker.read().unwrap();
    guard.as_ref()?.recv_timeout(Duration::ZERO).ok()
}

/// Counts its drops.
struct CountDrops(Arc<AtomicUsize>);

impl Drop for CountDrops {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A listener replaced during its own dispatch (ArkTS: `onmessage` assigned again inside
/// `onmessage`): the dispatch in progress ends normally, the replaced listener is dropped once
/// and never called again, and every later message reaches the new one, in order.
#[test]
fn a_callback_replacing_itself_during_its_dispatch_hands_every_later_message_to_the_new_one() {
    let worker = Arc::new(Worker::new(|| Echo).unwrap());
    let old_calls = Arc::new(AtomicUsize::new(0));
    let old_drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    let (calls, guard, me) = (
        Arc::clone(&old_calls),
        CountDrops(Arc::clone(&old_drops)),
        Arc::downgrade(&worker),
    );
    worker.on_message(move |n| {
        let _ = &guard;
        calls.fetch_add(1, Ordering::SeqCst);
        let tx = tx.clone();
        if let Some(worker) = me.upgrade() {
            worker.on_message(move |n| tx.send(n).unwrap());
        }
        let _ = n;
    });
    for n in 0..5 {
        worker.post_message(n).unwrap();
    }
    let later: Vec<u64> = (0..4).map(|_| rx.recv_timeout(PATIENCE).unwrap()).collect();
    assert_eq!(later, [1, 2, 3, 4]);
    assert_eq!(old_calls.load(Ordering::SeqCst), 1);
    assert_eq!(old_drops.load(Ordering::SeqCst), 1);
    worker.terminate().unwrap();
    assert_eq!(worker.wait_for_exit(), 0);
}

/// Names the ArkTS `WorkerOptions.name` may take that a Rust thread name handles unusually: the
/// empty string, a long one, multi-byte characters across Linux's 15-byte thread-name limit.
/// Each is the worker's name as given, on the host side and in the port.
#[test]
fn unusual_worker_names_are_kept_as_given() {
    struct Name;

    impl WorkerHandler for Name {
        type In = ();
        type Out = String;

        async fn on_message(&mut self, (): (), port: &WorkerPort<String>) -> HandlerResult {
            let thread = std::thread::current().name().unwrap_or("").to_owned();
            port.post_message(format!("{}|{thread}", port.name()))?;
            Ok(())
        }
    }

    let long = "n".repeat(300);
    let wide = "é".repeat(20);
    for name in ["", long.as_str(), wide.as_str(), "a b/c:d"] {
        let worker = Worker::builder().name(name).spawn(|| Name).unwrap();
        assert_eq!(worker.name(), name);
        assert_eq!(worker.worker_ref().name(), name);
        worker.on_exit(|_| {});
        worker.post_message(()).unwrap();
        assert_eq!(
            worker.recv_timeout(PATIENCE),
            Ok(format!("{name}|{name}")),
            "{name:?}"
        );
    }
    let (a, b) = (Worker::new(|| Name).unwrap(), Worker::new(|| Name).unwrap());
    assert_ne!(a.name(), b.name(), "default names are distinct");
    assert!(a.name().starts_with("worker-"), "{}", a.name());
}

/// Occupies the host thread with a message (its callback blocks), then calls `obj.count` with a
/// short timeout; reports each call's outcome through a channel of its own.
struct CountsCalls {
    outcomes: mpsc::Sender<Result<u64, Option<u32>>>,
}

impl WorkerHandler for CountsCalls {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        let timeout = if n == 0 {
            port.post_message(0)?; // the host's callback blocks on it
            Duration::from_millis(20)
        } else {
            Duration::ZERO
        };
        let outcome = port
            .call_global_object_method::<(), u64>("obj", "count", timeout, ())
            .map_err(|error| error.code());
        self.outcomes.send(outcome)?;
        Ok(())
    }
}

/// callGlobalCallObjectMethod's `timeout` is the "maximum waiting time from the time when the
/// Worker thread initiates the call to the time when the target method is executed in the main
/// thread": a call the host thread reaches only after its caller gave up (10200021) is not
/// executed then — the method runs for the calls that were still waited for, only.
#[test]
fn a_global_call_its_caller_gave_up_on_is_never_executed_later() {
    const GATE: u64 = 98_501;
    let (tx, outcomes) = mpsc::channel();
    let worker = Worker::new(move || CountsCalls { outcomes: tx }).unwrap();
    worker.on_message(|_| pass_gate(GATE));
    worker
        .register_global_call_object(
            "obj",
            CallObject::new(0u64).method("count", |count: &mut u64, (): ()| {
                *count += 1;
                *count
            }),
        )
        .unwrap();
    worker.post_message(0).unwrap();
    assert_eq!(outcomes.recv_timeout(PATIENCE), Ok(Err(Some(10200021))));
    open_gate(GATE);
    worker.post_message(1).unwrap();
    assert_eq!(
        outcomes.recv_timeout(PATIENCE),
        Ok(Ok(1)),
        "the late call never ran"
    );
}

/// Echoes with a serialized copy on odd numbers, moved on even ones.
struct MixedEcho;

impl WorkerHandler for MixedEcho {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        if n % 2 == 1 {
            port.post_message_serialized(&n)?;
        } else {
            port.post_message(n)?;
        }
        Ok(())
    }
}

/// Moved messages, serialized copies, ready-made payloads and one that does not decode keep
/// their order both ways: the host hears `onmessageerror` for the bad one between the replies to
/// the messages around it, as the worker met it.
#[test]
fn every_kind_of_message_keeps_its_place_and_a_bad_one_is_reported_in_sequence() {
    let worker = Worker::new(|| MixedEcho).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&events);
    worker.on_message(move |n| log.lock().unwrap().push(format!("m{n}")));
    let log = Arc::clone(&events);
    worker.on_message_error(move |_| log.lock().unwrap().push("error".to_owned()));
    worker.post_message(0).unwrap();
    worker.post_message_serialized(&1).unwrap();
    worker
        .post_payload(Payload::encode(&"two", Encoding::Json).unwrap())
        .unwrap();
    worker
        .post_payload(Payload::encode(&3u64, Encoding::Postcard).unwrap())
        .unwrap();
    worker
        .post_payload(Payload::encode(&4u64, Encoding::Json).unwrap())
        .unwrap();
    worker.post_message(5).unwrap();
    wait_until("every event", || events.lock().unwrap().len() == 6);
    assert_eq!(
        *events.lock().unwrap(),
        ["m0", "m1", "error", "m3", "m4", "m5"]
    );
    assert_eq!(worker.message_errors(), 1);
}

/// `onexit` is "called when the Worker thread exits": one exit, one call. Registered after the
/// end, `on_exit` runs at once — but only one `on_exit` ever runs (its documentation: "It runs
/// at most once"). Two registrations after the end queued two exit events on the host thread;
/// a third callback, registered while the first ran, was then run by the second event: three
/// registrations, two calls for one exit.
#[test]
fn on_exit_runs_once_per_worker_however_many_are_registered_after_the_end() {
    const HOLD_ERROR: u64 = 98_502;
    const IN_ERROR: u64 = 98_503;
    const HOLD_EXIT: u64 = 98_504;
    const IN_EXIT: u64 = 98_505;
    let worker = Worker::new(|| Fails).unwrap();
    worker.post_message(1).unwrap();
    assert_eq!(worker.wait_for_exit(), 1);
    // Registered after the failure, `on_error` receives the kept error on the host thread,
    // which it holds meanwhile.
    worker.on_error(|_| {
        open_gate(IN_ERROR);
        pass_gate(HOLD_ERROR);
    });
    pass_gate(IN_ERROR);
    let runs = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&runs);
    worker.on_exit(move |code| log.lock().unwrap().push(format!("a{code}")));
    let log = Arc::clone(&runs);
    worker.on_exit(move |code| {
        log.lock().unwrap().push(format!("b{code}"));
        open_gate(IN_EXIT);
        pass_gate(HOLD_EXIT);
    });
    open_gate(HOLD_ERROR);
    pass_gate(IN_EXIT);
    // `b` runs (it replaced `a`); registered now, `c` must never run.
    let log = Arc::clone(&runs);
    worker.on_exit(move |code| log.lock().unwrap().push(format!("c{code}")));
    open_gate(HOLD_EXIT);
    drop(worker); // the host thread does every queued job before it leaves
    assert_eq!(*runs.lock().unwrap(), ["b1"]);
}
