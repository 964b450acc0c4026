//! Reentrancy probes: user code that calls back into the library from where the library runs
//! it — a worker handler waiting for its own worker, a group member waiting for its own group,
//! a cache value whose `Drop`/`Clone`/`Serialize` uses its cache, a replaced worker callback
//! whose `Drop` uses its worker. Each deadlock-prone call runs under a bound (`PATIENCE`, or a
//! pool time limit), so a regression fails instead of hanging.

mod support;

use std::num::NonZeroUsize;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use support::{PATIENCE, bounded, wait_until};
use taskpool::{
    Error, HandlerResult, Priority, SendableLruCache, TaskGroup, TaskPool, Worker, WorkerHandler,
    WorkerPort, concurrent,
};

// ---- a worker waiting for its own exit ---------------------------------------------------------

type SelfWorker = Worker<u8, String>;

/// Opened by the handler of message 3 once it took, from its own worker, what it posted.
const OWN_MESSAGE_TAKEN: u64 = 93_001;

/// Each test's own worker, handed to its handler.
static WAITERS: Mutex<Vec<(u8, Arc<SelfWorker>)>> = Mutex::new(Vec::new());

fn own_worker(tag: u8) -> Arc<SelfWorker> {
    let mut found = None;
    wait_until("the test hands the worker to its handler", || {
        found = WAITERS
            .lock()
            .unwrap()
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, w)| Arc::clone(w));
        found.is_some()
    });
    found.unwrap()
}

/// On message 1 waits for its own exit with a bound; on message 2 without one. On message 3
/// receives, from its own worker, a message it posted, then waits with a bound for another; on
/// message 4 receives from its own worker with nothing queued.
struct WaitsForOwnExit;

impl WorkerHandler for WaitsForOwnExit {
    type In = u8;
    type Out = String;

    async fn on_message(&mut self, tag: u8, port: &WorkerPort<String>) -> HandlerResult {
        let worker = own_worker(tag);
        match tag {
            1 => {
                let waited = worker.wait_for_exit_timeout(PATIENCE * 3);
                port.post_message(format!("{waited:?}"))?;
            }
            2 => {
                let code = worker.wait_for_exit();
                port.post_message(format!("returned {code}"))?;
            }
            3 => {
                port.post_message("posted".to_string())?;
                let own = worker.recv();
                let more = worker.recv_timeout(PATIENCE * 3);
                // Only now may the test receive: until here it would race this handler for
                // the message it posted.
                support::open_gate(OWN_MESSAGE_TAKEN);
                port.post_message(format!("{own:?} {more:?}"))?;
            }
            _ => {
                let got = worker.recv();
                port.post_message(format!("received {got:?}"))?;
            }
        }
        Ok(())
    }
}

fn start_self_waiter(tag: u8, errors: Option<mpsc::Sender<Error>>) -> Arc<SelfWorker> {
    let worker = Arc::new(Worker::new(|| WaitsForOwnExit).unwrap());
    if let Some(errors) = errors {
        worker.on_error(move |e| {
            let _ = errors.send(e);
        });
    }
    WAITERS.lock().unwrap().push((tag, Arc::clone(&worker)));
    worker.post_message(tag).unwrap();
    worker
}

/// Before: the handler waited the whole timeout (3 × PATIENCE) for an exit that its own wait
/// prevented, so no reply came within PATIENCE.
#[test]
fn a_handler_waiting_with_a_bound_for_its_own_exit_gets_none_at_once() {
    let worker = start_self_waiter(1, None);
    assert_eq!(worker.recv_timeout(PATIENCE).as_deref(), Ok("None"));
    assert!(worker.is_running(), "the worker lives on");
    worker.terminate().unwrap();
    assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(0));
    WAITERS.lock().unwrap().retain(|(t, _)| *t != 1);
}

/// Before: the handler blocked forever in `wait_for_exit` (the worker never ended).
#[test]
fn a_handler_waiting_unbounded_for_its_own_exit_panics_and_the_worker_ends_with_code_1() {
    let (errors, error) = mpsc::channel();
    let worker = start_self_waiter(2, Some(errors));
    let reported = error.recv_timeout(PATIENCE).expect("the panic is reported");
    assert!(
        matches!(&reported, Error::WorkerPanicked { .. }),
        "{reported:?}"
    );
    assert!(reported.to_string().contains("wait_for_exit"), "{reported}");
    assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(1));
    WAITERS.lock().unwrap().retain(|(t, _)| *t != 2);
}

/// Before: the handler's `recv_timeout` waited its whole bound (3 × PATIENCE) for a message
/// only its own thread could send, so no reply came within PATIENCE.
#[test]
fn a_handler_receiving_from_its_own_worker_takes_what_it_posted_and_does_not_wait_for_more() {
    let worker = start_self_waiter(3, None);
    support::pass_gate(OWN_MESSAGE_TAKEN);
    assert_eq!(
        worker.recv_timeout(PATIENCE).as_deref(),
        Ok("Some(\"posted\") Err(Timeout)")
    );
    assert!(worker.is_running(), "the worker lives on");
    worker.terminate().unwrap();
    assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(0));
    WAITERS.lock().unwrap().retain(|(t, _)| *t != 3);
}

/// Before: the handler blocked forever in `recv` (nothing could ever arrive).
#[test]
fn a_handler_receiving_unbounded_from_its_own_empty_worker_panics_and_the_worker_ends_with_code_1()
{
    let (errors, error) = mpsc::channel();
    let worker = start_self_waiter(4, Some(errors));
    let reported = error.recv_timeout(PATIENCE).expect("the panic is reported");
    assert!(
        matches!(&reported, Error::WorkerPanicked { .. }),
        "{reported:?}"
    );
    assert!(reported.to_string().contains("recv"), "{reported}");
    assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(1));
    WAITERS.lock().unwrap().retain(|(t, _)| *t != 4);
}

// ---- a replaced worker callback whose Drop uses the worker --------------------------------------

struct Quiet;

impl WorkerHandler for Quiet {
    type In = u8;
    type Out = u8;

    async fn on_message(&mut self, _: u8, _port: &WorkerPort<u8>) -> HandlerResult {
        Ok(())
    }
}

/// Calls `touch` when dropped.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// Before: the old `on_message` closure was dropped under the callbacks' lock, and its `Drop`
/// registering a callback on the same worker deadlocked.
#[test]
fn a_replaced_callback_whose_drop_uses_the_worker_does_not_deadlock() {
    let worker = Arc::new(Worker::new(|| Quiet).unwrap());
    let slot: Arc<OnceLock<Arc<Worker<u8, u8>>>> = Arc::new(OnceLock::new());
    let _ = slot.set(Arc::clone(&worker));
    let (dropped, was_dropped) = mpsc::channel();
    let guard = OnDrop(move || {
        if let Some(worker) = slot.get() {
            worker.on_exit(|_| {});
            worker.clear_callbacks();
        }
        let _ = dropped.send(());
    });
    worker.on_message(move |_| {
        let _ = &guard;
    });
    let replacer = Arc::clone(&worker);
    bounded("replacing on_message", move || replacer.on_message(|_| {}));
    was_dropped.recv_timeout(PATIENCE).unwrap();
    worker.terminate().unwrap();
    assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(0));
}

// ---- a group member waiting for its own group -------------------------------------------------

static GROUP_HANDLES: Mutex<Vec<taskpool::GroupHandle<u32>>> = Mutex::new(Vec::new());

fn take_group_handle() -> taskpool::GroupHandle<u32> {
    let mut taken = None;
    wait_until("the test hands the member its group's handle", || {
        taken = GROUP_HANDLES.lock().unwrap().pop();
        taken.is_some()
    });
    taken.unwrap()
}

/// What the members saw when they waited for their own group.
static GROUP_WAITS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn own_group_outcome(outcome: taskpool::Result<Vec<u32>>) -> Result<u32, String> {
    let report = match outcome {
        Err(Error::WaitsForItself(id)) if Some(id) == taskpool::current_task_id() => {
            "told: waits for itself".to_owned()
        }
        other => format!("unexpected: {other:?}"),
    };
    GROUP_WAITS.lock().unwrap().push(report);
    Ok(7)
}

#[concurrent]
fn wait_for_own_group() -> Result<u32, String> {
    own_group_outcome(take_group_handle().wait())
}

#[concurrent]
async fn await_own_group() -> Result<u32, String> {
    own_group_outcome(take_group_handle().await)
}

/// Before: the member waiting for its group hung until the time limit (the group's outcome
/// needs that member's), and one awaiting it stayed suspended forever.
#[test]
fn a_group_member_waiting_for_its_own_group_is_told_at_once() {
    let pool = TaskPool::builder()
        .max_threads(1)
        .time_limit(Duration::from_secs(60))
        .build()
        .unwrap();
    for awaits in [false, true] {
        let mut group = TaskGroup::new();
        if awaits {
            group.add(await_own_group, ()).unwrap();
        } else {
            group.add(wait_for_own_group, ()).unwrap();
        }
        let handle = pool.execute_group(&group, Priority::High);
        GROUP_HANDLES.lock().unwrap().push(handle);
        let mut report = None;
        wait_until("the member reports its wait", || {
            report = GROUP_WAITS.lock().unwrap().pop();
            report.is_some()
        });
        assert_eq!(report.unwrap(), "told: waits for itself");
        // The pool's one thread is free again.
        assert_eq!(pool.run(support::plain, (7,)).wait().unwrap(), 7);
    }
}

// ---- a cache whose values use the cache ------------------------------------------------------

type Cache = SendableLruCache<u32, Touchy>;

static CACHE: OnceLock<Cache> = OnceLock::new();

fn cache() -> &'static Cache {
    CACHE.get_or_init(|| SendableLruCache::with_capacity(NonZeroUsize::new(2).unwrap()))
}

/// A value whose `Clone`, `Drop` and `Serialize` read the cache it is in.
#[derive(serde::Serialize, serde::Deserialize)]
struct Touchy(#[serde(serialize_with = "serialize_touching")] u32);

fn serialize_touching<S: serde::Serializer>(v: &u32, s: S) -> Result<S::Ok, S::Error> {
    let _ = cache().len();
    s.serialize_u32(*v)
}

impl Clone for Touchy {
    fn clone(&self) -> Touchy {
        let _ = cache().contains(&self.0);
        Touchy(self.0)
    }
}

impl Drop for Touchy {
    fn drop(&mut self) {
        let _ = cache().len();
    }
}

/// Before: every step deadlocked (the value's `Clone`, `Drop` or `Serialize` ran under the
/// cache's lock and locked it again).
#[test]
fn cache_values_whose_clone_drop_and_serialize_use_the_cache_do_not_deadlock() {
    let steps = bounded("the cache steps", || {
        let c = cache();
        c.put(1, Touchy(1));
        let replaced = c.put(1, Touchy(11)).map(|t| t.0);
        let got = c.get(&1).map(|t| t.0);
        c.put(2, Touchy(2));
        c.put(3, Touchy(3)); // evicts 1
        let values: Vec<u32> = c.values().into_iter().map(|t| t.0).collect();
        let json = serde_json::to_string(c).unwrap();
        let removed = c.remove(&2).map(|t| t.0);
        c.update_capacity(NonZeroUsize::MIN);
        c.put(4, Touchy(4));
        let debug_ok = !format!("{}", c).is_empty();
        c.clear();
        (replaced, got, values, json, removed, debug_ok, c.len())
    });
    assert_eq!(
        steps,
        (
            Some(1),
            Some(11),
            vec![2, 3],
            r#"{"capacity":2,"entries":[[2,2],[3,3]]}"#.to_owned(),
            Some(2),
            true,
            0
        )
    );
}
