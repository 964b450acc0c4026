//! `ConditionVariable`: asynchronous (and blocking) wait and notify (ArkTS API 18
//! `ArkTSUtils.locks.ConditionVariable`).

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Weak;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::async_lock::AsyncLockGuard;
use super::core::Parker;
use super::deadline::{Deadline, Withdraw};
use super::discarded::Discarded;
use super::named;
use crate::sendable::Sendable;
use crate::shared::Shared;
use crate::sync::{Arc, Mutex, lock};
use crate::time::deadline_after;
use crate::waker_offer::with_offer;

/// Wait until notified, asynchronously or by blocking (ArkTS `ConditionVariable`, API 18).
///
/// Waiters are notified in arrival order: [`notify_one`](ConditionVariable::notify_one) wakes the
/// longest-waiting one, [`notify_all`](ConditionVariable::notify_all) every waiter there is. A
/// notification with no waiter is not kept (as in ArkTS).
///
/// **No lost notification.** A waiter takes its place when [`wait_async`] is *called*, not when
/// its future is first polled, so the pattern "start waiting, release what the notifier needs,
/// then await" cannot miss a notification sent in between — which is what
/// [`wait_with_async`](ConditionVariable::wait_with_async) does with an [`AsyncLockGuard`]: it
/// releases the lock, waits, and takes the lock again, like `std::sync::Condvar::wait`. A waiter
/// woken by `notify_one` that is dropped before it completes passes the notification on to the
/// next waiter.
///
/// The condition variable is [`Sendable`]: share it with [`Shared`] or in a
/// `#[sendable]` type, or find it by name with [`ConditionVariable::request`]. It serializes as
/// nothing; a deserialized one is new and has no waiters.
///
/// [`wait_async`]: ConditionVariable::wait_async
///
/// ```
/// use taskpool::{AsyncLock, ConditionVariable, Shared};
///
/// let ready = Shared::new(AsyncLock::new(false));
/// let changed = Shared::new(ConditionVariable::new());
/// let consumer = std::thread::spawn({
///     let (ready, changed) = (ready.clone(), changed.clone());
///     move || {
///         let mut guard = ready.lock();
///         while !*guard {
///             guard = changed.wait_with(guard);
///         }
///     }
/// });
/// *ready.lock() = true;
/// changed.notify_all();
/// consumer.join().unwrap();
/// ```
pub struct ConditionVariable {
    /// Shared with the deadlines of timed waits, which withdraw them when their time runs out.
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Waiters in arrival order, with their waker once they have one.
    waiters: VecDeque<(u64, Option<Waker>)>,
    /// Waiters notified by `notify_one` that have not completed: a drop passes the notification
    /// on.
    handed: Vec<u64>,
    /// Timed waiters withdrawn at their deadline that have not completed.
    expired: Vec<u64>,
    next_id: u64,
    /// Wakers let go of (a waiter that left, a waker replaced by a newer one), to drop after
    /// unlocking (see [`ConditionVariable::with_state`]).
    discarded: Discarded,
}

impl State {
    fn enqueue(&mut self, waker: Option<Waker>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.waiters.push_back((id, waker));
        id
    }

    fn is_waiting(&self, id: u64) -> bool {
        self.waiters.iter().any(|(waiting, _)| *waiting == id)
    }

    /// Removes waiter `id` from the queue; whether it was there.
    fn dequeue(&mut self, id: u64) -> bool {
        let Some(at) = self.waiters.iter().position(|(waiting, _)| *waiting == id) else {
            return false;
        };
        if let Some((_, Some(waker))) = self.waiters.remove(at) {
            self.discarded.push(waker);
        }
        true
    }

    /// Waiter `id` leaves: how its wait ended, if it had ended.
    fn leave(&mut self, id: u64) -> Left {
        if self.dequeue(id) {
            return Left::Waiting;
        }
        if let Some(at) = self.handed.iter().position(|handed| *handed == id) {
            self.handed.swap_remove(at);
            return Left::NotifiedOne;
        }
        match self.expired.iter().position(|expired| *expired == id) {
            Some(at) => {
                self.expired.swap_remove(at);
                Left::Expired
            }
            None => Left::NotifiedAll,
        }
    }

    /// The deadline of the timed waiter `id` passed: it leaves the queue, unless a notification
    /// reached it first.
    fn expire(&mut self, id: u64) {
        if self.dequeue(id) {
            self.expired.push(id);
        }
    }
}

/// How a waiter's wait ended, as it leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Left {
    /// It had not: it was still waiting.
    Waiting,
    /// A `notify_one` was handed to it.
    NotifiedOne,
    /// A `notify_all` reached it.
    NotifiedAll,
    /// Its deadline withdrew it (`State::expire`).
    Expired,
}

impl Left {
    /// Whether a notification reached the waiter.
    fn notified(self) -> bool {
        matches!(self, Left::NotifiedOne | Left::NotifiedAll)
    }
}

impl ConditionVariable {
    /// A condition variable with no waiters.
    ///
    /// ```
    /// let changed = taskpool::ConditionVariable::new();
    /// changed.notify_all(); // nobody waits: nothing happens
    /// ```
    pub fn new() -> ConditionVariable {
        ConditionVariable {
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    /// Finds the live condition variable named `name`, or creates it (ArkTS
    /// `ConditionVariable.request(name)`). As with [`AsyncLock::request`](crate::AsyncLock::request),
    /// the registry does not keep it alive.
    ///
    /// ```
    /// use taskpool::{ConditionVariable, Shared};
    /// let a = ConditionVariable::request("docs-condition");
    /// let b = ConditionVariable::request("docs-condition");
    /// assert!(Shared::ptr_eq(&a, &b));
    /// ```
    pub fn request(name: &str) -> Shared<ConditionVariable> {
        named::request_condvar(name)
    }

    /// Waits until notified, asynchronously (ArkTS `wait()`). The waiter takes its place now:
    /// a notification sent after this call and before the first poll is not lost. Dropping the
    /// future gives up the place.
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(future: F) -> F::Output {
    /// #     let mut future = std::pin::pin!(future);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop {
    /// #         if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut cx) {
    /// #             return value;
    /// #         }
    /// #     }
    /// # }
    /// let changed = taskpool::ConditionVariable::new();
    /// let waiting = changed.wait_async(); // in line from here on
    /// changed.notify_one();
    /// block_on(waiting);
    /// ```
    pub fn wait_async(&self) -> CondvarWait<'_> {
        CondvarWait {
            waiting: self.enqueue(None),
        }
    }

    /// Waits until notified or until `timeout` passes, asynchronously (ArkTS `waitFor`).
    /// Resolves to `true` if notified, `false` if the time ran out. `Duration::ZERO` does not
    /// wait; `Duration::MAX` waits with no limit. The waiter leaves the queue at the deadline,
    /// even if its task has not run since: a later `notify_one` goes to the next waiter.
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(future: F) -> F::Output {
    /// #     let mut future = std::pin::pin!(future);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop {
    /// #         if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut cx) {
    /// #             return value;
    /// #         }
    /// #     }
    /// # }
    /// use std::time::Duration;
    /// let changed = taskpool::ConditionVariable::new();
    /// assert!(!block_on(changed.wait_for_async(Duration::from_millis(1))));
    /// ```
    pub fn wait_for_async(&self, timeout: Duration) -> CondvarWaitFor<'_> {
        let waiting = self.enqueue(None);
        let timer = match deadline_after(Instant::now(), timeout) {
            None => Timer::Never,
            Some(_) if timeout.is_zero() => Timer::Expired,
            Some(_) => Timer::Sleep(Deadline::new(
                TimedWait::new(&self.state, waiting.id),
                timeout,
            )),
        };
        CondvarWaitFor {
            waiting,
            timer,
            outcome: None,
        }
    }

    /// Waits until notified, blocking the thread (inside a pool task the thread counts as
    /// blocked meanwhile, so the pool may add one).
    ///
    /// ```
    /// use taskpool::{ConditionVariable, Shared};
    /// let changed = Shared::new(ConditionVariable::new());
    /// let waiter = std::thread::spawn({
    ///     let changed = changed.clone();
    ///     move || changed.wait()
    /// });
    /// while changed.waiters() == 0 {
    ///     std::thread::yield_now();
    /// }
    /// changed.notify_one();
    /// waiter.join().unwrap();
    /// ```
    pub fn wait(&self) {
        self.wait_blocking(None);
    }

    /// Waits until notified or until `timeout` passes, blocking the thread; `true` if notified.
    ///
    /// ```
    /// use std::time::Duration;
    /// let changed = taskpool::ConditionVariable::new();
    /// assert!(!changed.wait_for(Duration::ZERO));
    /// ```
    pub fn wait_for(&self, timeout: Duration) -> bool {
        self.wait_blocking(Some(timeout))
    }

    /// Releases `guard`, waits until notified, and takes the lock again in exclusive mode,
    /// blocking (`std::sync::Condvar::wait` for an [`AsyncLock`](crate::AsyncLock)). The waiter
    /// takes its place before the lock is released, so a notifier that changes the condition
    /// under the lock cannot be missed.
    ///
    /// ```
    /// use taskpool::{AsyncLock, ConditionVariable};
    /// let lock = AsyncLock::new(0);
    /// let changed = ConditionVariable::new();
    /// std::thread::scope(|scope| {
    ///     scope.spawn(|| {
    ///         let mut guard = lock.lock();
    ///         while *guard == 0 {
    ///             guard = changed.wait_with(guard);
    ///         }
    ///     });
    ///     *lock.lock() = 1;
    ///     changed.notify_all();
    /// });
    /// ```
    pub fn wait_with<'a, T>(&self, guard: AsyncLockGuard<'a, T>) -> AsyncLockGuard<'a, T> {
        let relock = guard.lock_ref();
        let parker = Arc::new(Parker::default());
        let id = lock(&self.state).enqueue(Some(Waker::from(Arc::clone(&parker))));
        drop(guard);
        self.park_until_notified(id, &parker, None);
        relock.lock()
    }

    /// Releases `guard`, waits until notified, and takes the lock again in exclusive mode,
    /// asynchronously (the `async` form of [`wait_with`](ConditionVariable::wait_with)).
    /// Dropped after a [`notify_one`](ConditionVariable::notify_one) reached it but before it
    /// took the lock back (a `select!` whose other branch won), it passes the notification on
    /// to the next waiter, as a dropped [`wait_async`](ConditionVariable::wait_async) does.
    ///
    /// ```
    /// # fn block_on<F: std::future::Future>(future: F) -> F::Output {
    /// #     let mut future = std::pin::pin!(future);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop {
    /// #         if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut cx) {
    /// #             return value;
    /// #         }
    /// #     }
    /// # }
    /// use taskpool::{AsyncLock, ConditionVariable};
    /// let lock = AsyncLock::new(false);
    /// let changed = ConditionVariable::new();
    /// std::thread::scope(|scope| {
    ///     scope.spawn(|| {
    ///         block_on(async {
    ///             let mut guard = lock.lock_async().await;
    ///             while !*guard {
    ///                 guard = changed.wait_with_async(guard).await;
    ///             }
    ///         })
    ///     });
    ///     *lock.lock() = true;
    ///     changed.notify_all();
    /// });
    /// ```
    pub async fn wait_with_async<'a, T>(
        &self,
        guard: AsyncLockGuard<'a, T>,
    ) -> AsyncLockGuard<'a, T> {
        let lock = guard.lock_ref();
        let mut waiting = self.enqueue(None);
        drop(guard);
        let by_notify_one = std::future::poll_fn(|cx| waiting.poll_notified_by(cx)).await;
        // Until the lock is taken back, the notification is this waiter's to pass on.
        let mut pass_on = PassOn(by_notify_one.then_some(self));
        let guard = lock.lock_async().await;
        pass_on.0 = None;
        guard
    }

    /// Wakes the longest-waiting waiter, if any (ArkTS `notifyOne`).
    ///
    /// ```
    /// let changed = taskpool::ConditionVariable::new();
    /// let _first = changed.wait_async();
    /// let _second = changed.wait_async();
    /// changed.notify_one();
    /// assert_eq!(changed.waiters(), 1);
    /// ```
    pub fn notify_one(&self) {
        let handed = {
            let mut state = lock(&self.state);
            state.waiters.pop_front().map(|(id, waker)| {
                state.handed.push(id);
                (id, waker)
            })
        };
        let Some((id, Some(waker))) = handed else {
            return;
        };
        if crate::panic::wake_quietly(waker) {
            return;
        }
        // The waiter's waker panicked (a broken executor): it cannot be told, so the
        // notification goes to the next waiter instead of being lost, and this waiter waits
        // anew at the back, with no waker until it is polled again. Only a waiter with a waker
        // can panic, so passing on ends: at worst it reaches this waiter, waker-less.
        let pass_on = {
            let mut state = lock(&self.state);
            match state.handed.iter().position(|handed| *handed == id) {
                Some(at) => {
                    state.handed.swap_remove(at);
                    state.waiters.push_back((id, None));
                    true
                }
                // Polled (or dropped) meanwhile: it took the notification after all.
                None => false,
            }
        };
        if pass_on {
            self.notify_one();
        }
    }

    /// Wakes every waiter there is now (ArkTS `notifyAll`).
    ///
    /// ```
    /// let changed = taskpool::ConditionVariable::new();
    /// let _first = changed.wait_async();
    /// let _second = changed.wait_async();
    /// changed.notify_all();
    /// assert_eq!(changed.waiters(), 0);
    /// ```
    pub fn notify_all(&self) {
        let waiters = std::mem::take(&mut lock(&self.state).waiters);
        // A user waker that panics must neither reach the caller nor keep the others unwoken;
        // its waiter is notified all the same and completes whenever it is polled.
        for (_, waker) in waiters {
            if let Some(waker) = waker {
                crate::panic::wake_quietly(waker);
            }
        }
    }

    /// How many waiters wait now.
    ///
    /// ```
    /// let changed = taskpool::ConditionVariable::new();
    /// let waiting = changed.wait_async();
    /// assert_eq!(changed.waiters(), 1);
    /// drop(waiting);
    /// assert_eq!(changed.waiters(), 0);
    /// ```
    pub fn waiters(&self) -> usize {
        lock(&self.state).waiters.len()
    }

    fn enqueue(&self, waker: Option<Waker>) -> Waiting<'_> {
        let id = lock(&self.state).enqueue(waker);
        Waiting {
            condvar: self,
            id: Some(id),
        }
    }

    fn wait_blocking(&self, timeout: Option<Duration>) -> bool {
        let parker = Arc::new(Parker::default());
        let id = lock(&self.state).enqueue(Some(Waker::from(Arc::clone(&parker))));
        self.park_until_notified(id, &parker, timeout)
    }

    /// Parks until waiter `id` is notified (`true`) or `timeout` passes (`false`).
    fn park_until_notified(&self, id: u64, parker: &Parker, timeout: Option<Duration>) -> bool {
        let deadline = timeout.and_then(|timeout| deadline_after(Instant::now(), timeout));
        crate::pool::block_in_place(|| {
            loop {
                if !lock(&self.state).is_waiting(id) {
                    break;
                }
                match deadline {
                    None => parker.park(None),
                    Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                        Some(left) if !left.is_zero() => parker.park(Some(left)),
                        _ => break,
                    },
                }
            }
        });
        // Notified if it left the queue; if it was notified as the time ran out, it takes it.
        self.with_state(|state| state.leave(id)).notified()
    }

    /// Runs `f` on the state under its mutex, then drops the wakers it let go of after
    /// unlocking, each with its panic contained: dropping a user waker is user code (it may be
    /// the last reference to a task whose `Drop` panics), and its panic must not reach whoever
    /// drops or polls a wait, nor cut short the bookkeeping around it.
    fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        with_state(&self.state, f)
    }
}

impl Default for ConditionVariable {
    fn default() -> ConditionVariable {
        ConditionVariable::new()
    }
}

impl fmt::Debug for ConditionVariable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionVariable")
            .field("waiters", &self.waiters())
            .finish()
    }
}

impl Serialize for ConditionVariable {
    /// Serializes as nothing (a unit): waiters are local to the process.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
}

impl<'de> Deserialize<'de> for ConditionVariable {
    /// A new condition variable with no waiters.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ConditionVariable, D::Error> {
        <()>::deserialize(deserializer).map(|()| ConditionVariable::new())
    }
}

impl Sendable for ConditionVariable {}

/// [`ConditionVariable::with_state`] on the state itself (a timed wait's withdrawal has no
/// condition variable).
fn with_state<R>(state: &Mutex<State>, f: impl FnOnce(&mut State) -> R) -> R {
    let (result, discarded) = {
        let mut state = lock(state);
        let result = f(&mut state);
        (result, state.discarded.take())
    };
    discarded.drop_quietly();
    result
}

/// A place in a condition variable's queue; leaving it without completing passes a
/// `notify_one` on.
struct Waiting<'a> {
    condvar: &'a ConditionVariable,
    /// `None` once completed.
    id: Option<u64>,
}

impl Waiting<'_> {
    /// `Ready` once notified (and again if polled after that: nothing to wait for);
    /// otherwise registers `cx`'s waker.
    fn poll_notified(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_left(cx).map(drop)
    }

    /// As [`poll_notified`](Waiting::poll_notified), saying whether the notification was a
    /// `notify_one` handed to this waiter (`true`) rather than a `notify_all` (`false`; also
    /// when polled again after completing).
    fn poll_notified_by(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        self.poll_left(cx).map(|left| left == Left::NotifiedOne)
    }

    /// `Ready` with how the wait ended once it has (never [`Left::Waiting`]; a `notify_all`
    /// when polled again after completing); otherwise registers `cx`'s waker.
    fn poll_left(&mut self, cx: &mut Context<'_>) -> Poll<Left> {
        let Some(id) = self.id else {
            return Poll::Ready(Left::NotifiedAll);
        };
        // The waker is offered (see `waker_offer`): the executor's code runs outside the
        // lock, as it may call back into this condition variable (notify it).
        let notified = with_offer(cx.waker(), |offer| {
            self.condvar.with_state(|state| {
                match state.waiters.iter_mut().find(|(waiting, _)| *waiting == id) {
                    Some((_, waker)) => offer.store(waker).then_some(None),
                    None => Some(Some(state.leave(id))),
                }
            })
        });
        match notified {
            Some(left) => {
                self.id = None;
                Poll::Ready(left)
            }
            None => Poll::Pending,
        }
    }

    /// Gives up now: `true` if it had been notified meanwhile (and takes the notification).
    /// Called only while it waits (`id` is set).
    fn finish(&mut self) -> bool {
        self.id
            .take()
            .is_some_and(|id| self.condvar.with_state(|state| state.leave(id)).notified())
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let left = self.condvar.with_state(|state| state.leave(id));
            if left == Left::NotifiedOne {
                // Notified by notify_one but never completed: the next waiter gets it.
                self.condvar.notify_one();
            }
        }
    }
}

/// A `notify_one` taken by a waiter that has yet to act on it: passed on to the next waiter if
/// dropped while it still holds one (`Some`).
struct PassOn<'a>(Option<&'a ConditionVariable>);

impl Drop for PassOn<'_> {
    fn drop(&mut self) {
        if let Some(condvar) = self.0.take() {
            condvar.notify_one();
        }
    }
}

/// The future of [`ConditionVariable::wait_async`]: resolves once notified. Polled again after
/// that, it is ready again at once.
#[must_use = "the wait happens only when the future is awaited"]
pub struct CondvarWait<'a> {
    waiting: Waiting<'a>,
}

impl Future for CondvarWait<'_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.waiting.poll_notified(cx)
    }
}

impl fmt::Debug for CondvarWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CondvarWait")
            .field("notified", &self.waiting.id.is_none())
            .finish()
    }
}

enum Timer {
    Never,
    Expired,
    Sleep(Deadline<TimedWait>),
}

/// How the deadline of a timed wait withdraws the waiter from the queue (see [`Deadline`]): a
/// `notify_one` meanwhile goes to the next waiter (ArkTS notifies the first *waiting* thread)
/// rather than to one whose task has not yet run to see its timeout.
struct TimedWait {
    state: Weak<Mutex<State>>,
    id: u64,
}

impl TimedWait {
    fn new(state: &Arc<Mutex<State>>, id: Option<u64>) -> TimedWait {
        TimedWait {
            state: Arc::downgrade(state),
            id: id.expect("a new wait is queued"),
        }
    }
}

impl Withdraw for TimedWait {
    fn withdraw(&self) {
        if let Some(state) = self.state.upgrade() {
            with_state(&state, |state| state.expire(self.id));
        }
    }
}

/// The future of [`ConditionVariable::wait_for_async`]: resolves to `true` once notified, or to
/// `false` when the timeout passes first. Polled again after that, it gives the same answer.
#[must_use = "the wait happens only when the future is awaited"]
pub struct CondvarWaitFor<'a> {
    waiting: Waiting<'a>,
    timer: Timer,
    /// The answer, once given.
    outcome: Option<bool>,
}

impl Future for CondvarWaitFor<'_> {
    type Output = bool;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let this = &mut *self;
        if let Some(outcome) = this.outcome {
            return Poll::Ready(outcome);
        }
        // A wait withdrawn at its deadline has left too: it reports its timeout.
        if let Poll::Ready(left) = this.waiting.poll_left(cx) {
            this.outcome = Some(left.notified());
            return Poll::Ready(left.notified());
        }
        let expired = match &mut this.timer {
            Timer::Never => false,
            Timer::Expired => true,
            Timer::Sleep(deadline) => deadline.poll(cx.waker()),
        };
        if expired {
            let notified = this.waiting.finish();
            this.outcome = Some(notified);
            return Poll::Ready(notified);
        }
        Poll::Pending
    }
}

impl fmt::Debug for CondvarWaitFor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CondvarWaitFor")
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

/// Model checks of the condition variable's notification hand-over. Run with
/// `RUSTFLAGS="--cfg taskpool_loom" cargo test -p taskpool-runtime --lib --release loom_tests`.
#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use std::future::Future;
    use std::sync::Arc;
    use std::task::{Context, Wake, Waker};

    use super::super::deadline::Expiry;
    use super::{ConditionVariable, Left, PassOn, TimedWait};

    /// A waker that panics when woken (a broken executor).
    struct Panics;

    impl Wake for Panics {
        fn wake(self: Arc<Self>) {
            std::panic::resume_unwind(Box::new("model: a broken waker"));
        }
    }

    /// `notify_one` reaches a waiter whose waker panics while that waiter is polled again on
    /// another thread: exactly one of the two waiters gets the notification — the polled one
    /// if its poll came before the hand-over was undone, the next one otherwise. It is neither
    /// lost nor doubled.
    #[test]
    fn a_notification_to_a_panicking_waker_reaches_exactly_one_waiter() {
        loom::model(|| {
            let condvar = Arc::new(ConditionVariable::new());
            let mut first = Box::pin(condvar.wait_async());
            let broken = Waker::from(Arc::new(Panics));
            let mut noop = Context::from_waker(Waker::noop());
            assert!(
                first
                    .as_mut()
                    .poll(&mut Context::from_waker(&broken))
                    .is_pending()
            );
            let mut second = Box::pin(condvar.wait_async());
            assert!(second.as_mut().poll(&mut noop).is_pending());
            let notifier = {
                let condvar = Arc::clone(&condvar);
                loom::thread::spawn(move || condvar.notify_one())
            };
            let mut first_done = first.as_mut().poll(&mut noop).is_ready();
            notifier.join().unwrap();
            first_done = first_done || first.as_mut().poll(&mut noop).is_ready();
            let second_done = second.as_mut().poll(&mut noop).is_ready();
            assert!(
                first_done != second_done,
                "lost or doubled: {first_done} {second_done}"
            );
            drop(first);
            drop(second);
            assert_eq!(condvar.waiters(), 0);
        });
    }

    /// A `wait_with_async` that a `notify_one` reached, dropped while it waits for its lock
    /// (what it holds then: its `PassOn`), passes the notification on while another thread
    /// sends a second one to two more waiters: whatever the order, both of them are notified,
    /// and nobody is left waiting. (`AsyncLock` registers in a process-wide registry, which a
    /// model cannot share between its runs: the lock part is left out.)
    #[test]
    fn a_notified_wait_with_dropped_before_its_lock_passes_the_notification_on() {
        loom::model(|| {
            let condvar = Arc::new(ConditionVariable::new());
            let mut noop = Context::from_waker(Waker::noop());
            let mut waiting = condvar.enqueue(None);
            let mut second = Box::pin(condvar.wait_async());
            let mut third = Box::pin(condvar.wait_async());
            condvar.notify_one();
            let by_notify_one = match waiting.poll_notified_by(&mut noop) {
                std::task::Poll::Ready(by_notify_one) => by_notify_one,
                std::task::Poll::Pending => panic!("the first waiter was notified"),
            };
            assert!(by_notify_one);
            let pass_on = PassOn(Some(&condvar));
            let notifier = {
                let condvar = Arc::clone(&condvar);
                loom::thread::spawn(move || condvar.notify_one())
            };
            drop(pass_on);
            notifier.join().unwrap();
            assert!(
                second.as_mut().poll(&mut noop).is_ready(),
                "a notification was lost"
            );
            assert!(
                third.as_mut().poll(&mut noop).is_ready(),
                "a notification was lost"
            );
            assert_eq!(condvar.waiters(), 0);
        });
    }

    /// A timed waiter, a patient one behind it, and a timer that fires (woken as the timer
    /// thread wakes an expiry) on its own thread.
    fn timed_and_patient(
        condvar: &Arc<ConditionVariable>,
    ) -> (
        super::Waiting<'_>,
        std::pin::Pin<Box<super::CondvarWait<'_>>>,
        loom::thread::JoinHandle<()>,
    ) {
        let timed = condvar.enqueue(None);
        let expiry = Expiry::new(TimedWait::new(&condvar.state, timed.id));
        let mut patient = Box::pin(condvar.wait_async());
        let mut noop = Context::from_waker(Waker::noop());
        assert!(patient.as_mut().poll(&mut noop).is_pending());
        let timer = loom::thread::spawn(move || Waker::from(expiry).wake());
        (timed, patient, timer)
    }

    /// The timed waiter's deadline races a `notify_one`: exactly one of the two waiters is
    /// notified — the timed one reporting it if the notification came first, the patient one
    /// otherwise — never lost, never doubled, and nobody is left queued.
    #[test]
    fn an_expiry_racing_notify_one_notifies_exactly_one_waiter() {
        loom::model(|| {
            let condvar = Arc::new(ConditionVariable::new());
            let (mut timed, mut patient, timer) = timed_and_patient(&condvar);
            let notifier = {
                let condvar = Arc::clone(&condvar);
                loom::thread::spawn(move || condvar.notify_one())
            };
            timer.join().unwrap();
            notifier.join().unwrap();
            let mut noop = Context::from_waker(Waker::noop());
            let std::task::Poll::Ready(left) = timed.poll_left(&mut noop) else {
                panic!("the timed waiter still waits after its deadline");
            };
            let patient_done = patient.as_mut().poll(&mut noop).is_ready();
            assert!(
                left.notified() != patient_done,
                "lost or doubled: {left:?} {patient_done}"
            );
            drop(patient);
            assert_eq!(condvar.waiters(), 0);
        });
    }

    /// Once the timed waiter's deadline has passed (its expiry ran), a `notify_one` racing that
    /// waiter's own poll goes to the patient waiter: the timed one has left the queue, whether
    /// or not its task has run since, and reports its timeout.
    #[test]
    fn a_notify_one_after_an_expiry_goes_to_the_next_waiter() {
        loom::model(|| {
            let condvar = Arc::new(ConditionVariable::new());
            let (mut timed, mut patient, timer) = timed_and_patient(&condvar);
            timer.join().unwrap();
            let notifier = {
                let condvar = Arc::clone(&condvar);
                loom::thread::spawn(move || condvar.notify_one())
            };
            let mut noop = Context::from_waker(Waker::noop());
            let left = timed.poll_left(&mut noop);
            notifier.join().unwrap();
            assert_eq!(left, std::task::Poll::Ready(Left::Expired));
            assert!(
                patient.as_mut().poll(&mut noop).is_ready(),
                "the notification went to a waiter whose time had run out"
            );
        });
    }
}
