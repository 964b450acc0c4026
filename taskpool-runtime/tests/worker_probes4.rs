//! Worker probes, fourth round: what a detached host thread leaves behind, the hand-over of an
//! error when both error callbacks are registered, and further probes of js-apis-worker.md.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use support::echo::Echo;
use support::{PATIENCE, open_gate, pass_gate, wait_until};
use taskpool::Worker;

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
