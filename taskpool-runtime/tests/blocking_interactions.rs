//! Blocking waits inside tasks on tiny pools, against everything else the pool does: a thread
//! blocked in `wait()` at the thread ceiling stands in (executes stranded work in its wait),
//! and that work may time out, panic, be canceled, wait itself, or shut the pool down.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use support::{
    PATIENCE, Signal, open_gate, plain, pool_threads, wait_until, wait_until_executing,
    wait_until_suspended,
};
use taskpool::{Error, LongTask, Priority, Task, TaskHandle, TaskPool, TaskState, concurrent};

// --- Shared plumbing: pools, parked handles and signals by key -----------------------------

/// Pools the tasks of a test reach by key; a task never keeps the pool while it waits, so
/// the test can drop it.
static POOLS: Mutex<Vec<(u64, Arc<TaskPool>)>> = Mutex::new(Vec::new());

fn register_pool(key: u64, pool: TaskPool) -> Arc<TaskPool> {
    let pool = Arc::new(pool);
    POOLS.lock().unwrap().push((key, Arc::clone(&pool)));
    pool
}

fn pool_of(key: u64) -> Arc<TaskPool> {
    let pools = POOLS.lock().unwrap();
    let (_, pool) = pools.iter().find(|(k, _)| *k == key).expect("registered");
    Arc::clone(pool)
}

/// Takes pool `key` out of the registry (the caller then holds the last reference).
fn unregister_pool(key: u64) -> Option<Arc<TaskPool>> {
    let mut pools = POOLS.lock().unwrap();
    let index = pools.iter().position(|(k, _)| *k == key)?;
    Some(pools.swap_remove(index).1)
}

/// Handles parked for the task that waits for them, by key.
static PARKED: Mutex<Vec<(u64, TaskHandle<u32>)>> = Mutex::new(Vec::new());

fn park(key: u64, handle: TaskHandle<u32>) {
    PARKED.lock().unwrap().push((key, handle));
}

fn unpark(key: u64) -> TaskHandle<u32> {
    let mut parked = PARKED.lock().unwrap();
    let index = parked.iter().position(|(k, _)| *k == key).expect("parked");
    parked.swap_remove(index).1
}

/// A signal per key, made on first use.
fn signal(key: u64) -> &'static Signal {
    static SIGNALS: OnceLock<Mutex<HashMap<u64, &'static Signal>>> = OnceLock::new();
    let mut signals = SIGNALS.get_or_init(Mutex::default).lock().unwrap();
    signals
        .entry(key)
        .or_insert_with(|| Box::leak(Box::new(Signal::new())))
}

/// What a waiting task returns when the handle it waited for failed.
const FAILED: u32 = 1_000;

/// Suspends until signal `key` is raised, then returns `value`.
#[concurrent]
async fn value_when_raised(key: u64, value: u32) -> u32 {
    signal(key).raised().await;
    value
}

/// The keys whose [`wait_for_parked`] task has started.
static STARTED: Mutex<Vec<u64>> = Mutex::new(Vec::new());

fn started(key: u64) -> bool {
    STARTED.lock().unwrap().contains(&key)
}

/// Waits (`wait()`, no deadline) for the handle parked under `key`; its value + 1, or
/// [`FAILED`] if it failed.
#[concurrent]
fn wait_for_parked(key: u64) -> u32 {
    STARTED.lock().unwrap().push(key);
    value_of_parked(key)
}

/// Blocks until long gate `gate` opens (see [`hold_long`]), then does what [`wait_for_parked`]
/// does.
#[concurrent]
fn wait_for_parked_after(gate: u64, key: u64) -> u32 {
    let _gate = hold_long(gate);
    value_of_parked(key)
}

fn value_of_parked(key: u64) -> u32 {
    match unpark(key).wait() {
        Ok(value) => value + 1,
        Err(_) => FAILED,
    }
}

/// Blocks until gate `gate` opens, for up to twice [`PATIENCE`] (longer than a test waits for
/// a handle, so a test that waits for something this blocks fails before it returns).
#[concurrent]
fn hold_long(gate: u64) -> u32 {
    let deadline = Instant::now() + 2 * PATIENCE;
    while !gate_is_open(gate) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    gate as u32
}

static OPENED: Mutex<Vec<u64>> = Mutex::new(Vec::new());

fn open_long_gate(gate: u64) {
    OPENED.lock().unwrap().push(gate);
    open_gate(gate);
}

fn gate_is_open(gate: u64) -> bool {
    OPENED.lock().unwrap().contains(&gate)
}

#[concurrent]
fn boom() -> u32 {
    panic!("the stood-in job panics")
}

/// A pool of `max_threads` threads with no extra one, and the given time limit.
fn tiny(max_threads: usize, time_limit: Option<Duration>, prefix: &str) -> TaskPool {
    let mut builder = TaskPool::builder()
        .max_threads(max_threads)
        .extra_threads(0)
        .thread_name(prefix)
        .check_interval(Duration::from_millis(2));
    if let Some(limit) = time_limit {
        builder = builder.time_limit(limit);
    }
    builder.build().unwrap()
}

/// Suspends a task until signal `key`, then starts a task that waits for it with `wait()`;
/// returns that waiting task's handle once it started.
///
/// The suspended task is a `LongTask`, which no time limit applies to: its first poll counts
/// toward the limit, and on a pool with a short one a loaded machine may preempt that poll past
/// it, so that an ordinary task would time out before it suspends (and never be listed
/// suspended). The waiting task is waited for until it started, not until `info()` lists it
/// executing: it may be over the limit before a loaded test thread looks, and a run that timed
/// out is no longer listed (its handle resolved) although its call still holds the thread.
/// Either way the thread is taken, which is all the callers need.
fn waiting_for_a_suspended_task(pool: &TaskPool, key: u64, value: u32) -> TaskHandle<u32> {
    let suspended = pool.execute(LongTask::new(value_when_raised, (key, value)));
    wait_until_suspended(pool, suspended.id());
    park(key, suspended);
    let waiting = pool.run(wait_for_parked, (key,));
    wait_until("the waiting task started", || started(key));
    waiting
}

fn settle(handle: &mut TaskHandle<u32>) -> Result<u32, Error> {
    handle
        .wait_timeout(PATIENCE)
        .expect("the handle resolves in time")
}

// --- Time limits ---------------------------------------------------------------------------

#[test]
fn a_waiting_task_over_its_time_limit_times_out_while_its_thread_stands_in() {
    // The only thread blocks in a wait and stands in for a job that blocks far longer than the
    // time limit. Both the job and the waiting task are over the limit: both handles resolve
    // with `TimedOut` at once, although the waiting task is set aside under the job.
    let pool = tiny(1, Some(Duration::from_millis(40)), "bi-limit-aside");
    let key = 101;
    let mut waiting = waiting_for_a_suspended_task(&pool, key, 1);
    let gate = 9_301;
    let mut stranded = pool.run(hold_long, (gate,));
    let outcomes = (
        waiting.wait_timeout(PATIENCE),
        stranded.wait_timeout(PATIENCE),
    );
    open_long_gate(gate);
    signal(key).raise();
    assert!(
        matches!(
            outcomes,
            (
                Some(Err(Error::TimedOut { .. })),
                Some(Err(Error::TimedOut { .. }))
            )
        ),
        "{outcomes:?}"
    );
}

#[test]
fn a_stood_in_job_over_the_time_limit_times_out_and_the_waiting_task_still_finishes() {
    let pool = tiny(1, Some(Duration::from_millis(30)), "bi-limit-job");
    let key = 102;
    let mut waiting = waiting_for_a_suspended_task(&pool, key, 4);
    let gate = 9_302;
    let mut stranded = pool.run(hold_long, (gate,));
    assert!(matches!(settle(&mut stranded), Err(Error::TimedOut { .. })));
    open_long_gate(gate);
    signal(key).raise();
    // The waiting task ran past the limit too: it timed out, or finished if it was faster.
    match settle(&mut waiting) {
        Ok(5) | Err(Error::TimedOut { .. }) => {}
        other => panic!("{other:?}"),
    }
    // The retired thread leaves once its calls return; new work still runs.
    let mut later = pool.run(plain, (6,));
    assert_eq!(settle(&mut later).unwrap(), 6);
}

// --- Panics, cancels, info ----------------------------------------------------------------

#[test]
fn a_stood_in_job_that_panics_fails_alone() {
    let pool = tiny(1, None, "bi-panic");
    let key = 103;
    let mut waiting = waiting_for_a_suspended_task(&pool, key, 10);
    let mut stranded = pool.run(boom, ());
    assert!(matches!(settle(&mut stranded), Err(Error::Panicked { .. })));
    signal(key).raise();
    assert_eq!(settle(&mut waiting).unwrap(), 11);
    let mut later = pool.run(plain, (3,));
    assert_eq!(settle(&mut later).unwrap(), 3);
}

#[test]
fn nested_stand_ins_are_listed_once_each_in_nesting_order_and_unwind_in_order() {
    // The waiting task stands in for a job that itself waits for a suspended task, and
    // stands in for a job that blocks. The thread lists all three, outermost first; each task
    // is listed once, running.
    let pool = tiny(1, None, "bi-nested");
    let (outer_key, inner_key) = (104, 105);
    let mut outer = waiting_for_a_suspended_task(&pool, outer_key, 20);
    let inner_suspended = pool.run(value_when_raised, (inner_key, 30));
    wait_until_suspended(&pool, inner_suspended.id());
    park(inner_key, inner_suspended);
    let mut inner = pool.run(wait_for_parked, (inner_key,));
    wait_until_executing(&pool, inner.id());
    let gate = 9_303;
    let mut innermost = pool.run(hold_long, (gate,));
    wait_until_executing(&pool, innermost.id());
    let info = pool.info();
    assert_eq!(info.threads.len(), 1);
    assert_eq!(
        info.threads[0].task_ids,
        vec![outer.id(), inner.id(), innermost.id()]
    );
    assert_eq!(info.threads[0].priority, Some(Priority::Medium));
    for id in [outer.id(), inner.id(), innermost.id()] {
        let listed: Vec<_> = info.tasks.iter().filter(|t| t.task_id == id).collect();
        assert_eq!(listed.len(), 1, "{id:?} in {:?}", info.tasks);
        assert_eq!(listed[0].state, TaskState::Running);
    }
    // The outer wait's task wakes first: it can only resume once the inner ones unwound.
    signal(outer_key).raise();
    signal(inner_key).raise();
    open_long_gate(gate);
    assert_eq!(settle(&mut innermost).unwrap(), gate as u32);
    assert_eq!(settle(&mut inner).unwrap(), 31);
    assert_eq!(settle(&mut outer).unwrap(), 21);
}

#[test]
fn canceling_the_waiting_task_and_the_stood_in_job_by_id_and_by_handle() {
    let pool = tiny(1, None, "bi-cancel");
    let key = 106;
    let mut waiting = waiting_for_a_suspended_task(&pool, key, 1);
    let gate = 9_304;
    let mut stranded = pool.run(hold_long, (gate,));
    wait_until_executing(&pool, stranded.id());
    pool.cancel(waiting.id())
        .expect("the set-aside task is found");
    stranded.cancel().expect("the stood-in job is found");
    open_long_gate(gate);
    assert!(matches!(
        settle(&mut stranded),
        Err(Error::Canceled { started: true, .. })
    ));
    signal(key).raise();
    assert!(matches!(
        settle(&mut waiting),
        Err(Error::Canceled { started: true, .. })
    ));
    // Both are over: a second cancel finds neither.
    assert!(matches!(
        pool.cancel(waiting.id()),
        Err(Error::TaskNotFound(_))
    ));
    wait_until("nothing is listed", || pool.info().tasks.is_empty());
}

// --- Composers ----------------------------------------------------------------------------

/// The kinds of held run a task waits for in [`wait_for_held`].
const SEQUENCE: u8 = 0;
const DEPENDENCY: u8 = 1;
const DELAYED: u8 = 2;
const ASYNC_RUNNER: u8 = 3;
const GROUP: u8 = 4;

/// On pool `key`: submits a task that suspends until signal `key`, then a plain task held
/// back behind it (by `kind`), and waits for the second one with `wait()`. Unless `release`,
/// the signal is not raised and the delay is an hour: only a shutdown ends the wait.
#[concurrent]
fn wait_for_held(key: u64, kind: u8, release: bool) -> u32 {
    let pool = pool_of(key);
    let first = Task::new(value_when_raised, (key, 1));
    let second = Task::new(plain, (41,));
    let mut keep = Vec::new();
    let held = match kind {
        SEQUENCE => {
            let runner = pool.sequence_runner(Priority::Medium);
            keep.push(runner.execute(first));
            runner.execute(second)
        }
        DEPENDENCY => {
            second.add_dependency(&first).unwrap();
            let second = pool.execute(&second);
            keep.push(pool.execute(&first));
            second
        }
        DELAYED => {
            let delay = Duration::from_millis(if release { 5 } else { 3_600_000 });
            pool.execute_delayed(delay, second, Priority::Medium)
        }
        ASYNC_RUNNER => {
            let runner = pool.async_runner(1, 4).unwrap();
            keep.push(runner.execute(first, Priority::Medium));
            runner.execute(second, Priority::Medium)
        }
        GROUP => {
            let mut group = taskpool::TaskGroup::new();
            group.add_task(first).unwrap();
            group.add_task(second).unwrap();
            let group = pool.execute_group(&group, Priority::Medium);
            drop(pool);
            if release {
                signal(key).raise();
            }
            return group.wait().map_or(FAILED, |values| values.iter().sum());
        }
        _ => unreachable!(),
    };
    drop(pool);
    if kind != DELAYED && release {
        // Raised from here: the first task suspends, then wakes on this thread's wait.
        signal(key).raise();
    }
    let value = held.wait().map_or(FAILED, |v| v + 1);
    for first in keep {
        assert_eq!(first.wait().is_ok(), release);
    }
    value
}

#[test]
fn a_wait_on_the_only_thread_for_work_a_composer_holds_back_runs_it_in_that_wait() {
    for (offset, kind) in [SEQUENCE, DEPENDENCY, DELAYED, ASYNC_RUNNER, GROUP]
        .into_iter()
        .enumerate()
    {
        let key = 110 + offset as u64;
        let pool = register_pool(key, tiny(1, None, "bi-compose"));
        let mut waiting = pool.run(wait_for_held, (key, kind, true));
        assert_eq!(settle(&mut waiting).unwrap(), 42, "kind {kind}");
        drop(unregister_pool(key));
    }
}

// --- Long tasks ---------------------------------------------------------------------------

#[concurrent]
fn long_value(gate: u64) -> u32 {
    hold_long(gate) + 1
}

#[test]
fn a_long_task_stood_in_for_can_be_terminated_and_its_thread_goes_on() {
    let pool = tiny(1, Some(Duration::from_millis(30)), "bi-long");
    let key = 120;
    let mut waiting = waiting_for_a_suspended_task(&pool, key, 1);
    let gate = 9_305;
    let mut long = pool.execute(LongTask::new(long_value, (gate,)));
    wait_until_executing(&pool, long.id());
    open_long_gate(gate);
    assert_eq!(settle(&mut long).unwrap(), gate as u32 + 1);
    pool.terminate_task(long.id())
        .expect("the long task holds its thread");
    assert!(matches!(
        pool.terminate_task(long.id()),
        Err(Error::NotALongTask(_))
    ));
    signal(key).raise();
    // The waiting task ran past the limit: timed out, or done if it was quick.
    match settle(&mut waiting) {
        Ok(2) | Err(Error::TimedOut { .. }) => {}
        other => panic!("{other:?}"),
    }
}

// --- IDLE ---------------------------------------------------------------------------------

static IDLE_NOW: AtomicUsize = AtomicUsize::new(0);
static IDLE_MAX: AtomicUsize = AtomicUsize::new(0);

/// An IDLE task body: counts how many IDLE tasks execute at once, then waits for the handle
/// parked under `key` (if any) and returns `value`.
#[concurrent]
fn idle_body(key: u64, value: u32) -> u32 {
    let now = IDLE_NOW.fetch_add(1, Ordering::SeqCst) + 1;
    IDLE_MAX.fetch_max(now, Ordering::SeqCst);
    let waited = (key != 0).then(|| unpark(key).wait());
    IDLE_NOW.fetch_sub(1, Ordering::SeqCst);
    value + waited.map_or(0, |v| v.unwrap_or(FAILED))
}

#[test]
fn an_idle_task_blocked_in_a_wait_keeps_the_idle_lane_while_its_thread_stands_in() {
    // Two threads at their ceiling: a MEDIUM task blocks in a wait (quiet), an IDLE task starts
    // and blocks too. A second IDLE task and a MEDIUM job arrive: the job is stood in for, the
    // second IDLE task must wait for the first to end.
    let pool = tiny(2, None, "bi-idle");
    let (medium_key, idle_key) = (130, 131);
    let mut medium = waiting_for_a_suspended_task(&pool, medium_key, 1);
    let suspended = pool.run(value_when_raised, (idle_key, 2));
    wait_until_suspended(&pool, suspended.id());
    park(idle_key, suspended);
    let mut first_idle =
        pool.execute_with_priority(Task::new(idle_body, (idle_key, 100)), Priority::Idle);
    wait_until_executing(&pool, first_idle.id());
    let mut second_idle =
        pool.execute_with_priority(Task::new(idle_body, (0, 200)), Priority::Idle);
    let mut job = pool.run(plain, (7,));
    assert_eq!(settle(&mut job).unwrap(), 7);
    assert!(!second_idle.is_finished());
    signal(idle_key).raise();
    assert_eq!(settle(&mut first_idle).unwrap(), 102);
    assert_eq!(settle(&mut second_idle).unwrap(), 200);
    signal(medium_key).raise();
    assert_eq!(settle(&mut medium).unwrap(), 2);
    assert_eq!(IDLE_MAX.load(Ordering::SeqCst), 1, "two IDLE tasks at once");
}

// --- Shutdown -----------------------------------------------------------------------------

#[test]
fn dropping_a_pool_whose_only_thread_stands_in_settles_everything_and_joins() {
    let prefix = "bi-standin-drop";
    let pool = tiny(1, None, prefix);
    let key = 140;
    let mut waiting = waiting_for_a_suspended_task(&pool, key, 1);
    let gate = 9_306;
    let mut stranded = pool.run(hold_long, (gate,));
    wait_until_executing(&pool, stranded.id());
    let dropper = std::thread::spawn(move || drop(pool));
    // The drop waits for the stood-in job; the suspended task is abandoned meanwhile.
    std::thread::sleep(Duration::from_millis(20));
    open_long_gate(gate);
    dropper.join().unwrap();
    assert_eq!(settle(&mut stranded).unwrap(), gate as u32);
    assert_eq!(settle(&mut waiting).unwrap(), FAILED);
    assert_threads_gone(prefix);
}

#[test]
fn a_bounded_shutdown_while_nested_stand_ins_block_resolves_every_handle() {
    let prefix = "bi-bounded";
    let pool = tiny(1, None, prefix);
    let (outer_key, inner_key) = (141, 142);
    let mut outer = waiting_for_a_suspended_task(&pool, outer_key, 1);
    let inner_suspended = pool.run(value_when_raised, (inner_key, 1));
    wait_until_suspended(&pool, inner_suspended.id());
    park(inner_key, inner_suspended);
    let mut inner = pool.run(wait_for_parked, (inner_key,));
    wait_until_executing(&pool, inner.id());
    let gate = 9_307;
    let mut innermost = pool.run(hold_long, (gate,));
    wait_until_executing(&pool, innermost.id());
    pool.shutdown_timeout(Duration::from_millis(20));
    let outcomes = [
        outer.wait_timeout(PATIENCE),
        inner.wait_timeout(PATIENCE),
        innermost.wait_timeout(PATIENCE),
    ];
    open_long_gate(gate);
    for outcome in outcomes {
        assert!(
            matches!(outcome, Some(Err(Error::PoolShutDown))),
            "{outcome:?}"
        );
    }
    wait_until("the detached thread left", || pool_threads(prefix) == 0);
}

/// Drops pool `key` (its last reference) from inside a task.
#[concurrent]
fn drop_the_pool(key: u64) -> u32 {
    let pool = unregister_pool(key).expect("registered");
    // The test lets go of its own reference once this task is queued.
    wait_until("this is the last reference", || {
        Arc::strong_count(&pool) == 1
    });
    drop(pool);
    9
}

#[test]
fn a_pool_dropped_by_a_stood_in_job_lets_the_waiting_task_below_it_settle_as_usual() {
    // Dropped inside one of its own tasks, a pool does not wait for that task, which returns
    // its own outcome; the task set aside below it on the same thread returns too (its wait
    // ends: the suspended task it waits for was abandoned), and reports its own outcome.
    let key = 150;
    let pool = register_pool(key, tiny(1, None, "bi-drop-inside"));
    let mut waiting = waiting_for_a_suspended_task(&pool, key, 1);
    let mut stranded = pool.run(drop_the_pool, (key,));
    drop(pool);
    assert_eq!(settle(&mut stranded).unwrap(), 9);
    assert_eq!(settle(&mut waiting).unwrap(), FAILED);
}

#[test]
fn dropping_a_pool_while_a_woken_task_waits_behind_the_stood_in_job_resolves_its_waiter() {
    // The only thread stands in for a gated job; meanwhile the suspended task its waiting task
    // waits for wakes and is queued, with no thread to take it. The drop abandons it; once the
    // job returns, the waiting task sees the failure and the drop joins the thread.
    let prefix = "bi-drop-woken";
    let pool = tiny(1, None, prefix);
    let key = 160;
    let mut waiting = waiting_for_a_suspended_task(&pool, key, 1);
    let gate = 9_308;
    let mut stranded = pool.run(hold_long, (gate,));
    wait_until_executing(&pool, stranded.id());
    signal(key).raise();
    let dropper = std::thread::spawn(move || drop(pool));
    std::thread::sleep(Duration::from_millis(20));
    open_long_gate(gate);
    dropper.join().unwrap();
    assert_eq!(settle(&mut stranded).unwrap(), gate as u32);
    // It woke before the drop: polled to its value, or abandoned by the drop.
    match settle(&mut waiting) {
        Ok(2) | Ok(FAILED) => {}
        other => panic!("{other:?}"),
    }
    assert_threads_gone(prefix);
}

static TICKS: AtomicUsize = AtomicUsize::new(0);

#[concurrent]
fn tick(key: u64) -> u32 {
    if TICKS.fetch_add(1, Ordering::SeqCst) + 1 == 3 {
        signal(key).raise();
    }
    0
}

#[test]
fn a_periodic_task_ticks_in_the_wait_of_the_only_thread() {
    // The waiting task waits for a task the third tick wakes: every tick runs in its wait.
    let pool = tiny(1, None, "bi-periodic");
    let key = 170;
    let mut waiting = waiting_for_a_suspended_task(&pool, key, 1);
    let ticker = pool
        .execute_periodically(
            Duration::from_millis(2),
            Task::new(tick, (key,)),
            Priority::Medium,
        )
        .unwrap();
    assert_eq!(settle(&mut waiting).unwrap(), 2);
    ticker.cancel().unwrap();
    assert!(TICKS.load(Ordering::SeqCst) >= 3);
}

static INLINE_KEY: AtomicUsize = AtomicUsize::new(0);

/// Waits for a task it submits (run inline: it is queued), `depth` times over; the innermost
/// drops the pool.
#[concurrent]
fn chain_then_drop(key: u64, depth: u32) -> u32 {
    if depth == 0 {
        return drop_the_pool(key);
    }
    let next = pool_of(key).run(chain_then_drop, (key, depth - 1));
    next.wait().map_or(FAILED, |v| v + 1)
}

#[test]
fn a_pool_dropped_at_the_end_of_a_chain_of_inline_runs_lets_every_link_settle() {
    // Each link runs the next inline on the same thread; the last one drops the pool. Every
    // link is executing on the dropping thread, so each returns its own outcome.
    let key = 180 + INLINE_KEY.fetch_add(1, Ordering::SeqCst) as u64;
    let pool = register_pool(key, tiny(1, None, "bi-inline-drop"));
    let mut first = pool.run(chain_then_drop, (key, 3));
    drop(pool);
    assert_eq!(settle(&mut first).unwrap(), 12);
}

/// On pool `key`: runs `hold_long(gate)` and waits for it (it runs inline: it is queued).
#[concurrent]
fn wait_for_a_gated_task(key: u64, gate: u64) -> u32 {
    let gated = pool_of(key).run(hold_long, (gate,));
    gated.wait().map_or(FAILED, |v| v + 1)
}

#[test]
fn dropping_a_pool_while_a_task_runs_another_inline_waits_for_both() {
    // The inline run's entry stays in its lane until a thread reaches it: a shutdown must not
    // take it for a waiting run and cancel it, but wait for it like any call that executes.
    let key = 190;
    let prefix = "bi-drop-inline";
    let pool = register_pool(key, tiny(1, None, prefix));
    let gate = 9_309;
    let mut waiting = pool.run(wait_for_a_gated_task, (key, gate));
    wait_until("the gated task runs inline", || {
        pool.info()
            .tasks
            .iter()
            .filter(|t| t.state == TaskState::Running)
            .count()
            == 2
    });
    drop(unregister_pool(key));
    let dropper = std::thread::spawn(move || drop(pool));
    std::thread::sleep(Duration::from_millis(20));
    open_long_gate(gate);
    dropper.join().unwrap();
    assert_eq!(settle(&mut waiting).unwrap(), gate as u32 + 1);
    assert_threads_gone(prefix);
}

// --- AsyncLock ----------------------------------------------------------------------------

static LOCK: OnceLock<taskpool::AsyncLock<u32>> = OnceLock::new();

fn the_lock() -> &'static taskpool::AsyncLock<u32> {
    LOCK.get_or_init(|| taskpool::AsyncLock::new(0))
}

/// Holds the lock while it waits for the handle parked under `key`.
#[concurrent]
fn wait_for_parked_holding_the_lock(key: u64) -> u32 {
    let mut guard = the_lock().lock();
    *guard += 1;
    let value = wait_for_parked(key);
    drop(guard);
    value
}

/// Asks for the lock for a short while: 1 if it got it, 0 if it timed out.
#[concurrent]
fn try_the_lock_briefly() -> u32 {
    let options = taskpool::AsyncLockOptions::new().timeout(Duration::from_millis(30));
    match the_lock().lock_with(&options) {
        Ok(_) => 1,
        Err(Error::LockTimedOut { .. }) => 0,
        Err(other) => panic!("{other:?}"),
    }
}

#[test]
fn a_stood_in_job_asking_for_a_lock_the_task_below_it_holds_times_out_instead_of_hanging() {
    // The task set aside holds the lock and can only release it once the job on top returns:
    // a blocking request without a timeout would wait for itself. With one, it times out, and
    // the woken task the waiting one needs is then polled in the same wait.
    let pool = tiny(1, None, "bi-lock");
    let key = 200;
    let suspended = pool.run(value_when_raised, (key, 5));
    wait_until_suspended(&pool, suspended.id());
    park(key, suspended);
    let mut waiting = pool.run(wait_for_parked_holding_the_lock, (key,));
    wait_until_executing(&pool, waiting.id());
    let mut job = pool.run(try_the_lock_briefly, ());
    wait_until_executing(&pool, job.id());
    signal(key).raise();
    assert_eq!(settle(&mut job).unwrap(), 0);
    assert_eq!(settle(&mut waiting).unwrap(), 6);
    assert!(the_lock().try_lock().is_some());
}

#[test]
fn dropping_a_pool_whose_only_thread_waits_for_work_a_composer_holds_back_ends_the_wait() {
    // The held run can never start; the drop must resolve it (and the suspended one before
    // it) so that the waiting task returns and its thread can be joined.
    for (offset, kind) in [SEQUENCE, DEPENDENCY, DELAYED, ASYNC_RUNNER, GROUP]
        .into_iter()
        .enumerate()
    {
        let key = 210 + offset as u64;
        let prefix = format!("bi-drop-held{kind}");
        let pool = register_pool(key, tiny(1, None, &prefix));
        let mut waiting = pool.run(wait_for_held, (key, kind, false));
        wait_until("the held run is waiting", || {
            pool.info()
                .tasks
                .iter()
                .any(|t| t.state == TaskState::Waiting && t.task_id != waiting.id())
                || kind == GROUP
        });
        wait_until("the first task is suspended", || {
            pool.info()
                .tasks
                .iter()
                .filter(|t| t.state == TaskState::Running)
                .count()
                >= 2
                || kind == DELAYED
        });
        drop(unregister_pool(key));
        let (done, dropped) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(pool);
            let _ = done.send(());
        });
        assert!(
            dropped.recv_timeout(PATIENCE).is_ok(),
            "kind {kind}: the drop hangs"
        );
        assert_eq!(settle(&mut waiting).unwrap(), FAILED, "kind {kind}");
        assert_threads_gone(&prefix);
    }
}

/// Waits until no thread of the pool named `prefix` is left. A joined thread may still be
/// listed in `/proc` for a moment after the join returned.
fn assert_threads_gone(prefix: &str) {
    wait_until("the pool's threads are gone", || pool_threads(prefix) == 0);
}

// --- Waits across pools ----------------------------------------------------------------------

/// Two pools of one thread each, at their ceilings: a task of each waits for a task queued in
/// the other, behind the waiting task. No task waits for itself, yet neither pool has a thread
/// left for what the other one waits for. A thread whose wait needs another pool's job cannot
/// tell what that pool needs of its own: it stands in for its own pool's waiting work (as a
/// rayon thread keeps working in its own pool while it waits on another's), and both end.
#[test]
fn tasks_of_two_full_pools_waiting_for_each_other_s_queued_tasks_both_end() {
    let left = tiny(1, None, "bi-cross-left");
    let right = tiny(1, None, "bi-cross-right");
    let (left_gate, right_gate) = (9_310, 9_311);
    let (left_key, right_key) = (210, 211);
    let mut left_waiting = left.run(wait_for_parked_after, (left_gate, left_key));
    wait_until_executing(&left, left_waiting.id());
    let mut right_waiting = right.run(wait_for_parked_after, (right_gate, right_key));
    wait_until_executing(&right, right_waiting.id());
    // Each queued behind the other pool's waiting task, on that pool's only thread.
    park(left_key, right.run(plain, (7,)));
    park(right_key, left.run(plain, (9,)));
    open_long_gate(left_gate);
    open_long_gate(right_gate);
    assert_eq!(settle(&mut left_waiting).unwrap(), 8);
    assert_eq!(settle(&mut right_waiting).unwrap(), 10);
}

// --- Runners -------------------------------------------------------------------------------

/// The pool's only thread blocks in a wait for a task that an `AsyncRunner` with two running
/// slots holds back, while the tasks in both slots wait, woken, for a thread. Neither of them
/// is this thread's, so the walk of what the wait needs cannot say which one frees the turn of
/// the task it waits for: any waiting job may, and the thread stands in for them.
#[test]
fn a_wait_at_the_ceiling_for_a_task_a_runner_holds_behind_two_woken_tasks_ends() {
    let pool = tiny(1, None, "bi-runner-slots");
    let runner = pool.async_runner(2, 0).unwrap();
    let (first_key, second_key, held_key) = (220, 221, 222);
    let mut first = runner.execute(
        Task::new(value_when_raised, (first_key, 1)),
        Priority::Medium,
    );
    let mut second = runner.execute(
        Task::new(value_when_raised, (second_key, 2)),
        Priority::Medium,
    );
    wait_until_suspended(&pool, first.id());
    wait_until_suspended(&pool, second.id());
    park(
        held_key,
        runner.execute(Task::new(plain, (3,)), Priority::Medium),
    );
    let mut waiting = pool.run(wait_for_parked, (held_key,));
    wait_until("the waiting task started", || started(held_key));
    signal(first_key).raise();
    signal(second_key).raise();
    assert_eq!(settle(&mut waiting).unwrap(), 4);
    assert_eq!(settle(&mut first).unwrap(), 1);
    assert_eq!(settle(&mut second).unwrap(), 2);
}
