//! Features probed together, with user code misbehaving between them: Workers and pool tasks
//! waiting on each other, on locks and through shutdowns; named locks and condition variables
//! abandoned by shutdowns or churned across pools; groups, runners, dependency chains, delayed
//! and periodic tasks whose members, arguments, results, listeners or wakers panic, cancel
//! themselves or drop their pool; named runners whose handles come and go.
//!
//! Each test ends with every handle resolved and, where it made threads, none left behind.

mod support;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::wakers::{PanickingWaker, poll_with_panicking_waker};
use support::{
    Bomb, PATIENCE, SHORT_LIMIT, block_on, bounded, busy_threads, dropped, open_gate, pass_gate,
    pool_threads, threads_named, wait_until,
};
use taskpool::{
    AsyncLock, AsyncLockOptions, ConditionVariable, Error, HandlerResult, Priority, Shared, Task,
    TaskGroup, TaskPool, Worker, WorkerHandler, WorkerPort, concurrent,
};

// ---- a Worker awaiting a pool task while the pool shuts down --------------------------------

/// Returns `gate` once it opens; gate 0 is always open.
#[concurrent]
fn gated(gate: u64) -> u64 {
    if gate != 0 {
        pass_gate(gate);
    }
    gate
}

/// Executes `gated(gate)` on the pool it shares with the host and replies with the error code
/// of the outcome (0 for a value): the pool may be shut down while the handler awaits.
struct PoolUser {
    pool: Arc<Mutex<Option<TaskPool>>>,
}

impl WorkerHandler for PoolUser {
    type In = u64;
    type Out = String;

    async fn on_message(&mut self, gate: u64, port: &WorkerPort<String>) -> HandlerResult {
        let handle = match self.pool.lock().unwrap().as_ref() {
            Some(pool) => pool.execute(Task::new(gated, (gate,))),
            None => return Ok(port.post_message("no pool".into())?),
        };
        port.post_message("executing".into())?;
        let outcome = handle.await;
        port.post_message(format!("{outcome:?}"))?;
        Ok(())
    }
}

#[test]
fn a_worker_awaiting_a_pool_task_hears_of_the_pool_s_shutdown_and_lives_on() {
    const GATE: u64 = 98_000;
    let pool = TaskPool::builder().thread_name("xp-a").build().unwrap();
    let shared = Arc::new(Mutex::new(Some(pool)));
    let for_worker = Arc::clone(&shared);
    let worker = Worker::builder()
        .name("xp-aw")
        .spawn(move || PoolUser { pool: for_worker })
        .unwrap();
    worker.post_message(GATE).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE).unwrap(), "executing");
    wait_until("the task executes", || {
        busy_threads(shared.lock().unwrap().as_ref().unwrap()) == 1
    });
    let pool = shared.lock().unwrap().take().unwrap();
    pool.shutdown_timeout(Duration::ZERO);
    let outcome = worker.recv_timeout(PATIENCE).unwrap();
    assert!(outcome.contains("PoolShutDown"), "{outcome}");
    // The worker goes on with its next message.
    worker.post_message(GATE).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE).unwrap(), "no pool");
    open_gate(GATE);
    wait_until("the detached pool thread ends", || {
        pool_threads("xp-a") == 0
    });
    drop(worker);
    wait_until("the worker's threads end", || threads_named("xp-aw") == 0);
}

// ---- a pool task owning a Worker blocked on the lock the task holds ------------------------

/// Takes the named lock of the message with a blocking `lock()`, then replies.
struct Locker;

impl WorkerHandler for Locker {
    type In = String;
    type Out = String;

    async fn on_message(&mut self, name: String, port: &WorkerPort<String>) -> HandlerResult {
        let lock = AsyncLock::request(&name);
        let _guard = lock.lock();
        port.post_message(format!("{name} taken"))?;
        Ok(())
    }
}

/// Holds the named lock `name` while a Worker it made blocks on it and the task waits for the
/// worker's reply: a deadlock the reply's timeout and the Worker's bounded drop end.
#[concurrent]
fn hold_lock_and_ask_a_worker(name: String, thread: String) -> String {
    let lock = AsyncLock::request(&name);
    let guard = lock.lock();
    let worker = Worker::builder()
        .name(thread)
        .join_timeout(SHORT_LIMIT)
        .spawn(|| Locker)
        .unwrap();
    worker.post_message(name.clone()).unwrap();
    let heard = worker.recv_timeout(SHORT_LIMIT);
    // Dropping the Worker asks it to end and waits for it a bounded time: its thread is
    // blocked in `lock()`, so the drop gives up and detaches it.
    drop(worker);
    drop(guard);
    format!("{heard:?}")
}

#[test]
fn a_pool_task_and_its_worker_deadlocked_on_a_lock_end_by_timeouts_and_leave_no_thread() {
    let pool = TaskPool::builder().thread_name("xp-b").build().unwrap();
    let name = "xp-b-lock".to_string();
    let handle = pool.execute(Task::new(
        hold_lock_and_ask_a_worker,
        (name.clone(), "xp-bw".to_string()),
    ));
    let outcome = { handle }
        .wait_timeout(PATIENCE)
        .expect("resolves")
        .unwrap();
    assert!(
        outcome.contains("Timeout") || outcome.contains("TimedOut"),
        "{outcome}"
    );
    // Released, the lock lets the detached worker thread go: it replies to nobody and ends.
    wait_until("the worker's threads end", || threads_named("xp-bw") == 0);
    wait_until("the named lock is gone", || {
        AsyncLock::query(&name).is_err()
    });
    pool.shutdown_timeout(PATIENCE);
    wait_until("every thread ends", || pool_threads("xp-b") == 0);
}

// ---- named locks awaited by tasks a shutdown abandons ---------------------------------------

/// Waits for the named lock `name` (with a signal-less, deadline-less request), then returns.
#[concurrent]
async fn await_named_lock(name: String) -> u32 {
    let lock = AsyncLock::request(&name);
    let _guard = lock.lock_async_with(AsyncLockOptions::new()).await;
    1
}

/// Waits for the named lock `name` with a blocking `lock()`, then returns.
#[concurrent]
fn block_on_named_lock(name: String) -> u32 {
    let lock = AsyncLock::request(&name);
    let _guard = lock.lock();
    2
}

#[test]
fn waiters_of_a_named_lock_abandoned_by_a_shutdown_leave_its_queue_and_every_handle_resolves() {
    let name = "xp-c-lock".to_string();
    let lock = AsyncLock::request(&name);
    let guard = lock.lock();
    let pool = TaskPool::builder()
        .thread_name("xp-c")
        .max_threads(2)
        .build()
        .unwrap();
    let mut handles = Vec::new();
    for i in 0..6 {
        let handle = if i % 3 == 0 {
            pool.execute(Task::new(block_on_named_lock, (name.clone(),)))
        } else {
            pool.execute(Task::new(await_named_lock, (name.clone(),)))
        };
        handles.push(handle);
    }
    wait_until("some requests queue", || lock.state().pending.len() >= 3);
    pool.shutdown_timeout(Duration::ZERO);
    let outcomes: Vec<_> = handles
        .into_iter()
        .map(|mut h| h.wait_timeout(PATIENCE))
        .collect();
    for outcome in &outcomes {
        assert!(
            matches!(
                outcome,
                Some(Err(Error::PoolShutDown | Error::Canceled { .. }))
            ),
            "{outcome:?}"
        );
    }
    // Only the blocked threads, detached, still wait; their requests are served in turn.
    drop(guard);
    wait_until("the abandoned blocking requests are served", || {
        let state = lock.state();
        state.held.is_empty() && state.pending.is_empty()
    });
    wait_until("the detached threads end", || pool_threads("xp-c") == 0);
    drop(lock);
    wait_until("the named lock is gone", || {
        AsyncLock::query(&name).is_err()
    });
}

// ---- a group with panicking members and arguments, shut down mid-way -------------------------

#[concurrent]
fn gated_or_panic(gate: u64, bomb: Bomb) -> u64 {
    let _keep = bomb;
    if gate == 0 {
        panic!("a member panics");
    }
    pass_gate(gate);
    gate
}

#[test]
fn a_group_with_panicking_members_and_drops_resolves_when_its_pool_shuts_down_at_once() {
    const GATE: u64 = 98_010;
    let pool = TaskPool::builder()
        .thread_name("xp-d")
        .max_threads(2)
        .build()
        .unwrap();
    // One member holds a thread; the group's other members panic, in their body or in their
    // argument's `Drop`, or wait for a thread.
    let mut group = TaskGroup::new();
    group
        .add_task(Task::new(gated_or_panic, (GATE, Bomb(98_010))))
        .unwrap();
    for i in 0..4 {
        group
            .add_task(Task::new(
                gated_or_panic,
                (u64::from(i % 2), Bomb(98_011 + i)),
            ))
            .unwrap();
    }
    let handle = pool.execute_group(&group, Priority::High);
    let again = pool.execute_group(&group, Priority::Low);
    pool.shutdown_timeout(Duration::ZERO);
    for h in [handle, again] {
        let outcome = bounded("the group resolves", move || h.wait());
        assert!(outcome.is_err(), "{outcome:?}");
    }
    open_gate(GATE);
    wait_until("every thread ends", || pool_threads("xp-d") == 0);
    // The group still owns its tasks' arguments: dropping it drops them, and a panicking
    // `Drop` of the caller's own value reaches the caller, as for any container. (A member
    // copies its arguments as it starts: whether the held one started before the shutdown or
    // not, no copy of them is left.)
    assert!(catch_unwind(AssertUnwindSafe(|| drop(group))).is_err());
    for id in 98_010..98_015 {
        assert!(dropped(id), "bomb {id}");
    }
}

// ---- condition waits on a lock, abandoned by a shutdown ----------------------------------

/// Takes the named lock, waits on the named condition variable with it, then returns.
#[concurrent]
async fn wait_with_named(lock: String, condition: String) -> u32 {
    let lock = AsyncLock::request(&lock);
    let condition = ConditionVariable::request(&condition);
    let guard = lock.lock_async().await;
    let _guard = condition.wait_with_async(guard).await;
    3
}

/// Runs `count` tasks waiting on condition `names.1` with lock `names.0` on a fresh pool,
/// lets `before_shutdown` act once they all wait, shuts the pool down at once and checks that
/// every handle resolved and neither the lock nor the condition variable keeps a waiter.
fn abandon_condition_waiters(prefix: &str, names: (&str, &str), before_shutdown: impl FnOnce()) {
    let lock = AsyncLock::request(names.0);
    let condition = ConditionVariable::request(names.1);
    let pool = TaskPool::builder().thread_name(prefix).build().unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let args = (names.0.to_string(), names.1.to_string());
            pool.execute(Task::new(wait_with_named, args))
        })
        .collect();
    wait_until("every task waits", || condition.waiters() == 4);
    before_shutdown();
    pool.shutdown_timeout(Duration::ZERO);
    for mut handle in handles {
        let outcome = handle.wait_timeout(PATIENCE).expect("resolves");
        assert!(outcome.is_err(), "{outcome:?}");
    }
    // The abandoned futures are dropped by the shutdown's sweep, after the handles resolved.
    wait_until("the waits are dropped", || {
        condition.waiters() == 0 && lock.state().pending.is_empty()
    });
    wait_until("every thread ends", || pool_threads(prefix) == 0);
}

#[test]
fn condition_waiters_abandoned_by_a_shutdown_leave_the_condition_variable() {
    abandon_condition_waiters("xp-f", ("xp-f-lock", "xp-f-cv"), || ());
    assert!(AsyncLock::request("xp-f-lock").state().held.is_empty());
    assert!(AsyncLock::query("xp-f-lock").is_err());
}

#[test]
fn notified_waiters_abandoned_while_they_queue_for_the_lock_leave_its_queue() {
    let lock = AsyncLock::request("xp-g-lock");
    let condition = ConditionVariable::request("xp-g-cv");
    let holder = std::cell::RefCell::new(None);
    abandon_condition_waiters("xp-g", ("xp-g-lock", "xp-g-cv"), || {
        // Notified while the lock is held here, every waiter queues to take it back.
        *holder.borrow_mut() = Some(lock.lock());
        condition.notify_all();
        wait_until("the notified waiters queue for the lock", || {
            lock.state().pending.len() == 4
        });
    });
    drop(holder);
    drop(condition);
    let state = lock.state();
    assert!(state.held.is_empty() && state.pending.is_empty(), "{state}");
    drop(lock);
    assert!(AsyncLock::query("xp-g-lock").is_err());
}

// ---- runners whose pool shuts down mid-way ----------------------------------------------

#[concurrent]
fn gated_bomb(gate: u64, bomb: Bomb) -> u64 {
    let _keep = bomb;
    if gate != 0 {
        pass_gate(gate);
    }
    gate
}

#[test]
fn runners_whose_pool_shuts_down_at_once_resolve_every_handle_and_refuse_later_tasks() {
    const GATE: u64 = 98_020;
    let pool = TaskPool::builder()
        .thread_name("xp-h")
        .max_threads(2)
        .build()
        .unwrap();
    let sequence = pool.sequence_runner(Priority::Medium);
    let runner = pool.async_runner(1, 0).unwrap();
    let mut handles = vec![
        sequence.execute(Task::new(gated_bomb, (GATE, Bomb(98_020)))),
        runner.execute(Task::new(gated_bomb, (GATE, Bomb(98_021))), Priority::Low),
    ];
    for i in 0..3 {
        handles.push(sequence.execute(Task::new(gated_bomb, (0, Bomb(98_022 + i)))));
        handles.push(runner.execute(Task::new(gated_bomb, (0, Bomb(98_025 + i))), Priority::High));
    }
    wait_until("both gated tasks execute", || busy_threads(&pool) == 2);
    let cancel = handles[2].cancel();
    assert!(cancel.is_ok(), "{cancel:?}");
    pool.shutdown_timeout(Duration::ZERO);
    for mut handle in handles {
        let outcome = handle.wait_timeout(PATIENCE).expect("resolves");
        assert!(outcome.is_err(), "{outcome:?}");
    }
    for mut late in [
        sequence.execute(Task::new(gated_bomb, (0, Bomb(98_028)))),
        runner.execute(Task::new(gated_bomb, (0, Bomb(98_029))), Priority::High),
    ] {
        let outcome = late.wait_timeout(PATIENCE).expect("resolves");
        assert!(matches!(outcome, Err(Error::PoolShutDown)), "{outcome:?}");
    }
    open_gate(GATE);
    wait_until("every thread ends", || pool_threads("xp-h") == 0);
    wait_until("every argument is dropped", || {
        (98_020..98_030).all(dropped)
    });
}

// ---- a periodic task with panicking listeners that cancels itself, its pool dropped -------

static TICKS: AtomicU32 = AtomicU32::new(0);

/// Panics on odd runs.
#[concurrent]
fn flaky_tick() -> u32 {
    let tick = TICKS.fetch_add(1, Ordering::SeqCst) + 1;
    assert!(tick % 2 == 0, "odd tick {tick}");
    tick
}

/// The pool of the periodic probe, which its own listener drops.
static PERIODIC_POOL: Mutex<Option<TaskPool>> = Mutex::new(None);

#[test]
fn a_periodic_task_whose_listeners_panic_and_drop_its_pool_stops_and_leaves_no_thread() {
    let task = Task::new(flaky_tick, ());
    task.on_start_execution(|| panic!("start listener panics"))
        .unwrap();
    task.on_execution_failed(|_| panic!("failure listener panics"))
        .unwrap();
    task.on_execution_succeeded(|| {
        if TICKS.load(Ordering::SeqCst) >= 4 {
            // On a thread of the very pool it drops.
            drop(PERIODIC_POOL.lock().unwrap().take());
        }
        panic!("success listener panics");
    })
    .unwrap();
    let pool = TaskPool::builder().thread_name("xp-i").build().unwrap();
    let periodic = pool
        .execute_periodically(Duration::from_millis(1), task, Priority::High)
        .unwrap();
    *PERIODIC_POOL.lock().unwrap() = Some(pool);
    wait_until("the pool is dropped", || {
        PERIODIC_POOL.lock().unwrap().is_none()
    });
    wait_until("the periodic execution stops", || periodic.is_stopped());
    wait_until("every thread ends", || pool_threads("xp-i") == 0);
    assert!(periodic.runs_started() >= 4);
    let cancel = periodic.cancel();
    assert!(cancel.is_err(), "{cancel:?}");
}

// ---- composition handles awaited by a broken executor ---------------------------------------

/// Polls `future` once with a waker that panics when woken; expects it to wait.
fn park_with_panicking_waker<F: Future + Unpin>(future: &mut F) -> Arc<PanickingWaker> {
    let (polled, counter) = poll_with_panicking_waker(future);
    assert!(polled.is_pending(), "expected the future to wait");
    counter
}

/// A pool with one thread and no extra one: what runs next runs after what the gate holds.
fn one_thread_pool(prefix: &str) -> TaskPool {
    TaskPool::builder()
        .thread_name(prefix)
        .max_threads(1)
        .extra_threads(0)
        .build()
        .unwrap()
}

#[test]
fn a_runner_s_next_task_starts_after_a_handle_whose_waker_panics_resolves() {
    const GATE: u64 = 98_030;
    let pool = one_thread_pool("xp-j");
    let sequence = pool.sequence_runner(Priority::High);
    let runner = pool.async_runner(1, 0).unwrap();
    let mut first = sequence.execute(Task::new(gated, (GATE,)));
    let mut second = runner.execute(Task::new(gated, (GATE + 1,)), Priority::High);
    let wakers = [
        park_with_panicking_waker(&mut first),
        park_with_panicking_waker(&mut second),
    ];
    let mut next = sequence.execute(Task::new(gated, (0,)));
    let mut after = runner.execute(Task::new(gated, (0,)), Priority::High);
    open_gate(GATE);
    open_gate(GATE + 1);
    wait_until("both wakers were woken", || {
        wakers.iter().all(|w| w.woken() > 0)
    });
    assert_eq!(next.wait_timeout(PATIENCE).expect("resolves").unwrap(), 0);
    assert_eq!(after.wait_timeout(PATIENCE).expect("resolves").unwrap(), 0);
    assert_eq!(block_on(first).unwrap(), GATE);
    assert_eq!(block_on(second).unwrap(), GATE + 1);
}

#[test]
fn a_dependent_task_starts_after_its_dependency_s_handle_waker_panics() {
    const GATE: u64 = 98_032;
    let pool = one_thread_pool("xp-k");
    let first = Task::new(gated, (GATE,));
    let then = Task::new(gated, (0,));
    then.add_dependency(&first).unwrap();
    let mut then = pool.execute(then);
    let mut first = pool.execute(first);
    let waker = park_with_panicking_waker(&mut first);
    open_gate(GATE);
    wait_until("the waker was woken", || waker.woken() > 0);
    assert_eq!(then.wait_timeout(PATIENCE).expect("resolves").unwrap(), 0);
    assert_eq!(block_on(first).unwrap(), GATE);
}

#[test]
fn a_group_handle_whose_waker_panics_resolves_and_the_pool_runs_on() {
    const GATE: u64 = 98_033;
    let pool = one_thread_pool("xp-l");
    let mut group = TaskGroup::new();
    group.add_task(Task::new(gated, (GATE,))).unwrap();
    group.add_task(Task::new(gated, (0,))).unwrap();
    let mut handle = pool.execute_group(&group, Priority::High);
    let waker = park_with_panicking_waker(&mut handle);
    open_gate(GATE);
    wait_until("the waker was woken", || waker.woken() > 0);
    assert_eq!(block_on(handle).unwrap(), vec![GATE, 0]);
    let mut later = pool.execute(Task::new(gated, (0,)));
    assert_eq!(later.wait_timeout(PATIENCE).expect("resolves").unwrap(), 0);
}

#[test]
fn a_delayed_handle_whose_waker_panics_resolves_and_the_timer_runs_on() {
    const GATE: u64 = 98_034;
    let pool = one_thread_pool("xp-m");
    let mut delayed =
        pool.execute_delayed(Duration::ZERO, Task::new(gated, (GATE,)), Priority::High);
    let waker = park_with_panicking_waker(&mut delayed);
    open_gate(GATE);
    wait_until("the waker was woken", || waker.woken() > 0);
    assert_eq!(block_on(delayed).unwrap(), GATE);
    let mut later = pool.execute_delayed(
        Duration::from_millis(1),
        Task::new(gated, (0,)),
        Priority::High,
    );
    assert_eq!(later.wait_timeout(PATIENCE).expect("resolves").unwrap(), 0);
}

// ---- named locks churned by tasks of several pools ------------------------------------------

/// A read-modify-write only mutual exclusion keeps exact.
static CHURNED: AtomicU32 = AtomicU32::new(0);

/// Requests the named lock anew for each of `rounds` increments, so its last handle comes and
/// goes while other threads request it.
#[concurrent]
fn churn_named_lock(name: String, rounds: u32) -> u32 {
    for _ in 0..rounds {
        let lock = AsyncLock::request(&name);
        let guard = lock.lock();
        let seen = CHURNED.load(Ordering::SeqCst);
        std::thread::yield_now();
        CHURNED.store(seen + 1, Ordering::SeqCst);
        drop(guard);
    }
    rounds
}

#[test]
fn a_named_lock_whose_last_handle_comes_and_goes_stays_one_lock_across_pools() {
    let name = "xp-n-lock".to_string();
    let pools: Vec<_> = (0..2)
        .map(|i| {
            TaskPool::builder()
                .thread_name(format!("xp-n{i}"))
                .max_threads(3)
                .build()
                .unwrap()
        })
        .collect();
    let handles: Vec<_> = (0..12)
        .map(|i| pools[i % 2].execute(Task::new(churn_named_lock, (name.clone(), 200))))
        .collect();
    for mut handle in handles {
        assert_eq!(
            handle.wait_timeout(PATIENCE).expect("resolves").unwrap(),
            200
        );
    }
    assert_eq!(CHURNED.load(Ordering::SeqCst), 12 * 200);
    assert!(AsyncLock::query(&name).is_err());
    assert!(
        AsyncLock::query_all()
            .iter()
            .all(|state| state.name != name)
    );
}

// ---- a Worker whose handler owns a pool, terminated mid-await ---------------------------

/// Owns a pool made on the worker thread and awaits its task for each message.
struct PoolOwner {
    pool: TaskPool,
}

impl WorkerHandler for PoolOwner {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, gate: u64, port: &WorkerPort<u64>) -> HandlerResult {
        port.post_message(0)?;
        let value = self.pool.execute(Task::new(gated, (gate,))).await?;
        port.post_message(value)?;
        Ok(())
    }
}

#[test]
fn a_worker_owning_a_pool_terminated_while_awaiting_its_task_leaves_no_thread() {
    const GATE: u64 = 98_040;
    let worker = Worker::builder()
        .name("xp-ow")
        .join_timeout(SHORT_LIMIT)
        .spawn(|| PoolOwner {
            pool: TaskPool::builder().thread_name("xp-o").build().unwrap(),
        })
        .unwrap();
    worker.post_message(GATE).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE).unwrap(), 0);
    wait_until("the pool task executes", || pool_threads("xp-o") >= 1);
    // The handler is dropped on the worker thread with its pool, whose drop waits for the
    // gated call: terminating and dropping the Worker must not wait for it beyond the join
    // timeout.
    worker.terminate().unwrap();
    bounded("dropping the worker", move || drop(worker));
    open_gate(GATE);
    wait_until("every thread ends", || {
        pool_threads("xp-o") == 0 && threads_named("xp-ow") == 0
    });
}

/// Closes its worker at the first message.
struct Closer;

impl WorkerHandler for Closer {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, _: u64, port: &WorkerPort<u64>) -> HandlerResult {
        port.close()?;
        Ok(())
    }
}

/// Makes a Worker whose handler closes it at the first message, then waits for its exit.
#[concurrent]
fn await_a_closing_worker(thread: String) -> String {
    let worker = Worker::builder().name(thread).spawn(|| Closer).unwrap();
    worker.post_message(0).unwrap();
    format!("{:?}", worker.wait_for_exit())
}

#[test]
fn pool_tasks_waiting_for_their_workers_to_close_end_with_them_as_the_pool_shuts_down() {
    let pool = TaskPool::builder()
        .thread_name("xp-q")
        .max_threads(2)
        .build()
        .unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| pool.execute(Task::new(await_a_closing_worker, (format!("xp-qw{i}"),))))
        .collect();
    pool.shutdown_timeout(PATIENCE);
    for mut handle in handles {
        let outcome = handle.wait_timeout(PATIENCE).expect("resolves");
        match outcome {
            Ok(code) => assert_eq!(code, "0"),
            Err(e) => assert!(matches!(e, Error::Canceled { started: false, .. }), "{e:?}"),
        }
    }
    wait_until("every thread ends", || {
        pool_threads("xp-q") == 0 && threads_named("xp-qw") == 0
    });
}

// ---- a dependency chain with a panicking member, canceled and shut down mid-way --------------

#[test]
fn a_dependency_chain_failing_canceled_and_shut_down_mid_way_resolves_every_handle() {
    const GATE: u64 = 98_050;
    let pool = TaskPool::builder()
        .thread_name("xp-r")
        .max_threads(2)
        .build()
        .unwrap();
    // gate ← panics ← a ← b, and gate ← c ← d with c canceled while it waits.
    let head = Task::new(gated_bomb, (GATE, Bomb(98_050)));
    let panics = Task::new(gated_or_panic, (0, Bomb(98_051)));
    let a = Task::new(gated_bomb, (0, Bomb(98_052)));
    let b = Task::new(gated_bomb, (0, Bomb(98_053)));
    let c = Task::new(gated_bomb, (0, Bomb(98_054)));
    let d = Task::new(gated_bomb, (0, Bomb(98_055)));
    panics.add_dependency(&head).unwrap();
    a.add_dependency(&panics).unwrap();
    b.add_dependency(&a).unwrap();
    c.add_dependency(&head).unwrap();
    d.add_dependency(&c).unwrap();
    let mut handles = vec![pool.execute(b), pool.execute(a), pool.execute(d)];
    let mut c = pool.execute(c);
    handles.push(pool.execute(panics));
    handles.push(pool.execute(head));
    wait_until("the head executes", || busy_threads(&pool) == 1);
    c.cancel().unwrap();
    let canceled = c.wait_timeout(PATIENCE).expect("resolves");
    assert!(
        matches!(canceled, Err(Error::Canceled { .. })),
        "{canceled:?}"
    );
    pool.shutdown_timeout(Duration::ZERO);
    for mut handle in handles {
        let outcome = handle.wait_timeout(PATIENCE).expect("resolves");
        assert!(outcome.is_err(), "{outcome:?}");
    }
    open_gate(GATE);
    wait_until("every thread ends", || pool_threads("xp-r") == 0);
    wait_until("every argument is dropped", || {
        (98_050..98_056).all(dropped)
    });
}

// ---- delayed tasks whose pool is dropped during the delay -----------------------------------

#[test]
fn delayed_tasks_whose_pool_is_dropped_during_the_delay_resolve_and_drop_their_arguments() {
    let pool = TaskPool::builder().thread_name("xp-s").build().unwrap();
    let mut handles: Vec<_> = [Duration::from_secs(3600), Duration::MAX]
        .into_iter()
        .zip(98_060..)
        .map(|(delay, id)| {
            pool.execute_delayed(delay, Task::new(gated_bomb, (0, Bomb(id))), Priority::Low)
        })
        .collect();
    let listened = Task::new(gated_bomb, (0, Bomb(98_062)));
    listened
        .on_enqueued(|| panic!("enqueued listener panics"))
        .unwrap();
    handles.push(pool.execute_delayed(Duration::from_secs(3600), listened, Priority::Idle));
    bounded("dropping the pool", move || drop(pool));
    for mut handle in handles {
        let outcome = handle.wait_timeout(PATIENCE).expect("resolves");
        assert!(outcome.is_err(), "{outcome:?}");
    }
    wait_until("every argument is dropped", || {
        (98_060..98_063).all(dropped)
    });
    wait_until("every thread ends", || pool_threads("xp-s") == 0);
}

// ---- composition that drops user values on the caller's thread -------------------------------

#[test]
fn an_async_runner_discarding_and_a_group_cancel_dropping_panicking_arguments_do_not_panic() {
    const GATE: u64 = 98_070;
    let pool = one_thread_pool("xp-t");
    let runner = pool.async_runner(1, 1).unwrap();
    let mut running = runner.execute(Task::new(gated_bomb, (GATE, Bomb(98_070))), Priority::High);
    wait_until("the gated task executes", || busy_threads(&pool) == 1);
    let mut discarded = runner.execute(Task::new(gated_bomb, (0, Bomb(98_071))), Priority::High);
    // Executing the next task discards the waiting one, whose argument's `Drop` panics.
    let mut next = bounded("a discarding execute", {
        let runner = runner.clone();
        move || runner.execute(Task::new(gated_bomb, (0, Bomb(98_072))), Priority::High)
    });
    let outcome = discarded.wait_timeout(PATIENCE).expect("resolves");
    assert_eq!(outcome.unwrap_err().code(), Some(10200054));
    let mut group = TaskGroup::new();
    for id in 98_073..98_076 {
        group
            .add_task(Task::new(gated_bomb, (0, Bomb(id))))
            .unwrap();
    }
    let members = pool.execute_group(&group, Priority::Low);
    let cancel = catch_unwind(AssertUnwindSafe(|| members.cancel()));
    assert!(matches!(cancel, Ok(Ok(()))), "{cancel:?}");
    let outcome = bounded("the group resolves", move || members.wait());
    assert!(outcome.is_err(), "{outcome:?}");
    open_gate(GATE);
    // A task body drops its arguments: their panicking `Drop` fails the run.
    for handle in [&mut running, &mut next] {
        let outcome = handle.wait_timeout(PATIENCE).expect("resolves");
        assert!(
            matches!(outcome, Err(Error::Panicked { .. })),
            "{outcome:?}"
        );
    }
    wait_until("the arguments are dropped", || {
        (98_070..98_073).all(dropped)
    });
    let dropping = catch_unwind(AssertUnwindSafe(|| drop(group)));
    assert!(
        dropping.is_err(),
        "the group's own arguments go off with it"
    );
}

// ---- wakers that call back into the lock or condition variable waking them -----------------

/// A waker that runs `on_wake` each time it is woken: an executor whose wake-up re-enters the
/// primitive that woke it.
struct Reentrant(Box<dyn Fn() + Send + Sync>);

impl std::task::Wake for Reentrant {
    fn wake(self: Arc<Self>) {
        (self.0)();
    }
}

/// Polls `future` once with a waker running `on_wake`; expects it to wait.
fn park_reentrant<F: Future + Unpin>(future: &mut F, on_wake: impl Fn() + Send + Sync + 'static) {
    let waker = std::task::Waker::from(Arc::new(Reentrant(Box::new(on_wake))));
    let polled = std::pin::Pin::new(future).poll(&mut std::task::Context::from_waker(&waker));
    assert!(polled.is_pending(), "expected the future to wait");
}

#[test]
fn a_notified_waiter_whose_waker_notifies_again_passes_it_on_without_deadlock() {
    let condition = Shared::new(ConditionVariable::new());
    let mut first = Box::pin(condition.wait_async());
    let mut second = Box::pin(condition.wait_async());
    let again = condition.clone();
    park_reentrant(&mut first, move || {
        let _ = again.waiters();
        again.notify_one();
    });
    let second_woken = Arc::new(AtomicU32::new(0));
    let woken = Arc::clone(&second_woken);
    park_reentrant(&mut second, move || {
        woken.fetch_add(1, Ordering::SeqCst);
    });
    let notifier = condition.clone();
    bounded("a reentrant notify", move || notifier.notify_one());
    assert_eq!(second_woken.load(Ordering::SeqCst), 1);
    block_on(first);
    block_on(second);
    assert_eq!(condition.waiters(), 0);
}

#[test]
fn a_granted_request_whose_waker_aborts_the_next_one_leaves_the_lock_consistent() {
    // Leaked, so that its guard may be dropped on a bounded thread.
    let lock: &'static Shared<AsyncLock<u32>> = Box::leak(Box::new(Shared::new(AsyncLock::new(0))));
    let signal = taskpool::AbortSignal::new();
    let guard = lock.lock();
    let mut first = Box::pin(lock.lock_async());
    let mut second = Box::pin(lock.lock_async_with(AsyncLockOptions::new().signal(signal.clone())));
    let (aborting, reading) = (signal.clone(), lock);
    park_reentrant(&mut first, move || {
        aborting.abort("the first request's executor aborts the second");
        let _ = reading.state();
    });
    park_reentrant(&mut second, || ());
    bounded("a release granting the reentrant waker", move || {
        drop(guard)
    });
    *block_on(first) += 1;
    let aborted = block_on(second);
    assert!(
        matches!(aborted, Err(Error::LockAborted { .. })),
        "{aborted:?}"
    );
    let state = lock.state();
    assert!(state.held.is_empty() && state.pending.is_empty(), "{state}");
    assert_eq!(*lock.lock(), 1);
}

// ---- a periodic task canceled by its own listener, its pool's only thread busy -----------------

/// The periodic execution its own success listener cancels.
static SELF_CANCELED: Mutex<Option<taskpool::PeriodicHandle>> = Mutex::new(None);

/// Runs of the periodic task its listener cancels.
static SELF_CANCEL_RUNS: AtomicU32 = AtomicU32::new(0);

#[concurrent]
fn count_self_cancel_run() -> u32 {
    SELF_CANCEL_RUNS.fetch_add(1, Ordering::SeqCst) + 1
}

#[test]
fn a_periodic_task_canceled_by_its_own_listener_stops_and_its_pool_drops_cleanly() {
    let pool = one_thread_pool("xp-u");
    let task = Task::new(count_self_cancel_run, ());
    task.on_execution_succeeded(|| {
        let periodic = SELF_CANCELED.lock().unwrap().clone();
        if let Some(periodic) = periodic {
            // Its second cancel, by a later run's listener, finds it stopped.
            let _ = periodic.cancel();
            assert!(periodic.is_stopped());
        }
    })
    .unwrap();
    let periodic = pool
        .execute_periodically(Duration::from_millis(1), task, Priority::Medium)
        .unwrap();
    *SELF_CANCELED.lock().unwrap() = Some(periodic.clone());
    wait_until("the periodic execution stops", || periodic.is_stopped());
    let runs = SELF_CANCEL_RUNS.load(Ordering::SeqCst);
    assert!(runs >= 1);
    assert_eq!(
        pool.run(gated, (0,))
            .wait_timeout(PATIENCE)
            .expect("resolves")
            .unwrap(),
        0
    );
    assert_eq!(
        SELF_CANCEL_RUNS.load(Ordering::SeqCst),
        runs,
        "no run after the stop"
    );
    drop(SELF_CANCELED.lock().unwrap().take());
    bounded("dropping the pool", move || drop(pool));
    wait_until("every thread ends", || pool_threads("xp-u") == 0);
}

// ---- a pool task and the Worker it waits for, both needing the pool's only thread ------------

/// Awaits `gated(0)` on the global `POOL_OF_ONE` pool, then replies.
struct RunsOnPoolOfOne;

/// The one-thread pool shared by a task and the Worker it made.
static POOL_OF_ONE: Mutex<Option<Arc<TaskPool>>> = Mutex::new(None);

impl WorkerHandler for RunsOnPoolOfOne {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, _: u64, port: &WorkerPort<u64>) -> HandlerResult {
        let pool = POOL_OF_ONE.lock().unwrap().clone();
        let Some(pool) = pool else {
            return Ok(());
        };
        let handle = pool.execute(Task::new(gated, (0,)));
        drop(pool);
        port.post_message(handle.await?)?;
        Ok(())
    }
}

/// Waits (bounded) for a reply its Worker can only make once this task's thread is free.
#[concurrent]
fn wait_for_a_worker_needing_this_thread() -> String {
    let worker = Worker::builder()
        .name("xp-vw")
        .join_timeout(SHORT_LIMIT)
        .spawn(|| RunsOnPoolOfOne)
        .unwrap();
    worker.post_message(0).unwrap();
    let heard = worker.recv_timeout(SHORT_LIMIT);
    drop(worker);
    format!("{heard:?}")
}

#[test]
fn a_task_waiting_for_a_worker_that_needs_its_thread_times_out_and_everything_ends() {
    let pool = Arc::new(one_thread_pool("xp-v"));
    *POOL_OF_ONE.lock().unwrap() = Some(Arc::clone(&pool));
    let mut waiting = pool.run(wait_for_a_worker_needing_this_thread, ());
    let outcome = waiting.wait_timeout(PATIENCE).expect("resolves").unwrap();
    assert!(
        outcome.contains("Timeout") || outcome.contains("TimedOut"),
        "{outcome}"
    );
    drop(POOL_OF_ONE.lock().unwrap().take());
    wait_until("the worker's threads end", || threads_named("xp-vw") == 0);
    let pool = Arc::into_inner(pool).expect("the only handle");
    bounded("dropping the pool", move || drop(pool));
    wait_until("every thread ends", || pool_threads("xp-v") == 0);
}

// ---- a Worker terminated while its handler holds or waits for a lock ---------------------------

/// For message `n`: takes the named lock `xp-x-lock` asynchronously, says so, then sleeps an
/// hour holding it (odd `n`), or just waits for it (even `n`, while the host holds it).
struct LockKeeper;

impl WorkerHandler for LockKeeper {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        let lock = AsyncLock::request("xp-x-lock");
        port.post_message(n)?;
        let _guard = lock.lock_async().await;
        port.post_message(n + 100)?;
        taskpool::sleep(Duration::from_secs(3600)).await;
        Ok(())
    }
}

#[test]
fn a_worker_terminated_while_holding_or_awaiting_a_lock_lets_it_go() {
    let lock = AsyncLock::request("xp-x-lock");
    for (n, host_holds) in [(1, false), (2, true)] {
        let held = host_holds.then(|| lock.lock());
        let worker = Worker::builder()
            .name(format!("xp-x{n}"))
            .spawn(|| LockKeeper)
            .unwrap();
        worker.post_message(n).unwrap();
        assert_eq!(worker.recv_timeout(PATIENCE).unwrap(), n);
        if host_holds {
            wait_until("the handler queues", || lock.state().pending.len() == 1);
        } else {
            assert_eq!(worker.recv_timeout(PATIENCE).unwrap(), n + 100);
            assert_eq!(lock.state().held.len(), 1);
        }
        worker.terminate().unwrap();
        assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(0));
        let state = lock.state();
        assert_eq!(state.held.len(), usize::from(host_holds), "{state}");
        assert!(state.pending.is_empty(), "{state}");
        drop((held, worker));
        wait_until("the worker's threads end", || {
            threads_named(&format!("xp-x{n}")) == 0
        });
    }
    assert!(lock.try_lock().is_some());
}

// ---- streams of periodic and gated tasks whose pool shuts down ---------------------------------

/// Sends its tick number, then returns it.
#[concurrent]
fn send_tick() -> u32 {
    let tick = SENT_TICKS.fetch_add(1, Ordering::SeqCst);
    taskpool::send_data(tick).unwrap();
    tick
}

static SENT_TICKS: AtomicU32 = AtomicU32::new(0);

#[test]
fn the_data_stream_of_a_periodic_task_ends_when_its_pool_shuts_down() {
    let pool = TaskPool::builder().thread_name("xp-y").build().unwrap();
    let task = Task::new(send_tick, ());
    let mut ticks = task.data_stream::<u32>();
    let periodic = pool
        .execute_periodically(Duration::from_millis(1), task, Priority::Low)
        .unwrap();
    let first: Vec<u32> = ticks.blocking_iter().take(2).collect();
    assert_eq!(first.len(), 2);
    pool.shutdown_timeout(PATIENCE);
    // What the last runs sent, then the end.
    bounded("the stream ends", move || ticks.blocking_iter().count());
    assert!(periodic.is_stopped());
    assert!(periodic.cancel().is_err());
    wait_until("every thread ends", || pool_threads("xp-y") == 0);
}

// ---- named runners whose last handle comes and goes while their tasks run ----------------------

/// Whether a task of the named runner below is inside its body, and how often two were.
static IN_NAMED_RUNNER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static NAMED_RUNNER_OVERLAPS: AtomicU32 = AtomicU32::new(0);

/// Notes an overlap if another task of its runner is inside too.
#[concurrent]
fn alone_in_runner(n: u32) -> u32 {
    if IN_NAMED_RUNNER.swap(true, Ordering::SeqCst) {
        NAMED_RUNNER_OVERLAPS.fetch_add(1, Ordering::SeqCst);
    }
    std::thread::yield_now();
    IN_NAMED_RUNNER.store(false, Ordering::SeqCst);
    n
}

/// From four threads, executes 150 tasks each with `execute`, which requests a named runner,
/// executes the task on it and drops the runner, so that the task alone keeps the runner alive
/// while another thread asks for it; waits for them all.
fn churn_named_runner(execute: fn(u32) -> taskpool::TaskHandle<u32>) {
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut later = Vec::new();
                for n in 0..150 {
                    later.push((n, execute(n)));
                    if (n + t) % 2 == 0 {
                        for (n, mut handle) in later.drain(..) {
                            let outcome = handle.wait_timeout(PATIENCE).expect("resolves");
                            assert_eq!(outcome.unwrap(), n);
                        }
                    }
                }
                for (n, mut handle) in later {
                    assert_eq!(handle.wait_timeout(PATIENCE).expect("resolves").unwrap(), n);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn named_runners_whose_handles_come_and_go_never_overlap_their_tasks() {
    churn_named_runner(|n| {
        taskpool::SequenceRunner::named("xp-seq", Priority::High)
            .execute(Task::new(alone_in_runner, (n,)))
    });
    churn_named_runner(|n| {
        taskpool::AsyncRunner::named("xp-async", 1, 0)
            .unwrap()
            .execute(Task::new(alone_in_runner, (n,)), Priority::High)
    });
    assert_eq!(NAMED_RUNNER_OVERLAPS.load(Ordering::SeqCst), 0);
}

// ---- a failing group whose finished members' results panic in Drop -----------------------------

/// Returns a bomb at once (`gate` 0) or panics once `gate` opens.
#[concurrent]
fn bomb_or_panic(gate: u64, id: u32) -> Bomb {
    if gate != 0 {
        pass_gate(gate);
        panic!("member {id} fails the group");
    }
    Bomb(id)
}

#[test]
fn a_failing_group_drops_its_finished_members_bombs_and_its_pool_runs_on() {
    const GATE: u64 = 98_080;
    let pool = TaskPool::builder()
        .thread_name("xp-g2")
        .max_threads(2)
        .build()
        .unwrap();
    let mut group = TaskGroup::new();
    group
        .add_task(Task::new(bomb_or_panic, (0, 98_080)))
        .unwrap();
    group
        .add_task(Task::new(bomb_or_panic, (0, 98_081)))
        .unwrap();
    group
        .add_task(Task::new(bomb_or_panic, (GATE, 98_082)))
        .unwrap();
    let handle = pool.execute_group(&group, Priority::High);
    wait_until("the finished members' bombs exist", || {
        busy_threads(&pool) == 1 && pool.info().tasks.len() == 1
    });
    open_gate(GATE);
    let outcome = bounded("the group resolves", move || handle.wait().map(|_| ()));
    assert!(
        matches!(outcome, Err(Error::Panicked { .. })),
        "{outcome:?}"
    );
    wait_until("the finished members' results are dropped", || {
        dropped(98_080) && dropped(98_081)
    });
    let mut after = pool.execute(Task::new(gated, (0,)));
    assert_eq!(after.wait_timeout(PATIENCE).expect("resolves").unwrap(), 0);
    bounded("dropping the pool", move || drop(pool));
    wait_until("every thread ends", || pool_threads("xp-g2") == 0);
}
