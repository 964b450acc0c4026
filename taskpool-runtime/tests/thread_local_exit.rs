//! A value a task or handler leaves in a `thread_local!` is dropped as its thread leaves,
//! after the thread has reported its exit. Joins bounded by a timeout (a `Worker`'s
//! `join_timeout`, `shutdown_timeout`) must stay bounded while such a `Drop` blocks: the thread
//! is left detached and ends by itself once the `Drop` returns.

mod support;

use std::cell::RefCell;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use support::echo::Echo;
use taskpool::{HandlerResult, TaskPool, Worker, WorkerHandler, WorkerPort, concurrent};

/// How long a test waits for something that must happen (generous: a hang fails instead).
const PATIENCE: Duration = Duration::from_secs(30);
/// The bound under test: short, so that the call returns long before `PATIENCE`.
const BOUND: Duration = Duration::from_millis(50);

/// A gate a `Drop` blocks on until the test opens it; it counts who waits at it.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<(bool, usize)>, Condvar)>);

impl Gate {
    fn open(&self) {
        self.0.0.lock().unwrap().0 = true;
        self.0.1.notify_all();
    }

    fn pass(&self) {
        let (state, changed) = &*self.0;
        let mut state = state.lock().unwrap();
        state.1 += 1;
        changed.notify_all();
        while !state.0 {
            state = changed.wait(state).unwrap();
        }
    }

    /// Waits until somebody waits at the gate; false if nobody came within `PATIENCE`.
    fn is_waited_on(&self) -> bool {
        let (state, changed) = &*self.0;
        let state = state.lock().unwrap();
        let (state, _) = changed
            .wait_timeout_while(state, PATIENCE, |state| state.1 == 0)
            .unwrap();
        state.1 > 0
    }
}

/// Blocks in `Drop` until its gate opens, then says it was dropped.
struct BlockingDrop {
    gate: Gate,
    dropped: mpsc::Sender<()>,
}

impl Drop for BlockingDrop {
    fn drop(&mut self) {
        self.gate.pass();
        let _ = self.dropped.send(());
    }
}

thread_local! {
    static LEFT_BEHIND: RefCell<Option<BlockingDrop>> = const { RefCell::new(None) };
}

fn leave_behind(value: BlockingDrop) {
    LEFT_BEHIND.with(|slot| *slot.borrow_mut() = Some(value));
}

/// Runs `call` on a thread of its own; what it returned, if it returned within `PATIENCE`.
fn returns<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (done, returned) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(call());
    });
    returned.recv_timeout(PATIENCE).ok()
}

/// Leaves a [`BlockingDrop`] (sent with the message) in a thread-local of the worker thread.
struct LeavesValue(Mutex<Option<BlockingDrop>>);

impl WorkerHandler for LeavesValue {
    type In = ();
    type Out = ();

    async fn on_message(&mut self, (): (), port: &WorkerPort<()>) -> HandlerResult {
        if let Some(value) = self.0.lock().unwrap().take() {
            leave_behind(value);
        }
        port.post_message(())?;
        Ok(())
    }
}

#[test]
fn dropping_a_worker_is_bounded_while_its_thread_drops_a_thread_local() {
    let (gate, (dropped, was_dropped)) = (Gate::default(), mpsc::channel());
    let value = BlockingDrop {
        gate: gate.clone(),
        dropped,
    };
    let handler = LeavesValue(Mutex::new(Some(value)));
    let mut handler = Some(handler);
    let worker = Worker::builder()
        .join_timeout(BOUND)
        .spawn(move || handler.take().expect("one handler"))
        .unwrap();
    worker.post_message(()).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(()));
    assert!(
        returns(move || drop(worker)).is_some(),
        "the drop waited for a thread-local's `Drop` beyond its join timeout"
    );
    gate.open();
    assert_eq!(was_dropped.recv_timeout(PATIENCE), Ok(()));
}

#[test]
fn dropping_a_worker_is_bounded_while_its_host_thread_drops_a_thread_local() {
    let (gate, (dropped, was_dropped)) = (Gate::default(), mpsc::channel());
    let value = Mutex::new(Some(BlockingDrop {
        gate: gate.clone(),
        dropped,
    }));
    let worker = Worker::builder()
        .join_timeout(BOUND)
        .spawn(|| Echo)
        .unwrap();
    let (seen, replies) = mpsc::channel();
    worker.on_message(move |n| {
        if let Some(value) = value.lock().unwrap().take() {
            leave_behind(value);
        }
        let _ = seen.send(n);
    });
    worker.post_message(3).unwrap();
    assert_eq!(replies.recv_timeout(PATIENCE), Ok(3));
    assert!(
        returns(move || drop(worker)).is_some(),
        "the drop waited for the host thread's thread-local `Drop` beyond its join timeout"
    );
    gate.open();
    assert_eq!(was_dropped.recv_timeout(PATIENCE), Ok(()));
}

static POOL_VALUE: Mutex<Option<BlockingDrop>> = Mutex::new(None);

#[concurrent]
fn leave_value_behind() {
    if let Some(value) = POOL_VALUE.lock().unwrap().take() {
        leave_behind(value);
    }
}

#[test]
fn a_bounded_shutdown_is_bounded_while_a_pool_thread_drops_a_thread_local() {
    let (gate, (dropped, was_dropped)) = (Gate::default(), mpsc::channel());
    *POOL_VALUE.lock().unwrap() = Some(BlockingDrop {
        gate: gate.clone(),
        dropped,
    });
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    pool.run(leave_value_behind, ()).wait().unwrap();
    assert!(
        returns(move || pool.shutdown_timeout(BOUND)).is_some(),
        "the shutdown waited for a thread-local's `Drop` beyond its timeout"
    );
    gate.open();
    assert_eq!(was_dropped.recv_timeout(PATIENCE), Ok(()));
}

static RETIRING_VALUES: Mutex<Vec<BlockingDrop>> = Mutex::new(Vec::new());
static BOTH_THREADS: std::sync::Barrier = std::sync::Barrier::new(2);

/// Leaves a value in a thread-local, once each of two threads executes one of these.
#[concurrent]
fn leave_value_on_both_threads() {
    BOTH_THREADS.wait();
    if let Some(value) = RETIRING_VALUES.lock().unwrap().pop() {
        leave_behind(value);
    }
}

/// Runs until the pool flags it (its time limit).
#[concurrent]
fn overrun() {
    while !taskpool::is_canceled() {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A thread released for idleness that blocks in a thread-local's `Drop` as it leaves must not
/// stall the pool's supervisor (which joins the threads that left): time limits are still
/// enforced.
#[test]
fn a_released_thread_blocked_in_a_thread_local_drop_does_not_stall_the_supervisor() {
    let gate = Gate::default();
    let (dropped, was_dropped) = mpsc::channel();
    for _ in 0..2 {
        RETIRING_VALUES.lock().unwrap().push(BlockingDrop {
            gate: gate.clone(),
            dropped: dropped.clone(),
        });
    }
    let pool = TaskPool::builder()
        .max_threads(2)
        .idle_timeout(Duration::from_millis(1))
        .check_interval(Duration::from_millis(2))
        .time_limit(Duration::from_millis(100))
        .build()
        .unwrap();
    let both: Vec<_> = (0..2)
        .map(|_| pool.run(leave_value_on_both_threads, ()))
        .collect();
    for mut handle in both {
        handle.wait_timeout(PATIENCE).expect("ran").unwrap();
    }
    // One of the two threads is released as idle and blocks in the `Drop` as it leaves.
    assert!(gate.is_waited_on(), "no released thread dropped its value");
    let outcome = pool.run(overrun, ()).wait_timeout(PATIENCE);
    // Before asserting: a supervisor stuck in the `Drop` is let go, so a failure ends.
    gate.open();
    assert!(
        matches!(outcome, Some(Err(taskpool::Error::TimedOut { .. }))),
        "the time limit was not enforced: {outcome:?}"
    );
    assert_eq!(was_dropped.recv_timeout(PATIENCE), Ok(()));
    drop(pool);
    assert_eq!(was_dropped.recv_timeout(PATIENCE), Ok(()));
}

static LISTENER_VALUE: Mutex<Option<BlockingDrop>> = Mutex::new(None);

#[concurrent]
fn nothing() {}

/// The pool's callback thread (where listeners run) is joined within the bound too.
#[test]
fn a_bounded_shutdown_is_bounded_while_the_callback_thread_drops_a_thread_local() {
    let (gate, (dropped, was_dropped)) = (Gate::default(), mpsc::channel());
    *LISTENER_VALUE.lock().unwrap() = Some(BlockingDrop {
        gate: gate.clone(),
        dropped,
    });
    let pool = TaskPool::builder().build().unwrap();
    let task = taskpool::Task::new(nothing, ());
    let (heard, listened) = mpsc::channel();
    let heard = Mutex::new(heard);
    task.on_enqueued(move || {
        if let Some(value) = LISTENER_VALUE.lock().unwrap().take() {
            leave_behind(value);
        }
        let _ = heard.lock().unwrap().send(());
    })
    .unwrap();
    pool.execute(task).wait().unwrap();
    assert_eq!(listened.recv_timeout(PATIENCE), Ok(()));
    let returned = returns(move || pool.shutdown_timeout(BOUND));
    gate.open();
    assert!(
        returned.is_some(),
        "the shutdown waited for a callback's thread-local `Drop` beyond its timeout"
    );
    assert_eq!(was_dropped.recv_timeout(PATIENCE), Ok(()));
}
