//! Probes of the composition layer against the ArkTS TaskPool reference: cancel racing with
//! execution, listeners of runs that time out or are discarded, dropped pools, periodic tasks
//! after a failure or a stop. Deterministic: gates and condition waits, never elapsed time.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{PATIENCE, busy_threads, hold, open_gate, pass_gate, plain, wait_until};
use taskpool::{Error, Priority, Task, TaskGroup, TaskPool, concurrent};

/// Waits for `value` on another thread, so that a hang fails the test instead of blocking it.
fn within_patience<R: Send + 'static>(what: &str, value: impl FnOnce() -> R + Send + 'static) -> R {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(value());
    });
    receiver
        .recv_timeout(PATIENCE)
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[concurrent]
fn gated_seven(gate: u64) -> u32 {
    pass_gate(gate);
    7
}

#[test]
fn a_delayed_task_of_a_dropped_pool_resolves() {
    for delay in [
        Duration::MAX,
        Duration::from_secs(1 << 40),
        Duration::from_secs(3600),
    ] {
        let pool = TaskPool::builder().max_threads(1).build().unwrap();
        let mut handle = pool.execute_delayed(delay, Task::new(plain, (1,)), Priority::Low);
        drop(pool);
        let error = handle
            .wait_timeout(PATIENCE)
            .expect("the handle resolves when its pool is dropped")
            .unwrap_err();
        assert!(
            matches!(error, Error::PoolShutDown) || error.is_canceled(),
            "{error:?}"
        );
    }
}

#[test]
fn a_timed_out_run_reports_one_failure_and_never_a_success() {
    let pool = TaskPool::builder()
        .max_threads(1)
        .time_limit(support::SHORT_LIMIT)
        .check_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    let events = Arc::new(Mutex::new(Vec::<&'static str>::new()));
    let task = Task::new(gated_seven, (9002,));
    let noted = Arc::clone(&events);
    task.on_execution_succeeded(move || noted.lock().unwrap().push("succeeded"))
        .unwrap();
    let noted = Arc::clone(&events);
    task.on_execution_failed(move |error| {
        let what = if matches!(error, Error::TimedOut { .. }) {
            "timed out"
        } else {
            "other failure"
        };
        noted.lock().unwrap().push(what);
    })
    .unwrap();
    let handle = pool.execute(task);
    assert!(matches!(handle.wait(), Err(Error::TimedOut { .. })));
    open_gate(9002);
    wait_until("the timed-out call returned", || busy_threads(&pool) == 0);
    // Callbacks of one pool run in order on one thread: once a later task's listener ran,
    // every callback posted before it ran too.
    let marker = Task::new(plain, (0,));
    let noted = Arc::clone(&events);
    marker
        .on_execution_succeeded(move || noted.lock().unwrap().push("marker"))
        .unwrap();
    pool.execute(marker).wait().unwrap();
    wait_until("the marker's listener ran", || {
        events.lock().unwrap().contains(&"marker")
    });
    assert_eq!(*events.lock().unwrap(), ["timed out", "marker"]);
}

static HELD_MEMBER_RAN: AtomicUsize = AtomicUsize::new(0);

#[concurrent]
fn held_member(n: u32) -> u32 {
    HELD_MEMBER_RAN.fetch_add(1, Ordering::SeqCst);
    n
}

#[test]
fn a_canceled_group_member_held_by_a_dependency_never_runs_when_it_succeeds_later() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let dependency = Task::new(plain, (1,));
    let member = Task::new(held_member, (5,));
    member.add_dependency(&dependency).unwrap();
    let mut group = TaskGroup::new();
    group.add_task(member).unwrap();
    group.add(plain, (2,)).unwrap();
    let handle = pool.execute_group(&group, Priority::High);
    handle.cancel().unwrap();
    assert!(
        within_patience("the group", move || handle.wait())
            .unwrap_err()
            .is_canceled()
    );
    assert_eq!(pool.execute(dependency).wait().unwrap(), 1);
    // A released member would be queued in HIGH, ahead of this LOW marker on the one thread.
    assert_eq!(
        pool.execute_with_priority(Task::new(plain, (0,)), Priority::Low)
            .wait()
            .unwrap(),
        0
    );
    assert_eq!(HELD_MEMBER_RAN.load(Ordering::SeqCst), 0);
}

#[test]
fn a_group_cancel_racing_its_end_is_ok_and_canceled_or_10200018_and_complete() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let mut group = TaskGroup::new();
    for n in 0..4 {
        group.add(plain, (n,)).unwrap();
    }
    for _ in 0..300 {
        let handle = pool.execute_group(&group, Priority::High);
        let canceled = handle.cancel();
        let outcome = within_patience("the group", move || handle.wait());
        match canceled {
            Ok(()) => assert!(outcome.unwrap_err().is_canceled()),
            Err(error) => {
                assert_eq!(error.code(), Some(10200018));
                assert_eq!(outcome.unwrap(), [0, 1, 2, 3]);
            }
        }
    }
}

static DISCARDED_CODES: Mutex<Vec<Option<u32>>> = Mutex::new(Vec::new());

#[test]
fn an_async_runner_s_discarded_task_reports_10200054_to_its_failure_listener() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let runner = pool.async_runner(1, 1).unwrap();
    let running = runner.execute(Task::new(hold, (9005,)), Priority::High);
    support::wait_until_executing(&pool, running.id());
    let oldest = Task::new(plain, (2,));
    oldest
        .on_execution_failed(|error| DISCARDED_CODES.lock().unwrap().push(error.code()))
        .unwrap();
    let oldest = runner.execute(oldest, Priority::High);
    let newest = runner.execute(Task::new(plain, (3,)), Priority::High);
    assert_eq!(oldest.wait().unwrap_err().code(), Some(10200054));
    open_gate(9005);
    assert_eq!(running.wait().unwrap(), 9005);
    assert_eq!(newest.wait().unwrap(), 3);
    wait_until("the failure listener ran", || {
        !DISCARDED_CODES.lock().unwrap().is_empty()
    });
    assert_eq!(*DISCARDED_CODES.lock().unwrap(), [Some(10200054)]);
}

#[test]
fn an_async_runner_s_running_task_canceled_is_canceled_and_frees_its_slot() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let runner = pool.async_runner(1, 0).unwrap();
    let running = runner.execute(Task::new(hold, (9006,)), Priority::High);
    support::wait_until_executing(&pool, running.id());
    let next = runner.execute(Task::new(plain, (4,)), Priority::High);
    running.cancel().unwrap();
    open_gate(9006);
    let error = running.wait().unwrap_err();
    assert!(
        matches!(error, Error::Canceled { .. }),
        "a task canceled during its call is Canceled, not 10200055: {error:?}"
    );
    assert_eq!(next.wait().unwrap(), 4);
}

/// Found by `stress_mixed`: an `async` task of an `AsyncRunner` canceled while suspended at an
/// `.await` had started (it held a running slot), yet its handle said 10200055, which means "canceled
/// while waiting in the runner, never ran". It is `Canceled { started: true }`, as elsewhere.
#[test]
fn an_async_runner_s_suspended_task_canceled_is_canceled_after_it_started() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let runner = pool.async_runner(1, 0).unwrap();
    let suspended = runner.execute(Task::new(support::nap, ()), Priority::High);
    support::wait_until_suspended(&pool, suspended.id());
    let next = runner.execute(Task::new(plain, (5,)), Priority::High);
    suspended.cancel().unwrap();
    let error = suspended.wait().unwrap_err();
    assert!(
        matches!(
            error,
            Error::Canceled {
                started: true,
                late: None,
                ..
            }
        ),
        "a suspended task canceled is Canceled after it started, not 10200055: {error:?}"
    );
    assert_eq!(next.wait().unwrap(), 5);
}

#[test]
fn a_task_another_depends_on_may_join_a_sequence_runner() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let runner = pool.sequence_runner(Priority::High);
    let first = Task::new(plain, (1,));
    let dependent = Task::new(plain, (2,));
    dependent.add_dependency(&first).unwrap();
    let later = pool.execute(dependent);
    let first = runner.execute(first);
    assert_eq!(first.wait().unwrap(), 1);
    assert_eq!(later.wait().unwrap(), 2);
}

#[test]
fn a_stopped_periodic_task_cannot_be_canceled_again_10200015() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let ticker = pool
        .execute_periodically(
            Duration::from_secs(3600),
            Task::new(plain, (1,)),
            Priority::Low,
        )
        .unwrap();
    let id = ticker.id();
    ticker.cancel().unwrap();
    assert!(ticker.is_stopped());
    assert_eq!(ticker.cancel().unwrap_err().code(), Some(10200015));
    assert_eq!(pool.cancel(id).unwrap_err().code(), Some(10200015));
    let mut stream = ticker.data_stream::<u32>();
    assert_eq!(
        within_patience("the stream's end", move || stream.next_blocking()),
        None
    );
}

static FLAKY_TICKS: AtomicUsize = AtomicUsize::new(0);

#[concurrent]
fn flaky_tick() -> Result<u32, String> {
    match FLAKY_TICKS.fetch_add(1, Ordering::SeqCst) {
        0 => Err("first tick fails".to_owned()),
        1 => panic!("second tick panics"),
        n => Ok(n as u32),
    }
}

#[test]
fn a_periodic_task_keeps_ticking_after_a_failed_and_a_panicking_run() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let ticker = pool
        .execute_periodically(
            Duration::from_millis(1),
            Task::new(flaky_tick, ()),
            Priority::High,
        )
        .unwrap();
    wait_until("later ticks ran", || {
        FLAKY_TICKS.load(Ordering::SeqCst) >= 4
    });
    assert!(!ticker.is_stopped());
    ticker.cancel().unwrap();
}

static ORDER: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[concurrent]
fn note(n: u32) -> u32 {
    ORDER.lock().unwrap().push(n);
    n
}

#[test]
fn a_delayed_dependent_waits_for_its_delay_and_its_dependency() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let dependency = Task::new(note, (1,));
    let dependent = Task::new(note, (2,));
    dependent.add_dependency(&dependency).unwrap();
    let later = pool.execute_delayed(Duration::ZERO, dependent, Priority::High);
    let mut timer_fired =
        pool.execute_delayed(Duration::ZERO, Task::new(plain, (0,)), Priority::High);
    assert_eq!(timer_fired.wait_timeout(PATIENCE).unwrap().unwrap(), 0);
    assert!(!later.is_finished());
    assert_eq!(pool.execute(dependency).wait().unwrap(), 1);
    assert_eq!(later.wait().unwrap(), 2);
    assert_eq!(*ORDER.lock().unwrap(), [1, 2]);
}

#[test]
fn a_group_member_canceled_by_id_fails_the_group() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let member = Task::new(hold, (9011,));
    let id = member.id();
    let mut group = TaskGroup::new();
    group.add_task(member).unwrap();
    group.add(hold, (9012,)).unwrap();
    let handle = pool.execute_group(&group, Priority::Low);
    support::wait_until_executing(&pool, id);
    pool.cancel(id).unwrap();
    open_gate(9011);
    open_gate(9012);
    assert!(
        within_patience("the group", move || handle.wait())
            .unwrap_err()
            .is_canceled()
    );
}

#[test]
fn a_group_of_a_pool_shut_down_with_a_stuck_member_resolves() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let mut group = TaskGroup::new();
    group.add(hold, (9013,)).unwrap();
    for n in 0..3 {
        group.add(hold, (n,)).unwrap();
    }
    let handle = pool.execute_group(&group, Priority::Medium);
    wait_until("the first member runs", || busy_threads(&pool) == 1);
    pool.shutdown_timeout(Duration::from_millis(1));
    let outcome = within_patience("the group", move || handle.wait());
    open_gate(9013);
    assert!(outcome.is_err());
}

#[test]
fn a_delayed_cancel_racing_the_alarm_is_either_canceled_or_too_late() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    for round in 0..300u32 {
        let delay = Duration::from_micros(u64::from(round % 3) * 50);
        let handle = pool.execute_delayed(delay, Task::new(plain, (round,)), Priority::High);
        let canceled = handle.cancel();
        let outcome = within_patience("the delayed task", move || handle.wait());
        match canceled {
            Ok(()) => assert!(outcome.unwrap_err().is_canceled()),
            Err(error) => {
                assert_eq!(error.code(), Some(10200015));
                assert_eq!(outcome.unwrap(), round);
            }
        }
    }
}

static EVENTS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

#[test]
fn a_delayed_task_canceled_during_its_delay_is_never_enqueued_nor_started() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(plain, (1,));
    task.on_enqueued(|| EVENTS.lock().unwrap().push("enqueued"))
        .unwrap();
    task.on_start_execution(|| EVENTS.lock().unwrap().push("started"))
        .unwrap();
    task.on_execution_failed(|_| EVENTS.lock().unwrap().push("failed"))
        .unwrap();
    let handle = pool.execute_delayed(Duration::MAX, &task, Priority::Low);
    assert_eq!(task.on_enqueued(|| ()).unwrap_err().code(), Some(10200034));
    handle.cancel().unwrap();
    assert!(handle.wait().unwrap_err().is_canceled());
    wait_until("the failure listener ran", || {
        !EVENTS.lock().unwrap().is_empty()
    });
    let marker = Task::new(plain, (0,));
    marker
        .on_execution_succeeded(|| EVENTS.lock().unwrap().push("marker"))
        .unwrap();
    pool.execute(marker).wait().unwrap();
    wait_until("the marker ran", || {
        EVENTS.lock().unwrap().contains(&"marker")
    });
    assert_eq!(*EVENTS.lock().unwrap(), ["failed", "marker"]);
}

static PERIODIC_LISTENED: AtomicUsize = AtomicUsize::new(0);

#[test]
fn a_periodic_task_s_listeners_run_for_every_tick() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(plain, (1,));
    task.on_execution_succeeded(|| {
        PERIODIC_LISTENED.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    let ticker = pool
        .execute_periodically(Duration::from_millis(1), task, Priority::High)
        .unwrap();
    wait_until("three ticks reported", || {
        PERIODIC_LISTENED.load(Ordering::SeqCst) >= 3
    });
    ticker.cancel().unwrap();
}

#[test]
fn a_group_executed_twice_at_once_resolves_both() {
    let pool = TaskPool::builder().max_threads(3).build().unwrap();
    let mut group = TaskGroup::new();
    group.add(hold, (9020,)).unwrap();
    group.add(hold, (9021,)).unwrap();
    let first = pool.execute_group(&group, Priority::High);
    let second = pool.execute_group(&group, Priority::High);
    open_gate(9020);
    open_gate(9021);
    assert_eq!(
        within_patience("the first", move || first.wait()).unwrap(),
        [9020, 9021]
    );
    assert_eq!(
        within_patience("the second", move || second.wait()).unwrap(),
        [9020, 9021]
    );
}

#[concurrent]
fn wide_dependency(n: u32) -> u32 {
    n
}

#[test]
fn a_wide_fan_in_and_fan_out_resolve() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    // One task waiting for 5 000 dependencies.
    let sink = Task::new(wide_dependency, (0,));
    let sources: Vec<Task<u32>> = (1..=5_000)
        .map(|n| Task::new(wide_dependency, (n,)))
        .collect();
    for source in &sources {
        sink.add_dependency(source).unwrap();
    }
    let sink = pool.execute(sink);
    let handles: Vec<_> = sources.into_iter().map(|s| pool.execute(s)).collect();
    for handle in handles {
        handle.wait().unwrap();
    }
    assert_eq!(within_patience("the sink", move || sink.wait()).unwrap(), 0);
    // 5 000 dependents of one task that is canceled: all fail.
    let source = Task::new(hold, (9030,));
    let dependents: Vec<Task<u32>> = (0..5_000)
        .map(|n| Task::new(wide_dependency, (n,)))
        .collect();
    for dependent in &dependents {
        dependent.add_dependency(&source).unwrap();
    }
    let waiting: Vec<_> = dependents.into_iter().map(|d| pool.execute(d)).collect();
    let source = pool.execute(source);
    source.cancel().unwrap();
    open_gate(9030);
    for handle in waiting {
        let error = within_patience("a dependent", move || handle.wait()).unwrap_err();
        assert!(matches!(error, Error::DependencyFailed { .. }), "{error:?}");
    }
}

#[concurrent]
fn waits_for_a_group(n: u32) -> u32 {
    let mut group = TaskGroup::new();
    for k in 0..n {
        group.add(plain, (k,)).unwrap();
    }
    support::one_thread_pool()
        .execute_group(&group, Priority::Medium)
        .wait()
        .unwrap()
        .into_iter()
        .sum()
}

#[concurrent]
fn waits_for_a_sequence(n: u32) -> u32 {
    let runner = support::one_thread_pool().sequence_runner(Priority::Medium);
    let handles: Vec<_> = (0..n)
        .map(|k| runner.execute(Task::new(plain, (k,))))
        .collect();
    handles.into_iter().map(|h| h.wait().unwrap()).sum()
}

#[concurrent]
fn waits_for_an_async_runner(n: u32) -> u32 {
    let runner = support::one_thread_pool().async_runner(1, 0).unwrap();
    let handles: Vec<_> = (0..n)
        .map(|k| runner.execute(Task::new(plain, (k,)), Priority::Medium))
        .collect();
    handles.into_iter().map(|h| h.wait().unwrap()).sum()
}

#[concurrent]
fn waits_for_a_delay(n: u32) -> u32 {
    support::one_thread_pool()
        .execute_delayed(
            Duration::from_millis(1),
            Task::new(plain, (n,)),
            Priority::Medium,
        )
        .wait()
        .unwrap()
}

#[test]
fn a_task_blocking_on_a_composer_of_its_own_full_pool_does_not_hang() {
    let pool = support::one_thread_pool();
    let sum = |n: u32| (0..n).sum::<u32>();
    let group = pool.execute(Task::new(waits_for_a_group, (5,)));
    assert_eq!(
        within_patience("the group", move || group.wait()).unwrap(),
        sum(5)
    );
    let sequence = pool.execute(Task::new(waits_for_a_sequence, (5,)));
    assert_eq!(
        within_patience("the sequence", move || sequence.wait()).unwrap(),
        sum(5)
    );
    let runner = pool.execute(Task::new(waits_for_an_async_runner, (5,)));
    assert_eq!(
        within_patience("the async runner", move || runner.wait()).unwrap(),
        sum(5)
    );
    let delayed = pool.execute(Task::new(waits_for_a_delay, (3,)));
    assert_eq!(
        within_patience("the delay", move || delayed.wait()).unwrap(),
        3
    );
}

#[test]
fn a_group_of_100_000_members_resolves_and_cancels() {
    const MEMBERS: u32 = 100_000;
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let mut group = TaskGroup::new();
    for n in 0..MEMBERS {
        group.add(plain, (n,)).unwrap();
    }
    let values = within_patience("the group", {
        let handle = pool.execute_group(&group, Priority::Low);
        move || handle.wait()
    })
    .unwrap();
    assert!(values.into_iter().eq(0..MEMBERS));
    let handle = pool.execute_group(&group, Priority::Low);
    let canceled = handle.cancel();
    let outcome = within_patience("the canceled group", move || handle.wait());
    match canceled {
        Ok(()) => assert!(outcome.unwrap_err().is_canceled()),
        Err(error) => panic!("a group of 100 000 could not be canceled at once: {error:?}"),
    }
    let handle = pool.execute_group(&group, Priority::Low);
    drop(pool);
    assert!(within_patience("the group of a dropped pool", move || handle.wait()).is_err());
}

#[test]
fn runners_racing_their_pool_s_drop_resolve_every_handle() {
    for round in 0..60u32 {
        let pool = TaskPool::builder().max_threads(2).build().unwrap();
        let sequence = pool.sequence_runner(Priority::Medium);
        let bounded = pool.async_runner(1, 4).unwrap();
        let submitter = std::thread::spawn(move || {
            let mut handles = Vec::new();
            for k in 0..40 {
                handles.push(sequence.execute(Task::new(plain, (k,))));
                handles.push(bounded.execute(Task::new(plain, (k,)), Priority::Low));
            }
            handles
        });
        if round % 2 == 0 {
            std::thread::yield_now();
        }
        drop(pool);
        let handles = submitter.join().unwrap();
        for handle in handles {
            let _ = within_patience("a runner's task", move || handle.wait());
        }
    }
}

#[test]
fn a_held_dependent_of_a_dropped_pool_resolves_and_its_dependency_still_runs() {
    for round in 0..60u32 {
        let dependents_pool = TaskPool::builder().max_threads(1).build().unwrap();
        let other = TaskPool::builder().max_threads(1).build().unwrap();
        let dependency = Task::new(plain, (round,));
        let dependent = Task::new(plain, (1,));
        dependent.add_dependency(&dependency).unwrap();
        let held = dependents_pool.execute(dependent);
        let dependency = other.execute(dependency);
        if round % 2 == 0 {
            std::thread::yield_now();
        }
        drop(dependents_pool);
        let _ = within_patience("the held dependent", move || held.wait());
        assert_eq!(dependency.wait().unwrap(), round);
    }
}

static REFUSALS: Mutex<Vec<(&'static str, Option<u32>)>> = Mutex::new(Vec::new());

fn report_refusal(task: &Task<u32>, what: &'static str) {
    task.on_execution_failed(move |error| REFUSALS.lock().unwrap().push((what, error.code())))
        .unwrap();
}

/// ArkTS calls `onExecutionFailed` "when a task fails to be enqueued", and a run `prepare`
/// refuses reports its failure to the task's listener: so do the runners' refusals.
#[test]
fn a_task_a_runner_refuses_reports_the_refusal_to_its_failure_listener() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let dependency = Task::new(plain, (0,));
    let sequence = pool.sequence_runner(Priority::High);
    let dependent = Task::new(plain, (1,));
    dependent.add_dependency(&dependency).unwrap();
    report_refusal(&dependent, "sequence");
    assert_eq!(
        sequence.execute(dependent).wait().unwrap_err().code(),
        Some(10200025)
    );

    let runner = pool.async_runner(1, 0).unwrap();
    let dependent = Task::new(plain, (2,));
    dependent.add_dependency(&dependency).unwrap();
    report_refusal(&dependent, "async dependent");
    let refused = runner.execute(dependent, Priority::High);
    assert_eq!(refused.wait().unwrap_err().code(), Some(10200025));

    let executed = Task::new(plain, (3,));
    report_refusal(&executed, "async executed");
    assert_eq!(pool.execute(&executed).wait().unwrap(), 3);
    let refused = runner.execute(executed, Priority::High);
    assert_eq!(refused.wait().unwrap_err().code(), Some(10200057));

    wait_until("the three refusals are reported", || {
        REFUSALS.lock().unwrap().len() == 3
    });
    let mut reported = REFUSALS.lock().unwrap().clone();
    reported.sort();
    assert_eq!(
        reported,
        [
            ("async dependent", Some(10200025)),
            ("async executed", Some(10200057)),
            ("sequence", Some(10200025)),
        ]
    );
    drop(dependency);
}

/// `AsyncRunner::named` documents "401 if `running_capacity` is 0", with no exception for a
/// name already in use: the parameters are checked before the name is looked up.
#[test]
fn a_named_async_runner_with_running_capacity_0_is_401_even_when_the_name_exists() {
    let first = taskpool::AsyncRunner::named("compose-probes-capacity", 2, 0).unwrap();
    assert_eq!(first.running_capacity(), 2);
    let error = taskpool::AsyncRunner::named("compose-probes-capacity", 0, 0).unwrap_err();
    assert_eq!(error.code(), Some(401));
    assert_eq!(
        taskpool::AsyncRunner::named("compose-probes-capacity-fresh", 0, 0)
            .unwrap_err()
            .code(),
        Some(401)
    );
}

/// Canceling the tasks waiting in a runner one by one: each cancel used to scan the whole
/// queue, so 50 000 of them took minutes (quadratic). Fails through the patience timeout.
#[test]
fn canceling_every_task_of_a_long_runner_queue_one_by_one_does_not_crawl() {
    const WAITING: u32 = 50_000;
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let sequence = pool.sequence_runner(Priority::High);
    let bounded = pool.async_runner(1, 0).unwrap();
    let first = sequence.execute(Task::new(hold, (9040,)));
    let other = bounded.execute(Task::new(hold, (9041,)), Priority::High);
    let mut handles: Vec<_> = (0..WAITING)
        .map(|k| sequence.execute(Task::new(plain, (k,))))
        .collect();
    handles.extend((0..WAITING).map(|k| bounded.execute(Task::new(plain, (k,)), Priority::High)));
    let handles = within_patience("every waiting task canceled", move || {
        for handle in &handles {
            handle.cancel().unwrap();
        }
        handles
    });
    // The canceled tasks left the runners' queues.
    assert!(
        format!("{sequence:?}").contains("waiting: 0"),
        "{sequence:?}"
    );
    assert!(format!("{bounded:?}").contains("waiting: 0"), "{bounded:?}");
    open_gate(9040);
    open_gate(9041);
    assert_eq!(first.wait().unwrap(), 9040);
    assert_eq!(other.wait().unwrap(), 9041);
    for handle in handles {
        assert!(handle.wait().unwrap_err().is_canceled());
    }
}

/// Every delayed (and periodic) task registers a shutdown hook with its pool; each
/// registration used to sweep the whole list for hooks whose owner was gone, so scheduling
/// many delayed tasks at once was quadratic. Fails through the patience timeout.
#[test]
fn scheduling_many_delayed_tasks_at_once_does_not_crawl() {
    const DELAYED: u32 = 200_000;
    let pool = Arc::new(TaskPool::builder().max_threads(1).build().unwrap());
    let scheduler = Arc::clone(&pool);
    let handles = within_patience("every delayed task scheduled", move || {
        (0..DELAYED)
            .map(|k| {
                scheduler.execute_delayed(Duration::MAX, Task::new(plain, (k,)), Priority::Low)
            })
            .collect::<Vec<_>>()
    });
    let pool = Arc::into_inner(pool).expect("the scheduler let go of the pool");
    within_patience("the shutdown", move || pool.shutdown());
    for handle in handles {
        assert!(matches!(handle.wait(), Err(Error::PoolShutDown)));
    }
}

#[test]
fn an_async_runner_s_discard_racing_a_cancel_of_the_oldest_resolves_it_once() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let runner = pool.async_runner(1, 1).unwrap();
    let running = runner.execute(Task::new(hold, (9050,)), Priority::High);
    for round in 0..200u32 {
        let oldest = runner.execute(Task::new(plain, (round,)), Priority::High);
        let id = oldest.id();
        let canceler = std::thread::spawn(move || {
            let _ = oldest.cancel();
            oldest
        });
        let newest = runner.execute(Task::new(plain, (round,)), Priority::High);
        let oldest = canceler.join().unwrap();
        let code = within_patience("the oldest", move || oldest.wait())
            .unwrap_err()
            .code();
        assert!(
            code == Some(10200054) || code == Some(10200055),
            "task {id}: {code:?}"
        );
        // The newest now waits alone; the next round's task pushes it out (or it is canceled).
        assert!(!newest.is_finished() || newest.wait().is_err());
    }
    open_gate(9050);
    assert_eq!(running.wait().unwrap(), 9050);
}

#[test]
fn a_delayed_long_task_runs_once_and_can_be_terminated_once() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let long = taskpool::LongTask::new(plain, (8,));
    let id = long.id();
    let handle = pool.execute_delayed(Duration::from_millis(1), long, Priority::High);
    assert_eq!(
        within_patience("the long task", move || handle.wait()).unwrap(),
        8
    );
    pool.terminate_task(id).unwrap();
    assert_eq!(pool.terminate_task(id).unwrap_err().code(), Some(401));
    // The pool still runs tasks after the long task let its thread go.
    assert_eq!(pool.execute(Task::new(plain, (9,))).wait().unwrap(), 9);
    // A delayed long task canceled during its delay never holds a thread.
    let long = taskpool::LongTask::new(plain, (10,));
    let handle = pool.execute_delayed(Duration::MAX, long, Priority::High);
    handle.cancel().unwrap();
    assert!(handle.wait().unwrap_err().is_canceled());
    assert_eq!(pool.execute(Task::new(plain, (11,))).wait().unwrap(), 11);
}

/// A canceled waiting task leaves the waiting queue at once: it no longer counts toward the
/// waiting capacity, and the oldest task still waiting is the one discarded.
#[test]
fn a_canceled_waiting_task_frees_its_place_in_an_async_runner_s_queue() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let runner = pool.async_runner(1, 2).unwrap();
    let running = runner.execute(Task::new(hold, (9060,)), Priority::High);
    let b = runner.execute(Task::new(plain, (2,)), Priority::High);
    let c = runner.execute(Task::new(plain, (3,)), Priority::High);
    b.cancel().unwrap();
    assert_eq!(b.wait().unwrap_err().code(), Some(10200055));
    let d = runner.execute(Task::new(plain, (4,)), Priority::High);
    assert!(!c.is_finished(), "C was discarded although B had left");
    let e = runner.execute(Task::new(plain, (5,)), Priority::High);
    assert_eq!(c.wait().unwrap_err().code(), Some(10200054));
    open_gate(9060);
    assert_eq!(running.wait().unwrap(), 9060);
    assert_eq!(d.wait().unwrap(), 4);
    assert_eq!(e.wait().unwrap(), 5);
}

#[test]
fn a_group_handle_polled_then_canceled_resolves_as_canceled_when_awaited() {
    use std::future::Future;
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let mut group = TaskGroup::new();
    group.add(hold, (9070,)).unwrap();
    group.add(hold, (9071,)).unwrap();
    let mut handle = pool.execute_group(&group, Priority::High);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(
        std::pin::Pin::new(&mut handle)
            .poll(&mut context)
            .is_pending()
    );
    wait_until("a member runs", || busy_threads(&pool) == 1);
    handle.cancel().unwrap();
    open_gate(9070);
    open_gate(9071);
    let outcome = within_patience("the awaited group", move || support::block_on(handle));
    assert!(outcome.unwrap_err().is_canceled());
}
