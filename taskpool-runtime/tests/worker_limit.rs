//! The process-wide cap on live workers (64, as in ArkTS; 10200003 beyond). A test binary of
//! its own, and one test, because the cap counts every worker of the process.

mod support;

use std::time::Duration;

use support::echo::Gated;
use support::{open_gate, wait_until};
use taskpool::Worker;

#[test]
fn at_most_the_cap_of_workers_live_at_once() {
    assert_eq!(taskpool::max_workers(), taskpool::DEFAULT_MAX_WORKERS);
    assert_eq!(taskpool::DEFAULT_MAX_WORKERS, 64);

    // 64 live workers: the 65th is refused with 10200003.
    let mut workers: Vec<_> = (0..64).map(|_| Worker::new(|| Gated).unwrap()).collect();
    assert_eq!(taskpool::live_workers(), 64);
    let error = Worker::new(|| Gated).unwrap_err();
    assert_eq!(error.code(), Some(10200003));
    assert!(error.to_string().contains("64 live workers"), "{error}");

    // Dropping one frees its slot at once (the drop joins its thread).
    workers.pop();
    assert_eq!(taskpool::live_workers(), 63);
    workers.push(Worker::new(|| Gated).unwrap());

    // A terminated worker frees its slot when its thread ends, before its exit is reported.
    let last = workers.last().unwrap();
    last.terminate().unwrap();
    assert_eq!(last.wait_for_exit(), 0);
    assert_eq!(taskpool::live_workers(), 63);
    let extra = Worker::new(|| Gated).unwrap();
    assert!(Worker::new(|| Gated).is_err());
    drop(extra);
    workers.clear();
    assert_eq!(taskpool::live_workers(), 0);

    // A detached worker (its handler did not return within the join timeout) still counts
    // until its thread ends.
    taskpool::set_max_workers(1);
    const GATE: u64 = 1;
    let stuck = Worker::builder()
        .join_timeout(Duration::from_millis(10))
        .spawn(|| Gated)
        .unwrap();
    stuck.post_message(GATE).unwrap();
    assert_eq!(stuck.recv(), Some(GATE));
    drop(stuck);
    assert_eq!(taskpool::live_workers(), 1);
    assert_eq!(Worker::new(|| Gated).unwrap_err().code(), Some(10200003));
    open_gate(GATE);
    wait_until("the detached worker ends", || taskpool::live_workers() == 0);

    // The cap is configurable.
    let one = Worker::new(|| Gated).unwrap();
    assert_eq!(Worker::new(|| Gated).unwrap_err().code(), Some(10200003));
    taskpool::set_max_workers(2);
    let two = Worker::new(|| Gated).unwrap();
    drop((one, two));
    taskpool::set_max_workers(taskpool::DEFAULT_MAX_WORKERS);
    assert_eq!(taskpool::live_workers(), 0);
}
