//! Fourth pass of probes of the scheduling core: the IDLE lane after a time-out, and other
//! corners of the core and its observability.

mod support;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::{PATIENCE, plain, wait_until_executing, wait_until_suspended};
use taskpool::{Error, Priority, Task, TaskHandle, TaskPool, concurrent};

/// The calls [`stuck`] lets go of.
static RELEASED: Mutex<Option<HashSet<u64>>> = Mutex::new(None);

/// Lets the [`stuck`] calls of `id` return.
fn release(id: u64) {
    let mut released = RELEASED.lock().unwrap_or_else(|e| e.into_inner());
    released.get_or_insert_with(HashSet::new).insert(id);
}

/// Waits until [`release`]d or the deadline (see [`stuck`]); true if released.
fn wait_for_release(id: u64) {
    let deadline = Instant::now() + 3 * PATIENCE;
    while Instant::now() < deadline {
        let released = RELEASED.lock().unwrap_or_else(|e| e.into_inner());
        if released.as_ref().is_some_and(|r| r.contains(&id)) {
            return;
        }
        drop(released);
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A value whose `Drop` blocks until its id is [`release`]d.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct DropBlocks(u64);

impl Drop for DropBlocks {
    fn drop(&mut self) {
        wait_for_release(self.0);
    }
}

/// Blocks until [`release`]d — for three times [`PATIENCE`] at most, so that a test waiting
/// `PATIENCE` for something the stuck call holds up fails instead of passing late (a gate of
/// `support` gives up after `PATIENCE`, which would hide such a defect).
#[concurrent]
fn stuck(id: u64) -> u64 {
    wait_for_release(id);
    id
}

/// Waits for `handle`, which must resolve as timed out (its call may still run).
fn assert_times_out<T: std::fmt::Debug + Send + 'static>(handle: &mut taskpool::TaskHandle<T>) {
    let outcome = handle.wait_timeout(PATIENCE);
    assert!(
        matches!(outcome, Some(Err(Error::TimedOut { .. }))),
        "{outcome:?}"
    );
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
    assert_times_out(&mut first);
    let queued_outcome = queued.wait_timeout(PATIENCE);
    let mut later = pool.execute_with_priority(Task::new(plain, (8,)), Priority::Idle);
    let later_outcome = later.wait_timeout(PATIENCE);
    release(99_001);
    assert!(matches!(queued_outcome, Some(Ok(7))), "{queued_outcome:?}");
    assert!(matches!(later_outcome, Some(Ok(8))), "{later_outcome:?}");
}

/// Takes a value whose `Drop` blocks: queued behind a busy thread, it never starts.
#[concurrent]
fn take_drop_blocks(value: DropBlocks) -> u64 {
    value.0
}

/// Suspends for an hour holding a value whose `Drop` blocks.
#[concurrent]
async fn nap_holding(id: u64) -> u64 {
    let _held = DropBlocks(id);
    taskpool::sleep(Duration::from_secs(3600)).await;
    id
}

/// `shutdown_timeout` bounds the shutdown even when dropping what it takes from runs that will
/// never go on — a suspended future, the arguments of a waiting task — blocks in user code,
/// and every handle resolves (a waiting task queued behind such an argument too). The drops
/// used to run one by one on the shutting-down thread, each after its own handle resolved:
/// `shutdown_timeout` did not return until they did (never, for a `Drop` that never
/// returns), and the handles of the waiting runs behind a blocked drop stayed unresolved.
#[test]
fn shutdown_timeout_is_bounded_when_dropping_abandoned_futures_and_arguments_blocks() {
    for (case, suspended) in [(99_010u64, true), (99_020, false)] {
        let pool = TaskPool::builder().max_threads(1).build().unwrap();
        let napping = suspended.then(|| {
            let napping = pool.run(nap_holding, (case,));
            wait_until_suspended(&pool, napping.id());
            napping
        });
        let busy = pool.run(stuck, (case + 1,));
        wait_until_executing(&pool, busy.id());
        let blocking = pool.run(take_drop_blocks, (DropBlocks(case + 2),));
        let behind = pool.run(plain, (1,));
        // Released only once the shutdown returned: a drop that blocks must not hold it up.
        let outcomes = support::bounded("shutdown_timeout", move || {
            pool.shutdown_timeout(Duration::from_millis(50));
            (
                napping.map(TaskHandle::wait),
                busy.wait(),
                blocking.wait(),
                behind.wait(),
            )
        });
        for id in case..case + 3 {
            release(id);
        }
        let (napping, busy, blocking, behind) = outcomes;
        if let Some(napping) = napping {
            assert!(
                matches!(napping, Err(Error::Canceled { .. })),
                "{napping:?}"
            );
        }
        assert!(matches!(busy, Err(Error::PoolShutDown)), "{busy:?}");
        assert!(
            matches!(blocking, Err(Error::Canceled { .. })),
            "{blocking:?}"
        );
        assert!(matches!(behind, Err(Error::Canceled { .. })), "{behind:?}");
    }
}

/// One thread and no replacement threads: an IDLE task queued while the only thread is stuck
/// in a call that timed out starts once that call returns and its retired thread leaves. The
/// leaving thread's last decision added a thread only for foreground work, so the IDLE task
/// was stranded (no thread left, none added) until something else was submitted.
#[test]
fn an_idle_task_queued_behind_a_timed_out_call_on_the_only_thread_runs_after_it_returns() {
    for (case, stuck_priority) in [(99_030u64, Priority::Medium), (99_031, Priority::Idle)] {
        let pool = TaskPool::builder()
            .max_threads(1)
            .extra_threads(0)
            .time_limit(support::SHORT_LIMIT)
            .check_interval(Duration::from_millis(5))
            .build()
            .unwrap();
        let mut first = pool.execute_with_priority(Task::new(stuck, (case,)), stuck_priority);
        wait_until_executing(&pool, first.id());
        let mut idle = pool.execute_with_priority(Task::new(plain, (9,)), Priority::Idle);
        assert_times_out(&mut first);
        release(case);
        let outcome = idle.wait_timeout(PATIENCE);
        assert!(matches!(outcome, Some(Ok(9))), "{outcome:?}");
    }
}

/// Two threads: a foreground call times out on one while an IDLE task waits for every thread
/// to be quiet and the other thread is parked. The retired thread no longer counts, so the IDLE
/// task may start: the time-out wakes the parked thread for it. Nothing did — the IDLE task
/// waited for the next submission or for the stuck call to return.
#[test]
fn a_foreground_time_out_wakes_a_parked_thread_for_the_idle_task_it_held_back() {
    let pool = TaskPool::builder()
        .max_threads(2)
        .time_limit(support::SHORT_LIMIT)
        .check_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    // Two threads, one of them parked once its call returned.
    let mut first = pool.run(stuck, (99_040,));
    wait_until_executing(&pool, first.id());
    let second = pool.run(plain, (1,));
    assert_eq!(second.wait().unwrap(), 1);
    support::wait_until("the pool has two threads", || pool.thread_count() == 2);
    let mut idle = pool.execute_with_priority(Task::new(plain, (2,)), Priority::Idle);
    assert_times_out(&mut first);
    let outcome = idle.wait_timeout(PATIENCE);
    release(99_040);
    assert!(matches!(outcome, Some(Ok(2))), "{outcome:?}");
}

/// Raised by the test once the address space is full: wakes [`await_wake`].
static WAKE: support::Signal = support::Signal::new();

/// Suspends until [`WAKE`] is raised.
#[concurrent]
async fn await_wake() -> u32 {
    WAKE.raised().await;
    5
}

/// Reserves (without touching) as much address space as it can, in blocks from 512 MiB down
/// to 1 MiB, then gives back at least `leave` bytes: small allocations still succeed, a thread
/// stack larger than what is left does not.
fn fill_address_space(leave: usize) -> Vec<Vec<u8>> {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut size = 512 << 20;
    while size >= 1 << 20 {
        let mut block = Vec::new();
        if block.try_reserve_exact(size).is_ok() {
            blocks.push(block);
        } else {
            size /= 2;
        }
    }
    let mut freed = 0;
    while freed < leave {
        match blocks.pop() {
            Some(block) => freed += block.capacity(),
            None => break,
        }
    }
    blocks
}

/// A woken `async` task whose pool has no thread left and cannot start one (the system refuses
/// the stack) resolves, with `WorkerInitialization`, like the waiting tasks that are stranded
/// then. Here the only thread retires after a time-out while the task is suspended; the task
/// is woken, and when the stuck call returns its thread leaves and no other can start. Only
/// the new runs were taken out of the lanes and resolved: the woken one stayed queued for a
/// thread that would never come, and its handle never resolved. Runs in a child process with
/// a lowered address-space limit.
#[test]
fn a_woken_async_task_stranded_without_threads_resolves() {
    if std::env::var_os("CP4_CHILD").is_some() {
        let pool = TaskPool::builder()
            .max_threads(1)
            .extra_threads(0)
            .stack_size(64 << 20)
            .time_limit(support::SHORT_LIMIT)
            .check_interval(Duration::from_millis(5))
            .build()
            .unwrap();
        let mut woken = pool.run(await_wake, ());
        wait_until_suspended(&pool, woken.id());
        let mut busy = pool.run(stuck, (99_050,));
        wait_until_executing(&pool, busy.id());
        let timed_out = busy.wait_timeout(PATIENCE);
        println!("CP4 BUSY {timed_out:?}");
        let hog = fill_address_space(16 << 20);
        WAKE.raise();
        release(99_050);
        let outcome = woken.wait_timeout(Duration::from_secs(10));
        drop(hog);
        println!("CP4 OUTCOME {outcome:?}");
        drop(pool);
        println!("CP4 DROPPED");
        return;
    }
    let Some(stdout) = support::run_under_address_limit(
        "a_woken_async_task_stranded_without_threads_resolves",
        "CP4_CHILD",
    ) else {
        return; // No prlimit here: nothing to probe.
    };
    assert!(stdout.contains("CP4 DROPPED"), "the child did not finish");
    assert!(
        stdout.contains("CP4 BUSY Some(Err(TimedOut"),
        "the setup did not hold"
    );
    // Either the system gave a thread after all (the task ran), or the handle says why not.
    assert!(
        stdout.contains("CP4 OUTCOME Some(Ok(5))")
            || stdout.contains("CP4 OUTCOME Some(Err(WorkerInitialization("),
        "the handle stayed unresolved or resolved oddly"
    );
}
