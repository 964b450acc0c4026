//! Timers, delays, periods and time limits at their edge values, and wakers that misbehave when
//! the timer fires them. Nothing asserts on elapsed time: "never" is checked by cancelling, and
//! every wait is a condition with a generous bound.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use support::wakers::{BlocksInWake, OpensOnDrop};
use support::{PATIENCE, wait_until};
use taskpool::{Priority, Sleep, Task, TaskPool, concurrent, sleep};

/// A long sleep that is still representable as an instant, unlike `Duration::MAX`.
const AGES: Duration = Duration::from_secs(1 << 40);

/// Counts its wake-ups; its `Arc` count tells how many copies the timer still holds.
#[derive(Default)]
struct Tracker {
    wakes: AtomicUsize,
}

impl Wake for Tracker {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

fn tracker() -> (Arc<Tracker>, Waker) {
    let tracker = Arc::new(Tracker::default());
    (tracker.clone(), Waker::from(tracker))
}

fn poll(sleep: &mut Sleep, waker: &Waker) -> Poll<()> {
    Pin::new(sleep).poll(&mut Context::from_waker(waker))
}

/// Polls a fresh sleep of `duration` until it completes, failing after `PATIENCE`.
fn sleep_through(duration: Duration) {
    let (tracker, waker) = tracker();
    let mut nap = sleep(duration);
    if poll(&mut nap, &waker).is_ready() {
        return;
    }
    wait_until("the short sleep is woken", || {
        tracker.wakes.load(Ordering::SeqCst) > 0
    });
    assert!(poll(&mut nap, &waker).is_ready());
}

#[test]
fn zero_and_one_nanosecond_sleeps_complete() {
    let (_, waker) = tracker();
    assert!(poll(&mut sleep(Duration::ZERO), &waker).is_ready());
    sleep_through(Duration::from_nanos(1));
}

/// 100 000 pending sleeps, dropped: the timer keeps no copy of any waker afterwards.
#[test]
fn many_dropped_sleeps_release_every_waker() {
    let (tracker, waker) = tracker();
    let mut sleeps: Vec<Sleep> = (0..100_000)
        .map(|i| sleep(if i % 2 == 0 { AGES } else { Duration::MAX }))
        .collect();
    for nap in &mut sleeps {
        assert!(poll(nap, &waker).is_pending());
    }
    drop(sleeps);
    drop(waker);
    assert_eq!(
        Arc::strong_count(&tracker),
        1,
        "a dropped sleep kept its waker"
    );
    assert_eq!(tracker.wakes.load(Ordering::SeqCst), 0);
    sleep_through(Duration::from_millis(1));
}

/// A waker whose last reference panics when dropped (on the timer thread, after the wake).
struct PanicsOnDrop(Arc<AtomicUsize>);

impl Wake for PanicsOnDrop {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("a waker whose drop panics");
    }
}

#[test]
fn a_waker_that_panics_when_dropped_does_not_stop_the_timer() {
    let woken = Arc::new(AtomicUsize::new(0));
    let waker = Waker::from(Arc::new(PanicsOnDrop(woken.clone())));
    let mut doomed = sleep(Duration::from_millis(1));
    assert!(poll(&mut doomed, &waker).is_pending());
    // Our copy is forgotten, so the timer's is the last one and its drop panics there.
    std::mem::forget(waker);
    wait_until("the panicking waker is woken", || {
        woken.load(Ordering::SeqCst) == 1
    });
    drop(doomed);
    sleep_through(Duration::from_millis(1));
}

#[test]
fn a_long_representable_sleep_does_not_stall_shorter_ones() {
    let (tracker, waker) = tracker();
    let mut long = sleep(AGES);
    assert!(poll(&mut long, &waker).is_pending());
    sleep_through(Duration::from_millis(1));
    drop(long);
    drop(waker);
    assert_eq!(Arc::strong_count(&tracker), 1);
}

#[concurrent]
fn echo(n: u32) -> u32 {
    n
}

#[test]
fn delays_of_zero_one_nanosecond_and_ages_work() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    for delay in [Duration::ZERO, Duration::from_nanos(1)] {
        let handle = pool.execute_delayed(delay, Task::new(echo, (7,)), Priority::High);
        assert_eq!(handle.wait().unwrap(), 7);
    }
    let mut later = pool.execute_delayed(AGES, Task::new(echo, (8,)), Priority::Low);
    assert!(later.wait_timeout(Duration::ZERO).is_none());
    later.cancel().unwrap();
    assert!(later.wait().unwrap_err().is_canceled());
}

static TICKS: AtomicUsize = AtomicUsize::new(0);

#[concurrent]
fn tick() {
    TICKS.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn periods_of_one_nanosecond_and_ages_run_and_cancel() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let fast = pool
        .execute_periodically(Duration::from_nanos(1), Task::new(tick, ()), Priority::Low)
        .unwrap();
    wait_until("a 1 ns period ticks twice", || {
        TICKS.load(Ordering::SeqCst) >= 2
    });
    fast.cancel().unwrap();
    for period in [AGES, Duration::MAX] {
        let slow = pool
            .execute_periodically(period, Task::new(echo, (1,)), Priority::Low)
            .unwrap();
        slow.cancel().unwrap();
    }
}

#[test]
fn wait_timeout_of_zero_and_max_on_a_handle() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let mut handle = pool.run(echo, (3,));
    assert!(matches!(handle.wait_timeout(Duration::MAX), Some(Ok(3))));
    let mut never = pool.execute_delayed(Duration::MAX, Task::new(echo, (4,)), Priority::Low);
    assert!(never.wait_timeout(Duration::ZERO).is_none());
    assert!(never.wait_timeout(Duration::from_nanos(1)).is_none());
    never.cancel().unwrap();
    assert!(matches!(never.wait_timeout(Duration::MAX), Some(Err(e)) if e.is_canceled()));
}

#[test]
fn a_task_canceled_before_running_reports_no_durations() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(echo, (5,));
    let handle = pool.execute_delayed(Duration::MAX, &task, Priority::Low);
    handle.cancel().unwrap();
    assert!(handle.wait().unwrap_err().is_canceled());
    // It never ran: no durations rather than made-up (or negative) ones.
    assert_eq!(task.durations(), None);
}

#[concurrent]
fn held(gate: u64) -> u64 {
    support::pass_gate(gate);
    gate
}

/// A call over its time limit: settled as timed out, and once it returns its durations are
/// consistent (io = total - cpu, never negative).
#[test]
fn a_timed_out_task_reports_consistent_durations() {
    const GATE: u64 = 93_500;
    let pool = TaskPool::builder()
        .max_threads(1)
        .time_limit(Duration::from_millis(1))
        .check_interval(Duration::from_millis(1))
        .build()
        .unwrap();
    let task = Task::new(held, (GATE,));
    let handle = pool.execute(&task);
    let outcome = handle.wait();
    assert!(
        matches!(outcome, Err(taskpool::Error::TimedOut { .. })),
        "{outcome:?}"
    );
    support::open_gate(GATE);
    wait_until("the timed-out call returns", || task.durations().is_some());
    let durations = task.durations().unwrap();
    assert!(durations.cpu <= durations.total, "{durations:?}");
    assert_eq!(durations.io, durations.total - durations.cpu);
}

/// Time limits and check intervals of 1 ns, of ages, and `Duration::MAX` all build and serve a
/// call (a 1 ns limit may time it out, with its code); none panics on a deadline.
#[test]
fn builder_time_extremes_build_and_run() {
    for (limit, interval) in [
        (Duration::from_nanos(1), Duration::from_nanos(1)),
        (AGES, AGES),
        (Duration::MAX, Duration::from_nanos(1)),
    ] {
        let pool = TaskPool::builder()
            .max_threads(1)
            .time_limit(limit)
            .check_interval(interval)
            .idle_timeout(interval)
            .build()
            .unwrap();
        let outcome = pool.run(echo, (9,)).wait();
        assert!(
            matches!(outcome, Ok(9) | Err(taskpool::Error::TimedOut { .. })),
            "{outcome:?}"
        );
        pool.shutdown_timeout(PATIENCE);
    }
}

/// A 1 ms sleep whose waker blocks when woken (kept pending until then): returns the waker's
/// state once it is inside `wake`, and the sleep (whose entry has fired).
fn block_a_wake(gate: u64) -> (Arc<BlocksInWake>, Sleep) {
    let blocker = BlocksInWake::new(gate, false);
    let mut stuck = sleep(Duration::from_millis(1));
    assert!(poll(&mut stuck, &Waker::from(blocker.clone())).is_pending());
    wait_until("the blocking waker is entered", || blocker.entered() == 1);
    (blocker, stuck)
}

/// Releases `blocker` and checks its one wake returned.
fn release(blocker: &BlocksInWake) {
    support::open_gate(blocker.gate());
    wait_until("the blocking waker returns", || blocker.returned() == 1);
    assert_eq!(blocker.entered(), 1);
}

/// A waker stuck in `wake` holds up its own wake only: a sleep due beside it (registered just
/// after it, so woken right after it) and one registered while it blocks are both woken.
#[test]
fn a_waker_that_blocks_does_not_stall_other_sleeps() {
    const GATE: u64 = 97_000;
    let _open = OpensOnDrop(vec![GATE]);
    let blocker = BlocksInWake::new(GATE, false);
    // Created in this order, the blocker's deadline is the earlier: it is woken first.
    let mut stuck = sleep(Duration::from_millis(1));
    let mut beside = sleep(Duration::from_millis(1));
    let (tracker, waker) = tracker();
    assert!(poll(&mut stuck, &Waker::from(blocker.clone())).is_pending());
    assert!(poll(&mut beside, &waker).is_pending());
    wait_until("the blocking waker is entered", || blocker.entered() == 1);
    wait_until("the sleep due beside the blocked one is woken", || {
        tracker.wakes.load(Ordering::SeqCst) == 1
    });
    assert!(poll(&mut beside, &waker).is_ready());
    sleep_through(Duration::from_millis(1));
    assert_eq!(blocker.returned(), 0, "released early");
    release(&blocker);
    drop(stuck);
    sleep_through(Duration::from_millis(1));
}

static BLOCKED_TICKS: AtomicUsize = AtomicUsize::new(0);

#[concurrent]
fn blocked_tick() {
    BLOCKED_TICKS.fetch_add(1, Ordering::SeqCst);
}

/// Delayed tasks and periodic ticks are alarms on the same timer: a waker stuck in `wake` does
/// not hold them up.
#[test]
fn a_waker_that_blocks_does_not_stall_delays_or_ticks() {
    const GATE: u64 = 97_001;
    let _open = OpensOnDrop(vec![GATE]);
    let (blocker, stuck) = block_a_wake(GATE);
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let mut delayed = pool.execute_delayed(
        Duration::from_millis(1),
        Task::new(echo, (11,)),
        Priority::High,
    );
    assert!(matches!(delayed.wait_timeout(PATIENCE), Some(Ok(11))));
    let periodic = pool
        .execute_periodically(
            Duration::from_millis(1),
            Task::new(blocked_tick, ()),
            Priority::Low,
        )
        .unwrap();
    wait_until("a periodic task ticks twice", || {
        BLOCKED_TICKS.load(Ordering::SeqCst) >= 2
    });
    periodic.cancel().unwrap();
    assert_eq!(blocker.returned(), 0, "released early");
    release(&blocker);
    drop(stuck);
}

/// Three wakers stuck in `wake` one after another (each holding up the thread that woke it)
/// still leave a later sleep served.
#[test]
fn several_wakers_that_block_do_not_stall_a_later_sleep() {
    const GATES: [u64; 3] = [97_002, 97_003, 97_004];
    let _open = OpensOnDrop(GATES.to_vec());
    let blocked: Vec<_> = GATES.iter().map(|&gate| block_a_wake(gate)).collect();
    sleep_through(Duration::from_millis(1));
    for (blocker, _) in &blocked {
        assert_eq!(blocker.returned(), 0, "released early");
    }
    for (blocker, _) in &blocked {
        release(blocker);
    }
    sleep_through(Duration::from_millis(1));
}
