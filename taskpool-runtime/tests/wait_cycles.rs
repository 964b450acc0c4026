//! Blocking waits that close a cycle across threads, runners, groups and dependency chains:
//! the wait that closes it is told at once (`WaitsForItself`) instead of blocking until the
//! pool's time limit ends the cycle. Each pool here has a time limit far beyond the tests'
//! patience, so before the wait-for registry every cycle test below hung.

mod support;

use std::sync::Mutex;

use support::handoff::{outcome, take_from};
use support::{PATIENCE, bounded, open_gate, pass_gate, wait_until};
use taskpool::{GroupHandle, Priority, Task, TaskGroup, TaskHandle, TaskPool, concurrent};

/// Handles passed to tasks by tag, as a program would pass them through shared state.
static HANDLES: Mutex<Vec<(u32, TaskHandle<String>)>> = Mutex::new(Vec::new());
static GROUPS: Mutex<Vec<(u32, GroupHandle<String>)>> = Mutex::new(Vec::new());
/// What each task saw when its wait returned, by its tag.
static SEEN: Mutex<Vec<(u32, String)>> = Mutex::new(Vec::new());

fn record(me: u32, seen: String) -> String {
    SEEN.lock().unwrap().push((me, seen.clone()));
    seen
}

/// Passes `gate`, then waits for the task handed over as `other`.
#[concurrent]
fn wait_for(me: u32, other: u32, gate: u64) -> String {
    pass_gate(gate);
    record(me, outcome(take_from(&HANDLES, other).wait()))
}

/// Passes `gate`, then waits for the group execution handed over as `group`.
#[concurrent]
fn wait_for_group(me: u32, group: u32, gate: u64) -> String {
    pass_gate(gate);
    let seen = outcome(
        take_from(&GROUPS, group)
            .wait()
            .map(|values| values.join(",")),
    );
    record(me, seen)
}

#[concurrent]
fn echo_text(text: String) -> String {
    text
}

/// What the tasks `tags` saw, in tag order, once all of them returned from their waits.
fn seen_by(tags: &[u32]) -> Vec<String> {
    let mut seen = Vec::new();
    wait_until("every task of the cycle returns from its wait", || {
        let mut all = SEEN.lock().unwrap();
        all.retain(|(tag, outcome)| {
            let mine = tags.contains(tag);
            if mine {
                seen.push((*tag, outcome.clone()));
            }
            !mine
        });
        seen.len() == tags.len()
    });
    seen.sort();
    seen.into_iter().map(|(_, outcome)| outcome).collect()
}

fn pool(threads: usize) -> TaskPool {
    TaskPool::builder()
        .max_threads(threads)
        .extra_threads(0)
        .time_limit(PATIENCE * 10)
        .build()
        .unwrap()
}

/// A → B → C → A on three threads: whichever waits last is told at once, and its error,
/// returned as its value, unwinds the other two waits in turn.
#[test]
fn three_tasks_waiting_in_a_ring_on_three_threads_are_told_at_once() {
    let pool = pool(3);
    let gate = 7_001;
    let ring = [(10, 11), (11, 12), (12, 10)];
    let handles: Vec<_> = ring
        .iter()
        .map(|&(me, other)| (me, pool.execute(Task::new(wait_for, (me, other, gate)))))
        .collect();
    HANDLES.lock().unwrap().extend(handles);
    wait_until("the three tasks hold the three threads", || {
        support::busy_threads(&pool) == 3
    });
    open_gate(gate);
    let mut seen = seen_by(&[10, 11, 12]);
    seen.sort();
    assert_eq!(
        seen,
        [
            "WaitsForItself",
            "ok(WaitsForItself)",
            "ok(ok(WaitsForItself))"
        ]
    );
}

/// A waits for R, which its `SequenceRunner` holds behind S; S, running on the other thread,
/// waits for A. Whichever waits second is told at once; then the runner goes on.
#[test]
fn a_cycle_through_a_sequence_runner_across_threads_is_told_at_once() {
    let pool = pool(2);
    let gate = 7_002;
    let runner = pool.sequence_runner(Priority::Medium);
    let s = runner.execute(Task::new(wait_for, (20, 21, gate)));
    let r = runner.execute(Task::new(echo_text, ("r".to_owned(),)));
    let a = pool.execute(Task::new(wait_for, (21, 22, gate)));
    HANDLES.lock().unwrap().extend([(21, a), (22, r)]);
    wait_until("S and A hold the two threads", || {
        support::busy_threads(&pool) == 2
    });
    open_gate(gate);
    let seen = seen_by(&[20, 21]);
    let told: Vec<_> = seen.iter().filter(|s| *s == "WaitsForItself").collect();
    assert_eq!(told.len(), 1, "{seen:?}");
    assert!(seen.iter().any(|s| s.starts_with("ok(")), "{seen:?}");
    assert_eq!(bounded("S", move || s.wait()).unwrap(), seen[0]);
}

/// D2 depends on D1, which depends on A: A waiting for D2 from inside its run could never
/// end (two links; one link was already told). A is told at once; then D1 and D2 run.
#[test]
fn a_task_waiting_for_a_dependency_chain_that_ends_at_it_is_told_at_once() {
    let pool = pool(1);
    let gate = 7_003;
    let a = Task::new(wait_for, (30, 32, gate));
    let d1 = Task::new(echo_text, ("d1".to_owned(),));
    let d2 = Task::new(echo_text, ("d2".to_owned(),));
    d1.add_dependency(&a).unwrap();
    d2.add_dependency(&d1).unwrap();
    let ha = pool.execute(&a);
    let h1 = pool.execute(&d1);
    let h2 = pool.execute(&d2);
    HANDLES.lock().unwrap().push((32, h2));
    open_gate(gate);
    assert_eq!(seen_by(&[30]), ["WaitsForItself"]);
    assert_eq!(bounded("A", move || ha.wait()).unwrap(), "WaitsForItself");
    assert_eq!(bounded("D1", move || h1.wait()).unwrap(), "d1");
}

/// X waits for a group one of whose members, M, waits for X on the other thread: whichever
/// waits second is told at once.
#[test]
fn a_cycle_through_a_group_across_threads_is_told_at_once() {
    let pool = pool(2);
    let gate = 7_004;
    let mut group = TaskGroup::new();
    group.add_task(Task::new(wait_for, (40, 41, gate))).unwrap();
    let execution = pool.execute_group(&group, Priority::Medium);
    let x = pool.execute(Task::new(wait_for_group, (41, 42, gate)));
    HANDLES.lock().unwrap().push((41, x));
    GROUPS.lock().unwrap().push((42, execution));
    wait_until("M and X hold the two threads", || {
        support::busy_threads(&pool) == 2
    });
    open_gate(gate);
    let seen = seen_by(&[40, 41]);
    let told: Vec<_> = seen.iter().filter(|s| *s == "WaitsForItself").collect();
    assert_eq!(told.len(), 1, "{seen:?}");
}

/// `wait_timeout` registers its wait too: B, waiting for A without a timeout while A waits
/// for B with one, or the other way round, is told at once — neither side sits out the
/// timeout.
#[test]
fn a_cycle_closed_by_a_wait_with_a_timeout_is_told_at_once() {
    #[concurrent]
    fn wait_long_for(me: u32, other: u32, gate: u64) -> String {
        pass_gate(gate);
        let mut handle = take_from(&HANDLES, other);
        let seen = match handle.wait_timeout(PATIENCE * 10) {
            Some(result) => outcome(result),
            None => "still waiting".to_owned(),
        };
        record(me, seen)
    }
    let pool = pool(2);
    let gate = 7_005;
    let a = pool.execute(Task::new(wait_long_for, (50, 51, gate)));
    let b = pool.execute(Task::new(wait_for, (51, 50, gate)));
    HANDLES.lock().unwrap().extend([(50, a), (51, b)]);
    wait_until("A and B hold the two threads", || {
        support::busy_threads(&pool) == 2
    });
    open_gate(gate);
    let seen = seen_by(&[50, 51]);
    let told: Vec<_> = seen.iter().filter(|s| *s == "WaitsForItself").collect();
    assert_eq!(told.len(), 1, "{seen:?}");
}

/// No cycle, no error: tasks on several threads waiting in a chain (A → B → C) get their
/// values, C's handed back up the chain.
#[test]
fn a_chain_of_waits_across_threads_without_a_cycle_ends_normally() {
    let pool = pool(3);
    let gate = 7_006;
    let c = pool.execute(Task::new(echo_text, ("c".to_owned(),)));
    let b = pool.execute(Task::new(wait_for, (61, 60, gate)));
    let a = pool.execute(Task::new(wait_for, (62, 61, gate)));
    HANDLES.lock().unwrap().extend([(60, c), (61, b)]);
    open_gate(gate);
    assert_eq!(seen_by(&[61, 62]), ["ok(c)", "ok(ok(c))"]);
    assert_eq!(bounded("A", move || a.wait()).unwrap(), "ok(ok(c))");
}

/// An IDLE task blocking on R, which its IDLE `SequenceRunner` holds behind S, not started: S
/// needs the pool's IDLE lane, which the blocked task keeps (one IDLE task executes at a
/// time). Told at once (before, it waited forever); then S and R run.
#[test]
fn an_idle_task_blocking_on_idle_work_queued_behind_another_idle_task_is_told_at_once() {
    let pool = pool(2);
    let gate = 7_007;
    let a = pool.execute_with_priority(Task::new(wait_for, (70, 71, gate)), Priority::Idle);
    support::wait_until_executing(&pool, a.id());
    let runner = pool.sequence_runner(Priority::Idle);
    let s = runner.execute(Task::new(echo_text, ("s".to_owned(),)));
    let r = runner.execute(Task::new(echo_text, ("r".to_owned(),)));
    HANDLES.lock().unwrap().push((71, r));
    open_gate(gate);
    assert_eq!(seen_by(&[70]), ["WaitsForItself"]);
    assert_eq!(bounded("S", move || s.wait()).unwrap(), "s");
    assert_eq!(bounded("A", move || a.wait()).unwrap(), "WaitsForItself");
}
