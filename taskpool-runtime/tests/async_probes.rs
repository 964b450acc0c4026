//! Probes of `async fn` tasks and of everything that polls or wakes user futures and wakers:
//! futures that misbehave (wake themselves forever, keep their wakers past the pool, wake
//! twice at once, panic, block in a poll), handles polled by other executors or dropped
//! mid-way, cancels racing wakes, and IDLE `async` tasks that must never execute two at once.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use support::{PATIENCE, Signal, wait_until, yield_now};
use taskpool::{
    Error, Priority, Task, TaskGroup, TaskHandle, TaskPool, concurrent, is_canceled, send_data,
    sleep,
};

// --- Helpers ---------------------------------------------------------------------------------

/// A waker that records that it was woken, and unparks the thread that made it.
struct Flag {
    woken: AtomicBool,
    thread: std::thread::Thread,
}

impl Flag {
    fn new() -> Arc<Flag> {
        Arc::new(Flag {
            woken: AtomicBool::new(false),
            thread: std::thread::current(),
        })
    }

    /// Waits until woken, failing the test after [`PATIENCE`].
    fn wait(&self) {
        let deadline = Instant::now() + PATIENCE;
        while !self.woken.load(Ordering::SeqCst) {
            let left = deadline
                .checked_duration_since(Instant::now())
                .expect("the waker was never woken");
            std::thread::park_timeout(left);
        }
    }
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// A hand-written executor that polls `future` with a brand-new waker every time, and only
/// polls again once *that* waker was woken: a wake sent to a stale waker would hang it.
/// Returns the output and the number of polls.
fn poll_with_fresh_wakers<F: Future + Unpin>(mut future: F) -> (F::Output, usize) {
    let mut polls = 0;
    loop {
        let flag = Flag::new();
        let waker = Waker::from(Arc::clone(&flag));
        polls += 1;
        if let Poll::Ready(value) = Pin::new(&mut future).poll(&mut Context::from_waker(&waker)) {
            return (value, polls);
        }
        drop(waker);
        flag.wait();
    }
}

/// A waker that counts how often it was dropped (all clones) and woken.
#[derive(Default)]
struct Counted {
    wakes: AtomicUsize,
}

impl Wake for Counted {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

/// Counts its drops in `DROPS[slot]`.
struct DropCount(usize);

static DROPS: [AtomicUsize; 8] = [const { AtomicUsize::new(0) }; 8];

impl Drop for DropCount {
    fn drop(&mut self) {
        DROPS[self.0].fetch_add(1, Ordering::SeqCst);
    }
}

fn drops(slot: usize) -> usize {
    DROPS[slot].load(Ordering::SeqCst)
}

/// Wakers parked by tasks, by key: what a test wakes later, from wherever it likes.
static PARKED_WAKERS: Mutex<Vec<(u64, Waker)>> = Mutex::new(Vec::new());

fn parked_waker(key: u64) -> Option<Waker> {
    let parked = PARKED_WAKERS.lock().unwrap_or_else(|e| e.into_inner());
    parked
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, w)| w.clone())
}

/// Keeps a clone of the current waker under `key`, and returns `Pending` until `FLAGS`
/// says `key` may go on.
struct ParkUntil(u64);

static FLAGS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

fn raise_flag(key: u64) {
    FLAGS.lock().unwrap_or_else(|e| e.into_inner()).push(key);
}

impl Future for ParkUntil {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let key = self.0;
        {
            let mut parked = PARKED_WAKERS.lock().unwrap_or_else(|e| e.into_inner());
            parked.retain(|(k, _)| *k != key);
            parked.push((key, cx.waker().clone()));
        }
        if FLAGS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key)
        {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

fn wait_for_parked_waker(key: u64) -> Waker {
    let mut found = None;
    wait_until("the task parked its waker", || {
        found = parked_waker(key);
        found.is_some()
    });
    found.unwrap()
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .unwrap_or_default(),
    }
}

// --- Busy self-wake ---------------------------------------------------------------------------

static SPINNER_STOP: AtomicBool = AtomicBool::new(false);
static SPINNER_POLLS: AtomicU64 = AtomicU64::new(0);

#[concurrent]
async fn spin_by_waking_itself() -> u64 {
    while !SPINNER_STOP.load(Ordering::SeqCst) {
        SPINNER_POLLS.fetch_add(1, Ordering::SeqCst);
        yield_now().await;
    }
    SPINNER_POLLS.load(Ordering::SeqCst)
}

#[concurrent]
fn lane_work(x: u32) -> u32 {
    x * 2
}

#[test]
fn a_high_task_waking_itself_forever_starves_neither_medium_nor_low_work() {
    // One thread. The spinner is woken in every poll, so the HIGH lane is never empty.
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let spinner = pool.execute_with_priority(Task::new(spin_by_waking_itself, ()), Priority::High);
    wait_until("the spinner spins", || {
        SPINNER_POLLS.load(Ordering::SeqCst) > 10
    });
    let mut results = Vec::new();
    for (i, priority) in [Priority::Medium, Priority::Low, Priority::High]
        .into_iter()
        .enumerate()
    {
        let mut handle = pool.execute_with_priority(Task::new(lane_work, (i as u32,)), priority);
        results.push((priority, handle.wait_timeout(PATIENCE)));
    }
    SPINNER_STOP.store(true, Ordering::SeqCst);
    for (i, (priority, result)) in results.into_iter().enumerate() {
        let result = result.unwrap_or_else(|| panic!("the {priority:?} task never ran"));
        assert_eq!(result.unwrap(), i as u32 * 2);
    }
    assert!(spinner.wait().unwrap() > 10);
}

#[concurrent]
async fn yield_a_few_times(times: u32) -> u32 {
    for _ in 0..times {
        yield_now().await;
    }
    times
}

#[concurrent]
fn sleep_a_little(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[test]
fn time_spent_queued_between_self_wakes_does_not_count_toward_the_time_limit() {
    // One thread, a limit of 400 ms. Between its polls the yielder waits in its lane behind
    // HIGH tasks of 100 ms each, 2 s of them in all: queued time, not its own.
    let pool = TaskPool::builder()
        .max_threads(1)
        .extra_threads(0)
        .time_limit(Duration::from_millis(400))
        .check_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    let gate = pool.execute_with_priority(Task::new(support::hold, (0xA51,)), Priority::High);
    support::wait_until_executing(&pool, gate.id());
    let yielder = pool.execute_with_priority(Task::new(yield_a_few_times, (6,)), Priority::Low);
    let sleepers: Vec<_> = (0..20)
        .map(|_| pool.execute_with_priority(Task::new(sleep_a_little, (100,)), Priority::High))
        .collect();
    support::open_gate(0xA51);
    assert_eq!(gate.wait().unwrap(), 0xA51);
    for sleeper in sleepers {
        assert_eq!(sleeper.wait().unwrap(), 100);
    }
    assert_eq!(yielder.wait().unwrap(), 6);
}

// --- Wakers kept past the task, and past the pool ------------------------------------------

#[concurrent]
async fn keep_wakers_then_finish(key: u64) -> u64 {
    let _state = DropCount(0);
    ParkUntil(key).await;
    // A second, stale clone for a thread that outlives the pool.
    let waker = parked_waker(key).unwrap();
    std::thread::spawn(move || {
        support::pass_gate(0xA52);
        waker.wake_by_ref();
        let clone = waker.clone();
        waker.wake();
        drop(clone);
    });
    key
}

#[test]
fn wakers_kept_in_statics_and_threads_woken_after_the_task_and_the_pool_are_gone() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    // One task that completes, one that is canceled at its `.await`, one abandoned by the
    // pool's drop; all three leave wakers behind.
    let finishing = pool.run(keep_wakers_then_finish, (101,));
    let canceled = pool.run(keep_wakers_then_finish, (102,));
    let abandoned = pool.run(keep_wakers_then_finish, (103,));
    let w101 = wait_for_parked_waker(101);
    let w102 = wait_for_parked_waker(102);
    let w103 = wait_for_parked_waker(103);
    raise_flag(101);
    w101.wake_by_ref();
    assert_eq!(finishing.wait().unwrap(), 101);
    canceled.cancel().unwrap();
    assert!(matches!(canceled.wait(), Err(Error::Canceled { .. })));
    drop(pool);
    assert!(matches!(abandoned.wait(), Err(Error::Canceled { .. })));
    // Every future's state is gone, although wakers of all three live on.
    assert_eq!(drops(0), 3);
    // Woken, cloned and dropped long after, here and on other threads: nothing happens.
    for waker in [&w101, &w102, &w103] {
        waker.wake_by_ref();
        let clone = waker.clone();
        clone.wake_by_ref();
        drop(clone);
    }
    support::open_gate(0xA52);
    let threads: Vec<_> = [w101, w102, w103]
        .into_iter()
        .map(|waker| {
            std::thread::spawn(move || {
                waker.wake_by_ref();
                waker.wake();
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    PARKED_WAKERS
        .lock()
        .unwrap()
        .retain(|(k, _)| !(101..=103).contains(k));
    assert_eq!(drops(0), 3);
}

// --- Two wakes at once --------------------------------------------------------------------------

static IN_POLL: AtomicUsize = AtomicUsize::new(0);
static MAX_IN_POLL: AtomicUsize = AtomicUsize::new(0);
static DOUBLE_WAKE_DONE: AtomicBool = AtomicBool::new(false);
static DOUBLE_WAKE_POLLS: AtomicUsize = AtomicUsize::new(0);

/// Pending until `DOUBLE_WAKE_DONE`, parking its waker under key 200 each poll; counts how many
/// polls of it overlap.
struct Overlap;

impl Future for Overlap {
    type Output = usize;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        let now = IN_POLL.fetch_add(1, Ordering::SeqCst) + 1;
        MAX_IN_POLL.fetch_max(now, Ordering::SeqCst);
        let polls = DOUBLE_WAKE_POLLS.fetch_add(1, Ordering::SeqCst) + 1;
        // Widens the window in which a second poll could slip in.
        std::thread::yield_now();
        let outcome = if DOUBLE_WAKE_DONE.load(Ordering::SeqCst) {
            Poll::Ready(polls)
        } else {
            let mut parked = PARKED_WAKERS.lock().unwrap_or_else(|e| e.into_inner());
            parked.retain(|(k, _)| *k != 200);
            parked.push((200, cx.waker().clone()));
            Poll::Pending
        };
        IN_POLL.fetch_sub(1, Ordering::SeqCst);
        outcome
    }
}

#[concurrent]
async fn overlap_counter() -> usize {
    Overlap.await
}

#[test]
fn a_waker_woken_twice_at_once_from_two_threads_never_polls_the_future_twice_at_once() {
    let pool = TaskPool::builder().max_threads(4).build().unwrap();
    let handle = pool.run(overlap_counter, ());
    wait_for_parked_waker(200);
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let wakers: Vec<_> = (0..2)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                for _ in 0..3000 {
                    let waker = parked_waker(200).unwrap();
                    barrier.wait();
                    waker.wake_by_ref();
                    waker.wake();
                }
            })
        })
        .collect();
    for waker in wakers {
        waker.join().unwrap();
    }
    DOUBLE_WAKE_DONE.store(true, Ordering::SeqCst);
    parked_waker(200).unwrap().wake();
    let polls = handle.wait().unwrap();
    assert_eq!(MAX_IN_POLL.load(Ordering::SeqCst), 1, "two polls at once");
    // At most one poll per wake (12 000 of them), plus the first and the last.
    assert!(polls <= 12_002, "{polls} polls");
    PARKED_WAKERS.lock().unwrap().retain(|(k, _)| *k != 200);
}

// --- Panics ------------------------------------------------------------------------------------

#[concurrent]
async fn panic_after_pendings(pendings: u32) -> u32 {
    let _state = DropCount(1);
    for _ in 0..pendings {
        yield_now().await;
    }
    sleep(Duration::from_millis(1)).await;
    if pendings > 0 {
        panic!("poll number {} panics", pendings + 2);
    }
    pendings
}

#[test]
fn a_panic_in_a_poll_after_several_pendings_fails_the_task_and_drops_its_state_once() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let handles: Vec<_> = (0..20)
        .map(|_| pool.run(panic_after_pendings, (5,)))
        .collect();
    for handle in handles {
        match handle.wait() {
            Err(Error::Panicked { message, .. }) => assert_eq!(message, "poll number 7 panics"),
            other => panic!("expected a panic, got {other:?}"),
        }
    }
    assert_eq!(drops(1), 20);
    assert_eq!(pool.run(panic_after_pendings, (0,)).wait().unwrap(), 0);
    let counters = pool.info().counters;
    assert_eq!((counters.failed, counters.completed), (20, 1));
    assert!(pool.info().tasks.is_empty());
}

/// Panics when dropped, and counts the drop in `DROPS[2]`.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        DROPS[2].fetch_add(1, Ordering::SeqCst);
        panic!("the bomb went off");
    }
}

#[concurrent]
async fn hold_a_bomb(key: u64) -> u64 {
    let _bomb = Bomb;
    ParkUntil(key).await;
    key
}

#[test]
fn a_panicking_drop_at_an_await_is_contained_whether_a_cancel_or_a_wake_wins() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let mut canceled = 0;
    for key in 300..340u64 {
        let handle = pool.run(hold_a_bomb, (key,));
        let waker = wait_for_parked_waker(key);
        raise_flag(key);
        // The wake (on another thread) races the cancel (here).
        let waking = std::thread::spawn(move || waker.wake());
        let cancel = handle.cancel();
        waking.join().unwrap();
        match (cancel, handle.wait()) {
            (Ok(()), Err(Error::Canceled { .. })) => canceled += 1,
            // Woken first: the bomb goes off as the body returns, inside that last poll.
            (Err(Error::TaskNotFound(_)), Err(Error::Panicked { message, .. })) => {
                assert_eq!(message, "the bomb went off");
            }
            other => panic!("inconsistent: {other:?}"),
        }
    }
    assert_eq!(drops(2), 40, "every bomb dropped once");
    let counters = pool.info().counters;
    assert_eq!(counters.canceled, canceled);
    assert_eq!(counters.failed + counters.canceled, 40);
    PARKED_WAKERS
        .lock()
        .unwrap()
        .retain(|(k, _)| !(300..340).contains(k));
}

// --- A poll that blocks; a poll that ends after the shutdown began -----------------------------

#[concurrent]
async fn block_in_second_poll(gate: u64) -> u64 {
    yield_now().await;
    // Blocks the poll (not an `.await`) until the test opens the gate.
    support::pass_gate(gate);
    if is_canceled() { gate + 1 } else { gate }
}

#[test]
fn a_poll_that_blocks_is_timed_out_while_it_blocks_and_its_thread_replaced() {
    let pool = TaskPool::builder()
        .max_threads(1)
        .time_limit(support::SHORT_LIMIT)
        .check_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    let mut blocked = pool.run(block_in_second_poll, (0xA53,));
    match blocked.wait_timeout(PATIENCE) {
        Some(Err(Error::TimedOut { .. })) => {}
        other => panic!("expected a time-out while the poll blocks, got {other:?}"),
    }
    // The blocked thread is retired: the pool goes on without it.
    assert_eq!(pool.run(lane_work, (4,)).wait().unwrap(), 8);
    assert!(
        pool.info()
            .tasks
            .iter()
            .all(|t| t.task_id != blocked.id() || t.state == taskpool::TaskState::Canceled),
        "{:?}",
        pool.info().tasks
    );
    support::open_gate(0xA53);
    drop(pool);
}

static QUEUED_BEHIND: Signal = Signal::new();

#[concurrent]
async fn finish_after_the_shutdown_began(gate: u64, pending_after: bool) -> u64 {
    let _state = DropCount(3);
    yield_now().await;
    support::pass_gate(gate);
    if pending_after {
        // Pending once more, after the shutdown began: dropped there.
        QUEUED_BEHIND.raised().await;
    }
    gate
}

#[test]
fn a_poll_that_ends_after_the_shutdown_began_settles_its_handle() {
    for (gate, pending_after) in [(0xA54, false), (0xA55, true)] {
        let pool = TaskPool::builder().max_threads(1).build().unwrap();
        let executing = pool.run(finish_after_the_shutdown_began, (gate, pending_after));
        support::wait_until_executing(&pool, executing.id());
        // Queued behind it on the only thread: canceled as the shutdown begins.
        let queued = pool.run(lane_work, (1,));
        let dropper = std::thread::spawn(move || drop(pool));
        assert!(matches!(queued.wait(), Err(Error::Canceled { .. })));
        support::open_gate(gate);
        match (pending_after, executing.wait()) {
            (false, Ok(value)) => assert_eq!(value, gate),
            (true, Err(Error::Canceled { .. })) => {}
            (_, other) => panic!("unexpected {other:?}"),
        }
        dropper.join().unwrap();
    }
    assert_eq!(drops(3), 2);
}

// --- Awaiting handles inside tasks -----------------------------------------------------------

fn nested_pool() -> &'static TaskPool {
    static POOL: OnceLock<TaskPool> = OnceLock::new();
    POOL.get_or_init(|| TaskPool::builder().max_threads(2).build().unwrap())
}

#[concurrent]
async fn await_chain(links: u32) -> u32 {
    if links == 0 {
        return 0;
    }
    nested_pool().run(await_chain, (links - 1,)).await.unwrap() + 1
}

#[test]
fn a_chain_of_a_thousand_tasks_each_awaiting_the_next_completes() {
    assert_eq!(
        nested_pool().run(await_chain, (1000,)).wait().unwrap(),
        1000
    );
    wait_until("the chain's runs are gone", || {
        nested_pool().info().tasks.is_empty()
    });
}

#[concurrent]
async fn fan_out(count: u32) -> u64 {
    let handles: Vec<_> = (0..count)
        .map(|i| nested_pool().run(lane_work, (i,)))
        .collect();
    let mut total = 0u64;
    for handle in futures::future::join_all(handles).await {
        total += u64::from(handle.unwrap());
    }
    total
}

#[test]
fn one_task_awaits_ten_thousand_handles() {
    let expected: u64 = (0..10_000u64).map(|i| i * 2).sum();
    assert_eq!(
        nested_pool().run(fan_out, (10_000,)).wait().unwrap(),
        expected
    );
}

// --- Dropping an awaited handle mid-way ---------------------------------------------------------

static DETACHED_RAN: AtomicUsize = AtomicUsize::new(0);

#[concurrent]
fn detached_work(gate: u64) -> u64 {
    support::pass_gate(gate);
    DETACHED_RAN.fetch_add(1, Ordering::SeqCst);
    gate
}

#[concurrent]
async fn select_then_drop(gate: u64) -> String {
    let slow = nested_pool().run(detached_work, (gate,));
    // A `select!` between the handle and a short sleep: the sleep wins, the handle is dropped.
    let mut slow = std::pin::pin!(slow);
    let mut nap = std::pin::pin!(sleep(Duration::from_millis(1)));
    std::future::poll_fn(|cx| {
        if slow.as_mut().poll(cx).is_ready() {
            return Poll::Ready("handle");
        }
        nap.as_mut().poll(cx).map(|()| "sleep")
    })
    .await
    .to_owned()
}

#[test]
fn a_handle_dropped_by_a_select_inside_a_task_detaches_the_awaited_task_which_still_runs() {
    let winner = nested_pool()
        .run(select_then_drop, (0xA56,))
        .wait()
        .unwrap();
    assert_eq!(winner, "sleep");
    support::open_gate(0xA56);
    wait_until("the detached task ran", || {
        DETACHED_RAN.load(Ordering::SeqCst) == 1
    });
    wait_until("nothing is left", || nested_pool().info().tasks.is_empty());
}

#[test]
fn a_handle_dropped_mid_way_by_an_external_executor_lets_go_of_its_waker() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let counted = Arc::new(Counted::default());
    let waker = Waker::from(Arc::clone(&counted));
    let mut handle = pool.run(support::hold, (0xA57,));
    assert!(
        Pin::new(&mut handle)
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    drop(waker);
    assert_eq!(Arc::strong_count(&counted), 2, "the handle keeps the waker");
    // A `select!` lost interest: the handle goes, the task runs on.
    drop(handle);
    assert_eq!(
        Arc::strong_count(&counted),
        1,
        "a dropped handle still keeps its waker until the task ends"
    );
    support::open_gate(0xA57);
    drop(pool);
    assert_eq!(counted.wakes.load(Ordering::SeqCst), 0);
}

// --- Handles, groups and streams polled by other executors -----------------------------------

#[concurrent]
async fn gated_value(key: u64) -> u64 {
    ParkUntil(key).await;
    key
}

/// Opens flag `key` and wakes its task, from a thread of its own, once the task parked.
fn release_later(key: u64) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let waker = wait_for_parked_waker(key);
        std::thread::sleep(Duration::from_millis(5));
        raise_flag(key);
        waker.wake();
    })
}

#[test]
fn a_handle_polled_by_an_executor_with_a_fresh_waker_each_time_wakes_the_latest() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let releaser = release_later(400);
    let (value, polls) = poll_with_fresh_wakers(pool.run(gated_value, (400,)));
    assert_eq!(value.unwrap(), 400);
    assert!(polls >= 1);
    releaser.join().unwrap();
    // And `futures`' executor, polling on its own thread.
    let releaser = release_later(401);
    let value = futures::executor::block_on(pool.run(gated_value, (401,)));
    assert_eq!(value.unwrap(), 401);
    releaser.join().unwrap();
}

#[test]
fn a_handle_polled_again_after_its_outcome_panics_with_a_clear_message_and_nothing_else_breaks() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let mut handle = pool.run(lane_work, (21,));
    assert_eq!(futures::executor::block_on(&mut handle).unwrap(), 42);
    assert!(handle.is_finished());
    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        futures::executor::block_on(&mut handle)
    }));
    let message = panic_message(again.expect_err("a spent handle panics"));
    assert!(
        message.contains("after it returned its outcome"),
        "{message}"
    );
    // The panic happened with the handle's lock held: nothing is poisoned for good.
    assert!(handle.is_finished());
    assert!(format!("{handle:?}").contains("finished: true"));
    drop(handle);
    assert_eq!(pool.run(lane_work, (1,)).wait().unwrap(), 2);
}

#[test]
fn a_group_handle_polled_by_fresh_wakers_and_one_dropped_mid_way() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let mut group = TaskGroup::new();
    group.add(gated_value, (410,)).unwrap();
    group.add(gated_value, (411,)).unwrap();
    let releasers = [release_later(410), release_later(411)];
    let (values, _) = poll_with_fresh_wakers(pool.execute_group(&group, Priority::Medium));
    assert_eq!(values.unwrap(), [410, 411]);
    releasers.into_iter().for_each(|r| r.join().unwrap());

    // Dropped after one poll: its waker goes with it, and the members run on.
    let mut group = TaskGroup::new();
    group.add(support::hold, (0xA58,)).unwrap();
    let counted = Arc::new(Counted::default());
    let waker = Waker::from(Arc::clone(&counted));
    let mut handle = pool.execute_group(&group, Priority::Medium);
    assert!(
        Pin::new(&mut handle)
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    drop(waker);
    drop(handle);
    assert_eq!(
        Arc::strong_count(&counted),
        1,
        "a dropped group handle still keeps its waker"
    );
    support::open_gate(0xA58);
    wait_until("the member ran", || pool.info().tasks.is_empty());
    assert_eq!(counted.wakes.load(Ordering::SeqCst), 0);
}

#[concurrent]
async fn send_while_parked(key: u64) -> u64 {
    for i in 0..3u64 {
        send_data(key + i).unwrap();
        yield_now().await;
    }
    ParkUntil(key).await;
    send_data(key + 3).unwrap();
    key
}

#[test]
fn a_data_stream_polled_by_fresh_wakers_and_one_dropped_mid_way() {
    use futures::StreamExt;
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let task = Task::new(send_while_parked, (420,));
    let mut stream = task.data_stream::<u64>();
    let handle = pool.execute(task);
    let releaser = release_later(420);
    let mut seen = Vec::new();
    loop {
        let (next, _) = poll_with_fresh_wakers(stream.next());
        match next {
            Some(value) => seen.push(value),
            None => break,
        }
    }
    assert_eq!(seen, [420, 421, 422, 423]);
    assert_eq!(handle.wait().unwrap(), 420);
    releaser.join().unwrap();
    // Polled after its end: ends again, no panic.
    assert_eq!(futures::executor::block_on(stream.next()), None);

    // Dropped while it waits (the task is kept, so the stream would never end by itself).
    let task = Task::new(send_while_parked, (430,));
    let mut stream = task.data_stream::<u64>();
    let handle = pool.execute(&task);
    for expected in 430..433 {
        assert_eq!(futures::executor::block_on(stream.next()), Some(expected));
    }
    let counted = Arc::new(Counted::default());
    let waker = Waker::from(Arc::clone(&counted));
    let mut next = stream.next();
    let mut cx = Context::from_waker(&waker);
    // Nothing more until the task is released.
    assert!(Pin::new(&mut next).poll(&mut cx).is_pending());
    drop(next);
    drop(waker);
    drop(stream);
    assert_eq!(
        Arc::strong_count(&counted),
        1,
        "a dropped stream still keeps its waker"
    );
    let releaser = release_later(430);
    assert_eq!(handle.wait().unwrap(), 430);
    releaser.join().unwrap();
    drop(task);
}

#[test]
fn sleeps_of_zero_and_unrepresentable_length_polled_outside_any_pool() {
    // Zero: ready at the first poll, on any executor.
    futures::executor::block_on(sleep(Duration::ZERO));
    let (_, polls) = poll_with_fresh_wakers(Box::pin(sleep(Duration::ZERO)));
    assert_eq!(polls, 1);
    // Huge: pending (no timer entry for "never"), and dropped without a trace; a `select!`
    // with a short sleep ends with the short one.
    for huge in [
        Duration::MAX,
        Duration::from_secs(u64::MAX / 4),
        Duration::from_secs(1 << 40),
    ] {
        let counted = Arc::new(Counted::default());
        let waker = Waker::from(Arc::clone(&counted));
        let mut long = Box::pin(sleep(huge));
        assert!(
            long.as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        let mut short = Box::pin(sleep(Duration::from_millis(2)));
        let winner = futures::executor::block_on(std::future::poll_fn(|cx| {
            if long.as_mut().poll(cx).is_ready() {
                return Poll::Ready("long");
            }
            short.as_mut().poll(cx).map(|()| "short")
        }));
        assert_eq!(winner, "short");
        drop(long);
        drop(waker);
        assert_eq!(
            Arc::strong_count(&counted),
            1,
            "{huge:?}: the timer keeps no waker"
        );
        assert_eq!(counted.wakes.load(Ordering::SeqCst), 0);
    }
}

#[concurrent]
async fn send_counted(count: u32) -> u32 {
    for _ in 0..count {
        send_data(DropCount(4)).unwrap();
        yield_now().await;
    }
    count
}

#[test]
fn values_sent_to_a_dropped_data_stream_do_not_pile_up_while_the_task_lives() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(send_counted, (50,));
    let stream = task.data_stream::<DropCount>();
    let handle = pool.execute(&task);
    drop(stream);
    assert_eq!(handle.wait().unwrap(), 50);
    // The task lives on (it could be executed again): nothing may keep its unread values.
    assert_eq!(drops(4), 50, "values sent to a dropped stream are kept");
    drop(task);
}

// --- Cancel racing a wake ------------------------------------------------------------------------

/// Lets the task parked under `key` go on: raises its flag, then wakes it.
fn release(key: u64) {
    raise_flag(key);
    if let Some(waker) = parked_waker(key) {
        waker.wake();
    }
}

#[concurrent]
fn wake_parked(key: u64) -> u64 {
    release(key);
    key
}

/// A tiny deterministic generator (xorshift), so that every run races the same way.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn spin(rounds: u64) {
    for _ in 0..rounds {
        std::hint::spin_loop();
    }
}

#[test]
fn a_thousand_cancels_racing_wakes_on_random_threads_settle_each_task_exactly_once() {
    let pool = TaskPool::builder().max_threads(3).build().unwrap();
    let helper_pool = TaskPool::builder().max_threads(2).build().unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut completed, mut canceled) = (0u64, 0u64);
    for i in 0..1000u64 {
        let key = 10_000 + i;
        let handle = pool.run(gated_value, (key,));
        // Half the time the cancel lands while the task is suspended, else while it may be
        // starting or being polled.
        // Every hundredth round forces each order (the cancel before the wake, the wake's
        // completion before the cancel), so that both sides win whatever the machine's speed.
        let (cancel_first, wake_first) = (i % 100 == 50, i % 100 == 0);
        if rng.next() % 2 == 0 || cancel_first {
            wait_for_parked_waker(key);
        }
        let early_cancel = cancel_first.then(|| handle.cancel());
        let delay = rng.next() % 2000;
        // The wake comes from a plain thread, a task of another pool, or a task of the same
        // pool (a pool thread, maybe the one that would poll the woken task).
        let waking: Box<dyn FnOnce() + Send> = match rng.next() % 3 {
            0 => {
                let thread = std::thread::spawn(move || {
                    spin(delay);
                    release(key);
                });
                Box::new(move || thread.join().unwrap())
            }
            1 => {
                let waker = helper_pool.run(wake_parked, (key,));
                Box::new(move || assert_eq!(waker.wait().unwrap(), key))
            }
            _ => {
                let waker = pool.run(wake_parked, (key,));
                Box::new(move || assert_eq!(waker.wait().unwrap(), key))
            }
        };
        spin(rng.next() % 2000);
        if wake_first {
            wait_until("the woken task completes", || handle.is_finished());
        }
        let cancel = early_cancel.unwrap_or_else(|| handle.cancel());
        let id = handle.id();
        let outcome = handle.wait();
        match (&cancel, &outcome) {
            (Ok(()), Err(Error::Canceled { .. })) => canceled += 1,
            (Err(Error::TaskNotFound(_)), Ok(value)) => {
                assert_eq!(*value, key);
                completed += 1;
            }
            other => panic!("iteration {i}: inconsistent {other:?}"),
        }
        // Settled: `info()` never lists it running again (a canceled run may stay listed
        // as canceled, as ArkTS does).
        let listed = pool.info();
        assert!(
            listed
                .tasks
                .iter()
                .all(|t| t.task_id != id || t.state == taskpool::TaskState::Canceled),
            "iteration {i}: {:?}",
            listed.tasks
        );
        assert!(
            listed.threads.iter().all(|t| !t.task_ids.contains(&id)),
            "iteration {i}: a settled task is listed on a thread"
        );
        waking();
        PARKED_WAKERS.lock().unwrap().retain(|(k, _)| *k != key);
    }
    wait_until("every wake task settled", || {
        let counters = pool.info().counters;
        counters.settled() == counters.submitted
    });
    let counters = pool.info().counters;
    let wakers_here = counters.submitted - 1000;
    assert_eq!(counters.canceled, canceled, "{counters:?}");
    assert_eq!(counters.completed, completed + wakers_here, "{counters:?}");
    assert_eq!((counters.failed, counters.timed_out), (0, 0));
    assert!(completed > 0 && canceled > 0, "both sides won sometimes");
}

// --- IDLE async tasks: one executes at a time -----------------------------------------------

/// IDLE code executing right now, and the most ever seen at once, per pool (tests run at
/// once, and each pool has its own IDLE lane): 0 the ring's, 1 the swarm's.
static IDLE_EXECUTING: [AtomicUsize; 2] = [const { AtomicUsize::new(0) }; 2];
static IDLE_MAX: [AtomicUsize; 2] = [const { AtomicUsize::new(0) }; 2];

/// Counts IDLE code of pool `.0` executing while it lives.
struct IdleExecuting(usize);

impl IdleExecuting {
    fn enter(pool: usize) -> IdleExecuting {
        let now = IDLE_EXECUTING[pool].fetch_add(1, Ordering::SeqCst) + 1;
        IDLE_MAX[pool].fetch_max(now, Ordering::SeqCst);
        IdleExecuting(pool)
    }
}

impl Drop for IdleExecuting {
    fn drop(&mut self) {
        // Widens the window in which a second IDLE poll could slip in.
        std::thread::yield_now();
        IDLE_EXECUTING[self.0].fetch_sub(1, Ordering::SeqCst);
    }
}

/// Every poll of `F` counts as IDLE code of pool `.0` executing.
struct Exclusive<F>(usize, Pin<Box<F>>);

impl<F: Future> Future for Exclusive<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _executing = IdleExecuting::enter(self.0);
        self.1.as_mut().poll(cx)
    }
}

const RING: usize = 6;
const ROUNDS: u64 = 25;
static TOKEN: AtomicU64 = AtomicU64::new(0);
static RING_WAKERS: Mutex<[Option<Waker>; RING]> = Mutex::new([const { None }; RING]);

/// Pending until the token is member `me`'s.
struct Turn(usize, u64);

impl Future for Turn {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        RING_WAKERS.lock().unwrap()[self.0] = Some(cx.waker().clone());
        if TOKEN.load(Ordering::SeqCst) == self.1 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

fn idle_pool() -> &'static TaskPool {
    static POOL: OnceLock<TaskPool> = OnceLock::new();
    POOL.get_or_init(|| TaskPool::builder().max_threads(4).build().unwrap())
}

#[concurrent]
fn idle_chore(x: u32) -> u32 {
    let _executing = IdleExecuting::enter(0);
    spin(500);
    x + 1
}

#[concurrent]
async fn idle_ring_member(me: u64) -> u64 {
    Exclusive(
        0,
        Box::pin(async move {
            let me = me as usize;
            for round in 0..ROUNDS {
                let mine = round * RING as u64 + me as u64;
                Turn(me, mine).await;
                match round % 3 {
                    0 => yield_now().await,
                    // An IDLE task awaiting another IDLE task it submitted.
                    1 => {
                        let chore = idle_pool().execute_with_priority(
                            Task::new(idle_chore, (round as u32,)),
                            Priority::Idle,
                        );
                        assert_eq!(chore.await.unwrap(), round as u32 + 1);
                    }
                    _ => sleep(Duration::from_micros(100)).await,
                }
                TOKEN.fetch_add(1, Ordering::SeqCst);
                let next = RING_WAKERS.lock().unwrap()[(me + 1) % RING].take();
                if let Some(next) = next {
                    next.wake();
                }
            }
            me as u64
        }),
    )
    .await
}

#[test]
fn idle_async_tasks_waking_each_other_amid_high_and_low_noise_never_execute_two_at_once() {
    let pool = idle_pool();
    let members: Vec<_> = (0..RING as u64)
        .map(|me| pool.execute_with_priority(Task::new(idle_ring_member, (me,)), Priority::Idle))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let noise = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut rounds = 0u32;
            while !stop.load(Ordering::SeqCst) {
                let batch: Vec<_> = (0..8)
                    .map(|i| {
                        let priority = if i % 2 == 0 {
                            Priority::High
                        } else {
                            Priority::Low
                        };
                        idle_pool().execute_with_priority(Task::new(lane_work, (i,)), priority)
                    })
                    .collect();
                for (i, handle) in batch.into_iter().enumerate() {
                    assert_eq!(handle.wait().unwrap(), i as u32 * 2);
                }
                rounds += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
            rounds
        })
    };
    let mut results = Vec::new();
    for mut member in members {
        results.push(member.wait_timeout(PATIENCE * 3));
    }
    stop.store(true, Ordering::SeqCst);
    let noise_rounds = noise.join().unwrap();
    for (me, result) in results.into_iter().enumerate() {
        let result = result.unwrap_or_else(|| {
            panic!(
                "member {me} never completed (token {})",
                TOKEN.load(Ordering::SeqCst)
            )
        });
        assert_eq!(result.unwrap(), me as u64);
    }
    assert_eq!(TOKEN.load(Ordering::SeqCst), ROUNDS * RING as u64);
    assert!(noise_rounds > 0);
    assert_eq!(
        IDLE_MAX[0].load(Ordering::SeqCst),
        1,
        "two IDLE tasks executed at once"
    );
}

// --- Shutdown: futures whose `Drop` waits for another suspended task -----------------------

/// Handles a [`JoinOnDrop`] waits for, by key.
static JOINED: Mutex<Vec<(u64, TaskHandle<u64>)>> = Mutex::new(Vec::new());
/// What each [`JoinOnDrop`] saw: its key, and whether the handle it waited for resolved.
static JOIN_OUTCOMES: Mutex<Vec<(u64, bool)>> = Mutex::new(Vec::new());

/// On drop, waits for the task parked under `JOINED[key]` (a guard that joins a sibling).
struct JoinOnDrop(u64);

impl Drop for JoinOnDrop {
    fn drop(&mut self) {
        let handle = {
            let mut joined = JOINED.lock().unwrap_or_else(|e| e.into_inner());
            let index = joined.iter().position(|(k, _)| *k == self.0);
            index.map(|i| joined.swap_remove(i).1)
        };
        if let Some(mut handle) = handle {
            let resolved = handle.wait_timeout(PATIENCE).is_some();
            JOIN_OUTCOMES.lock().unwrap().push((self.0, resolved));
        }
    }
}

#[concurrent]
async fn join_sibling_on_drop(sibling: u64) -> u64 {
    let _join = JoinOnDrop(sibling);
    sleep(Duration::from_secs(3600)).await;
    sibling
}

#[test]
fn a_shutdown_drops_suspended_tasks_whose_drop_waits_for_each_other() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    // Each one's `Drop` waits for the other: whichever the shutdown drops first must find the
    // other already settled, or the drop of the pool hangs.
    let a = pool.run(join_sibling_on_drop, (501,));
    let b = pool.run(join_sibling_on_drop, (500,));
    support::wait_until_suspended(&pool, a.id());
    support::wait_until_suspended(&pool, b.id());
    let (a_id, b_id) = (a.id(), b.id());
    JOINED.lock().unwrap().extend([(500, a), (501, b)]);
    drop(pool);
    let mut outcomes = JOIN_OUTCOMES.lock().unwrap().clone();
    outcomes.sort();
    assert_eq!(
        outcomes,
        [(500, true), (501, true)],
        "a suspended task's drop waited for a sibling the shutdown had not settled yet \
         ({a_id:?}, {b_id:?})"
    );
}

#[concurrent]
async fn fail_after_a_yield() -> u32 {
    yield_now().await;
    panic!("a member fails");
}

#[test]
fn a_group_handle_polled_again_after_its_outcome_panics_naming_the_group_handle() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let empty = TaskGroup::<u32>::new();
    let mut one = TaskGroup::new();
    one.add(lane_work, (5,)).unwrap();
    let mut failing = TaskGroup::new();
    failing.add(fail_after_a_yield, ()).unwrap();
    let handles = [
        pool.execute_group(&empty, Priority::Medium),
        pool.execute_group(&one, Priority::Medium),
        pool.execute_group(&failing, Priority::Medium),
    ];
    for (i, mut handle) in handles.into_iter().enumerate() {
        let first = futures::executor::block_on(&mut handle);
        assert_eq!(first.is_ok(), i < 2, "{first:?}");
        let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            futures::executor::block_on(&mut handle)
        }));
        let message = panic_message(again.expect_err("a spent group handle panics"));
        assert_eq!(
            message,
            "a GroupHandle was polled after it returned its outcome"
        );
        drop(handle);
    }
    // The blocking `wait` after the outcome was awaited says so too (it named the member
    // `TaskHandle` before).
    let mut awaited = pool.execute_group(&one, Priority::Medium);
    futures::executor::block_on(&mut awaited).unwrap();
    let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| awaited.wait()));
    assert_eq!(
        panic_message(waited.expect_err("a spent group handle panics")),
        "a GroupHandle was waited for after it returned its outcome"
    );
}

const SWARM: usize = 12;
static SWARM_WAKERS: Mutex<[Option<Waker>; SWARM]> = Mutex::new([const { None }; SWARM]);

/// Parks its waker in `SWARM_WAKERS[me]`, then is `Pending` once (woken by anyone, or by a
/// sleep's timer if nobody does).
struct Nudged(usize, bool);

impl Future for Nudged {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.1, true) {
            return Poll::Ready(());
        }
        SWARM_WAKERS.lock().unwrap()[self.0] = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[concurrent]
async fn idle_swarm_member(me: u64) -> u64 {
    Exclusive(
        1,
        Box::pin(async move {
            let me = me as usize;
            for round in 0..30usize {
                // Several IDLE tasks are woken and queued at once: any thread may pick them.
                for other in [(me + 1) % SWARM, (me + round) % SWARM] {
                    let waker = SWARM_WAKERS.lock().unwrap()[other].take();
                    if let Some(waker) = waker {
                        waker.wake();
                    }
                }
                if round % 2 == 0 {
                    yield_now().await;
                } else {
                    // Woken by a sibling, or by the sleep if none comes.
                    let mut nudged = Nudged(me, false);
                    let mut nap = Box::pin(sleep(Duration::from_micros(300)));
                    std::future::poll_fn(|cx| {
                        if Pin::new(&mut nudged).poll(cx).is_ready() {
                            return Poll::Ready(());
                        }
                        nap.as_mut().poll(cx)
                    })
                    .await;
                }
            }
            me as u64
        }),
    )
    .await
}

#[test]
fn a_swarm_of_idle_async_tasks_woken_by_each_other_never_executes_two_at_once() {
    let pool = TaskPool::builder().max_threads(4).build().unwrap();
    let noise: Vec<_> = (0..200u32)
        .map(|i| {
            let priority = if i % 2 == 0 {
                Priority::High
            } else {
                Priority::Low
            };
            pool.execute_with_priority(Task::new(sleep_a_little, (0,)), priority)
        })
        .collect();
    let members: Vec<_> = (0..SWARM as u64)
        .map(|me| pool.execute_with_priority(Task::new(idle_swarm_member, (me,)), Priority::Idle))
        .collect();
    for handle in noise {
        assert_eq!(handle.wait().unwrap(), 0);
    }
    for (me, mut member) in members.into_iter().enumerate() {
        let result = member
            .wait_timeout(PATIENCE)
            .expect("an IDLE member never completed");
        assert_eq!(result.unwrap(), me as u64);
    }
    assert_eq!(
        IDLE_MAX[1].load(Ordering::SeqCst),
        1,
        "two IDLE tasks executed at once"
    );
}
