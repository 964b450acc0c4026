//! The supervisor of a pool with nothing to time sleeps until its periodic check, however short
//! the time limit; a run that begins meanwhile wakes it, so the limit still holds.
//!
//! Regression test for the first: the supervisor woke one time limit from every look, run or
//! no run, so an idle pool with a limit of a microsecond kept its supervisor waking thousands
//! of times a second, burning CPU.

mod support;

use std::time::{Duration, Instant};

use support::{PATIENCE, plain, wait_until_executing};
use taskpool::{Error, Task, TaskPool, concurrent};

/// How long the idle supervisor is watched. Nothing is asserted about speed: an idle
/// supervisor does not wake however long it is watched; a spinning one, all the time.
const IDLE: Duration = Duration::from_millis(300);

/// How many times this process's thread named `name` was switched out (voluntarily or not):
/// each wake-up of a sleeping thread is one.
fn switches_of(name: &str) -> u64 {
    let tasks = std::fs::read_dir("/proc/self/task").expect("Linux /proc");
    for task in tasks.filter_map(Result::ok) {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let status = std::fs::read_to_string(task.path().join("status")).unwrap();
        return status
            .lines()
            .filter(|line| line.contains("ctxt_switches"))
            .map(|line| line.rsplit(char::is_whitespace).next().unwrap())
            .map(|count| count.parse::<u64>().unwrap())
            .sum();
    }
    panic!("no thread named {name}");
}

#[test]
fn an_idle_pool_with_a_tiny_time_limit_leaves_its_supervisor_asleep() {
    let pool = TaskPool::builder()
        .thread_name("rest")
        .time_limit(Duration::from_micros(1))
        .build()
        .unwrap();
    // A run starts the pool's threads and its supervisor; it may well time out.
    let _ = pool.run(plain, (1,)).wait();
    let before = switches_of("rest-supervisor");
    std::thread::sleep(IDLE);
    let woken = switches_of("rest-supervisor") - before;
    // A few for the supervisor's last looks after the run; a spinning one wakes thousands of
    // times.
    assert!(
        woken <= 20,
        "the idle supervisor woke {woken} times in {IDLE:?}"
    );
}

/// Spins until its run is told it timed out, at most `PATIENCE`.
#[concurrent]
fn spin_until_canceled() -> bool {
    let end = Instant::now() + PATIENCE;
    while Instant::now() < end {
        if taskpool::is_canceled() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

#[test]
fn a_run_that_begins_while_the_supervisor_rests_is_still_timed_out() {
    let pool = TaskPool::builder()
        .time_limit(Duration::from_millis(50))
        .check_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    assert_eq!(pool.run(plain, (1,)).wait().unwrap(), 1);
    // Idle for a few limits: the supervisor has looked and rests (its next periodic check is
    // an hour away). Were it not told, the spinner would run until `PATIENCE`.
    std::thread::sleep(Duration::from_millis(200));
    let mut handle = pool.execute(Task::new(spin_until_canceled, ()));
    wait_until_executing(&pool, handle.id());
    let outcome = handle.wait_timeout(PATIENCE).expect("the run resolves");
    assert!(
        matches!(outcome, Err(Error::TimedOut { .. })),
        "{outcome:?}"
    );
}
