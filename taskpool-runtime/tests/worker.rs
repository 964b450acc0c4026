//! Workers: the host API, the worker API, every error code, panics in both error modes,
//! terminate while a message is handled, close from inside, drop semantics, non-`Send` state,
//! and global call objects.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use support::{PATIENCE, Signal, open_gate, pass_gate, threads_named, wait_until};
use taskpool::{
    CallObject, Encoding, Error, HandlerResult, Payload, RecvTimeoutError, Shared, Worker,
    WorkerHandler, WorkerPort, sendable,
};

/// What the test host asks the scripted worker to do.
#[derive(Debug, Serialize, Deserialize)]
enum Cmd {
    Echo(u64),
    Fail(String),
    Panic(String),
    Close,
    /// Replies `Entered`, then blocks the thread until the gate opens.
    BlockOnGate(u64),
    /// Replies `Entered`, then awaits forever holding a guard that records its drop.
    AwaitForever,
    SpawnFail,
    SpawnPanic,
    Call {
        object: String,
        method: String,
        timeout_ms: u64,
        arg: String,
    },
    /// Posts a payload the host cannot decode as a `Reply`.
    PostUndecodable,
    /// Posts a serialized string of this length; replies with the error code if refused.
    PostSerialized(usize),
    ThreadName,
    /// Replies with how many undecodable messages the handler's hook saw.
    MessageErrorsSeen,
    /// Replies `Echo(0)` … `Echo(count - 1)` at once, then opens the gate.
    Burst {
        count: u64,
        gate: u64,
    },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Reply {
    Echo(u64),
    Entered,
    Called(Result<String, Option<u32>>),
    Code(Option<u32>),
    Name(String),
    Text(String),
    Count(usize),
}

static ASYNC_GUARD_DROPPED: AtomicBool = AtomicBool::new(false);
static SAW_TERMINATING: AtomicBool = AtomicBool::new(false);

struct DropFlag(&'static AtomicBool);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct Script {
    message_errors: usize,
}

impl WorkerHandler for Script {
    type In = Cmd;
    type Out = Reply;

    async fn on_message(&mut self, cmd: Cmd, port: &WorkerPort<Reply>) -> HandlerResult {
        match cmd {
            Cmd::Echo(n) => port.post_message(Reply::Echo(n))?,
            Cmd::Fail(reason) => return Err(reason.into()),
            Cmd::Panic(message) => panic!("{message}"),
            Cmd::Close => {
                port.close()?;
                assert!(port.is_closing());
                // A closing worker still finishes this message.
                port.post_message(Reply::Text("closing".into()))?;
            }
            Cmd::BlockOnGate(gate) => {
                port.post_message(Reply::Entered)?;
                pass_gate(gate);
                SAW_TERMINATING.store(port.is_terminating(), Ordering::SeqCst);
                // The host terminated meanwhile: replies are refused.
                if let Err(error) = port.post_message(Reply::Text("after gate".into())) {
                    assert_eq!(error.code(), Some(10200004));
                }
            }
            Cmd::AwaitForever => {
                let _guard = DropFlag(&ASYNC_GUARD_DROPPED);
                port.post_message(Reply::Entered)?;
                std::future::pending::<()>().await;
            }
            Cmd::SpawnFail => port.spawn_local(async { Err("spawned task failed".into()) }),
            Cmd::SpawnPanic => port.spawn_local(async { panic!("spawned task panicked") }),
            Cmd::Call {
                object,
                method,
                timeout_ms,
                arg,
            } => {
                let result: Result<String, Error> = port.call_global_object_method(
                    &object,
                    &method,
                    Duration::from_millis(timeout_ms),
                    arg,
                );
                port.post_message(Reply::Called(result.map_err(|e| e.code())))?;
            }
            Cmd::PostUndecodable => {
                port.post_payload(Payload::encode(&"not a reply", Encoding::Json)?)?
            }
            Cmd::PostSerialized(len) => {
                let refused = port
                    .post_message_serialized(&Reply::Text("x".repeat(len)))
                    .err()
                    .map(|e| e.code());
                if let Some(code) = refused {
                    port.post_message(Reply::Code(code))?;
                }
            }
            Cmd::ThreadName => port.post_message(Reply::Name(thread_name()))?,
            Cmd::MessageErrorsSeen => port.post_message(Reply::Count(self.message_errors))?,
            Cmd::Burst { count, gate } => {
                for n in 0..count {
                    port.post_message(Reply::Echo(n))?;
                }
                open_gate(gate);
            }
        }
        Ok(())
    }

    fn on_message_error(&mut self, error: Error, _port: &WorkerPort<Reply>) -> HandlerResult {
        assert_eq!(error.code(), Some(10200006));
        self.message_errors += 1;
        Ok(())
    }
}

fn thread_name() -> String {
    std::thread::current().name().unwrap_or("").to_owned()
}

fn script(name: &str) -> Worker<Cmd, Reply> {
    Worker::builder().name(name).spawn(Script::default).unwrap()
}

fn recv(worker: &Worker<Cmd, Reply>) -> Reply {
    worker
        .recv_timeout(PATIENCE)
        .expect("the worker replies in time")
}

/// Collects what the host's callbacks see.
#[derive(Default, Clone)]
struct Seen {
    errors: Arc<Mutex<Vec<Error>>>,
    exits: Arc<Mutex<Vec<i32>>>,
    threads: Arc<Mutex<Vec<String>>>,
}

impl Seen {
    fn watch(&self, worker: &Worker<Cmd, Reply>, all_errors: bool) {
        let (errors, threads) = (self.errors.clone(), self.threads.clone());
        let on_error = move |error: Error| {
            threads.lock().unwrap().push(thread_name());
            errors.lock().unwrap().push(error);
        };
        if all_errors {
            worker.on_all_errors(on_error);
        } else {
            worker.on_error(on_error);
        }
        let exits = self.exits.clone();
        worker.on_exit(move |code| exits.lock().unwrap().push(code));
    }

    fn wait_errors(&self, count: usize) {
        wait_until("the errors are reported", || {
            self.errors.lock().unwrap().len() >= count
        });
    }

    fn wait_exit(&self) -> i32 {
        wait_until("on_exit runs", || !self.exits.lock().unwrap().is_empty());
        self.exits.lock().unwrap()[0]
    }
}

// ---- messages ---------------------------------------------------------------------------

#[test]
fn messages_round_trip_in_order() {
    let worker = script("w-order");
    for n in 0..100 {
        worker.post_message(Cmd::Echo(n)).unwrap();
    }
    for n in 0..100 {
        assert_eq!(recv(&worker), Reply::Echo(n));
    }
}

/// Echoes a buffer back; both moves keep the allocation.
struct Bounce;

impl WorkerHandler for Bounce {
    type In = Vec<u8>;
    type Out = (usize, Vec<u8>);

    async fn on_message(
        &mut self,
        bytes: Vec<u8>,
        port: &WorkerPort<(usize, Vec<u8>)>,
    ) -> HandlerResult {
        port.post_message((bytes.as_ptr() as usize, bytes))?;
        Ok(())
    }
}

#[test]
fn posted_messages_are_moved_not_copied() {
    let worker = Worker::new(|| Bounce).unwrap();
    let bytes = vec![7u8; 1 << 20];
    let address = bytes.as_ptr() as usize;
    worker.post_message(bytes).unwrap();
    let (seen_by_worker, back) = worker.recv().unwrap();
    assert_eq!(
        seen_by_worker, address,
        "the worker got the very allocation"
    );
    assert_eq!(back.as_ptr() as usize, address, "and gave it back");
}

#[test]
fn serialized_messages_are_copies_within_the_cap() {
    let worker = Worker::builder()
        .max_serialized_bytes(256)
        .spawn(|| Bounce)
        .unwrap();
    let bytes = vec![1u8; 100];
    worker.post_message_serialized(&bytes).unwrap();
    let (address, back) = worker.recv().unwrap();
    assert_eq!(back, bytes);
    assert_ne!(
        address,
        bytes.as_ptr() as usize,
        "a serialized message is a copy"
    );

    let error = worker.post_message_serialized(&vec![1u8; 300]).unwrap_err();
    assert_eq!(error.code(), Some(10200006));
    let error = worker
        .post_payload(Payload::encode(&vec![1u8; 300], Encoding::Postcard).unwrap())
        .unwrap_err();
    assert_eq!(error.code(), Some(10200006));
    // Moving is not serializing: no cap.
    worker.post_message(vec![1u8; 300]).unwrap();
    assert_eq!(worker.recv().unwrap().1.len(), 300);
}

#[test]
fn the_worker_side_cap_gives_10200006_too() {
    let worker = Worker::builder()
        .max_serialized_bytes(64)
        .spawn(Script::default)
        .unwrap();
    worker.post_message(Cmd::PostSerialized(10)).unwrap();
    assert_eq!(recv(&worker), Reply::Text("x".repeat(10)));
    worker.post_message(Cmd::PostSerialized(100)).unwrap();
    assert_eq!(recv(&worker), Reply::Code(Some(10200006)));
}

/// A counter shared by reference.
#[sendable]
pub struct Counter {
    /// How many times a worker touched it.
    pub hits: AtomicU32,
}

struct Touch;

impl WorkerHandler for Touch {
    type In = Shared<Counter>;
    type Out = Shared<Counter>;

    async fn on_message(
        &mut self,
        counter: Shared<Counter>,
        port: &WorkerPort<Shared<Counter>>,
    ) -> HandlerResult {
        counter.hits.fetch_add(1, Ordering::SeqCst);
        port.post_message(counter)?;
        Ok(())
    }
}

#[test]
fn shared_messages_are_shared_by_reference() {
    let worker = Worker::new(|| Touch).unwrap();
    let counter = Shared::new(Counter {
        hits: AtomicU32::new(0),
    });
    worker.post_message(counter.clone()).unwrap();
    let back = worker.recv().unwrap();
    assert!(Shared::ptr_eq(&back, &counter));
    assert_eq!(counter.hits.load(Ordering::SeqCst), 1);
}

#[test]
fn undecodable_messages_reach_on_message_error_both_ways() {
    let worker = script("w-msgerr");
    let errors = Arc::new(AtomicUsize::new(0));
    let counted = errors.clone();
    worker.on_message_error(move |error| {
        assert_eq!(error.code(), Some(10200006));
        counted.fetch_add(1, Ordering::SeqCst);
    });
    // Host → worker: JSON text is not a `Cmd`.
    worker
        .post_payload(Payload::encode(&"not a command", Encoding::Json).unwrap())
        .unwrap();
    // Worker → host: the worker posts something that is not a `Reply`.
    worker.post_message(Cmd::PostUndecodable).unwrap();
    worker.post_message(Cmd::MessageErrorsSeen).unwrap();
    assert_eq!(
        recv(&worker),
        Reply::Count(1),
        "the handler's hook ran once"
    );
    wait_until("both errors reach the host", || {
        errors.load(Ordering::SeqCst) == 2
    });
    assert_eq!(worker.message_errors(), 2);
    // A serialized message that decodes is handled like any other.
    worker.post_message_serialized(&Cmd::Echo(5)).unwrap();
    assert_eq!(recv(&worker), Reply::Echo(5));
}

// ---- receiving ----------------------------------------------------------------------------

#[test]
fn recv_timeout_times_out_then_receives() {
    let worker = script("w-timeout");
    assert_eq!(
        worker.recv_timeout(Duration::from_millis(5)),
        Err(RecvTimeoutError::Timeout)
    );
    worker.post_message(Cmd::Echo(1)).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(Reply::Echo(1)));
    worker.terminate().unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Err(RecvTimeoutError::Exited));
}

#[test]
fn the_stream_yields_every_message_and_ends_with_the_worker() {
    let worker = script("w-stream");
    for n in 0..10 {
        worker.post_message(Cmd::Echo(n)).unwrap();
    }
    worker.post_message(Cmd::Close).unwrap();
    let all: Vec<Reply> = futures::executor::block_on(worker.messages().collect());
    let mut expected: Vec<Reply> = (0..10).map(Reply::Echo).collect();
    expected.push(Reply::Text("closing".into()));
    assert_eq!(all, expected);
}

#[test]
fn a_stream_waiting_on_another_thread_is_woken() {
    let worker = script("w-stream2");
    let mut messages = worker.messages();
    let (first_seen, first) = mpsc::channel();
    let waiting = std::thread::spawn(move || {
        first_seen
            .send(futures::executor::block_on(messages.next()))
            .unwrap();
        futures::executor::block_on(messages.next())
    });
    worker.post_message(Cmd::Echo(9)).unwrap();
    assert_eq!(first.recv_timeout(PATIENCE).unwrap(), Some(Reply::Echo(9)));
    drop(worker); // the stream outlives the worker and ends with it
    assert_eq!(waiting.join().unwrap(), None);
}

#[test]
fn a_pending_recv_resolves_when_the_worker_is_terminated() {
    let worker = script("w-pending");
    std::thread::scope(|scope| {
        let waiting = scope.spawn(|| worker.recv());
        let also_waiting = scope.spawn(|| worker.recv());
        // Let them block (not required for correctness: the end is sticky).
        std::thread::sleep(Duration::from_millis(10));
        worker.terminate().unwrap();
        assert_eq!(waiting.join().unwrap(), None);
        assert_eq!(also_waiting.join().unwrap(), None);
    });
    assert_eq!(worker.recv(), None, "and every later receive too");
}

// ---- callbacks ----------------------------------------------------------------------------

#[test]
fn callbacks_run_in_order_on_the_host_thread() {
    let worker = script("w-cb");
    let (sender, replies) = mpsc::channel();
    worker.on_message(move |reply| sender.send((thread_name(), reply)).unwrap());
    for n in 0..20 {
        worker.post_message(Cmd::Echo(n)).unwrap();
    }
    for n in 0..20 {
        let (thread, reply) = replies.recv_timeout(PATIENCE).unwrap();
        assert_eq!(thread, "w-cb-host", "never on the worker thread");
        assert_eq!(reply, Reply::Echo(n));
    }
    assert_eq!(
        worker.recv_timeout(Duration::from_millis(5)),
        Err(RecvTimeoutError::Timeout),
        "messages taken by the callback do not reach recv"
    );
    worker.clear_callbacks();
    worker.post_message(Cmd::Echo(99)).unwrap();
    assert_eq!(
        recv(&worker),
        Reply::Echo(99),
        "cleared: recv gets them again"
    );
}

#[test]
fn clearing_the_callbacks_inside_a_callback_hands_queued_messages_to_the_receivers() {
    // ArkTS `off` inside a listener: the listener is gone for every later message, those
    // already on their way to the host thread included (they go to `recv` again).
    const ALL_SENT: u64 = 9_006;
    static CALLBACK_DROPPED: AtomicBool = AtomicBool::new(false);
    let worker = Arc::new(script("w-clear-inside"));
    let control = Arc::downgrade(&worker);
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let dropped = DropFlag(&CALLBACK_DROPPED);
    worker.on_message(move |_reply| {
        let _keep = &dropped;
        counted.fetch_add(1, Ordering::SeqCst);
        // Every reply of the burst is routed to this callback before it clears.
        pass_gate(ALL_SENT);
        if let Some(worker) = control.upgrade() {
            worker.clear_callbacks();
        }
    });
    worker
        .post_message(Cmd::Burst {
            count: 5,
            gate: ALL_SENT,
        })
        .unwrap();
    for n in 1..5 {
        assert_eq!(recv(&worker), Reply::Echo(n), "queued replies reach recv");
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the cleared callback ran once"
    );
    wait_until("the cleared callback is dropped", || {
        CALLBACK_DROPPED.load(Ordering::SeqCst)
    });
}

#[test]
fn a_callback_can_terminate_its_worker_through_a_worker_ref() {
    let worker = script("w-ref");
    let control = worker.worker_ref();
    let got = Arc::new(Mutex::new(None));
    let seen = got.clone();
    worker.on_message(move |reply| {
        *seen.lock().unwrap() = Some(reply);
        control.terminate().unwrap();
    });
    let exit = Arc::new(AtomicUsize::new(usize::MAX));
    let exit_seen = exit.clone();
    worker.on_exit(move |code| exit_seen.store(code as usize, Ordering::SeqCst));
    worker.worker_ref().post_message(Cmd::Echo(3)).unwrap();
    assert_eq!(worker.wait_for_exit(), 0);
    wait_until("on_exit ran", || exit.load(Ordering::SeqCst) == 0);
    assert_eq!(*got.lock().unwrap(), Some(Reply::Echo(3)));
    let control = worker.worker_ref();
    assert!(!control.is_running());
    assert_eq!(
        control.post_message(Cmd::Echo(1)).unwrap_err().code(),
        Some(10200004)
    );
    drop(worker);
    assert_eq!(control.terminate().unwrap_err().code(), Some(10200004));
}

#[test]
fn on_exit_registered_after_the_end_still_runs_once() {
    let worker = script("w-late-exit");
    worker.terminate().unwrap();
    assert_eq!(worker.wait_for_exit(), 0);
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    worker.on_exit(move |code| {
        assert_eq!(code, 0);
        counted.fetch_add(1, Ordering::SeqCst);
    });
    wait_until("on_exit runs", || calls.load(Ordering::SeqCst) == 1);
    let counted = calls.clone();
    worker.on_exit(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    drop(worker); // joins the host thread: everything queued ran
    assert_eq!(calls.load(Ordering::SeqCst), 1, "at most once");
}

// ---- errors -------------------------------------------------------------------------------

#[test]
fn an_error_destroys_the_worker_through_on_error() {
    let worker = script("w-onerror");
    let seen = Seen::default();
    seen.watch(&worker, false);
    worker.post_message(Cmd::Fail("bad input".into())).unwrap();
    // Never handled: accepted if the worker has not failed yet, refused (10200004) if it has.
    if let Err(refused) = worker.post_message(Cmd::Echo(1)) {
        assert_eq!(refused.code(), Some(10200004), "{refused}");
    }
    assert_eq!(seen.wait_exit(), 1);
    assert_eq!(worker.wait_for_exit(), 1);
    let errors = seen.errors.lock().unwrap();
    assert_eq!(errors.len(), 1);
    assert!(matches!(&errors[0], Error::WorkerFailed { worker, .. } if worker == "w-onerror"));
    assert!(errors[0].to_string().contains("bad input"));
    assert_eq!(errors[0].code(), None);
    assert_eq!(seen.threads.lock().unwrap()[0], "w-onerror-host");
    assert_eq!(worker.recv(), None);
    assert_eq!(
        worker.post_message(Cmd::Echo(2)).unwrap_err().code(),
        Some(10200004)
    );
}

#[test]
fn a_panic_destroys_the_worker_through_on_error() {
    let worker = script("w-panic");
    let seen = Seen::default();
    seen.watch(&worker, false);
    worker.post_message(Cmd::Panic("boom".into())).unwrap();
    assert_eq!(seen.wait_exit(), 1);
    let errors = seen.errors.lock().unwrap();
    assert!(
        matches!(&errors[0], Error::WorkerPanicked { message, .. } if message == "boom"),
        "{:?}",
        errors[0]
    );
}

#[test]
fn without_callbacks_the_error_is_kept_for_the_host() {
    let worker = script("w-kept");
    worker.post_message(Cmd::Panic("unseen".into())).unwrap();
    assert_eq!(worker.wait_for_exit(), 1);
    let error = worker.take_exit_error().expect("the error is kept");
    assert!(error.to_string().contains("unseen"));
    assert!(worker.take_exit_error().is_none());
}

#[test]
fn on_all_errors_keeps_the_worker_alive() {
    let worker = script("w-all");
    let seen = Seen::default();
    seen.watch(&worker, true);
    worker.post_message(Cmd::Fail("one".into())).unwrap();
    worker.post_message(Cmd::Panic("two".into())).unwrap();
    worker.post_message(Cmd::SpawnFail).unwrap();
    worker.post_message(Cmd::SpawnPanic).unwrap();
    seen.wait_errors(4);
    worker.post_message(Cmd::Echo(5)).unwrap();
    assert_eq!(recv(&worker), Reply::Echo(5), "still alive");
    assert!(worker.is_running());
    let messages: Vec<String> = seen
        .errors
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.to_string())
        .collect();
    for expected in ["one", "two", "spawned task failed", "spawned task panicked"] {
        assert!(
            messages.iter().any(|m| m.contains(expected)),
            "{expected} in {messages:?}"
        );
    }
    worker.terminate().unwrap();
    assert_eq!(seen.wait_exit(), 0);
}

#[test]
fn a_failing_spawned_task_destroys_the_worker_without_on_all_errors() {
    let worker = script("w-spawnfail");
    let seen = Seen::default();
    seen.watch(&worker, false);
    worker.post_message(Cmd::SpawnPanic).unwrap();
    assert_eq!(seen.wait_exit(), 1);
    assert!(
        seen.errors.lock().unwrap()[0]
            .to_string()
            .contains("spawned task panicked")
    );
}

struct NeverBuilt;

impl WorkerHandler for NeverBuilt {
    type In = ();
    type Out = ();

    async fn on_message(&mut self, (): (), _port: &WorkerPort<()>) -> HandlerResult {
        Ok(())
    }
}

#[test]
fn a_constructor_panic_ends_the_worker_with_code_1() {
    let worker = Worker::new(|| -> NeverBuilt { panic!("no config") }).unwrap();
    assert_eq!(worker.wait_for_exit(), 1);
    assert!(
        worker
            .take_exit_error()
            .unwrap()
            .to_string()
            .contains("no config")
    );
    assert_eq!(worker.post_message(()).unwrap_err().code(), Some(10200004));
}

// ---- ending -------------------------------------------------------------------------------

#[test]
fn terminate_gives_exit_code_0_and_then_10200004() {
    let worker = script("w-term");
    let seen = Seen::default();
    seen.watch(&worker, false);
    worker.post_message(Cmd::Echo(1)).unwrap();
    assert_eq!(recv(&worker), Reply::Echo(1));
    worker.terminate().unwrap();
    assert!(!worker.is_running());
    assert_eq!(worker.terminate().unwrap_err().code(), Some(10200004));
    assert_eq!(
        worker.post_message(Cmd::Echo(2)).unwrap_err().code(),
        Some(10200004)
    );
    assert_eq!(
        worker
            .post_message_serialized(&Cmd::Echo(2))
            .unwrap_err()
            .code(),
        Some(10200004)
    );
    assert_eq!(seen.wait_exit(), 0);
    assert_eq!(worker.exit_code(), Some(0));
    assert!(seen.errors.lock().unwrap().is_empty());
}

#[test]
fn terminate_while_a_synchronous_handler_runs() {
    const GATE: u64 = 9_001;
    let worker = script("w-term-sync");
    worker.post_message(Cmd::BlockOnGate(GATE)).unwrap();
    worker.post_message(Cmd::Echo(1)).unwrap();
    assert_eq!(recv(&worker), Reply::Entered);
    worker.terminate().unwrap();
    assert_eq!(
        worker.wait_for_exit_timeout(Duration::from_millis(20)),
        None
    );
    open_gate(GATE);
    assert_eq!(worker.wait_for_exit(), 0);
    assert!(
        SAW_TERMINATING.load(Ordering::SeqCst),
        "the handler could see it"
    );
    assert_eq!(worker.recv(), None, "the queued message was dropped");
}

#[test]
fn terminate_drops_an_async_handler_where_it_waits() {
    let worker = script("w-term-async");
    worker.post_message(Cmd::AwaitForever).unwrap();
    worker.post_message(Cmd::Echo(1)).unwrap();
    assert_eq!(recv(&worker), Reply::Entered);
    assert!(!ASYNC_GUARD_DROPPED.load(Ordering::SeqCst));
    worker.terminate().unwrap();
    assert_eq!(worker.wait_for_exit(), 0);
    assert!(ASYNC_GUARD_DROPPED.load(Ordering::SeqCst));
    assert_eq!(worker.recv(), None);
}

#[test]
fn close_from_inside_finishes_the_message_and_takes_no_other() {
    let worker = script("w-close");
    let seen = Seen::default();
    seen.watch(&worker, false);
    worker.post_message(Cmd::Echo(1)).unwrap();
    worker.post_message(Cmd::Close).unwrap();
    // May be accepted (queued before the close) or refused (after it): never handled.
    let _ = worker.post_message(Cmd::Echo(2));
    assert_eq!(recv(&worker), Reply::Echo(1));
    assert_eq!(recv(&worker), Reply::Text("closing".into()));
    assert_eq!(worker.recv(), None);
    assert_eq!(seen.wait_exit(), 0);
    assert_eq!(
        worker.post_message(Cmd::Echo(3)).unwrap_err().code(),
        Some(10200004)
    );
    assert_eq!(worker.terminate().unwrap_err().code(), Some(10200004));
}

#[test]
fn dropping_the_worker_terminates_it_and_joins_its_threads() {
    let worker = script("w-dropjoin");
    let exits = Arc::new(Mutex::new(Vec::new()));
    let seen = exits.clone();
    worker.on_exit(move |code| seen.lock().unwrap().push(code));
    worker.post_message(Cmd::Echo(1)).unwrap();
    assert_eq!(recv(&worker), Reply::Echo(1));
    // A thread names itself when it starts: wait for both names to show.
    wait_until("the worker and its host thread run", || {
        threads_named("w-dropjoin") == 2
    });
    drop(worker);
    // Both joined; /proc may show a joined thread for a moment longer.
    wait_until("both threads are gone", || threads_named("w-dropjoin") == 0);
    assert_eq!(
        *exits.lock().unwrap(),
        [0],
        "on_exit ran before the drop returned"
    );
}

#[test]
fn dropping_a_worker_stuck_in_its_handler_detaches_it_within_the_timeout() {
    const GATE: u64 = 9_002;
    let worker = Worker::builder()
        .name("w-detach")
        .join_timeout(Duration::from_millis(20))
        .spawn(Script::default)
        .unwrap();
    let messages = worker.messages();
    worker.post_message(Cmd::BlockOnGate(GATE)).unwrap();
    assert_eq!(recv(&worker), Reply::Entered);
    drop(worker); // returns after the timeout, the thread still in the handler
    assert_eq!(
        futures::executor::block_on(messages.collect::<Vec<_>>()),
        [],
        "receivers do not wait for a detached worker"
    );
    // A `/proc` listing can skip a thread while other tests end theirs: waited for, not read
    // once. It can only show while the thread is still in its handler (held by the gate).
    wait_until("the detached thread is still in its handler", || {
        threads_named("w-detach") == 1
    });
    open_gate(GATE);
    wait_until("the detached thread ends", || {
        threads_named("w-detach") == 0
    });
}

// ---- handler state and async ----------------------------------------------------------------

/// A handler whose state is not `Send`: an `Rc<RefCell<..>>` shared with the local tasks it
/// spawns.
struct Ledger {
    entries: Rc<RefCell<Vec<u64>>>,
}

#[derive(Debug, Serialize, Deserialize)]
enum LedgerCmd {
    Add(u64),
    /// Adds later, from a spawned task that awaits the signal.
    AddWhenSignaled(u64),
    Total,
}

static LEDGER_SIGNAL: Signal = Signal::new();

impl WorkerHandler for Ledger {
    type In = LedgerCmd;
    type Out = u64;

    async fn on_message(&mut self, cmd: LedgerCmd, port: &WorkerPort<u64>) -> HandlerResult {
        match cmd {
            LedgerCmd::Add(n) => self.entries.borrow_mut().push(n),
            LedgerCmd::AddWhenSignaled(n) => {
                let entries = Rc::clone(&self.entries);
                let port = port.clone();
                port.clone().spawn_local(async move {
                    LEDGER_SIGNAL.raised().await;
                    entries.borrow_mut().push(n);
                    port.post_message(entries.borrow().iter().sum())?;
                    Ok(())
                });
            }
            LedgerCmd::Total => port.post_message(self.entries.borrow().iter().sum())?,
        }
        Ok(())
    }
}

#[test]
fn a_handler_may_hold_non_send_state_and_overlap_work_with_local_tasks() {
    // The constructor is `Send`; the `Rc` it builds never leaves the worker thread.
    let worker = Worker::new(|| Ledger {
        entries: Rc::new(RefCell::new(Vec::new())),
    })
    .unwrap();
    worker.post_message(LedgerCmd::Add(1)).unwrap();
    worker
        .post_message(LedgerCmd::AddWhenSignaled(100))
        .unwrap();
    // The spawned task waits; the loop goes on with the next messages.
    worker.post_message(LedgerCmd::Add(2)).unwrap();
    worker.post_message(LedgerCmd::Total).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(3));
    LEDGER_SIGNAL.raise();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(103));
}

/// Awaits a timer in every message: replies keep the order of the messages.
struct Sleeper;

impl WorkerHandler for Sleeper {
    type In = (u64, u64);
    type Out = u64;

    async fn on_message(
        &mut self,
        (n, micros): (u64, u64),
        port: &WorkerPort<u64>,
    ) -> HandlerResult {
        taskpool::sleep(Duration::from_micros(micros)).await;
        port.post_message(n)?;
        Ok(())
    }
}

#[test]
fn async_handlers_take_one_message_at_a_time_in_order() {
    let worker = Worker::new(|| Sleeper).unwrap();
    for n in 0..20 {
        worker.post_message((n, (20 - n) * 100)).unwrap();
    }
    let replies: Vec<u64> = (0..20)
        .map(|_| worker.recv_timeout(PATIENCE).unwrap())
        .collect();
    assert_eq!(replies, (0..20).collect::<Vec<_>>());
}

// ---- global call objects --------------------------------------------------------------------

fn call(
    worker: &Worker<Cmd, Reply>,
    object: &str,
    method: &str,
    timeout_ms: u64,
    arg: &str,
) -> Result<String, Option<u32>> {
    worker
        .post_message(Cmd::Call {
            object: object.into(),
            method: method.into(),
            timeout_ms,
            arg: arg.into(),
        })
        .unwrap();
    match recv(worker) {
        Reply::Called(result) => result,
        other => panic!("unexpected {other:?}"),
    }
}

fn greeter() -> CallObject<String> {
    CallObject::new("hello".to_owned())
        .method("greet", |greeting: &mut String, name: String| {
            format!("{greeting} {name}")
        })
        .method("where", |_: &mut String, (): ()| thread_name())
}

#[test]
fn a_worker_calls_a_host_object_on_the_host_thread() {
    let worker = script("w-call");
    // Nothing registered yet (and no host thread): 10200019 at once.
    assert_eq!(
        call(&worker, "greeter", "greet", 0, "x"),
        Err(Some(10200019))
    );
    worker
        .register_global_call_object("greeter", greeter())
        .unwrap();
    assert_eq!(
        call(&worker, "greeter", "greet", 0, "world"),
        Ok("hello world".into())
    );
    // `where` takes `()`: the worker sends a string, which does not decode as `()`.
    assert_eq!(
        call(&worker, "greeter", "where", 1000, ""),
        Err(Some(10200006))
    );
    assert_eq!(
        call(&worker, "nobody", "greet", 0, "x"),
        Err(Some(10200019))
    );
    assert_eq!(
        call(&worker, "greeter", "shout", 0, "x"),
        Err(Some(10200020))
    );

    worker
        .unregister_global_call_object(Some("greeter"))
        .unwrap();
    assert_eq!(
        call(&worker, "greeter", "greet", 0, "x"),
        Err(Some(10200019))
    );
    worker.unregister_global_call_object(None).unwrap();
}

/// A worker that calls `where` with the right argument type.
struct AskWhere;

impl WorkerHandler for AskWhere {
    type In = ();
    type Out = String;

    async fn on_message(&mut self, (): (), port: &WorkerPort<String>) -> HandlerResult {
        let thread: String =
            port.call_global_object_method("greeter", "where", Duration::ZERO, ())?;
        port.post_message(thread)?;
        Ok(())
    }
}

#[test]
fn host_object_methods_run_on_the_worker_s_host_thread() {
    let worker = Worker::builder()
        .name("w-where")
        .spawn(|| AskWhere)
        .unwrap();
    worker
        .register_global_call_object("greeter", greeter())
        .unwrap();
    worker.post_message(()).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE).as_deref(), Ok("w-where-host"));
}

/// Calls `slow` with `()` and a short timeout.
struct Impatient;

impl WorkerHandler for Impatient {
    type In = u64;
    type Out = Option<u32>;

    async fn on_message(
        &mut self,
        timeout_ms: u64,
        port: &WorkerPort<Option<u32>>,
    ) -> HandlerResult {
        let result: Result<String, Error> = port.call_global_object_method(
            "blocker",
            "slow",
            Duration::from_millis(timeout_ms),
            (),
        );
        port.post_message(result.err().and_then(|e| e.code()))?;
        Ok(())
    }
}

#[test]
fn a_blocked_host_thread_makes_the_call_time_out() {
    const GATE: u64 = 9_004;
    let worker = Worker::new(|| Impatient).unwrap();
    let blocker = CallObject::new(()).method("slow", |_: &mut (), (): ()| {
        pass_gate(GATE);
        "late".to_owned()
    });
    worker
        .register_global_call_object("blocker", blocker)
        .unwrap();
    worker.post_message(20).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(Some(10200021)));
    open_gate(GATE);
    // Once the host thread is free again, calls are answered.
    worker.post_message(0).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(None));
}

#[test]
fn an_object_unregistered_during_its_call_stays_unregistered() {
    // (entered, release) gates of a call that blocks on the host thread.
    const FIRST: (u64, u64) = (9_007, 9_008);
    const SECOND: (u64, u64) = (9_009, 9_010);
    let worker = script("w-call-unregister");
    let slow = || {
        CallObject::new(()).method("greet", |(): &mut (), name: String| {
            let gates = match name.as_str() {
                "first" => Some(FIRST),
                "second" => Some(SECOND),
                _ => None,
            };
            if let Some((entered, release)) = gates {
                open_gate(entered);
                pass_gate(release);
            }
            format!("hi {name}")
        })
    };
    let start_call = |name: &str| {
        worker
            .post_message(Cmd::Call {
                object: "slow".into(),
                method: "greet".into(),
                timeout_ms: 0,
                arg: name.into(),
            })
            .unwrap();
    };

    worker.register_global_call_object("slow", slow()).unwrap();
    start_call("first");
    pass_gate(FIRST.0);
    // The object is in use on the host thread: unregistering it must still take effect.
    worker.unregister_global_call_object(Some("slow")).unwrap();
    open_gate(FIRST.1);
    assert_eq!(recv(&worker), Reply::Called(Ok("hi first".into())));
    assert_eq!(call(&worker, "slow", "greet", 0, "x"), Err(Some(10200019)));

    // The same with every object unregistered at once.
    worker.register_global_call_object("slow", slow()).unwrap();
    start_call("second");
    pass_gate(SECOND.0);
    worker.unregister_global_call_object(None).unwrap();
    open_gate(SECOND.1);
    assert_eq!(recv(&worker), Reply::Called(Ok("hi second".into())));
    assert_eq!(call(&worker, "slow", "greet", 0, "y"), Err(Some(10200019)));
}

#[test]
fn registering_on_a_worker_that_ended_gives_10200004() {
    let worker = script("w-call-ended");
    worker.terminate().unwrap();
    let error = worker
        .register_global_call_object("greeter", greeter())
        .unwrap_err();
    assert_eq!(error.code(), Some(10200004));
    assert_eq!(
        worker
            .unregister_global_call_object(None)
            .unwrap_err()
            .code(),
        Some(10200004)
    );
}

#[test]
fn worker_initialization_rejects_a_bad_name_with_10200003() {
    let error = Worker::builder()
        .name("bad\0name")
        .spawn(Script::default)
        .unwrap_err();
    assert_eq!(error.code(), Some(10200003));
}

#[test]
fn worker_initialization_rejects_a_stack_size_out_of_range_with_10200003() {
    for bytes in [
        0,
        taskpool::MIN_STACK_SIZE - 1,
        taskpool::MAX_STACK_SIZE + 1,
    ] {
        let error = Worker::builder()
            .stack_size(bytes)
            .spawn(Script::default)
            .unwrap_err();
        assert_eq!(error.code(), Some(10200003), "{bytes}: {error}");
    }
}

#[test]
fn worker_initialization_rejects_a_zero_serialized_cap_with_10200003() {
    // A cap of 0 bytes would refuse every serialized message, even an empty one: a setting
    // mistake, told at `spawn` as the pool's builder tells it at `build`.
    let error = Worker::builder()
        .max_serialized_bytes(0)
        .spawn(Script::default)
        .unwrap_err();
    assert_eq!(error.code(), Some(10200003), "{error}");
    assert!(
        error.to_string().contains("max_serialized_bytes"),
        "{error}"
    );
    let worker = Worker::builder()
        .max_serialized_bytes(1)
        .spawn(Script::default)
        .expect("a cap of one byte is a valid (if strict) setting");
    drop(worker);
}

/// Drops, on the worker's thread, a list as long as each message says.
struct DeepDropper;

/// A singly linked list; only its (derived) drop recurses, one level per node.
enum List {
    Node(Box<List>),
    End,
}

impl WorkerHandler for DeepDropper {
    type In = usize;
    type Out = usize;

    async fn on_message(&mut self, length: usize, port: &WorkerPort<usize>) -> HandlerResult {
        let list = (0..length).fold(List::End, |tail, _| List::Node(Box::new(tail)));
        let (mut nodes, mut tail) = (0, &list);
        while let List::Node(next) = tail {
            (nodes, tail) = (nodes + 1, &**next);
        }
        drop(list);
        port.post_message(nodes)?;
        Ok(())
    }
}

#[test]
fn a_worker_can_drop_a_value_nested_a_hundred_thousand_deep() {
    // About 10 MiB of stack in a debug build: on Rust's default 2 MiB the process aborted.
    let worker = Worker::new(|| DeepDropper).unwrap();
    worker.post_message(100_000).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE).unwrap(), 100_000);
}

/// A message whose `Drop` panics when armed.
#[derive(Debug, Serialize, Deserialize)]
struct Grenade {
    armed: bool,
    gate: u64,
}

impl Drop for Grenade {
    fn drop(&mut self) {
        if self.armed {
            self.armed = false;
            panic!("a message's Drop panicked");
        }
    }
}

struct Catcher;

impl WorkerHandler for Catcher {
    type In = Grenade;
    type Out = ();

    async fn on_message(&mut self, grenade: Grenade, port: &WorkerPort<()>) -> HandlerResult {
        port.post_message(())?;
        pass_gate(grenade.gate);
        Ok(())
    }
}

#[test]
fn a_panicking_drop_of_an_unhandled_message_is_contained() {
    const GATE: u64 = 9_005;
    let worker = Worker::new(|| Catcher).unwrap();
    worker
        .post_message(Grenade {
            armed: false,
            gate: GATE,
        })
        .unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(()));
    // Queued behind the handler, never handled: dropped with the worker.
    worker
        .post_message(Grenade {
            armed: true,
            gate: GATE,
        })
        .unwrap();
    worker.terminate().unwrap();
    open_gate(GATE);
    assert_eq!(worker.wait_for_exit(), 0);
    drop(worker); // the queued message's `Drop` panics inside: contained
}
