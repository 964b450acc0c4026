//! Fourth pass of probes of the scheduling core: the IDLE lane after a time-out, and other
//! corners of the core and its observability.

mod support;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::{PATIENCE, plain, wait_until_executing};
use taskpool::{Error, Priority, Task, TaskPool, concurrent};

/// The calls [`stuck`] lets go of.
static RELEASED: Mutex<Option<HashSet<u64>>> = Mutex::new(None);

/// Lets the [`stuck`] calls of `id` return.
fn release(id: u64) {
    let mut released = RELEASED.lock().unwrap_or_else(|e| e.into_inner());
    released.get_or_insert_with(HashSet::new).insert(id);
}

/// Blocks until [`release`]d — for three times [`PATIENCE`] at most, so that a test waiting
/// `PATIENCE` for something the stuck call holds up fails instead of passing late (a gate of
/// `support` gives up after `PATIENCE`, which would hide such a defect).
#[concurrent]
fn stuck(id: u64) -> u64 {
    let deadline = Instant::now() + 3 * PATIENCE;
    while Instant::now() < deadline {
        let released = RELEASED.lock().unwrap_or_else(|e| e.into_inner());
        if released.as_ref().is_some_and(|r| r.contains(&id)) {
            break;
        }
        drop(released);
        std::thread::sleep(Duration::from_millis(1));
    }
    id
}

/// An IDLE call that overran its time limit and never returns no longer holds the IDLE lane:
/// its handle resolved as timed out and its thread retired, so the IDLE tasks behind it start,
/// the one queued before the time-out (on a thread the pool adds for it) and one submitted
/// after. They used to wait for the stuck call to return — forever, if it never did — because
/// the lane stayed marked busy, and no thread was added for IDLE work at a time-out.
#[test]
fn an_idle_task_that_timed_out_lets_the_next_idle_tasks_run() {
    let pool = TaskPool::builder()
        .max_threads(2)
        .time_limit(support::SHORT_LIMIT)
        .check_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    let mut first = pool.execute_with_priority(Task::new(stuck, (99_001,)), Priority::Idle);
    wait_until_executing(&pool, first.id());
    let mut queued = pool.execute_with_priority(Task::new(plain, (7,)), Priority::Idle);
    let outcome = first.wait_timeout(PATIENCE);
    assert!(
        matches!(outcome, Some(Err(Error::TimedOut { .. }))),
        "{outcome:?}"
    );
    let queued_outcome = queued.wait_timeout(PATIENCE);
    let mut later = pool.execute_with_priority(Task::new(plain, (8,)), Priority::Idle);
    let later_outcome = later.wait_timeout(PATIENCE);
    release(99_001);
    assert!(matches!(queued_outcome, Some(Ok(7))), "{queued_outcome:?}");
    assert!(matches!(later_outcome, Some(Ok(8))), "{later_outcome:?}");
}
