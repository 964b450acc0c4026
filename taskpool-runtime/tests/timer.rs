//! `sleep` through the public API, on the process-wide timer thread: extreme durations, and
//! wakers that misbehave.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use support::wait_until;
use taskpool::{Sleep, sleep};

/// Records that it was woken; panics in `wake` when asked to, as a faulty user waker might.
struct Flag {
    woken: AtomicBool,
    panics: bool,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        assert!(!self.panics, "a waker that panics");
    }
}

fn flag(panics: bool) -> (Arc<Flag>, Waker) {
    let flag = Arc::new(Flag {
        woken: AtomicBool::new(false),
        panics,
    });
    (flag.clone(), Waker::from(flag))
}

fn poll(sleep: &mut Sleep, waker: &Waker) -> Poll<()> {
    Pin::new(sleep).poll(&mut Context::from_waker(waker))
}

#[test]
fn sleeping_for_duration_max_does_not_panic_and_stays_pending() {
    let (woken, waker) = flag(false);
    let mut forever = sleep(Duration::MAX);
    assert!(poll(&mut forever, &waker).is_pending());
    std::thread::sleep(Duration::from_millis(20));
    assert!(poll(&mut forever, &waker).is_pending());
    assert!(!woken.woken.load(Ordering::SeqCst));
}

#[test]
fn a_panicking_waker_does_not_stop_later_sleeps() {
    let (doomed, panicky_waker) = flag(true);
    let mut first = sleep(Duration::from_millis(1));
    assert!(poll(&mut first, &panicky_waker).is_pending());
    wait_until("the panicking waker is woken", || {
        doomed.woken.load(Ordering::SeqCst)
    });

    let (woken, waker) = flag(false);
    let mut second = sleep(Duration::from_millis(1));
    assert!(poll(&mut second, &waker).is_pending());
    wait_until("a later sleep is woken", || {
        woken.woken.load(Ordering::SeqCst)
    });
    assert!(poll(&mut second, &waker).is_ready());
}

#[test]
fn a_zero_sleep_is_ready_at_once() {
    assert!(poll(&mut sleep(Duration::ZERO), Waker::noop()).is_ready());
}
