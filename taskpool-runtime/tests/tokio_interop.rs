//! The runtime's futures on another executor (tokio), used the way tokio code uses futures:
//! awaited from many tokio tasks at once, raced in `select!` and dropped half-polled.
//! Dropping a future must cost nothing but the wait: the task still runs, the lock is not
//! left held or queued for, the worker's message stays for the next reader.

mod support;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use taskpool::{AsyncLock, HandlerResult, TaskPool, Worker, WorkerHandler, WorkerPort, concurrent};

/// Awaits `future`, failing the test if it takes longer than [`support::PATIENCE`]: a lost
/// wake-up fails the test instead of hanging it.
async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(support::PATIENCE, future).await {
        Ok(output) => output,
        Err(_) => panic!("{what} did not end in time"),
    }
}

#[concurrent]
fn square(x: u64) -> u64 {
    x * x
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn handles_awaited_from_many_tokio_tasks_all_resolve() {
    let pool = Arc::new(TaskPool::builder().max_threads(3).build().unwrap());
    let joins: Vec<_> = (0..2000u64)
        .map(|i| {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.run(square, (i,)).await.unwrap() })
        })
        .collect();
    let mut sum = 0;
    for join in joins {
        sum += within("a handle awaited in a tokio task", join)
            .await
            .unwrap();
    }
    assert_eq!(sum, (0..2000u64).map(|i| i * i).sum::<u64>());
}

static FINISHED: AtomicUsize = AtomicUsize::new(0);
const HELD_TASKS_GATE: u64 = 0x70_4B10;

#[concurrent]
fn held_until_the_gate_opens() -> u8 {
    support::pass_gate(HELD_TASKS_GATE);
    FINISHED.fetch_add(1, Ordering::SeqCst);
    1
}

#[tokio::test(flavor = "current_thread")]
async fn a_handle_dropped_by_select_leaves_its_task_running() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    for _ in 0..20 {
        let handle = pool.run(held_until_the_gate_opens, ());
        tokio::select! {
            biased;
            _ = handle => panic!("the task ended before its gate opened"),
            () = std::future::ready(()) => {}
        }
    }
    support::open_gate(HELD_TASKS_GATE);
    let finished = tokio::task::spawn_blocking(|| {
        support::wait_until("every abandoned task ran", || {
            FINISHED.load(Ordering::SeqCst) == 20
        });
    });
    finished.await.unwrap();
    assert_eq!(
        within("a handle", pool.run(square, (7,))).await.unwrap(),
        49
    );
    tokio::task::spawn_blocking(move || pool.shutdown())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn lock_requests_abandoned_by_tokio_timeouts_leave_the_lock_free() {
    let lock = Arc::new(AsyncLock::new(0usize));
    let granted = Arc::new(AtomicUsize::new(0));
    let joins: Vec<_> = (0..200u64)
        .map(|i| {
            let lock = Arc::clone(&lock);
            let granted = Arc::clone(&granted);
            tokio::spawn(async move {
                if i % 3 == 0 {
                    // Most of these give up while queued behind a holder that sleeps.
                    let request = lock.lock_async();
                    if let Ok(mut guard) =
                        tokio::time::timeout(Duration::from_micros(50), request).await
                    {
                        *guard += 1;
                        granted.fetch_add(1, Ordering::SeqCst);
                    }
                } else {
                    let mut guard = lock.lock_async().await;
                    *guard += 1;
                    granted.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_micros(100)).await;
                }
            })
        })
        .collect();
    for join in joins {
        within("a tokio task taking the lock", join).await.unwrap();
    }
    let guard = within("the last request", lock.lock_async()).await;
    assert_eq!(*guard, granted.load(Ordering::SeqCst));
    drop(guard);
    assert!(
        lock.try_lock().is_some(),
        "an abandoned request kept the lock"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn taskpool_sleep_on_a_tokio_executor_wakes_each_nap_at_its_own_deadline() {
    // An hour-long nap beside the short ones: it must still wait when they are over, which
    // says that a wake is not spread to every sleeper, without reading the clock.
    let long = tokio::spawn(taskpool::sleep(Duration::from_secs(3600)));
    let naps: Vec<_> = [5u64, 1, 3]
        .into_iter()
        .map(|ms| tokio::spawn(taskpool::sleep(Duration::from_millis(ms))))
        .collect();
    for nap in naps {
        within("a short nap", nap).await.unwrap();
    }
    assert!(
        !long.is_finished(),
        "the hour-long nap ended with the short ones"
    );
    long.abort();
}

/// Echoes every number, some after a nap, so replies arrive while the host is not polling.
struct NappingEcho;

impl WorkerHandler for NappingEcho {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        if n % 7 == 0 {
            taskpool::sleep(Duration::from_micros(30)).await;
        }
        port.post_message(n)?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_streams_dropped_mid_poll_lose_no_message() {
    const N: u64 = 3000;
    let worker = Worker::new(|| NappingEcho).unwrap();
    for i in 0..N {
        worker.post_message(i).unwrap();
    }
    let mut got = Vec::new();
    let deadline = Instant::now() + support::PATIENCE;
    while (got.len() as u64) < N {
        assert!(
            Instant::now() < deadline,
            "lost a message: got {}",
            got.len()
        );
        // A new stream each time, polled once or twice, then dropped.
        let mut messages = worker.messages();
        tokio::select! {
            message = messages.next() => got.push(message.unwrap()),
            () = tokio::task::yield_now() => {}
        }
    }
    assert_eq!(got, (0..N).collect::<Vec<_>>());
    worker.terminate().unwrap();
    let code = tokio::task::spawn_blocking(move || worker.wait_for_exit());
    assert_eq!(code.await.unwrap(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_message_stream_raced_by_timeouts_keeps_order_and_ends_with_the_worker() {
    const N: u64 = 2000;
    let worker = Worker::new(|| NappingEcho).unwrap();
    let mut messages = worker.messages();
    let mut got = Vec::new();
    for i in 0..N {
        worker.post_message(i).unwrap();
        if i % 3 == 0 {
            let next = tokio::time::timeout(Duration::from_micros(10), messages.next());
            if let Ok(message) = next.await {
                got.push(message.unwrap());
            }
        }
    }
    while (got.len() as u64) < N {
        got.push(within("the next reply", messages.next()).await.unwrap());
    }
    assert_eq!(got, (0..N).collect::<Vec<_>>());
    worker.terminate().unwrap();
    assert_eq!(within("the stream's end", messages.next()).await, None);
}
