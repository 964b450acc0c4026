//! Worker probes against the ArkTS Worker reference (`js-apis-worker.md`) and the worker guides:
//! values the runtime refuses or drops on the user's behalf (a message refused with 10200004,
//! the error that destroyed a worker), whose `Drop` may panic.

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{RwLock, RwLockReadGuard};

use serde::{Deserialize, Serialize};
use support::echo::Gated;
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

// ---- nested workers and stuck handlers: dropping never hangs, no thread is left ---------------

const LEAF_GATE: u64 = 41_101;

/// A link of the chain: owns its child worker (a leaf at depth 0) and forwards to it; replies
/// once the child said it started.
struct Nest {
    depth: u32,
    child: Option<Worker<u64, u64>>,
}

impl WorkerHandler for Nest {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, gate: u64, port: &WorkerPort<u64>) -> HandlerResult {
        let depth = self.depth;
        let name = format!("p-nest-{depth}");
        let builder = Worker::builder()
            .name(name)
            .join_timeout(std::time::Duration::from_millis(50));
        let child = if depth == 0 {
            builder.spawn(|| Gated)?
        } else {
            builder.spawn(move || Nest {
                depth: depth - 1,
                child: None,
            })?
        };
        child.post_message(gate)?;
        let started = child.recv_timeout(PATIENCE).map_err(|e| e.to_string())?;
        self.child = Some(child);
        port.post_message(started)?;
        Ok(())
    }
}

#[test]
fn dropping_the_root_of_nested_workers_with_a_stuck_leaf_returns_and_every_thread_ends() {
    let _cap = shared_cap();
    let root = Worker::builder()
        .name("p-nest-root")
        .spawn(|| Nest {
            depth: 2,
            child: None,
        })
        .unwrap();
    let (exits, exit) = std::sync::mpsc::channel();
    root.on_exit(move |code| exits.send(code).unwrap());
    root.post_message(LEAF_GATE).unwrap();
    assert_eq!(root.recv_timeout(PATIENCE), Ok(LEAF_GATE));
    // The root's handler state owns the chain; the leaf is stuck: its parent's drop waits at
    // most its join timeout, then detaches it. The rest of the chain ends normally.
    support::bounded("dropping the root", move || drop(root));
    assert_eq!(exit.recv_timeout(PATIENCE), Ok(0));
    open_gate(LEAF_GATE);
    support::wait_until("every nested worker thread is gone", || {
        support::threads_named("p-nest-") == 0
    });
}

/// Waits forever at an `.await` (a future that never completes).
struct Idle;

impl WorkerHandler for Idle {
    type In = u8;
    type Out = u8;

    async fn on_message(&mut self, n: u8, port: &WorkerPort<u8>) -> HandlerResult {
        port.post_message(n)?;
        std::future::pending::<()>().await;
        Ok(())
    }
}

#[test]
fn dropping_a_worker_awaiting_forever_stops_it_there_and_reports_exit_0() {
    let _cap = shared_cap();
    let worker = Worker::builder().name("p-idle").spawn(|| Idle).unwrap();
    let (exits, exit) = std::sync::mpsc::channel();
    worker.on_exit(move |code| exits.send(code).unwrap());
    worker.post_message(3).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(3));
    support::bounded("dropping an awaiting worker", move || drop(worker));
    assert_eq!(exit.recv_timeout(PATIENCE), Ok(0));
    support::wait_until("the idle worker's threads are gone", || {
        support::threads_named("p-idle") == 0
    });
}

// ---- churn with every host-side feature: callbacks, a call object, a global call ----------------

/// Asks the host's `counter` object for the next number and replies with it.
struct Asker;

impl WorkerHandler for Asker {
    type In = u8;
    type Out = u64;

    async fn on_message(&mut self, _: u8, port: &WorkerPort<u64>) -> HandlerResult {
        let next: u64 =
            port.call_global_object_method("counter", "next", std::time::Duration::ZERO, ())?;
        port.post_message(next)?;
        Ok(())
    }
}

#[test]
fn workers_churned_with_callbacks_call_objects_and_global_calls_leave_no_thread() {
    let _cap = shared_cap();
    for round in 0..60u64 {
        let worker = Worker::builder()
            .name("p-churn-all")
            .spawn(|| Asker)
            .unwrap();
        let counter = taskpool::CallObject::new(round).method("next", |n: &mut u64, (): ()| {
            *n += 1;
            *n
        });
        worker
            .register_global_call_object("counter", counter)
            .unwrap();
        let (replies, reply) = std::sync::mpsc::channel();
        if round % 2 == 0 {
            worker.on_message(move |n| replies.send(n).unwrap());
        }
        worker.on_exit(|_| {});
        worker.post_message(0).unwrap();
        let got = if round % 2 == 0 {
            reply.recv_timeout(PATIENCE).ok()
        } else {
            worker.recv_timeout(PATIENCE).ok()
        };
        assert_eq!(got, Some(round + 1));
        match round % 3 {
            0 => drop(worker),
            1 => {
                worker.terminate().unwrap();
                assert_eq!(worker.wait_for_exit(), 0);
            }
            _ => {
                worker.unregister_global_call_object(None).unwrap();
                worker.clear_callbacks();
            }
        }
    }
    support::wait_until("every churned worker and host thread is gone", || {
        support::threads_named("p-churn-all") == 0
    });
}

// ---- a constructor panic reaches on_error / on_all_errors registered after it -----------------

/// Never built: its constructor panics.
struct Unbuildable;

impl WorkerHandler for Unbuildable {
    type In = u8;
    type Out = u8;

    async fn on_message(&mut self, _: u8, _: &WorkerPort<u8>) -> HandlerResult {
        Ok(())
    }
}

fn failed_at_construction() -> Worker<u8, u8> {
    let worker = Worker::new(|| -> Unbuildable { panic!("no configuration") }).unwrap();
    // The constructor runs as soon as the thread starts: no callback can be registered before
    // it. Here it has certainly failed before the callback below is registered.
    assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(1));
    worker
}

#[test]
fn a_constructor_panic_reaches_on_error_registered_right_after_new() {
    let _cap = shared_cap();
    let worker = failed_at_construction();
    let (errors, error) = std::sync::mpsc::channel();
    worker.on_error(move |e| errors.send(e.to_string()).unwrap());
    let reported = error
        .recv_timeout(PATIENCE)
        .expect("on_error never heard of the failure");
    assert!(reported.contains("no configuration"), "{reported}");
    assert!(
        worker.take_exit_error().is_none(),
        "on_error took the error"
    );
}

#[test]
fn a_constructor_panic_reaches_on_all_errors_registered_right_after_new() {
    let _cap = shared_cap();
    let worker = failed_at_construction();
    let (errors, error) = std::sync::mpsc::channel();
    worker.on_all_errors(move |e| errors.send(e.to_string()).unwrap());
    let reported = error
        .recv_timeout(PATIENCE)
        .expect("on_all_errors never heard of the failure");
    assert!(reported.contains("no configuration"), "{reported}");
}

#[test]
fn on_error_registered_as_the_constructor_panics_hears_of_it_every_time() {
    let _cap = shared_cap();
    for round in 0..200 {
        let worker = Worker::new(|| -> Unbuildable { panic!("no configuration") }).unwrap();
        let (errors, error) = std::sync::mpsc::channel();
        // Races the constructor's panic: registered before it, after it, or as it is kept.
        worker.on_error(move |e| errors.send(e.to_string()).unwrap());
        let reported = error.recv_timeout(PATIENCE);
        assert!(
            reported.is_ok_and(|r| r.contains("no configuration")),
            "round {round}: on_error missed the constructor's panic"
        );
    }
}

// ---- several receivers share one burst: each message once, every receiver sees the end ---------

/// Replies with `0..n` for a message `n`, then closes its worker.
struct Burst;

impl WorkerHandler for Burst {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        for i in 0..n {
            port.post_message(i)?;
        }
        port.close()?;
        Ok(())
    }
}

#[test]
fn four_receivers_share_a_burst_of_ten_thousand_and_all_see_the_end() {
    let _cap = shared_cap();
    const N: u64 = 10_000;
    let worker = Worker::new(|| Burst).unwrap();
    let got = std::thread::scope(|scope| {
        let receivers: Vec<_> = (0..4)
            .map(|r| {
                let worker = &worker;
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    if r == 3 {
                        // One receiver streams, the others block.
                        support::block_on(async {
                            use futures::StreamExt;
                            let mut messages = worker.messages();
                            while let Some(n) = messages.next().await {
                                mine.push(n);
                            }
                        });
                    } else {
                        while let Ok(n) = worker.recv_timeout(PATIENCE) {
                            mine.push(n);
                        }
                    }
                    mine
                })
            })
            .collect();
        worker.post_message(N).unwrap();
        receivers
            .into_iter()
            .map(|r| r.join().unwrap())
            .collect::<Vec<_>>()
    });
    for mine in &got {
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "a receiver saw them out of order"
        );
    }
    let mut all: Vec<u64> = got.into_iter().flatten().collect();
    all.sort_unstable();
    assert_eq!(all, (0..N).collect::<Vec<_>>());
    assert_eq!(
        worker.recv_timeout(PATIENCE),
        Err(taskpool::RecvTimeoutError::Exited)
    );
}

// ---- a callback that holds its own worker (ArkTS's `workerInstance.onmessage = () => {
// workerInstance.terminate() }`) does not keep the worker's threads alive after the end ---------

#[test]
fn callbacks_holding_their_own_worker_are_released_at_the_exit_and_no_thread_is_left() {
    let _cap = shared_cap();
    let worker = std::sync::Arc::new(
        Worker::builder()
            .name("p-self-held")
            .spawn(|| support::echo::Echo)
            .unwrap(),
    );
    let (seen, replies) = std::sync::mpsc::channel();
    let itself = std::sync::Arc::clone(&worker);
    worker.on_message(move |n| {
        seen.send(n).unwrap();
        let _ = itself.terminate(); // as the guide's host does
    });
    worker.post_message(5).unwrap();
    assert_eq!(replies.recv_timeout(PATIENCE), Ok(5));
    assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(0));
    drop(worker);
    support::wait_until("the worker's threads are gone", || {
        support::threads_named("p-self-held") == 0
    });
}
