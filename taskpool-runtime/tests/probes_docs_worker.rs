//! Worker probes against the ArkTS Worker reference (`js-apis-worker.md`) and the worker guides:
//! values the runtime refuses or drops on the user's behalf (a message refused with 10200004,
//! the error that destroyed a worker), whose `Drop` may panic.

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{RwLock, RwLockReadGuard};

use serde::{Deserialize, Serialize};
use support::{PATIENCE, open_gate, pass_gate};
use taskpool::{HandlerResult, Worker, WorkerHandler, WorkerPort};

/// Tests that need the process-wide worker cap unchanged hold this for reading.
static CAP: RwLock<()> = RwLock::new(());

fn shared_cap() -> RwLockReadGuard<'static, ()> {
    CAP.read().unwrap_or_else(|e| e.into_inner())
}

/// A message whose `Drop` panics when armed.
#[derive(Debug, Serialize, Deserialize)]
struct Grenade {
    armed: bool,
}

impl Drop for Grenade {
    fn drop(&mut self) {
        if self.armed {
            self.armed = false;
            panic!("a refused message's Drop panicked");
        }
    }
}

/// Takes grenades and drops them unarmed; never replies.
struct Defuser;

impl WorkerHandler for Defuser {
    type In = Grenade;
    type Out = u8;

    async fn on_message(&mut self, mut grenade: Grenade, _: &WorkerPort<u8>) -> HandlerResult {
        grenade.armed = false;
        Ok(())
    }
}

// ---- a refused message is dropped without panicking the sender (ArkTS: postMessage on a worker
// that is not running throws 10200004, and nothing else happens) ---------------------------------

#[test]
fn a_message_refused_with_10200004_whose_drop_panics_does_not_panic_the_host() {
    let _cap = shared_cap();
    let worker = Worker::new(|| Defuser).unwrap();
    let to_worker = worker.worker_ref();
    worker.terminate().unwrap();
    assert_eq!(worker.wait_for_exit(), 0);
    let refused = catch_unwind(AssertUnwindSafe(|| {
        worker.post_message(Grenade { armed: true })
    }));
    let refused = refused.expect("the refused message's Drop panicked out of post_message");
    assert_eq!(refused.unwrap_err().code(), Some(10200004));
    let refused = catch_unwind(AssertUnwindSafe(|| {
        to_worker.post_message(Grenade { armed: true })
    }));
    let refused =
        refused.expect("the refused message's Drop panicked out of WorkerRef::post_message");
    assert_eq!(refused.unwrap_err().code(), Some(10200004));
    drop(worker);
    let refused = catch_unwind(AssertUnwindSafe(|| {
        to_worker.post_message(Grenade { armed: true })
    }));
    let refused = refused.expect("a WorkerRef to a dropped worker panicked");
    assert_eq!(refused.unwrap_err().code(), Some(10200004));
}

const REPLY_AFTER_TERMINATE: u64 = 41_001;

/// Waits at a gate, then replies with a grenade: by then the host terminated the worker.
struct LateReplier;

impl WorkerHandler for LateReplier {
    type In = u64;
    type Out = Grenade;

    async fn on_message(&mut self, gate: u64, port: &WorkerPort<Grenade>) -> HandlerResult {
        port.post_message(Grenade { armed: false })?; // "handling": the host terminates now
        pass_gate(gate);
        let refused = port.post_message(Grenade { armed: true });
        // The refusal must be an `Err`, not a panic out of `post_message`.
        assert_eq!(refused.as_ref().map_err(|e| e.code()), Err(Some(10200004)));
        refused?;
        Ok(())
    }
}

#[test]
fn a_reply_refused_after_terminate_whose_drop_panics_leaves_the_exit_normal() {
    let _cap = shared_cap();
    let worker = Worker::new(|| LateReplier).unwrap();
    worker.post_message(REPLY_AFTER_TERMINATE).unwrap();
    assert!(worker.recv_timeout(PATIENCE).is_ok());
    worker.terminate().unwrap();
    open_gate(REPLY_AFTER_TERMINATE);
    // Terminated: the reply `?` refused ends the worker normally, as any refused reply does.
    assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(0));
    assert!(worker.take_exit_error().is_none());
}

// ---- the error that destroyed a worker, never taken, is dropped with the worker -----------------

/// An error whose `Drop` panics.
#[derive(Debug)]
struct StickyError;

impl std::fmt::Display for StickyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a sticky error")
    }
}

impl std::error::Error for StickyError {}

impl Drop for StickyError {
    fn drop(&mut self) {
        panic!("the worker's error's Drop panicked");
    }
}

/// Fails every message with a [`StickyError`].
struct Failer;

impl WorkerHandler for Failer {
    type In = u8;
    type Out = u8;

    async fn on_message(&mut self, _: u8, _: &WorkerPort<u8>) -> HandlerResult {
        Err(Box::new(StickyError))
    }
}

#[test]
fn dropping_a_worker_whose_untaken_exit_error_panics_on_drop_does_not_panic_the_host() {
    let _cap = shared_cap();
    let worker = Worker::new(|| Failer).unwrap();
    worker.post_message(1).unwrap();
    // ArkTS: an exception with no onerror destroys the worker (exit code 1).
    assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(1));
    let dropped = catch_unwind(AssertUnwindSafe(move || drop(worker)));
    assert!(
        dropped.is_ok(),
        "the kept error's Drop panicked out of Worker::drop"
    );
}

// ---- user values given to a call that fails are dropped without panicking the caller ----------

/// Panics when dropped while armed: the state of a call object, a capture of a constructor.
struct Armed(bool);

impl Drop for Armed {
    fn drop(&mut self) {
        if self.0 {
            self.0 = false;
            panic!("a refused value's Drop panicked");
        }
    }
}

#[test]
fn a_call_object_refused_with_10200004_whose_drop_panics_does_not_panic_the_host() {
    let _cap = shared_cap();
    let worker = Worker::new(|| Defuser).unwrap();
    worker.terminate().unwrap();
    assert_eq!(worker.wait_for_exit(), 0);
    // ArkTS: registerGlobalCallObject on a worker that is not running throws 10200004.
    let object = taskpool::CallObject::new(Armed(true)).method("f", |_: &mut Armed, (): ()| 1u8);
    let refused = catch_unwind(AssertUnwindSafe(|| {
        worker.register_global_call_object("object", object)
    }));
    let refused = refused.expect("the refused object's Drop panicked out of the registration");
    assert_eq!(refused.unwrap_err().code(), Some(10200004));
}

/// Worker options `spawn` refuses (10200003): a name with a NUL byte, a serialized cap of 0.
fn refused_builders() -> Vec<taskpool::WorkerBuilder> {
    vec![
        Worker::builder().name("bad\0name"),
        Worker::builder().max_serialized_bytes(0),
        Worker::builder().stack_size(1),
    ]
}

#[test]
fn a_constructor_refused_with_10200003_whose_captures_panic_on_drop_does_not_panic_the_host() {
    let _cap = shared_cap();
    for builder in refused_builders() {
        let armed = Armed(true);
        let refused = catch_unwind(AssertUnwindSafe(|| {
            builder.spawn(move || {
                let _keep = &armed;
                Defuser
            })
        }));
        let refused = refused.expect("the refused constructor's Drop panicked out of spawn");
        assert_eq!(refused.unwrap_err().code(), Some(10200003));
    }
}

#[test]
fn a_constructor_refused_at_the_worker_cap_whose_captures_panic_on_drop_does_not_panic_the_host() {
    let _exclusive = CAP.write().unwrap_or_else(|e| e.into_inner());
    let before = taskpool::max_workers();
    taskpool::set_max_workers(taskpool::live_workers());
    let armed = Armed(true);
    let refused = catch_unwind(AssertUnwindSafe(|| {
        Worker::new(move || {
            let _keep = &armed;
            Defuser
        })
    }));
    taskpool::set_max_workers(before);
    let refused = refused.expect("the refused constructor's Drop panicked out of Worker::new");
    // ArkTS: more than the maximum of live workers is "Worker initialization failed".
    assert_eq!(refused.unwrap_err().code(), Some(10200003));
}
