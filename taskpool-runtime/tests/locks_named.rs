//! Named locks and snapshots: `AsyncLock::request` from many threads resolves to one lock;
//! `query` names holders and waiters with their mode, task and thread; 10200030 for unknown
//! names; `query_all` lists every live lock.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use support::{PATIENCE, open_gate, pass_gate, wait_until};
use taskpool::{AsyncLock, AsyncLockMode, Error, Shared, TaskPool, concurrent};

#[test]
fn a_named_lock_requested_from_many_threads_is_one_lock() {
    let keep = AsyncLock::request("named-many-threads");
    let counter = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let counter = counter.clone();
            std::thread::spawn(move || {
                let lock = AsyncLock::request("named-many-threads");
                for _ in 0..200 {
                    let _guard = lock.lock();
                    // A read-modify-write that only mutual exclusion keeps exact.
                    let seen = counter.load(Ordering::Relaxed);
                    std::thread::yield_now();
                    counter.store(seen + 1, Ordering::Relaxed);
                }
                Shared::as_ptr(&lock) as usize
            })
        })
        .collect();
    let addresses: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(
        addresses
            .iter()
            .all(|&a| a == Shared::as_ptr(&keep) as usize)
    );
    assert_eq!(counter.load(Ordering::Relaxed), 1600);
}

#[test]
fn query_of_an_unknown_name_is_10200030() {
    let error = AsyncLock::query("named-never-requested").unwrap_err();
    assert_eq!(error.code(), Some(10200030));
    assert!(matches!(&error, Error::LockNotFound(name) if name == "named-never-requested"));
    assert!(error.to_string().contains("does not exist (10200030)"));
}

#[test]
fn a_named_lock_lives_while_a_handle_does() {
    let lock = AsyncLock::request("named-lifetime");
    assert!(AsyncLock::query("named-lifetime").is_ok());
    let again = AsyncLock::request("named-lifetime");
    assert!(Shared::ptr_eq(&lock, &again));
    drop((lock, again));
    assert_eq!(
        AsyncLock::query("named-lifetime").unwrap_err().code(),
        Some(10200030)
    );
    let fresh = AsyncLock::request("named-lifetime");
    assert!(fresh.try_lock().is_some(), "a new, free lock");
}

#[concurrent]
fn hold_shared_until_gate(gate: u64) {
    let lock = AsyncLock::request("named-query-task");
    let _reader = lock.lock_shared();
    pass_gate(gate);
}

#[test]
fn query_names_each_holder_and_waiter_with_mode_task_and_thread() {
    let lock = AsyncLock::request("named-query-task");
    let pool = TaskPool::builder()
        .max_threads(1)
        .thread_name("qry")
        .build()
        .unwrap();
    let mut holder = pool.run(hold_shared_until_gate, (9101,));
    wait_until("the task holds the lock", || lock.state().held.len() == 1);
    let waiter = std::thread::Builder::new()
        .name("named-waiter".into())
        .spawn({
            let lock = lock.clone();
            move || drop(lock.lock())
        })
        .unwrap();
    wait_until("the thread waits", || lock.state().pending.len() == 1);

    let state = AsyncLock::query("named-query-task").unwrap();
    assert_eq!(state.name, "named-query-task");
    let held = &state.held[0];
    assert_eq!(held.mode, AsyncLockMode::Shared);
    assert_eq!(held.task, Some(holder.id()));
    assert!(held.thread_name.as_deref().unwrap().starts_with("qry"));
    let pending = &state.pending[0];
    assert_eq!(pending.mode, AsyncLockMode::Exclusive);
    assert_eq!(pending.task, None);
    assert_eq!(pending.thread, waiter.thread().id());
    assert_eq!(pending.thread_name.as_deref(), Some("named-waiter"));
    let text = state.to_string();
    assert!(
        text.contains(&format!("held by shared by task {}", holder.id())),
        "{text}"
    );
    assert!(
        text.contains("waiting exclusive by thread \"named-waiter\""),
        "{text}"
    );

    open_gate(9101);
    holder.wait_timeout(PATIENCE).unwrap().unwrap();
    waiter.join().unwrap();
    let after = AsyncLock::query("named-query-task").unwrap();
    assert!(after.held.is_empty() && after.pending.is_empty());
}

#[test]
fn query_all_lists_named_and_anonymous_live_locks() {
    let named = AsyncLock::request("named-query-all");
    let anonymous = AsyncLock::new(5);
    let _guard = anonymous.lock();
    let all = AsyncLock::query_all();
    assert!(
        all.iter()
            .any(|s| s.name == "named-query-all" && s.held.is_empty())
    );
    assert!(
        all.iter()
            .any(|s| s.name == anonymous.name() && s.held.len() == 1)
    );
    let named_name = named.name();
    drop(named);
    assert!(
        AsyncLock::query_all().iter().all(|s| s.name != named_name),
        "a dropped lock leaves the list"
    );
}
