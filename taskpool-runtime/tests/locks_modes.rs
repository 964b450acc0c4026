//! `AsyncLock` modes: every transition between free, shared and exclusive, the order waiters are
//! served in (ArkTS's `AsyncLockMode` example), tries, dropped waiters, and the blocking form
//! inside pool tasks. Waiters are polled by hand with counting wakers: no timing involved.

mod support;

use std::sync::Arc;

use support::{PATIENCE, Probe, Signal, block_on, wait_until};
use taskpool::{
    AsyncLock, AsyncLockAccess, AsyncLockMode, AsyncLockOptions, Shared, TaskPool, concurrent,
    sendable,
};

#[test]
fn free_to_shared_to_free_to_exclusive_to_free() {
    let lock = AsyncLock::new(1);
    assert!(lock.state().held.is_empty());
    {
        let a = lock.lock_shared();
        let b = lock.lock_shared();
        let state = lock.state();
        assert_eq!(state.held.len(), 2, "shared holders hold together");
        assert!(state.held.iter().all(|h| h.mode == AsyncLockMode::Shared));
        assert_eq!(*a + *b, 2);
        assert!(lock.try_lock().is_none(), "no exclusive while shared");
    }
    assert!(lock.state().held.is_empty());
    {
        let mut x = lock.lock();
        *x += 1;
        let state = lock.state();
        assert_eq!(state.held.len(), 1);
        assert_eq!(state.held[0].mode, AsyncLockMode::Exclusive);
        assert!(
            lock.try_lock_shared().is_none(),
            "no shared while exclusive"
        );
        assert!(lock.try_lock().is_none(), "no second exclusive");
    }
    assert_eq!(*lock.lock_shared(), 2);
}

#[test]
fn arkts_example_readers_share_a_writer_waits_for_them_and_later_readers_wait_for_the_writer() {
    // ArkTS: shared0 and shared1 run together; exclusive0 after both; shared2 and shared3 after
    // exclusive0, together.
    let lock = AsyncLock::new(Vec::<&str>::new());
    let mut shared0 = Probe::new(lock.lock_shared_async());
    let mut shared1 = Probe::new(lock.lock_shared_async());
    let s0 = shared0.ready();
    let s1 = shared1.ready();
    let exclusive0 = Probe::new(lock.lock_async()).pending();
    let shared2 = Probe::new(lock.lock_shared_async()).pending();
    let shared3 = Probe::new(lock.lock_shared_async()).pending();

    drop(s0);
    assert_eq!(exclusive0.wakes(), 0, "shared1 still holds");
    drop(s1);
    assert_eq!(exclusive0.wakes(), 1, "the writer's turn");
    assert_eq!(
        shared2.wakes() + shared3.wakes(),
        0,
        "readers behind it wait"
    );
    let mut shared2 = shared2;
    assert!(
        shared2.poll().is_pending(),
        "a reader cannot overtake the writer"
    );

    let mut exclusive0 = exclusive0;
    let mut writer = exclusive0.ready();
    writer.push("exclusive0");
    drop(writer);
    assert_eq!(shared2.wakes(), 1);
    assert_eq!(shared3.wakes(), 1, "both readers go together");
    let mut shared3 = shared3;
    let r3 = shared3.ready();
    let r2 = shared2.ready();
    assert_eq!(*r2, ["exclusive0"]);
    assert_eq!(lock.state().held.len(), 2);
    drop((r2, r3));
}

#[test]
fn a_reader_arriving_while_a_writer_waits_queues_behind_it_even_when_readers_hold() {
    let lock = AsyncLock::new(0);
    let reader = lock.lock_shared();
    let writer = Probe::new(lock.lock_async()).pending();
    // Blocking and async readers alike.
    let late = Probe::new(lock.lock_shared_async()).pending();
    assert!(
        lock.try_lock_shared().is_none(),
        "a try yields to the writer"
    );
    let state = lock.state();
    assert_eq!(state.pending.len(), 2);
    assert_eq!(state.pending[0].mode, AsyncLockMode::Exclusive);
    assert_eq!(state.pending[1].mode, AsyncLockMode::Shared);
    drop(reader);
    assert_eq!((writer.wakes(), late.wakes()), (1, 0));
    drop(writer); // a woken writer that never runs passes its turn on
    assert_eq!(late.wakes(), 1);
    let mut late = late;
    drop(late.ready());
}

#[test]
fn exclusive_waiters_are_served_in_arrival_order() {
    let lock = AsyncLock::new(Vec::new());
    let held = lock.lock();
    let mut waiters: Vec<_> = (0..4)
        .map(|_| Probe::new(lock.lock_async()).pending())
        .collect();
    drop(held);
    for turn in 0..waiters.len() {
        let wakes: Vec<usize> = waiters.iter().map(Probe::wakes).collect();
        let expected: Vec<usize> = (0..4).map(|i| usize::from(i == turn)).collect();
        assert_eq!(
            wakes[turn..],
            expected[turn..],
            "only waiter {turn} is woken"
        );
        let mut guard = waiters[turn].ready();
        guard.push(turn);
    }
    assert_eq!(*lock.lock_shared(), [0, 1, 2, 3]);
}

#[test]
fn a_writer_waits_for_every_reader_then_readers_wait_for_the_writer() {
    let lock = AsyncLock::new(0);
    let readers: Vec<_> = (0..3).map(|_| lock.lock_shared()).collect();
    let writer = Probe::new(lock.lock_async()).pending();
    let mut readers = readers.into_iter();
    drop(readers.next());
    drop(readers.next());
    assert_eq!(writer.wakes(), 0);
    drop(readers.next());
    assert_eq!(writer.wakes(), 1);
    let mut writer = writer;
    let mut guard = writer.ready();
    *guard = 7;
    let reader = Probe::new(lock.lock_shared_async()).pending();
    drop(guard);
    assert_eq!(reader.wakes(), 1);
    let mut reader = reader;
    assert_eq!(*reader.ready(), 7);
}

#[test]
fn a_departing_waiting_writer_lets_the_readers_behind_it_join_the_holders() {
    let lock = AsyncLock::new(0);
    let reader = lock.lock_shared();
    let writer = Probe::new(lock.lock_async()).pending();
    let late = Probe::new(lock.lock_shared_async()).pending();
    drop(writer); // gives up before its turn
    assert_eq!(late.wakes(), 1, "the reader behind it may go now");
    let mut late = late;
    let joined = late.ready();
    assert_eq!(lock.state().held.len(), 2);
    drop((reader, joined));
}

#[test]
fn a_try_may_take_a_free_lock_before_a_woken_waiter_runs_which_then_waits_again() {
    let lock = AsyncLock::new(0);
    let held = lock.lock();
    let mut waiter = Probe::new(lock.lock_async()).pending();
    drop(held);
    assert_eq!(waiter.wakes(), 1);
    let barger = lock.try_lock().expect("nobody holds the lock");
    assert!(waiter.poll().is_pending(), "the try took it first");
    drop(barger);
    assert_eq!(waiter.wakes(), 2, "woken again when the try releases");
    drop(waiter.ready());
}

#[test]
fn blocking_and_async_requests_share_one_queue() {
    let lock = Arc::new(AsyncLock::new(Vec::new()));
    let held = lock.lock();
    let blocked_reader = std::thread::spawn({
        let lock = lock.clone();
        move || lock.lock_shared().len()
    });
    wait_until("the blocking reader queues", || {
        lock.state().pending.len() == 1
    });
    let writer = Probe::new(lock.lock_async()).pending();
    drop(held);
    // The blocking reader is first: it gets the lock; the writer waits for it.
    assert_eq!(blocked_reader.join().unwrap(), 0);
    assert_eq!(writer.wakes(), 1);
    let mut writer = writer;
    writer.ready().push(1);
    let blocked_writer = std::thread::spawn({
        let lock = lock.clone();
        move || lock.lock().push(2)
    });
    blocked_writer.join().unwrap();
    assert_eq!(*lock.lock_shared(), [1, 2]);
}

#[test]
fn a_panicking_holder_releases_its_share_or_its_exclusive_hold() {
    let lock = Arc::new(AsyncLock::new(vec![1]));
    for mode in [AsyncLockMode::Shared, AsyncLockMode::Exclusive] {
        let result = std::thread::spawn({
            let lock = lock.clone();
            move || {
                lock.lock_then(mode, &AsyncLockOptions::new(), |mut access| {
                    if let Some(value) = access.get_mut() {
                        value.push(2);
                    }
                    panic!("boom in {mode} mode");
                })
            }
        })
        .join();
        assert!(result.is_err());
        assert!(
            lock.state().held.is_empty(),
            "released after a panic in {mode} mode"
        );
    }
    assert_eq!(*lock.try_lock().expect("free"), [1, 2]);
}

#[test]
fn guards_and_futures_are_send_so_they_cross_awaits() {
    fn assert_send<T: Send>(_: &T) {}
    let lock = Shared::new(AsyncLock::new(String::new()));
    let future = {
        let lock = lock.clone();
        async move {
            let reader = lock.lock_shared_async().await;
            std::future::ready(()).await;
            drop(reader);
            let mut writer = lock.lock_async().await;
            std::future::ready(()).await;
            writer.push_str("done");
            drop(writer);
            lock.lock_async_then(
                AsyncLockMode::Shared,
                AsyncLockOptions::new(),
                |access| async move { access.len() },
            )
            .await
        }
    };
    assert_send(&future);
    assert_eq!(block_on(future).unwrap(), 4);
    assert_send(&lock.lock());
    assert_send(&lock.lock_shared());
}

#[test]
fn the_callback_forms_hold_the_lock_until_the_callback_completes() {
    let lock = AsyncLock::new(0);
    let mut call = Probe::new(lock.lock_async_then(
        AsyncLockMode::Exclusive,
        AsyncLockOptions::new(),
        |mut access: AsyncLockAccess<'_, i32>| async move {
            *access.get_mut().unwrap() += 1;
            std::future::pending::<()>().await; // never completes: the lock stays held
        },
    ));
    assert!(call.poll().is_pending());
    assert_eq!(lock.state().held.len(), 1, "held while the callback runs");
    drop(call);
    assert!(
        lock.state().held.is_empty(),
        "released when the callback is dropped"
    );
    let read = lock.lock_then(AsyncLockMode::Shared, &AsyncLockOptions::new(), |a| *a);
    assert_eq!(read.unwrap(), 1);
}

#[sendable]
struct Table {
    pub rows: AsyncLock<Vec<u32>>,
}

static READER_MAY_GO: Signal = Signal::new();

#[concurrent]
async fn read_across_an_await(table: Shared<Table>) -> usize {
    let rows = table.rows.lock_shared_async().await;
    READER_MAY_GO.raised().await;
    rows.len()
}

#[concurrent]
fn write_blocking(table: Shared<Table>) {
    table.rows.lock().push(1);
}

#[test]
fn a_blocking_writer_on_the_only_worker_waits_for_an_async_reader_that_resumes_elsewhere() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let table = Shared::new(Table {
        rows: AsyncLock::new(Vec::new()),
    });
    let mut reader = pool.run(read_across_an_await, (table.clone(),));
    wait_until("the reader holds the lock", || {
        table.rows.state().held.len() == 1
    });
    let mut writer = pool.run(write_blocking, (table.clone(),));
    wait_until("the writer waits", || table.rows.state().pending.len() == 1);
    READER_MAY_GO.raise();
    assert_eq!(reader.wait_timeout(PATIENCE).unwrap().unwrap(), 0);
    writer.wait_timeout(PATIENCE).unwrap().unwrap();
    assert_eq!(*table.rows.lock_shared(), [1]);
    let held = &table.rows.state().held;
    assert!(held.is_empty());
}

#[test]
fn new_writers_overtake_a_woken_writer_that_has_not_run_a_bounded_number_of_times() {
    let lock = AsyncLock::new(0);
    let held = lock.lock();
    let mut woken_writer = Probe::new(lock.lock_async()).pending();
    drop(held);
    assert_eq!(woken_writer.wakes(), 1);
    let mut reader = Probe::new(lock.lock_shared_async());
    assert!(
        reader.poll().is_pending(),
        "a new reader never overtakes a writer"
    );
    let mut overtakes = 0;
    let mut queued = loop {
        let mut newcomer = Probe::new(lock.lock_async());
        match newcomer.poll() {
            std::task::Poll::Ready(mut guard) => {
                *guard += 1;
                overtakes += 1;
                assert!(overtakes <= 64, "overtaking is bounded");
            }
            std::task::Poll::Pending => break newcomer,
        }
    };
    assert_eq!(overtakes, 64);
    assert_eq!(woken_writer.wakes(), 1, "not woken again before it ran");
    let guard = woken_writer.ready();
    assert_eq!(*guard, 64);
    drop(guard);
    assert_eq!(reader.wakes(), 1, "the reader queued first goes next");
    assert_eq!(queued.wakes(), 0);
    drop(reader.ready());
    assert_eq!(queued.wakes(), 1);
    drop(queued.ready());
}

#[concurrent]
fn panic_while_holding(table: Shared<Table>, exclusive: bool) {
    let access = if exclusive {
        AsyncLockAccess::Exclusive(table.rows.lock())
    } else {
        AsyncLockAccess::Shared(table.rows.lock_shared())
    };
    if let AsyncLockAccess::Exclusive(mut guard) = access {
        guard.push(9);
        panic!("a task panics while it holds the lock exclusively");
    }
    panic!("a task panics while it holds a share of the lock");
}

#[test]
fn a_pool_task_that_panics_while_holding_the_lock_releases_it() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let table = Shared::new(Table {
        rows: AsyncLock::new(Vec::new()),
    });
    for exclusive in [false, true] {
        let outcome = pool
            .run(panic_while_holding, (table.clone(), exclusive))
            .wait();
        assert!(
            matches!(outcome, Err(taskpool::Error::Panicked { .. })),
            "{outcome:?}"
        );
        let state = table.rows.state();
        assert!(state.held.is_empty() && state.pending.is_empty(), "{state}");
    }
    assert_eq!(*table.rows.lock_shared(), [9]);
}
