//! Priority dispatch, the IDLE lane and elastic threads, observed on isolated pools.

mod support;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::{busy_threads, open_gate, pass_gate, thread_executing, wait_until};
use taskpool::{LongTask, Priority, Task, TaskPool, TaskState, concurrent};

/// Blocks its worker until gate `id` opens.
#[concurrent]
fn hold(gate: u64) {
    pass_gate(gate);
}

static ORDER: Mutex<Vec<Priority>> = Mutex::new(Vec::new());

#[concurrent]
fn record_start(lane: Priority) {
    ORDER.lock().unwrap().push(lane);
}

#[test]
fn saturated_lanes_start_in_a_thirty_five_one_ratio() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    // Occupy the only worker so every lane fills before anything is dispatched.
    let blocker = pool.execute_with_priority(Task::new(hold, (1,)), Priority::Low);
    wait_until("the blocker runs", || {
        pool.info().threads.iter().any(|t| !t.task_ids.is_empty())
    });
    let counts = [
        (Priority::High, 300),
        (Priority::Medium, 50),
        (Priority::Low, 10),
    ];
    let mut handles = Vec::new();
    for (lane, count) in counts {
        for _ in 0..count {
            handles.push(pool.execute_with_priority(Task::new(record_start, (lane,)), lane));
        }
    }
    open_gate(1);
    blocker.wait().unwrap();
    handles.into_iter().for_each(|h| h.wait().unwrap());

    let order = ORDER.lock().unwrap().clone();
    assert_eq!(order.len(), 360);
    for (index, window) in order.chunks(36).enumerate() {
        let count = |lane| window.iter().filter(|&&p| p == lane).count();
        assert_eq!(
            (
                count(Priority::High),
                count(Priority::Medium),
                count(Priority::Low)
            ),
            (30, 5, 1),
            "window {index} of the start order: {window:?}"
        );
    }
    // Within a window: five HIGH, then one MEDIUM.
    assert_eq!(
        &order[..6],
        &[
            Priority::High,
            Priority::High,
            Priority::High,
            Priority::High,
            Priority::High,
            Priority::Medium
        ]
    );
}

static LABELS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[concurrent]
fn record_label(label: u32) {
    LABELS.lock().unwrap().push(label);
}

/// DESIGN.md, "Priorities and dispatch": FIFO within a lane, and MEDIUM is the default
/// priority. Labels are `lane * 100 + submission index` (HIGH 1, MEDIUM 2, LOW 3, IDLE 4).
#[test]
fn each_lane_starts_its_tasks_in_submission_order_and_medium_is_the_default() {
    assert_eq!(Task::new(record_label, (0,)).priority(), Priority::Medium);
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    // Occupy the only thread so every lane fills before anything is dispatched.
    let blocker = pool.execute_with_priority(Task::new(hold, (30,)), Priority::Low);
    wait_until("the blocker runs", || {
        pool.info().threads.iter().any(|t| !t.task_ids.is_empty())
    });
    let mut handles = Vec::new();
    // Interleaved across lanes, so only the lanes' own order can put each lane in order.
    for i in 0..7 {
        for lane in [
            Priority::Idle,
            Priority::Low,
            Priority::Medium,
            Priority::High,
        ] {
            let label = (lane as u32 + 1) * 100 + i;
            let task = Task::new(record_label, (label,));
            handles.push(if lane == Priority::Medium {
                pool.execute(task) // no priority given
            } else {
                pool.execute_with_priority(task, lane)
            });
        }
    }
    open_gate(30);
    blocker.wait().unwrap();
    handles.into_iter().for_each(|h| h.wait().unwrap());

    let order = LABELS.lock().unwrap().clone();
    assert_eq!(order.len(), 28);
    for lane in 1..=4 {
        let in_lane: Vec<u32> = order.iter().copied().filter(|l| l / 100 == lane).collect();
        let submitted: Vec<u32> = (0..7).map(|i| lane * 100 + i).collect();
        assert_eq!(in_lane, submitted, "lane {lane} in start order {order:?}");
    }
    // Five HIGH, then the MEDIUM turn goes to a task executed without a priority.
    assert_eq!(&order[..6], &[100, 101, 102, 103, 104, 200], "{order:?}");
    assert!(
        order[21..].iter().all(|l| l / 100 == 4),
        "IDLE last: {order:?}"
    );
}

static BUSY: AtomicUsize = AtomicUsize::new(0);
static IDLE_RUNNING: AtomicUsize = AtomicUsize::new(0);
static IDLE_VIOLATIONS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static IDLE_LOG: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[concurrent]
fn foreground(gate: u64) {
    BUSY.fetch_add(1, Ordering::SeqCst);
    IDLE_LOG.lock().unwrap().push("foreground");
    pass_gate(gate);
    BUSY.fetch_sub(1, Ordering::SeqCst);
}

#[concurrent]
fn background(spin: u32) {
    if IDLE_RUNNING.fetch_add(1, Ordering::SeqCst) != 0 {
        IDLE_VIOLATIONS
            .lock()
            .unwrap()
            .push("two IDLE tasks at once".into());
    }
    let busy = BUSY.load(Ordering::SeqCst);
    if busy != 0 {
        IDLE_VIOLATIONS
            .lock()
            .unwrap()
            .push(format!("IDLE started while {busy} workers were busy"));
    }
    IDLE_LOG.lock().unwrap().push("idle");
    for _ in 0..spin {
        std::thread::yield_now();
    }
    IDLE_RUNNING.fetch_sub(1, Ordering::SeqCst);
}

#[test]
fn idle_tasks_wait_for_a_quiet_pool_and_run_one_at_a_time() {
    let pool = TaskPool::builder().max_threads(3).build().unwrap();
    let busy = pool.execute(Task::new(foreground, (10,)));
    wait_until("the foreground task runs", || {
        BUSY.load(Ordering::SeqCst) == 1
    });
    let idle: Vec<_> = (0..8)
        .map(|_| pool.execute_with_priority(Task::new(background, (200,)), Priority::Idle))
        .collect();
    // More foreground work queued behind the busy worker goes first.
    let queued: Vec<_> = (0..3)
        .map(|i| pool.execute_with_priority(Task::new(foreground, (11 + i,)), Priority::High))
        .collect();
    for gate in 11..14 {
        open_gate(gate);
    }
    queued.into_iter().for_each(|h| h.wait().unwrap());
    assert!(
        idle.iter().all(|h| !h.is_finished()),
        "no IDLE task may start while a worker is busy"
    );
    open_gate(10);
    busy.wait().unwrap();
    idle.into_iter().for_each(|h| h.wait().unwrap());

    assert_eq!(
        IDLE_VIOLATIONS.lock().unwrap().clone(),
        Vec::<String>::new()
    );
    let log = IDLE_LOG.lock().unwrap().clone();
    let first_idle = log.iter().position(|&e| e == "idle").unwrap();
    assert_eq!(
        &log[..first_idle],
        &["foreground"; 4],
        "every foreground task started before any IDLE one"
    );
    assert_eq!(log.len(), 12);
}

static SLOW_STARTED: AtomicUsize = AtomicUsize::new(0);

#[concurrent]
fn slow(gate: u64) {
    SLOW_STARTED.fetch_add(1, Ordering::SeqCst);
    pass_gate(gate);
}

#[test]
fn the_pool_grows_to_its_maximum_under_load_and_shrinks_back_to_one() {
    let pool = TaskPool::builder()
        .max_threads(3)
        .idle_timeout(Duration::from_millis(20))
        .check_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    assert_eq!(
        pool.thread_count(),
        0,
        "no thread before the first submission"
    );
    let handles: Vec<_> = (0..6)
        .map(|_| pool.execute(Task::new(slow, (20,))))
        .collect();
    wait_until("three tasks run", || {
        SLOW_STARTED.load(Ordering::SeqCst) == 3
    });
    assert_eq!(pool.thread_count(), 3);
    assert_eq!(pool.info().threads.len(), 3);
    assert_eq!(
        SLOW_STARTED.load(Ordering::SeqCst),
        3,
        "never more threads than the maximum"
    );
    open_gate(20);
    handles.into_iter().for_each(|h| h.wait().unwrap());
    wait_until("idle threads are released", || pool.thread_count() == 1);
    // At least one thread stays, however long the pool idles.
    let checks_later = std::time::Instant::now() + Duration::from_millis(50);
    wait_until("several more checks pass", || {
        std::time::Instant::now() > checks_later
    });
    assert_eq!(pool.thread_count(), 1);
}

/// DESIGN.md, "Scaling": the release check spares a thread that holds a long task, even when
/// another idle thread could be the one that stays.
#[test]
fn the_release_of_idle_threads_spares_the_thread_holding_a_long_task() {
    let pool = TaskPool::builder()
        .max_threads(2)
        .idle_timeout(Duration::from_millis(20))
        .check_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    let long = LongTask::new(hold, (31,));
    let long_id = long.id();
    let long_handle = pool.execute(long);
    let other = pool.execute(Task::new(hold, (32,)));
    wait_until("both run, each on its own thread", || {
        busy_threads(&pool) == 2
    });
    let holder = thread_executing(&pool, long_id).unwrap();
    open_gate(31);
    long_handle.wait().unwrap();
    open_gate(32);
    other.wait().unwrap();
    // Both threads are idle now; only the one without a hold may go.
    wait_until("the other idle thread is released", || {
        pool.thread_count() == 1
    });
    let left: Vec<_> = pool.info().threads.iter().map(|t| t.id).collect();
    assert_eq!(left, [holder], "the thread holding the long task stays");
    pool.terminate_task(long_id).unwrap();
}

#[concurrent]
fn idle_probe() -> usize {
    1
}

#[test]
fn idle_submissions_do_not_grow_the_pool() {
    let pool = TaskPool::builder().max_threads(4).build().unwrap();
    let handles: Vec<_> = (0..20)
        .map(|_| pool.execute_with_priority(Task::new(idle_probe, ()), Priority::Idle))
        .collect();
    let total: usize = handles.into_iter().map(|h| h.wait().unwrap()).sum();
    assert_eq!(total, 20);
    assert_eq!(
        pool.thread_count(),
        1,
        "IDLE work runs on the one thread the pool needs"
    );
}

static SELF_RUNNING: AtomicUsize = AtomicUsize::new(0);
static SELF_MAX_RUNNING: AtomicUsize = AtomicUsize::new(0);

#[concurrent]
fn self_overlap_probe() {
    let now = SELF_RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    SELF_MAX_RUNNING.fetch_max(now, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(50));
    SELF_RUNNING.fetch_sub(1, Ordering::SeqCst);
}

/// DESIGN.md, "Task lifecycle": one `Task` object never runs concurrently with itself;
/// executing it again while it runs queues the second run (ArkTS keeps such runs pending).
#[test]
fn one_task_never_runs_concurrently_with_itself() {
    let pool = TaskPool::builder().max_threads(4).build().unwrap();
    let task = Task::new(self_overlap_probe, ());
    let handles: Vec<_> = (0..4).map(|_| pool.execute(&task)).collect();
    for handle in handles {
        handle.wait().unwrap();
    }
    assert_eq!(
        SELF_MAX_RUNNING.load(Ordering::SeqCst),
        1,
        "runs of one task overlapped"
    );
}

static TURNS_STARTED: AtomicUsize = AtomicUsize::new(0);

#[concurrent]
fn take_a_turn(gate: u64) -> usize {
    let turn = TURNS_STARTED.fetch_add(1, Ordering::SeqCst) + 1;
    pass_gate(gate);
    turn
}

#[test]
fn a_run_of_a_task_already_running_waits_its_turn_and_can_be_canceled_meanwhile() {
    let pool = TaskPool::builder().max_threads(4).build().unwrap();
    let task = Task::new(take_a_turn, (601,));
    let first = pool.execute(&task);
    wait_until("the first run started", || {
        TURNS_STARTED.load(Ordering::SeqCst) == 1
    });
    let second = pool.execute(&task);
    let third = pool.execute(&task);
    // Free threads, yet the later runs wait: listed as waiting, cancelable.
    let states: Vec<_> = pool
        .info()
        .tasks
        .into_iter()
        .filter(|t| t.task_id == task.id())
        .map(|t| t.state)
        .collect();
    assert_eq!(states.len(), 3, "{states:?}");
    assert_eq!(
        states.iter().filter(|s| **s == TaskState::Waiting).count(),
        2,
        "{states:?}"
    );
    second.cancel().unwrap();
    assert!(second.wait().unwrap_err().is_canceled());
    open_gate(601);
    assert_eq!(first.wait().unwrap(), 1);
    assert_eq!(third.wait().unwrap(), 2, "the canceled run never ran");
    // The task may be executed by value after its runs by reference: it waits its turn too.
    assert_eq!(pool.execute(task).wait().unwrap(), 3);
}

static AWAITING_POOL: std::sync::OnceLock<TaskPool> = std::sync::OnceLock::new();

#[concurrent]
fn idle_chore_result() -> u32 {
    7
}

#[concurrent]
async fn await_an_idle_chore() -> u32 {
    let pool = AWAITING_POOL.get().expect("set by the test");
    let chore = pool.execute_with_priority(Task::new(idle_chore_result, ()), Priority::Idle);
    chore.await.unwrap() + 1
}

#[test]
fn an_async_task_awaiting_an_idle_task_lets_it_run() {
    // The awaiting task is suspended: it holds no thread, and the pool is otherwise quiet, so
    // the IDLE task starts (as in ArkTS). Before, IDLE work also waited for every suspended
    // `async` task to complete, so this one waited forever for its own chore.
    let pool = AWAITING_POOL.get_or_init(|| TaskPool::builder().max_threads(2).build().unwrap());
    let mut handle = pool.run(await_an_idle_chore, ());
    assert_eq!(handle.wait_timeout(support::PATIENCE).unwrap().unwrap(), 8);
}

static IDLE_AWAITING_POOL: std::sync::OnceLock<TaskPool> = std::sync::OnceLock::new();

#[concurrent]
async fn idle_awaits_idle() -> u32 {
    let pool = IDLE_AWAITING_POOL.get().expect("set by the test");
    let chore = pool.execute_with_priority(Task::new(idle_chore_result, ()), Priority::Idle);
    chore.await.unwrap() + 2
}

#[test]
fn an_idle_async_task_awaiting_an_idle_task_lets_it_run() {
    // The IDLE lane runs one task at a time, but a task suspended at an `.await` executes on
    // no thread: it lets the lane go. Before, it held the lane until it completed, so the
    // chore it awaited never started.
    let pool =
        IDLE_AWAITING_POOL.get_or_init(|| TaskPool::builder().max_threads(2).build().unwrap());
    let mut handle = pool.execute_with_priority(Task::new(idle_awaits_idle, ()), Priority::Idle);
    assert_eq!(handle.wait_timeout(support::PATIENCE).unwrap().unwrap(), 9);
}

static WAKE_THE_FIRST: support::Signal = support::Signal::new();
static FIRST_RESUMED: AtomicUsize = AtomicUsize::new(0);

#[concurrent]
async fn idle_first() -> u32 {
    WAKE_THE_FIRST.raised().await;
    FIRST_RESUMED.store(1, Ordering::SeqCst);
    1
}

/// Wakes the first IDLE task, then executes on for a while: the woken task must not resume
/// meanwhile. True if it did.
#[concurrent]
fn idle_second_wakes_the_first() -> bool {
    WAKE_THE_FIRST.raise();
    let until = std::time::Instant::now() + Duration::from_millis(300);
    while std::time::Instant::now() < until {
        if FIRST_RESUMED.load(Ordering::SeqCst) == 1 {
            return true;
        }
        std::thread::yield_now();
    }
    false
}

#[test]
fn a_woken_idle_task_resumes_only_once_no_other_idle_task_executes() {
    // Letting the lane go at an `.await` must not let two IDLE tasks execute together. The
    // first task suspends, so the second starts; it wakes the first and keeps executing. A
    // free thread (the pool may have two) must not resume the first until the second ends.
    // (The 300 ms only bound how long the second looks: it can miss an overlap, never invent
    // one.)
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    // Two threads first (IDLE work alone does not grow the pool).
    let warm: Vec<_> = [21, 22]
        .map(|gate| pool.execute(Task::new(hold, (gate,))))
        .into();
    wait_until("both threads run", || busy_threads(&pool) == 2);
    open_gate(21);
    open_gate(22);
    warm.into_iter().for_each(|h| h.wait().unwrap());
    let mut first = pool.execute_with_priority(Task::new(idle_first, ()), Priority::Idle);
    let mut second =
        pool.execute_with_priority(Task::new(idle_second_wakes_the_first, ()), Priority::Idle);
    let overlapped = second.wait_timeout(support::PATIENCE).unwrap().unwrap();
    assert!(
        !overlapped,
        "the woken IDLE task resumed beside the executing one"
    );
    assert_eq!(first.wait_timeout(support::PATIENCE).unwrap().unwrap(), 1);
}

/// IDLE code executing right now, and the most seen at once.
static IDLE_EXECUTING: AtomicUsize = AtomicUsize::new(0);
static IDLE_MOST_AT_ONCE: AtomicUsize = AtomicUsize::new(0);

/// A stretch of IDLE code: long enough (yielding) for another thread to start one beside it.
fn idle_stretch() {
    let now = IDLE_EXECUTING.fetch_add(1, Ordering::SeqCst) + 1;
    IDLE_MOST_AT_ONCE.fetch_max(now, Ordering::SeqCst);
    for _ in 0..200 {
        std::thread::yield_now();
    }
    IDLE_EXECUTING.fetch_sub(1, Ordering::SeqCst);
}

#[concurrent]
async fn idle_in_stretches(rounds: u32) -> u32 {
    for _ in 0..rounds {
        idle_stretch();
        taskpool::sleep(Duration::from_millis(1)).await;
    }
    idle_stretch();
    rounds
}

#[test]
fn suspended_idle_tasks_take_turns_never_two_executing_at_once() {
    // Letting the lane go at an `.await` must not let two IDLE tasks execute together: a woken
    // one resumes only while no other IDLE task executes.
    let pool = TaskPool::builder().max_threads(4).build().unwrap();
    let handles: Vec<_> = (0..6)
        .map(|_| pool.execute_with_priority(Task::new(idle_in_stretches, (5,)), Priority::Idle))
        .collect();
    for mut handle in handles {
        assert_eq!(handle.wait_timeout(support::PATIENCE).unwrap().unwrap(), 5);
    }
    assert_eq!(IDLE_MOST_AT_ONCE.load(Ordering::SeqCst), 1);
}

static AFTER_DEAD: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[concurrent]
fn after_dead(label: u32) {
    AFTER_DEAD.lock().unwrap().push(label);
}

/// Found by a scheduler probe: a thread going from one run to the next compared the queues
/// waiting to be moved into the lanes with the lanes before it dropped the canceled runs at
/// their fronts, so a HIGH lane holding only a canceled run hid a HIGH task submitted after it,
/// and a LOW task started first (every time).
#[test]
fn a_high_task_behind_a_canceled_one_starts_before_low_work() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let blocker = pool.execute_with_priority(Task::new(hold, (701,)), Priority::Low);
    support::wait_until_executing(&pool, blocker.id());
    let canceled = pool.execute_with_priority(Task::new(after_dead, (1,)), Priority::High);
    let low = pool.execute_with_priority(Task::new(after_dead, (2,)), Priority::Low);
    // Moves the waiting tasks into the lanes, where the canceled one stays until reached.
    pool.cancel(canceled.id()).unwrap();
    let high = pool.execute_with_priority(Task::new(after_dead, (3,)), Priority::High);
    open_gate(701);
    blocker.wait().unwrap();
    low.wait().unwrap();
    high.wait().unwrap();
    assert_eq!(*AFTER_DEAD.lock().unwrap(), [3, 2]);
}
