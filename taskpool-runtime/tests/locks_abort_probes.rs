//! Probes of `AbortSignal` on waiting lock requests: an abort withdraws a request at once, with
//! no help from the request's own future or thread (readers behind an aborted writer go in,
//! snapshots stop listing it), and races of aborts with grants, timeouts, drops, tries and
//! condition-variable notifications end clean. Deterministic: hand-polled futures, and waits
//! that end on conditions ([`PATIENCE`](support::PATIENCE)).

mod support;

use std::time::Duration;

use support::{Probe, SHORT_LIMIT, wait_until};
use taskpool::{AbortSignal, AsyncLock, AsyncLockMode, AsyncLockOptions, ConditionVariable, Error};

/// A timeout no test waits for.
const NEVER: Duration = Duration::MAX;

// Timeouts a test waits for are `SHORT_LIMIT`: the set-up before them takes microseconds, and a
// shorter one could run out (under load) while the test still queues the requests behind it.

fn with_signal(signal: &AbortSignal) -> AsyncLockOptions {
    AsyncLockOptions::new().signal(signal.clone())
}

/// The modes of the pending requests a snapshot lists, in order.
fn pending_modes<T>(lock: &AsyncLock<T>) -> Vec<AsyncLockMode> {
    lock.state().pending.iter().map(|info| info.mode).collect()
}

fn assert_aborted<T: std::fmt::Debug>(outcome: taskpool::Result<T>, expected: &str) {
    match outcome {
        Err(Error::LockAborted { reason, .. }) => assert_eq!(reason, expected),
        other => panic!("expected LockAborted({expected}), got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The defect: an aborted request kept its place until its own future ran again.
// ---------------------------------------------------------------------------------------------

/// A reader holds; a writer with a signal and no timeout queues; a reader queues behind it.
/// The abort alone lets the second reader in: its future is woken and granted, and the
/// snapshot no longer lists the writer, all before the writer's future is polled again.
#[test]
fn an_abort_lets_the_readers_behind_an_aborted_writer_in_at_once() {
    let lock = AsyncLock::new(0);
    let first = lock.lock_shared();
    let signal = AbortSignal::new();
    let mut writer =
        Probe::new(lock.lock_async_with(with_signal(&signal).timeout(NEVER))).pending();
    let mut reader = Probe::new(lock.lock_shared_async()).pending();
    assert_eq!(
        pending_modes(&lock),
        [AsyncLockMode::Exclusive, AsyncLockMode::Shared]
    );

    signal.abort("x");

    assert_eq!(
        reader.wakes(),
        1,
        "the reader behind the writer was not woken"
    );
    assert!(writer.wakes() >= 1, "the aborted writer was not woken");
    assert_eq!(pending_modes(&lock), [AsyncLockMode::Shared]);
    let second = reader.ready();
    assert!(lock.state().pending.is_empty());
    assert_eq!(lock.state().held.len(), 2);
    assert_aborted(writer.ready().map(drop), "x");
    drop((first, second));
    assert!(lock.try_lock().is_some(), "the lock ends free");
}

/// The same through `AsyncLock::query` on a named lock: the query shows the aborted writer gone
/// before its future runs again.
#[test]
fn an_aborted_named_writer_leaves_the_query_at_once() {
    let name = "locks_abort_probes::named_writer";
    let lock = AsyncLock::request(name);
    let first = lock.lock_shared();
    let signal = AbortSignal::new();
    let mut writer = Probe::new(lock.lock_async_with(with_signal(&signal))).pending();
    let mut reader = Probe::new(lock.lock_shared_async()).pending();
    assert_eq!(AsyncLock::query(name).unwrap().pending.len(), 2);

    signal.abort("named");

    let pending = AsyncLock::query(name).unwrap().pending;
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].mode, AsyncLockMode::Shared);
    assert!(reader.poll().is_ready());
    assert_aborted(writer.ready().map(drop), "named");
    drop(first);
    assert!(AsyncLock::query(name).unwrap().held.is_empty());
}

/// A blocked writer thread: the abort lets the reader queued behind it in without waiting for
/// the writer's thread to run.
#[test]
fn an_abort_withdraws_a_blocked_writer_before_its_thread_runs() {
    let lock = std::sync::Arc::new(AsyncLock::new(()));
    let first = lock.lock_shared();
    let signal = AbortSignal::new();
    let writer = std::thread::spawn({
        let (lock, signal) = (lock.clone(), signal.clone());
        move || lock.lock_with(&with_signal(&signal)).map(drop)
    });
    wait_until("the writer queues", || lock.state().pending.len() == 1);
    let mut reader = Probe::new(lock.lock_shared_async()).pending();

    signal.abort("blocked");

    assert_eq!(
        reader.wakes(),
        1,
        "the reader behind the writer was not woken"
    );
    assert!(reader.poll().is_ready());
    assert_aborted(writer.join().unwrap(), "blocked");
    drop(first);
}

/// A writer whose turn came (woken, reserved for) but whose future has not run yet is aborted:
/// it never held the lock, and the readers behind it go in at once.
#[test]
fn an_abort_withdraws_a_writer_whose_turn_came_before_it_ran() {
    let lock = AsyncLock::new(());
    let holder = lock.lock();
    let signal = AbortSignal::new();
    let mut writer = Probe::new(lock.lock_async_with(with_signal(&signal))).pending();
    let mut reader = Probe::new(lock.lock_shared_async()).pending();
    drop(holder);
    assert_eq!(writer.wakes(), 1, "the writer's turn came");
    assert_eq!(reader.wakes(), 0);

    signal.abort("late");

    assert_eq!(
        reader.wakes(),
        1,
        "the reader behind the withdrawn writer was not woken"
    );
    let read = reader.ready();
    assert_aborted(writer.ready().map(drop), "late");
    assert!(lock.state().pending.is_empty());
    drop(read);
    assert!(lock.try_lock().is_some(), "the lock ends free");
}

/// The waker the signal holds panics when the abort wakes it (a broken executor): the abort
/// neither panics nor stops, the request is withdrawn all the same, and the reader behind it
/// and a second request on the same signal are still told.
#[test]
fn a_panicking_waker_does_not_stop_an_abort() {
    let lock = AsyncLock::new(());
    let holder = lock.lock_shared();
    let signal = AbortSignal::new();
    let mut broken = Box::pin(lock.lock_async_with(with_signal(&signal)));
    let (polled, panicked) = support::wakers::poll_with_panicking_waker(&mut broken);
    assert!(polled.is_pending());
    let mut second = Probe::new(lock.lock_async_with(with_signal(&signal))).pending();
    let mut reader = Probe::new(lock.lock_shared_async()).pending();

    signal.abort("broken");

    assert_eq!(panicked.woken(), 1);
    assert_eq!(second.wakes(), 1);
    assert_eq!(reader.wakes(), 1);
    assert_eq!(pending_modes(&lock), [AsyncLockMode::Shared]);
    let read = reader.ready();
    assert_aborted(second.ready().map(drop), "broken");
    assert_aborted(Probe::new(broken).ready().map(drop), "broken");
    drop((holder, read));
    assert!(lock.try_lock().is_some(), "the lock ends free");
}

// ---------------------------------------------------------------------------------------------
// Races and bad input around the signal: timeouts, two locks, repeated aborts, dropped clones.
// ---------------------------------------------------------------------------------------------

/// One signal shared by requests on two locks (a future on one, a blocked thread on the
/// other): one abort withdraws both at once, each lock lets the reader behind it in, and both
/// requests fail with the reason.
#[test]
fn one_signal_withdraws_its_requests_on_two_locks() {
    let first = std::sync::Arc::new(AsyncLock::new(1));
    let second = std::sync::Arc::new(AsyncLock::new(2));
    let (held_first, held_second) = (first.lock_shared(), second.lock_shared());
    let signal = AbortSignal::new();
    let mut on_first = Probe::new(first.lock_async_with(with_signal(&signal))).pending();
    let on_second = std::thread::spawn({
        let (second, signal) = (second.clone(), signal.clone());
        move || second.lock_with(&with_signal(&signal)).map(drop)
    });
    wait_until("the thread queues", || second.state().pending.len() == 1);
    let mut reader_first = Probe::new(first.lock_shared_async()).pending();
    let mut reader_second = Probe::new(second.lock_shared_async()).pending();

    signal.abort("both");

    assert_eq!((reader_first.wakes(), reader_second.wakes()), (1, 1));
    assert_eq!(pending_modes(&first), [AsyncLockMode::Shared]);
    assert_eq!(pending_modes(&second), [AsyncLockMode::Shared]);
    let reads = (reader_first.ready(), reader_second.ready());
    assert_aborted(on_first.ready().map(drop), "both");
    assert_aborted(on_second.join().unwrap(), "both");
    drop((reads, held_first, held_second));
    assert!(first.try_lock().is_some() && second.try_lock().is_some());
}

/// The timeout fired (the future was woken by its timer) but the future has not run when the
/// abort comes: the abort wins at the next poll, and the queue is clear at once.
#[test]
fn an_abort_after_an_unobserved_timeout_wins() {
    let lock = AsyncLock::new(());
    let holder = lock.lock();
    let signal = AbortSignal::new();
    let options = with_signal(&signal).timeout(SHORT_LIMIT);
    let mut request = Probe::new(lock.lock_async_with(options)).pending();
    wait_until("the timer fires", || request.wakes() > 0);

    signal.abort("first");

    assert!(lock.state().pending.is_empty());
    assert_aborted(request.ready().map(drop), "first");
    drop(holder);
}

/// Blocked threads with a signal and a short timeout race the abort: each ends with exactly
/// one of the two errors, and the lock is left with its holder only.
#[test]
fn blocked_requests_racing_their_timeout_and_an_abort_end_with_one_error() {
    let lock = std::sync::Arc::new(AsyncLock::new(()));
    let holder = lock.lock();
    let signal = AbortSignal::new();
    let threads: Vec<_> = (0..8u64)
        .map(|n| {
            let (lock, signal) = (lock.clone(), signal.clone());
            let timeout = Duration::from_millis(n % 3);
            std::thread::spawn(move || {
                lock.lock_with(&with_signal(&signal).timeout(timeout))
                    .map(drop)
            })
        })
        .collect();
    signal.abort("race");
    for thread in threads {
        match thread.join().unwrap() {
            Err(Error::LockAborted { reason, .. }) => assert_eq!(reason, "race"),
            Err(Error::LockTimedOut { .. }) => {}
            other => panic!("expected an abort or a timeout, got {other:?}"),
        }
    }
    let state = lock.state();
    assert!(state.pending.is_empty(), "{state:?}");
    assert_eq!(state.held.len(), 1);
    drop(holder);
}

/// Aborting twice keeps the first reason and wakes nobody again; a request made after the
/// abort fails at once without queueing.
#[test]
fn a_signal_aborted_twice_keeps_its_first_reason() {
    let lock = AsyncLock::new(());
    let holder = lock.lock();
    let signal = AbortSignal::new();
    let mut request = Probe::new(lock.lock_async_with(with_signal(&signal))).pending();
    signal.abort("first");
    signal.abort("second");
    assert_eq!(request.wakes(), 1);
    assert_aborted(request.ready().map(drop), "first");
    let mut late = Probe::new(lock.lock_async_with(with_signal(&signal)));
    assert_aborted(late.ready().map(drop), "first");
    assert_aborted(lock.lock_with(&with_signal(&signal)).map(drop), "first");
    assert!(lock.state().pending.is_empty());
    drop(holder);
}

/// Every other clone of the signal is dropped while a request waits with it: the request keeps
/// waiting and takes the lock when it is released (nobody can abort it any more).
#[test]
fn a_request_outlives_the_dropped_clones_of_its_signal() {
    let lock = AsyncLock::new(5);
    let holder = lock.lock();
    let signal = AbortSignal::new();
    let mut request = Probe::new(lock.lock_async_with(with_signal(&signal))).pending();
    drop(signal);
    assert_eq!(request.wakes(), 0);
    drop(holder);
    assert_eq!(request.wakes(), 1);
    assert_eq!(*request.ready().unwrap(), 5);
}

/// A request granted the lock keeps it when its signal is aborted later, and a request of the
/// same signal that is still waiting gives up its place: the signal withdraws, it never revokes.
#[test]
fn an_abort_after_the_grant_leaves_the_guard_alone() {
    let lock = AsyncLock::new(());
    let signal = AbortSignal::new();
    let mut granted = Probe::new(lock.lock_shared_async_with(with_signal(&signal)));
    let guard = granted.ready().unwrap();
    let mut waiting = Probe::new(lock.lock_async_with(with_signal(&signal))).pending();
    signal.abort("after");
    assert_eq!(lock.state().held.len(), 1);
    assert!(lock.state().pending.is_empty());
    assert_aborted(waiting.ready().map(drop), "after");
    drop(guard);
    assert!(lock.try_lock().is_some());
}

// ---------------------------------------------------------------------------------------------
// Many requests of every kind on one lock.
// ---------------------------------------------------------------------------------------------

/// How one request of the mixed probe asks, and how it must end.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// Waits with the signal that is aborted: `LockAborted`.
    Aborted,
    /// Waits with a timeout that passes while the lock is held: `LockTimedOut`.
    TimesOut,
    /// Waits with a signal that is never aborted, and no timeout: granted.
    Patient,
    /// A try (`is_available`) while the lock is held: `LockUnavailable`.
    Tries,
}

const KINDS: [Kind; 4] = [Kind::Aborted, Kind::TimesOut, Kind::Patient, Kind::Tries];

/// Forty requests of both modes, with timeouts, aborts and tries mixed, on one lock held
/// exclusively meanwhile: the abort clears its requests from the queue at once, and each
/// timeout its own at its deadline, before their futures run again; each request ends the way
/// its kind says, every patient one is granted after the release, and the lock
/// ends free with nobody waiting.
#[test]
fn mixed_timeouts_aborts_and_tries_on_one_lock_all_resolve() {
    let lock = AsyncLock::new(0u32);
    let holder = lock.lock();
    let (doomed, spared) = (AbortSignal::new(), AbortSignal::new());
    let mut requests: Vec<_> = (0..40usize)
        .map(|n| {
            let kind = KINDS[n % KINDS.len()];
            let options = match kind {
                Kind::Aborted => with_signal(&doomed).timeout(NEVER),
                Kind::TimesOut => with_signal(&spared).timeout(SHORT_LIMIT),
                Kind::Patient => with_signal(&spared),
                Kind::Tries => AsyncLockOptions::new().is_available(true),
            };
            let mode = if n % 3 == 0 {
                AsyncLockMode::Shared
            } else {
                AsyncLockMode::Exclusive
            };
            let future = lock.lock_async_then(mode, options, move |_| async move { n });
            (kind, Probe::new(future))
        })
        .collect();
    let mut outcomes = vec![None; requests.len()];
    poll_unresolved(&mut requests, &mut outcomes);
    assert_eq!(lock.state().pending.len(), 30, "all but the tries queue");

    doomed.abort("mixed");
    assert_eq!(
        lock.state().pending.len(),
        20,
        "the aborted requests left at once"
    );
    wait_until("every timer fires", || {
        requests
            .iter()
            .all(|(kind, request)| *kind != Kind::TimesOut || request.wakes() > 0)
    });
    // Each timed-out request left at its deadline, before its future ran again.
    assert_eq!(
        lock.state().pending.len(),
        10,
        "only the patient requests wait"
    );
    drop(holder);
    // Each round polls every unresolved request once; a granted one finishes at once, so each
    // round resolves at least the front of the queue.
    for _ in 0..requests.len() {
        poll_unresolved(&mut requests, &mut outcomes);
    }
    for ((kind, _), outcome) in requests.iter().zip(&outcomes) {
        assert_eq!(outcome.as_deref(), Some(expected(*kind)), "{kind:?}");
    }
    let state = lock.state();
    assert!(
        state.held.is_empty() && state.pending.is_empty(),
        "{state:?}"
    );
}

/// Polls once each request of the mixed probe that has not ended, recording how it ended.
fn poll_unresolved<F>(requests: &mut [(Kind, Probe<F>)], outcomes: &mut [Option<String>])
where
    F: std::future::Future<Output = taskpool::Result<usize>>,
{
    for ((kind, request), outcome) in requests.iter_mut().zip(outcomes) {
        if outcome.is_none() {
            if let std::task::Poll::Ready(result) = request.poll() {
                *outcome = Some(outcome_of(*kind, result));
            }
        }
    }
}

/// What a request of the mixed probe ended with, checked against its kind.
fn outcome_of(kind: Kind, outcome: taskpool::Result<usize>) -> String {
    let ended = match outcome {
        Ok(_) => "granted",
        Err(Error::LockAborted { reason, .. }) => {
            assert_eq!(reason, "mixed");
            "aborted"
        }
        Err(Error::LockTimedOut { .. }) => "timed out",
        Err(Error::LockUnavailable { .. }) => "unavailable",
        Err(other) => panic!("{kind:?}: unexpected {other:?}"),
    };
    ended.to_string()
}

fn expected(kind: Kind) -> &'static str {
    match kind {
        Kind::Aborted => "aborted",
        Kind::TimesOut => "timed out",
        Kind::Patient => "granted",
        Kind::Tries => "unavailable",
    }
}

// ---------------------------------------------------------------------------------------------
// ConditionVariable: `notify_one` racing `wait_for` timeouts. ArkTS: `notifyOne` "notifies the
// first waiting thread"; `waitFor(timeout)` resolves when notified or when the time is up. A
// notification must reach someone who reports it: never lost to a waiter whose time ran out.
// ---------------------------------------------------------------------------------------------

/// A `wait_for_async` whose time ran out leaves the queue at its deadline, before its future
/// runs again (ArkTS: `waitFor` resolves then, and `notifyOne` notifies the first *waiting*
/// thread): the next `notify_one` goes to the waiter behind it, and the timed one reports its
/// timeout (`false`). (It stayed queued and took the notification, which the waiter behind it,
/// perhaps waiting with no timeout, then never got.)
#[test]
fn a_timed_out_wait_for_leaves_the_queue_at_its_deadline() {
    let changed = ConditionVariable::new();
    let mut timed = Probe::new(changed.wait_for_async(SHORT_LIMIT)).pending();
    let mut other = Probe::new(changed.wait_async()).pending();
    wait_until("the timer fires", || timed.wakes() > 0);
    assert_eq!(changed.waiters(), 1, "the timed-out waiter is still queued");
    changed.notify_one();
    assert_eq!(
        other.wakes(),
        1,
        "the notification went to the timed-out waiter"
    );
    assert!(other.poll().is_ready());
    assert!(!timed.ready(), "its time ran out first");
    assert!(!timed.ready(), "polled again, the same answer");
}

/// A timed-out `wait_for_async` dropped without being polled again: a `notify_one` reaches the
/// other waiter, passed on if the dropped wait had taken it, never lost.
#[test]
fn a_dropped_timed_out_wait_for_passes_the_notification_on() {
    let changed = ConditionVariable::new();
    let timed = Probe::new(changed.wait_for_async(SHORT_LIMIT)).pending();
    let mut other = Probe::new(changed.wait_async()).pending();
    wait_until("the timer fires", || timed.wakes() > 0);
    changed.notify_one();
    drop(timed);
    assert_eq!(other.wakes(), 1);
    assert!(other.poll().is_ready());
}

/// A wait that saw its timeout (`false`) has left: the next `notify_one` goes to the other
/// waiter.
#[test]
fn a_wait_for_that_saw_its_timeout_leaves_the_notification_to_the_next() {
    let changed = ConditionVariable::new();
    let mut timed = Probe::new(changed.wait_for_async(SHORT_LIMIT)).pending();
    let mut other = Probe::new(changed.wait_async()).pending();
    wait_until("the timer fires", || timed.wakes() > 0);
    assert!(!timed.ready());
    assert_eq!(changed.waiters(), 1);
    changed.notify_one();
    assert_eq!(other.wakes(), 1);
    assert!(other.poll().is_ready());
    assert!(!timed.ready(), "polled again, the same answer");
}

/// Blocked `wait_for`s with short timeouts race a `notify_one`, with a patient waiter queued
/// behind them: the notification is reported by exactly one waiter (a timed waiter's `true`, or
/// the patient waiter), never lost to a waiter whose time ran out and never doubled.
#[test]
fn notify_one_racing_blocking_wait_for_timeouts_loses_no_notification() {
    for round in 0..20u64 {
        let changed = std::sync::Arc::new(ConditionVariable::new());
        let timed: Vec<_> = (1..=3)
            .map(|n| {
                let changed = changed.clone();
                let timeout = Duration::from_micros(n * 100 + round * 10);
                std::thread::spawn(move || changed.wait_for(timeout))
            })
            .collect();
        wait_until("each timed waiter queues or leaves", || {
            let finished = timed.iter().filter(|thread| thread.is_finished()).count();
            changed.waiters() + finished == timed.len()
        });
        let mut patient = Probe::new(changed.wait_async()).pending();
        changed.notify_one();
        let reported = timed
            .into_iter()
            .map(|thread| thread.join().unwrap())
            .filter(|notified| *notified)
            .count();
        match reported {
            0 => {
                assert_eq!(
                    patient.wakes(),
                    1,
                    "round {round}: the notification was lost"
                );
                assert!(patient.poll().is_ready());
            }
            1 => {
                assert_eq!(patient.wakes(), 0, "round {round}: notified twice");
                assert!(patient.poll().is_pending());
                assert_eq!(changed.waiters(), 1);
            }
            more => panic!("round {round}: one notify_one reported by {more} waiters"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Timeouts: the same defect as aborts. ArkTS rejects `lockAsync` when the timeout passes; a
// request whose time ran out must not keep its place until its future runs again.
// ---------------------------------------------------------------------------------------------

/// A reader holds; a writer with a short timeout queues; a reader queues behind it. When the
/// writer's time runs out, the reader behind it goes in and the snapshot stops listing the
/// writer, before the writer's future runs again; polled at last, it fails with the timeout,
/// even though the lock is free by then.
#[test]
fn a_timeout_lets_the_readers_behind_a_timed_out_writer_in_at_once() {
    let lock = AsyncLock::new(());
    let first = lock.lock_shared();
    let options = AsyncLockOptions::new().timeout(SHORT_LIMIT);
    let mut writer = Probe::new(lock.lock_async_with(options)).pending();
    let mut reader = Probe::new(lock.lock_shared_async()).pending();
    wait_until("the writer's time runs out", || writer.wakes() > 0);
    wait_until("the reader behind it is woken", || reader.wakes() > 0);
    assert_eq!(pending_modes(&lock), [AsyncLockMode::Shared]);
    drop(first);
    let read = reader.ready();
    drop(read);
    match writer.ready() {
        Err(Error::LockTimedOut { .. }) => {}
        other => panic!("expected LockTimedOut, got {other:?}"),
    }
    assert!(lock.try_lock().is_some(), "the lock ends free");
}

// ---------------------------------------------------------------------------------------------
// A request that asked anew (its waker panicked when its turn came) is withdrawn under its new
// id: the signal and the timer follow it.
// ---------------------------------------------------------------------------------------------

/// A writer's future, boxed to be polled by hand.
type WriterProbe<'a> = Probe<std::pin::Pin<Box<taskpool::LockWithFuture<'a, ()>>>>;

/// A writer whose waker panicked when its turn came, so that it gave up its place, and a reader
/// that took the lock meanwhile: the reader's guard and the writer's future, which asks anew
/// (under a new id) when it is next polled.
fn a_writer_that_asked_anew<'a>(
    lock: &'a AsyncLock<()>,
    options: AsyncLockOptions,
) -> (taskpool::AsyncLockSharedGuard<'a, ()>, WriterProbe<'a>) {
    let holder = lock.lock();
    let mut writer = Box::pin(lock.lock_async_with(options));
    let (polled, panicked) = support::wakers::poll_with_panicking_waker(&mut writer);
    assert!(polled.is_pending());
    drop(holder);
    assert_eq!(panicked.woken(), 1, "the writer's turn came");
    let reading = lock.lock_shared();
    (reading, Probe::new(writer))
}

#[test]
fn an_abort_withdraws_a_request_that_asked_anew() {
    let lock = AsyncLock::new(());
    let signal = AbortSignal::new();
    let (reading, writer) = a_writer_that_asked_anew(&lock, with_signal(&signal));
    let mut writer = writer.pending();
    let mut reader = Probe::new(lock.lock_shared_async()).pending();
    assert_eq!(
        pending_modes(&lock),
        [AsyncLockMode::Exclusive, AsyncLockMode::Shared]
    );

    signal.abort("anew");

    assert_eq!(
        reader.wakes(),
        1,
        "the reader behind the new request was not woken"
    );
    assert_eq!(pending_modes(&lock), [AsyncLockMode::Shared]);
    let read = reader.ready();
    assert_aborted(writer.ready().map(drop), "anew");
    drop((reading, read));
    assert!(lock.try_lock().is_some(), "the lock ends free");
}

#[test]
fn a_timeout_withdraws_a_request_that_asked_anew() {
    let lock = AsyncLock::new(());
    let options = AsyncLockOptions::new().timeout(Duration::from_secs(1));
    let (reading, mut writer) = a_writer_that_asked_anew(&lock, options);
    // A machine too slow to ask anew within the second times out here; nothing else to see.
    if let std::task::Poll::Ready(outcome) = writer.poll() {
        assert!(
            matches!(outcome, Err(Error::LockTimedOut { .. })),
            "{outcome:?}"
        );
        return;
    }
    let mut reader = Probe::new(lock.lock_shared_async()).pending();
    wait_until("the writer's time runs out", || writer.wakes() > 0);
    assert_eq!(
        reader.wakes(),
        1,
        "the reader behind the new request was not woken"
    );
    assert_eq!(pending_modes(&lock), [AsyncLockMode::Shared]);
    let read = reader.ready();
    assert!(matches!(writer.ready(), Err(Error::LockTimedOut { .. })));
    drop((reading, read));
    assert!(lock.try_lock().is_some(), "the lock ends free");
}

/// The task waker of a timed-out request panics when its expiry wakes it, on the timer thread:
/// the request is withdrawn all the same, the reader behind it is woken, the panic stays on the
/// timer thread, and the timer goes on serving later timeouts.
#[test]
fn a_panicking_waker_does_not_stop_an_expiry() {
    let lock = AsyncLock::new(());
    let holder = lock.lock_shared();
    let options = AsyncLockOptions::new().timeout(SHORT_LIMIT);
    let mut broken = Box::pin(lock.lock_async_with(options.clone()));
    let (polled, panicked) = support::wakers::poll_with_panicking_waker(&mut broken);
    assert!(polled.is_pending());
    let mut reader = Probe::new(lock.lock_shared_async()).pending();
    wait_until("the expiry wakes the broken waker", || panicked.woken() > 0);
    assert_eq!(reader.wakes(), 1);
    let read = reader.ready();
    assert!(matches!(
        Probe::new(broken).ready(),
        Err(Error::LockTimedOut { .. })
    ));
    let writing = lock.lock_async_with(options);
    let mut later = Probe::new(writing).pending();
    wait_until("a later timeout still fires", || later.wakes() > 0);
    assert!(matches!(later.ready(), Err(Error::LockTimedOut { .. })));
    drop((holder, read));
    assert!(lock.try_lock().is_some(), "the lock ends free");
}
