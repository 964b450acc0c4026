//! `sleep`: a timer future that any executor (and any task of the pool) can await, and the
//! saturating deadline arithmetic the pool shares.
//!
//! A lazily started timer thread (the server) holds the pending deadlines in an ordered map keyed
//! by `(deadline, sequence)` and wakes each waker when its deadline passes; it parks with no
//! timeout when no timer is pending. A [`Sleep`] remembers its key, so a re-poll updates its own
//! entry and dropping it removes the entry at once: a long sleep abandoned by a `select!` or a
//! dropped task costs nothing afterwards.
//!
//! Three rules keep the timers served for every later sleep:
//! * user code (waking, cloning or dropping a waker) never runs under the timers lock,
//! * a panic in a waker is contained on the timer thread (see [`contain`]), and
//! * a waker that blocks in `wake` holds up its own thread only: the server wakes one entry at a
//!   time, and a standby thread takes the server role over from a wake that overruns
//!   [`OVERRUN`] (see [`Timer`]).

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

/// How long the server may spend in one wake before the standby takes its role over.
///
/// Long enough that an ordinary wake (a queue push, an unpark) never comes near it, so takeovers
/// (and the thread starts they lead to) stay rare; short enough that a waker blocking in `wake`
/// delays the other timers by about this much only.
const OVERRUN: Duration = Duration::from_millis(10);

#[derive(Default)]
struct Timers {
    entries: BTreeMap<Key, Waker>,
    next_sequence: u64,
    /// The generation of the server: the one timer thread that takes due entries. A takeover
    /// bumps it, so an old server learns it was replaced by comparing it with its own.
    server: u64,
    /// When the server entered the wake it is in, if it is in one: what the standby watches.
    waking: Option<Instant>,
    /// A standby thread exists (or is being started): at most one, so the timer's own threads
    /// that are not stuck in user code stay two.
    standby: bool,
    /// The standby waits without a timeout (no wake in progress): the server entering a wake
    /// must notify it, so it starts watching the clock.
    standby_idle: bool,
}

impl Timers {
    fn earliest(&self) -> Option<Key> {
        self.entries.first_key_value().map(|(key, _)| *key)
    }

    /// Removes and returns the waker of the earliest entry, if it is due at `now`.
    ///
    /// One at a time: an entry stays in the map until the moment it is woken, so a waker that
    /// blocks holds up no entry but its own (a standby taking over finds the rest).
    fn take_first_due(&mut self, now: Instant) -> Option<Waker> {
        let entry = self.entries.first_entry()?;
        (entry.key().deadline <= now).then(|| entry.remove())
    }

    /// Makes the caller the server if the current one has spent `overrun` or more in one wake,
    /// and returns its generation.
    fn take_over(&mut self, now: Instant, overrun: Duration) -> Option<u64> {
        let since = self.waking?;
        if now.saturating_duration_since(since) < overrun {
            return None;
        }
        self.server = self.server.wrapping_add(1);
        self.waking = None;
        self.standby = false;
        Some(self.server)
    }

    /// The old server, replaced while in a wake: it becomes the standby if there is none
    /// (`true`), otherwise its thread ends.
    fn step_down(&mut self) -> bool {
        !std::mem::replace(&mut self.standby, true)
    }
}

/// What one turn of the server did.
enum Turn<'a> {
    /// It woke one due entry; the next turn may find another.
    Woke,
    /// Nothing is due: the lock is still held, so the server can wait without missing an insert.
    Idle(MutexGuard<'a, Timers>),
    /// Another thread took the server role over while this one was in a wake.
    Replaced(MutexGuard<'a, Timers>),
}

/// The deadlines, and the threads that serve them (started at the first registration).
///
/// A waker is user code and may block in `wake`: if one thread woke every due entry, one such
/// waker would stall every sleep, delay, periodic tick and lock timeout of the process. So the
/// server wakes one entry per turn and marks when it entered the wake; a standby thread watching
/// that mark takes the server role over once a wake overruns [`OVERRUN`], and the stuck thread,
/// when its wake returns, steps down (to standby, or it ends).
struct Timer {
    timers: Mutex<Timers>,
    /// Notified when a new earliest deadline arrives, so the server shortens its wait. Only the
    /// server waits on it.
    changed: Condvar,
    /// Notified when the server enters a wake while the standby waits with no timeout. Only the
    /// standby waits on it.
    watch: Condvar,
    /// How long a wake may last before the standby takes over ([`OVERRUN`]; a model sets zero).
    overrun: Duration,
    /// Set once the first server thread runs. A start the system refuses leaves it unset, and
    /// the next registration tries again: a `Once` would be poisoned by the failure, and every
    /// later sleep of the process would panic.
    started: AtomicBool,
    /// Serializes the starts, so that one first server is started at most.
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
            watch: Condvar::new(),
            overrun: OVERRUN,
            started: AtomicBool::new(false),
            starting: std::sync::Mutex::new(()),
        }
    }

    /// Starts the first server thread unless it runs already. If the system refuses a thread,
    /// the entries wait for a later registration to start it (they are served then, late).
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
        // The first server is generation 0 (`Timers::default`).
        let spawned = self.spawn(Some(0));
        self.started.store(spawned, Ordering::Release);
    }

    /// Starts a timer thread: the server of generation `serving`, or the standby (`None`).
    /// `false` when the system refuses the thread.
    fn spawn(&'static self, serving: Option<u64>) -> bool {
        std::thread::Builder::new()
            .name("taskpool-timer".to_owned())
            // Alarms run user code here: a periodic tick copies the task's arguments (a
            // user `Clone`, recursive for a linked list) and a refused run drops them. A
            // pool thread's stack, so what a task may receive the timer may copy and drop.
            .stack_size(crate::pool::DEFAULT_STACK_SIZE)
            .spawn(move || self.relay(serving))
            .is_ok()
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

    /// A timer thread's life: serve while it holds the server role, stand by when it stepped
    /// down to standby, and end when it stepped down with a standby already there.
    ///
    /// User code (a wake, and the waker's drop inside it) runs only inside [`contain`], so no
    /// panic ends the thread while it holds a role.
    fn relay(&'static self, mut serving: Option<u64>) {
        loop {
            let me = match serving {
                Some(me) => me,
                None => self.stand_by(),
            };
            if !self.serve(me) {
                return;
            }
            serving = None;
        }
    }

    /// The server `me`'s loop: wake what is due, one entry per turn, then wait for the next
    /// deadline. Returns once replaced: `true` when this thread is to be the standby.
    fn serve(&'static self, me: u64) -> bool {
        loop {
            match self.turn(me, Instant::now(), || self.spawn(None)) {
                Turn::Woke => {}
                Turn::Idle(timers) => drop(self.wait(timers)),
                Turn::Replaced(mut timers) => return timers.step_down(),
            }
        }
    }

    /// One turn of the server `me` at `now`: takes the first due entry and wakes it, outside
    /// the lock. Before the wake it makes sure a standby exists (`start_standby` starts one;
    /// `false` if the system refused it, and the next wake tries again), and marks the wake, so
    /// that the standby can take over if the wake blocks.
    fn turn(&self, me: u64, now: Instant, start_standby: impl FnOnce() -> bool) -> Turn<'_> {
        let mut timers = lock(&self.timers);
        if timers.server != me {
            return Turn::Replaced(timers);
        }
        let Some(waker) = timers.take_first_due(now) else {
            return Turn::Idle(timers);
        };
        // Reserved under the lock, so that a stepping-down server does not become a second one.
        let needs_standby = !std::mem::replace(&mut timers.standby, true);
        timers.waking = Some(now);
        let notify = std::mem::take(&mut timers.standby_idle);
        drop(timers);
        // Nobody else can have claimed the standby role meanwhile (it was reserved), and no
        // takeover can clear it (there is no standby to take over): the reset is ours to make.
        if needs_standby && !start_standby() {
            lock(&self.timers).standby = false;
        }
        if notify {
            self.watch.notify_one();
        }
        contain(|| waker.wake());
        let mut timers = lock(&self.timers);
        // A replaced server must not clear the mark: it is the new server's by now.
        if timers.server == me {
            timers.waking = None;
        }
        Turn::Woke
    }

    /// The standby's loop: watches the server's wakes, and takes the server role over from a
    /// wake that overruns. Returns the generation it serves as.
    fn stand_by(&self) -> u64 {
        let mut timers = lock(&self.timers);
        loop {
            let now = Instant::now();
            if let Some(me) = timers.take_over(now, self.overrun) {
                return me;
            }
            timers = match timers.waking {
                // The server is in a wake: look again when it would overrun.
                Some(since) => {
                    let left = deadline_after(since, self.overrun)
                        .map_or(Duration::MAX, |due| due.saturating_duration_since(now));
                    self.watch
                        .wait_timeout(timers, left)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0
                }
                // No wake to watch: sleep until the server enters one (no timer thread polls
                // while the process is idle).
                None => {
                    timers.standby_idle = true;
                    let mut timers = self
                        .watch
                        .wait(timers)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                    timers.standby_idle = false;
                    timers
                }
            };
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
}

#[cfg(test)]
impl Timer {
    /// Does the server's work as if the clock read `now`, until nothing is due (no standby is
    /// started: a test's server does not block).
    fn fire(&self, now: Instant) {
        let me = lock(&self.timers).server;
        while let Turn::Woke = self.turn(me, now, || false) {}
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

    /// Blocks in `wake` until released, as a faulty user waker might.
    struct Blocker {
        entered: AtomicUsize,
        release: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
    }

    impl Wake for Blocker {
        fn wake(self: Arc<Self>) {
            self.entered.fetch_add(1, Ordering::SeqCst);
            let release = self.release.lock().unwrap();
            let _ = release.recv_timeout(Duration::from_secs(30));
        }
    }

    /// A wake that blocks is taken over: the entry due right behind it and a later one are
    /// woken meanwhile, and the stuck server, once released, no longer serves.
    #[test]
    fn a_blocking_waker_is_taken_over() {
        let timer = private_timer();
        let (release, released) = std::sync::mpsc::channel();
        let blocker = Arc::new(Blocker {
            entered: AtomicUsize::new(0),
            release: std::sync::Mutex::new(released),
        });
        let (behind, behind_waker) = counter(false);
        let mut stuck = sleep_on(timer, Duration::from_millis(1));
        let mut next = sleep_on(timer, Duration::from_millis(1));
        assert!(poll(&mut stuck, &Waker::from(blocker.clone())).is_pending());
        assert!(poll(&mut next, &behind_waker).is_pending());
        wait_until(|| blocker.entered.load(Ordering::SeqCst) == 1);
        wait_until(|| wakes(&behind) == 1);

        let (later, later_waker) = counter(false);
        let mut after = sleep_on(timer, Duration::from_millis(1));
        assert!(poll(&mut after, &later_waker).is_pending());
        wait_until(|| wakes(&later) == 1);
        assert!(lock(&timer.timers).server >= 1, "the standby took over");

        release.send(()).unwrap();
        // The released thread steps down; the timer keeps serving.
        let (last, last_waker) = counter(false);
        let mut last_sleep = sleep_on(timer, Duration::from_millis(1));
        assert!(poll(&mut last_sleep, &last_waker).is_pending());
        wait_until(|| wakes(&last) == 1);
        assert_eq!(blocker.entered.load(Ordering::SeqCst), 1);
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
                loom::thread::spawn(move || timer.fire(deadline))
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
                loom::thread::spawn(move || timer.fire(deadline))
            };
            timer.remove(key);
            firing.join().unwrap();
            assert!(lock(&timer.timers).entries.is_empty());
            assert!(count.0.load(Ordering::SeqCst) <= 1);
        });
    }

    /// Serves as `me` until nothing is due (`None`) or it is replaced (`Some(steps down to
    /// standby)`).
    fn serve_until_idle(timer: &Timer, me: u64, now: Instant) -> Option<bool> {
        loop {
            match timer.turn(me, now, || false) {
                Turn::Woke => {}
                Turn::Idle(_) => return None,
                Turn::Replaced(mut timers) => return Some(timers.step_down()),
            }
        }
    }

    /// The standby taking the server role over while the server is in a wake (any wake counts
    /// as overrun here): every entry is woken exactly once, the old server steps down, and the
    /// standby flag is set exactly when a thread stands by.
    #[test]
    fn a_takeover_during_a_wake_loses_and_repeats_no_wake() {
        loom::model(|| {
            let mut timer = Timer::new();
            timer.overrun = Duration::ZERO;
            let timer = Arc::new(timer);
            let (first, first_waker) = counter();
            let (second, second_waker) = counter();
            let now = Instant::now();
            timer.insert(now, first_waker);
            timer.insert(now, second_waker);
            // This thread is the standby.
            lock(&timer.timers).standby = true;
            let old = {
                let timer = timer.clone();
                loom::thread::spawn(move || serve_until_idle(&timer, 0, now))
            };
            let took_over = lock(&timer.timers).take_over(Instant::now(), timer.overrun);
            if let Some(me) = took_over {
                assert_eq!(serve_until_idle(&timer, me, now), None);
            }
            let old = old.join().unwrap();
            assert_eq!(
                (
                    first.0.load(Ordering::SeqCst),
                    second.0.load(Ordering::SeqCst)
                ),
                (1, 1)
            );
            let timers = lock(&timer.timers);
            assert!(timers.entries.is_empty());
            assert_eq!(timers.waking, None);
            match (took_over, old) {
                (None, None) => assert!(timers.standby),
                (Some(me), Some(standing_by)) => {
                    assert_eq!(timers.server, me);
                    assert_eq!(timers.standby, standing_by);
                }
                outcome => panic!("unexpected outcome {outcome:?}"),
            }
        });
    }
}
