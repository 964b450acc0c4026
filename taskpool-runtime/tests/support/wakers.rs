//! Wakers of broken executors, what the containment tests poll with: one whose `wake` panics,
//! one that blocks in `wake` until a gate opens.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

/// A waker whose `wake` panics, counting the attempts.
#[derive(Default)]
pub struct PanickingWaker(AtomicUsize);

impl PanickingWaker {
    /// How many times it was woken.
    pub fn woken(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// A fresh one, and a `Waker` of it.
    pub fn new_waker() -> (Arc<PanickingWaker>, Waker) {
        let counter = Arc::new(PanickingWaker::default());
        let waker = Waker::from(Arc::clone(&counter));
        (counter, waker)
    }
}

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("this waker panics");
    }
}

/// Polls `future` once with a waker that panics when woken.
pub fn poll_with_panicking_waker<F: Future + Unpin>(
    future: &mut F,
) -> (Poll<F::Output>, Arc<PanickingWaker>) {
    let (counter, waker) = PanickingWaker::new_waker();
    let poll = Pin::new(future).poll(&mut Context::from_waker(&waker));
    (poll, counter)
}

/// A waker whose task panics when its last reference is dropped (a broken executor whose
/// task asserts in `Drop`); waking it does nothing.
pub struct PanicsWhenDropped;

impl PanicsWhenDropped {
    /// A `Waker` of a fresh one: the caller's copy is the only reference until it is cloned.
    pub fn waker() -> Waker {
        Waker::from(Arc::new(PanicsWhenDropped))
    }
}

impl Wake for PanicsWhenDropped {
    fn wake(self: Arc<Self>) {}
}

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        panic!("this waker's task panics when dropped");
    }
}

/// Blocks in `wake` until its gate opens (or the gate's patience runs out), as a faulty user
/// waker might, then panics if `panics`; counts the wakes it entered and the ones that returned.
pub struct BlocksInWake {
    gate: u64,
    panics: bool,
    entered: AtomicUsize,
    returned: AtomicUsize,
}

impl BlocksInWake {
    /// One that blocks at `gate`, then panics if `panics`.
    pub fn new(gate: u64, panics: bool) -> Arc<BlocksInWake> {
        Arc::new(BlocksInWake {
            gate,
            panics,
            entered: AtomicUsize::new(0),
            returned: AtomicUsize::new(0),
        })
    }

    /// Its gate.
    pub fn gate(&self) -> u64 {
        self.gate
    }

    /// How many wakes entered it.
    pub fn entered(&self) -> usize {
        self.entered.load(Ordering::SeqCst)
    }

    /// How many wakes returned from it (or panicked, once released).
    pub fn returned(&self) -> usize {
        self.returned.load(Ordering::SeqCst)
    }
}

impl Wake for BlocksInWake {
    fn wake(self: Arc<Self>) {
        self.entered.fetch_add(1, Ordering::SeqCst);
        super::pass_gate(self.gate);
        self.returned.fetch_add(1, Ordering::SeqCst);
        if self.panics {
            panic!("a waker panics after blocking");
        }
    }
}

/// Opens its gates when dropped, so a failing test leaves no thread blocked at them.
pub struct OpensOnDrop(pub Vec<u64>);

impl Drop for OpensOnDrop {
    fn drop(&mut self) {
        for &gate in &self.0 {
            super::open_gate(gate);
        }
    }
}
