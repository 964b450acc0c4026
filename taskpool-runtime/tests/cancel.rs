//! Every cancel case of DESIGN §3: waiting, running, unknown, finished, and from another thread.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use support::{hold, open_gate, wait_until};
use taskpool::{Error, Task, TaskId, TaskPool, concurrent, is_canceled};

static NEVER_RAN: AtomicBool = AtomicBool::new(true);

#[concurrent]
fn must_not_run() {
    NEVER_RAN.store(false, Ordering::SeqCst);
}

#[test]
fn a_waiting_task_is_removed_and_resolves_canceled_at_once() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let blocker = pool.run(hold, (1,));
    let waiting = pool.execute(Task::new(must_not_run, ()));
    let id = waiting.id();
    pool.cancel(id).unwrap();
    assert!(
        waiting.is_finished(),
        "a canceled waiting task resolves immediately"
    );
    match waiting.wait() {
        Err(Error::Canceled {
            task,
            late: None,
            started: false,
        }) => assert_eq!(task, id),
        other => panic!("expected a cancel before start, got {other:?}"),
    }
    // It left the queue; `info()` lists it as canceled (as ArkTS does), not as waiting.
    let listed = support::states_of(&pool, id);
    assert_eq!(listed, [taskpool::TaskState::Canceled], "it left the queue");
    open_gate(1);
    assert_eq!(blocker.wait().unwrap(), 1);
    assert!(NEVER_RAN.load(Ordering::SeqCst));
    assert_eq!(
        pool.cancel(id).unwrap_err().code(),
        Some(10200015),
        "canceling twice fails"
    );
}

static SPINNING: AtomicBool = AtomicBool::new(false);

#[concurrent]
fn spin_until_canceled() -> u64 {
    SPINNING.store(true, Ordering::SeqCst);
    let mut rounds = 0;
    while !is_canceled() {
        rounds += 1;
        std::thread::yield_now();
    }
    rounds
}

#[test]
fn a_running_task_keeps_running_sees_the_cancel_and_its_handle_carries_the_late_value() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let handle = pool.run(spin_until_canceled, ());
    wait_until("the task spins", || SPINNING.load(Ordering::SeqCst));
    handle.cancel().unwrap();
    match handle.wait() {
        Err(Error::Canceled {
            late: Some(late), ..
        }) => {
            assert!(
                late.into_value::<u64>().is_some(),
                "the value it returned is kept"
            );
        }
        other => panic!("expected a late cancel, got {other:?}"),
    }
}

#[test]
fn canceling_an_unknown_or_finished_task_fails_with_10200015() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let unknown = pool.cancel(TaskId::from_raw(u64::MAX)).unwrap_err();
    assert!(matches!(unknown, Error::TaskNotFound(_)));
    assert_eq!(unknown.code(), Some(10200015));

    open_gate(30);
    let handle = pool.run(hold, (30,));
    let id = handle.id();
    let (gate, _) = (handle.wait().unwrap(), ());
    assert_eq!(gate, 30);
    assert_eq!(pool.cancel(id).unwrap_err().code(), Some(10200015));
}

static CROSS_STARTED: AtomicUsize = AtomicUsize::new(0);
static CROSS_NEVER_RAN: AtomicBool = AtomicBool::new(true);

#[concurrent]
fn must_not_run_either() {
    CROSS_NEVER_RAN.store(false, Ordering::SeqCst);
}

#[concurrent]
fn count_until_canceled() -> u64 {
    CROSS_STARTED.fetch_add(1, Ordering::SeqCst);
    while !is_canceled() {
        std::thread::yield_now();
    }
    7
}

#[test]
fn a_task_can_be_canceled_by_id_from_any_thread() {
    let pool = std::sync::Arc::new(TaskPool::builder().max_threads(2).build().unwrap());
    let running = pool.run(count_until_canceled, ());
    let waiting_blocker = pool.run(hold, (40,));
    let waiting = pool.run(must_not_run_either, ());
    wait_until("the counter runs", || {
        CROSS_STARTED.load(Ordering::SeqCst) == 1
    });
    // The waiting one first: once the running one sees its cancel, its thread is free to
    // start whatever still waits.
    let ids = [waiting.id(), running.id()];
    let canceller = {
        let pool = pool.clone();
        std::thread::spawn(move || ids.map(|id| pool.cancel(id)))
    };
    for outcome in canceller.join().unwrap() {
        outcome.unwrap();
    }
    assert!(running.wait().unwrap_err().is_canceled());
    assert!(waiting.wait().unwrap_err().is_canceled());
    open_gate(40);
    waiting_blocker.wait().unwrap();
    assert!(CROSS_NEVER_RAN.load(Ordering::SeqCst));
}

static RACE_SPINNING: AtomicBool = AtomicBool::new(false);

/// Spins until it is canceled: it returns the moment it sees the flag. It yields now and then,
/// so that on a busy machine the cancelling thread gets the CPU.
#[concurrent]
fn return_when_canceled() -> u64 {
    RACE_SPINNING.store(true, Ordering::SeqCst);
    let mut spins = 0u32;
    while !is_canceled() {
        spins = spins.wrapping_add(1);
        if spins % 1024 == 0 {
            std::thread::yield_now();
        }
        std::hint::spin_loop();
    }
    1
}

/// Yields to the pool until it is canceled: its poller settles it the moment the flag lands.
#[concurrent]
async fn pend_until_canceled() -> u64 {
    RACE_SPINNING.store(true, Ordering::SeqCst);
    std::future::poll_fn(|cx| {
        if is_canceled() {
            std::task::Poll::Ready(2)
        } else {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

/// A cancel that flags a running run succeeds, even when the run's thread settles it as
/// canceled before `cancel` returns: it is this cancel that ended the run, so `cancel` must not
/// report the run as already over (10200015) while its handle reports it canceled.
#[test]
fn a_cancel_that_a_running_task_answers_at_once_still_succeeds() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    for round in 0..4000 {
        RACE_SPINNING.store(false, Ordering::SeqCst);
        let handle = if round % 2 == 0 {
            pool.run(return_when_canceled, ())
        } else {
            pool.run(pend_until_canceled, ())
        };
        // Yields rather than sleeps: the race is in the cancel, so the rounds should be many.
        let deadline = std::time::Instant::now() + support::PATIENCE;
        while !RACE_SPINNING.load(Ordering::SeqCst) {
            assert!(
                std::time::Instant::now() < deadline,
                "round {round}: never ran"
            );
            std::thread::yield_now();
        }
        let cancel = handle.cancel();
        let outcome = handle.wait();
        assert!(
            matches!((&cancel, &outcome), (Ok(()), Err(Error::Canceled { .. }))),
            "round {round}: cancel {cancel:?}, outcome {outcome:?}"
        );
    }
}
