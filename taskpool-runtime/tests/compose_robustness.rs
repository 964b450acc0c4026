//! Robustness of composition and data: user code that panics (listeners, receivers, the `Drop`
//! of sent values, of results, of listeners, of arguments' `Clone`) and extreme inputs (zero
//! and "never" delays and periods, huge groups, receivers replaced while values are sent) never
//! panic the caller, hang the pool, leak or leave a handle unresolved. Nothing asserts on
//! elapsed time: durations only bound waits or pick "at once" / "never".

mod support;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use support::{Bomb, bounded, dropped, note_dropped, open_gate, pass_gate, wait_until};
use taskpool::{Error, Priority, Task, TaskGroup, TaskPool, concurrent, send_data};

/// A value whose `Drop` panics even while its thread unwinds: two of them dropped as one
/// collection abort the process (the second panic is raised while the first unwinds).
#[derive(Debug, Serialize, Deserialize)]
struct LoudBomb(u32);

impl Drop for LoudBomb {
    fn drop(&mut self) {
        note_dropped(self.0);
        panic!("loud bomb {} went off in Drop", self.0);
    }
}

/// Sends loud bombs `first..first + count`.
#[concurrent]
fn send_loud_bombs(first: u32, count: u32) -> u32 {
    for id in first..first + count {
        send_data(LoudBomb(id)).unwrap();
    }
    count
}

#[concurrent]
fn echo(n: u32) -> u32 {
    n
}

#[concurrent]
fn make_bomb(id: u32) -> Bomb {
    Bomb(id)
}

#[concurrent]
fn fail_or_bomb(id: u32) -> Result<Bomb, String> {
    if id == 0 {
        Err("member zero fails".into())
    } else {
        Ok(Bomb(id))
    }
}

/// Sends bombs `first..first + count`.
#[concurrent]
fn send_bombs(first: u32, count: u32) -> u32 {
    for id in first..first + count {
        send_data(Bomb(id)).unwrap();
    }
    count
}

/// A zero period used to deadlock: arming the first tick under the task's lock fired it at
/// once, on the same thread, and the tick took that lock again (a tiny period could also
/// recurse, tick arming tick). Every tick now fires on the timer thread.
#[test]
fn a_zero_period_ticks_and_stops_without_deadlock() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let ticker = pool
        .execute_periodically(Duration::ZERO, Task::new(echo, (1,)), Priority::Low)
        .unwrap();
    wait_until("two ticks ran", || ticker.runs_started() >= 2);
    ticker.cancel().unwrap();
    assert!(ticker.is_stopped());
    // A zero delay runs too (and never on the caller's thread, under its locks).
    let handle = pool.execute_delayed(Duration::ZERO, Task::new(echo, (7,)), Priority::High);
    assert_eq!(handle.wait().unwrap(), 7);
}

/// A period too long to represent never ticks; the periodic task used to keep itself alive
/// (its alarm held it), so dropping the handle leaked it and its receiver never ended.
#[test]
fn a_never_ticking_periodic_task_is_freed_with_its_handle() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(echo, (1,));
    let stream = task.data_stream::<u32>();
    let ticker = pool
        .execute_periodically(Duration::MAX, task, Priority::Low)
        .unwrap();
    assert_eq!(ticker.runs_started(), 0);
    drop(ticker);
    wait_until("the stream ended", || stream.is_terminated());
}

/// A periodic task on a pool that shuts down stops at its next tick, and its stream ends.
#[test]
fn a_periodic_task_stops_when_its_pool_shuts_down() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(echo, (1,));
    let stream = task.data_stream::<u32>();
    let ticker = pool
        .execute_periodically(Duration::from_millis(1), task, Priority::Low)
        .unwrap();
    wait_until("a tick ran", || ticker.runs_started() >= 1);
    pool.shutdown();
    wait_until("the task stopped", || ticker.is_stopped());
    wait_until("the stream ended", || stream.is_terminated());
}

/// A periodic task whose next tick is far away stops when its pool shuts down, not at that
/// tick: it used to stay armed (holding its task and keeping its stream open) until then.
#[test]
fn a_periodic_task_stops_at_the_shutdown_not_at_its_next_tick() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(echo, (1,));
    let stream = task.data_stream::<u32>();
    let ticker = pool
        .execute_periodically(Duration::from_secs(3600), task, Priority::Low)
        .unwrap();
    assert!(!ticker.is_stopped());
    pool.shutdown();
    assert!(ticker.is_stopped(), "stopped by the shutdown itself");
    wait_until("the stream ended", || stream.is_terminated());
    assert_eq!(ticker.runs_started(), 0);
}

/// Arguments whose `Clone` panics (every run of a `&Task` or a periodic task copies them).
#[derive(Debug, Serialize, Deserialize)]
struct Fragile(u32);

impl Clone for Fragile {
    fn clone(&self) -> Fragile {
        panic!("Fragile cannot be cloned");
    }
}

#[concurrent]
fn fragile(f: Fragile) -> u32 {
    f.0
}

/// A copy of the arguments that panics used to unwind out of `execute(&task)` (with the run's
/// ownership of the task counted and never given back), and out of a periodic tick on the
/// timer thread, which left the task neither ticking nor stopped. The run now fails with
/// `Panicked`, and a periodic task goes on ticking.
#[test]
fn a_panicking_copy_of_the_arguments_fails_the_run_instead_of_unwinding() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(fragile, (Fragile(3),));
    let error = pool.execute(&task).wait().unwrap_err();
    assert!(matches!(error, Error::Panicked { .. }), "{error:?}");
    let stream = task.data_stream::<u32>();
    // The task still works by value (moved, not copied).
    assert_eq!(pool.execute(task).wait().unwrap(), 3);
    wait_until("the stream ended", || stream.is_terminated());

    // A periodic task whose first copy panics: that tick's run fails (its settle used to
    // deadlock the timer thread, taking the lock the tick held), and the next ticks run.
    let task = Task::new(flaky, (FlakyClone(5),));
    let ticker = pool
        .execute_periodically(Duration::from_millis(1), task, Priority::Low)
        .unwrap();
    // Two: a run counts as started before its copy is made, and ticks never overlap, so the
    // second start comes after the first copy (waiting for one start raced that copy).
    wait_until("a later tick ran", || ticker.runs_started() >= 2);
    assert!(FLAKY_PANICKED.load(Ordering::SeqCst));
    ticker.cancel().unwrap();
}

/// How many copies of a [`SlowFirstClone`] were begun.
static SLOW_CLONES: AtomicUsize = AtomicUsize::new(0);

/// Arguments whose first `Clone` waits for gate `.0` to open.
#[derive(Debug, Serialize, Deserialize)]
struct SlowFirstClone(u64);

impl Clone for SlowFirstClone {
    fn clone(&self) -> SlowFirstClone {
        if SLOW_CLONES.fetch_add(1, Ordering::SeqCst) == 0 {
            pass_gate(self.0);
        }
        SlowFirstClone(self.0)
    }
}

#[concurrent]
fn slow_first_clone(value: SlowFirstClone) -> u64 {
    value.0
}

/// A run by reference copies its arguments on its pool thread. A copy blocked there (user
/// code) keeps no lock a later submission of the task needs: executing it again, by reference
/// or by value, returns at once, here while the first copy still waits for its gate.
#[test]
fn a_copy_blocked_on_a_pool_thread_does_not_block_the_next_submissions() {
    const GATE: u64 = 9_300;
    let pool = std::sync::Arc::new(TaskPool::builder().build().unwrap());
    let task = Task::new(slow_first_clone, (SlowFirstClone(GATE),));
    let mut first = pool.execute(&task);
    wait_until("the first copy waits", || {
        SLOW_CLONES.load(Ordering::SeqCst) == 1
    });
    let submitter = std::sync::Arc::clone(&pool);
    let (mut second, mut third) = bounded("two more submissions", move || {
        let second = submitter.execute(&task);
        (second, submitter.execute(task))
    });
    open_gate(GATE);
    for handle in [&mut first, &mut second, &mut third] {
        let outcome = handle.wait_timeout(Duration::from_secs(20));
        assert!(matches!(outcome, Some(Ok(GATE))), "{outcome:?}");
    }
}

static FLAKY_PANICKED: AtomicBool = AtomicBool::new(false);

/// Arguments whose first `Clone` panics.
#[derive(Debug, Serialize, Deserialize)]
struct FlakyClone(u32);

impl Clone for FlakyClone {
    fn clone(&self) -> FlakyClone {
        if !FLAKY_PANICKED.swap(true, Ordering::SeqCst) {
            panic!("the first clone of FlakyClone panics");
        }
        FlakyClone(self.0)
    }
}

#[concurrent]
fn flaky(f: FlakyClone) -> u32 {
    f.0
}

static LISTENER_GATE_ENTERED: AtomicBool = AtomicBool::new(false);

/// Callbacks queued behind a stuck one when a shutdown gives up on it stay with the callback
/// thread, which runs them once the stuck one returns: their values, whose `Drop` panics, are
/// dropped there one at a time, each panic contained. (They used to be dropped by the shutdown
/// as one queue: the second panic, raised while the first unwound, aborted the process — this
/// test binary, on a regression; later they were dropped one by one, unrun.)
#[test]
fn callbacks_behind_a_stuck_one_still_run_and_their_values_panic_on_drop_harmlessly() {
    const GATE: u64 = 9_100;
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(send_loud_bombs, (100, 3));
    task.on_receive_data(|bomb: LoudBomb| {
        if bomb.0 == 100 {
            LISTENER_GATE_ENTERED.store(true, Ordering::SeqCst);
            pass_gate(GATE);
        }
        // Contained: the callback thread goes on.
    });
    assert_eq!(pool.execute(task).wait().unwrap(), 3);
    wait_until("the first callback is stuck", || {
        LISTENER_GATE_ENTERED.load(Ordering::SeqCst)
    });
    // Bombs 101 and 102 wait behind the stuck callback.
    pool.shutdown_timeout(Duration::from_millis(20));
    open_gate(GATE);
    wait_until("the stuck callback and those behind it ran", || {
        dropped(100) && dropped(101) && dropped(102)
    });
}

/// A stream dropped with values nobody read, whose `Drop` panics: the values used to be dropped
/// with the stream's queue, panicking the thread that dropped the stream.
#[test]
fn a_stream_dropped_with_unread_values_that_panic_on_drop_does_not_panic() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(send_bombs, (200, 2));
    let stream = task.data_stream::<Bomb>();
    assert_eq!(pool.execute(task).wait().unwrap(), 2);
    wait_until("the stream ended", || {
        format!("{stream:?}").contains("ended: true")
    });
    drop(stream);
    assert!(dropped(200) && dropped(201));
}

/// Listeners and receivers are user closures: replacing one, or dropping the task that holds
/// them, drops the old closure — whose captured values may panic in `Drop`. That used to
/// unwind into `on_enqueued` (under the listeners' lock) and into the task's owner.
#[test]
fn replacing_or_dropping_listeners_whose_drop_panics_does_not_panic() {
    let task = Task::new(echo, (1,));
    let armed = Bomb(300);
    task.on_enqueued(move || {
        let _keep = &armed;
    })
    .unwrap();
    task.on_enqueued(|| {}).unwrap();
    assert!(dropped(300));
    let armed = Bomb(301);
    task.on_execution_failed(move |_| {
        let _keep = &armed;
    })
    .unwrap();
    let armed = Bomb(302);
    task.on_receive_data(move |_: u32| {
        let _keep = &armed;
    });
    let armed = Bomb(303);
    task.on_receive_data(move |_: u32| {
        let _keep = &armed;
    });
    assert!(dropped(302));
    drop(task);
    assert!(dropped(301) && dropped(303));
}

/// Panicking listeners and receivers are contained: the callbacks after them still run, in
/// order, and the task's handle resolves as usual.
#[test]
fn panicking_listeners_and_receivers_do_not_stop_later_callbacks() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
    let task = Task::new(send_bombs, (400, 2));
    task.on_enqueued(|| panic!("enqueued listener panics"))
        .unwrap();
    task.on_start_execution(|| panic!("start listener panics"))
        .unwrap();
    let log = std::sync::Arc::clone(&seen);
    task.on_receive_data(move |bomb: Bomb| {
        log.lock().unwrap().push(bomb.0);
        panic!("receiver panics holding bomb {}", bomb.0);
    });
    let log = std::sync::Arc::clone(&seen);
    task.on_execution_succeeded(move || log.lock().unwrap().push(0))
        .unwrap();
    assert_eq!(pool.execute(task).wait().unwrap(), 2);
    wait_until("the success listener ran", || {
        seen.lock().unwrap().contains(&0)
    });
    assert_eq!(*seen.lock().unwrap(), [400, 401, 0]);
}

/// A group whose first member fails: the other members' results, whose `Drop` panics, are
/// dropped quietly with the handle; the group reports the failure.
#[test]
fn a_failed_group_drops_the_other_results_quietly() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let mut group = TaskGroup::new();
    group.add(fail_or_bomb, (500,)).unwrap();
    group.add(fail_or_bomb, (0,)).unwrap();
    let error = pool
        .execute_group(&group, Priority::High)
        .wait()
        .unwrap_err();
    assert!(matches!(error, Error::TaskFailed(_)), "{error:?}");
    // Successful results whose `Drop` panics, dropped with an unwaited handle.
    let mut group = TaskGroup::new();
    group.add(make_bomb, (501,)).unwrap();
    group.add(make_bomb, (502,)).unwrap();
    let handle = pool.execute_group(&group, Priority::High);
    wait_until("the group ended", || handle.is_finished());
    drop(handle);
    wait_until("the results were dropped", || dropped(501) && dropped(502));
}

/// Huge groups: ten thousand members resolve in order, and a failing first member cancels
/// every other one in a loop (no recursion through their hooks), resolving the group once.
#[test]
fn a_huge_group_resolves_and_a_first_failure_cancels_the_rest() {
    const MEMBERS: u32 = 10_000;
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let mut group = TaskGroup::new();
    for n in 0..MEMBERS {
        group.add(echo, (n,)).unwrap();
    }
    let values = pool.execute_group(&group, Priority::Low).wait().unwrap();
    assert!(values.into_iter().eq(0..MEMBERS));

    let mut group = TaskGroup::new();
    for n in 0..MEMBERS {
        group
            .add(fail_or_bomb, (if n == 0 { 0 } else { 1_000 + n },))
            .unwrap();
    }
    // The member that fails first is executed first by the single thread.
    let handle = pool.execute_group(&group, Priority::Low);
    let error = handle.wait().unwrap_err();
    assert!(matches!(error, Error::TaskFailed(_)), "{error:?}");
    wait_until("the pool is idle", || {
        pool.info()
            .tasks
            .iter()
            .all(|t| t.state != taskpool::TaskState::Waiting)
    });
}

/// Receivers replaced again and again while the task sends: every replaced stream ends, the
/// last one ends with the task, and no value is delivered twice.
#[test]
fn receivers_replaced_while_values_are_sent_all_end() {
    const GATE: u64 = 9_200;
    #[concurrent]
    fn chatter(gate: u64) -> u32 {
        pass_gate(gate);
        let mut sent = 0;
        for n in 0..2_000u32 {
            if send_data(n).is_ok() {
                sent += 1;
            }
        }
        sent
    }
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(chatter, (GATE,));
    // Each stream is read on its own thread as soon as it exists, racing the replacements.
    let read = |stream: taskpool::DataStream<u32>| {
        std::thread::spawn(move || stream.into_iter().collect::<Vec<u32>>())
    };
    let mut readers = vec![read(task.data_stream::<u32>())];
    let handle = pool.execute(task);
    open_gate(GATE);
    for _ in 0..50 {
        readers.push(read(handle.data_stream::<u32>()));
    }
    let sent = handle.wait().unwrap();
    let mut received = Vec::new();
    for reader in readers {
        received.extend(reader.join().unwrap());
    }
    // A value sent successfully reached a stream before that stream ended.
    assert_eq!(received.len() as u32, sent);
    let mut sorted = received.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), received.len(), "a value was delivered twice");
}

/// A run by reference copies its arguments when it starts: one whose copy panicked did start,
/// and failed, which ends the task as any failed run does (ArkTS `isDone`). It used to be
/// refused before it was queued, leaving the task not done.
#[test]
fn a_run_whose_copy_panics_at_its_start_ends_the_task() {
    let task = Task::new(fragile, (Fragile(4),));
    assert!(!task.is_done());
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let error = pool.execute(&task).wait().unwrap_err();
    assert!(matches!(error, Error::Panicked { .. }), "{error:?}");
    wait_until("the failed run ended the task", || task.is_done());
    // The task still runs by value; that run ends it.
    let stream = task.data_stream::<u32>();
    assert_eq!(pool.execute(task).wait().unwrap(), 4);
    wait_until("the stream ended", || stream.is_terminated());
}
