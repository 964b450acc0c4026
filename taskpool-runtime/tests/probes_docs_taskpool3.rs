//! A third round of probes of the TaskPool API and its composition layer against
//! `js-apis-taskpool.md` (openharmony/docs) and against bad input, faults and races: each test
//! here failed before the fix its commit made. Every wait is on a gate or a condition with a
//! generous timeout.

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use support::{Bomb, dropped};
use taskpool::{Priority, Task, TaskPool, concurrent};

/// Gate ids of this file (the ids of its bombs are in the same range: another namespace).
const G: u64 = 98_000;

/// Takes a value whose `Drop` panics: the arguments of a periodic task that the pool owns.
#[concurrent]
fn takes_bomb(bomb: Bomb) -> u32 {
    bomb.0
}

/// Forgets the value whose `Drop` panics: its run drops nothing.
#[concurrent]
fn forgets_bomb(bomb: Bomb) -> u32 {
    let id = bomb.0;
    std::mem::forget(bomb);
    id
}

/// `pool.cancel(id)` of a periodic task whose handle was dropped ends the periodic execution
/// there, and drops its task: an argument's panicking `Drop` is contained. (The cancel hook
/// held the last reference to the periodic execution; the task's arguments were dropped with
/// it, outside any guard, and their panic reached the caller of `cancel`.)
#[test]
fn canceling_by_id_a_periodic_task_whose_handle_was_dropped_contains_its_arguments_drop() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(takes_bomb, (Bomb(98_001),));
    let id = task.id();
    let periodic = pool
        .execute_periodically(Duration::from_secs(3600), task, Priority::Low)
        .unwrap();
    drop(periodic);
    let canceled = catch_unwind(AssertUnwindSafe(|| pool.cancel(id)))
        .unwrap_or_else(|_| panic!("cancel(id) let the argument's Drop panic reach the caller"));
    assert!(canceled.is_ok(), "{canceled:?}");
    assert!(dropped(98_001), "the stopped task released its arguments");
    assert_eq!(
        pool.cancel(id).unwrap_err().code(),
        Some(10200015),
        "stopped"
    );
}

/// A pool shut down while a periodic task whose handle was dropped is armed stops it and drops
/// its task: an argument's panicking `Drop` is contained, and the shutdown completes. (The
/// shutdown hook held the last reference; the panic unwound out of the pool's `Drop`, halfway
/// through the shutdown.)
#[test]
fn shutting_down_a_pool_with_a_periodic_task_whose_handle_was_dropped_contains_its_arguments_drop()
{
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(takes_bomb, (Bomb(98_002),));
    let periodic = pool
        .execute_periodically(Duration::from_secs(3600), task, Priority::Low)
        .unwrap();
    drop(periodic);
    catch_unwind(AssertUnwindSafe(|| drop(pool)))
        .unwrap_or_else(|_| panic!("the shutdown let the argument's Drop panic reach the caller"));
    assert!(dropped(98_002), "the stopped task released its arguments");
}

/// `execute_periodically` refusing a task (10200050: executed before; 401: in a dependency
/// relationship) consumes it as the runners' refusals do: its arguments' panicking `Drop` is
/// contained, and the caller gets the error. (The refused task was dropped as the error
/// returned, and the panic reached the caller instead of the error.)
#[test]
fn a_task_execute_periodically_refuses_drops_its_arguments_quietly() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let executed = Task::new(forgets_bomb, (Bomb(98_003),));
    // Its run gets a copy of the bomb (a serde round trip): forgotten by the function, so
    // only the task's own bomb goes off.
    assert_eq!(pool.execute(&executed).wait().unwrap(), 98_003);
    assert!(!dropped(98_003));
    let refused = catch_unwind(AssertUnwindSafe(|| {
        pool.execute_periodically(Duration::from_secs(3600), executed, Priority::Low)
            .map(|_| ())
    }))
    .unwrap_or_else(|_| panic!("the refused task's Drop panic reached the caller"));
    assert_eq!(refused.unwrap_err().code(), Some(10200050));
    assert!(dropped(98_003));

    let dependent = Task::new(forgets_bomb, (Bomb(98_004),));
    let dependency = Task::new(support::plain, (4,));
    dependent.add_dependency(&dependency).unwrap();
    let refused = catch_unwind(AssertUnwindSafe(|| {
        pool.execute_periodically(Duration::from_secs(3600), dependent, Priority::Low)
            .map(|_| ())
    }))
    .unwrap_or_else(|_| panic!("the refused task's Drop panic reached the caller"));
    assert_eq!(refused.unwrap_err().code(), Some(401));
    assert!(dropped(98_004));
}

/// `add_task` refusing a task because the group was executed (`GroupExecuted`) consumes it
/// quietly: its arguments' panicking `Drop` is contained and the caller gets the error. (The
/// refused task was dropped as the error returned, and the panic reached the caller.)
#[test]
fn a_task_an_executed_group_refuses_drops_its_arguments_quietly() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let mut group = taskpool::TaskGroup::new();
    group.add(support::plain, (5,)).unwrap();
    assert_eq!(
        pool.execute_group(&group, Priority::Medium).wait().unwrap(),
        [5]
    );
    let refused = catch_unwind(AssertUnwindSafe(|| {
        group.add_task(Task::new(forgets_bomb, (Bomb(98_005),)))
    }))
    .unwrap_or_else(|_| panic!("the refused task's Drop panic reached the caller"));
    assert!(matches!(refused, Err(taskpool::Error::GroupExecuted)));
    assert!(dropped(98_005));
}

/// The handle of the run whose cancel the [`CancelOnDrop`] value makes.
static TO_CANCEL: std::sync::Mutex<Option<taskpool::TaskHandle<u32>>> = std::sync::Mutex::new(None);

/// Cancels the run in [`TO_CANCEL`] when dropped: user code that runs while a pool shuts
/// down (it is captured by the receiver of a periodic task, dropped when the shutdown stops
/// that task), before the shutdown resolves the runs it holds.
struct CancelOnDrop;

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let handle = TO_CANCEL.lock().unwrap().take();
        if let Some(handle) = handle {
            let _ = handle.cancel();
            let _ = handle.wait();
        }
    }
}

/// Runs of one task take turns across pools; when a pool shuts down while the turn passes to
/// its run, only that pool's runs of the task are given up: the task's run on another pool
/// still waits for its turn and runs. (The turn's hand-over found the next run's pool
/// shutting down and canceled every run still waiting its turn, the other pool's included,
/// and through the shutting-down pool: the run on the live pool resolved as canceled.)
#[test]
fn a_pool_shutting_down_as_the_turn_passes_to_its_run_leaves_the_task_s_runs_on_other_pools() {
    let pool_b = TaskPool::builder().max_threads(1).build().unwrap();
    let pool_a = TaskPool::builder().max_threads(1).build().unwrap();
    // A dependency holds the task's first run, so that its cancel ends its turn right here.
    let dependency = Task::new(support::plain, (0,));
    let task = Task::new(support::plain, (7,));
    task.add_dependency(&dependency).unwrap();
    let first = pool_b.execute(&task); // its turn; held by the dependency
    let on_a = pool_a.execute(&task); // waits its turn
    let mut on_b = pool_b.execute(&task); // waits its turn
    *TO_CANCEL.lock().unwrap() = Some(first);
    // A periodic task of pool A whose receiver holds the value that cancels the first run:
    // pool A's shutdown stops the periodic task and drops the receiver while the run of
    // `task` on pool A still waits its turn.
    let ticker = Task::new(support::plain, (1,));
    let keep = CancelOnDrop;
    ticker.on_receive_data(move |_: u32| {
        let _ = &keep;
    });
    let periodic = pool_a
        .execute_periodically(Duration::from_secs(3600), ticker, Priority::Low)
        .unwrap();
    support::bounded("shutting pool A down", move || drop(pool_a));
    drop(periodic);
    assert!(
        TO_CANCEL.lock().unwrap().is_none(),
        "the first run was canceled"
    );
    assert!(
        on_a.wait().is_err(),
        "the run on the pool shut down is given up"
    );
    assert!(
        on_b.wait_timeout(Duration::ZERO).is_none(),
        "the run on pool B still waits for the dependency"
    );
    assert_eq!(pool_b.execute(dependency).wait().unwrap(), 0);
    assert_eq!(
        support::bounded("the run on pool B", move || on_b.wait()).unwrap(),
        7,
        "the run on pool B ran when its turn came"
    );
}

/// Spins a little, more or less depending on `x`: runs that end at varied times.
#[concurrent]
fn spin_tiny(x: u32) -> u32 {
    std::hint::black_box((0..(x % 5) * 200).fold(x, |a, b| a.wrapping_add(b)))
}

/// The race behind the test above, without user code to open it: tasks executed by reference
/// on two pools (their runs take turns across the pools) while one pool shuts down. Every run
/// on the pool that stays succeeds, and every handle resolves. (Before the fix a run on the
/// live pool now and then resolved as canceled: the turn had passed to a run of the pool
/// shutting down, and its hand-over canceled every run waiting behind it.)
#[test]
fn tasks_taking_turns_across_two_pools_keep_their_runs_on_the_live_pool_through_a_shutdown() {
    for round in 0..100u32 {
        let pool_b = TaskPool::builder().max_threads(2).build().unwrap();
        let pool_a = TaskPool::builder().max_threads(2).build().unwrap();
        let tasks: Vec<Task<u32>> = (0..4).map(|k| Task::new(spin_tiny, (k + round,))).collect();
        let (mut on_a, mut on_b) = (Vec::new(), Vec::new());
        for i in 0..60u32 {
            let task = &tasks[(i % 4) as usize];
            if (i * 7 + round) % 3 == 0 {
                on_a.push(pool_a.execute(task));
            } else {
                on_b.push(pool_b.execute(task));
            }
        }
        let closer = std::thread::spawn(move || drop(pool_a));
        for handle in on_b {
            let outcome = support::bounded("a run on the live pool", move || handle.wait());
            assert!(outcome.is_ok(), "round {round}: {outcome:?}");
        }
        closer.join().unwrap();
        for handle in on_a {
            let _ = support::bounded("a run on the pool shut down", move || handle.wait());
        }
    }
}

/// Set once a [`SlowClone`] started copying itself.
static CLONE_ENTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// An argument whose copy blocks until gate `G + 6` opens (a `Clone` that takes a busy lock,
/// say).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SlowClone(u32);

impl Clone for SlowClone {
    fn clone(&self) -> SlowClone {
        CLONE_ENTERED.store(true, std::sync::atomic::Ordering::SeqCst);
        support::pass_gate(G + 6);
        SlowClone(self.0)
    }
}

/// Takes the argument whose copy blocks.
#[concurrent]
fn takes_slow_clone(value: SlowClone) -> u32 {
    value.0
}

/// A periodic task's arguments are copied for each run off the runtime's timer thread: a copy
/// that blocks holds up that run only, while every other timer of the process (delays, other
/// periodic tasks, `taskpool::sleep`) goes on. (Each tick copied the arguments on the timer
/// thread, which `execute_delayed` takes care never to run user code on: a blocking `Clone`
/// stalled every delay and sleep of the process until it returned.)
#[test]
fn a_periodic_task_whose_arguments_copy_blocks_does_not_stall_the_runtime_s_timer() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let task = Task::new(takes_slow_clone, (SlowClone(6),));
    let periodic = pool
        .execute_periodically(Duration::from_millis(1), task, Priority::Low)
        .unwrap();
    support::wait_until("a tick copies the arguments", || {
        CLONE_ENTERED.load(std::sync::atomic::Ordering::SeqCst)
    });
    // The copy blocks; the timer still serves a delay and a sleep.
    let delayed = pool.execute_delayed(
        Duration::from_millis(1),
        Task::new(support::plain, (1,)),
        Priority::High,
    );
    let served = support::bounded("a delay while a tick's copy blocks", move || {
        let value = delayed.wait();
        support::block_on(taskpool::sleep(Duration::from_millis(1)));
        value
    });
    assert_eq!(served.unwrap(), 1);
    support::open_gate(G + 6);
    periodic.cancel().unwrap();
}
