//! A third round of probes of the TaskPool API and its composition layer against
//! `js-apis-taskpool.md` (openharmony/docs) and against bad input, faults and races: each test
//! here failed before the fix its commit made. Every wait is on a gate or a condition with a
//! generous timeout.

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use support::{Bomb, dropped};
use taskpool::{Priority, Task, TaskPool, concurrent};

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
