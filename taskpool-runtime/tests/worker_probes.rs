//! Worker robustness probes: message order across `clear_callbacks`, panics in a message's
//! decoding, posts and closes racing `terminate()`, panicking global call methods, worker churn,
//! hostile payloads, and the TaskPool used from inside a worker.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use support::echo::Echo;
use support::{PATIENCE, open_gate, pass_gate, rendezvous, threads_named, wait_until};
use taskpool::{
    CallObject, Encoding, Error, HandlerResult, Payload, Task, TaskPool, Worker, WorkerHandler,
    WorkerPort, concurrent,
};

// ---- message order ----------------------------------------------------------------------------

#[test]
fn messages_keep_their_send_order_when_callbacks_are_cleared_with_some_still_queued() {
    const ENTERED: u64 = 31_001;
    const BUSY: u64 = 31_002;
    let worker = Worker::new(|| Echo).unwrap();
    let (seen_tx, seen) = mpsc::channel();
    worker.on_message(move |n| {
        seen_tx.send(n).unwrap();
        if n == 0 {
            open_gate(ENTERED);
            pass_gate(BUSY); // the host thread is busy: message 1 waits behind this callback
        }
    });
    worker.post_message(0).unwrap();
    pass_gate(ENTERED);
    worker.post_message(1).unwrap();
    rendezvous(&worker); // 1 was sent while the callback was registered: queued for it
    worker.clear_callbacks();
    worker.post_message(2).unwrap();
    rendezvous(&worker); // 2 was sent with no callback: to the receivers
    open_gate(BUSY);
    assert_eq!(seen.recv_timeout(PATIENCE), Ok(0));
    let first = worker.recv_timeout(PATIENCE).unwrap();
    let second = worker.recv_timeout(PATIENCE).unwrap();
    assert_eq!(
        (first, second),
        (1, 2),
        "messages to the host are delivered in send order"
    );
}

// ---- panics in decoding -----------------------------------------------------------------------

/// A message whose `Deserialize` panics on the value 13 (a user impl with a bug).
#[derive(Debug, PartialEq)]
struct Touchy(u64);

impl Serialize for Touchy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Touchy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Touchy, D::Error> {
        let n = u64::deserialize(deserializer)?;
        assert!(n != 13, "Touchy refuses 13");
        Ok(Touchy(n))
    }
}

struct TouchyEcho;

impl WorkerHandler for TouchyEcho {
    type In = Touchy;
    type Out = u64;

    async fn on_message(&mut self, n: Touchy, port: &WorkerPort<u64>) -> HandlerResult {
        port.post_message(n.0)?;
        Ok(())
    }
}

/// A panicking `Deserialize` is a message that does not decode (10200006, naming the panic),
/// as for any serialized copy taskpool decodes: it goes to `on_message_error`, and the worker
/// lives on, with no error callback of the handler's own.
#[test]
fn a_panic_decoding_a_serialized_message_is_a_message_error_and_the_worker_lives_on() {
    let worker = Worker::new(|| TouchyEcho).unwrap();
    let (message_errors_tx, message_errors) = mpsc::channel();
    worker.on_message_error(move |e: Error| message_errors_tx.send(e).unwrap());
    let (errors_tx, errors) = mpsc::channel();
    worker.on_all_errors(move |e: Error| errors_tx.send(e.to_string()).unwrap());
    worker
        .post_payload(Payload::encode(&13u64, Encoding::Postcard).unwrap())
        .unwrap();
    let error = message_errors.recv_timeout(PATIENCE).unwrap();
    assert_eq!(error.code(), Some(10200006), "{error}");
    assert!(error.to_string().contains("Touchy refuses 13"), "{error}");
    worker.post_message(Touchy(5)).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(5), "the worker lives on");
    assert_eq!(worker.exit_code(), None);
    assert!(errors.try_recv().is_err(), "not an error of the handler");
}

// ---- races with terminate ---------------------------------------------------------------------

#[test]
fn posts_racing_terminate_are_accepted_or_refused_with_10200004_and_receivers_end() {
    for round in 0..20 {
        let worker = Worker::builder()
            .name(format!("p-race-{round}"))
            .spawn(|| Echo)
            .unwrap();
        let senders: Vec<_> = (0..3)
            .map(|s| {
                let to_worker = worker.worker_ref();
                std::thread::spawn(move || {
                    let mut accepted = 0;
                    for n in 0..200 {
                        match to_worker.post_message(s * 1_000 + n) {
                            Ok(()) => accepted += 1,
                            Err(e) => {
                                assert_eq!(e.code(), Some(10200004), "{e}");
                                break;
                            }
                        }
                    }
                    accepted
                })
            })
            .collect();
        let terminators: Vec<_> = (0..2)
            .map(|_| {
                let to_worker = worker.worker_ref();
                std::thread::spawn(move || to_worker.terminate().is_ok())
            })
            .collect();
        let accepted: usize = senders.into_iter().map(|s| s.join().unwrap()).sum();
        let won = terminators
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|&won| won)
            .count();
        assert_eq!(won, 1, "exactly one terminate succeeds");
        assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(0));
        let mut replies = 0;
        while let Ok(Some(_)) = worker.recv_timeout(PATIENCE).map(Some) {
            replies += 1;
        }
        assert!(replies <= accepted);
        drop(worker);
        // Joined; /proc may show a joined thread for a moment longer.
        wait_until("the threads are gone", || {
            threads_named(&format!("p-race-{round}")) == 0
        });
    }
}

/// Replies `0`, blocks the thread on the gate it was sent, then replies `1` with `?`: the
/// idiomatic reply, refused with 10200004 once the host terminated the worker meanwhile.
struct ReplyAfterGate;

impl WorkerHandler for ReplyAfterGate {
    type In = (u64, bool);
    type Out = u64;

    async fn on_message(
        &mut self,
        (gate, spawn): (u64, bool),
        port: &WorkerPort<u64>,
    ) -> HandlerResult {
        if spawn {
            // The same from a local task: it runs once this call returned.
            let port = port.clone();
            port.clone().spawn_local(async move {
                port.post_message(0)?;
                pass_gate(gate);
                port.post_message(1)?;
                Ok(())
            });
            return Ok(());
        }
        port.post_message(0)?;
        pass_gate(gate);
        port.post_message(1)?;
        Ok(())
    }
}

#[test]
fn a_reply_refused_because_of_terminate_does_not_turn_the_exit_into_an_error() {
    for (gate, spawn) in [(31_020, false), (31_021, true)] {
        let worker = Worker::new(|| ReplyAfterGate).unwrap();
        let (events_tx, events) = mpsc::channel();
        let errors = events_tx.clone();
        worker.on_error(move |e: Error| errors.send(format!("error: {e}")).unwrap());
        worker.on_exit(move |code| events_tx.send(format!("exit {code}")).unwrap());
        worker.post_message((gate, spawn)).unwrap();
        assert_eq!(worker.recv_timeout(PATIENCE), Ok(0));
        worker.terminate().unwrap();
        open_gate(gate);
        // Callbacks run in order: an error would come before the exit.
        assert_eq!(
            events.recv_timeout(PATIENCE).as_deref(),
            Ok("exit 0"),
            "terminated (spawned: {spawn}): a normal end"
        );
        assert_eq!(worker.exit_code(), Some(0));
        assert!(worker.take_exit_error().is_none());
    }
}

/// Closes itself on 0 after awaiting a timer; echoes the rest.
struct Closer;

impl WorkerHandler for Closer {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        if n == 0 {
            let _ = port.close();
            taskpool::sleep(Duration::from_micros(50)).await;
        }
        let _ = port.post_message(n);
        Ok(())
    }
}

#[test]
fn close_racing_terminate_ends_the_worker_normally() {
    for round in 0..20 {
        let worker = Worker::new(|| Closer).unwrap();
        worker.post_message(1).unwrap();
        assert_eq!(worker.recv_timeout(PATIENCE), Ok(1));
        worker.post_message(0).unwrap();
        let result = worker.terminate();
        if let Err(e) = result {
            assert_eq!(e.code(), Some(10200004), "round {round}: {e}");
        }
        assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(0), "{round}");
        assert_eq!(worker.terminate().unwrap_err().code(), Some(10200004));
        assert_eq!(worker.post_message(2).unwrap_err().code(), Some(10200004));
    }
}

// ---- global call objects ----------------------------------------------------------------------

/// Calls `obj.method(n)` with the message's number; replies with the result or the error code.
struct Caller;

impl WorkerHandler for Caller {
    type In = u64;
    type Out = Result<u64, Option<u32>>;

    async fn on_message(
        &mut self,
        n: u64,
        port: &WorkerPort<Result<u64, Option<u32>>>,
    ) -> HandlerResult {
        let result: Result<u64, Error> =
            port.call_global_object_method("obj", "method", Duration::ZERO, n);
        port.post_message(result.map_err(|e| e.code()))?;
        Ok(())
    }
}

#[test]
fn a_panicking_global_call_method_fails_that_call_and_the_object_stays_callable() {
    let worker = Worker::new(|| Caller).unwrap();
    let object = CallObject::new(0u64).method("method", |total: &mut u64, n: u64| {
        assert!(n != 0, "zero is refused");
        *total += n;
        *total
    });
    worker.register_global_call_object("obj", object).unwrap();
    worker.post_message(2).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(Ok(2)));
    worker.post_message(0).unwrap();
    assert!(matches!(worker.recv_timeout(PATIENCE), Ok(Err(_))));
    worker.post_message(3).unwrap();
    assert_eq!(
        worker.recv_timeout(PATIENCE),
        Ok(Ok(5)),
        "the object lives on, its state intact"
    );
}

// ---- churn ------------------------------------------------------------------------------------

#[test]
fn churning_workers_from_several_threads_leaves_no_thread_behind() {
    let makers: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for round in 0..25 {
                    let worker = match Worker::builder()
                        .name(format!("p-churn-{t}"))
                        .spawn(|| Echo)
                    {
                        Ok(worker) => worker,
                        Err(e) => {
                            // Other tests of this binary may hold slots: only the cap may refuse.
                            assert_eq!(e.code(), Some(10200003), "{e}");
                            continue;
                        }
                    };
                    if round % 2 == 0 {
                        worker.on_exit(|_| {});
                    }
                    worker.post_message(round).unwrap();
                    assert_eq!(worker.recv_timeout(PATIENCE), Ok(round));
                    if round % 3 == 0 {
                        worker.terminate().unwrap();
                    }
                }
            })
        })
        .collect();
    makers.into_iter().for_each(|m| m.join().unwrap());
    // Every worker and host thread joined; /proc may show a joined thread for a moment longer.
    wait_until("every worker and host thread is gone", || {
        threads_named("p-churn-") == 0
    });
}

// ---- hostile payloads -------------------------------------------------------------------------

#[test]
fn hostile_payloads_reach_on_message_error_and_the_worker_lives_on() {
    let worker = Worker::new(|| Echo).unwrap();
    let (errors_tx, errors) = mpsc::channel();
    worker.on_message_error(move |e: Error| errors_tx.send(e.code()).unwrap());
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    worker.post_payload(Payload::Json(deep)).unwrap();
    worker
        .post_payload(Payload::Postcard(vec![0xff; 64]))
        .unwrap();
    worker.post_payload(Payload::Postcard(Vec::new())).unwrap();
    for _ in 0..3 {
        assert_eq!(errors.recv_timeout(PATIENCE), Ok(Some(10200006)));
    }
    worker.post_message(7).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(7));
}

/// Replies with a value nested as deep as asked, serialized.
struct Nester;

impl WorkerHandler for Nester {
    type In = usize;
    type Out = serde_json::Value;

    async fn on_message(
        &mut self,
        depth: usize,
        port: &WorkerPort<serde_json::Value>,
    ) -> HandlerResult {
        let value = (0..depth).fold(serde_json::Value::Null, |v, _| {
            serde_json::Value::Array(vec![v])
        });
        if let Err(e) = port.post_message_serialized(&value) {
            port.post_message(serde_json::Value::from(e.code()))?;
        }
        Ok(())
    }
}

#[test]
fn a_deeply_nested_reply_is_refused_with_10200006_and_the_worker_lives_on() {
    let worker = Worker::new(|| Nester).unwrap();
    worker.post_message(10_000).unwrap();
    assert_eq!(
        worker.recv_timeout(PATIENCE),
        Ok(serde_json::Value::from(10200006u32))
    );
    worker.post_message(3).unwrap();
    assert_eq!(
        worker.recv_timeout(PATIENCE),
        Ok(serde_json::json!([[[null]]]))
    );
}

// ---- the TaskPool inside a worker -------------------------------------------------------------

#[concurrent]
fn gated_double(gate: u64, x: u64) -> u64 {
    pass_gate(gate);
    x * 2
}

/// Awaits a task on its own pool; replies with the result or the error.
struct PoolUser {
    pool: Option<TaskPool>,
}

impl WorkerHandler for PoolUser {
    type In = u64;
    type Out = Result<u64, String>;

    async fn on_message(
        &mut self,
        gate: u64,
        port: &WorkerPort<Result<u64, String>>,
    ) -> HandlerResult {
        let pool = self.pool.as_ref().expect("one message only");
        let handle = pool.execute(Task::new(gated_double, (gate, 21)));
        port.post_message(Ok(0))?;
        // The pool is shut down (from this thread: the handler owns it) while its task waits.
        let pool = self.pool.take().unwrap();
        std::thread::spawn(move || pool.shutdown_timeout(Duration::from_millis(1)));
        port.post_message(handle.await.map_err(|e| e.to_string()))?;
        Ok(())
    }
}

#[test]
fn a_handler_awaiting_a_task_of_a_pool_shut_down_meanwhile_is_answered() {
    const GATE: u64 = 31_010;
    let worker = Worker::new(|| PoolUser {
        pool: Some(TaskPool::builder().max_threads(1).build().unwrap()),
    })
    .unwrap();
    worker.post_message(GATE).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(Ok(0)));
    // The task is gated (or not started): the shutdown gives up on it and its handle resolves,
    // so the handler's `.await` ends before the gate opens.
    let settled = worker.recv_timeout(PATIENCE).unwrap();
    assert!(settled.is_err(), "{settled:?}");
    open_gate(GATE);
    worker.terminate().unwrap();
    assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(0));
}

#[test]
fn a_worker_dropped_inside_its_own_on_message_callback_ends_with_its_threads() {
    // A generous join timeout: a worker that took longer than the default 5 s to stop (a
    // loaded machine) would be detached, and a detached worker's `on_exit` does not run.
    let worker = Worker::builder()
        .name("p-selfdrop")
        .join_timeout(PATIENCE)
        .spawn(|| Echo)
        .unwrap();
    let (exit_tx, exit) = mpsc::channel();
    worker.on_exit(move |code| exit_tx.send(code).unwrap());
    let slot = Arc::new(std::sync::Mutex::new(None));
    let in_callback = Arc::clone(&slot);
    let (dropped_tx, dropped) = mpsc::channel();
    worker.on_message(move |n: u64| {
        if n == 1 {
            let worker: Option<Worker<u64, u64>> = in_callback.lock().unwrap().take();
            drop(worker); // on the worker's own host thread
            dropped_tx.send(()).unwrap();
        }
    });
    worker.post_message(1).unwrap();
    *slot.lock().unwrap() = Some(worker);
    assert_eq!(dropped.recv_timeout(PATIENCE), Ok(()));
    assert_eq!(exit.recv_timeout(PATIENCE), Ok(0), "on_exit still runs");
    wait_until("both threads end", || threads_named("p-selfdrop") == 0);
}

static CREATED_IN_TASK: AtomicUsize = AtomicUsize::new(0);

#[concurrent]
fn make_and_use_a_worker(x: u64) -> u64 {
    let worker = Worker::new(|| Echo).unwrap();
    worker.post_message(x).unwrap();
    let reply = worker.recv_timeout(PATIENCE).unwrap();
    CREATED_IN_TASK.fetch_add(1, Ordering::SeqCst);
    reply + 1
}

#[test]
fn tasks_that_create_and_drop_workers_leave_the_pool_usable() {
    let pool = Arc::new(TaskPool::builder().max_threads(2).build().unwrap());
    let handles: Vec<_> = (0..40)
        .map(|x| pool.execute(Task::new(make_and_use_a_worker, (x,))))
        .collect();
    let results: Vec<u64> = handles.into_iter().map(|h| h.wait().unwrap()).collect();
    assert_eq!(results, (1..=40).collect::<Vec<_>>());
    assert_eq!(CREATED_IN_TASK.load(Ordering::SeqCst), 40);
}
