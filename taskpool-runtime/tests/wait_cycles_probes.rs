//! Probes of the wait-for registry (`run/waits.rs`): waits that look like cycles but are not
//! must go on (a `WaitsForItself` there is the worst outcome: a legitimate wait fails), and
//! every way a wait ends must leave nothing behind that a later wait could trip over.
//!
//! Most waiting tasks here poll with `wait_timeout`: each poll walks the registry as a
//! blocking `wait` does, so once a task has polled while the test holds the others in place,
//! the walk has seen that state, and the test can release it.

mod support;

use std::sync::Mutex;
use std::time::Duration;

use support::handoff::{outcome, take_from};
use support::{PATIENCE, bounded, open_gate, pass_gate, wait_until};
use taskpool::{Priority, Task, TaskHandle, TaskPool, concurrent, is_canceled};

/// Handles passed to tasks by tag, as a program would pass them through shared state.
static HANDLES: Mutex<Vec<(u32, TaskHandle<String>)>> = Mutex::new(Vec::new());
/// What each task saw when its wait returned, by its tag.
static SEEN: Mutex<Vec<(u32, String)>> = Mutex::new(Vec::new());
/// The tags of the tasks that polled once without an outcome, and of tasks that started.
static MARKS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn hand_over(tag: u32, handle: TaskHandle<String>) {
    HANDLES.lock().unwrap().push((tag, handle));
}

fn take(tag: u32) -> TaskHandle<String> {
    take_from(&HANDLES, tag)
}

fn record(me: u32, seen: String) -> String {
    SEEN.lock().unwrap().push((me, seen.clone()));
    seen
}

fn mark(tag: u32) {
    let mut marks = MARKS.lock().unwrap();
    if !marks.contains(&tag) {
        marks.push(tag);
    }
}

fn wait_for_mark(what: &str, tag: u32) {
    wait_until(what, || MARKS.lock().unwrap().contains(&tag));
}

/// What task `tag` saw, once it returned from its wait.
fn seen_by(tag: u32) -> String {
    let mut seen = None;
    wait_until("the task returns from its wait", || {
        let mut all = SEEN.lock().unwrap();
        if let Some(at) = all.iter().position(|(t, _)| *t == tag) {
            seen = Some(all.remove(at).1);
        }
        seen.is_some()
    });
    seen.unwrap()
}

/// Waits for `handle` by polling: marks `me` after the first poll that found no outcome.
fn poll_until_done(me: u32, handle: &mut TaskHandle<String>) -> String {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        if let Some(result) = handle.wait_timeout(Duration::from_millis(5)) {
            return outcome(result);
        }
        mark(me);
        assert!(std::time::Instant::now() < deadline, "{me} polled too long");
    }
}

/// Polls the task handed over as `other` until it ends.
#[concurrent]
fn poll_for(me: u32, other: u32) -> String {
    let mut handle = take(other);
    record(me, poll_until_done(me, &mut handle))
}

/// Waits (blocking) for the task handed over as `other`.
#[concurrent]
fn wait_for(me: u32, other: u32) -> String {
    mark(me);
    record(me, outcome(take(other).wait()))
}

#[concurrent]
fn echo_text(text: String) -> String {
    text
}

/// Marks `me` as started, then holds its thread until `gate` opens.
#[concurrent]
fn held(me: u32, gate: u64) -> String {
    mark(me);
    pass_gate(gate);
    format!("held{me}")
}

fn pool(threads: usize, extra: usize) -> TaskPool {
    TaskPool::builder()
        .max_threads(threads)
        .extra_threads(extra)
        .time_limit(PATIENCE * 10)
        .build()
        .unwrap()
}

/// An `AsyncRunner` with two running slots: A, in one, waits for R, waiting in the runner,
/// while B holds the other slot. B's slot frees up, R runs: A's wait is legitimate.
#[test]
fn a_wait_for_an_async_runner_task_goes_on_while_another_slot_is_held_elsewhere() {
    let pool = pool(3, 0);
    let gate = 9_101;
    let runner = pool.async_runner(2, 0).unwrap();
    let b = runner.execute(Task::new(held, (100, gate)), Priority::Medium);
    let a = runner.execute(Task::new(poll_for, (101, 102)), Priority::Medium);
    let r = runner.execute(Task::new(echo_text, ("r".to_owned(),)), Priority::Medium);
    hand_over(102, r);
    wait_for_mark("A polled R while B held its slot", 101);
    open_gate(gate);
    assert_eq!(seen_by(101), "ok(r)");
    assert_eq!(bounded("B", move || b.wait()).unwrap(), "held100");
    assert_eq!(bounded("A", move || a.wait()).unwrap(), "ok(r)");
}

/// A waits for R, which its `SequenceRunner` holds behind S; S is itself blocked in a wait
/// for G, which ends normally. Nothing waits for A: A's wait goes on and gets R's value.
#[test]
fn a_wait_behind_a_sequence_runners_blocked_current_run_goes_on_when_it_ends() {
    let pool = pool(4, 0);
    let gate = 9_102;
    let g = pool.execute(Task::new(held, (110, gate)));
    hand_over(111, g);
    let runner = pool.sequence_runner(Priority::Medium);
    let s = runner.execute(Task::new(poll_for, (112, 111)));
    let r = runner.execute(Task::new(echo_text, ("r".to_owned(),)));
    hand_over(113, r);
    wait_for_mark("S polled G", 112);
    let a = pool.execute(Task::new(poll_for, (114, 113)));
    wait_for_mark("A polled R behind S", 114);
    open_gate(gate);
    assert_eq!(seen_by(112), "ok(held110)");
    assert_eq!(seen_by(114), "ok(r)");
    assert_eq!(bounded("S", move || s.wait()).unwrap(), "ok(held110)");
    assert_eq!(bounded("A", move || a.wait()).unwrap(), "ok(r)");
}

/// R depends on D, executed twice by reference: D's first run waits for G (which ends
/// normally) while its second run waits behind it. W waits for R: no cycle, W gets R's value
/// once D's first run succeeds.
#[test]
fn a_wait_for_a_dependent_whose_dependency_runs_twice_by_reference_goes_on() {
    let pool = pool(4, 0);
    let gate = 9_103;
    let g = pool.execute(Task::new(held, (120, gate)));
    hand_over(121, g);
    let d = Task::new(poll_for, (122, 121));
    let rt = Task::new(echo_text, ("r".to_owned(),));
    rt.add_dependency(&d).unwrap();
    let d1 = pool.execute(&d);
    let d2 = pool.execute(&d);
    let r = pool.execute(&rt);
    hand_over(123, r);
    wait_for_mark("D's first run polled G", 122);
    let w = pool.execute(Task::new(poll_for, (124, 123)));
    wait_for_mark("W polled R, held by its dependency", 124);
    open_gate(gate);
    assert_eq!(seen_by(124), "ok(r)");
    assert_eq!(bounded("D1", move || d1.wait()).unwrap(), "ok(held120)");
    // The second run of D waits for the handle 121 again: hand it a finished task.
    hand_over(121, pool.execute(Task::new(echo_text, ("g2".to_owned(),))));
    assert_eq!(bounded("D2", move || d2.wait()).unwrap(), "ok(g2)");
    assert_eq!(bounded("W", move || w.wait()).unwrap(), "ok(r)");
}

/// A task executed by reference twice: its first run waits for Z (a different task, which
/// ends normally) while the second waits behind it, and W waits for the second run.
#[test]
fn a_wait_for_a_second_run_by_reference_behind_a_first_one_that_waits_goes_on() {
    let pool = pool(4, 0);
    let gate = 9_104;
    let z = pool.execute(Task::new(held, (130, gate)));
    hand_over(131, z);
    let task = Task::new(poll_for, (132, 131));
    let run1 = pool.execute(&task);
    let run2 = pool.execute(&task);
    hand_over(133, run2);
    wait_for_mark("run 1 polled Z", 132);
    let w = pool.execute(Task::new(poll_for, (134, 133)));
    wait_for_mark("W polled run 2", 134);
    open_gate(gate);
    assert_eq!(
        bounded("run 1", move || run1.wait()).unwrap(),
        "ok(held130)"
    );
    hand_over(131, pool.execute(Task::new(echo_text, ("z2".to_owned(),))));
    assert_eq!(seen_by(134), "ok(ok(z2))");
    assert_eq!(bounded("W", move || w.wait()).unwrap(), "ok(ok(z2))");
}

/// Two pools, each with its IDLE lane. In pool 1, IDLE task I blocks waiting for W, in pool 2.
/// W waits for R, IDLE, held in pool 2's IDLE runner behind S, not started. Pool 1's lane,
/// held by I, is not pool 2's: S and R run, W gets R's value, then I gets W's.
#[test]
fn an_idle_lane_held_in_one_pool_does_not_hold_the_idle_work_of_another() {
    let pool1 = pool(2, 0);
    let pool2 = pool(2, 0);
    let i = pool1.execute_with_priority(Task::new(wait_for, (140, 141)), Priority::Idle);
    let runner = pool2.sequence_runner(Priority::Idle);
    let gate = 9_105;
    let s = runner.execute(Task::new(held, (142, gate)));
    let r = runner.execute(Task::new(echo_text, ("r".to_owned(),)));
    hand_over(143, r);
    let w = pool2.execute(Task::new(poll_for, (144, 143)));
    hand_over(141, w);
    wait_for_mark("I waits", 140);
    wait_for_mark("S started", 142);
    wait_until("W polled R", || MARKS.lock().unwrap().contains(&144));
    open_gate(gate);
    assert_eq!(seen_by(144), "ok(r)");
    assert_eq!(seen_by(140), "ok(ok(r))");
    assert_eq!(bounded("S", move || s.wait()).unwrap(), "held142");
    assert_eq!(bounded("I", move || i.wait()).unwrap(), "ok(ok(r))");
}

/// Like the above, with S not started yet when W first polls R (pool 2's IDLE lane is free,
/// pool 1's is held by I, which waits for W): the walk from R reaches S, IDLE and waiting,
/// which must not be taken as waiting behind pool 1's IDLE task.
#[test]
fn idle_work_not_started_in_one_pool_does_not_wait_behind_another_pools_idle_task() {
    let pool1 = pool(2, 0);
    let pool2 = pool(1, 0);
    let gate = 9_106;
    // Pool 2's one thread is held, so S cannot start until the gate opens.
    let blocker = pool2.execute(Task::new(held, (150, gate)));
    wait_for_mark("the blocker holds pool 2's thread", 150);
    let i = pool1.execute_with_priority(Task::new(wait_for, (151, 152)), Priority::Idle);
    let runner = pool2.sequence_runner(Priority::Idle);
    let s = runner.execute(Task::new(echo_text, ("s".to_owned(),)));
    let r = runner.execute(Task::new(echo_text, ("r".to_owned(),)));
    hand_over(153, r);
    // W runs in pool 1 (its second thread): medium, polling R.
    let w = pool1.execute(Task::new(poll_for, (154, 153)));
    hand_over(152, w);
    wait_for_mark("I waits for W", 151);
    wait_for_mark("W polled R", 154);
    open_gate(gate);
    assert_eq!(seen_by(154), "ok(r)");
    assert_eq!(seen_by(151), "ok(ok(r))");
    assert_eq!(
        bounded("blocker", move || blocker.wait()).unwrap(),
        "held150"
    );
    assert_eq!(bounded("S", move || s.wait()).unwrap(), "s");
    assert_eq!(bounded("I", move || i.wait()).unwrap(), "ok(ok(r))");
}

/// IDLE tasks waiting for IDLE tasks of their pool that can run inline: a chain of three.
#[test]
fn idle_tasks_blocking_on_idle_tasks_they_can_run_inline_get_their_values() {
    #[concurrent]
    fn idle_chain(depth: u32) -> String {
        if depth == 0 {
            return "leaf".to_owned();
        }
        let pool = POOL.get().unwrap();
        let child = pool.execute_with_priority(Task::new(idle_chain, (depth - 1,)), Priority::Idle);
        outcome(child.wait())
    }
    static POOL: std::sync::OnceLock<TaskPool> = std::sync::OnceLock::new();
    let pool = POOL.get_or_init(|| pool(2, 0));
    let top = pool.execute_with_priority(Task::new(idle_chain, (3,)), Priority::Idle);
    assert_eq!(
        bounded("the chain", move || top.wait()).unwrap(),
        "ok(ok(ok(leaf)))"
    );
}

/// An `async` IDLE task awaiting IDLE work held behind another IDLE task not started yet
/// (in an IDLE runner): it lets the lane go, so the work runs and the await ends.
#[test]
fn an_async_idle_task_awaiting_idle_work_held_behind_other_idle_work_gets_its_value() {
    #[concurrent]
    async fn await_tag(other: u32) -> String {
        outcome(take(other).await)
    }
    let pool = pool(1, 0);
    let runner = pool.sequence_runner(Priority::Idle);
    let a = pool.execute_with_priority(Task::new(await_tag, (161,)), Priority::Idle);
    let s = runner.execute(Task::new(echo_text, ("s".to_owned(),)));
    let r = runner.execute(Task::new(echo_text, ("r".to_owned(),)));
    hand_over(161, r);
    assert_eq!(bounded("A", move || a.wait()).unwrap(), "ok(r)");
    assert_eq!(bounded("S", move || s.wait()).unwrap(), "s");
}

/// A pool at its ceiling (one thread): A blocks on X, in another pool, and its thread stands
/// in for J, which polls K (another pool's task waiting for X too). Nothing waits for A or J:
/// once X ends, K, J and A do.
#[test]
fn a_stand_in_job_waiting_beside_its_outer_wait_goes_on() {
    let p = pool(1, 0);
    let q = pool(3, 0);
    let gate = 9_107;
    let x = q.execute(Task::new(held, (170, gate)));
    wait_for_mark("X holds a thread of Q", 170);
    hand_over(171, x);
    let a = p.execute(Task::new(wait_for, (172, 171)));
    wait_for_mark("A is about to wait", 172);
    let j = p.execute(Task::new(poll_for, (173, 174)));
    // K waits for the same X through a second handle: a task by reference run again.
    let k = q.execute(Task::new(poll_for, (175, 176)));
    hand_over(174, k);
    let x2 = q.execute(Task::new(held, (177, gate)));
    hand_over(176, x2);
    wait_for_mark("J, standing in, polled K", 173);
    wait_for_mark("K polled X2", 175);
    open_gate(gate);
    assert_eq!(seen_by(172), "ok(held170)");
    assert_eq!(seen_by(173), "ok(ok(held177))");
    assert_eq!(bounded("J", move || j.wait()).unwrap(), "ok(ok(held177))");
    assert_eq!(bounded("A", move || a.wait()).unwrap(), "ok(held170)");
}

/// A thread woken to stand in looks at what its wait needs, and waits of another pool that
/// register and end all the while must not keep it from ever standing in. P's only thread
/// blocks in A's wait for X, which executes on pool Q in no registered wait (so A's wait
/// cannot tell what it needs); three tasks on Q poll others without pause, registering a wait
/// and ending it each time. J, queued on P, runs in A's wait. Before, a look the churn had
/// outdated refused J, and nothing woke P's thread to look again: J waited until X's gate
/// opened (seen as a rare failure of the test above, whose binary's other tests churn).
#[test]
fn waits_coming_and_going_elsewhere_do_not_keep_a_waiting_thread_from_standing_in() {
    #[concurrent]
    fn churn(me: u32, other: u32) -> String {
        let mut handle = take(other);
        mark(me);
        loop {
            if let Some(result) = handle.wait_timeout(Duration::ZERO) {
                return record(me, outcome(result));
            }
        }
    }
    const CHURNERS: u32 = 3;
    let p = pool(1, 0);
    let q = pool(2 * CHURNERS as usize + 1, 0);
    let gate = 9_130;
    let x = q.execute(Task::new(held, (210, gate)));
    wait_for_mark("X holds a thread of Q", 210);
    // Each churner polls a task of its own that holds a thread of Q until the gate opens.
    let churners: Vec<_> = (0..CHURNERS)
        .map(|i| {
            let (polled, me) = (220 + 2 * i, 221 + 2 * i);
            hand_over(polled, q.execute(Task::new(held, (polled, gate))));
            let churner = q.execute(Task::new(churn, (me, polled)));
            wait_for_mark("a churner polls", me);
            (me, churner)
        })
        .collect();
    hand_over(214, x);
    let a = p.execute(Task::new(wait_for, (215, 214)));
    wait_for_mark("A is about to wait", 215);
    let j = p.execute(Task::new(held, (216, gate)));
    // Reading P's info takes its core lock, as a look does after it walked the registry:
    // each look waits there while C changes the registry.
    wait_until("J runs, standing in for A", || {
        drop(p.info());
        MARKS.lock().unwrap().contains(&216)
    });
    open_gate(gate);
    assert_eq!(seen_by(215), "ok(held210)");
    assert_eq!(bounded("J", move || j.wait()).unwrap(), "held216");
    assert_eq!(bounded("A", move || a.wait()).unwrap(), "ok(held210)");
    for (me, churner) in churners {
        let polled = format!("ok(held{})", me - 1);
        assert_eq!(seen_by(me), polled);
        assert_eq!(
            bounded("a churner", move || churner.wait()).unwrap(),
            polled
        );
    }
}

/// Stale entry of a stand-in: A, on the one thread of pool P, blocks on X (pool Q) and its
/// thread stands in for J, which holds it. X times out: its handle resolves while its call
/// still runs, so A's wait is over — but A's thread cannot notice before J returns, and A's
/// wait stays registered. X then waits for A: that is no cycle (A ends once J does), yet the
/// walk went A → A's registered target X, on X's own thread, and told X `WaitsForItself`.
#[test]
fn a_wait_whose_target_timed_out_is_not_followed_while_its_thread_stands_in() {
    #[concurrent]
    fn time_out_then_poll(me: u32, other: u32) -> String {
        mark(me);
        wait_until("X runs past its time limit", is_canceled);
        let mut handle = take(other);
        let seen = match handle.wait_timeout(Duration::from_millis(200)) {
            Some(result) => outcome(result),
            None => "still waiting".to_owned(),
        };
        record(me, seen)
    }
    let p = pool(1, 0);
    let q = TaskPool::builder()
        .max_threads(2)
        .extra_threads(0)
        .time_limit(Duration::from_secs(2))
        .build()
        .unwrap();
    let gate = 9_108;
    let x = q.execute(Task::new(time_out_then_poll, (180, 181)));
    wait_for_mark("X started", 180);
    hand_over(182, x);
    let a = p.execute(Task::new(wait_for, (183, 182)));
    let j = p.execute(Task::new(held, (184, gate)));
    // J can only start on P's one thread standing in for A, blocked in its wait for X.
    wait_for_mark("J stands in on A's thread", 184);
    hand_over(181, a);
    assert_eq!(seen_by(180), "still waiting");
    open_gate(gate);
    assert_eq!(seen_by(183), "TimedOut");
    assert_eq!(bounded("J", move || j.wait()).unwrap(), "held184");
}

#[concurrent]
fn dropped_late(_stall: support::StallOnDrop) -> String {
    String::new()
}

/// A time-out claims a run's handle and flags the run canceled before its settle hooks run,
/// and stores the outcome only after them: meanwhile the handle is not resolved, yet it will
/// be, whatever the run's call does. X times out; its dependency hook fails D, whose argument's
/// `Drop` holds the settling there. X, seeing itself flagged, waits for A, which waits for X:
/// no cycle (A's wait ends once the settling does, on another thread). The walk took X's
/// handle, still pending, for a live target and told X `WaitsForItself` (the stress loop hit
/// it in the test above when the supervisor was preempted between the flag and the store).
#[test]
fn a_wait_whose_target_s_time_out_is_still_settling_is_not_followed() {
    #[concurrent]
    fn time_out_then_poll_a(me: u32, other: u32) -> String {
        mark(me);
        wait_until("X runs past its time limit", is_canceled);
        let mut handle = take(other);
        let seen = match handle.wait_timeout(Duration::from_millis(50)) {
            Some(result) => outcome(result),
            None => "still waiting".to_owned(),
        };
        record(me, seen)
    }
    let gate = 9_140;
    let p = pool(1, 0);
    let q = TaskPool::builder()
        .max_threads(1)
        .extra_threads(0)
        .time_limit(Duration::from_millis(300))
        .build()
        .unwrap();
    let x = Task::new(time_out_then_poll_a, (300, 301));
    let d = Task::new(dropped_late, (support::StallOnDrop(gate),));
    d.add_dependency(&x).unwrap();
    let d = q.execute(d);
    let x = q.execute(x);
    wait_for_mark("X started", 300);
    hand_over(302, x);
    let a = p.execute(Task::new(wait_for, (303, 302)));
    wait_for_mark("A is about to wait", 303);
    hand_over(301, a);
    assert_eq!(seen_by(300), "still waiting");
    open_gate(gate);
    assert_eq!(seen_by(303), "TimedOut");
    assert!(matches!(
        d.wait(),
        Err(taskpool::Error::DependencyFailed { .. })
    ));
}

static FORK_POOLS: Mutex<Vec<(u32, &'static TaskPool)>> = Mutex::new(Vec::new());

fn fork_pool(tag: u32) -> &'static TaskPool {
    let pools = FORK_POOLS.lock().unwrap();
    pools.iter().find(|(t, _)| *t == tag).unwrap().1
}

/// Fork-join recursion: each call forks two children and blocks on both. A tree of waits has
/// no cycle — even with stand-ins nesting unrelated calls on a waiting thread's stack, a call
/// only waits for calls made after it started — so any `WaitsForItself` is a false one.
#[concurrent]
fn fib(pool: u32, n: u32, priority: u8) -> u64 {
    if n < 2 {
        return 1;
    }
    let priority = [
        Priority::High,
        Priority::Medium,
        Priority::Low,
        Priority::Idle,
    ][priority as usize];
    let fork = |n| {
        fork_pool(pool).execute_with_priority(Task::new(fib, (pool, n, priority as u8)), priority)
    };
    let (a, b) = (fork(n - 1), fork(n - 2));
    let b = b.wait().unwrap_or_else(|e| panic!("fib({}): {e:?}", n - 2));
    let a = a.wait().unwrap_or_else(|e| panic!("fib({}): {e:?}", n - 1));
    a + b
}

#[test]
fn fork_join_recursion_with_blocking_waits_is_never_told_a_cycle() {
    // (tag, max_threads, extra_threads): a ceiling of 2 makes waiting threads stand in, nesting
    // unrelated calls; 32 threads make many waits register at once.
    let shapes = [(1, 2, 0), (2, 4, 2), (3, 32, 0)];
    for (tag, max, extra) in shapes {
        let pool: &'static TaskPool = Box::leak(Box::new(pool(max, extra)));
        FORK_POOLS.lock().unwrap().push((tag, pool));
        for priority in [1u8, 3] {
            let top = pool.execute(Task::new(fib, (tag, 14, priority)));
            let value = bounded("fork-join", move || top.wait());
            assert_eq!(
                value.unwrap(),
                610,
                "{max}+{extra} threads, priority {priority}"
            );
        }
    }
}

/// Links of a chain, by position: link `i` waits for link `i - 1` (see `link`).
static LINKS: Mutex<Vec<(u32, TaskHandle<u32>)>> = Mutex::new(Vec::new());

/// Link `i` of a chain: blocks on link `i - 1`, submitted just before it; its value is its
/// position, or `u32::MAX` if its wait was told `WaitsForItself`.
#[concurrent]
fn link(i: u32) -> u32 {
    if i == 0 {
        return 0;
    }
    let before = take_from(&LINKS, i - 1);
    match before.wait() {
        Ok(value) if value == i - 1 => i,
        _ => u32::MAX,
    }
}

/// A chain of tasks, each blocking on the one submitted just before it, with more of them
/// blocked than the pool's ceiling allows threads: no cycle, so every link gets its value.
/// Before, a thread standing in at the ceiling took any waiting link, stacked on top of its
/// own; a later link then waited, through the chain, for the one beneath it on that thread,
/// and was told `WaitsForItself` (in most rounds at 32 + 32 threads; before the registry,
/// that stalled until the time limit). A waiting thread now stands in only with what its
/// wait needs (`waits::Needs`).
#[test]
fn a_chain_of_blocking_waits_longer_than_the_ceiling_is_never_told_a_cycle() {
    const LINK_COUNT: u32 = 3_000;
    for (max, extra) in [(32, 32), (2, 2)] {
        let pool = pool(max, extra);
        for round in 0..3 {
            for i in 0..LINK_COUNT {
                let handle = pool.run(link, (i,));
                LINKS.lock().unwrap().push((i, handle));
            }
            let last = take_from(&LINKS, LINK_COUNT - 1);
            let value = bounded("the last link", move || last.wait()).unwrap();
            assert_eq!(
                value,
                LINK_COUNT - 1,
                "{max} + {extra} threads, round {round}"
            );
        }
    }
}

/// At the ceiling, a waiting thread stands in with the very job its wait needs, out of turn:
/// A, on the only thread, waits for I, an IDLE task (not run inline: A is not IDLE), queued
/// behind U, an unrelated MEDIUM task. I runs on A's thread and A finishes; U is not stacked
/// on A's wait, and runs after A, in turn.
#[test]
fn a_waiting_thread_at_the_ceiling_stands_in_with_what_it_waits_for_out_of_turn() {
    let pool = pool(1, 0);
    let gate = 9_120;
    let a = pool.execute(Task::new(wait_for, (200, 201)));
    support::wait_until_executing(&pool, a.id());
    let u = pool.execute(Task::new(echo_text, ("u".to_owned(),)));
    let i = pool.execute_with_priority(Task::new(held, (202, gate)), Priority::Idle);
    hand_over(201, i);
    wait_for_mark("I runs, standing in for A", 202);
    assert!(!u.is_finished(), "U waits: it is not what A waits for");
    open_gate(gate);
    assert_eq!(seen_by(200), "ok(held202)");
    assert_eq!(bounded("A", move || a.wait()).unwrap(), "ok(held202)");
    assert_eq!(bounded("U", move || u.wait()).unwrap(), "u");
}

/// Every way a wait ends leaves nothing behind: the waited task panics, is canceled while the
/// wait blocks, or the waiting task times out. After each, the same two tasks (by reference)
/// wait for each other the other way round without being told anything, and a real cycle
/// between two fresh tasks is still told.
#[test]
fn waits_ended_by_a_panic_a_cancel_or_a_time_out_leave_nothing_behind() {
    #[concurrent]
    fn panic_after(gate: u64) -> String {
        pass_gate(gate);
        panic!("the waited task panics");
    }
    #[concurrent]
    fn wait_then_time_out(me: u32, other: u32) -> String {
        let mut handle = take(other);
        mark(me);
        let seen = poll_until_done(me + 1, &mut handle);
        wait_until("the waiter runs past its limit", is_canceled);
        record(me, seen)
    }
    let pool = pool(3, 0);
    // The waited task panics while A waits for it.
    let gate = 9_110;
    let b = pool.execute(Task::new(panic_after, (gate,)));
    hand_over(191, b);
    let a = pool.execute(Task::new(wait_for, (190, 191)));
    wait_for_mark("A waits for B", 190);
    open_gate(gate);
    assert_eq!(seen_by(190), "Panicked");
    assert_eq!(bounded("A", move || a.wait()).unwrap(), "Panicked");
    // The waited task is canceled while A's wait blocks (it was held: it never started).
    let runner = pool.sequence_runner(Priority::Medium);
    let gate = 9_111;
    let s = runner.execute(Task::new(held, (192, gate)));
    let r = runner.execute(Task::new(echo_text, ("r".to_owned(),)));
    let r_id = r.id();
    hand_over(193, r);
    let a = pool.execute(Task::new(poll_for, (194, 193)));
    wait_for_mark("A polls R", 194);
    pool.cancel(r_id).unwrap();
    assert_eq!(seen_by(194), "Canceled");
    open_gate(gate);
    assert_eq!(bounded("S", move || s.wait()).unwrap(), "held192");
    assert_eq!(bounded("A", move || a.wait()).unwrap(), "Canceled");
    // The waiting task times out while it waits: its wait still ends when the target does.
    let short = TaskPool::builder()
        .max_threads(2)
        .time_limit(support::SHORT_LIMIT)
        .build()
        .unwrap();
    let gate = 9_112;
    let b = pool.execute(Task::new(held, (195, gate)));
    hand_over(196, b);
    let a = short.execute(Task::new(wait_then_time_out, (197, 196)));
    wait_for_mark("A polls B", 198);
    assert!(matches!(
        bounded("A", move || a.wait()),
        Err(taskpool::Error::TimedOut { .. })
    ));
    open_gate(gate);
    assert_eq!(seen_by(197), "ok(held195)");
    // The same tasks by reference, waiting the other way round: no cycle, no error.
    let gate_a = 9_113;
    let ta = Task::new(held, (200, gate_a));
    let tb = Task::new(wait_for, (201, 202));
    for _ in 0..2 {
        let a = pool.execute(&ta);
        let b = pool.execute(&tb);
        hand_over(202, a);
        wait_for_mark("B waits for A", 201);
        open_gate(gate_a);
        assert_eq!(seen_by(201), "ok(held200)");
        assert_eq!(bounded("B", move || b.wait()).unwrap(), "ok(held200)");
        MARKS.lock().unwrap().retain(|&m| m != 201);
    }
    // A real cycle is still told.
    let x = pool.execute(Task::new(wait_for, (203, 204)));
    let y = pool.execute(Task::new(wait_for, (204, 203)));
    hand_over(203, x);
    hand_over(204, y);
    let mut seen = [seen_by(203), seen_by(204)];
    seen.sort();
    assert_eq!(seen, ["WaitsForItself", "ok(WaitsForItself)"]);
}

/// S, the current run of a `SequenceRunner`, times out (its handle resolves, its call goes on
/// and keeps the runner's turn), then blocks waiting for Z, in another pool. Z then waits for
/// R, queued behind S: R waits for S's call to return, which waits for Z — a cycle. The walk
/// stopped at S because it was resolved, so Z waited until a time limit ended it (here: until
/// it gave up); now the wait that closes the cycle is told at once, and its error, returned,
/// ends the other's wait.
#[test]
fn a_cycle_through_a_runners_timed_out_current_run_is_told() {
    #[concurrent]
    fn time_out_then_wait(me: u32, other: u32) -> String {
        wait_until("S runs past its time limit", is_canceled);
        let handle = take(other);
        mark(me);
        record(me, outcome(handle.wait()))
    }
    /// Polls the task handed over as `other` once `after` marked itself, until told or out of
    /// patience.
    #[concurrent]
    fn poll_after(me: u32, other: u32, after: u32) -> String {
        let mut handle = take(other);
        wait_for_mark("the other task is about to wait", after);
        let deadline = std::time::Instant::now() + PATIENCE / 2;
        let seen = loop {
            if let Some(result) = handle.wait_timeout(Duration::from_millis(5)) {
                break outcome(result);
            }
            if std::time::Instant::now() > deadline {
                break "still waiting".to_owned();
            }
        };
        record(me, seen)
    }
    let p = TaskPool::builder()
        .max_threads(2)
        .extra_threads(0)
        .time_limit(Duration::from_millis(300))
        .build()
        .unwrap();
    let q = pool(2, 0);
    let runner = p.sequence_runner(Priority::Medium);
    let s = runner.execute(Task::new(time_out_then_wait, (210, 211)));
    let r = runner.execute(Task::new(echo_text, ("r".to_owned(),)));
    hand_over(212, r);
    let z = q.execute(Task::new(poll_after, (213, 212, 210)));
    hand_over(211, z);
    // Whichever of the two closes the cycle is told: Z (S registered first, the usual case;
    // before the fix Z was told nothing and gave up), or S (Z's poll registered first).
    let seen = (seen_by(213), seen_by(210));
    let told_z = ("WaitsForItself".to_owned(), "ok(WaitsForItself)".to_owned());
    let told_s = ("ok(r)".to_owned(), "WaitsForItself".to_owned());
    assert!(seen == told_z || seen == told_s, "{seen:?}");
    assert!(matches!(
        bounded("S", move || s.wait()),
        Err(taskpool::Error::TimedOut { .. })
    ));
}

/// An `async` task polled on a thread standing in for B (blocked in a wait for X) awaits Y,
/// which is blocked waiting for B. No cycle: the await suspends and gives the thread back, so
/// B does not wait for it — B waits for X only. The await looked at every run of its thread as
/// its own, reached B through Y, and failed with `WaitsForItself`; only the run polled is.
#[test]
fn an_await_on_a_stand_in_thread_does_not_count_the_blocked_runs_beneath_it() {
    #[concurrent]
    async fn await_tag(me: u32, other: u32) -> String {
        let seen = outcome(take(other).await);
        record(me, seen)
    }
    let p = pool(1, 0);
    let q = pool(2, 1);
    let gate = 9_120;
    let x = q.execute(Task::new(held, (220, gate)));
    hand_over(221, x);
    wait_for_mark("X holds a thread of Q", 220);
    let b = p.execute(Task::new(wait_for, (222, 221)));
    wait_for_mark("B is about to wait for X", 222);
    hand_over(223, b);
    let y = q.execute(Task::new(wait_for, (224, 223)));
    hand_over(225, y);
    wait_for_mark("Y is about to wait for B", 224);
    // Q may add a thread only once Y blocks (X holds the other): then Y's wait is registered.
    let sentinel = q.execute(Task::new(echo_text, ("sentinel".to_owned(),)));
    assert_eq!(
        bounded("the sentinel", move || sentinel.wait()).unwrap(),
        "sentinel"
    );
    // P's one thread is B's, blocked: A can only be polled by it, standing in.
    let a = p.execute(Task::new(await_tag, (226, 225)));
    open_gate(gate);
    assert_eq!(seen_by(226), "ok(ok(ok(held220)))");
    assert_eq!(
        bounded("A", move || a.wait()).unwrap(),
        "ok(ok(ok(held220)))"
    );
}

/// The other side of the above: B waits for A, an `async` task it runs inline (A had not
/// started), and A awaits Y, which is blocked waiting for B. That is a cycle — B waits for A,
/// beneath it — and A's first poll, before B's wait is registered, is told at once.
#[test]
fn an_await_inside_a_run_executed_inline_by_its_waiter_still_counts_that_waiter() {
    #[concurrent]
    async fn await_tag(me: u32, other: u32) -> String {
        let seen = outcome(take(other).await);
        record(me, seen)
    }
    let p = pool(1, 0);
    let q = pool(1, 1);
    let b = p.execute(Task::new(wait_for, (230, 231)));
    wait_for_mark("B runs", 230);
    hand_over(234, b);
    let y = q.execute(Task::new(wait_for, (232, 234)));
    wait_for_mark("Y is about to wait for B", 232);
    // Q may add a thread only once Y blocks: then Y's wait is registered.
    let sentinel = q.execute(Task::new(echo_text, ("sentinel".to_owned(),)));
    assert_eq!(
        bounded("the sentinel", move || sentinel.wait()).unwrap(),
        "sentinel"
    );
    hand_over(233, y);
    // P's one thread is B's: A waits in the queue until B runs it inline.
    let a = p.execute(Task::new(await_tag, (235, 233)));
    hand_over(231, a);
    assert_eq!(seen_by(235), "WaitsForItself");
    assert_eq!(seen_by(230), "ok(WaitsForItself)");
    assert_eq!(seen_by(232), "ok(ok(WaitsForItself))");
}

/// A pool shut down while one of its tasks blocks in a registered wait for another: the wait
/// ends with the shutdown and leaves nothing behind — a fresh pool's tasks then
/// wait in a chain without being told anything, and a real cycle there is still told.
#[test]
fn a_pool_shut_down_while_its_tasks_wait_leaves_no_wait_behind() {
    let p = pool(2, 0);
    let gate = 9_130;
    let b = p.execute(Task::new(held, (240, gate)));
    hand_over(241, b);
    let a = p.execute(Task::new(wait_for, (242, 241)));
    wait_for_mark("B holds its thread", 240);
    wait_for_mark("A is about to wait for B", 242);
    // B's call outlasts the shutdown's timeout: its handle resolves as shut down.
    p.shutdown_timeout(Duration::from_millis(50));
    assert_eq!(seen_by(242), "PoolShutDown");
    open_gate(gate);
    drop(a);
    let fresh = pool(3, 0);
    let c = fresh.execute(Task::new(echo_text, ("c".to_owned(),)));
    hand_over(243, c);
    let d = fresh.execute(Task::new(wait_for, (244, 243)));
    hand_over(245, d);
    let e = fresh.execute(Task::new(wait_for, (246, 245)));
    assert_eq!(bounded("E", move || e.wait()).unwrap(), "ok(ok(c))");
    let x = fresh.execute(Task::new(wait_for, (247, 248)));
    let y = fresh.execute(Task::new(wait_for, (248, 247)));
    hand_over(247, x);
    hand_over(248, y);
    let mut seen = [seen_by(247), seen_by(248)];
    seen.sort();
    assert_eq!(seen, ["WaitsForItself", "ok(WaitsForItself)"]);
}
