//! Many submitters, 100 000 tasks, mixed priorities and random cancels: every handle resolves
//! exactly once, and every task that reported a value really ran once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use taskpool::{Error, Priority, Task, TaskPool, concurrent};

static RAN: AtomicU64 = AtomicU64::new(0);

#[concurrent]
fn tick(n: u64) -> u64 {
    RAN.fetch_add(1, Ordering::Relaxed);
    n
}

/// A small deterministic generator, seeded per submitter.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn every_handle_resolves_exactly_once_under_load() {
    const SUBMITTERS: u64 = 4;
    const PER_SUBMITTER: u64 = 25_000;
    let pool = Arc::new(TaskPool::builder().max_threads(4).build().unwrap());
    let submitters: Vec<_> = (0..SUBMITTERS)
        .map(|s| {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || {
                let mut seed = 0x9E37_79B9_7F4A_7C15 ^ (s + 1);
                let mut handles = Vec::with_capacity(PER_SUBMITTER as usize);
                for i in 0..PER_SUBMITTER {
                    let roll = xorshift(&mut seed);
                    let lane = Priority::ALL[(roll % 3) as usize];
                    let n = s * PER_SUBMITTER + i;
                    let handle = pool.execute_with_priority(Task::new(tick, (n,)), lane);
                    if roll % 10 == 0 {
                        // Racing the workers: the cancel may land before, during or after the run.
                        let _ = if roll % 20 == 0 {
                            handle.cancel()
                        } else {
                            pool.cancel(handle.id())
                        };
                    }
                    handles.push((n, handle));
                }
                let (mut values, mut canceled, mut late) = (0u64, 0u64, 0u64);
                for (n, handle) in handles {
                    match handle.wait() {
                        Ok(value) => {
                            assert_eq!(value, n);
                            values += 1;
                        }
                        Err(Error::Canceled { late: None, .. }) => canceled += 1,
                        Err(Error::Canceled {
                            late: Some(outcome),
                            ..
                        }) => {
                            assert_eq!(outcome.into_value::<u64>(), Some(n));
                            late += 1;
                        }
                        Err(other) => panic!("unexpected outcome {other}"),
                    }
                }
                (values, canceled, late)
            })
        })
        .collect();
    let (mut values, mut canceled, mut late) = (0, 0, 0);
    for submitter in submitters {
        let (v, c, l) = submitter.join().unwrap();
        values += v;
        canceled += c;
        late += l;
    }
    assert_eq!(values + canceled + late, SUBMITTERS * PER_SUBMITTER);
    assert_eq!(
        RAN.load(Ordering::Relaxed),
        values + late,
        "a task ran iff it was not dequeued"
    );
    assert!(canceled > 0, "some cancels landed while tasks waited");
    // Nothing waits or runs; only the last runs canceled while waiting stay listed.
    assert!(
        pool.info()
            .tasks
            .iter()
            .all(|t| t.state == taskpool::TaskState::Canceled && t.duration.is_zero())
    );
}

static ASYNC_DONE: AtomicU64 = AtomicU64::new(0);

#[concurrent]
async fn hop(n: u64, hops: u32) -> u64 {
    for _ in 0..hops {
        taskpool::sleep(std::time::Duration::from_micros(20)).await;
    }
    ASYNC_DONE.fetch_add(1, Ordering::Relaxed);
    n
}

#[test]
fn async_tasks_woken_and_canceled_at_random_all_resolve_once() {
    // Wakes, polls on any thread, and cancels of suspended tasks race; then the pool shuts
    // down with some tasks still suspended.
    const TASKS: u64 = 20_000;
    let pool = TaskPool::builder().max_threads(4).build().unwrap();
    let mut seed = 0x2545_F491_4F6C_DD1D;
    let mut handles = Vec::with_capacity(TASKS as usize);
    for n in 0..TASKS {
        let roll = xorshift(&mut seed);
        let lane = Priority::ALL[(roll % 3) as usize];
        let handle = pool.execute_with_priority(Task::new(hop, (n, (roll % 4) as u32)), lane);
        if roll % 7 == 0 {
            let _ = handle.cancel();
        }
        handles.push((n, handle));
    }
    let mut counts = Counts::default();
    for (n, handle) in handles.drain(..TASKS as usize / 2) {
        tally(n, handle.wait(), &mut counts);
    }
    drop(pool);
    for (n, handle) in handles {
        tally(n, handle.wait(), &mut counts);
    }
    assert_eq!(counts.values + counts.canceled + counts.late, TASKS);
    assert_eq!(
        ASYNC_DONE.load(Ordering::Relaxed),
        counts.values + counts.late,
        "a task completed iff its handle carries its value"
    );
    assert!(counts.canceled > 0);
}

#[derive(Default)]
struct Counts {
    values: u64,
    canceled: u64,
    late: u64,
}

fn tally(n: u64, outcome: taskpool::Result<u64>, counts: &mut Counts) {
    match outcome {
        Ok(value) => {
            assert_eq!(value, n);
            counts.values += 1;
        }
        Err(Error::Canceled { late: None, .. }) => counts.canceled += 1,
        Err(Error::Canceled {
            late: Some(outcome),
            ..
        }) => {
            assert_eq!(outcome.into_value::<u64>(), Some(n));
            counts.late += 1;
        }
        Err(other) => panic!("unexpected outcome {other}"),
    }
}
