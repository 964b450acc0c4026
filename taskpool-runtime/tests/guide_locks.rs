//! The ArkTS guides "Asynchronous Lock" (`arkts-async-lock-introduction.md`) and "Asynchronous
//! Waiting" (`arkts-condition-variable-introduction.md`), ported. The guide's waits and
//! notifications race (a notification with no waiter is lost); here each notification is sent
//! once its waiter is known to wait, so the outcome is the one the guide logs.

mod support;

use std::time::Duration;

use support::wait_until;
use taskpool::{
    AsyncLock, AsyncLockMode, AsyncLockOptions, ConditionVariable, Shared, Task, TaskPool,
    concurrent, sendable,
};

// ---------------------------------------------------------------------------------------------
// arkts-async-lock-introduction.md

/// `@Sendable export class A { private count_; lock_: AsyncLock }`: the lock holds the count.
#[sendable]
pub struct A {
    count: AsyncLock<u64>,
}

impl A {
    fn new() -> A {
        A {
            count: AsyncLock::new(0),
        }
    }

    /// `getCount(): Promise<number>`: `this.lock_.lockAsync(() => this.count_)`.
    async fn get_count(&self) -> u64 {
        self.count
            .lock_async_then(
                AsyncLockMode::Exclusive,
                AsyncLockOptions::new(),
                |access| async move { *access },
            )
            .await
            .unwrap()
    }

    /// `async increaseCount()`: `await this.lock_.lockAsync(() => { this.count_++; })`.
    async fn increase_count(&self) {
        self.count
            .lock_async_then(
                AsyncLockMode::Exclusive,
                AsyncLockOptions::new(),
                |mut access| async move {
                    *access.get_mut().unwrap() += 1;
                },
            )
            .await
            .unwrap();
    }
}

/// `@Concurrent async function printCount(a: A)`: the guide calls `a.increaseCount()` without
/// awaiting it and then awaits `a.getCount()`; JavaScript queues the increase's lock request at
/// the call, so the count read is 1. Rust futures do nothing until polled, so both are polled
/// together, the increase first: the lock serves them in that order.
#[concurrent]
async fn print_count(a: Shared<A>) -> u64 {
    let ((), count) = futures::join!(a.increase_count(), a.get_count());
    count
}

#[test]
fn a_sendable_object_guards_its_count_with_an_async_lock() {
    let a = Shared::new(A::new());
    let count = taskpool::execute(Task::new(print_count, (a.clone(),)))
        .wait()
        .unwrap();
    assert_eq!(count, 1, "InputModule: count is: 1");
    // The object was passed by reference: the host sees the same count.
    assert_eq!(support::block_on(a.get_count()), 1);
    // Many tasks on the same object lose no increment.
    let handles: Vec<_> = (0..16)
        .map(|_| taskpool::execute(Task::new(print_count, (a.clone(),))))
        .collect();
    for handle in handles {
        assert!(handle.wait().unwrap() >= 2);
    }
    assert_eq!(support::block_on(a.get_count()), 17);
}

// ---------------------------------------------------------------------------------------------
// arkts-condition-variable-introduction.md

/// `@Concurrent function notifyAll(conditionVariable)`
#[concurrent]
fn notify_all(condition_variable: Shared<ConditionVariable>) {
    condition_variable.notify_all();
}

/// `@Concurrent function notifyOne(conditionVariable)`
#[concurrent]
fn notify_one(condition_variable: Shared<ConditionVariable>) {
    condition_variable.notify_one();
}

/// `@Concurrent async function wait(conditionVariable)`: "TaskPool Thread Wait: success".
#[concurrent]
async fn wait(condition_variable: Shared<ConditionVariable>) -> String {
    condition_variable.wait_async().await;
    "TaskPool Thread Wait: success".to_owned()
}

/// `@Concurrent async function waitFor(conditionVariable)`: `waitFor(3000)`; the port reports
/// whether it was notified in time (the guide's `then` runs on a timeout too).
#[concurrent]
async fn wait_for(condition_variable: Shared<ConditionVariable>) -> bool {
    // Generous: the notification is sent as soon as the waiter waits.
    condition_variable
        .wait_for_async(Duration::from_secs(300))
        .await
}

/// The guide's click handler, for one condition variable: wait + notifyAll, then waitFor +
/// notifyOne.
fn wait_and_notify(pool: &TaskPool, condition_variable: &Shared<ConditionVariable>) {
    let waiting = pool.execute(Task::new(wait, (condition_variable.clone(),)));
    wait_until("the wait task waits", || condition_variable.waiters() == 1);
    pool.execute(Task::new(notify_all, (condition_variable.clone(),)))
        .wait()
        .unwrap();
    assert_eq!(waiting.wait().unwrap(), "TaskPool Thread Wait: success");

    let waiting_for = pool.execute(Task::new(wait_for, (condition_variable.clone(),)));
    wait_until("the waitFor task waits", || {
        condition_variable.waiters() == 1
    });
    pool.execute(Task::new(notify_one, (condition_variable.clone(),)))
        .wait()
        .unwrap();
    assert!(
        waiting_for.wait().unwrap(),
        "TaskPool Thread WaitFor: success"
    );
    assert_eq!(condition_variable.waiters(), 0);
}

#[test]
fn tasks_wait_and_notify_through_a_shared_condition_variable() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let condition_variable = Shared::new(ConditionVariable::new());
    wait_and_notify(&pool, &condition_variable);
}

#[test]
fn tasks_wait_and_notify_through_a_named_condition_variable() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let condition_variable_request = ConditionVariable::request("Request1");
    wait_and_notify(&pool, &condition_variable_request);
    // `request` gives the same object to every caller while one is alive.
    let again = ConditionVariable::request("Request1");
    assert!(Shared::ptr_eq(&again, &condition_variable_request));
}

/// `notifyOne` wakes one waiter, the one that waited first; `notifyAll` wakes the rest.
#[test]
fn notify_one_wakes_the_earliest_waiter_and_notify_all_the_rest() {
    let pool = TaskPool::builder().max_threads(4).build().unwrap();
    let condition_variable = Shared::new(ConditionVariable::new());
    let first = pool.execute(Task::new(wait, (condition_variable.clone(),)));
    wait_until("the first waits", || condition_variable.waiters() == 1);
    let second = pool.execute(Task::new(wait, (condition_variable.clone(),)));
    wait_until("the second waits", || condition_variable.waiters() == 2);
    let third = pool.execute(Task::new(wait, (condition_variable.clone(),)));
    wait_until("the third waits", || condition_variable.waiters() == 3);
    pool.execute(Task::new(notify_one, (condition_variable.clone(),)))
        .wait()
        .unwrap();
    first.wait().unwrap();
    assert_eq!(condition_variable.waiters(), 2);
    assert!(!second.is_finished() && !third.is_finished());
    pool.execute(Task::new(notify_all, (condition_variable.clone(),)))
        .wait()
        .unwrap();
    second.wait().unwrap();
    third.wait().unwrap();
}
