//! The timer's relay under churn: many wakers blocking at once, wakers that block and then
//! panic, and the timer's own threads coming back down to a server and a standby afterwards.
//! One test per concern, serialized (they count the process's timer threads).

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use support::wait_until;
use support::wakers::{BlocksInWake, OpensOnDrop};
use taskpool::{Sleep, sleep};

/// Serializes the tests: each counts the timer threads of the process.
static SERIAL: Mutex<()> = Mutex::new(());

/// The threads the timer keeps when none is stuck in a user waker: a server and a standby.
const TIMER_THREADS_AT_REST: usize = 2;

fn poll(sleep: &mut Sleep, waker: &Waker) -> Poll<()> {
    Pin::new(sleep).poll(&mut Context::from_waker(waker))
}

#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A fresh 1 ms sleep completes.
fn sleep_through() {
    let counter = Arc::new(Counter::default());
    let waker = Waker::from(counter.clone());
    let mut nap = sleep(Duration::from_millis(1));
    if poll(&mut nap, &waker).is_ready() {
        return;
    }
    wait_until("a short sleep is woken", || {
        counter.0.load(Ordering::SeqCst) > 0
    });
    assert!(poll(&mut nap, &waker).is_ready());
}

/// Registers one 1 ms sleep per gate, each with a waker blocking at that gate, all at once;
/// returns once every one of them is inside its wake.
fn block_many(gates: &[u64], panics: bool) -> Vec<(Arc<BlocksInWake>, Sleep)> {
    let blocked: Vec<_> = gates
        .iter()
        .map(|&gate| {
            let blocker = BlocksInWake::new(gate, panics);
            let mut stuck = sleep(Duration::from_millis(1));
            assert!(poll(&mut stuck, &Waker::from(blocker.clone())).is_pending());
            (blocker, stuck)
        })
        .collect();
    wait_until("every blocking waker is entered", || {
        entered(&blocked) == gates.len()
    });
    blocked
}

fn entered(blocked: &[(Arc<BlocksInWake>, Sleep)]) -> usize {
    blocked.iter().map(|(blocker, _)| blocker.entered()).sum()
}

/// Opens every blocker's gate and waits until each wake returned.
fn release_all(blocked: &[(Arc<BlocksInWake>, Sleep)]) {
    for (blocker, _) in blocked {
        support::open_gate(blocker.gate());
    }
    wait_until("every blocking waker returns", || {
        blocked.iter().all(|(blocker, _)| blocker.returned() == 1)
    });
}

/// Waits until the timer is back to a server and a standby.
fn timer_threads_back_at_rest() {
    wait_until(
        "the timer's threads come back to a server and a standby",
        || support::threads_named("taskpool-timer") <= TIMER_THREADS_AT_REST,
    );
}

/// Eight wakers due together, each blocking: every one is entered (each holds up only the
/// thread that woke it), a later sleep is served meanwhile, and once they return the timer
/// comes back to its two threads.
#[test]
fn eight_wakers_blocking_together_are_each_taken_over_and_the_threads_come_back() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let gates: Vec<u64> = (97_100..97_108).collect();
    let _open = OpensOnDrop(gates.clone());
    let blocked = block_many(&gates, false);
    sleep_through();
    assert!(
        support::threads_named("taskpool-timer") > TIMER_THREADS_AT_REST,
        "each stuck wake holds a thread"
    );
    release_all(&blocked);
    timer_threads_back_at_rest();
    assert_eq!(entered(&blocked), 8, "each waker was woken once");
    sleep_through();
}

/// Wakers that block and then panic: the panic is contained on the thread that woke them, and
/// the timer goes on serving with its threads back at rest.
#[test]
fn wakers_that_block_then_panic_leave_the_timer_serving() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let gates: Vec<u64> = (97_110..97_113).collect();
    let _open = OpensOnDrop(gates.clone());
    let blocked = block_many(&gates, true);
    sleep_through();
    release_all(&blocked);
    for _ in 0..20 {
        sleep_through();
    }
    timer_threads_back_at_rest();
}

/// A sleep dropped while its waker blocks (its entry fired already), and sleeps registered and
/// dropped while the server is stuck, leave nothing behind: later sleeps are served.
#[test]
fn sleeps_dropped_while_the_server_is_stuck_are_forgotten() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let gates = [97_120];
    let _open = OpensOnDrop(gates.to_vec());
    let mut blocked = block_many(&gates, false);
    let (blocker, stuck) = blocked.pop().unwrap();
    drop(stuck);
    let counter = Arc::new(Counter::default());
    let waker = Waker::from(counter.clone());
    for _ in 0..1000 {
        let mut abandoned = sleep(Duration::from_millis(1));
        assert!(poll(&mut abandoned, &waker).is_pending());
    }
    sleep_through();
    support::open_gate(gates[0]);
    wait_until("the blocking waker returns", || blocker.returned() == 1);
    sleep_through();
    assert_eq!(blocker.entered(), 1);
}
