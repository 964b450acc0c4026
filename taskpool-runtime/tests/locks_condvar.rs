//! `ConditionVariable`: notify order, notify-all, no kept notifications, timeouts, blocking
//! waits, a dropped notified waiter passing its notification on, waits that release and retake
//! an `AsyncLock`, and named condition variables.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{PATIENCE, Probe, block_on, wait_until};
use taskpool::{AsyncLock, ConditionVariable, Shared, TaskPool, concurrent, sendable};

#[test]
fn notify_one_wakes_waiters_in_arrival_order() {
    let changed = ConditionVariable::new();
    let mut first = Probe::new(changed.wait_async()).pending();
    let mut second = Probe::new(changed.wait_async()).pending();
    changed.notify_one();
    assert_eq!((first.wakes(), second.wakes()), (1, 0));
    assert!(first.poll().is_ready());
    assert!(second.poll().is_pending());
    changed.notify_one();
    assert_eq!(second.wakes(), 1);
    assert!(second.poll().is_ready());
}

#[test]
fn notify_all_wakes_every_waiter_there_is() {
    let changed = ConditionVariable::new();
    let mut waiters: Vec<_> = (0..3)
        .map(|_| Probe::new(changed.wait_async()).pending())
        .collect();
    changed.notify_all();
    for waiter in &mut waiters {
        assert_eq!(waiter.wakes(), 1);
        assert!(waiter.poll().is_ready());
    }
    let mut later = Probe::new(changed.wait_async()).pending();
    assert!(later.poll().is_pending(), "a notification is not kept");
}

#[test]
fn a_waiter_takes_its_place_when_it_is_created_not_when_first_polled() {
    let changed = ConditionVariable::new();
    let waiting = changed.wait_async();
    changed.notify_one();
    block_on(waiting);
}

#[test]
fn a_notified_waiter_dropped_before_it_completes_passes_the_notification_on() {
    let changed = ConditionVariable::new();
    let first = Probe::new(changed.wait_async()).pending();
    let second = Probe::new(changed.wait_async()).pending();
    changed.notify_one();
    drop(first);
    assert_eq!(second.wakes(), 1);
    let mut second = second;
    assert!(second.poll().is_ready());
    assert_eq!(changed.waiters(), 0);
}

#[test]
fn wait_for_reports_whether_it_was_notified() {
    let changed = ConditionVariable::new();
    assert!(!changed.wait_for(Duration::ZERO));
    assert!(
        !changed.wait_for(Duration::from_millis(2)),
        "nobody notifies"
    );
    assert!(!block_on(changed.wait_for_async(Duration::from_millis(2))));
    let mut notified = Probe::new(changed.wait_for_async(Duration::MAX)).pending();
    changed.notify_all();
    assert!(notified.ready());
    assert_eq!(changed.waiters(), 0, "timed-out waiters left the queue");
}

#[test]
fn a_blocking_wait_is_woken_by_another_thread() {
    let changed = Arc::new(ConditionVariable::new());
    let waiters: Vec<_> = (0..2)
        .map(|i| {
            let changed = changed.clone();
            std::thread::spawn(move || {
                if i == 0 {
                    changed.wait();
                    true
                } else {
                    changed.wait_for(Duration::MAX)
                }
            })
        })
        .collect();
    wait_until("both threads wait", || changed.waiters() == 2);
    changed.notify_all();
    for waiter in waiters {
        assert!(waiter.join().unwrap());
    }
}

#[sendable]
struct Mailbox {
    pub items: AsyncLock<Vec<u32>>,
    pub arrived: ConditionVariable,
}

#[concurrent]
async fn take_three(mailbox: Shared<Mailbox>) -> Vec<u32> {
    let mut items = mailbox.items.lock_async().await;
    while items.len() < 3 {
        items = mailbox.arrived.wait_with_async(items).await;
    }
    std::mem::take(&mut *items)
}

#[concurrent]
fn take_three_blocking(mailbox: Shared<Mailbox>) -> Vec<u32> {
    let mut items = mailbox.items.lock();
    while items.len() < 3 {
        items = mailbox.arrived.wait_with(items);
    }
    std::mem::take(&mut *items)
}

#[test]
fn waits_with_a_guard_release_the_lock_and_take_it_back_on_the_pool() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    for blocking in [false, true] {
        let mailbox = Shared::new(Mailbox {
            items: AsyncLock::new(Vec::new()),
            arrived: ConditionVariable::new(),
        });
        let mut consumer = if blocking {
            pool.run(take_three_blocking, (mailbox.clone(),))
        } else {
            pool.run(take_three, (mailbox.clone(),))
        };
        for item in 1..=3 {
            wait_until("the consumer waits with the lock released", || {
                mailbox.arrived.waiters() == 1 && mailbox.items.state().held.is_empty()
            });
            mailbox.items.lock().push(item);
            mailbox.arrived.notify_one();
        }
        assert_eq!(consumer.wait_timeout(PATIENCE).unwrap().unwrap(), [1, 2, 3]);
    }
}

#[test]
fn a_named_condition_variable_is_one_across_threads() {
    let here = ConditionVariable::request("condvar-named");
    let there = std::thread::spawn(|| {
        let changed = ConditionVariable::request("condvar-named");
        changed.wait();
        Shared::as_ptr(&changed) as usize
    });
    wait_until("the other thread waits", || here.waiters() == 1);
    here.notify_one();
    assert_eq!(there.join().unwrap(), Shared::as_ptr(&here) as usize);
}

#[test]
fn a_condition_variable_serializes_as_nothing() {
    let changed = ConditionVariable::new();
    assert_eq!(serde_json::to_string(&changed).unwrap(), "null");
    let back: ConditionVariable = serde_json::from_str("null").unwrap();
    assert_eq!(back.waiters(), 0);
}
