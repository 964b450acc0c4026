//! `async fn` tasks resume on any free pool thread; a suspended task is canceled where it waits;
//! a blocking wait inside a task never stalls the pool.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use support::{
    PATIENCE, Signal, open_gate, pass_gate, plain, pool_threads, wait_until, wait_until_executing,
    wait_until_suspended,
};
use taskpool::{
    AsyncLock, Error, Priority, Shared, Task, TaskHandle, TaskPool, TaskState, concurrent,
    is_canceled, sendable, sleep,
};

fn thread_name() -> String {
    std::thread::current().name().unwrap_or_default().to_owned()
}

static FIRST_THREAD: Mutex<String> = Mutex::new(String::new());
static WAKE_FIRST: Signal = Signal::new();

#[concurrent]
async fn note_threads_around_an_await() -> (String, String) {
    let before = thread_name();
    let id = taskpool::current_task_id();
    *FIRST_THREAD.lock().unwrap() = before.clone();
    WAKE_FIRST.raised().await;
    // Whichever thread polls it, the task is itself.
    assert!(id.is_some() && taskpool::current_task_id() == id);
    (before, thread_name())
}

/// Blocks on gate 1 if it runs on the thread the awaiting task started on.
#[concurrent]
fn occupy_first_thread() -> bool {
    let on_first = thread_name() == *FIRST_THREAD.lock().unwrap();
    if on_first {
        pass_gate(1);
    }
    on_first
}

#[test]
fn a_woken_task_resumes_on_a_free_worker_while_its_first_worker_is_busy() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let task = pool.run(note_threads_around_an_await, ());
    wait_until_suspended(&pool, task.id());
    // Submit blockers until one lands on the task's first thread (the other ones return).
    let blocker = loop {
        let mut handle = pool.run(occupy_first_thread, ());
        match handle.wait_timeout(Duration::from_millis(50)) {
            Some(Ok(false)) => continue,
            None => break handle,
            other => panic!("unexpected {other:?}"),
        }
    };
    WAKE_FIRST.raise();
    let mut task = task;
    let (before, after) = task
        .wait_timeout(PATIENCE)
        .expect("the woken task resumed while its first thread was busy")
        .unwrap();
    assert_ne!(before, after, "it resumed on the other thread");
    open_gate(1);
    assert!(blocker.wait().unwrap());
}

#[sendable]
struct Counter {
    pub value: AsyncLock<u64>,
}

static HOLDER_MAY_GO: Signal = Signal::new();

#[concurrent]
async fn hold_across_an_await(counter: Shared<Counter>) {
    let mut value = counter.value.lock_async().await;
    HOLDER_MAY_GO.raised().await;
    *value += 1;
}

#[concurrent]
fn lock_blocking(counter: Shared<Counter>) {
    *counter.value.lock() += 1;
}

#[test]
fn a_blocking_lock_on_the_only_worker_waits_for_a_holder_that_resumes_elsewhere() {
    // The old deadlock: the holder was pinned to the thread the blocking `lock()` occupies.
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let counter = Shared::new(Counter {
        value: AsyncLock::new(0),
    });
    let mut holder = pool.run(hold_across_an_await, (counter.clone(),));
    wait_until_suspended(&pool, holder.id());
    let mut blocked = pool.run(lock_blocking, (counter.clone(),));
    wait_until("the blocking locker is on the thread", || {
        pool.info()
            .threads
            .iter()
            .any(|t| t.task_ids.contains(&blocked.id()))
    });
    HOLDER_MAY_GO.raise();
    assert!(matches!(holder.wait_timeout(PATIENCE), Some(Ok(()))));
    assert!(matches!(blocked.wait_timeout(PATIENCE), Some(Ok(()))));
    assert_eq!(*counter.value.lock(), 2);
}

static SUSPENDED_DROPPED: AtomicBool = AtomicBool::new(false);

struct SetOnDrop(&'static AtomicBool);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[concurrent]
async fn nap_for_an_hour() {
    let _noticed = SetOnDrop(&SUSPENDED_DROPPED);
    sleep(Duration::from_secs(3600)).await;
}

#[test]
fn canceling_a_suspended_task_drops_its_future_and_resolves_at_once() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let mut handle = pool.run(nap_for_an_hour, ());
    wait_until_suspended(&pool, handle.id());
    handle.cancel().unwrap();
    // Resolved by the cancel itself: no thread had to run, and the hour did not pass.
    assert!(handle.is_finished());
    assert!(
        SUSPENDED_DROPPED.load(Ordering::SeqCst),
        "dropped where it waited"
    );
    assert!(matches!(handle.cancel(), Err(Error::TaskNotFound(_))));
    match handle.wait_timeout(PATIENCE) {
        Some(Err(
            error @ Error::Canceled {
                started: true,
                late: None,
                ..
            },
        )) => {
            assert!(error.to_string().contains("after it started"), "{error}");
        }
        other => panic!("expected a cancel after start, got {other:?}"),
    }
}

static POLLING: AtomicBool = AtomicBool::new(false);
static SAW_CANCEL: AtomicBool = AtomicBool::new(false);
static PAST_THE_AWAIT: AtomicBool = AtomicBool::new(false);

#[concurrent]
async fn notice_cancel_then_await() {
    POLLING.store(true, Ordering::SeqCst);
    wait_until("the task is canceled", is_canceled);
    SAW_CANCEL.store(true, Ordering::SeqCst);
    sleep(Duration::from_millis(1)).await;
    PAST_THE_AWAIT.store(true, Ordering::SeqCst);
}

#[test]
fn a_task_canceled_while_polled_sees_is_canceled_and_stops_at_its_next_await() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let handle = pool.run(notice_cancel_then_await, ());
    wait_until("the task is being polled", || {
        POLLING.load(Ordering::SeqCst)
    });
    handle.cancel().unwrap();
    let outcome = handle.wait();
    assert!(
        matches!(outcome, Err(Error::Canceled { started: true, .. })),
        "{outcome:?}"
    );
    assert!(SAW_CANCEL.load(Ordering::SeqCst));
    assert!(!PAST_THE_AWAIT.load(Ordering::SeqCst), "never polled again");
}

static ORDER: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
static HIGH_MAY_GO: Signal = Signal::new();

#[concurrent]
async fn high_awaits() {
    HIGH_MAY_GO.raised().await;
    ORDER.lock().unwrap().push("high");
}

#[concurrent]
fn low_blocks_on_gate_2() {
    pass_gate(2);
}

#[concurrent]
fn low_records() {
    ORDER.lock().unwrap().push("low");
}

#[test]
fn a_resumed_high_task_is_not_queued_behind_low_work() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let high = pool.execute_with_priority(Task::new(high_awaits, ()), Priority::High);
    wait_until_suspended(&pool, high.id());
    let blocker = pool.execute_with_priority(Task::new(low_blocks_on_gate_2, ()), Priority::Low);
    wait_until("the LOW blocker runs", || {
        pool.info()
            .threads
            .iter()
            .any(|t| t.task_ids.contains(&blocker.id()))
    });
    let lows: Vec<_> = (0..20)
        .map(|_| pool.execute_with_priority(Task::new(low_records, ()), Priority::Low))
        .collect();
    HIGH_MAY_GO.raise();
    wait_until("the woken task is queued", || {
        pool.info()
            .tasks
            .iter()
            .filter(|t| t.state == TaskState::Waiting)
            .count()
            == 20
    });
    open_gate(2);
    high.wait().unwrap();
    blocker.wait().unwrap();
    lows.into_iter().for_each(|h| h.wait().unwrap());
    assert_eq!(ORDER.lock().unwrap()[0], "high");
}

static NESTED_POOL: OnceLock<TaskPool> = OnceLock::new();

fn nested_pool() -> &'static TaskPool {
    NESTED_POOL.get_or_init(|| {
        TaskPool::builder()
            .max_threads(1)
            .extra_threads(0)
            .thread_name("nst")
            .build()
            .unwrap()
    })
}

#[concurrent]
fn fib(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let a = nested_pool().run(fib, (n - 1,));
    let b = nested_pool().run(fib, (n - 2,));
    a.wait().unwrap() + b.wait().unwrap()
}

#[test]
fn nested_waits_run_the_awaited_tasks_inline_when_no_thread_can_be_added() {
    // One thread and no room for another: each wait runs the awaited task right there.
    let mut handle = nested_pool().run(fib, (12,));
    assert_eq!(handle.wait_timeout(PATIENCE).unwrap().unwrap(), 144);
    assert!(pool_threads("nst") <= 1);
}

#[concurrent]
fn count_down(links: u32) -> u32 {
    if links == 0 {
        return 0;
    }
    nested_pool().run(count_down, (links - 1,)).wait().unwrap() + 1
}

#[test]
fn a_chain_of_twenty_thousand_nested_waits_does_not_overflow_the_stack() {
    // Each link waits for the next, which runs inline on the same thread: 20 000 links deep
    // (a few hundred fit in a pool thread's own stack). Before, the process aborted.
    let mut handle = nested_pool().run(count_down, (20_000,));
    assert_eq!(handle.wait_timeout(PATIENCE).unwrap().unwrap(), 20_000);
}

static ONE_THREAD_POOL: OnceLock<TaskPool> = OnceLock::new();

#[concurrent]
fn wait_for_a_sibling(x: u32) -> u32 {
    let pool = ONE_THREAD_POOL.get().expect("set by the test");
    pool.run(plain, (x,)).wait().unwrap() + 1
}

#[test]
fn a_blocking_wait_inside_a_task_does_not_stall_a_one_thread_pool() {
    let pool = ONE_THREAD_POOL.get_or_init(|| TaskPool::builder().max_threads(1).build().unwrap());
    let mut outer = pool.run(wait_for_a_sibling, (41,));
    assert_eq!(outer.wait_timeout(PATIENCE).unwrap().unwrap(), 42);
}

#[sendable]
struct Held {
    pub lock: AsyncLock<u32>,
}

static LOCK_WAITERS: AtomicUsize = AtomicUsize::new(0);

#[concurrent]
fn wait_for_the_lock(held: Shared<Held>) {
    LOCK_WAITERS.fetch_add(1, Ordering::SeqCst);
    *held.lock.lock() += 1;
}

#[test]
fn blocked_workers_are_replaced_within_the_thread_ceiling_only() {
    // max 1 + extra 2: three threads at most, however many tasks block.
    let pool = TaskPool::builder()
        .max_threads(1)
        .extra_threads(2)
        .thread_name("ceil")
        .build()
        .unwrap();
    let held = Shared::new(Held {
        lock: AsyncLock::new(0),
    });
    let guard = held.lock.lock();
    let handles: Vec<TaskHandle<()>> = (0..5)
        .map(|_| pool.run(wait_for_the_lock, (held.clone(),)))
        .collect();
    wait_until("three tasks block in the lock", || {
        LOCK_WAITERS.load(Ordering::SeqCst) == 3
    });
    wait_until("two tasks wait for a thread", || {
        pool.info()
            .tasks
            .iter()
            .filter(|t| t.state == TaskState::Waiting)
            .count()
            == 2
    });
    // A `/proc` listing can skip a thread while other tests churn theirs: waited for.
    wait_until("three threads exist", || pool_threads("ceil") == 3);
    assert_eq!(
        LOCK_WAITERS.load(Ordering::SeqCst),
        3,
        "work waits at the ceiling"
    );
    drop(guard);
    for handle in handles {
        handle.wait().unwrap();
    }
    assert_eq!(*held.lock.lock(), 5);
    assert!(pool_threads("ceil") <= 3);
}

static SLOW_POLL_MAY_GO: Signal = Signal::new();

#[concurrent]
async fn slow_after_resuming() -> u8 {
    SLOW_POLL_MAY_GO.raised().await;
    // Synchronous work in one poll, far over the limit whatever the machine's speed.
    std::thread::sleep(support::SHORT_LIMIT * 4);
    1
}

#[test]
fn a_resumed_poll_over_the_time_limit_times_out_and_awaiting_does_not_count() {
    let pool = TaskPool::builder()
        .max_threads(2)
        .time_limit(support::SHORT_LIMIT)
        .check_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    let mut handle = pool.run(slow_after_resuming, ());
    wait_until_suspended(&pool, handle.id());
    // Suspended for longer than the limit: awaiting is not synchronous time.
    std::thread::sleep(support::SHORT_LIMIT * 2);
    assert!(
        !handle.is_finished(),
        "awaiting does not count toward the limit"
    );
    SLOW_POLL_MAY_GO.raise();
    match handle.wait_timeout(PATIENCE) {
        Some(Err(Error::TimedOut { limit, .. })) => assert_eq!(limit, support::SHORT_LIMIT),
        other => panic!("expected a time-out, got {other:?}"),
    }
    // The pool goes on.
    assert_eq!(pool.run(plain, (3,)).wait().unwrap(), 3);
}

// --- A pool at its thread ceiling whose only thread blocks in a wait ----------------------

/// The handle each `wait_for_the_parked_task` takes, by test.
static PARKED: Mutex<Vec<(u64, TaskHandle<u8>)>> = Mutex::new(Vec::new());

/// Parks the handle of test `key` for `wait_for_the_parked_task`.
fn park_handle(key: u64, handle: TaskHandle<u8>) {
    PARKED.lock().unwrap().push((key, handle));
}

#[concurrent]
fn wait_for_the_parked_task(key: u64) -> u8 {
    let handle = {
        let mut parked = PARKED.lock().unwrap();
        let index = parked.iter().position(|(k, _)| *k == key).expect("parked");
        parked.swap_remove(index).1
    };
    handle.wait().unwrap() + 1
}

/// One signal per test: what each suspended task waits for.
static RAISED: [Signal; 4] = [Signal::new(), Signal::new(), Signal::new(), Signal::new()];

#[concurrent]
async fn seven_when_raised(which: u64) -> u8 {
    RAISED[which as usize].raised().await;
    7
}

/// A pool of `max_threads` threads, with none to add beyond them.
fn no_extra_threads(max_threads: usize) -> taskpool::TaskPoolBuilder {
    TaskPool::builder()
        .max_threads(max_threads)
        .extra_threads(0)
}

/// Suspends a task until `RAISED[which]`, then runs a task that waits for it; that task's
/// handle.
fn wait_for_a_suspended_task(pool: &TaskPool, which: u64) -> TaskHandle<u8> {
    let suspended = pool.run(seven_when_raised, (which,));
    wait_until_suspended(pool, suspended.id());
    park_handle(which, suspended);
    pool.run(wait_for_the_parked_task, (which,))
}

#[test]
fn a_wait_on_the_only_thread_for_a_suspended_task_polls_it_there_when_it_wakes() {
    // The task waiting for the suspended one holds the only thread, so when the suspended
    // task wakes, the waiting thread itself polls it.
    let pool = no_extra_threads(1).build().unwrap();
    let mut waiting = wait_for_a_suspended_task(&pool, 0);
    wait_until_executing(&pool, waiting.id());
    RAISED[0].raise();
    assert_eq!(waiting.wait_timeout(PATIENCE).map(Result::unwrap), Some(8));
}

#[test]
fn work_submitted_after_the_only_thread_timed_out_in_a_wait_still_runs() {
    // The only thread's task times out while blocked in a wait: the thread is retired, but
    // stays (its call has not returned) and fills the hard ceiling of one thread. New work
    // would wait for that call forever; the blocked thread executes it in its wait instead.
    let pool = no_extra_threads(1)
        .time_limit(support::SHORT_LIMIT)
        .check_interval(Duration::from_millis(2))
        .build()
        .unwrap();
    let mut waiting = wait_for_a_suspended_task(&pool, 1);
    assert!(matches!(
        waiting.wait_timeout(PATIENCE),
        Some(Err(Error::TimedOut { .. }))
    ));
    let mut later = pool.run(plain, (5,));
    assert_eq!(later.wait_timeout(PATIENCE).map(Result::unwrap), Some(5));
    RAISED[1].raise();
}

#[test]
fn a_retired_thread_standing_in_is_listed_with_the_job_it_executes() {
    // Retired once its waiting task timed out, the only thread still executes the pool's work
    // in that wait: info() lists it with the job, not the job on no thread.
    let pool = no_extra_threads(1)
        .time_limit(support::SHORT_LIMIT)
        .check_interval(Duration::from_millis(2))
        .build()
        .unwrap();
    let mut waiting = wait_for_a_suspended_task(&pool, 3);
    assert!(matches!(
        waiting.wait_timeout(PATIENCE),
        Some(Err(Error::TimedOut { .. }))
    ));
    let gate = 9_103;
    // A long task: no time limit retires it in turn while it is looked for.
    let long = taskpool::LongTask::new(support::hold, (gate,));
    let id = long.id();
    let mut held = pool.execute(long);
    wait_until_executing(&pool, id);
    open_gate(gate);
    assert_eq!(held.wait_timeout(PATIENCE).map(Result::unwrap), Some(gate));
    pool.terminate_task(id).unwrap();
    RAISED[3].raise();
}

static DEADLINE_POOL: OnceLock<TaskPool> = OnceLock::new();

/// Waits briefly for a task that blocks on `gate`; whether it finished in time.
#[concurrent]
fn wait_briefly_for_a_gated_task(gate: u64) -> bool {
    let pool = DEADLINE_POOL.get().expect("set by the test");
    let mut gated = pool.run(support::hold, (gate,));
    gated.wait_timeout(Duration::from_millis(5)).is_some()
}

#[test]
fn a_wait_with_a_deadline_on_the_only_thread_keeps_its_deadline() {
    // The gated task is stranded behind the waiting one; a wait without a deadline would run
    // it in its wait, but this one must return at its deadline, gate still closed.
    let pool = DEADLINE_POOL.get_or_init(|| no_extra_threads(1).build().unwrap());
    let gate = 9_101;
    let mut waiting = pool.run(wait_briefly_for_a_gated_task, (gate,));
    let outcome = waiting.wait_timeout(PATIENCE);
    open_gate(gate);
    assert_eq!(outcome.map(Result::unwrap), Some(false));
}

#[concurrent]
fn wait_for_an_idle_task(pool_slot: u8) -> u32 {
    let pool = IDLE_WAIT_POOLS[pool_slot as usize]
        .get()
        .expect("set by the test");
    let idle = pool.execute_with_priority(Task::new(plain, (20,)), Priority::Idle);
    idle.wait().unwrap() + 1
}

static IDLE_WAIT_POOLS: [OnceLock<TaskPool>; 2] = [OnceLock::new(), OnceLock::new()];

#[test]
fn a_task_blocked_on_an_idle_task_lets_it_run() {
    // A thread blocked in a wait is quiet: IDLE work may start meanwhile, on another thread
    // (two threads) or, when the pool may add none, on the waiting thread itself (one). The
    // waiting task may be IDLE itself: it holds the IDLE lane, so the awaited task runs in its
    // wait (still one IDLE task at a time).
    for (slot, threads) in [(0u8, 2), (1, 1)] {
        let pool = IDLE_WAIT_POOLS[slot as usize]
            .get_or_init(|| no_extra_threads(threads).build().unwrap());
        for lane in [Priority::Medium, Priority::Idle] {
            let task = Task::new(wait_for_an_idle_task, (slot,));
            let mut waiting = pool.execute_with_priority(task, lane);
            assert_eq!(
                waiting.wait_timeout(PATIENCE).map(Result::unwrap),
                Some(21),
                "{threads} thread(s), a {lane:?} task waiting"
            );
        }
    }
}

static GROUP_POOL: OnceLock<TaskPool> = OnceLock::new();

/// Runs a group of three tasks on the pool it runs on and waits for it.
#[concurrent]
fn wait_for_a_group() -> u32 {
    let pool = GROUP_POOL.get().expect("set by the test");
    let mut group = taskpool::TaskGroup::new();
    for x in 1..=3 {
        group.add_task(Task::new(plain, (x,))).unwrap();
    }
    pool.execute_group(&group, Priority::Medium)
        .wait()
        .unwrap()
        .iter()
        .sum()
}

#[test]
fn a_group_waited_for_on_the_only_thread_runs_in_that_wait() {
    // Group members never run inline; the waiting thread, the only one the pool may have,
    // executes them while it waits.
    let pool = GROUP_POOL.get_or_init(|| no_extra_threads(1).build().unwrap());
    let mut waiting = pool.run(wait_for_a_group, ());
    assert_eq!(waiting.wait_timeout(PATIENCE).map(Result::unwrap), Some(6));
}

#[test]
fn a_task_whose_thread_stands_in_stays_visible_cancelable_and_settled_by_shutdown() {
    // The only thread blocks in a wait for a suspended task, then executes stranded work that
    // blocks (on a gate). The waiting task is still executing: listed on its thread, found by
    // `cancel(id)`, and its handle resolves when a bounded shutdown gives up on the thread.
    let pool = no_extra_threads(1).build().unwrap();
    let mut waiting = wait_for_a_suspended_task(&pool, 2);
    wait_until_executing(&pool, waiting.id());
    let gate = 9_102;
    let mut stranded = pool.run(support::hold, (gate,));
    wait_until_executing(&pool, stranded.id());
    let on_thread = pool.info().threads[0].task_ids.clone();
    assert_eq!(on_thread, vec![waiting.id(), stranded.id()]);
    pool.cancel(waiting.id())
        .expect("the waiting task is found");
    pool.shutdown_timeout(Duration::from_millis(20));
    let settled = (
        waiting.wait_timeout(PATIENCE),
        stranded.wait_timeout(PATIENCE),
    );
    open_gate(gate);
    assert!(
        matches!(
            settled,
            (
                Some(Err(Error::PoolShutDown)),
                Some(Err(Error::PoolShutDown))
            )
        ),
        "{settled:?}"
    );
}
