//! Runs executed inline — a pool thread waiting for a task of its own pool that has not started
//! runs it right there — keep the rules of a run on a thread of its own: the time limit, and a
//! full stack however deep the chain of waits. Regression tests: each failed before (an inline
//! run was never timed out, and one deep in a chain had only what its waiters left of the
//! thread's stack).

mod support;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::{PATIENCE, wait_until};
use taskpool::{Error, LongTask, Task, TaskPool, concurrent};

/// Test `test`'s pool, whose time limit passes in milliseconds. One thread and no extra one: a
/// task it waits for can only run inline (with a second thread, that thread could take it
/// first, and the test would time out a run that is not inline).
fn limited(test: usize) -> &'static TaskPool {
    static POOLS: [OnceLock<TaskPool>; 2] = [const { OnceLock::new() }; 2];
    POOLS[test].get_or_init(|| {
        TaskPool::builder()
            .max_threads(1)
            .extra_threads(0)
            .time_limit(Duration::from_millis(100))
            .check_interval(Duration::from_millis(5))
            .build()
            .unwrap()
    })
}

/// Spins until it is canceled (a time-out flags it), at most `PATIENCE`; sets its flag in
/// `SAW_CANCEL` if it was.
#[concurrent]
fn spin_until_canceled(flag: usize) -> bool {
    let end = Instant::now() + PATIENCE;
    while Instant::now() < end {
        if taskpool::is_canceled() {
            SAW_CANCEL[flag].store(true, Ordering::SeqCst);
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// One flag per test: they run at once.
static SAW_CANCEL: [AtomicBool; 2] = [const { AtomicBool::new(false) }; 2];

/// Executes `spin_until_canceled` and waits for it: it has not started, so it runs inline here.
#[concurrent]
fn wait_for_a_spinner(flag: usize) -> String {
    let handle = limited(flag).execute(Task::new(spin_until_canceled, (flag,)));
    format!("{:?}", handle.wait())
}

/// A long task has no time limit; the ordinary task it runs inline still has one.
#[test]
fn an_ordinary_task_run_inline_in_a_long_task_is_still_timed_out() {
    let outcome = limited(0)
        .execute(LongTask::new(wait_for_a_spinner, (0,)))
        .wait()
        .unwrap();
    assert!(outcome.contains("TimedOut"), "the inline run: {outcome}");
    assert!(SAW_CANCEL[0].load(Ordering::SeqCst));
}

/// The ordinary task waiting times out, and so does the one it runs inline, which is told so
/// through `is_canceled()`.
#[test]
fn an_ordinary_task_run_inline_learns_that_it_timed_out() {
    let outcome = limited(1)
        .execute(Task::new(wait_for_a_spinner, (1,)))
        .wait();
    assert!(
        matches!(outcome, Err(Error::TimedOut { .. })),
        "{outcome:?}"
    );
    wait_until("the inline run sees its time-out", || {
        SAW_CANCEL[1].load(Ordering::SeqCst)
    });
}

enum List {
    Node(#[allow(dead_code)] Box<List>),
    End,
}

/// A list `n` nodes deep: dropping it recurses `n` times.
fn deep_list(n: usize) -> List {
    (0..n).fold(List::End, |tail, _| List::Node(Box::new(tail)))
}

/// Waits for the next link, `depth` times; the last link drops a list 100 000 deep, which a
/// task on a thread of its own may do (`stack_size`'s default).
#[concurrent]
fn chain_then_drop_deep(depth: u32) -> u32 {
    if depth == 0 {
        drop(deep_list(100_000));
        return 0;
    }
    let next = support::one_thread_pool().execute(Task::new(chain_then_drop_deep, (depth - 1,)));
    next.wait().map_or(u32::MAX, |links| links + 1)
}

#[test]
fn a_task_deep_in_a_chain_of_inline_runs_has_a_full_stack() {
    support::in_child_process(
        "a_task_deep_in_a_chain_of_inline_runs_has_a_full_stack",
        || {
            for depth in [1, 3_000] {
                let links = support::one_thread_pool()
                    .execute(Task::new(chain_then_drop_deep, (depth,)))
                    .wait();
                assert_eq!(links.unwrap(), depth);
            }
        },
    );
}
