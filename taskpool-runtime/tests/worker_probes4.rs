//! Worker probes, fourth round: what a detached host thread leaves behind, the hand-over of an
//! error when both error callbacks are registered, and further probes of js-apis-worker.md.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use futures::StreamExt;

use support::echo::{Echo, ThreeThenClose};
use support::{Bomb, PATIENCE, open_gate, pass_gate, wait_until};
use taskpool::{HandlerResult, Worker, WorkerHandler, WorkerPort};

/// Sets its flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A flag and the value that sets it when dropped.
fn drop_flag() -> (Arc<AtomicBool>, DropFlag) {
    let released = Arc::new(AtomicBool::new(false));
    (Arc::clone(&released), DropFlag(released))
}

/// A join timeout the host thread is kept past by a gate: the drop detaches it. Its length
/// changes nothing but how long the drop waits; the gate decides the outcome.
const DETACH_AFTER: Duration = Duration::from_millis(20);

/// Dropping a `Worker` whose host thread is detached (stuck in a callback past `join_timeout`)
/// still releases the callbacks left registered, once that thread leaves. Before, only an
/// ended host thread had them released by the drop; a detached one left on its `Stop` job
/// without releasing them, so one holding the worker's message stream (an `Arc` of the link)
/// kept itself, the stream and the link alive for good.
#[test]
fn a_detached_host_thread_releases_the_callbacks_left_when_it_leaves() {
    const IN_EXIT: u64 = 96_001;
    const LEAVE_EXIT: u64 = 96_002;
    let worker = Worker::builder()
        .join_timeout(DETACH_AFTER)
        .spawn(|| Echo)
        .unwrap();
    worker.terminate().unwrap();
    assert_eq!(worker.wait_for_exit(), 0);
    // Registered after the end: `on_exit` runs at once, on the host thread, and holds it.
    worker.on_exit(|_| {
        open_gate(IN_EXIT);
        pass_gate(LEAVE_EXIT);
    });
    pass_gate(IN_EXIT);
    // Registered after the end too: the exit does not release it, the drop must.
    let (released, flag) = drop_flag();
    let stream = worker.messages();
    worker.on_message(move |_: u64| {
        let _ = (&flag, &stream);
    });
    drop(worker); // the host thread is stuck in `on_exit`: detached
    open_gate(LEAVE_EXIT);
    wait_until("the callback left is released", || {
        released.load(Ordering::SeqCst)
    });
}

/// The same when the `Worker` is dropped by one of its own callbacks (on its host thread, which
/// the drop cannot wait for): the callbacks left are released once that thread leaves.
#[test]
fn a_worker_dropped_by_its_own_callback_releases_the_callbacks_left() {
    let worker = Worker::new(|| Echo).unwrap();
    worker.terminate().unwrap();
    assert_eq!(worker.wait_for_exit(), 0);
    let (released, flag) = drop_flag();
    let stream = worker.messages();
    worker.on_message(move |_: u64| {
        let _ = (&flag, &stream);
    });
    let owner = Arc::new(std::sync::Mutex::new(Some(worker)));
    let (dropped_tx, dropped) = mpsc::channel();
    let for_exit = Arc::clone(&owner);
    let guard = owner.lock().unwrap();
    guard.as_ref().unwrap().on_exit(move |_| {
        drop(for_exit.lock().unwrap().take());
        dropped_tx.send(()).unwrap();
    });
    drop(guard);
    assert_eq!(dropped.recv_timeout(PATIENCE), Ok(()));
    wait_until("the callback left is released", || {
        released.load(Ordering::SeqCst)
    });
}

/// Fails on 0 (an `Err`, which destroys the worker unless `on_all_errors` is registered),
/// echoes any other number.
struct FailsOnZero;

impl WorkerHandler for FailsOnZero {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        if n == 0 {
            return Err("zero".into());
        }
        port.post_message(n)?;
        Ok(())
    }
}

/// When `on_error` is registered, relative to the failure and to `on_all_errors`.
#[derive(Debug, Clone, Copy)]
enum OnError {
    /// Before the failure: the worker routes the error to it.
    BeforeTheFailure,
    /// After the failure (the error was kept), before `on_all_errors`.
    ThenOnAllErrors,
    /// After the failure, after `on_all_errors`.
    AfterOnAllErrors,
}

/// Registers an `on_error` that says so on `heard`.
fn hear_on_error(worker: &Worker<u64, u64>, heard: &mpsc::Sender<&'static str>) {
    let heard = heard.clone();
    worker.on_error(move |_| heard.send("on_error").unwrap());
}

/// "`on_error` is ignored while `on_all_errors` is registered" (README; js-apis-worker.md and
/// worker-introduction.md recommend `onAllErrors` over `onerror`): an error still on its way to
/// the host callbacks when both are registered goes to `on_all_errors`, whichever was
/// registered first and whether the worker routed it to `on_error` or kept it (no callback
/// then), and only once. The host thread is held in an `on_message` callback while the error
/// waits behind it.
/// Before, `on_error` took it when the worker had routed it there, or when `on_error` was
/// registered first after the failure (the hand-over looked at `on_error` first).
#[test]
fn an_error_handed_over_while_both_error_callbacks_are_registered_goes_to_on_all_errors() {
    let mut gates = 96_010..;
    for when in [
        OnError::BeforeTheFailure,
        OnError::ThenOnAllErrors,
        OnError::AfterOnAllErrors,
    ] {
        let (in_message, leave_message) = (gates.next().unwrap(), gates.next().unwrap());
        let worker = Worker::new(|| FailsOnZero).unwrap();
        worker.on_message(move |_| {
            open_gate(in_message);
            pass_gate(leave_message);
        });
        let (heard_tx, heard) = mpsc::channel();
        if let OnError::BeforeTheFailure = when {
            hear_on_error(&worker, &heard_tx);
        }
        worker.post_message(1).unwrap();
        pass_gate(in_message); // the host thread is busy: what comes next waits behind
        worker.post_message(0).unwrap();
        assert_eq!(worker.wait_for_exit(), 1, "destroyed: no on_all_errors yet");
        if let OnError::ThenOnAllErrors = when {
            hear_on_error(&worker, &heard_tx);
        }
        let to_all = heard_tx.clone();
        worker.on_all_errors(move |_| to_all.send("on_all_errors").unwrap());
        if let OnError::AfterOnAllErrors = when {
            hear_on_error(&worker, &heard_tx);
        }
        worker.on_exit(move |_| heard_tx.send("on_exit").unwrap());
        open_gate(leave_message);
        // Everything the host thread ran: the drop joins it, which releases the callbacks and
        // with them every sender. (A callback registered after the exit may hear of its error
        // before or after `on_exit`: only which callbacks ran is compared.)
        drop(worker);
        let mut got: Vec<&str> = std::iter::from_fn(|| heard.recv_timeout(PATIENCE).ok()).collect();
        got.sort_unstable();
        assert_eq!(
            got,
            ["on_all_errors", "on_exit"],
            "on_error registered {when:?}"
        );
    }
}

/// Spawns, for each message, a local task that holds a [`DropFlag`] and a [`Bomb`] (a `Drop`
/// that panics) and waits forever.
struct SpawnsBombs(Vec<Option<DropFlag>>);

impl WorkerHandler for SpawnsBombs {
    type In = u32;
    type Out = u32;

    async fn on_message(&mut self, bomb: u32, port: &WorkerPort<u32>) -> HandlerResult {
        let held = (self.0.pop().flatten(), Bomb(bomb));
        port.spawn_local(async move {
            let _held = held;
            std::future::pending::<()>().await;
            Ok(())
        });
        port.post_message(bomb)?;
        Ok(())
    }
}

/// Tasks from `spawn_local` still waiting when the worker ends are dropped with its executor;
/// two whose `Drop` panics are each dropped (the second is not leaked by the first's panic),
/// and the panic is no error of a terminated worker (exit code 0, as a refused reply's).
#[test]
fn spawned_tasks_whose_drop_panics_are_each_dropped_at_the_end() {
    let (first, first_flag) = drop_flag();
    let (second, second_flag) = drop_flag();
    let flags = vec![Some(second_flag), Some(first_flag)];
    let worker = Worker::new(move || SpawnsBombs(flags)).unwrap();
    for bomb in [96_101, 96_102] {
        worker.post_message(bomb).unwrap();
        assert_eq!(worker.recv_timeout(PATIENCE), Ok(bomb));
    }
    worker.terminate().unwrap();
    let code = worker.wait_for_exit();
    assert!(first.load(Ordering::SeqCst), "the first task was dropped");
    assert!(second.load(Ordering::SeqCst), "the second task was dropped");
    assert_eq!(code, 0);
    assert!(worker.take_exit_error().is_none());
}

/// A future that completes at once and holds a [`Bomb`]: its `Drop` panics after it completed.
struct DoneThenBomb {
    _bomb: Bomb,
}

impl std::future::Future for DoneThenBomb {
    type Output = HandlerResult;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<HandlerResult> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// Spawns a [`DoneThenBomb`] for 0, echoes any other number.
struct SpawnsADoneBomb;

impl WorkerHandler for SpawnsADoneBomb {
    type In = u32;
    type Out = u32;

    async fn on_message(&mut self, n: u32, port: &WorkerPort<u32>) -> HandlerResult {
        if n == 0 {
            port.spawn_local(DoneThenBomb {
                _bomb: Bomb(96_103),
            });
        } else {
            port.post_message(n)?;
        }
        Ok(())
    }
}

/// A spawned task whose `Drop` panics once it completed is a failure of that task, reported as
/// any other: under `on_all_errors` the worker lives on. Before, the panic escaped the
/// worker's executor and ended its whole message loop (exit code 1) whatever the error mode.
#[test]
fn a_completed_spawned_task_whose_drop_panics_is_a_failure_the_worker_survives() {
    let worker = Worker::new(|| SpawnsADoneBomb).unwrap();
    let (errors_tx, errors) = mpsc::channel();
    worker.on_all_errors(move |error| errors_tx.send(error.to_string()).unwrap());
    worker.post_message(0).unwrap();
    let error = errors.recv_timeout(PATIENCE).unwrap();
    assert!(error.contains("bomb 96103"), "{error}");
    worker.post_message(5).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(5), "the worker lives on");
    assert!(worker.is_running());
}

/// Holds a [`Bomb`] across an `.await` that never completes.
struct HoldsABombForever;

impl WorkerHandler for HoldsABombForever {
    type In = u32;
    type Out = u32;

    async fn on_message(&mut self, bomb: u32, port: &WorkerPort<u32>) -> HandlerResult {
        let _held = Bomb(bomb);
        port.post_message(bomb)?;
        std::future::pending::<()>().await;
        Ok(())
    }
}

/// A handler stopped at its `.await` by `terminate()` is dropped there; a panic of what it
/// held is contained and the exit stays normal (code 0), as for an outcome or a reply
/// `terminate()` made moot.
#[test]
fn a_terminated_handler_whose_locals_panic_on_drop_exits_normally() {
    let worker = Worker::new(|| HoldsABombForever).unwrap();
    worker.post_message(96_104).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(96_104));
    worker.terminate().unwrap();
    assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(0));
    assert!(support::dropped(96_104));
    assert!(worker.take_exit_error().is_none());
}

/// Many workers, each dropped while its host thread is held in a callback past the join
/// timeout (detached), each with a callback registered after the end that holds the worker's
/// stream: once the callbacks return, every callback is released and no worker or host thread
/// is left (counted in `/proc/self/task`). Before, each such worker leaked its callback, stream
/// and link.
#[test]
fn churning_workers_with_detached_host_threads_releases_everything_and_leaves_no_thread() {
    const ROUNDS: u64 = 30;
    const NAME: &str = "p4-churn";
    let released = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for round in 0..ROUNDS {
        let (in_exit, leave_exit) = (96_200 + 2 * round, 96_201 + 2 * round);
        let worker = Worker::builder()
            .name(NAME)
            .join_timeout(DETACH_AFTER)
            .spawn(|| Echo)
            .unwrap();
        worker.terminate().unwrap();
        assert_eq!(worker.wait_for_exit(), 0);
        worker.on_exit(move |_| {
            open_gate(in_exit);
            pass_gate(leave_exit);
        });
        pass_gate(in_exit);
        let counted = CountOnDrop(Arc::clone(&released));
        let stream = worker.messages();
        worker.on_message(move |_: u64| {
            let _ = (&counted, &stream);
        });
        drop(worker);
        open_gate(leave_exit);
    }
    wait_until("every late callback is released", || {
        released.load(Ordering::SeqCst) == ROUNDS as usize
    });
    wait_until("no worker or host thread is left", || {
        support::threads_named(NAME) == 0
    });
}

/// Counts its drops.
struct CountOnDrop(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A stream that ended when its `Worker` was dropped with the host thread stuck in a callback
/// (the end does not wait for that callback) stays ended: the messages that waited behind the
/// callback, for an `on_message` cleared since, are not handed to the receivers after their
/// end. Before, the host thread pushed them behind the end once the callback returned, and the
/// stream that had ended yielded them afterwards (`None`, then `Some(2)`, `Some(3)`).
#[test]
fn a_stream_ended_by_a_detaching_drop_yields_nothing_after_its_end() {
    const ENTERED: u64 = 96_301;
    const STUCK: u64 = 96_302;
    let worker = Worker::builder()
        .join_timeout(DETACH_AFTER)
        .spawn(|| ThreeThenClose)
        .unwrap();
    worker.on_message(move |_| {
        open_gate(ENTERED);
        pass_gate(STUCK); // 2 and 3 wait behind this callback
    });
    worker.post_message(()).unwrap();
    pass_gate(ENTERED);
    worker.clear_callbacks();
    // Released by the exit's job, which the host thread runs after it handed 2 and 3 on.
    let (exit_ran, flag) = drop_flag();
    worker.on_message_error(move |_| {
        let _ = &flag;
    });
    let mut stream = worker.messages();
    drop(worker); // the host thread is detached, stuck in the callback
    assert_eq!(futures::executor::block_on(stream.next()), None);
    open_gate(STUCK);
    wait_until("the host thread ran the exit", || {
        exit_ran.load(Ordering::SeqCst)
    });
    let after: Vec<Option<u64>> = (0..3)
        .map(|_| futures::executor::block_on(stream.next()))
        .collect();
    assert_eq!(after, [None, None, None], "nothing after the end");
}

/// A worker thread the system refuses (a 1 GiB stack under a 768 MiB address-space limit, in a
/// child process): `spawn` answers 10200003, and the constructor it could not run is dropped
/// with the panic of its captures' `Drop` contained. Before, the standard library dropped the
/// closure inside `thread::Builder::spawn`, and that panic unwound into the caller.
#[test]
fn a_constructor_the_system_refuses_a_thread_for_whose_captures_panic_does_not_panic_the_host() {
    if std::env::var_os("P4_REFUSED_THREAD_CHILD").is_some() {
        let bomb = Bomb(96_401);
        let spawned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Worker::builder()
                .stack_size(taskpool::MAX_STACK_SIZE)
                .spawn(move || {
                    let _ = &bomb;
                    Echo
                })
                .map(drop)
                .map_err(|error| error.code())
        }));
        println!("P4 SPAWN {spawned:?} DROPPED {}", support::dropped(96_401));
        return;
    }
    let Some(stdout) = support::run_under_address_limit(
        "a_constructor_the_system_refuses_a_thread_for_whose_captures_panic_does_not_panic_the_host",
        "P4_REFUSED_THREAD_CHILD",
    ) else {
        return; // No prlimit here: nothing to probe.
    };
    assert!(
        stdout.contains("P4 SPAWN Ok(Err(Some(10200003))) DROPPED true"),
        "the refused spawn panicked, or did not answer 10200003"
    );
}
