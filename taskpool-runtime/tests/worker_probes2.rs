//! Worker robustness probes, second pass: `terminate()` after `close()`, the order of checks on
//! posts to a worker that ended, a global call method that drops its own `Worker`, callbacks
//! that panic or never return, posts from `on_exit`, message bursts, nested workers and the
//! worker limit, odd global call arguments, and the TaskPool used inside a worker.

mod support;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{PATIENCE, Signal, open_gate, pass_gate};
use taskpool::{CallObject, Encoding, HandlerResult, Payload, Worker, WorkerHandler, WorkerPort};

/// Replies with every number it is sent.
struct Echo;

impl WorkerHandler for Echo {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        port.post_message(n)?;
        Ok(())
    }
}

// ---- terminate() after close() ----------------------------------------------------------------

static CLOSED_THEN_RELEASED: Signal = Signal::new();

/// Closes itself, then awaits a signal, then replies: a closing worker finishes its message.
struct CloseThenAwait;

impl WorkerHandler for CloseThenAwait {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, gate: u64, port: &WorkerPort<u64>) -> HandlerResult {
        port.close()?;
        open_gate(gate);
        CLOSED_THEN_RELEASED.raised().await;
        port.post_message(gate)?;
        Ok(())
    }
}

#[test]
fn terminate_after_close_is_refused_and_does_not_cut_the_closing_message_short() {
    const CLOSED: u64 = 32_001;
    let worker = Worker::new(|| CloseThenAwait).unwrap();
    worker.post_message(CLOSED).unwrap();
    pass_gate(CLOSED);
    let refused = worker.terminate().unwrap_err();
    assert_eq!(refused.code(), Some(10200004), "{refused}");
    CLOSED_THEN_RELEASED.raise();
    assert_eq!(
        worker.recv_timeout(PATIENCE),
        Ok(CLOSED),
        "a refused terminate changes nothing: the closing handler runs to its end"
    );
    assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(0));
}

// ---- the state is checked before the size ------------------------------------------------------

#[test]
fn an_oversized_payload_to_a_terminated_worker_gets_10200004() {
    let worker = Worker::builder()
        .max_serialized_bytes(16)
        .spawn(|| Echo)
        .unwrap();
    worker.terminate().unwrap();
    assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(0));
    let big = Payload::encode(&"x".repeat(100), Encoding::Json).unwrap();
    let refused = worker.post_payload(big).unwrap_err();
    assert_eq!(refused.code(), Some(10200004), "{refused}");
    let refused = worker.post_message_serialized(&u64::MAX).unwrap_err();
    assert_eq!(refused.code(), Some(10200004), "{refused}");
}

// ---- a global call method that drops its own Worker --------------------------------------------

/// Calls the host's `owner.drop_me` and reports the call's outcome on a channel (its port is
/// refused once the worker is terminated).
struct CallsDropMe {
    outcome: mpsc::Sender<Option<u32>>,
}

impl WorkerHandler for CallsDropMe {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, _: u64, port: &WorkerPort<u64>) -> HandlerResult {
        let result: taskpool::Result<()> =
            port.call_global_object_method("owner", "drop_me", Duration::MAX, ());
        self.outcome.send(result.err().and_then(|e| e.code()))?;
        Ok(())
    }
}

#[test]
fn a_global_call_method_dropping_its_own_worker_ends_the_waiting_call_with_10200004() {
    let (outcome_tx, outcome) = mpsc::channel();
    let worker = Worker::builder()
        .name("p2-dropme")
        .join_timeout(Duration::from_secs(3600))
        .spawn(move || CallsDropMe {
            outcome: outcome_tx,
        })
        .unwrap();
    let (exit_tx, exit) = mpsc::channel();
    worker.on_exit(move |code| exit_tx.send(code).unwrap());
    let slot: Arc<Mutex<Option<Worker<u64, u64>>>> = Arc::new(Mutex::new(None));
    let (dropped_tx, dropped) = mpsc::channel();
    let object = CallObject::new(Arc::clone(&slot)).method(
        "drop_me",
        move |slot: &mut Arc<Mutex<Option<Worker<u64, u64>>>>, (): ()| {
            let own = slot.lock().unwrap().take();
            drop(own); // on the worker's host thread, while the worker waits for this call
            dropped_tx.send(()).unwrap();
        },
    );
    worker.register_global_call_object("owner", object).unwrap();
    *slot.lock().unwrap() = Some(worker);
    slot.lock()
        .unwrap()
        .as_ref()
        .unwrap()
        .post_message(1)
        .unwrap();
    assert_eq!(dropped.recv_timeout(PATIENCE), Ok(()));
    assert_eq!(
        outcome.recv_timeout(PATIENCE),
        Ok(Some(10200004)),
        "the call is answered by the drop, not by its timeout (10200021)"
    );
    assert_eq!(exit.recv_timeout(PATIENCE), Ok(0));
}
