//! More probes of the TaskPool API and its composition layer against `js-apis-taskpool.md`
//! (openharmony/docs) and against bad input and faults: each test here failed before the fix
//! its commit made. Every wait is on a gate or a condition with a generous timeout.

mod support;

use support::{open_gate, pass_gate, wait_until_executing};
use taskpool::{Task, TaskPool, concurrent};

/// Gate ids of this file.
const G: u64 = 95_000;

/// Waits for its gate, then sends the gate to the host; returns it if the send went through.
#[concurrent]
fn hold_then_send(gate: u64) -> u64 {
    pass_gate(gate);
    taskpool::send_data(gate).map_or(0, |()| gate)
}

/// A task renamed (`with_name`) while a run of it is alive is still the same task: the run
/// that ends marks it done with its durations, and its later runs reach the receiver
/// registered on it. (The renamed task got a fresh copy of its record: `is_done()` stayed
/// false, `durations()` `None`, and `send_data` from a later run failed with 10200024.)
#[test]
fn a_task_renamed_while_a_run_of_it_is_alive_keeps_its_state() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let task = Task::new(hold_then_send, (G + 1,));
    let (tx, rx) = std::sync::mpsc::channel();
    task.on_receive_data(move |value: u64| tx.send(value).unwrap());
    let first = pool.execute(&task);
    wait_until_executing(&pool, first.id());
    let task = task.with_name("renamed");
    assert_eq!(task.name(), "renamed");
    open_gate(G + 1);
    assert_eq!(first.wait().unwrap(), G + 1);
    assert_eq!(rx.recv_timeout(support::PATIENCE).unwrap(), G + 1);
    assert!(task.is_done(), "a run of the task has ended");
    assert!(task.durations().is_some(), "the ended run's durations");
    let second = pool.execute(&task);
    assert_eq!(second.wait().unwrap(), G + 1, "sent to the task's receiver");
    assert_eq!(rx.recv_timeout(support::PATIENCE).unwrap(), G + 1);
}
