//! `#[sendable]` values and `AsyncLock` through the real pool: `TaskPool::global().execute`.

use std::sync::atomic::{AtomicU64, Ordering};

use taskpool::{AsyncLock, Shared, Task, TaskPool, concurrent, sendable};

#[sendable]
struct Dataset {
    pub rows: Vec<u64>,
    pub visits: AtomicU64,
}

/// Where the dataset it received lives.
#[concurrent]
fn dataset_address(data: Shared<Dataset>) -> usize {
    data.visits.fetch_add(1, Ordering::SeqCst);
    Shared::as_ptr(&data) as usize
}

#[sendable]
struct Tally {
    pub total: AsyncLock<u64>,
}

#[concurrent]
fn add_one(tally: Shared<Tally>) {
    let mut total = tally.total.lock();
    let seen = *total;
    std::thread::yield_now();
    *total = seen + 1;
}

#[concurrent]
async fn add_one_async(tally: Shared<Tally>) -> u64 {
    let mut total = tally.total.lock_async().await;
    *total += 1;
    *total
}

#[test]
fn a_sendable_value_executed_by_many_tasks_is_never_copied() {
    let data = Shared::new(Dataset {
        rows: (0..100_000).collect(),
        visits: AtomicU64::new(0),
    });
    let expected = Shared::as_ptr(&data) as usize;
    let handles: Vec<_> = (0..200)
        .map(|_| TaskPool::global().execute(dataset_address::task(data.clone())))
        .collect();
    for handle in handles {
        assert_eq!(handle.wait().unwrap(), expected);
    }
    assert_eq!(data.visits.load(Ordering::SeqCst), 200);
}

#[test]
fn a_thousand_tasks_increment_through_the_lock_without_losing_an_update() {
    let tally = Shared::new(Tally {
        total: AsyncLock::new(0),
    });
    let mut sync_handles = Vec::new();
    let mut async_handles = Vec::new();
    for i in 0..1000 {
        if i % 2 == 0 {
            sync_handles.push(TaskPool::global().execute(Task::new(add_one, (tally.clone(),))));
        } else {
            async_handles.push(TaskPool::global().execute(add_one_async::task(tally.clone())));
        }
    }
    for handle in sync_handles {
        handle.wait().unwrap();
    }
    for handle in async_handles {
        let seen = handle.wait().unwrap();
        assert!((1..=1000).contains(&seen));
    }
    assert_eq!(*tally.total.lock(), 1000);
}

#[test]
fn a_task_executed_again_still_shares_its_sendable_argument() {
    let data = Shared::new(Dataset {
        rows: vec![1, 2, 3],
        visits: AtomicU64::new(0),
    });
    let expected = Shared::as_ptr(&data) as usize;
    let task = Task::new(dataset_address, (data.clone(),));
    for _ in 0..5 {
        // Each run gets its own copy of the arguments; for a `Shared<T>` that copy is a
        // reference to the same value.
        assert_eq!(TaskPool::global().execute(&task).wait().unwrap(), expected);
    }
    assert_eq!(data.visits.load(Ordering::SeqCst), 5);
}
