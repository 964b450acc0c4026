//! `sleep`: a timer future that any executor (and any task of the pool) can await, and the
//! saturating deadline arithmetic the pool shares.
//!
//! One lazily started timer thread holds the pending deadlines in an ordered map keyed by
//! `(deadline, sequence)` and wakes each waker when its deadline passes; it parks with no timeout
//! when no timer is pending. A [`Sleep`] remembers its key, so a re-poll updates its own entry and
//! dropping it removes the entry at once: a long sleep abandoned by a `select!` or a dropped task
//! costs nothing afterwards.
//!
//! Two rules keep the timer thread alive for every later sleep:
//! * user code (waking, cloning or dropping a waker) never runs under the timers lock, and
//! * a panic in a waker is contained on the timer thread (see [`contain`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex, MutexGuard, lock};

/// The instant `d` after `start`, or `None` when it is not representable (read it as "never").
///
/// `Instant + Duration` panics on overflow, and `Duration::MAX` is a natural way for a user to say
/// "no limit"; every deadline computed from a user-supplied duration (sleeps, time limits,
/// `wait_timeout`) goes through this instead.
pub(crate) fn deadline_after(start: Instant, d: Duration) -> Option<Instant> {
    start.checked_add(d)
}

/// A future that completes once `duration` has passed (the runtime's timer).
///
/// An `async fn` task that awaits it frees its worker for other tasks meanwhile, and the time it
/// spends waiting counts as I/O time, not toward the pool's time limit. A duration too long to
/// represent (such as `Duration::MAX`) sleeps forever. Dropping the future cancels the timer.
/// If the system refuses the runtime's timer thread (out of threads or address space), the
/// sleep waits until a later sleep, delay or timed wait can start it.
///
/// ```
/// use std::time::Duration;
/// use taskpool::{concurrent, sleep, TaskPool};
///
/// #[concurrent]
/// async fn later(x: u32) -> u32 {
///     sleep(Duration::from_millis(5)).await;
///     x + 1
/// }
///
/// assert_eq!(TaskPool::global().run(later, (1,)).wait().unwrap(), 2);
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    sleep_on(timer(), duration)
}

fn sleep_on(timer: &'static Timer, duration: Duration) -> Sleep {
    Sleep {
        deadline: deadline_after(Instant::now(), duration),
        timer,
        key: None,
    }
}

/// The future returned by [`sleep`].
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Sleep {
    /// `None` when the deadline is not representable: the sleep never completes.
    deadline: Option<Instant>,
    timer: &'static Timer,
    /// The entry registered at the first pending poll; dropping the sleep removes it.
    key: Option<Key>,
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("registered", &self.key.is_some())
            .finish()
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(deadline) = self.deadline else {
            // "Never" needs no entry and no waker: nothing will ever wake this future.
            return Poll::Pending;
        };
        if Instant::now() >= deadline {
            return Poll::Ready(());
        }
        let timer = self.timer;
        match self.key {
            None => {
                timer.start();
                self.key = Some(timer.insert(deadline, cx.waker().clone()));
                Poll::Pending
            }
            Some(key) if timer.update(key, cx.waker()) => Poll::Pending,
            // The timer removes an entry only once it is due (or on drop, which cannot race a
            // poll), so a missing entry means the deadline has passed, even if our clock read
            // above came a moment too early. Returning `Pending` here would lose the wake-up.
            Some(_) => Poll::Ready(()),
        }
    }
}

impl Sleep {
    /// Polls like `Future::poll`, except that a sleep already due when first polled is handed
    /// to the timer thread, which wakes `cx`'s waker at once: the caller never sees it complete
    /// inside the first call, so a callback run on completion never runs on the arming thread
    /// (where it may find the arming code's locks held, or arm again and recurse).
    pub(crate) fn poll_on_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let (None, Some(deadline)) = (self.key, self.deadline) {
            self.timer.start();
            self.key = Some(self.timer.insert(deadline, cx.waker().clone()));
            return Poll::Pending;
        }
        Pin::new(self).poll(cx)
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.timer.remove(key);
        }
    }
}

/// Orders entries by deadline; the sequence number keeps equal deadlines distinct.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    deadline: Instant,
    sequence: u64,
}

#[derive(Default)]
struct Timers {
    entries: BTreeMap<Key, Waker>,
    next_sequence: u64,
}

impl Timers {
    fn earliest(&self) -> Option<Key> {
        self.entries.first_key_value().map(|(key, _)| *key)
    }

    /// Removes and returns the wakers of every entry due at `now`, earliest first.
    fn take_due(&mut self, now: Instant) -> Vec<Waker> {
        let mut due = Vec::new();
        while let Some(entry) = self.entries.first_entry() {
            if entry.key().deadline > now {
                break;
            }
            due.push(entry.remove());
        }
        due
    }
}

/// The deadlines, and the thread that serves them (started at the first registration).
struct Timer {
    timers: Mutex<Timers>,
    /// Notified when a new earliest deadline arrives, so the thread shortens its wait.
    changed: Condvar,
    /// Set once the timer thread runs. A start the system refuses leaves it unset, and the next
    /// registration tries again: a `Once` would be poisoned by the failure, and every later
    /// sleep of the process would panic.
    started: AtomicBool,
    /// Serializes the starts, so that one thread is started at most.
    starting: std::sync::Mutex<()>,
}

/// The process-wide timer behind [`sleep`].
fn timer() -> &'static Timer {
    static TIMER: OnceLock<Timer> = OnceLock::new();
    TIMER.get_or_init(Timer::new)
}

impl Timer {
    fn new() -> Self {
        Self {
            timers: Mutex::new(Timers::default()),
            changed: Condvar::new(),
            started: AtomicBool::new(false),
            starting: std::sync::Mutex::new(()),
        }
    }

    /// Starts the timer thread unless it runs already. If the system refuses a thread, the
    /// entries wait for a later registration to start it (they are served then, late).
    fn start(&'static self) {
        if self.started.load(Ordering::Acquire) {
            return;
        }
        let _starting = self
            .starting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.started.load(Ordering::Acquire) {
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("taskpool-timer".to_owned())
            // Alarms run user code here: a periodic tick copies the task's arguments (a
            // user `Clone`, recursive for a linked list) and a refused run drops them. A
            // pool thread's stack, so what a task may receive the timer may copy and drop.
            .stack_size(crate::pool::DEFAULT_STACK_SIZE)
            // `serve` never returns; the loop only restarts it after a panic that escaped
            // the per-wake containment, so no panic can end the thread.
            .spawn(move || {
                loop {
                    contain(|| self.serve());
                }
            })
            .is_ok();
        self.started.store(spawned, Ordering::Release);
    }

    /// Registers `waker` to be woken at `deadline`, and returns the entry's key.
    fn insert(&self, deadline: Instant, waker: Waker) -> Key {
        let mut timers = lock(&self.timers);
        let key = Key {
            deadline,
            sequence: timers.next_sequence,
        };
        timers.next_sequence += 1;
        timers.entries.insert(key, waker);
        let earliest = timers.earliest() == Some(key);
        drop(timers);
        if earliest {
            self.changed.notify_one();
        }
        key
    }

    /// Makes `waker` the one woken for `key`; `false` when the entry has already fired.
    fn update(&self, key: Key, waker: &Waker) -> bool {
        // Cloned outside the lock (user code); whichever waker is left over is dropped outside
        // it too.
        let mut spare = waker.clone();
        let mut timers = lock(&self.timers);
        let Some(stored) = timers.entries.get_mut(&key) else {
            return false;
        };
        if !stored.will_wake(&spare) {
            std::mem::swap(stored, &mut spare);
        }
        drop(timers);
        drop(spare);
        true
    }

    /// Removes the entry for `key`, if it has not fired.
    fn remove(&self, key: Key) {
        // The guard is a temporary of this statement: the waker is dropped after the unlock.
        let removed = lock(&self.timers).entries.remove(&key);
        drop(removed);
    }

    /// The timer thread's loop: wake what is due, then wait for the next deadline.
    fn serve(&self) -> ! {
        loop {
            wake_all(self.next_due());
        }
    }

    /// Blocks until at least one entry is due, removes the due entries, and returns their
    /// wakers (with the lock released, so they can be woken outside it).
    fn next_due(&self) -> Vec<Waker> {
        let mut timers = lock(&self.timers);
        loop {
            let due = timers.take_due(Instant::now());
            if !due.is_empty() {
                return due;
            }
            timers = self.wait(timers);
        }
    }

    /// Waits until the earliest deadline, or for a change if there is none.
    fn wait<'a>(&self, timers: MutexGuard<'a, Timers>) -> MutexGuard<'a, Timers> {
        match timers.earliest() {
            None => self
                .changed
                .wait(timers)
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
            Some(key) => {
                let timeout = key.deadline.saturating_duration_since(Instant::now());
                self.changed
                    .wait_timeout(timers, timeout)
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .0
            }
        }
    }
}

/// Wakes each waker. A waker is user code: a panic in one must neither skip the others nor end
/// the timer thread, which every later sleep depends on.
fn wake_all(wakers: Vec<Waker>) {
    for waker in wakers {
        contain(|| waker.wake());
    }
}

/// Runs `f`, swallowing a panic (the panic hook has already reported it).
///
/// Dropping the panic payload runs its destructor, which may panic in turn; that second payload
/// is leaked rather than dropped, so nothing escapes.
fn contain(f: impl FnOnce()) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(f)) {
        if let Err(again) = panic::catch_unwind(AssertUnwindSafe(|| drop(payload))) {
            std::mem::forget(again);
        }
    }
}

#[cfg(all(test, not(taskpool_loom)))]
impl Timer {
    fn pending(&self) -> usize {
        lock(&self.timers).entries.len()
    }

    fn holds(&self, key: Key) -> bool {
        lock(&self.timers).entries.contains_key(&key)
    }

    /// Does one round of the timer thread's work as if the clock read `now`.
    fn fire(&self, now: Instant) {
        let due = lock(&self.timers).take_due(now);
        wake_all(due);
    }
}

#[cfg(all(test, not(taskpool_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    const HOUR: Duration = Duration::from_secs(3600);

    /// A timer of the test's own, so counts are not disturbed by other tests' sleeps.
    fn private_timer() -> &'static Timer {
        Box::leak(Box::new(Timer::new()))
    }

    fn poll(sleep: &mut Sleep, waker: &Waker) -> Poll<()> {
        Pin::new(sleep).poll(&mut Context::from_waker(waker))
    }

    /// Counts its wake-ups; optionally panics in `wake`, as a faulty user waker might.
    #[derive(Default)]
    struct Counter {
        wakes: AtomicUsize,
        panics: bool,
    }

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.wakes.fetch_add(1, Ordering::SeqCst);
            assert!(!self.panics, "a waker that panics");
        }
    }

    fn counter(panics: bool) -> (Arc<Counter>, Waker) {
        let counter = Arc::new(Counter {
            wakes: AtomicUsize::new(0),
            panics,
        });
        (counter.clone(), Waker::from(counter))
    }

    fn wakes(counter: &Counter) -> usize {
        counter.wakes.load(Ordering::SeqCst)
    }

    #[test]
    fn a_dropped_sleep_releases_its_timer_entry() {
        let timer = private_timer();
        let before = timer.pending();
        let mut sleep = sleep_on(timer, HOUR);
        assert!(poll(&mut sleep, Waker::noop()).is_pending());
        assert_eq!(timer.pending(), before + 1);
        drop(sleep);
        assert_eq!(timer.pending(), before);
    }

    #[test]
    fn the_global_timer_releases_a_dropped_sleep() {
        let mut sleep = sleep(HOUR);
        assert!(poll(&mut sleep, Waker::noop()).is_pending());
        let key = sleep.key.expect("a pending sleep registers");
        assert!(timer().holds(key));
        drop(sleep);
        assert!(!timer().holds(key));
    }

    #[test]
    fn many_dropped_sleeps_do_not_accumulate() {
        let timer = private_timer();
        let mut kept = sleep_on(timer, HOUR);
        assert!(poll(&mut kept, Waker::noop()).is_pending());
        for _ in 0..10_000 {
            let mut sleep = sleep_on(timer, HOUR);
            assert!(poll(&mut sleep, Waker::noop()).is_pending());
        }
        assert_eq!(timer.pending(), 1);
    }

    #[test]
    fn a_dropped_sleep_is_never_woken() {
        let timer = private_timer();
        let (count, waker) = counter(false);
        let mut sleep = sleep_on(timer, HOUR);
        assert!(poll(&mut sleep, &waker).is_pending());
        drop(sleep);
        timer.fire(Instant::now() + 2 * HOUR);
        assert_eq!(wakes(&count), 0);
    }

    #[test]
    fn an_unrepresentable_deadline_never_completes_and_registers_nothing() {
        let timer = private_timer();
        let (count, waker) = counter(false);
        let mut sleep = sleep_on(timer, Duration::MAX);
        assert!(poll(&mut sleep, &waker).is_pending());
        assert!(poll(&mut sleep, &waker).is_pending());
        assert_eq!(timer.pending(), 0);
        timer.fire(Instant::now() + 1000 * HOUR);
        assert!(poll(&mut sleep, &waker).is_pending());
        assert_eq!(wakes(&count), 0);
    }

    #[test]
    fn a_due_entry_wakes_the_latest_waker_once() {
        let timer = private_timer();
        let (first, first_waker) = counter(false);
        let (second, second_waker) = counter(false);
        let mut sleep = sleep_on(timer, HOUR);
        assert!(poll(&mut sleep, &first_waker).is_pending());
        assert!(poll(&mut sleep, &second_waker).is_pending());
        assert_eq!(timer.pending(), 1);
        timer.fire(Instant::now() + 2 * HOUR);
        assert_eq!((wakes(&first), wakes(&second)), (0, 1));
        assert_eq!(timer.pending(), 0);
    }

    /// A re-poll that finds its entry already fired completes, instead of waiting for a wake-up
    /// that went to the previous waker.
    #[test]
    fn a_repoll_after_the_entry_fired_completes() {
        let timer = private_timer();
        let mut sleep = sleep_on(timer, HOUR);
        assert!(poll(&mut sleep, Waker::noop()).is_pending());
        timer.fire(Instant::now() + 2 * HOUR);
        let (_, waker) = counter(false);
        assert!(poll(&mut sleep, &waker).is_ready());
    }

    #[test]
    fn a_panicking_waker_does_not_skip_the_others() {
        let timer = private_timer();
        let (panicky, panicky_waker) = counter(true);
        let (good, good_waker) = counter(false);
        let mut first = sleep_on(timer, HOUR);
        let mut second = sleep_on(timer, HOUR);
        assert!(poll(&mut first, &panicky_waker).is_pending());
        assert!(poll(&mut second, &good_waker).is_pending());
        timer.fire(Instant::now() + 2 * HOUR);
        assert_eq!((wakes(&panicky), wakes(&good)), (1, 1));
    }

    #[test]
    fn a_panicking_waker_does_not_stop_the_timer_thread() {
        let timer = private_timer();
        let (panicky, panicky_waker) = counter(true);
        let mut doomed = sleep_on(timer, Duration::from_millis(1));
        assert!(poll(&mut doomed, &panicky_waker).is_pending());
        wait_until(|| wakes(&panicky) == 1);

        let (good, good_waker) = counter(false);
        let mut later = sleep_on(timer, Duration::from_millis(1));
        assert!(poll(&mut later, &good_waker).is_pending());
        wait_until(|| wakes(&good) == 1);
        assert!(poll(&mut later, &good_waker).is_ready());
    }

    #[test]
    fn deadline_after_saturates_to_never() {
        let now = Instant::now();
        assert_eq!(deadline_after(now, Duration::MAX), None);
        assert_eq!(
            deadline_after(now, Duration::from_secs(1)),
            Some(now + Duration::from_secs(1))
        );
    }

    /// Waits for `condition` (set by the timer thread), failing after a generous bound.
    fn wait_until(condition: impl Fn() -> bool) {
        let give_up = Instant::now() + Duration::from_secs(20);
        while !condition() {
            assert!(Instant::now() < give_up, "the timer thread stopped waking");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    #[derive(Default)]
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Counter>, Waker) {
        let counter = Arc::new(Counter::default());
        (counter.clone(), Waker::from(counter))
    }

    fn registered(timer: &Timer, waker: Waker) -> (Key, Instant) {
        let deadline = Instant::now() + Duration::from_secs(3600);
        (timer.insert(deadline, waker), deadline)
    }

    /// `Sleep::poll` re-registering a new waker while the entry fires: either the update lands
    /// first (and the new waker is woken) or it reports the entry gone (and the poll completes).
    #[test]
    fn a_repoll_racing_the_firing_never_loses_the_wakeup() {
        loom::model(|| {
            let timer = Arc::new(Timer::new());
            let (first, first_waker) = counter();
            let (second, second_waker) = counter();
            let (key, deadline) = registered(&timer, first_waker);
            let firing = {
                let timer = timer.clone();
                loom::thread::spawn(move || wake_all(lock(&timer.timers).take_due(deadline)))
            };
            let still_pending = timer.update(key, &second_waker);
            firing.join().unwrap();
            let woken = (
                first.0.load(Ordering::SeqCst),
                second.0.load(Ordering::SeqCst),
            );
            if still_pending {
                assert_eq!(woken, (0, 1));
            } else {
                assert_eq!(woken, (1, 0));
            }
        });
    }

    /// A drop racing the firing leaves no entry behind and wakes at most once.
    #[test]
    fn a_drop_racing_the_firing_leaves_no_entry() {
        loom::model(|| {
            let timer = Arc::new(Timer::new());
            let (count, waker) = counter();
            let (key, deadline) = registered(&timer, waker);
            let firing = {
                let timer = timer.clone();
                loom::thread::spawn(move || wake_all(lock(&timer.timers).take_due(deadline)))
            };
            timer.remove(key);
            firing.join().unwrap();
            assert!(lock(&timer.timers).entries.is_empty());
            assert!(count.0.load(Ordering::SeqCst) <= 1);
        });
    }
}
