//! Second probing pass over the composition layer: where user `Drop`s run when a group's handle
//! is dropped early or a time-out cancels other runs, and edge input the ArkTS reference
//! describes (empty groups, zero and unbounded delays, periodic tasks that cancel themselves or
//! panic, `is_canceled` in every state). Deterministic: gates and condition waits.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use support::{PATIENCE, block_on, busy_threads, open_gate, pass_gate, plain, wait_until};
use taskpool::{
    Error, Priority, Task, TaskGroup, TaskPool, concurrent, current_task_id, is_canceled,
};

/// The name of the calling thread, for checks of where a `Drop` ran.
fn thread_name() -> String {
    std::thread::current().name().unwrap_or("").to_owned()
}

/// Spins until its run is flagged as canceled (a time-out flags it), then returns.
#[concurrent]
fn until_canceled() -> u32 {
    while !is_canceled() {
        std::thread::sleep(Duration::from_millis(1));
    }
    0
}

// ---------------------------------------------------------------------------------------------
// A group whose handle is dropped before it settles.

static COUNTED_DROPS: AtomicUsize = AtomicUsize::new(0);

/// A result that counts its drops.
#[derive(Serialize, Deserialize, Debug)]
struct Counted(u32);

impl Drop for Counted {
    fn drop(&mut self) {
        COUNTED_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

#[concurrent]
fn counted_after(gate: u64, n: u32) -> Counted {
    pass_gate(gate);
    Counted(n)
}

/// The results of a group whose handle was dropped before they came are dropped as they come
/// (by the thread that ends each run), each once: not kept until the pool goes.
#[test]
fn a_dropped_group_handle_s_results_are_dropped_as_they_come() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let mut group = TaskGroup::new();
    for n in 0..4 {
        group.add(counted_after, (20_100, n)).unwrap();
    }
    drop(pool.execute_group(&group, Priority::Medium));
    open_gate(20_100);
    wait_until("every result was dropped", || {
        COUNTED_DROPS.load(Ordering::SeqCst) == 4
    });
    // The pool is alive and goes on; nothing was dropped twice.
    assert_eq!(pool.run(plain, (1,)).wait().unwrap(), 1);
    assert_eq!(COUNTED_DROPS.load(Ordering::SeqCst), 4);
}

/// The pool a [`UsesPool`] result looks at when dropped.
static LOOKED_AT: Mutex<Option<Arc<TaskPool>>> = Mutex::new(None);
static LOOKS: AtomicUsize = AtomicUsize::new(0);

/// A result whose `Drop` uses the pool that made it, then panics.
#[derive(Serialize, Deserialize, Debug)]
struct UsesPool(u32);

impl Drop for UsesPool {
    fn drop(&mut self) {
        let pool = LOOKED_AT.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(pool) = pool {
            let _ = pool.info();
            let _ = pool.cancel(taskpool::TaskId::from_raw(u64::MAX));
            LOOKS.fetch_add(1, Ordering::SeqCst);
        }
        if !std::thread::panicking() {
            panic!("UsesPool {} went off in Drop", self.0);
        }
    }
}

#[concurrent]
fn uses_pool_after(gate: u64, n: u32) -> UsesPool {
    pass_gate(gate);
    UsesPool(n)
}

/// Results of a dropped group's handle whose `Drop` uses the pool and then panics: no
/// deadlock (they are not dropped under a pool lock), nothing unwinds into the pool, and the
/// pool of one thread goes on.
#[test]
fn a_dropped_group_handle_s_results_may_use_the_pool_and_panic_in_drop() {
    let pool = Arc::new(TaskPool::builder().max_threads(1).build().unwrap());
    *LOOKED_AT.lock().unwrap() = Some(Arc::clone(&pool));
    let mut group = TaskGroup::new();
    for n in 0..3 {
        group.add(uses_pool_after, (20_200, n)).unwrap();
    }
    drop(pool.execute_group(&group, Priority::Medium));
    open_gate(20_200);
    wait_until("every result was dropped", || {
        LOOKS.load(Ordering::SeqCst) == 3
    });
    let mut next = pool.run(plain, (2,));
    assert!(matches!(next.wait_timeout(PATIENCE), Some(Ok(2))));
    LOOKED_AT.lock().unwrap().take();
}

/// A result whose `Drop` blocks until its gate opens.
#[derive(Serialize, Deserialize, Debug)]
struct StuckOnDrop(u64);

impl Drop for StuckOnDrop {
    fn drop(&mut self) {
        pass_gate(self.0);
    }
}

#[concurrent]
fn stuck_after(gate: u64, drop_gate: u64) -> StuckOnDrop {
    pass_gate(gate);
    StuckOnDrop(drop_gate)
}

/// A dropped group's result whose `Drop` blocks ties up the thread that ended its run (under
/// the time limit), never the pool: later work still runs.
#[test]
fn a_dropped_group_handle_s_result_whose_drop_blocks_does_not_stall_the_pool() {
    let pool = TaskPool::builder()
        .max_threads(1)
        .time_limit(Duration::from_millis(100))
        .check_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    let mut group = TaskGroup::new();
    group.add(stuck_after, (20_300, 20_301)).unwrap();
    drop(pool.execute_group(&group, Priority::Medium));
    open_gate(20_300);
    let mut next = pool.run(plain, (3,));
    let outcome = next.wait_timeout(PATIENCE);
    open_gate(20_301);
    assert!(
        matches!(outcome, Some(Ok(3))),
        "later work runs: {outcome:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// A time-out on the supervisor thread.

/// Where each [`Blocker`] was dropped by one of its pool's threads.
static BLOCKER_DROPPED_ON: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());

/// An argument whose `Drop`, on a thread of the pool whose threads are named `prefix`, notes
/// the thread, then blocks until gate `gate` opens. Elsewhere (the test's own copies) it does
/// nothing.
#[derive(Serialize, Deserialize, Debug, Clone)]
struct Blocker {
    gate: u64,
    prefix: String,
}

impl Drop for Blocker {
    fn drop(&mut self) {
        let thread = thread_name();
        if !thread.starts_with(&self.prefix) {
            return;
        }
        BLOCKER_DROPPED_ON
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((self.gate, thread));
        pass_gate(self.gate);
    }
}

/// A [`Blocker`] of gate `gate` for the threads whose name starts with `prefix` (all: "").
fn blocker(gate: u64, prefix: &str) -> Blocker {
    Blocker {
        gate,
        prefix: prefix.to_owned(),
    }
}

fn blocker_dropped_on(gate: u64) -> Option<String> {
    BLOCKER_DROPPED_ON
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(id, _)| *id == gate)
        .map(|(_, thread)| thread.clone())
}

#[concurrent]
fn takes_blocker(blocker: Blocker) -> u32 {
    blocker.prefix.len() as u32
}

/// A pool of one thread with a short time limit, whose threads are named `name`. One extra
/// thread: a timed-out call is told to stop only once its run's hooks are done (here, never
/// before the gate opens), so its retired thread stays meanwhile.
fn limited_pool(name: &str) -> TaskPool {
    TaskPool::builder()
        .thread_name(name)
        .max_threads(1)
        .extra_threads(1)
        .time_limit(Duration::from_millis(50))
        .check_interval(Duration::from_millis(5))
        .build()
        .unwrap()
}

/// Once a blocking `Drop` of gate `gate` started on a thread of `pool`: it is not its
/// supervisor, and the pool still enforces its time limit meanwhile; then the gate opens.
fn time_limits_still_hold(pool: &TaskPool, gate: u64) {
    wait_until("the argument is being dropped", || {
        blocker_dropped_on(gate).is_some()
    });
    let dropped_on = blocker_dropped_on(gate).unwrap();
    let mut later = pool.run(until_canceled, ());
    // Half the gate's patience: a frozen supervisor would time it out only once the blocked
    // `Drop` gave up.
    let outcome = later.wait_timeout(PATIENCE / 2);
    open_gate(gate);
    assert!(
        !dropped_on.ends_with("supervisor"),
        "a user Drop ran on the supervisor ({dropped_on})"
    );
    assert!(
        matches!(outcome, Some(Err(Error::TimedOut { .. }))),
        "the supervisor must go on enforcing the time limit: {outcome:?}"
    );
}

/// A group member that times out fails its group, whose waiting members are canceled: their
/// arguments are user values, whose `Drop` must not run on (and freeze) the supervisor.
#[test]
fn a_time_out_that_cancels_group_members_drops_their_arguments_off_the_supervisor() {
    let pool = limited_pool("tocg");
    let gate = 20_401;
    let mut group = TaskGroup::new();
    group.add(until_canceled, ()).unwrap();
    group.add(takes_blocker, (blocker(gate, "tocg-"),)).unwrap();
    let handle = pool.execute_group(&group, Priority::Medium);
    // A member copies its arguments when it starts: until then its run shares the group's.
    // Dropped, the group leaves the waiting member's run the last holder of the `Blocker`.
    drop(group);
    time_limits_still_hold(&pool, gate);
    assert!(matches!(handle.wait(), Err(Error::TimedOut { .. })));
}

#[concurrent]
fn dependent_of(blocker: Blocker) -> u64 {
    blocker.gate
}

/// A dependency that times out fails its waiting dependents: their arguments must not be
/// dropped on (and freeze) the supervisor either.
#[test]
fn a_time_out_that_fails_dependents_drops_their_arguments_off_the_supervisor() {
    let pool = limited_pool("tofd");
    let gate = 20_501;
    let dependency = Task::new(until_canceled, ());
    let dependent = Task::new(dependent_of, (blocker(gate, "tofd-"),));
    dependent.add_dependency(&dependency).unwrap();
    let held = pool.execute(dependent);
    let timed = pool.execute(&dependency);
    time_limits_still_hold(&pool, gate);
    assert!(matches!(timed.wait(), Err(Error::TimedOut { .. })));
    assert!(matches!(held.wait(), Err(Error::DependencyFailed { .. })));
}

// ---------------------------------------------------------------------------------------------
// Edge input from the ArkTS reference.

/// An empty group: it resolves at once with no result, blocking or awaited; canceling it is
/// 10200018 (nothing to cancel: it already ended); it can be executed again.
#[test]
fn an_empty_group_is_finished_at_once_and_cannot_be_canceled() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let group: TaskGroup<u32> = TaskGroup::with_name("empty");
    let handle = pool.execute_group(&group, Priority::High);
    assert!(handle.is_finished());
    assert!(handle.is_empty());
    assert_eq!(handle.cancel().unwrap_err().code(), Some(10200018));
    assert_eq!(handle.wait().unwrap(), Vec::<u32>::new());
    let again = pool.execute_group(&group, Priority::Idle);
    assert_eq!(block_on(again).unwrap(), Vec::<u32>::new());
    assert!(group.is_executed());
}

/// A delay of zero runs the task as soon as a thread is free; canceling it after it finished
/// is 10200015, by handle and by id.
#[test]
fn a_zero_delay_runs_and_a_later_cancel_is_10200015() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let handle = pool.execute_delayed(Duration::ZERO, Task::new(plain, (5,)), Priority::Low);
    let id = handle.id();
    wait_until("it ran", || handle.is_finished());
    assert_eq!(handle.cancel().unwrap_err().code(), Some(10200015));
    assert_eq!(pool.cancel(id).unwrap_err().code(), Some(10200015));
    assert_eq!(handle.wait().unwrap(), 5);
}

/// A delay that never elapses: canceled by id, the handle resolves as canceled before it
/// started, and a second cancel (by handle or id) is 10200015.
#[test]
fn a_never_elapsing_delay_canceled_twice_is_10200015_the_second_time() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let handle = pool.execute_delayed(Duration::MAX, Task::new(plain, (6,)), Priority::High);
    pool.cancel(handle.id()).unwrap();
    assert_eq!(handle.cancel().unwrap_err().code(), Some(10200015));
    assert_eq!(pool.cancel(handle.id()).unwrap_err().code(), Some(10200015));
    match handle.wait() {
        Err(Error::Canceled { started, .. }) => assert!(!started),
        other => panic!("expected a cancel before the start, got {other:?}"),
    }
}

/// The pool a periodic task that cancels itself uses.
fn self_canceling_pool() -> &'static TaskPool {
    static POOL: OnceLock<TaskPool> = OnceLock::new();
    POOL.get_or_init(|| TaskPool::builder().max_threads(2).build().unwrap())
}

static SELF_CANCEL: Mutex<Vec<(Option<u32>, bool)>> = Mutex::new(Vec::new());

/// Cancels its own task from inside its tick, then reports what the cancel said and whether
/// the run now sees itself canceled.
#[concurrent]
fn cancel_myself() {
    let id = current_task_id().expect("inside a task");
    let code = self_canceling_pool()
        .cancel(id)
        .err()
        .map(|e| e.code().unwrap_or(0));
    SELF_CANCEL
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((code, is_canceled()));
}

/// A periodic task that cancels itself inside its tick: the cancel lands (`Ok`), the run sees
/// itself canceled, no further tick starts, and a cancel afterwards is 10200015.
#[test]
fn a_periodic_task_canceling_itself_in_its_tick_stops() {
    let pool = self_canceling_pool();
    let ticker = pool
        .execute_periodically(
            Duration::from_millis(1),
            Task::new(cancel_myself, ()),
            Priority::Medium,
        )
        .unwrap();
    wait_until("it stopped", || ticker.is_stopped());
    wait_until("its tick reported", || {
        !SELF_CANCEL.lock().unwrap().is_empty()
    });
    assert_eq!(*SELF_CANCEL.lock().unwrap(), [(None, true)]);
    assert_eq!(ticker.runs_started(), 1);
    assert_eq!(ticker.cancel().unwrap_err().code(), Some(10200015));
    assert_eq!(pool.cancel(ticker.id()).unwrap_err().code(), Some(10200015));
    assert_eq!(pool.run(plain, (7,)).wait().unwrap(), 7);
}

static PANICKING_TICKS: AtomicUsize = AtomicUsize::new(0);

#[concurrent]
fn always_panics() {
    PANICKING_TICKS.fetch_add(1, Ordering::SeqCst);
    panic!("tick failed");
}

/// A periodic task whose every tick panics keeps ticking (each failure reaches its listener),
/// stops when canceled, and leaves the pool working.
#[test]
fn a_periodic_task_that_panics_every_tick_keeps_ticking_until_canceled() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(always_panics, ());
    let failures = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&failures);
    task.on_execution_failed(move |error| {
        assert!(matches!(error, Error::Panicked { .. }), "{error:?}");
        seen.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    let ticker = pool
        .execute_periodically(Duration::from_millis(1), task, Priority::High)
        .unwrap();
    wait_until("three failures were reported", || {
        failures.load(Ordering::SeqCst) >= 3
    });
    ticker.cancel().unwrap();
    assert!(ticker.is_stopped());
    assert!(PANICKING_TICKS.load(Ordering::SeqCst) >= 3);
    assert_eq!(pool.run(plain, (8,)).wait().unwrap(), 8);
}

static CANCELED_SEEN: Mutex<Vec<(u64, bool)>> = Mutex::new(Vec::new());

/// Notes whether its run sees itself canceled, once at the start and once after its gate.
#[concurrent]
fn report_canceled(gate: u64) -> bool {
    CANCELED_SEEN.lock().unwrap().push((gate, is_canceled()));
    pass_gate(gate);
    is_canceled()
}

/// `is_canceled` in every state: false outside a task and in a host-side listener; false in
/// a run nobody canceled; true in a running group member once its group is canceled (and its
/// waiting member never runs); the member's late result stays with the canceled outcome.
#[test]
fn is_canceled_in_every_state() {
    assert!(!is_canceled(), "outside any task");
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(report_canceled, (20_600,));
    let in_listener = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&in_listener);
    task.on_start_execution(move || *slot.lock().unwrap() = Some(is_canceled()))
        .unwrap();
    open_gate(20_600);
    assert!(!pool.execute(task).wait().unwrap(), "a run nobody canceled");
    wait_until("the listener ran", || in_listener.lock().unwrap().is_some());
    assert_eq!(*in_listener.lock().unwrap(), Some(false), "in a listener");

    let mut group = TaskGroup::new();
    group.add(report_canceled, (20_601,)).unwrap();
    group.add(report_canceled, (20_602,)).unwrap();
    let handle = pool.execute_group(&group, Priority::Medium);
    wait_until("the first member runs", || busy_threads(&pool) == 1);
    handle.cancel().unwrap();
    open_gate(20_601);
    open_gate(20_602);
    match handle.wait() {
        Err(error @ Error::Canceled { .. }) => {
            let Error::Canceled { late, started, .. } = &error else {
                unreachable!()
            };
            // Whichever member's cancel settled first: the running one reports its late value.
            if *started {
                let late = late.as_ref().expect("a running member's late outcome");
                assert!(late.error().is_none());
            }
        }
        other => panic!("expected the group canceled, got {other:?}"),
    }
    assert_eq!(pool.run(plain, (9,)).wait().unwrap(), 9);
    let seen = CANCELED_SEEN.lock().unwrap().clone();
    assert!(seen.contains(&(20_600, false)));
    assert!(
        seen.contains(&(20_601, false)),
        "not canceled when it started"
    );
    assert!(
        !seen.iter().any(|(gate, _)| *gate == 20_602),
        "the waiting member never ran: {seen:?}"
    );
}

static FLAGGED_LATE: Mutex<Option<bool>> = Mutex::new(None);

#[concurrent]
fn note_flag_after(gate: u64) -> u32 {
    pass_gate(gate);
    *FLAGGED_LATE.lock().unwrap() = Some(is_canceled());
    1
}

/// Canceling a running group member by id flags it (`is_canceled()` turns true inside it),
/// fails the group with that member's cancel and leaves the pool usable.
#[test]
fn a_running_member_canceled_by_id_sees_is_canceled() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let member = Task::new(note_flag_after, (20_700,));
    let id = member.id();
    let mut group = TaskGroup::new();
    group.add_task(member).unwrap();
    group.add(plain, (2,)).unwrap();
    let handle = pool.execute_group(&group, Priority::Medium);
    wait_until("the member runs", || busy_threads(&pool) == 1);
    pool.cancel(id).unwrap();
    open_gate(20_700);
    assert!(handle.wait().unwrap_err().is_canceled());
    wait_until("the member noted its flag", || {
        FLAGGED_LATE.lock().unwrap().is_some()
    });
    assert_eq!(*FLAGGED_LATE.lock().unwrap(), Some(true));
    assert_eq!(pool.run(plain, (3,)).wait().unwrap(), 3);
}

/// A task that depends on a member of a group runs once that member's run in the group has
/// succeeded (executing the member in a group counts as executing it).
#[test]
fn a_task_depending_on_a_group_member_runs_after_the_group_s_run_of_it() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let member = Task::new(support::hold, (20_800,));
    let dependent = Task::new(support::hold, (20_801,));
    dependent.add_dependency(&member).unwrap();
    open_gate(20_801);
    let mut group = TaskGroup::new();
    group.add_task(member).unwrap();
    let held = pool.execute(dependent);
    let group_handle = pool.execute_group(&group, Priority::Medium);
    assert!(!held.is_finished());
    open_gate(20_800);
    assert_eq!(group_handle.wait().unwrap(), vec![20_800]);
    assert_eq!(held.wait().unwrap(), 20_801);
}

/// Two members of one group, the second depending on the first: the group runs them in
/// dependency order and yields both results in add order.
#[test]
fn group_members_depending_on_each_other_run_in_order() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let first = Task::new(support::hold, (20_900,));
    let second = Task::new(plain_u64, (2,));
    second.add_dependency(&first).unwrap();
    let mut group = TaskGroup::new();
    group.add_task(second).unwrap();
    group.add_task(first).unwrap();
    let handle = pool.execute_group(&group, Priority::Medium);
    assert!(!handle.is_finished());
    open_gate(20_900);
    assert_eq!(handle.wait().unwrap(), vec![2, 20_900]);
}

#[concurrent]
fn plain_u64(x: u64) -> u64 {
    x
}

/// A group member that depends on a task dropped without ever being executed: the member
/// fails with `DependencyFailed` and so does the group — it does not wait forever.
#[test]
fn a_group_member_depending_on_a_task_never_executed_fails_when_it_is_dropped() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let never = Task::new(plain_u64, (1,));
    let member = Task::new(plain_u64, (2,));
    member.add_dependency(&never).unwrap();
    let mut group = TaskGroup::new();
    group.add_task(member).unwrap();
    group.add(plain_u64, (3,)).unwrap();
    let mut handle = pool.execute_group(&group, Priority::Medium);
    assert!(!handle.is_finished());
    drop(never);
    let outcome = support::block_on(async {
        let waited = std::pin::pin!(&mut handle);
        waited.await
    });
    assert!(
        matches!(outcome, Err(Error::DependencyFailed { .. })),
        "{outcome:?}"
    );
}

static GROUP_DATA: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[concurrent]
fn sends(n: u32) -> u32 {
    taskpool::send_data(n).unwrap();
    n
}

/// Group members send data to the receivers registered on their tasks, as single tasks do.
#[test]
fn group_members_send_data_to_their_receivers() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let mut group = TaskGroup::new();
    for n in 1..=3 {
        let task = Task::new(sends, (n,));
        task.on_receive_data(|value: u32| GROUP_DATA.lock().unwrap().push(value));
        group.add_task(task).unwrap();
    }
    assert_eq!(
        pool.execute_group(&group, Priority::High).wait().unwrap(),
        vec![1, 2, 3]
    );
    wait_until("every value arrived", || {
        GROUP_DATA.lock().unwrap().len() == 3
    });
    let mut values = GROUP_DATA.lock().unwrap().clone();
    values.sort();
    assert_eq!(values, [1, 2, 3]);
}

/// A delayed task whose dependency was dropped without running fails when its delay passes;
/// its arguments must not be dropped on (and freeze) the runtime's timer thread, which every
/// delay, periodic task and `sleep` of the process shares.
#[test]
fn a_delayed_dependent_of_a_dropped_task_drops_its_arguments_off_the_timer_thread() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let gate = 21_000;
    let dependency = Task::new(plain_u64, (1,));
    let dependent = Task::new(dependent_of, (blocker(gate, ""),));
    dependent.add_dependency(&dependency).unwrap();
    let delayed = pool.execute_delayed(Duration::from_millis(20), dependent, Priority::Medium);
    drop(dependency);
    wait_until("the argument is being dropped", || {
        blocker_dropped_on(gate).is_some()
    });
    let dropped_on = blocker_dropped_on(gate).unwrap();
    // The timer still fires for others meanwhile.
    let mut later = pool.execute_delayed(
        Duration::from_millis(1),
        Task::new(plain, (4,)),
        Priority::High,
    );
    let outcome = later.wait_timeout(PATIENCE / 2);
    open_gate(gate);
    assert_ne!(
        dropped_on, "taskpool-timer",
        "a user Drop ran on the timer thread"
    );
    assert!(
        matches!(outcome, Some(Ok(4))),
        "the timer must go on: {outcome:?}"
    );
    assert!(matches!(
        delayed.wait(),
        Err(Error::DependencyFailed { .. })
    ));
}
