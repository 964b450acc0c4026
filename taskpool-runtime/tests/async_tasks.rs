//! `async fn` tasks: polled on their worker, which runs other tasks while they await.

mod support;

use std::time::{Duration, Instant};

use support::Signal;
use taskpool::{Task, TaskPool, concurrent, current_task_id, sleep};

static RAISED_BY_SECOND_TASK: Signal = Signal::new();

#[concurrent]
async fn await_signal() -> String {
    RAISED_BY_SECOND_TASK.raised().await;
    "resumed".to_owned()
}

#[concurrent]
fn raise_signal() -> bool {
    RAISED_BY_SECOND_TASK.raise();
    true
}

#[test]
fn an_awaiting_task_does_not_block_its_worker() {
    // One thread: the second task can only run while the first one is suspended.
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let first = pool.run(await_signal, ());
    let second = pool.run(raise_signal, ());
    assert!(second.wait().unwrap());
    assert_eq!(first.wait().unwrap(), "resumed");
}

static NAP_OVER: Signal = Signal::new();

#[concurrent]
async fn nap_then_report() -> Option<u64> {
    let before = current_task_id();
    NAP_OVER.raised().await;
    // The task resumes as itself, whichever thread polls it.
    assert_eq!(current_task_id(), before);
    before.map(|id| id.into_raw())
}

#[concurrent]
fn plain() -> u8 {
    9
}

#[test]
fn a_suspended_task_lets_a_second_task_run_and_reports_io_time() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let napping = Task::new(nap_then_report, ());
    let nap = pool.execute(&napping);
    let second = pool.run(plain, ());
    assert_eq!(second.wait().unwrap(), 9);
    // From here until the signal, the task is suspended: all of it is io time.
    support::wait_until("the task is suspended", || {
        pool.info().threads.iter().all(|t| t.task_ids.is_empty())
    });
    let suspended_at = Instant::now();
    std::thread::sleep(Duration::from_millis(20));
    let suspended_for = suspended_at.elapsed();
    NAP_OVER.raise();
    assert_eq!(nap.wait().unwrap(), Some(napping.id().into_raw()));
    let durations = napping.durations().unwrap();
    assert!(durations.io >= suspended_for, "{durations:?}");
    assert_eq!(durations.total, durations.io + durations.cpu);
}

#[concurrent]
async fn awaits_many(count: u32) -> u32 {
    let mut total = 0;
    for i in 0..count {
        sleep(Duration::from_micros(200)).await;
        total += i;
    }
    total
}

#[test]
fn many_suspended_tasks_share_few_workers() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let handles: Vec<_> = (0..50).map(|_| pool.run(awaits_many, (10,))).collect();
    for handle in handles {
        assert_eq!(handle.wait().unwrap(), 45);
    }
    assert!(pool.thread_count() <= 2);
}

/// Returns `Pending` once after waking itself: gives the thread back, asks to go on at once.
static YIELDER_MAY_STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[concurrent]
async fn yield_until_told() -> u32 {
    while !YIELDER_MAY_STOP.load(std::sync::atomic::Ordering::SeqCst) {
        support::yield_now().await;
    }
    1
}

#[concurrent]
fn tell_the_yielder() -> u32 {
    YIELDER_MAY_STOP.store(true, std::sync::atomic::Ordering::SeqCst);
    2
}

#[test]
fn a_task_that_keeps_waking_itself_does_not_starve_new_tasks_of_its_lane() {
    // One thread. A woken task went before every new one of its lane, so a task yielding in
    // a loop (woken again by each poll) kept the lane's new tasks waiting forever.
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let yielder = pool.run(yield_until_told, ());
    support::wait_until("the yielder has started", || {
        pool.info().tasks.iter().any(|t| t.task_id == yielder.id())
    });
    let mut teller = pool.run(tell_the_yielder, ());
    let told = teller.wait_timeout(support::PATIENCE);
    // Let the yielder stop either way, so that the pool can shut down.
    YIELDER_MAY_STOP.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(told.expect("the new task never ran").unwrap(), 2);
    assert_eq!(yielder.wait().unwrap(), 1);
}
