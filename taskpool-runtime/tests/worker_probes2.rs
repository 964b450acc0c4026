//! Worker robustness probes, second pass: `terminate()` after `close()`, the order of checks on
//! posts to a worker that ended, a global call method that drops its own `Worker`, callbacks
//! that panic or never return, posts from `on_exit`, message bursts, nested workers and the
//! worker limit, odd global call arguments, and the TaskPool used inside a worker.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::Duration;

use futures::StreamExt;
use support::echo::Echo;
use support::{PATIENCE, Signal, open_gate, pass_gate, threads_named, wait_until};
use taskpool::{
    CallObject, Encoding, Error, HandlerResult, Payload, Task, TaskPool, Worker, WorkerHandler,
    WorkerPort, concurrent,
};

/// The worker cap is process-wide: the tests that change it hold this for writing, every other
/// test that starts workers holds it for reading.
static CAP: RwLock<()> = RwLock::new(());

fn shared_cap() -> RwLockReadGuard<'static, ()> {
    CAP.read().unwrap_or_else(|e| e.into_inner())
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
    let _cap = shared_cap();
    let _cap = shared_cap();
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

static NEVER_RAISED: Signal = Signal::new();

/// Closes itself, then awaits forever.
struct CloseThenHang;

impl WorkerHandler for CloseThenHang {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, gate: u64, port: &WorkerPort<u64>) -> HandlerResult {
        port.close()?;
        open_gate(gate);
        NEVER_RAISED.raised().await;
        Ok(())
    }
}

#[test]
fn dropping_the_worker_still_stops_a_closing_handler_at_its_await() {
    let _cap = shared_cap();
    const CLOSED: u64 = 32_002;
    let worker = Worker::builder()
        .name("p2-closehang")
        .join_timeout(Duration::from_secs(3600))
        .spawn(|| CloseThenHang)
        .unwrap();
    worker.post_message(CLOSED).unwrap();
    pass_gate(CLOSED);
    assert_eq!(worker.terminate().unwrap_err().code(), Some(10200004));
    let (dropped_tx, dropped) = mpsc::channel();
    std::thread::spawn(move || {
        drop(worker);
        dropped_tx.send(()).unwrap();
    });
    assert_eq!(
        dropped.recv_timeout(PATIENCE),
        Ok(()),
        "the drop stops the closing handler, it does not wait out its join timeout"
    );
    // Joined, yet Linux may list an exited thread for a moment longer.
    wait_until("its threads are gone", || {
        threads_named("p2-closehang") == 0
    });
}

// ---- the state is checked before the size ------------------------------------------------------

#[test]
fn an_oversized_payload_to_a_terminated_worker_gets_10200004() {
    let _cap = shared_cap();
    let _cap = shared_cap();
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
    let _cap = shared_cap();
    let _cap = shared_cap();
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

/// What a global call gave: its result, or its error's code.
type CallOutcome = Result<u64, Option<u32>>;

/// Calls `host.method` with its number and reports the outcome (the result or the error code)
/// on a channel, then replies.
struct CallsHost {
    object: &'static str,
    method: &'static str,
    timeout: Duration,
    outcome: mpsc::Sender<CallOutcome>,
}

impl WorkerHandler for CallsHost {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        // From 100 on, the longest timeout: a call that must not time out on a busy machine.
        let timeout = if n >= 100 {
            Duration::ZERO
        } else {
            self.timeout
        };
        let result: taskpool::Result<u64> =
            port.call_global_object_method(self.object, self.method, timeout, n);
        self.outcome.send(result.map_err(|e| e.code()))?;
        port.post_message(n)?;
        Ok(())
    }
}

fn calls_host(
    object: &'static str,
    method: &'static str,
    timeout: Duration,
) -> (Worker<u64, u64>, mpsc::Receiver<CallOutcome>) {
    let (outcome_tx, outcome) = mpsc::channel();
    let worker = Worker::new(move || CallsHost {
        object,
        method,
        timeout,
        outcome: outcome_tx,
    })
    .unwrap();
    (worker, outcome)
}

#[test]
fn terminate_ends_a_global_call_the_worker_waits_on_and_the_exit_is_normal() {
    let _cap = shared_cap();
    const ENTERED: u64 = 32_010;
    const RELEASE: u64 = 32_011;
    let (worker, outcome) = calls_host("slow", "wait", Duration::MAX);
    let (errors_tx, errors) = mpsc::channel();
    worker.on_error(move |e: Error| errors_tx.send(e.to_string()).unwrap());
    let object = CallObject::new(()).method("wait", |(): &mut (), n: u64| {
        open_gate(ENTERED);
        pass_gate(RELEASE);
        n
    });
    worker.register_global_call_object("slow", object).unwrap();
    worker.post_message(1).unwrap();
    pass_gate(ENTERED);
    worker.terminate().unwrap();
    assert_eq!(outcome.recv_timeout(PATIENCE), Ok(Err(Some(10200004))));
    assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(0));
    open_gate(RELEASE);
    assert!(
        errors.try_recv().is_err(),
        "a terminated worker reports no error"
    );
}

// ---- posts from on_exit, panicking and stuck callbacks ------------------------------------------

#[test]
fn posts_and_terminate_from_on_exit_get_10200004() {
    let _cap = shared_cap();
    let worker = Worker::new(|| Echo).unwrap();
    let to_worker = worker.worker_ref();
    let (seen_tx, seen) = mpsc::channel();
    worker.on_exit(move |code| {
        let posted = to_worker.post_message(1).map_err(|e| e.code());
        let serialized = to_worker.post_message_serialized(&1).map_err(|e| e.code());
        let terminated = to_worker.terminate().map_err(|e| e.code());
        seen_tx
            .send((code, posted, serialized, terminated, to_worker.is_running()))
            .unwrap();
    });
    worker.terminate().unwrap();
    let refused = Err(Some(10200004));
    assert_eq!(
        seen.recv_timeout(PATIENCE),
        Ok((0, refused, refused, refused, false))
    );
}

#[test]
fn panicking_callbacks_are_contained_and_every_event_still_arrives() {
    let _cap = shared_cap();
    let worker = Worker::builder().name("p2-panicky").spawn(|| Echo).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    worker.on_message(move |n| {
        counted.fetch_add(1, Ordering::SeqCst);
        panic!("on_message callback panics on {n}");
    });
    let counted = Arc::clone(&calls);
    worker.on_message_error(move |_| {
        counted.fetch_add(100, Ordering::SeqCst);
        panic!("on_message_error callback panics");
    });
    let (exit_tx, exit) = mpsc::channel();
    worker.on_exit(move |code| {
        exit_tx.send(code).unwrap();
        panic!("on_exit callback panics");
    });
    for n in 0..3 {
        worker.post_message(n).unwrap();
    }
    worker
        .post_payload(Payload::encode(&"not a number", Encoding::Json).unwrap())
        .unwrap();
    wait_until("every event reached its callback", || {
        calls.load(Ordering::SeqCst) == 103
    });
    worker.terminate().unwrap();
    assert_eq!(exit.recv_timeout(PATIENCE), Ok(0));
    drop(worker);
    // Joined, yet Linux may list an exited thread for a moment longer.
    wait_until("its threads are gone", || threads_named("p2-panicky") == 0);
}

#[test]
fn a_callback_that_never_returns_does_not_hold_the_drop_past_its_timeout() {
    let _cap = shared_cap();
    const STUCK: u64 = 32_020;
    const ENTERED: u64 = 32_021;
    let worker = Worker::builder()
        .name("p2-stuckcb")
        .join_timeout(Duration::from_millis(20))
        .spawn(|| Echo)
        .unwrap();
    worker.on_message(|_| {
        open_gate(ENTERED);
        pass_gate(STUCK);
    });
    worker.post_message(1).unwrap();
    pass_gate(ENTERED);
    drop(worker); // the worker thread ends; the host thread is detached in its callback
    open_gate(STUCK);
    wait_until("the detached host thread ends", || {
        threads_named("p2-stuckcb") == 0
    });
}

// ---- exit codes ---------------------------------------------------------------------------------

/// Its `Drop` panics: user code run when the worker ends.
struct DropPanics;

impl Drop for DropPanics {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("the handler's Drop panics");
        }
    }
}

impl WorkerHandler for DropPanics {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        port.post_message(n)?;
        Ok(())
    }
}

#[test]
fn a_handler_whose_drop_panics_exits_with_1_and_reports_the_panic() {
    let _cap = shared_cap();
    let worker = Worker::new(|| DropPanics).unwrap();
    let (exit_tx, exit) = mpsc::channel();
    let (errors_tx, errors) = mpsc::channel();
    worker.on_error(move |e: Error| errors_tx.send(e.to_string()).unwrap());
    worker.on_exit(move |code| exit_tx.send(code).unwrap());
    worker.post_message(3).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(3));
    worker.terminate().unwrap();
    assert_eq!(exit.recv_timeout(PATIENCE), Ok(1));
    let error = errors.recv_timeout(PATIENCE).unwrap();
    assert!(error.contains("the handler's Drop panics"), "{error}");
}

/// Closes itself, then fails.
struct CloseThenFail;

impl WorkerHandler for CloseThenFail {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, _: u64, port: &WorkerPort<u64>) -> HandlerResult {
        port.close()?;
        let again = port.close().unwrap_err();
        assert_eq!(again.code(), Some(10200004));
        Err("failed after close".into())
    }
}

#[test]
fn an_error_after_close_still_exits_with_1() {
    let _cap = shared_cap();
    let worker = Worker::new(|| CloseThenFail).unwrap();
    worker.post_message(1).unwrap();
    assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(1));
    let error = worker.take_exit_error().expect("kept for the host");
    assert!(error.to_string().contains("failed after close"), "{error}");
}

// ---- on_message_error and on_all_errors ---------------------------------------------------------

/// Refuses undecodable messages: its `on_message_error` fails.
struct Strict;

impl WorkerHandler for Strict {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        port.post_message(n)?;
        Ok(())
    }

    fn on_message_error(&mut self, error: Error, _port: &WorkerPort<u64>) -> HandlerResult {
        Err(format!("refused: {error}").into())
    }
}

#[test]
fn a_failing_on_message_error_is_survived_under_on_all_errors_and_destroys_otherwise() {
    let _cap = shared_cap();
    let junk = || Payload::encode(&"not a number", Encoding::Json).unwrap();
    let lenient = Worker::new(|| Strict).unwrap();
    let (errors_tx, errors) = mpsc::channel();
    lenient.on_all_errors(move |e: Error| errors_tx.send(e.to_string()).unwrap());
    lenient.post_payload(junk()).unwrap();
    lenient.post_message(7).unwrap();
    assert_eq!(lenient.recv_timeout(PATIENCE), Ok(7));
    assert!(errors.recv_timeout(PATIENCE).unwrap().contains("refused"));

    let strict = Worker::new(|| Strict).unwrap();
    strict.post_payload(junk()).unwrap();
    assert_eq!(strict.wait_for_exit_timeout(PATIENCE), Some(1));
    assert!(
        strict
            .take_exit_error()
            .unwrap()
            .to_string()
            .contains("refused")
    );
    assert_eq!(strict.message_errors(), 1);
}

// ---- ordering -----------------------------------------------------------------------------------

#[test]
fn messages_posted_before_the_handler_is_built_are_handled_in_order() {
    let _cap = shared_cap();
    const BUILT: u64 = 32_030;
    let worker = Worker::new(|| {
        pass_gate(BUILT);
        Echo
    })
    .unwrap();
    for n in 0..1_000 {
        if n % 2 == 0 {
            worker.post_message(n).unwrap();
        } else {
            worker.post_message_serialized(&n).unwrap();
        }
    }
    open_gate(BUILT);
    for n in 0..1_000 {
        assert_eq!(worker.recv_timeout(PATIENCE), Ok(n));
    }
}

#[test]
fn a_burst_of_ten_thousand_messages_keeps_its_order_through_callbacks_and_receivers() {
    let _cap = shared_cap();
    const N: u64 = 10_000;
    let worker = Worker::new(|| Echo).unwrap();
    for n in 0..N {
        worker.post_message(n).unwrap();
    }
    for n in 0..N {
        assert_eq!(worker.recv_timeout(PATIENCE), Ok(n));
    }
    let (seen_tx, seen) = mpsc::channel();
    worker.on_message(move |n| seen_tx.send(n).unwrap());
    for n in 0..N {
        worker.post_message_serialized(&n).unwrap();
    }
    for n in 0..N {
        assert_eq!(seen.recv_timeout(PATIENCE), Ok(n));
    }
}

#[test]
fn dropping_a_worker_with_messages_in_flight_ends_its_stream_after_an_ordered_prefix() {
    let _cap = shared_cap();
    let worker = Worker::builder()
        .name("p2-inflight")
        .spawn(|| Echo)
        .unwrap();
    let stream = worker.messages();
    for n in 0..10_000 {
        worker.post_message(n).unwrap();
    }
    drop(worker);
    let got: Vec<u64> = support::block_on(stream.collect());
    assert_eq!(got, (0..got.len() as u64).collect::<Vec<_>>());
    // Joined, yet Linux may list an exited thread for a moment longer.
    wait_until("its threads are gone", || threads_named("p2-inflight") == 0);
}

// ---- global call objects: names and timeouts ----------------------------------------------------

#[test]
fn global_calls_with_unknown_or_odd_names_and_extreme_timeouts_are_answered() {
    let _cap = shared_cap();
    // No object registered at all (the host thread never started).
    let (worker, outcome) = calls_host("nobody", "nothing", Duration::ZERO);
    worker.post_message(1).unwrap();
    assert_eq!(outcome.recv_timeout(PATIENCE), Ok(Err(Some(10200019))));
    drop(worker);

    let odd = ["", "\0", "名前", "x"];
    for object in odd {
        for method in odd {
            let (worker, outcome) = calls_host(object, method, Duration::from_nanos(1));
            let echo = CallObject::new(()).method("x", |(): &mut (), n: u64| n);
            worker.register_global_call_object("x", echo).unwrap();
            worker.post_message(5).unwrap();
            let got = outcome.recv_timeout(PATIENCE).unwrap();
            let expected = match (object, method) {
                ("x", "x") => Ok(5),
                ("x", _) => Err(Some(10200020)),
                _ => Err(Some(10200019)),
            };
            // A nanosecond may run out before the host thread looks: 10200021 then.
            assert!(
                got == expected || got == Err(Some(10200021)),
                "{object:?}.{method:?}: {got:?}"
            );
        }
    }
    for timeout in [Duration::ZERO, Duration::MAX] {
        let (worker, outcome) = calls_host("x", "x", timeout);
        let echo = CallObject::new(()).method("x", |(): &mut (), n: u64| n);
        worker.register_global_call_object("x", echo).unwrap();
        worker.post_message(9).unwrap();
        assert_eq!(outcome.recv_timeout(PATIENCE), Ok(Ok(9)), "{timeout:?}");
    }
}

// ---- nested workers and the worker limit --------------------------------------------------------

/// Restores the cap when a limit test ends, even by a panic.
struct CapGuard(usize);

impl Drop for CapGuard {
    fn drop(&mut self) {
        taskpool::set_max_workers(self.0);
    }
}

/// Starts a child worker per message and reports whether it could (its error code if not);
/// the children live as long as the parent's handler.
struct Parent {
    children: Vec<Worker<u64, u64>>,
}

impl WorkerHandler for Parent {
    type In = u64;
    type Out = Result<u64, Option<u32>>;

    async fn on_message(
        &mut self,
        n: u64,
        port: &WorkerPort<Result<u64, Option<u32>>>,
    ) -> HandlerResult {
        match Worker::new(|| Echo) {
            Ok(child) => {
                child.post_message(n)?;
                let echoed = child.recv_timeout(PATIENCE)?;
                self.children.push(child);
                port.post_message(Ok(echoed))?;
            }
            Err(e) => port.post_message(Err(e.code()))?,
        }
        Ok(())
    }
}

/// Panics on its first message.
struct Bang;

impl WorkerHandler for Bang {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, _port: &WorkerPort<u64>) -> HandlerResult {
        panic!("bang {n}");
    }
}

#[test]
fn worker_slots_are_refused_past_the_cap_and_given_back_however_a_worker_ends() {
    let _cap = CAP.write().unwrap_or_else(|e| e.into_inner());
    let _restore = CapGuard(taskpool::max_workers());
    // Workers detached by earlier tests may still hold slots: the cap is set above them.
    let base = taskpool::live_workers();
    taskpool::set_max_workers(base + 2);

    let parent = Worker::new(|| Parent {
        children: Vec::new(),
    })
    .unwrap();
    parent.post_message(1).unwrap();
    assert_eq!(
        parent.recv_timeout(PATIENCE),
        Ok(Ok(1)),
        "a worker starts a worker"
    );
    parent.post_message(2).unwrap();
    assert_eq!(
        parent.recv_timeout(PATIENCE),
        Ok(Err(Some(10200003))),
        "the parent's second child is one too many"
    );
    assert_eq!(Worker::new(|| Echo).unwrap_err().code(), Some(10200003));
    drop(parent); // its child goes with it
    assert_eq!(taskpool::live_workers(), base);

    // A handler that panics gives its slot back when its thread ends.
    let bang = Worker::new(|| Bang).unwrap();
    let second = Worker::new(|| Echo).unwrap();
    bang.post_message(1).unwrap();
    assert_eq!(bang.wait_for_exit_timeout(PATIENCE), Some(1));
    let third = Worker::new(|| Echo).expect("the panicked worker's slot was given back");
    drop((bang, second, third));

    // A constructor that panics too.
    let failed = Worker::new(|| -> Echo { panic!("no handler") }).unwrap();
    assert_eq!(failed.wait_for_exit_timeout(PATIENCE), Some(1));
    drop(failed);
    assert_eq!(taskpool::live_workers(), base);

    // A leaked `Worker` keeps its worker running (nothing can tell it apart from a live one)
    // until a `WorkerRef` terminates it; then its slot comes back.
    let leaked = Worker::new(|| Echo).unwrap();
    let to_leaked = leaked.worker_ref();
    std::mem::forget(leaked);
    assert_eq!(taskpool::live_workers(), base + 1);
    to_leaked.terminate().unwrap();
    wait_until("the leaked worker's slot is given back", || {
        taskpool::live_workers() == base
    });
    let _a = Worker::new(|| Echo).unwrap();
    let _b = Worker::new(|| Echo).unwrap();
}

// ---- the TaskPool inside a worker ----------------------------------------------------------------

#[concurrent]
fn square(x: u64) -> u64 {
    x * x
}

/// Squares each number on the global TaskPool and replies with the result.
struct GlobalPoolUser;

impl WorkerHandler for GlobalPoolUser {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        let squared = TaskPool::global().execute(Task::new(square, (n,))).await?;
        port.post_message(squared)?;
        Ok(())
    }
}

#[concurrent]
fn worker_in_a_task(n: u64) -> u64 {
    let worker = Worker::new(|| GlobalPoolUser).unwrap();
    worker.post_message(n).unwrap();
    // Without a deadline: a pool thread that waits stands in for the threads the pool's
    // ceiling forbids, so the worker's own task on this pool runs (a deadline would not).
    worker.recv().unwrap()
}

#[test]
fn workers_inside_pool_tasks_await_the_same_pool_their_tasks_wait_on() {
    let _cap = shared_cap();
    let pool = TaskPool::global();
    let handles: Vec<_> = (0..8)
        .map(|n| pool.execute(Task::new(worker_in_a_task, (n,))))
        .collect();
    let squares: Vec<u64> = handles
        .into_iter()
        .map(|mut h| h.wait_timeout(PATIENCE).expect("no deadlock").unwrap())
        .collect();
    assert_eq!(squares, (0..8).map(|n| n * n).collect::<Vec<_>>());
}

/// Squares its message on `support::one_thread_pool`, replies, and closes.
struct SquareThenClose;

impl WorkerHandler for SquareThenClose {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        let squared = support::one_thread_pool()
            .execute(Task::new(square, (n,)))
            .await?;
        port.post_message(squared)?;
        port.close()?;
        Ok(())
    }
}

#[concurrent]
fn wait_for_the_exit_of_a_worker_needing_this_pool(n: u64) -> (i32, Option<u64>) {
    let worker = Worker::new(|| SquareThenClose).unwrap();
    worker.post_message(n).unwrap();
    let code = worker.wait_for_exit();
    (code, worker.recv())
}

/// Regression: `wait_for_exit` in a pool task only counted its thread as blocked; on a pool
/// that could add no thread, the worker's task on that pool never ran and both waited forever.
/// It stands in for the stranded work, as `recv` does.
#[test]
fn wait_for_exit_in_a_task_runs_the_pool_work_its_worker_awaits() {
    let _cap = shared_cap();
    let task = Task::new(wait_for_the_exit_of_a_worker_needing_this_pool, (7,));
    let mut handle = support::one_thread_pool().execute(task);
    let outcome = handle.wait_timeout(PATIENCE).expect("no deadlock");
    assert_eq!(outcome.unwrap(), (0, Some(49)));
}

// ---- user code in serialization -----------------------------------------------------------------

/// A message whose `Serialize` panics (a user impl with a bug).
#[derive(Debug, PartialEq)]
struct Unserializable(u64);

impl serde::Serialize for Unserializable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("Serialize panics for {}", self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Unserializable {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        u64::deserialize(deserializer).map(Unserializable)
    }
}

/// Sends back what it gets, serialized, and calls the host with it; reports both outcomes.
struct SerializesBack;

impl WorkerHandler for SerializesBack {
    type In = Unserializable;
    type Out = Option<u32>;

    async fn on_message(
        &mut self,
        message: Unserializable,
        port: &WorkerPort<Option<u32>>,
    ) -> HandlerResult {
        let replied = port
            .post_message_serialized(&None)
            .err()
            .and_then(|e| e.code());
        let called: taskpool::Result<u64> =
            port.call_global_object_method("any", "thing", Duration::ZERO, message);
        port.post_message(replied)?;
        port.post_message(called.err().and_then(|e| e.code()))?;
        Ok(())
    }
}

#[test]
fn a_panicking_serialize_gives_10200006_to_the_sender_and_panics_no_one() {
    let _cap = shared_cap();
    let worker = Worker::new(|| SerializesBack).unwrap();
    let refused = worker
        .post_message_serialized(&Unserializable(1))
        .unwrap_err();
    assert_eq!(refused.code(), Some(10200006), "{refused}");
    assert!(
        refused.to_string().contains("Serialize panics for 1"),
        "{refused}"
    );
    let refused = worker
        .worker_ref()
        .post_message_serialized(&Unserializable(2))
        .unwrap_err();
    assert_eq!(refused.code(), Some(10200006), "{refused}");
    worker.post_message(Unserializable(3)).unwrap(); // moved: no serialization
    assert_eq!(
        worker.recv_timeout(PATIENCE),
        Ok(None),
        "the serialized reply"
    );
    assert_eq!(
        worker.recv_timeout(PATIENCE),
        Ok(None),
        "which was accepted"
    );
    assert_eq!(
        worker.recv_timeout(PATIENCE),
        Ok(Some(10200006)),
        "the call's argument does not"
    );
    assert!(worker.is_running(), "the worker lives on");
}

// ---- a call that re-enters its worker -----------------------------------------------------------

#[test]
fn a_global_method_that_waits_for_its_own_worker_times_the_call_out_and_both_go_on() {
    let _cap = shared_cap();
    let (worker, outcome) = calls_host("loop", "back", Duration::from_millis(50));
    let to_worker = worker.worker_ref();
    let (go_tx, go) = mpsc::channel::<()>();
    let go = Mutex::new(go);
    let object = CallObject::new(()).method("back", move |(): &mut (), n: u64| {
        if n == 1 {
            // Re-enters the worker, which is blocked in this very call: message 2 waits until
            // the call gives up, and this method until the test saw message 2 handled.
            to_worker.post_message(2).unwrap();
            go.lock().unwrap().recv_timeout(PATIENCE).unwrap();
        }
        n * 10
    });
    worker.register_global_call_object("loop", object).unwrap();
    worker.post_message(1).unwrap();
    assert_eq!(outcome.recv_timeout(PATIENCE), Ok(Err(Some(10200021))));
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(1));
    // Message 2's call waits behind the method, which waits for the test: it times out too.
    assert_eq!(outcome.recv_timeout(PATIENCE), Ok(Err(Some(10200021))));
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(2));
    go_tx.send(()).unwrap();
    worker.post_message(300).unwrap();
    assert_eq!(
        outcome.recv_timeout(PATIENCE),
        Ok(Ok(3000)),
        "the object is callable again"
    );
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(300));
}

// ---- a Worker dropped inside a pool task ------------------------------------------------------

static STUCK_ENTERED: Signal = Signal::new();

/// Blocks in synchronous code until its gate opens: a drop of its `Worker` must wait for it.
struct StuckUntilGate(u64);

impl WorkerHandler for StuckUntilGate {
    type In = ();
    type Out = ();

    async fn on_message(&mut self, _: (), _port: &WorkerPort<()>) -> HandlerResult {
        STUCK_ENTERED.raise();
        pass_gate(self.0);
        Ok(())
    }
}

#[concurrent]
fn drop_a_stuck_worker(gate: u64) -> bool {
    let worker = Worker::builder()
        .join_timeout(PATIENCE)
        .spawn(move || StuckUntilGate(gate))
        .unwrap();
    worker.post_message(()).unwrap();
    support::block_on(STUCK_ENTERED.raised());
    // Waits for the handler, which returns once the gate opens.
    drop(worker);
    true
}

#[concurrent]
fn open_the_gate(gate: u64) -> bool {
    open_gate(gate);
    true
}

/// A task that drops a `Worker` waits for its thread (up to the join timeout): the pool thread
/// counts as blocked meanwhile, so the pool may add a thread for the work waiting behind it —
/// here, the very task that lets the handler return. Before, the only thread sat in the drop
/// for the whole join timeout.
#[test]
fn a_worker_dropped_inside_a_task_lets_the_pool_run_other_work_meanwhile() {
    let _cap = shared_cap();
    let gate = 31_000;
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let mut dropping = pool.execute(Task::new(drop_a_stuck_worker, (gate,)));
    support::block_on(STUCK_ENTERED.raised());
    let mut opener = pool.execute(Task::new(open_the_gate, (gate,)));
    let opened = opener.wait_timeout(PATIENCE / 2);
    open_gate(gate);
    assert!(
        matches!(opened, Some(Ok(true))),
        "the pool was held by the drop: {opened:?}"
    );
    assert!(matches!(dropping.wait_timeout(PATIENCE), Some(Ok(true))));
}

// ---- a stream waiting while a blocking receiver holds the end ---------------------------------

/// A waker that counts its wakes, for polling a stream by hand.
struct CountingWaker(Mutex<usize>, std::sync::Condvar);

impl std::task::Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        *self.0.lock().unwrap() += 1;
        self.1.notify_all();
    }
}

impl CountingWaker {
    /// Waits until the count passes `seen`; false after `PATIENCE` without a wake.
    fn woken_after(&self, seen: usize) -> bool {
        let count = self.0.lock().unwrap();
        let (count, _) = self
            .1
            .wait_timeout_while(count, PATIENCE, |count| *count <= seen)
            .unwrap();
        *count > seen
    }
}

/// The end of a worker's messages is one item that each receiver takes and puts back. A stream
/// that looks while a blocking receiver holds it registers its waker and returns `Pending`; the
/// put-back must wake it. Before, only the worker's exit woke streams, so such a stream slept
/// for good (seen as a hang of `four_receivers_share_a_burst_of_ten_thousand_and_all_see_the_end`
/// in `probes_docs_worker.rs`, about once in ten runs of the suite).
#[test]
fn a_stream_that_looked_while_a_receiver_held_the_end_is_woken_when_it_is_put_back() {
    use std::task::{Context, Poll, Waker};
    let _cap = shared_cap();
    let worker = Worker::new(|| Echo).unwrap();
    worker.terminate().unwrap();
    assert!(worker.wait_for_exit_timeout(PATIENCE).is_some());
    let stop = std::sync::atomic::AtomicBool::new(false);
    let pending = std::thread::scope(|scope| {
        // Take the end and put it back, again and again.
        for _ in 0..3 {
            scope.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    assert!(worker.recv_timeout(PATIENCE).is_err());
                }
            });
        }
        let counter = Arc::new(CountingWaker(Mutex::new(0), std::sync::Condvar::new()));
        let waker = Waker::from(Arc::clone(&counter));
        let mut pending = 0;
        for _ in 0..20_000 {
            let mut messages = worker.messages();
            loop {
                let seen = *counter.0.lock().unwrap();
                match messages.poll_next_unpin(&mut Context::from_waker(&waker)) {
                    Poll::Ready(None) => break,
                    Poll::Ready(Some(n)) => panic!("a message after the end: {n}"),
                    Poll::Pending => {
                        pending += 1;
                        let woken = counter.woken_after(seen);
                        if !woken {
                            stop.store(true, Ordering::SeqCst);
                        }
                        assert!(
                            woken,
                            "a waiting stream was not woken when the end came back"
                        );
                    }
                }
            }
        }
        stop.store(true, Ordering::SeqCst);
        pending
    });
    // Not an assertion (a fast machine may never hit the window): how often it was exercised.
    eprintln!("the stream waited {pending} times");
}
