//! Worker probes, third round: the end of the messages against messages still queued on the
//! host thread, and further fault, bad-input and race cases.

mod support;

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use futures::{Stream, StreamExt};
use support::echo::{Echo, ThreeThenClose};
use support::{PATIENCE, bounded, open_gate, pass_gate, rendezvous, wait_until};
use taskpool::{HandlerResult, Worker, WorkerHandler, WorkerPort};

/// Messages sent to an `on_message` callback that was cleared while they waited on the host
/// thread reach the receivers, and the end of the messages comes after them. Before, the
/// worker's exit pushed the end marker straight onto the receivers' channel, ahead of the
/// messages the host thread handed over later: `recv` answered `None` (ended) while messages 2
/// and 3 were still to come, and they arrived after it.
#[test]
fn the_end_of_the_messages_waits_for_those_still_queued_on_the_host_thread() {
    const ENTERED: u64 = 97_001;
    const BUSY: u64 = 97_002;
    let worker = Worker::new(|| ThreeThenClose).unwrap();
    let (seen_tx, seen) = mpsc::channel();
    worker.on_message(move |n| {
        seen_tx.send(n).unwrap();
        open_gate(ENTERED);
        pass_gate(BUSY); // 2 and 3 wait behind this callback
    });
    worker.post_message(()).unwrap();
    pass_gate(ENTERED);
    worker.clear_callbacks();
    assert_eq!(worker.wait_for_exit(), 0);
    open_gate(BUSY);
    assert_eq!(seen.recv_timeout(PATIENCE), Ok(1));
    let rest: Vec<Option<u64>> = (0..3).map(|_| worker.recv_timeout(PATIENCE).ok()).collect();
    assert_eq!(
        rest,
        [Some(2), Some(3), None],
        "the end comes after every message sent"
    );
}

/// The other side of the test above: when the host thread is stuck in a callback past the
/// `join_timeout` of a dropped `Worker`, a stream that outlives the `Worker` still ends, without
/// waiting for that callback (the end queued behind it on the host thread would otherwise
/// hold the stream until the callback returns). A guard for the fix above, which routes the end
/// through the host thread.
#[test]
fn a_stream_outliving_a_worker_whose_host_thread_is_stuck_still_ends() {
    const ENTERED: u64 = 97_003;
    const STUCK: u64 = 97_004;
    let worker = Worker::builder()
        .join_timeout(Duration::from_millis(50))
        .spawn(|| ThreeThenClose)
        .unwrap();
    worker.on_message(move |_| {
        open_gate(ENTERED);
        pass_gate(STUCK);
    });
    worker.post_message(()).unwrap();
    pass_gate(ENTERED);
    worker.clear_callbacks();
    assert_eq!(worker.wait_for_exit(), 0);
    let mut stream = worker.messages();
    drop(worker); // the host thread is detached, stuck in the callback
    let ended = bounded("the stream ends", move || {
        let mut seen = Vec::new();
        while let Some(n) = futures::executor::block_on(stream.next()) {
            seen.push(n);
        }
        seen
    });
    open_gate(STUCK);
    assert!(ended.is_empty(), "the stream ended at once, got {ended:?}");
}

/// An error whose `Drop` panics (a user type with a bug).
#[derive(Debug)]
struct Grenade;

impl std::fmt::Display for Grenade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("grenade")
    }
}

impl std::error::Error for Grenade {}

impl Drop for Grenade {
    fn drop(&mut self) {
        panic!("Grenade's drop panics");
    }
}

/// Replies with what it is sent; fails with a [`Grenade`] on 1.
struct ThrowsGrenades;

impl WorkerHandler for ThrowsGrenades {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        port.post_message(n)?;
        if n == 1 {
            return Err(Box::new(Grenade));
        }
        Ok(())
    }
}

/// An error the worker survived (`on_all_errors` mode) whose `on_all_errors` was cleared before
/// the host thread reached it is dropped there, its `Drop` contained. Before, it was dropped
/// plainly in the host thread's loop: the panic of its `Drop` ended the host thread, so
/// `on_exit` never ran, and global calls and callbacks were never served again.
#[test]
fn an_unwanted_error_whose_drop_panics_does_not_kill_the_host_thread() {
    const ENTERED: u64 = 97_005;
    const BUSY: u64 = 97_006;
    let worker = Worker::new(|| ThrowsGrenades).unwrap();
    worker.on_all_errors(|_| {});
    worker.on_message(|n| {
        if n == 1 {
            open_gate(ENTERED);
            pass_gate(BUSY); // the error waits behind this callback
        }
    });
    worker.post_message(1).unwrap();
    pass_gate(ENTERED);
    rendezvous(&worker); // the error was routed to `on_all_errors`: the worker lives on
    worker.clear_callbacks();
    let (exited_tx, exited) = mpsc::channel();
    worker.on_exit(move |code| exited_tx.send(code).unwrap());
    open_gate(BUSY);
    worker.post_message(2).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(2), "the worker lives on");
    worker.terminate().unwrap();
    assert_eq!(
        exited.recv_timeout(PATIENCE),
        Ok(0),
        "the host thread still runs on_exit"
    );
}

/// Sets its flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A callback registered after the worker ended "is kept until the `Worker` is dropped"
/// (README): it is released then, even when it holds the worker's own message stream. Before,
/// only the link's own `Drop` released it, and the stream inside it kept the link alive: the
/// callback, the stream and the link leaked for good.
#[test]
fn a_callback_registered_after_the_end_is_released_when_the_worker_is_dropped() {
    let worker = Worker::new(|| Echo).unwrap();
    worker.terminate().unwrap();
    assert_eq!(worker.wait_for_exit(), 0);
    let released = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(Arc::clone(&released));
    let stream = worker.messages();
    worker.on_message(move |_| {
        let _ = (&flag, &stream);
    });
    drop(worker);
    wait_until("the late callback is released", || {
        released.load(Ordering::SeqCst)
    });
}

/// A waker that counts how many of its kind are alive.
struct CountedWaker(Arc<AtomicUsize>);

impl CountedWaker {
    fn waker(live: &Arc<AtomicUsize>) -> Waker {
        live.fetch_add(1, Ordering::SeqCst);
        Waker::from(Arc::new(CountedWaker(Arc::clone(live))))
    }
}

impl Wake for CountedWaker {
    fn wake(self: Arc<Self>) {}
}

impl Drop for CountedWaker {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A stream polled once (pending) and dropped lets go of its waker: an async host whose
/// tasks each wait a while for a reply (`timeout(d, worker.messages().next())`, one task per
/// request) does not pile up wakers while the worker is quiet. Before, every waker a stream
/// registered stayed in the worker's list until the worker's next message, however many
/// streams had been dropped since: a hundred dropped streams kept a hundred wakers (and their
/// tasks) alive.
#[test]
fn a_dropped_stream_lets_go_of_its_waker() {
    let worker = Worker::new(|| Echo).unwrap();
    let live = Arc::new(AtomicUsize::new(0));
    for _ in 0..100 {
        let waker = CountedWaker::waker(&live);
        let mut stream = worker.messages();
        let polled = Pin::new(&mut stream).poll_next(&mut Context::from_waker(&waker));
        assert!(polled.is_pending());
    }
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "wakers of dropped streams kept"
    );
    // A stream still waiting is woken as before.
    let mut stream = worker.messages();
    worker.post_message(7).unwrap();
    assert_eq!(
        bounded("the stream gets the reply", move || {
            futures::executor::block_on(stream.next())
        }),
        Some(7)
    );
}

/// Spawns a local task that says it started, waits (synchronously) for a gate, then fails
/// with a [`Grenade`].
struct SpawnsAGrenade;

impl WorkerHandler for SpawnsAGrenade {
    type In = (u64, u64);
    type Out = u64;

    async fn on_message(&mut self, gates: (u64, u64), port: &WorkerPort<u64>) -> HandlerResult {
        port.spawn_local(async move {
            open_gate(gates.0);
            pass_gate(gates.1);
            Err(Box::new(Grenade) as taskpool::BoxError)
        });
        Ok(())
    }
}

/// A spawned task that fails just as the worker is terminated is not reported (the worker
/// ends normally, exit code 0), and its error is dropped with its `Drop` contained. Before, the
/// unreported error stayed in the worker's queue of failures, which was dropped plainly as the
/// worker thread returned: the panic of its `Drop` escaped the worker thread, and the exit code
/// became 1.
#[test]
fn a_failure_left_unreported_by_terminate_whose_drop_panics_leaves_the_exit_normal() {
    const STARTED: u64 = 97_007;
    const GO: u64 = 97_008;
    let worker = Worker::new(|| SpawnsAGrenade).unwrap();
    worker.post_message((STARTED, GO)).unwrap();
    pass_gate(STARTED);
    worker.terminate().unwrap();
    open_gate(GO);
    assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(0));
    assert!(worker.take_exit_error().is_none());
}

/// Says it started, waits (synchronously) for a gate, then fails with a [`Grenade`].
struct FailsWithAGrenadeLater;

impl WorkerHandler for FailsWithAGrenadeLater {
    type In = (u64, u64);
    type Out = u64;

    async fn on_message(&mut self, gates: (u64, u64), _port: &WorkerPort<u64>) -> HandlerResult {
        open_gate(gates.0);
        pass_gate(gates.1);
        Err(Box::new(Grenade))
    }
}

/// A handler that returns an `Err` after `terminate()` came is no error: its outcome is dropped
/// and the worker ends as terminated (exit code 0, README) — its `Drop` contained as a refused
/// reply's is. Before, the outcome was dropped plainly in the loop: the panic of its `Drop`
/// was caught only around the whole loop, reported as the worker's panic, and the exit code
/// became 1.
#[test]
fn an_error_returned_after_terminate_whose_drop_panics_leaves_the_exit_normal() {
    const STARTED: u64 = 97_009;
    const GO: u64 = 97_010;
    let worker = Worker::new(|| FailsWithAGrenadeLater).unwrap();
    worker.post_message((STARTED, GO)).unwrap();
    pass_gate(STARTED);
    worker.terminate().unwrap();
    open_gate(GO);
    assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(0));
    let error = worker.take_exit_error();
    assert!(error.is_none(), "{error:?}");
}

/// What [`a_callback_calling_recv_on_its_own_worker_does_not_wait_for_messages_behind_it`]'s
/// callback saw: `recv_timeout(Duration::MAX)`, then whether `recv` panicked.
type SeenInCallback = (Result<u64, taskpool::RecvTimeoutError>, bool);

/// A host callback (here `on_message`) calling `recv` on its own worker, with the worker's
/// later messages queued behind that very callback on the host thread: nothing can reach the
/// receivers while it runs, so `recv_timeout` answers `Timeout` at once and `recv` panics
/// (contained, as any callback panic), as on the worker's own thread. Both waited forever
/// (`recv_timeout(Duration::MAX)` too): the host thread hung, and with it every later
/// callback and the worker's exit.
#[test]
fn a_callback_calling_recv_on_its_own_worker_does_not_wait_for_messages_behind_it() {
    let worker = Arc::new(Worker::new(|| ThreeThenClose).unwrap());
    let (seen_tx, seen) = mpsc::channel::<SeenInCallback>();
    let (later_tx, later) = mpsc::channel();
    let weak = Arc::downgrade(&worker);
    worker.on_message(move |n| {
        if n != 1 {
            later_tx.send(n).unwrap();
            return;
        }
        let Some(worker) = weak.upgrade() else { return };
        let timed = worker.recv_timeout(Duration::MAX);
        let panicked =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| worker.recv())).is_err();
        seen_tx.send((timed, panicked)).unwrap();
    });
    worker.post_message(()).unwrap();
    assert_eq!(
        seen.recv_timeout(PATIENCE),
        Ok((Err(taskpool::RecvTimeoutError::Timeout), true))
    );
    let rest: Vec<u64> = (0..2)
        .map(|_| later.recv_timeout(PATIENCE).unwrap())
        .collect();
    assert_eq!(
        rest,
        [2, 3],
        "the messages behind the callback reach it after"
    );
    assert_eq!(worker.wait_for_exit(), 0);
}
