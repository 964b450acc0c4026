//! A dependency chain 100 000 links long under one sink: each link's cycle check must not walk
//! the chain built so far. Regression test: the check walked forward from the new dependency
//! only, so every link cost the whole chain (quadratic; the build never ended in a minute).
//!
//! In a child process: a thread left behind by a stall would keep the process-wide dependency
//! graph's lock. No assertion on speed: the chain gets a minute, which a linear build takes with
//! room to spare and a quadratic one never does.

mod support;

use std::time::Duration;

use support::in_child_process;
use taskpool::{Task, concurrent};

/// The length of the chain.
const N: u32 = 100_000;
/// How long a linear build of the chain may take, however loaded the machine.
const GENEROUS: Duration = Duration::from_secs(60);

#[concurrent]
fn echo(n: u32) -> u32 {
    n
}

/// Runs `f` on a thread with a roomy stack and returns its result, or fails after `limit`
/// (the thread, stalled, is left behind).
fn within<R: Send + 'static>(limit: Duration, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let _ = tx.send(f());
        })
        .unwrap();
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("no answer within {limit:?}"))
}

/// A sink depends on every step, then each step depends on the one before: every link is
/// added to a task with a dependent, the sink.
#[test]
fn a_chain_under_a_sink_100k_is_built() {
    in_child_process("a_chain_under_a_sink_100k_is_built", || {
        let (sink, steps) = within(GENEROUS, || {
            let sink = Task::new(echo, (u32::MAX,));
            let steps: Vec<_> = (0..N).map(|i| Task::new(echo, (i,))).collect();
            for step in &steps {
                sink.add_dependency(step).unwrap();
            }
            for pair in steps.windows(2) {
                pair[1].add_dependency(&pair[0]).unwrap();
            }
            (sink, steps)
        });
        // The chain is whole: closing it into a cycle is refused.
        let closing = steps[0].add_dependency(steps.last().unwrap()).unwrap_err();
        assert_eq!(closing.code(), Some(10200026));
        let closing = steps[0].add_dependency(&sink).unwrap_err();
        assert_eq!(closing.code(), Some(10200026));
        // Unneeded: the child ends without dropping the graph.
        std::process::exit(0);
    });
}
