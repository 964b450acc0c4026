//! Conformance with the ArkTS Worker documentation (`js-apis-worker.md`, the worker errors of
//! `errorcode-utils.md` and the guide `worker-introduction.md`), entry by entry, with the bad
//! inputs and wrong-state calls around each API. What other worker tests already pin down
//! (callbacks, error modes, the cap with nested workers, global call errors) is not repeated.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard, mpsc};
use std::time::Duration;

use support::{Bomb, PATIENCE, open_gate, pass_gate, wait_until};
use taskpool::{CallObject, Encoding, HandlerResult, Payload, Worker, WorkerHandler, WorkerPort};

/// The worker cap is process-wide: the tests that change it hold this for writing, every other
/// test that starts workers holds it for reading.
static CAP: RwLock<()> = RwLock::new(());

fn shared_cap() -> RwLockReadGuard<'static, ()> {
    CAP.read().unwrap_or_else(|e| e.into_inner())
}

/// The ids of the [`Tracked`] values dropped so far (every test uses its own ids).
static DROPPED: Mutex<Vec<u64>> = Mutex::new(Vec::new());

fn dropped(id: u64) -> bool {
    DROPPED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&id)
}

/// A value that records its `Drop`: shows when a message or an object is let go of.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Tracked(u64);

impl Drop for Tracked {
    fn drop(&mut self) {
        DROPPED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(self.0);
    }
}

/// The ids of the [`Tracked`] messages a handler took.
static HANDLED: Mutex<Vec<u64>> = Mutex::new(Vec::new());

fn handled(id: u64) -> bool {
    HANDLED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&id)
}

// ---- what becomes of the messages a worker never takes -----------------------------------------

/// How a held message ends.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
enum Then {
    Return,
    Close,
    Fail,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
enum Cmd {
    /// Opens gate `enter`, waits for gate `leave`, then ends as `then` says.
    Hold {
        enter: u64,
        leave: u64,
        then: Then,
    },
    Tracked(Tracked),
    /// A message whose `Drop` panics.
    Bomb(support::Bomb),
}

struct Gatekeeper;

impl WorkerHandler for Gatekeeper {
    type In = Cmd;
    type Out = u64;

    async fn on_message(&mut self, command: Cmd, port: &WorkerPort<u64>) -> HandlerResult {
        match command {
            Cmd::Hold { enter, leave, then } => {
                open_gate(enter);
                pass_gate(leave);
                match then {
                    Then::Return => Ok(()),
                    Then::Close => Ok(port.close()?),
                    Then::Fail => Err("the held message fails".into()),
                }
            }
            Cmd::Bomb(bomb) => {
                std::mem::forget(bomb); // handled: defused
                Ok(())
            }
            Cmd::Tracked(message) => {
                HANDLED
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(message.0);
                Ok(())
            }
        }
    }
}

/// Starts a gatekeeper holding its first message between gates `enter` and `leave`, with
/// messages `ids` queued behind it.
fn held_with_queue(
    enter: u64,
    leave: u64,
    then: Then,
    ids: std::ops::Range<u64>,
) -> Worker<Cmd, u64> {
    let worker = Worker::new(|| Gatekeeper).unwrap();
    worker
        .post_message(Cmd::Hold { enter, leave, then })
        .unwrap();
    pass_gate(enter);
    for id in ids {
        worker.post_message(Cmd::Tracked(Tracked(id))).unwrap();
    }
    worker
}

/// `terminate()`: "Destroys the Worker thread and stops the Worker thread from receiving
/// messages." The messages still queued are never handled, and are let go of by the exit —
/// not kept until the `Worker` value is dropped (a message may hold what another thread waits
/// for: here, a channel's sender).
#[test]
fn terminate_drops_the_queued_messages_by_the_exit() {
    let _cap = shared_cap();
    let worker = held_with_queue(10, 11, Then::Return, 1000..1005);
    worker.terminate().unwrap();
    open_gate(11);
    assert_eq!(worker.wait_for_exit(), 0);
    for id in 1000..1005 {
        assert!(
            !handled(id),
            "queued message {id} was handled after terminate()"
        );
        assert!(
            dropped(id),
            "queued message {id} is still held after the exit"
        );
    }
    assert!(!worker.is_running());
    drop(worker);
}

/// `workerPort.close()`: "Terminates the Worker thread to stop it from receiving messages": the
/// messages queued behind the closing one are never handled and are dropped by the exit; every
/// host call on the worker then answers 10200004 ("The Worker instance is not running"), and
/// `onexit` gets 0.
#[test]
fn close_drops_the_queued_messages_and_the_host_gets_10200004_everywhere() {
    let _cap = shared_cap();
    let worker = held_with_queue(20, 21, Then::Close, 2000..2004);
    let (exits, exit) = mpsc::channel();
    worker.on_exit(move |code| exits.send(code).unwrap());
    open_gate(21);
    assert_eq!(worker.wait_for_exit(), 0);
    assert_eq!(
        exit.recv_timeout(PATIENCE),
        Ok(0),
        "onexit: 0 for a normal exit"
    );
    for id in 2000..2004 {
        assert!(
            !handled(id),
            "queued message {id} was handled after close()"
        );
        assert!(
            dropped(id),
            "queued message {id} is still held after the exit"
        );
    }

    let code = |result: taskpool::Result<()>| result.unwrap_err().code();
    assert_eq!(
        code(worker.post_message(Cmd::Tracked(Tracked(2010)))),
        Some(10200004)
    );
    assert!(
        dropped(2010),
        "a refused message is given back to no one: dropped"
    );
    assert_eq!(
        code(worker.post_message_serialized(&Cmd::Tracked(Tracked(2011)))),
        Some(10200004)
    );
    let payload = Payload::encode(&Cmd::Tracked(Tracked(2012)), Encoding::Json).unwrap();
    assert_eq!(code(worker.post_payload(payload)), Some(10200004));
    assert_eq!(code(worker.terminate()), Some(10200004));
    let object = CallObject::new(Tracked(2013)).method("id", |t: &mut Tracked, (): ()| t.0);
    assert_eq!(
        code(worker.register_global_call_object("o", object)),
        Some(10200004)
    );
    assert!(dropped(2013), "a refused object is not kept");
    assert_eq!(
        code(worker.unregister_global_call_object(Some("o"))),
        Some(10200004)
    );
    assert_eq!(
        code(worker.unregister_global_call_object(None)),
        Some(10200004)
    );
    let to_worker = worker.worker_ref();
    assert_eq!(
        code(to_worker.post_message(Cmd::Tracked(Tracked(2014)))),
        Some(10200004)
    );
    assert_eq!(code(to_worker.terminate()), Some(10200004));
    assert!(!to_worker.is_running());
    assert_eq!(
        worker.exit_code(),
        Some(0),
        "nothing above changed the exit"
    );
}

/// `onerror`: an error in the handler destroys the worker (exit code 1); the messages queued
/// behind the failing one are dropped by that exit too.
#[test]
fn a_failure_drops_the_queued_messages_and_exits_with_1() {
    let _cap = shared_cap();
    let worker = held_with_queue(30, 31, Then::Fail, 3000..3003);
    open_gate(31);
    assert_eq!(worker.wait_for_exit(), 1);
    for id in 3000..3003 {
        assert!(
            !handled(id),
            "queued message {id} was handled after the failure"
        );
        assert!(
            dropped(id),
            "queued message {id} is still held after the exit"
        );
    }
    let error = worker
        .take_exit_error()
        .expect("no on_error: the error is kept");
    assert!(
        error.to_string().contains("the held message fails"),
        "{error}"
    );
}

/// A message posted while the worker ends is refused (10200004) or accepted; an accepted one
/// that the worker never took is dropped by the exit or, if it came after it, by its sender.
#[test]
fn posts_racing_the_exit_are_refused_or_dropped_never_kept() {
    let _cap = shared_cap();
    for round in 0..20u64 {
        let base = 100_000 + round * 1000;
        let worker = held_with_queue(base, base + 1, Then::Return, 0..0);
        let to_worker = worker.worker_ref();
        let (started, posting) = mpsc::channel();
        let poster = std::thread::spawn(move || {
            to_worker
                .post_message(Cmd::Tracked(Tracked(base + 9)))
                .unwrap();
            started.send(()).unwrap();
            let mut accepted = vec![base + 9];
            for id in base + 10..base + 500 {
                match to_worker.post_message(Cmd::Tracked(Tracked(id))) {
                    Ok(()) => accepted.push(id),
                    Err(error) => {
                        assert_eq!(error.code(), Some(10200004));
                        break;
                    }
                }
            }
            accepted
        });
        posting.recv().unwrap(); // at least one message is accepted before terminate()
        worker.terminate().unwrap();
        open_gate(base + 1);
        assert_eq!(worker.wait_for_exit(), 0);
        let accepted = poster.join().unwrap();
        for id in accepted {
            assert!(!handled(id));
            // The sender drops what raced past the exit's drain before its post returns.
            assert!(dropped(id), "accepted message {id} outlived the exit");
        }
    }
}

// ---- registerGlobalCallObject / unregisterGlobalCallObject -------------------------------------

/// Calls `(object, method)` with no argument and a zero timeout ("0 means 5000 ms"), replying
/// with the method's result or the error code.
struct Caller;

impl WorkerHandler for Caller {
    type In = (String, String);
    type Out = Result<u64, Option<u32>>;

    async fn on_message(
        &mut self,
        (object, method): (String, String),
        port: &WorkerPort<Self::Out>,
    ) -> HandlerResult {
        let result = port
            .call_global_object_method::<(), u64>(&object, &method, Duration::ZERO, ())
            .map_err(|error| error.code());
        port.post_message(result)?;
        Ok(())
    }
}

fn ask(
    worker: &Worker<(String, String), Result<u64, Option<u32>>>,
    object: &str,
) -> Result<u64, Option<u32>> {
    worker
        .post_message((object.to_owned(), "id".to_owned()))
        .unwrap();
    worker.recv_timeout(PATIENCE).expect("the worker answers")
}

fn tracked_object(id: u64) -> CallObject<Tracked> {
    CallObject::new(Tracked(id)).method("id", |t: &mut Tracked, (): ()| t.0)
}

/// `unregisterGlobalCallObject`: "releases the strong reference between the ThreadWorker
/// instance and the target object. No error is reported if no object is matched." Without a
/// name, every object goes. `registerGlobalCallObject` on a name in use replaces the object.
#[test]
fn unregister_releases_the_object_at_once_and_a_missing_name_is_no_error() {
    let _cap = shared_cap();
    let worker = Worker::new(|| Caller).unwrap();
    // Nothing registered yet (not even a host thread): no error, and calls give 10200019.
    worker
        .unregister_global_call_object(Some("nobody"))
        .unwrap();
    worker.unregister_global_call_object(None).unwrap();
    assert_eq!(ask(&worker, "a"), Err(Some(10200019)));

    worker
        .register_global_call_object("a", tracked_object(4001))
        .unwrap();
    worker
        .register_global_call_object("b", tracked_object(4002))
        .unwrap();
    assert_eq!(ask(&worker, "a"), Ok(4001));
    // The same name again: the new object answers, the old one is let go of.
    worker
        .register_global_call_object("a", tracked_object(4003))
        .unwrap();
    assert!(dropped(4001), "the replaced object is released");
    assert_eq!(ask(&worker, "a"), Ok(4003));

    worker.unregister_global_call_object(Some("a")).unwrap();
    assert!(dropped(4003), "unregistering releases the object");
    assert_eq!(
        ask(&worker, "a"),
        Err(Some(10200019)),
        "unregistered: 10200019"
    );
    assert_eq!(ask(&worker, "b"), Ok(4002), "the other object stays");
    worker.unregister_global_call_object(Some("a")).unwrap(); // again: no error

    worker.unregister_global_call_object(None).unwrap();
    assert!(dropped(4002), "unregistering them all releases every one");
    assert_eq!(ask(&worker, "b"), Err(Some(10200019)));
    assert_eq!(
        {
            worker
                .post_message(("b".to_owned(), String::new()))
                .unwrap();
            worker.recv_timeout(PATIENCE).unwrap()
        },
        Err(Some(10200019)),
        "an empty method name on a missing object: the object is looked up first"
    );
    worker
        .register_global_call_object("", tracked_object(4004))
        .unwrap();
    assert_eq!(
        ask(&worker, ""),
        Ok(4004),
        "an empty name is a name like any other"
    );
}

/// The worker holds its global call objects while it lives; once it ended (terminated,
/// closed, failed), `unregisterGlobalCallObject` answers 10200004 — so the objects are
/// released by the exit itself, as ArkTS releases them when it destroys the worker, and not
/// kept until the `Worker` value is dropped.
#[test]
fn global_call_objects_are_released_when_the_worker_ends() {
    let _cap = shared_cap();
    for (round, then) in [Then::Return, Then::Close, Then::Fail]
        .into_iter()
        .enumerate()
    {
        let round = round as u64;
        let worker = Worker::new(|| Gatekeeper).unwrap();
        worker
            .register_global_call_object("kept", tracked_object(5000 + round))
            .unwrap();
        let gate = 50 + round * 2;
        worker
            .post_message(Cmd::Hold {
                enter: gate,
                leave: gate + 1,
                then,
            })
            .unwrap();
        pass_gate(gate);
        if let Then::Return = then {
            worker.terminate().unwrap();
        }
        open_gate(gate + 1);
        let expected = if let Then::Fail = then { 1 } else { 0 };
        assert_eq!(worker.wait_for_exit(), expected);
        wait_until("the ended worker's object is released", || {
            dropped(5000 + round)
        });
        assert_eq!(
            worker
                .unregister_global_call_object(Some("kept"))
                .unwrap_err()
                .code(),
            Some(10200004)
        );
    }
}

// ---- WorkerOptions.name and GlobalScope.name ----------------------------------------------------

struct Names;

impl WorkerHandler for Names {
    type In = ();
    type Out = (String, Option<String>);

    async fn on_message(&mut self, (): (), port: &WorkerPort<Self::Out>) -> HandlerResult {
        let thread = std::thread::current().name().map(str::to_owned);
        port.post_message((port.name().to_owned(), thread))?;
        Ok(())
    }
}

fn names_of(worker: &Worker<(), (String, Option<String>)>) -> (String, Option<String>) {
    worker.post_message(()).unwrap();
    worker.recv_timeout(PATIENCE).unwrap()
}

/// `WorkerOptions.name` names the worker; the worker sees it as `GlobalScope.name` (here
/// `port.name()`), and its thread carries it. Without a name, each worker gets its own.
#[test]
fn the_worker_options_name_is_the_global_scope_name_and_the_thread_name() {
    let _cap = shared_cap();
    let named = Worker::builder()
        .name("WorkerThread")
        .spawn(|| Names)
        .unwrap();
    assert_eq!(named.name(), "WorkerThread");
    assert_eq!(
        names_of(&named),
        ("WorkerThread".to_owned(), Some("WorkerThread".to_owned()))
    );
    assert_eq!(named.worker_ref().name(), "WorkerThread");

    let empty = Worker::builder().name("").spawn(|| Names).unwrap();
    assert_eq!(empty.name(), "");
    assert_eq!(names_of(&empty).0, "");

    let first = Worker::new(|| Names).unwrap();
    let second = Worker::new(|| Names).unwrap();
    assert_ne!(first.name(), second.name(), "default names are distinct");
    assert!(first.name().starts_with("worker-"), "{}", first.name());
    assert_eq!(names_of(&first).0, first.name());

    // Two workers may share a name (ArkTS does not forbid it): each keeps its own messages.
    let twin = Worker::builder()
        .name("WorkerThread")
        .spawn(|| Names)
        .unwrap();
    assert_eq!(names_of(&twin).0, "WorkerThread");
    assert_eq!(names_of(&named).0, "WorkerThread");
}

// ---- ThreadWorkerGlobalScope after the host's terminate() --------------------------------------

static PORT_CODES: Mutex<Vec<(&'static str, Option<u32>)>> = Mutex::new(Vec::new());

/// Holds its message until the host terminated it, then tries every port API.
struct AfterTerminate;

impl WorkerHandler for AfterTerminate {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, gate: u64, port: &WorkerPort<u64>) -> HandlerResult {
        open_gate(gate);
        pass_gate(gate + 1);
        let code = |result: taskpool::Result<()>| result.err().and_then(|e| e.code());
        let mut codes = vec![
            ("postMessage (moved)", code(port.post_message(1))),
            ("postMessage (copy)", code(port.post_message_serialized(&2))),
            (
                "postMessage (payload)",
                code(port.post_payload(Payload::encode(&3u64, Encoding::Postcard)?)),
            ),
            (
                "callGlobalCallObjectMethod",
                port.call_global_object_method::<(), u64>("o", "id", Duration::ZERO, ())
                    .err()
                    .and_then(|e| e.code()),
            ),
            ("close", code(port.close())),
        ];
        codes.push(("isTerminating", port.is_terminating().then_some(0)));
        *PORT_CODES.lock().unwrap_or_else(|e| e.into_inner()) = codes;
        Ok(())
    }
}

/// `ThreadWorkerGlobalScope.postMessage` / `callGlobalCallObjectMethod` / `close`: 10200004
/// once the host terminated the worker (the handler's synchronous code runs on, as Rust
/// cannot stop a thread), and the worker still ends normally (exit code 0).
#[test]
fn the_worker_side_gets_10200004_after_the_host_terminated_it() {
    let _cap = shared_cap();
    let worker = Worker::new(|| AfterTerminate).unwrap();
    worker
        .register_global_call_object("o", tracked_object(6001))
        .unwrap();
    worker.post_message(60).unwrap();
    pass_gate(60);
    worker.terminate().unwrap();
    open_gate(61);
    assert_eq!(worker.wait_for_exit(), 0);
    let codes = PORT_CODES.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(
        codes,
        vec![
            ("postMessage (moved)", Some(10200004)),
            ("postMessage (copy)", Some(10200004)),
            ("postMessage (payload)", Some(10200004)),
            ("callGlobalCallObjectMethod", Some(10200004)),
            ("close", Some(10200004)),
            ("isTerminating", Some(0)),
        ]
    );
    assert_eq!(
        worker.recv_timeout(PATIENCE),
        Err(taskpool::RecvTimeoutError::Exited)
    );
}

// ---- the 64-worker limit (10200003) ------------------------------------------------------------

struct CapGuard(usize);

impl Drop for CapGuard {
    fn drop(&mut self) {
        taskpool::set_max_workers(self.0);
    }
}

/// "A maximum of 64 Worker threads can run simultaneously ... 'Worker initialization failure,
/// the number of Workers exceeds the maximum.'" (10200003). The cap is 64 by default; a cap of
/// zero refuses every worker without panicking; lowering it below the live count stops none.
#[test]
fn the_worker_cap_defaults_to_64_and_refuses_with_10200003() {
    let _cap = CAP.write().unwrap_or_else(|e| e.into_inner());
    let _restore = CapGuard(taskpool::max_workers());
    assert_eq!(taskpool::DEFAULT_MAX_WORKERS, 64);
    assert_eq!(taskpool::max_workers(), 64);

    taskpool::set_max_workers(0);
    let refused = Worker::new(|| Names).unwrap_err();
    assert_eq!(refused.code(), Some(10200003));
    let text = refused.to_string();
    assert!(
        text.contains("10200003") && text.contains("maximum"),
        "{text}"
    );

    taskpool::set_max_workers(64);
    let live = Worker::new(|| Names).unwrap();
    taskpool::set_max_workers(0);
    assert_eq!(
        names_of(&live).0,
        live.name(),
        "a live worker goes on below the cap"
    );
    assert_eq!(
        Worker::builder()
            .name("x")
            .spawn(|| Names)
            .unwrap_err()
            .code(),
        Some(10200003)
    );
    live.terminate().unwrap();
    assert_eq!(live.wait_for_exit(), 0);
}

// ---- the reference page's examples ---------------------------------------------------------------

/// "Write data to the received buffer" and post it back.
struct FillWithThrees;

impl WorkerHandler for FillWithThrees {
    type In = Vec<u8>;
    type Out = Vec<i8>;

    async fn on_message(&mut self, data: Vec<u8>, port: &WorkerPort<Vec<i8>>) -> HandlerResult {
        let view = vec![3i8; data.len()];
        port.post_message(view)?;
        Ok(())
    }
}

/// `ThreadWorker.postMessage(buffer, [buffer])`: the host transfers an 8-byte buffer, the
/// worker fills it with 3s and posts it back; the host's `onmessage` terminates the worker and
/// `onexit` follows, with 0.
#[test]
fn the_postmessage_example_fills_the_transferred_buffer_and_the_host_terminates() {
    let _cap = shared_cap();
    let worker_instance = Worker::new(|| FillWithThrees).unwrap();
    let (events, event) = mpsc::channel();
    let on_message = events.clone();
    let control = worker_instance.worker_ref();
    worker_instance.on_message(move |data: Vec<i8>| {
        on_message
            .send(format!("main thread data is {data:?}"))
            .unwrap();
        control.terminate().unwrap();
    });
    worker_instance.on_exit(move |code| events.send(format!("exit {code}")).unwrap());
    let errors = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&errors);
    worker_instance.on_all_errors(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    let buffer = vec![0u8; 8];
    worker_instance.post_message(buffer).unwrap(); // moved: "unavailable in the host thread"
    assert_eq!(
        event.recv_timeout(PATIENCE).unwrap(),
        "main thread data is [3, 3, 3, 3, 3, 3, 3, 3]"
    );
    assert_eq!(event.recv_timeout(PATIENCE).unwrap(), "exit 0");
    assert_eq!(errors.load(Ordering::SeqCst), 0);
}

// ---- panicking `Drop`s of what the exit releases -----------------------------------------------

/// Queued messages whose `Drop` panics, and a global call object whose state's `Drop` panics,
/// are released by the exit without a panic reaching anyone: the exit code stays 0, `onexit`
/// runs, and the `Worker` drops cleanly.
#[test]
fn panicking_drops_of_queued_messages_and_objects_released_at_the_exit_are_contained() {
    let _cap = shared_cap();
    let worker = Worker::new(|| Gatekeeper).unwrap();
    let object = CallObject::new(Bomb(7001)).method("id", |b: &mut Bomb, (): ()| u64::from(b.0));
    worker.register_global_call_object("bomb", object).unwrap();
    let (exits, exit) = mpsc::channel();
    worker.on_exit(move |code| exits.send(code).unwrap());
    worker
        .post_message(Cmd::Hold {
            enter: 70,
            leave: 71,
            then: Then::Return,
        })
        .unwrap();
    pass_gate(70);
    for id in 7002..7005 {
        worker.post_message(Cmd::Bomb(Bomb(id))).unwrap();
    }
    worker.terminate().unwrap();
    open_gate(71);
    assert_eq!(worker.wait_for_exit(), 0);
    for id in 7002..7005 {
        assert!(
            support::dropped(id),
            "queued bomb {id} is still held after the exit"
        );
    }
    assert_eq!(exit.recv_timeout(PATIENCE), Ok(0));
    wait_until("the bomb object is released", || support::dropped(7001));
    assert!(worker.take_exit_error().is_none());
    drop(worker);
}
