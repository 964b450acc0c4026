//! Stress: many pool tasks (blocking and `async`) and plain threads hammer one lock in shared
//! and exclusive mode — with tries, timeouts, aborted and abandoned requests mixed in — and no
//! update is lost, no reader sees a half-done write, nothing deadlocks. Run it repeatedly, also
//! in a debug build: `cargo test -p taskpool-runtime --test locks_stress`.
//!
//! Blocking pool tasks are fewer than the pool's thread ceiling (`max_threads + extra_threads`):
//! a fair lock makes a waiter whose turn came wait for a thread, so if every thread up to the
//! ceiling blocked behind a suspended `async` waiter they would wait for each other (see the
//! README's known limitations).

mod support;

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use support::PATIENCE;
use taskpool::{
    AbortSignal, AsyncLock, AsyncLockMode, AsyncLockOptions, Shared, TaskHandle, TaskPool,
    concurrent, sendable,
};

const ASYNC_TASKS: u64 = 36;
const BLOCKING_TASKS: u64 = 3;
const THREADS: u64 = 3;
const ROUNDS: u64 = 300;

/// Writes that succeeded; the lock's value must count exactly these.
static WRITES: AtomicU64 = AtomicU64::new(0);
/// Reads that succeeded (to show the readers really ran).
static READS: AtomicU64 = AtomicU64::new(0);

#[sendable]
struct Ledger {
    /// Two counters that writers move together: a reader must always see them equal.
    pub cells: AsyncLock<(u64, u64)>,
}

fn write(cells: &mut (u64, u64)) {
    cells.0 += 1;
    std::hint::black_box(&cells);
    cells.1 += 1;
    WRITES.fetch_add(1, Ordering::SeqCst);
}

fn read(cells: &(u64, u64)) {
    assert_eq!(cells.0, cells.1, "a reader saw a half-done write");
    READS.fetch_add(1, Ordering::SeqCst);
}

/// Returns `Pending` once (waking itself), so the task is suspended and resumed by the pool.
async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// Polls `future` once: its output, or `None` after dropping it while it waited.
async fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    poll_fn(|cx| match future.as_mut().poll(cx) {
        Poll::Ready(value) => Poll::Ready(Some(value)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

#[concurrent]
async fn hammer_async(ledger: Shared<Ledger>, seed: u64) {
    let cells = &ledger.cells;
    for round in 0..ROUNDS {
        match (seed * 7 + round) % 8 {
            0 | 1 => {
                let mut guard = cells.lock_async().await;
                yield_now().await; // hold it across a suspension
                write(&mut guard);
            }
            2 | 3 => {
                let guard = cells.lock_shared_async().await;
                yield_now().await;
                read(&guard);
            }
            4 => {
                // Abandoned after one poll: gives up its place (and any turn that came).
                if let Some(mut guard) = poll_once(cells.lock_async()).await {
                    write(&mut guard);
                }
            }
            5 => {
                let signal = AbortSignal::new();
                let options = AsyncLockOptions::new().signal(signal.clone());
                let mut request = pin!(cells.lock_async_with(options));
                let first = poll_fn(|cx| Poll::Ready(request.as_mut().poll(cx))).await;
                let outcome = match first {
                    Poll::Ready(outcome) => outcome,
                    Poll::Pending => {
                        signal.abort("stress");
                        request.await
                    }
                };
                if let Ok(mut guard) = outcome {
                    write(&mut guard);
                }
            }
            6 => {
                let options = AsyncLockOptions::new().timeout(Duration::from_micros(200));
                if let Ok(guard) = cells.lock_shared_async_with(options).await {
                    read(&guard);
                }
            }
            _ => {
                let mode = if round % 2 == 0 {
                    AsyncLockMode::Shared
                } else {
                    AsyncLockMode::Exclusive
                };
                cells
                    .lock_async_then(mode, AsyncLockOptions::new(), |mut access| async move {
                        yield_now().await;
                        match access.get_mut() {
                            Some(cells) => write(cells),
                            None => read(&access),
                        }
                    })
                    .await
                    .unwrap();
            }
        }
    }
}

fn hammer_blocking_body(cells: &AsyncLock<(u64, u64)>, seed: u64, rounds: u64) {
    for round in 0..rounds {
        match (seed * 5 + round) % 6 {
            0 | 1 => write(&mut cells.lock()),
            2 | 3 => read(&cells.lock_shared()),
            4 => {
                if let Some(mut guard) = cells.try_lock() {
                    write(&mut guard);
                }
                if let Some(guard) = cells.try_lock_shared() {
                    read(&guard);
                }
            }
            _ => {
                let options = AsyncLockOptions::new().timeout(Duration::from_micros(200));
                if let Ok(mut guard) = cells.lock_with(&options) {
                    write(&mut guard);
                }
            }
        }
    }
}

#[concurrent]
fn hammer_blocking(ledger: Shared<Ledger>, seed: u64) {
    hammer_blocking_body(&ledger.cells, seed, ROUNDS);
}

#[test]
fn many_tasks_and_threads_hammering_one_lock_lose_no_update_and_never_deadlock() {
    let pool = TaskPool::builder()
        .max_threads(3)
        .extra_threads(2)
        .build()
        .unwrap();
    let ledger = Shared::new(Ledger {
        cells: AsyncLock::new((0, 0)),
    });
    let threads: Vec<_> = (0..THREADS)
        .map(|seed| {
            let ledger = ledger.clone();
            std::thread::spawn(move || hammer_blocking_body(&ledger.cells, seed, ROUNDS * 3))
        })
        .collect();
    let mut handles: Vec<TaskHandle<()>> = Vec::new();
    for seed in 0..ASYNC_TASKS {
        handles.push(pool.run(hammer_async, (ledger.clone(), seed)));
        if seed < BLOCKING_TASKS {
            handles.push(pool.run(hammer_blocking, (ledger.clone(), seed)));
        }
    }
    for mut handle in handles {
        let outcome = handle.wait_timeout(PATIENCE * 3);
        assert!(
            matches!(outcome, Some(Ok(()))),
            "a task failed or never finished: {outcome:?}; locks: {:?}",
            AsyncLock::query_all()
        );
    }
    for thread in threads {
        thread.join().unwrap();
    }
    let state = ledger.cells.state();
    assert!(state.held.is_empty() && state.pending.is_empty(), "{state}");
    let cells = *ledger.cells.lock_shared();
    assert_eq!(cells.0, cells.1);
    assert_eq!(cells.0, WRITES.load(Ordering::SeqCst), "no update lost");
    assert!(READS.load(Ordering::SeqCst) > 0);
}
