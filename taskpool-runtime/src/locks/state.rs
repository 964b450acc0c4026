//! The state machine of one lock: who holds it, in which mode, and who waits in which order.
//!
//! Pure data, no synchronization: [`LockCore`](super::core::LockCore) keeps it under a mutex
//! and wakes the wakers it returns after unlocking.
//!
//! # The rules
//!
//! * **Modes.** The holders are one exclusive request or any number of shared ones.
//! * **Arrival order.** A waiting request is granted at once only if it would not overtake
//!   anyone: the queue is empty (or holds only shared requests that may already go, and it is
//!   shared too) and no holder conflicts. Otherwise it queues at the back.
//! * **Eligibility.** The *eligible* waiters are the front of the queue: the first waiter if no
//!   holder conflicts with it, and, when it is shared, every shared waiter right behind it.
//!   Every waiter that becomes eligible is woken (its waker is returned); it takes the lock when
//!   it runs ([`LockState::poll`]). The lock is reserved for them, not handed over: a woken
//!   waiter holds nothing until it runs, so a snapshot never shows a holder that is in fact
//!   still waiting for a thread.
//! * **Bounded overtaking.** A new exclusive request may take a free lock reserved for a woken
//!   exclusive waiter that has not run yet, at most [`OVERTAKE_LIMIT`] times per waiter; after
//!   that it queues. Without it, under contention every hand-over would need the next holder to
//!   be scheduled while the releasing thread, asking again, goes to sleep: a context switch per
//!   acquisition. Shared requests never overtake an exclusive one.
//! * **Woken once.** A waiter is woken when it becomes eligible and not again until it has run
//!   (a blocked thread's wake-up costs a system call).
//! * **Tries never wait.** A try ([`Policy::Try`]: `try_lock`, `is_available`, a zero timeout) is
//!   granted if no holder conflicts — it may take a free lock reserved for a woken waiter that
//!   has not run yet — except that a shared try yields to any waiting exclusive request, so
//!   readers cannot starve a writer even by trying.
//! * **Giving up.** A waiter that leaves (timeout, abort, dropped future) is removed; the waiters
//!   its departure makes eligible are woken, so a wake-up is never lost. An abort, and the
//!   timeout of an async waiter, remove the waiter themselves (`AbortSignal::abort`, the
//!   request's `Deadline` in `deadline.rs`, through `Timeout` in `core.rs`), without waiting for
//!   the waiter to run. A waiter whose waker panics when woken leaves the same way (`LockCore`
//!   cancels it): the lock is not kept reserved for a task that cannot be told its turn came.
//!
//! Only the waiter itself moves from the queue to the holders, so a waiter that times out or is
//! aborted never races a grant made on its behalf: an abort or expiry that comes after the
//! grant finds no waiter to remove, and a waiter that finds itself removed knows why.

use std::collections::VecDeque;
use std::task::Waker;

use super::discarded::{Discarded, Taken};
use super::options::AsyncLockMode;
use super::who::Who;
use crate::waker_offer::Offer;

/// Identifies one request (a holder or a waiter) of one lock.
pub(crate) type RequestId = u64;

/// Whether a request may wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Policy {
    /// Queue if it cannot be granted at once.
    Wait,
    /// Never queue: granted at once or refused.
    Try,
}

/// The outcome of [`LockState::request`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Requested {
    Granted(RequestId),
    Queued(RequestId),
    Refused,
}

/// The outcome of [`LockState::poll`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Polled {
    /// The waiter now holds the lock.
    Granted,
    /// Still waiting; its waker was updated.
    Waiting,
    /// No such waiter (it was granted or left already).
    Unknown,
}

/// A holder or a waiter: its request id, its mode, and who asked.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) id: RequestId,
    pub(crate) mode: AsyncLockMode,
    pub(crate) who: Who,
}

#[derive(Debug)]
struct Waiter {
    entry: Entry,
    waker: Waker,
    /// Woken and not run since: no need to wake it again.
    woken: bool,
    /// How often a new exclusive request took the lock while this waiter's turn had come.
    passed: u32,
}

/// How often new exclusive requests may take a free lock reserved for a woken exclusive waiter
/// that has not run yet, before they must queue behind it (bounded overtaking: see the rules).
pub(crate) const OVERTAKE_LIMIT: u32 = 64;

/// Holders and waiters of one lock.
#[derive(Debug, Default)]
pub(crate) struct LockState {
    /// One exclusive holder, or shared holders only.
    holders: Vec<Entry>,
    /// Waiters in arrival order.
    queue: VecDeque<Waiter>,
    next_id: RequestId,
    /// Wakers let go of (a waiter that left or took the lock, a waker replaced by a newer one),
    /// for the caller to drop after unlocking (see [`LockState::take_discarded`]).
    discarded: Discarded,
}

impl LockState {
    /// The mode the lock is held in, if it is held.
    pub(crate) fn held_mode(&self) -> Option<AsyncLockMode> {
        self.holders.first().map(|holder| holder.mode)
    }

    /// The holders.
    pub(crate) fn holders(&self) -> &[Entry] {
        &self.holders
    }

    /// The waiters, in arrival order.
    pub(crate) fn waiters(&self) -> impl Iterator<Item = &Entry> {
        self.queue.iter().map(|waiter| &waiter.entry)
    }

    /// Whether a request in `mode` could join the current holders.
    fn compatible(&self, mode: AsyncLockMode) -> bool {
        match self.held_mode() {
            None => true,
            Some(held) => held == AsyncLockMode::Shared && mode == AsyncLockMode::Shared,
        }
    }

    /// How many waiters at the front of the queue may take the lock now.
    fn eligible(&self) -> usize {
        let Some(first) = self.queue.front() else {
            return 0;
        };
        if !self.compatible(first.entry.mode) {
            return 0;
        }
        if first.entry.mode == AsyncLockMode::Exclusive {
            return 1;
        }
        self.queue
            .iter()
            .take_while(|waiter| waiter.entry.mode == AsyncLockMode::Shared)
            .count()
    }

    /// The wakers let go of since the last call, to drop outside the lock's mutex: dropped
    /// under it, a panicking one would cut a departure short before the waiters it lets go are
    /// woken, or leave a grant recorded for a future that never returns it.
    pub(crate) fn take_discarded(&mut self) -> Taken {
        self.discarded.take()
    }

    fn next_id(&mut self) -> RequestId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn grant(&mut self, mode: AsyncLockMode, who: Who) -> Requested {
        let id = self.next_id();
        self.holders.push(Entry { id, mode, who });
        Requested::Granted(id)
    }

    /// A new request in `mode` by `who`. `waker` is called only if the request queues.
    pub(crate) fn request(
        &mut self,
        mode: AsyncLockMode,
        who: Who,
        policy: Policy,
        waker: impl FnOnce() -> Waker,
    ) -> Requested {
        match policy {
            Policy::Try => {
                let writer_waits = mode == AsyncLockMode::Shared
                    && self
                        .queue
                        .iter()
                        .any(|waiter| waiter.entry.mode == AsyncLockMode::Exclusive);
                if self.compatible(mode) && !writer_waits {
                    self.grant(mode, who)
                } else {
                    Requested::Refused
                }
            }
            Policy::Wait if self.queue.is_empty() => {
                if self.compatible(mode) {
                    self.grant(mode, who)
                } else {
                    self.enqueue(mode, who, waker())
                }
            }
            Policy::Wait => {
                // Behind waiters: granted only if it would be eligible at the back of the queue,
                // which is when every waiter is an eligible shared one and so is this request.
                let all_shared_eligible = mode == AsyncLockMode::Shared
                    && self.compatible(mode)
                    && self
                        .queue
                        .iter()
                        .all(|waiter| waiter.entry.mode == AsyncLockMode::Shared);
                if all_shared_eligible {
                    return self.grant(mode, who);
                }
                // A new exclusive request may take a free lock reserved for a woken exclusive
                // waiter that has not run yet, a bounded number of times: that waiter is
                // probably still waking up, and making this caller sleep too would turn every
                // hand-over into a context switch (a lock convoy).
                let overtakes = mode == AsyncLockMode::Exclusive
                    && self.holders.is_empty()
                    && self.queue.front().is_some_and(|front| {
                        front.entry.mode == AsyncLockMode::Exclusive
                            && front.woken
                            && front.passed < OVERTAKE_LIMIT
                    });
                if overtakes {
                    if let Some(front) = self.queue.front_mut() {
                        front.passed += 1;
                    }
                    self.grant(mode, who)
                } else {
                    self.enqueue(mode, who, waker())
                }
            }
        }
    }

    fn enqueue(&mut self, mode: AsyncLockMode, who: Who, waker: Waker) -> Requested {
        let id = self.next_id();
        self.queue.push_back(Waiter {
            entry: Entry { id, mode, who },
            waker,
            woken: false,
            passed: 0,
        });
        Requested::Queued(id)
    }

    /// The waiter `id` runs: it takes the lock if it is eligible (recorded as `who`, the caller
    /// now), otherwise it keeps waiting with the `offer`ed waker (see `waker_offer`). `None`
    /// when the pass must end first, to clone that waker.
    pub(crate) fn poll(
        &mut self,
        id: RequestId,
        offer: &mut Offer<'_>,
        who: Who,
    ) -> Option<Polled> {
        let Some(at) = self.queue.iter().position(|waiter| waiter.entry.id == id) else {
            return Some(Polled::Unknown);
        };
        if at < self.eligible() {
            let waiter = self.queue.remove(at).expect("the position was just found");
            self.holders.push(Entry {
                who,
                ..waiter.entry
            });
            self.discarded.push(waiter.waker);
            return Some(Polled::Granted);
        }
        let waiter = &mut self.queue[at];
        if !offer.replace(&mut waiter.waker) {
            return None;
        }
        waiter.woken = false;
        Some(Polled::Waiting)
    }

    /// The holder `id` releases the lock; returns the waiters that may now take it, with their
    /// wakers.
    pub(crate) fn release(&mut self, id: RequestId) -> Vec<(RequestId, Waker)> {
        if let Some(at) = self.holders.iter().position(|holder| holder.id == id) {
            self.holders.swap_remove(at);
        }
        if !self.holders.is_empty() {
            // Shared holders remain: whoever could join them is eligible already.
            return Vec::new();
        }
        self.wakers(0..self.eligible())
    }

    /// The waiter `id` leaves the queue; returns the waiters its departure made eligible, with
    /// their wakers. Nothing happens if it is not waiting.
    pub(crate) fn cancel(&mut self, id: RequestId) -> Vec<(RequestId, Waker)> {
        let Some(at) = self.queue.iter().position(|waiter| waiter.entry.id == id) else {
            return Vec::new();
        };
        let before = self.eligible();
        if let Some(waiter) = self.queue.remove(at) {
            self.discarded.push(waiter.waker);
        }
        if at > before {
            // Behind the first waiter that could not go: nothing changes for anyone.
            return Vec::new();
        }
        // Waiters before `before - 1` (after the shift) were eligible, and woken, already.
        let from = if at < before { before - 1 } else { at };
        self.wakers(from..self.eligible())
    }

    /// The waiters in `range` that were not woken since they last ran, with their wakers.
    fn wakers(&mut self, range: std::ops::Range<usize>) -> Vec<(RequestId, Waker)> {
        if range.start >= range.end {
            return Vec::new();
        }
        self.queue
            .range_mut(range)
            .filter(|waiter| !waiter.woken)
            .map(|waiter| {
                waiter.woken = true;
                // Taken, not cloned: a woken waiter registers its waker anew when it is polled
                // (`poll`), and a user waker's `clone` may panic, here under the mutex in the
                // releasing caller.
                let waker = std::mem::replace(&mut waiter.waker, Waker::noop().clone());
                (waiter.entry.id, waker)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use AsyncLockMode::{Exclusive, Shared};

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> Waker {
        Waker::from(Arc::new(Count::default()))
    }

    /// Polls waiter `id` as a task woken by a no-op waker.
    fn poll(state: &mut LockState, id: RequestId) -> Polled {
        crate::waker_offer::with_offer(Waker::noop(), |offer| state.poll(id, offer, Who::current()))
    }

    fn req(state: &mut LockState, mode: AsyncLockMode) -> Requested {
        state.request(mode, Who::current(), Policy::Wait, waker)
    }

    fn granted(outcome: Requested) -> RequestId {
        match outcome {
            Requested::Granted(id) => id,
            other => panic!("expected a grant, got {other:?}"),
        }
    }

    fn queued(outcome: Requested) -> RequestId {
        match outcome {
            Requested::Queued(id) => id,
            other => panic!("expected to queue, got {other:?}"),
        }
    }

    #[test]
    fn shared_holders_share_and_exclusive_excludes() {
        let mut state = LockState::default();
        let a = granted(req(&mut state, Shared));
        let b = granted(req(&mut state, Shared));
        let x = queued(req(&mut state, Exclusive));
        assert_eq!(state.held_mode(), Some(Shared));
        assert!(state.release(a).is_empty(), "b still holds");
        assert_eq!(state.release(b).len(), 1, "the writer is woken");
        assert_eq!(poll(&mut state, x), Polled::Granted);
        assert_eq!(state.held_mode(), Some(Exclusive));
    }

    #[test]
    fn a_reader_behind_a_waiting_writer_waits_for_it() {
        let mut state = LockState::default();
        let r1 = granted(req(&mut state, Shared));
        let w = queued(req(&mut state, Exclusive));
        let r2 = queued(req(&mut state, Shared));
        assert_eq!(poll(&mut state, r2), Polled::Waiting);
        assert_eq!(state.release(r1).len(), 1);
        assert_eq!(poll(&mut state, r2), Polled::Waiting);
        assert_eq!(poll(&mut state, w), Polled::Granted);
    }

    #[test]
    fn a_departing_blocker_wakes_those_behind_it() {
        let mut state = LockState::default();
        let _r1 = granted(req(&mut state, Shared));
        let w = queued(req(&mut state, Exclusive));
        let r2 = queued(req(&mut state, Shared));
        let r3 = queued(req(&mut state, Shared));
        assert_eq!(state.cancel(w).len(), 2, "both readers may join now");
        assert_eq!(poll(&mut state, r3), Polled::Granted);
        assert_eq!(poll(&mut state, r2), Polled::Granted);
        assert_eq!(state.holders().len(), 3);
    }

    #[test]
    fn tries_take_a_free_lock_but_readers_yield_to_a_waiting_writer() {
        let mut state = LockState::default();
        let r = granted(req(&mut state, Shared));
        let _w = queued(req(&mut state, Exclusive));
        let try_shared = state.request(Shared, Who::current(), Policy::Try, waker);
        assert_eq!(try_shared, Requested::Refused);
        assert_eq!(state.release(r).len(), 1);
        let barge = state.request(Exclusive, Who::current(), Policy::Try, waker);
        assert!(matches!(barge, Requested::Granted(_)));
    }
}

/// Model checks of the state machine as the lock drives it (`LockCore`: the state under a
/// mutex, blocked threads parked, async waiters polled): every interleaving of grants,
/// releases, departures and aborts. Run with
/// `RUSTFLAGS="--cfg taskpool_loom" cargo test -p taskpool-runtime --lib --release loom_tests`.
#[cfg(all(test, taskpool_loom))]
pub(crate) mod loom_tests {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::super::abort::AbortSignal;
    use super::super::core::LockCore;
    use super::super::options::{AsyncLockMode, AsyncLockOptions};
    use crate::error::Error;

    pub(crate) fn core() -> Arc<LockCore> {
        Arc::new(LockCore::new(None))
    }

    pub(crate) fn wait(core: &Arc<LockCore>, mode: AsyncLockMode) -> u64 {
        core.acquire_blocking(mode, &AsyncLockOptions::default())
            .expect("a plain request is granted")
    }

    pub(crate) fn assert_free(core: &LockCore) {
        let state = core.state();
        assert!(state.holders().is_empty(), "a holder was left behind");
        assert_eq!(state.waiters().count(), 0, "a waiter was left behind");
    }

    /// Two blocking writers never hold the lock together, and neither waits forever.
    #[test]
    fn exclusive_holders_never_overlap() {
        loom::model(|| {
            let core = core();
            let inside = Arc::new(AtomicUsize::new(0));
            let other = {
                let (core, inside) = (core.clone(), inside.clone());
                loom::thread::spawn(move || {
                    let id = wait(&core, AsyncLockMode::Exclusive);
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                    inside.fetch_sub(1, Ordering::SeqCst);
                    core.release(id);
                })
            };
            let id = wait(&core, AsyncLockMode::Exclusive);
            assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
            inside.fetch_sub(1, Ordering::SeqCst);
            core.release(id);
            other.join().unwrap();
            assert_free(&core);
        });
    }

    /// A reader and a writer: the writer never sees a reader inside; both finish.
    #[test]
    fn a_reader_and_a_writer_exclude_each_other() {
        loom::model(|| {
            let core = core();
            let readers = Arc::new(AtomicUsize::new(0));
            let reader = {
                let (core, readers) = (core.clone(), readers.clone());
                loom::thread::spawn(move || {
                    let id = wait(&core, AsyncLockMode::Shared);
                    readers.fetch_add(1, Ordering::SeqCst);
                    readers.fetch_sub(1, Ordering::SeqCst);
                    core.release(id);
                })
            };
            let id = wait(&core, AsyncLockMode::Exclusive);
            assert_eq!(readers.load(Ordering::SeqCst), 0, "a reader inside a write");
            core.release(id);
            reader.join().unwrap();
            assert_free(&core);
        });
    }

    /// A release racing a departing async waiter (polled once, then dropped) and a blocked
    /// thread behind it: whatever the order, the blocked thread is woken and gets the lock.
    #[test]
    fn a_departure_racing_a_release_loses_no_wakeup() {
        loom::model(|| {
            let core = core();
            let held = core.try_acquire(AsyncLockMode::Exclusive).unwrap();
            let departing = {
                let core = core.clone();
                loom::thread::spawn(move || {
                    let mut request =
                        pin!(core.acquire(AsyncLockMode::Exclusive, AsyncLockOptions::default()));
                    let mut cx = Context::from_waker(Waker::noop());
                    if let Poll::Ready(granted) = request.as_mut().poll(&mut cx) {
                        core.release(granted.unwrap());
                    }
                })
            };
            let blocked = {
                let core = core.clone();
                loom::thread::spawn(move || {
                    let id = wait(&core, AsyncLockMode::Exclusive);
                    core.release(id);
                })
            };
            core.release(held);
            departing.join().unwrap();
            blocked.join().unwrap();
            assert_free(&core);
        });
    }

    /// A waker that records whether it was woken.
    pub(crate) struct Flag(pub(crate) AtomicBool);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// An abort racing the poll of a waiting async request that is polled with a new waker
    /// (the future moved to another task): the request either completes in that poll or the
    /// new waker is woken, so the abort is never lost on a stale waker.
    #[test]
    fn an_abort_racing_a_poll_with_a_new_waker_wakes_the_new_waker() {
        loom::model(|| {
            let core = core();
            let signal = AbortSignal::new();
            let held = core.try_acquire(AsyncLockMode::Exclusive).unwrap();
            let aborter = {
                let signal = signal.clone();
                loom::thread::spawn(move || signal.abort("model"))
            };
            let options = AsyncLockOptions::new().signal(signal.clone());
            let mut request = pin!(core.acquire(AsyncLockMode::Exclusive, options));
            let first = Arc::new(Flag(AtomicBool::new(false)));
            let first_waker = Waker::from(first.clone());
            let mut completed = request
                .as_mut()
                .poll(&mut Context::from_waker(&first_waker))
                .is_ready();
            let second = Arc::new(Flag(AtomicBool::new(false)));
            let second_waker = Waker::from(second.clone());
            if !completed {
                completed = request
                    .as_mut()
                    .poll(&mut Context::from_waker(&second_waker))
                    .is_ready();
            }
            aborter.join().unwrap();
            if !completed {
                assert!(
                    second.0.load(Ordering::SeqCst),
                    "the abort woke a stale waker only"
                );
                let outcome = request
                    .as_mut()
                    .poll(&mut Context::from_waker(&second_waker));
                assert!(matches!(
                    outcome,
                    Poll::Ready(Err(Error::LockAborted { .. }))
                ));
            }
            core.release(held);
            assert_free(&core);
        });
    }

    /// A waker that panics when woken (a broken executor).
    struct Panics;

    impl Wake for Panics {
        fn wake(self: Arc<Self>) {
            std::panic::resume_unwind(Box::new("model: a broken waker"));
        }
    }

    /// The front waiter's waker panics as the holder releases, while a blocked thread asks for
    /// the lock (before or after the release): the panic stays in the release, the front waiter
    /// gives up its place, the blocked thread gets the lock, and the front request, polled
    /// again, asks anew and gets it too. The lock ends free.
    #[test]
    fn a_panicking_waker_at_the_front_strands_no_one() {
        loom::model(|| {
            let core = core();
            let held = core.try_acquire(AsyncLockMode::Exclusive).unwrap();
            let mut request =
                Box::pin(core.acquire(AsyncLockMode::Exclusive, AsyncLockOptions::default()));
            let broken = Waker::from(Arc::new(Panics));
            assert!(
                request
                    .as_mut()
                    .poll(&mut Context::from_waker(&broken))
                    .is_pending()
            );
            let blocked = {
                let core = core.clone();
                loom::thread::spawn(move || {
                    let id = wait(&core, AsyncLockMode::Exclusive);
                    core.release(id);
                })
            };
            core.release(held);
            blocked.join().unwrap();
            match request
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
            {
                Poll::Ready(granted) => core.release(granted.unwrap()),
                Poll::Pending => panic!("the front request could not take a free lock"),
            }
            drop(request);
            assert_free(&core);
        });
    }

    /// A request polled once, waiting with `signal` in `mode`, and the flag its waker sets.
    fn pending_request<'a>(
        core: &'a Arc<LockCore>,
        mode: AsyncLockMode,
        signal: &AbortSignal,
    ) -> (
        std::pin::Pin<Box<impl Future<Output = crate::Result<u64>> + 'a>>,
        Arc<Flag>,
    ) {
        let options = AsyncLockOptions::new().signal(signal.clone());
        let mut request = Box::pin(core.acquire(mode, options));
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        assert!(
            request
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        (request, flag)
    }

    /// A blocked reader: takes the lock shared, checks that no writer is inside, releases.
    pub(crate) fn reader(
        core: &Arc<LockCore>,
        writing: &Arc<AtomicBool>,
    ) -> loom::thread::JoinHandle<()> {
        let (core, writing) = (core.clone(), writing.clone());
        loom::thread::spawn(move || {
            let id = wait(&core, AsyncLockMode::Shared);
            assert!(!writing.load(Ordering::SeqCst), "a reader inside a write");
            core.release(id);
        })
    }

    fn aborter(signal: &AbortSignal) -> loom::thread::JoinHandle<()> {
        let signal = signal.clone();
        loom::thread::spawn(move || signal.abort("model"))
    }

    /// A writer's request waits with a signal; a reader queues behind it (or comes after the
    /// abort); the holder releases and the signal is aborted, in any order. The writer's future
    /// is never polled again until the reader is through: the abort alone withdraws it, so the
    /// reader is not stranded behind a request whose waiter will not run. Polled at last, the
    /// writer fails with `LockAborted`, its waker woken, and the lock ends free.
    #[test]
    fn an_abort_withdraws_a_request_whose_waiter_never_runs() {
        loom::model(|| {
            let core = core();
            let signal = AbortSignal::new();
            let held = core.try_acquire(AsyncLockMode::Shared).unwrap();
            let (mut writer, woken) = pending_request(&core, AsyncLockMode::Exclusive, &signal);
            let reader = reader(&core, &Arc::new(AtomicBool::new(false)));
            let aborter = aborter(&signal);
            core.release(held);
            reader.join().unwrap();
            aborter.join().unwrap();
            assert!(
                woken.0.load(Ordering::SeqCst),
                "the aborted waiter was not told"
            );
            let outcome = writer
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()));
            assert!(matches!(
                outcome,
                Poll::Ready(Err(Error::LockAborted { .. }))
            ));
            assert_free(&core);
        });
    }

    /// The abort races the writer's own poll after the release made it eligible: the writer
    /// ends with the lock (and no reader gets in until it releases) or with `LockAborted`,
    /// never both and never still waiting, and the reader behind it always gets through.
    #[test]
    fn an_abort_racing_the_waiters_grant_settles_once() {
        loom::model(|| {
            let core = core();
            let signal = AbortSignal::new();
            let held = core.try_acquire(AsyncLockMode::Exclusive).unwrap();
            let (mut writer, _) = pending_request(&core, AsyncLockMode::Exclusive, &signal);
            let writing = Arc::new(AtomicBool::new(false));
            let reader = reader(&core, &writing);
            let aborter = aborter(&signal);
            core.release(held);
            match writer
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
            {
                Poll::Ready(Ok(id)) => {
                    writing.store(true, Ordering::SeqCst);
                    writing.store(false, Ordering::SeqCst);
                    core.release(id);
                }
                Poll::Ready(Err(error)) => assert!(matches!(error, Error::LockAborted { .. })),
                Poll::Pending => panic!("an eligible or aborted request kept waiting"),
            }
            reader.join().unwrap();
            aborter.join().unwrap();
            drop(writer);
            assert_free(&core);
        });
    }

    /// The abort races the drop of the writer's future (both withdraw it) and the release:
    /// the reader behind it gets through and the lock ends free.
    #[test]
    fn an_abort_racing_a_dropped_request_strands_no_one() {
        loom::model(|| {
            let core = core();
            let signal = AbortSignal::new();
            let held = core.try_acquire(AsyncLockMode::Exclusive).unwrap();
            let (writer, _) = pending_request(&core, AsyncLockMode::Exclusive, &signal);
            let reader = reader(&core, &Arc::new(AtomicBool::new(false)));
            let aborter = aborter(&signal);
            drop(writer);
            core.release(held);
            reader.join().unwrap();
            aborter.join().unwrap();
            assert_free(&core);
        });
    }

    /// An abort racing the release: the waiter ends with the lock or with `LockAborted`, and
    /// the lock ends free either way.
    #[test]
    fn an_abort_racing_a_release_settles_once() {
        loom::model(|| {
            let core = core();
            let signal = AbortSignal::new();
            let held = core.try_acquire(AsyncLockMode::Exclusive).unwrap();
            let waiter = {
                let (core, signal) = (core.clone(), signal.clone());
                loom::thread::spawn(move || {
                    let options = AsyncLockOptions::new().signal(signal);
                    match core.acquire_blocking(AsyncLockMode::Shared, &options) {
                        Ok(id) => core.release(id),
                        Err(error) => assert!(matches!(error, Error::LockAborted { .. })),
                    }
                })
            };
            signal.abort("model");
            core.release(held);
            waiter.join().unwrap();
            assert_free(&core);
        });
    }
}
