//! A seeded random walk over the locks module: a few locks (anonymous `AsyncLock<u64>`s and
//! named `AsyncLock<()>`s) and a condition variable, used by several *actors* — plain threads
//! and pool tasks (sync and `async`) and a plain thread driving `async` calls — through random
//! sequences of lock, try, timeout, abort, release, callback, wait, notify, lookup, query and
//! serialize calls.
//!
//! The walk runs in lock step. One controller picks each step, sends the commands to the actors
//! and predicts the outcome with a model of the documented rules (`state.rs`: arrival order, the
//! eligible front of the queue, tries, shared requests behind a waiting writer; the condition
//! variable's FIFO notification). It then waits until the actors report exactly that and every
//! lock's snapshot (`state()`, `query(name)`, `query_all()`) lists the predicted holders and
//! waiters, in order, by task or thread. A few steps race two things on purpose (a short
//! timeout, an abort or a dropped future against the release that lets the request in; a
//! newcomer against the woken waiter a release lets in; a short condition wait against a
//! notification): the model then allows every outcome the rules allow and follows the one
//! observed. A few others stop a waiter's thread (an `async` actor with a thread of its own), so
//! that only its deadline or its abort can take it out of the queue, as documented.
//!
//! Checked on every step: never two exclusive holders, nor one beside shared ones (in each
//! snapshot, and by the actors themselves as they enter and leave); every grant, refusal and
//! error is the predicted one, with its documented code (10200031 for a timeout, whose
//! diagnosis reports a cycle of waits exactly when the model has one; `LockAborted` with the
//! abort's reason; `LockUnavailable`; 10200030 for an unknown name); a request that failed holds
//! nothing; readers see every write; every request resolves (a step that does not settle within
//! [`PATIENCE`] fails with the seed, the model, the snapshots and the step trace); no panic
//! escapes an actor. After the walk every waiter is let go and every guard dropped, and then
//! every lock must be free, every queue empty and every value the model's.
//!
//! Determinism: the seed fixes every choice the controller makes; where a step races, the
//! outcome observed steers the choices after it, and the trace records it.
//!
//! Knobs (environment):
//!
//! | variable | effect |
//! |---|---|
//! | `LOCKS_WALK_SEEDS=<n>` | walks seeds `from..from + n` (default 300: about 4 s in a debug build on 2 cores) |
//! | `LOCKS_WALK_FROM=<s>` | the first seed (default 0) |
//! | `LOCKS_WALK_SEED=<s>[,<s>..]` | walks these seeds only |
//! | `LOCKS_WALK_STEPS=<n>` | steps per walk (default 30 to 60, drawn from the seed) |
//! | `LOCKS_WALK_VERBOSE=1` | prints each step and each racy outcome as it happens |

mod support;

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use futures::FutureExt;
use support::PATIENCE;
use support::walk::{Rng, Watchdog};
use taskpool::{
    AbortSignal, AsyncLock, AsyncLockAccess, AsyncLockGuard, AsyncLockMode, AsyncLockOptions,
    AsyncLockSharedGuard, AsyncLockState, ConditionVariable, Error, Shared, TaskHandle, TaskId,
    TaskPool, concurrent,
};

use AsyncLockMode::{Exclusive, Shared as Read};

// ---------------------------------------------------------------------------------------------
// The world the actors share
// ---------------------------------------------------------------------------------------------

/// One lock of a walk: an anonymous lock around a counter that exclusive holders increment and
/// shared holders read, or a named lock (`AsyncLock::request`), which guards no value.
enum WalkLock {
    Valued(Shared<AsyncLock<u64>>),
    Named(Shared<AsyncLock>, String),
}

impl WalkLock {
    fn name(&self) -> String {
        match self {
            WalkLock::Valued(lock) => lock.name(),
            WalkLock::Named(_, name) => name.clone(),
        }
    }

    fn state(&self) -> AsyncLockState {
        match self {
            WalkLock::Valued(lock) => lock.state(),
            WalkLock::Named(lock, _) => lock.state(),
        }
    }
}

/// Runs `$body` with `$l` bound to the `&AsyncLock<T>` of either kind of lock.
macro_rules! on_lock {
    ($lock:expr, $l:ident => $body:expr) => {
        match $lock {
            WalkLock::Valued(shared) => {
                let $l: &AsyncLock<u64> = shared;
                $body
            }
            WalkLock::Named(shared, _) => {
                let $l: &AsyncLock<()> = shared;
                $body
            }
        }
    };
}

/// Who is inside one lock, counted by the actors as they enter (after the grant) and leave
/// (before the release): an overlap the lock let happen shows here even if its own bookkeeping
/// hides it.
#[derive(Default)]
struct Inside {
    writers: AtomicUsize,
    readers: AtomicUsize,
}

impl Inside {
    fn enter(&self, mode: AsyncLockMode) -> Result<(), String> {
        // Each side announces itself before it looks at the other (sequentially consistent),
        // so of two holders that overlap at least one sees the other.
        let (writers, readers) = match mode {
            Exclusive => {
                let writers = self.writers.fetch_add(1, Ordering::SeqCst);
                (writers, self.readers.load(Ordering::SeqCst))
            }
            Read => {
                self.readers.fetch_add(1, Ordering::SeqCst);
                (self.writers.load(Ordering::SeqCst), 0)
            }
        };
        if writers == 0 && readers == 0 {
            Ok(())
        } else {
            Err(format!(
                "a {mode} holder entered beside {writers} exclusive and {readers} shared holders"
            ))
        }
    }

    fn leave(&self, mode: AsyncLockMode) {
        match mode {
            Exclusive => self.writers.fetch_sub(1, Ordering::SeqCst),
            Read => self.readers.fetch_sub(1, Ordering::SeqCst),
        };
    }
}

/// A one-way queue of commands to one actor, for blocking and `async` receivers.
#[derive(Default)]
struct Mailbox {
    inner: Mutex<(VecDeque<Cmd>, Option<Waker>)>,
    ready: Condvar,
}

impl Mailbox {
    fn send(&self, cmd: Cmd) {
        let waker = {
            let mut inner = self.inner.lock().unwrap();
            inner.0.push_back(cmd);
            inner.1.take()
        };
        self.ready.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn recv(&self) -> Cmd {
        let mut inner = self.inner.lock().unwrap();
        loop {
            if let Some(cmd) = inner.0.pop_front() {
                return cmd;
            }
            inner = self.ready.wait(inner).unwrap();
        }
    }

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Cmd> {
        let mut inner = self.inner.lock().unwrap();
        match inner.0.pop_front() {
            Some(cmd) => Poll::Ready(cmd),
            None => {
                inner.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

struct World {
    locks: Vec<WalkLock>,
    inside: Vec<Inside>,
    condvar: Shared<ConditionVariable>,
    /// The condition variable's name, if it was requested by name.
    condvar_name: Option<String>,
    /// A name no lock has: `query` must answer 10200030.
    missing: String,
    mail: Vec<Mailbox>,
    events: Mutex<Sender<Ev>>,
}

impl World {
    fn send(&self, ev: Ev) {
        // The controller may have given up (a failed walk): nobody listens any more.
        let _ = self.events.lock().unwrap().send(ev);
    }
}

/// The world of the walk going on, for the actors that run as pool tasks (their arguments must
/// be transferable, so they take only their index and find the world here).
static WORLD: Mutex<Option<Arc<World>>> = Mutex::new(None);

// ---------------------------------------------------------------------------------------------
// Commands and events
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    /// `lock`/`lock_shared`/`lock_with`/... (and their `async` forms): a guard.
    Guard,
    /// `try_lock`/`try_lock_shared`.
    Try,
    /// `lock_then`/`lock_async_then`: the callback runs with the access, which it drops.
    Then,
}

enum Cmd {
    Acquire {
        req: u64,
        lock: usize,
        mode: AsyncLockMode,
        form: Form,
        /// `None`: the plain form (`lock()`); `Some`: the `_with` form.
        options: Option<AsyncLockOptions>,
    },
    Release {
        req: u64,
    },
    /// Drops the pending `async` request or wait (an abandoned future).
    Cancel,
    Wait {
        req: u64,
        timeout: Option<Duration>,
    },
    /// `wait_with(guard)`: the guard held as `guard`; the lock taken back is `req`.
    WaitWith {
        req: u64,
        guard: u64,
    },
    Notify {
        all: bool,
    },
    Lookup {
        lock: usize,
    },
    Serialize {
        req: u64,
        lock: usize,
    },
    /// Stops polling anything (its thread waits for `Thaw` alone), after an `Ack`: what a
    /// timeout or an abort does must then happen without the waiter running.
    Freeze,
    Thaw,
    Quit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Party {
    Thread(ThreadId),
    Task(TaskId),
}

impl Party {
    fn current() -> Party {
        match taskpool::current_task_id() {
            Some(task) => Party::Task(task),
            None => Party::Thread(std::thread::current().id()),
        }
    }

    fn is(self, info: &taskpool::AsyncLockInfo) -> bool {
        match self {
            Party::Task(task) => info.task == Some(task),
            Party::Thread(thread) => info.task.is_none() && info.thread == thread,
        }
    }
}

#[derive(Debug)]
enum Ev {
    Ready {
        actor: usize,
        party: Party,
    },
    Granted {
        actor: usize,
        req: u64,
        value: Option<u64>,
    },
    Released {
        actor: usize,
        req: u64,
    },
    Refused {
        actor: usize,
        req: u64,
    },
    Failed {
        actor: usize,
        req: u64,
        error: Error,
    },
    Notified {
        actor: usize,
        req: u64,
        notified: bool,
    },
    Serialized {
        actor: usize,
        req: u64,
        result: Result<String, String>,
    },
    Cancelled {
        actor: usize,
        dropped: Option<u64>,
    },
    Ack {
        actor: usize,
    },
    Violation {
        actor: usize,
        what: String,
    },
    Quit {
        actor: usize,
    },
}

// ---------------------------------------------------------------------------------------------
// Guards of either kind of lock
// ---------------------------------------------------------------------------------------------

enum Held<'a> {
    Write(AsyncLockGuard<'a, u64>),
    Read(AsyncLockSharedGuard<'a, u64>),
    NamedWrite(AsyncLockGuard<'a, ()>),
    NamedRead(AsyncLockSharedGuard<'a, ()>),
}

impl Held<'_> {
    fn mode(&self) -> AsyncLockMode {
        match self {
            Held::Write(_) | Held::NamedWrite(_) => Exclusive,
            Held::Read(_) | Held::NamedRead(_) => Read,
        }
    }

    /// What a holder does inside: a writer increments the counter, a reader reads it; the
    /// value is reported for the model to check.
    fn touch(&mut self) -> Option<u64> {
        match self {
            Held::Write(guard) => {
                **guard += 1;
                Some(**guard)
            }
            Held::Read(guard) => Some(**guard),
            Held::NamedWrite(guard) => {
                **guard = ();
                None
            }
            Held::NamedRead(guard) => {
                let () = **guard;
                None
            }
        }
    }
}

/// The value type of a walk lock: how its guards become [`Held`], and what a callback does.
trait Value: Send + Sync + serde::Serialize + Sized + 'static {
    fn write(guard: AsyncLockGuard<'_, Self>) -> Held<'_>;
    fn read(guard: AsyncLockSharedGuard<'_, Self>) -> Held<'_>;
    fn touch(access: &mut AsyncLockAccess<'_, Self>) -> Option<u64>;
}

impl Value for u64 {
    fn write(guard: AsyncLockGuard<'_, u64>) -> Held<'_> {
        Held::Write(guard)
    }
    fn read(guard: AsyncLockSharedGuard<'_, u64>) -> Held<'_> {
        Held::Read(guard)
    }
    fn touch(access: &mut AsyncLockAccess<'_, u64>) -> Option<u64> {
        match access.get_mut() {
            Some(value) => {
                *value += 1;
                Some(*value)
            }
            None => Some(**access),
        }
    }
}

impl Value for () {
    fn write(guard: AsyncLockGuard<'_, ()>) -> Held<'_> {
        Held::NamedWrite(guard)
    }
    fn read(guard: AsyncLockSharedGuard<'_, ()>) -> Held<'_> {
        Held::NamedRead(guard)
    }
    fn touch(_: &mut AsyncLockAccess<'_, ()>) -> Option<u64> {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Actors
// ---------------------------------------------------------------------------------------------

/// The guards an actor holds: request id, lock, guard.
type Guards<'a> = Vec<(u64, usize, Held<'a>)>;

/// Records a grant: enters the lock (checking for overlap), touches the value, reports.
fn granted<'a>(
    world: &'a World,
    me: usize,
    req: u64,
    lock: usize,
    mut held: Held<'a>,
) -> (u64, usize, Held<'a>) {
    if let Err(what) = world.inside[lock].enter(held.mode()) {
        world.send(Ev::Violation { actor: me, what });
    }
    let value = held.touch();
    world.send(Ev::Granted {
        actor: me,
        req,
        value,
    });
    (req, lock, held)
}

fn release(world: &World, me: usize, guards: &mut Guards<'_>, req: u64) {
    if let Some((_, held)) = let_go(world, me, guards, req, "release") {
        drop(held);
        world.send(Ev::Released { actor: me, req });
    }
}

/// Takes the guard of request `req` out of `guards` and leaves its lock in the overlap check,
/// for `what` (a release, a `wait_with`); reports a violation and returns `None` if the actor
/// does not hold it. Returns the lock and the guard.
fn let_go<'a>(
    world: &World,
    me: usize,
    guards: &mut Guards<'a>,
    req: u64,
    what: &str,
) -> Option<(usize, Held<'a>)> {
    let Some(at) = guards.iter().position(|(id, _, _)| *id == req) else {
        world.send(Ev::Violation {
            actor: me,
            what: format!("asked to {what} request {req}, which it does not hold"),
        });
        return None;
    };
    let (_, lock, held) = guards.swap_remove(at);
    world.inside[lock].leave(held.mode());
    Some((lock, held))
}

/// The callback of `lock_then`/`lock_async_then`: enters, touches, reports, leaves.
fn in_callback<T: Value>(
    world: &World,
    me: usize,
    req: u64,
    lock: usize,
    access: &mut AsyncLockAccess<'_, T>,
) {
    let mode = access.mode();
    if let Err(what) = world.inside[lock].enter(mode) {
        world.send(Ev::Violation { actor: me, what });
    }
    let value = T::touch(access);
    world.send(Ev::Granted {
        actor: me,
        req,
        value,
    });
    world.inside[lock].leave(mode);
}

/// An actor's `Notify` command: notifies one waiter or all, then acknowledges.
fn notify(world: &World, me: usize, all: bool) {
    if all {
        world.condvar.notify_all();
    } else {
        world.condvar.notify_one();
    }
    world.send(Ev::Ack { actor: me });
}

/// An actor's `Lookup` command: checks the lookup, reports a violation if it fails, then
/// acknowledges.
fn look_up(world: &World, me: usize, lock: usize) {
    if let Err(what) = lookup(world, lock) {
        world.send(Ev::Violation { actor: me, what });
    }
    world.send(Ev::Ack { actor: me });
}

/// Checks what a named lookup finds: the same lock and condition variable, a consistent
/// snapshot, and 10200030 for a name nobody requested.
fn lookup(world: &World, lock: usize) -> Result<(), String> {
    match &world.locks[lock] {
        WalkLock::Named(shared, name) => {
            if !Shared::ptr_eq(&AsyncLock::request(name), shared) {
                return Err(format!("request({name:?}) found another lock"));
            }
            let state = AsyncLock::query(name).map_err(|e| format!("query({name:?}): {e}"))?;
            if state.name != *name {
                return Err(format!("query({name:?}) named {:?}", state.name));
            }
            valid_snapshot(&state)?;
        }
        WalkLock::Valued(shared) => {
            let name = shared.name();
            if !name.starts_with("anonymous#") {
                return Err(format!("an anonymous lock is called {name:?}"));
            }
            let all = AsyncLock::query_all();
            let Some(state) = all.iter().find(|state| state.name == name) else {
                return Err(format!("query_all() does not list the live lock {name}"));
            };
            valid_snapshot(state)?;
        }
    }
    if let Some(name) = &world.condvar_name {
        if !Shared::ptr_eq(&ConditionVariable::request(name), &world.condvar) {
            return Err(format!(
                "ConditionVariable::request({name:?}) found another one"
            ));
        }
    }
    match AsyncLock::query(&world.missing) {
        Err(error) if error.code() == Some(10200030) => Ok(()),
        other => Err(format!("query of an unknown name gave {other:?}")),
    }
}

/// An actor that uses the blocking API: on a plain thread, or in a sync pool task.
fn blocking_actor(world: &World, me: usize) {
    world.send(Ev::Ready {
        actor: me,
        party: Party::current(),
    });
    let mut guards: Guards<'_> = Vec::new();
    loop {
        match world.mail[me].recv() {
            Cmd::Quit => break,
            Cmd::Acquire {
                req,
                lock,
                mode,
                form: Form::Then,
                options,
            } => {
                let options = options.unwrap_or_default();
                let outcome = on_lock!(&world.locks[lock], l => l.lock_then(mode, &options, |mut access| {
                    in_callback(world, me, req, lock, &mut access)
                }));
                match outcome {
                    Ok(()) => world.send(Ev::Released { actor: me, req }),
                    Err(error) => world.send(Ev::Failed {
                        actor: me,
                        req,
                        error,
                    }),
                }
            }
            Cmd::Acquire {
                req,
                lock,
                mode,
                form,
                options,
            } => {
                let outcome = on_lock!(&world.locks[lock], l => acquire_blocking(l, mode, form, options.as_ref()));
                match outcome {
                    Ok(Some(held)) => guards.push(granted(world, me, req, lock, held)),
                    Ok(None) => world.send(Ev::Refused { actor: me, req }),
                    Err(error) => world.send(Ev::Failed {
                        actor: me,
                        req,
                        error,
                    }),
                }
            }
            Cmd::Release { req } => release(world, me, &mut guards, req),
            Cmd::Cancel | Cmd::Freeze | Cmd::Thaw => world.send(Ev::Violation {
                actor: me,
                what: "a blocking actor was asked to cancel, freeze or thaw".into(),
            }),
            Cmd::Wait { req, timeout } => {
                let notified = match timeout {
                    None => {
                        world.condvar.wait();
                        true
                    }
                    Some(timeout) => world.condvar.wait_for(timeout),
                };
                world.send(Ev::Notified {
                    actor: me,
                    req,
                    notified,
                });
            }
            Cmd::WaitWith { req, guard } => {
                let Some((lock, held)) = let_go(world, me, &mut guards, guard, "wait_with on")
                else {
                    continue;
                };
                let held = match held {
                    Held::Write(guard) => Held::Write(world.condvar.wait_with(guard)),
                    Held::NamedWrite(guard) => Held::NamedWrite(world.condvar.wait_with(guard)),
                    shared => {
                        world.send(Ev::Violation {
                            actor: me,
                            what: "wait_with on a shared guard".into(),
                        });
                        shared
                    }
                };
                guards.push(granted(world, me, req, lock, held));
            }
            Cmd::Notify { all } => notify(world, me, all),
            Cmd::Lookup { lock } => look_up(world, me, lock),
            Cmd::Serialize { req, lock } => {
                let result = on_lock!(&world.locks[lock], l => serde_json::to_string(l))
                    .map_err(|e| e.to_string());
                world.send(Ev::Serialized {
                    actor: me,
                    req,
                    result,
                });
            }
        }
    }
    if !guards.is_empty() {
        world.send(Ev::Violation {
            actor: me,
            what: format!("quit holding {} guards", guards.len()),
        });
    }
    world.send(Ev::Quit { actor: me });
}

/// A blocking request: `Ok(None)` for a refused try.
fn acquire_blocking<'a, T: Value>(
    lock: &'a AsyncLock<T>,
    mode: AsyncLockMode,
    form: Form,
    options: Option<&AsyncLockOptions>,
) -> taskpool::Result<Option<Held<'a>>> {
    Ok(match (form, mode, options) {
        (Form::Try, Exclusive, _) => lock.try_lock().map(T::write),
        (Form::Try, Read, _) => lock.try_lock_shared().map(T::read),
        (_, Exclusive, None) => Some(T::write(lock.lock())),
        (_, Read, None) => Some(T::read(lock.lock_shared())),
        (_, Exclusive, Some(options)) => Some(T::write(lock.lock_with(options)?)),
        (_, Read, Some(options)) => Some(T::read(lock.lock_shared_with(options)?)),
    })
}

/// What an `async` actor's pending operation ends with.
enum Resolved<'a> {
    Lock(u64, usize, taskpool::Result<Option<Held<'a>>>),
    Then(u64, taskpool::Result<()>),
    Cond(u64, bool),
    Relock(u64, usize, Held<'a>),
}

type Pending<'a> = Pin<Box<dyn Future<Output = Resolved<'a>> + Send + 'a>>;

/// An `async` request, made (for the guard forms) at its first poll.
fn acquire_async<'a, T: Value>(
    world: &'a World,
    me: usize,
    (req, index): (u64, usize),
    lock: &'a AsyncLock<T>,
    mode: AsyncLockMode,
    form: Form,
    options: Option<AsyncLockOptions>,
) -> Pending<'a> {
    match (form, mode, options) {
        (Form::Try, _, _) => {
            let held = match mode {
                Exclusive => lock.try_lock().map(T::write),
                Read => lock.try_lock_shared().map(T::read),
            };
            Box::pin(std::future::ready(Resolved::Lock(req, index, Ok(held))))
        }
        (Form::Then, _, options) => Box::pin(async move {
            let outcome = lock
                .lock_async_then(mode, options.unwrap_or_default(), |mut access| async move {
                    in_callback(world, me, req, index, &mut access)
                })
                .await;
            Resolved::Then(req, outcome)
        }),
        (Form::Guard, Exclusive, None) => Box::pin(
            lock.lock_async()
                .map(move |guard| Resolved::Lock(req, index, Ok(Some(T::write(guard))))),
        ),
        (Form::Guard, Read, None) => Box::pin(
            lock.lock_shared_async()
                .map(move |guard| Resolved::Lock(req, index, Ok(Some(T::read(guard))))),
        ),
        (Form::Guard, Exclusive, Some(options)) => Box::pin(
            lock.lock_async_with(options)
                .map(move |outcome| Resolved::Lock(req, index, outcome.map(|g| Some(T::write(g))))),
        ),
        (Form::Guard, Read, Some(options)) => Box::pin(
            lock.lock_shared_async_with(options)
                .map(move |outcome| Resolved::Lock(req, index, outcome.map(|g| Some(T::read(g))))),
        ),
    }
}

enum Next<'a> {
    Done(Resolved<'a>),
    Cmd(Cmd),
}

/// An actor that uses the `async` API: a pool task, or a future on a plain thread. It waits
/// for its pending operation and its mailbox at once, so a command can drop the operation.
async fn async_actor(world: &World, me: usize) {
    world.send(Ev::Ready {
        actor: me,
        party: Party::current(),
    });
    let mut guards: Guards<'_> = Vec::new();
    let mut pending: Option<(u64, Pending<'_>)> = None;
    loop {
        let next = poll_fn(|cx| {
            if let Some((_, future)) = pending.as_mut() {
                if let Poll::Ready(resolved) = future.as_mut().poll(cx) {
                    return Poll::Ready(Next::Done(resolved));
                }
            }
            world.mail[me].poll_recv(cx).map(Next::Cmd)
        })
        .await;
        let cmd = match next {
            Next::Done(resolved) => {
                pending = None;
                match resolved {
                    Resolved::Lock(req, lock, outcome) => match outcome {
                        Ok(Some(held)) => guards.push(granted(world, me, req, lock, held)),
                        Ok(None) => world.send(Ev::Refused { actor: me, req }),
                        Err(error) => world.send(Ev::Failed {
                            actor: me,
                            req,
                            error,
                        }),
                    },
                    Resolved::Then(req, Ok(())) => world.send(Ev::Released { actor: me, req }),
                    Resolved::Then(req, Err(error)) => world.send(Ev::Failed {
                        actor: me,
                        req,
                        error,
                    }),
                    Resolved::Cond(req, notified) => world.send(Ev::Notified {
                        actor: me,
                        req,
                        notified,
                    }),
                    Resolved::Relock(req, lock, held) => {
                        guards.push(granted(world, me, req, lock, held))
                    }
                }
                continue;
            }
            Next::Cmd(cmd) => cmd,
        };
        let busy = |world: &World| {
            world.send(Ev::Violation {
                actor: me,
                what: "a command came while an operation was pending".into(),
            })
        };
        match cmd {
            Cmd::Quit => break,
            Cmd::Acquire {
                req,
                lock,
                mode,
                form,
                options,
            } => {
                if pending.is_some() {
                    busy(world);
                    continue;
                }
                let future = on_lock!(&world.locks[lock], l => acquire_async(world, me, (req, lock), l, mode, form, options));
                pending = Some((req, future));
            }
            Cmd::Release { req } => release(world, me, &mut guards, req),
            Cmd::Cancel => {
                let dropped = pending.take().map(|(req, future)| {
                    drop(future);
                    req
                });
                world.send(Ev::Cancelled { actor: me, dropped });
            }
            Cmd::Wait { req, timeout } => {
                if pending.is_some() {
                    busy(world);
                    continue;
                }
                // The wait takes its place in the queue here, at the call.
                let future: Pending<'_> = match timeout {
                    None => {
                        let waiting = world.condvar.wait_async();
                        Box::pin(waiting.map(move |()| Resolved::Cond(req, true)))
                    }
                    Some(timeout) => {
                        let waiting = world.condvar.wait_for_async(timeout);
                        Box::pin(waiting.map(move |notified| Resolved::Cond(req, notified)))
                    }
                };
                pending = Some((req, future));
            }
            Cmd::WaitWith { req, guard } => {
                let Some((lock, held)) = let_go(world, me, &mut guards, guard, "wait_with on")
                else {
                    continue;
                };
                let condvar: &ConditionVariable = &world.condvar;
                let future: Pending<'_> = match held {
                    Held::Write(guard) => Box::pin(async move {
                        Resolved::Relock(
                            req,
                            lock,
                            Held::Write(condvar.wait_with_async(guard).await),
                        )
                    }),
                    Held::NamedWrite(guard) => Box::pin(async move {
                        let guard = condvar.wait_with_async(guard).await;
                        Resolved::Relock(req, lock, Held::NamedWrite(guard))
                    }),
                    _ => {
                        world.send(Ev::Violation {
                            actor: me,
                            what: "wait_with on a shared guard".into(),
                        });
                        continue;
                    }
                };
                pending = Some((req, future));
            }
            Cmd::Notify { all } => notify(world, me, all),
            Cmd::Lookup { lock } => look_up(world, me, lock),
            Cmd::Serialize { .. } => world.send(Ev::Violation {
                actor: me,
                what: "an async actor was asked to serialize (it would block)".into(),
            }),
            Cmd::Freeze => {
                world.send(Ev::Ack { actor: me });
                // Blocks this thread: the pending future is not polled meanwhile.
                if !matches!(world.mail[me].recv(), Cmd::Thaw) {
                    world.send(Ev::Violation {
                        actor: me,
                        what: "a command other than Thaw came while frozen".into(),
                    });
                }
            }
            Cmd::Thaw => world.send(Ev::Violation {
                actor: me,
                what: "thawed while not frozen".into(),
            }),
        }
    }
    if !guards.is_empty() || pending.is_some() {
        world.send(Ev::Violation {
            actor: me,
            what: format!(
                "quit holding {} guards, pending: {}",
                guards.len(),
                pending.is_some()
            ),
        });
    }
    world.send(Ev::Quit { actor: me });
}

fn current_world() -> Arc<World> {
    WORLD.lock().unwrap().clone().expect("a walk is going on")
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Runs a blocking actor, reporting a panic instead of letting it escape.
fn run_blocking(world: &World, me: usize) {
    if let Err(payload) = std::panic::catch_unwind(AssertUnwindSafe(|| blocking_actor(world, me))) {
        world.send(Ev::Violation {
            actor: me,
            what: format!("panicked: {}", panic_message(&*payload)),
        });
    }
}

/// Runs an `async` actor, reporting a panic instead of letting it escape.
async fn run_async(world: &World, me: usize) {
    if let Err(payload) = AssertUnwindSafe(async_actor(world, me))
        .catch_unwind()
        .await
    {
        world.send(Ev::Violation {
            actor: me,
            what: format!("panicked: {}", panic_message(&*payload)),
        });
    }
}

#[concurrent]
fn blocking_task_actor(me: u64) {
    let world = current_world();
    run_blocking(&world, me as usize);
}

#[concurrent]
async fn async_task_actor(me: u64) {
    let world = current_world();
    run_async(&world, me as usize).await;
}

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A plain thread, blocking API.
    Thread,
    /// A sync pool task, blocking API (its waits count its thread as blocked).
    BlockingTask,
    /// An `async` pool task, `async` API.
    Task,
    /// A plain thread that drives the `async` API with its own waker.
    Local,
}

impl Kind {
    fn is_async(self) -> bool {
        matches!(self, Kind::Task | Kind::Local)
    }
}

/// How a request fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fail {
    /// A try (`try_lock`) answered `None`.
    Refused,
    TimedOut,
    Aborted,
    Unavailable,
    /// Its future was dropped.
    Dropped,
    /// `serialize` refused: the caller holds the lock.
    NotSerialized,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Queued,
    /// Predicted to be granted: its `Granted` event is awaited.
    Granting,
    Held,
    /// Released (by command, or a callback's end): its `Released` event is awaited.
    Releasing,
    /// Predicted to fail so: its event is awaited.
    Failing(Fail),
    /// A newcomer racing the waiter a release let in: it arrives before the release, or after
    /// the waiter took the lock (and queues, or a try fails), or between the two and takes the
    /// lock first (overtaking, or a try taking the free lock reserved for the woken waiter).
    Arriving,
    Done,
}

#[derive(Debug)]
struct MReq {
    actor: usize,
    lock: usize,
    mode: AsyncLockMode,
    /// Released as soon as granted (a callback form, a serialization): never among the holders.
    transient: bool,
    signal: Option<usize>,
    timeout: Option<Duration>,
    /// A short timeout: it may time out while it waits, at a moment the model cannot know.
    volatile: bool,
    /// The other way a predicted grant may end (a race the step made on purpose).
    alt: Option<Fail>,
    /// A `wait_with` taking its lock back: whether a `notify_one` woke it (its future, dropped,
    /// passes that notification on).
    relock_by_one: Option<bool>,
    /// The value its holder sees (after its own write, for an exclusive one).
    value: Option<u64>,
    /// Whether a timeout's diagnosis must report a cycle of waits (`None`: not checked).
    cycle: Option<bool>,
    phase: Phase,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WPhase {
    Waiting,
    /// Notified: its `Notified(true)` event is awaited.
    Notified,
    /// A short wait reached by a notification: notified or timed out, whichever came first; a
    /// `notify_one` it did not take goes on to the next waiter.
    Either {
        pass_on: bool,
    },
    /// A zero timeout: `Notified(false)` is awaited.
    TimesOut,
    Done,
}

#[derive(Debug)]
struct MWait {
    actor: usize,
    volatile: bool,
    /// `wait_with`: the lock it takes back once notified.
    relock: Option<usize>,
    phase: WPhase,
}

#[derive(Debug, Default)]
struct MLock {
    holders: Vec<u64>,
    queue: VecDeque<u64>,
    value: u64,
    valued: bool,
}

struct MActor {
    kind: Kind,
    party: Option<Party>,
    /// The operation it is busy with (a request or a wait), until its last event.
    pending: Option<u64>,
    /// Acknowledgements awaited (`Ack`, `Cancelled`).
    acks: usize,
    /// Of those, `Cancelled`: a dropped future may have let others in before it is reported.
    cancels: usize,
    quit: bool,
}

struct MSignal {
    signal: AbortSignal,
    aborted: bool,
    reason: String,
}

const SHORT_MAX_MICROS: u64 = 3000;
/// A timeout that never runs out within a walk (a walk that takes this long has hung).
const LONG: Duration = Duration::from_secs(600);

// ---------------------------------------------------------------------------------------------
// The trace and the watchdog
// ---------------------------------------------------------------------------------------------

/// The current walk's steps and racy outcomes, printed when it fails.
static TRACE: Mutex<Vec<String>> = Mutex::new(Vec::new());
static VERBOSE: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::var_os("LOCKS_WALK_VERBOSE").is_some());
/// Aborts the process, with the seed and the trace, if the walk makes no progress (a step
/// beginning to settle) for far longer than a step may wait: the controller itself is stuck in
/// a call (a step that does not settle fails on its own, after [`PATIENCE`]).
static WATCHDOG: Watchdog = Watchdog::new();
/// Numbers the walks of this process, so that a seed walked twice names its locks anew.
static NEXT_WALK: AtomicU64 = AtomicU64::new(1);

fn note(line: String) {
    if *VERBOSE {
        eprintln!("{line}");
    }
    TRACE.lock().unwrap().push(line);
}

fn trace_text() -> String {
    TRACE.lock().unwrap().join("\n")
}

/// The watchdog's report: the trace of the walk.
fn hang_report() -> String {
    format!("; trace:\n{}", trace_text())
}

/// A snapshot must list one exclusive holder or shared ones only, all under the lock's name.
fn valid_snapshot(state: &AsyncLockState) -> Result<(), String> {
    let writers = state.held.iter().filter(|h| h.mode == Exclusive).count();
    if writers > 1 || (writers == 1 && state.held.len() > 1) {
        return Err(format!(
            "two exclusive holders, or one beside shared ones: {state}"
        ));
    }
    if let Some(info) = state
        .held
        .iter()
        .chain(&state.pending)
        .find(|info| info.name != state.name)
    {
        return Err(format!("{state} lists an entry of {:?}", info.name));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The controller
// ---------------------------------------------------------------------------------------------

struct Walk {
    seed: u64,
    rng: Rng,
    world: Arc<World>,
    events: Receiver<Ev>,
    actors: Vec<MActor>,
    locks: Vec<MLock>,
    /// Ordered maps: the walk's choices iterate them, and must not depend on hashing.
    reqs: std::collections::BTreeMap<u64, MReq>,
    waits: std::collections::BTreeMap<u64, MWait>,
    cv: VecDeque<u64>,
    signals: Vec<MSignal>,
    next_id: u64,
    aborts: u64,
    step: usize,
    looks: usize,
    /// Events that came before the departure that explains them (see [`Walk::apply`]).
    deferred: Vec<(Ev, String)>,
    /// A newcomer racing a woken waiter (see [`Phase::Arriving`]): (waiter, newcomer, a try).
    arrival: Option<(u64, u64, bool)>,
}

/// Whether an event fits the model now.
enum Fit {
    Applied,
    /// Not yet: it may follow a departure still to be reported (why it does not fit now).
    Early(Ev, String),
}

use Fit::{Applied, Early};

fn short(rng: &mut Rng) -> Duration {
    Duration::from_micros(50 + rng.below(SHORT_MAX_MICROS))
}

impl Walk {
    // --- the lock model (the rules of `state.rs`, at the points where the walk has settled) ---

    fn compatible(&self, lock: usize, mode: AsyncLockMode) -> bool {
        let holders = &self.locks[lock].holders;
        holders.is_empty() || (mode == Read && holders.iter().all(|h| self.reqs[h].mode == Read))
    }

    fn writer_waits(&self, lock: usize) -> bool {
        self.locks[lock]
            .queue
            .iter()
            .any(|q| self.reqs[q].mode == Exclusive)
    }

    /// A try: no holder conflicts, and a shared one yields to any waiting writer.
    fn try_rule(&self, lock: usize, mode: AsyncLockMode) -> bool {
        self.compatible(lock, mode) && !(mode == Read && self.writer_waits(lock))
    }

    /// A waiting request is granted at once if it overtakes nobody. (Shared requests joining
    /// eligible shared waiters, and bounded overtaking of a woken waiter, need a waiter whose
    /// turn came and that has not run: never the case once a step has settled.)
    fn wait_rule(&self, lock: usize, mode: AsyncLockMode) -> bool {
        self.locks[lock].queue.is_empty() && self.compatible(lock, mode)
    }

    fn eligible(&self, lock: usize) -> usize {
        let queue = &self.locks[lock].queue;
        let Some(first) = queue.front() else {
            return 0;
        };
        let mode = self.reqs[first].mode;
        if !self.compatible(lock, mode) {
            0
        } else if mode == Exclusive {
            1
        } else {
            queue
                .iter()
                .take_while(|q| self.reqs[q].mode == Read)
                .count()
        }
    }

    fn grant(&mut self, id: u64) {
        let req = self.reqs.get_mut(&id).unwrap();
        let lock = &mut self.locks[req.lock];
        if lock.valued && req.mode == Exclusive {
            lock.value += 1;
        }
        req.value = lock.valued.then_some(lock.value);
        req.phase = Phase::Granting;
        if !req.transient {
            lock.holders.push(id);
        }
    }

    /// Grants the eligible front of the queue, again and again (a callback's grant is its
    /// release too).
    fn advance(&mut self, lock: usize) {
        loop {
            let n = self.eligible(lock);
            if n == 0 {
                return;
            }
            let ids: Vec<u64> = self.locks[lock].queue.drain(..n).collect();
            for id in ids {
                self.grant(id);
            }
        }
    }

    /// A waiting request arrives: granted, or queued.
    fn request(&mut self, id: u64) {
        let (lock, mode) = (self.reqs[&id].lock, self.reqs[&id].mode);
        if self.wait_rule(lock, mode) {
            self.grant(id);
        } else {
            self.locks[lock].queue.push_back(id);
            self.reqs.get_mut(&id).unwrap().phase = Phase::Queued;
        }
    }

    /// The request leaves, from the queue or (an undecided race) from the predicted holders,
    /// and whom that lets go is let in.
    fn withdraw(&mut self, id: u64) {
        let req = &self.reqs[&id];
        let (lock, mode, phase) = (req.lock, req.mode, req.phase);
        let model = &mut self.locks[lock];
        if let Some(at) = model.queue.iter().position(|q| *q == id) {
            model.queue.remove(at);
        } else if phase == Phase::Granting {
            // Nobody was let in behind a predicted exclusive grant: its write is undone alone.
            model.holders.retain(|h| *h != id);
            if model.valued && mode == Exclusive {
                model.value -= 1;
            }
        }
        self.reqs.get_mut(&id).unwrap().phase = Phase::Done;
        self.advance(lock);
    }

    fn release(&mut self, id: u64) {
        let lock = self.reqs[&id].lock;
        self.locks[lock].holders.retain(|h| *h != id);
        self.reqs.get_mut(&id).unwrap().phase = Phase::Releasing;
        self.advance(lock);
    }

    /// Whether `actor`, asking for `lock`, waits in a cycle: a holder of `lock` waits (in a
    /// queue) for a lock whose holder waits ... for a lock `actor` holds.
    fn cycle(&self, actor: usize, lock: usize) -> bool {
        let mut edges: HashMap<usize, Vec<usize>> = HashMap::new();
        for model in &self.locks {
            for q in &model.queue {
                for h in &model.holders {
                    edges
                        .entry(self.reqs[q].actor)
                        .or_default()
                        .push(self.reqs[h].actor);
                }
            }
        }
        let mut stack: Vec<usize> = self.locks[lock]
            .holders
            .iter()
            .map(|h| self.reqs[h].actor)
            .collect();
        let mut seen = HashSet::new();
        while let Some(at) = stack.pop() {
            if at == actor {
                return true;
            }
            if seen.insert(at) {
                stack.extend(edges.get(&at).into_iter().flatten());
            }
        }
        false
    }

    // --- the condition variable model ---

    fn notify_one(&mut self) {
        let Some(id) = self.cv.pop_front() else {
            return;
        };
        if self.waits[&id].volatile {
            self.waits.get_mut(&id).unwrap().phase = WPhase::Either { pass_on: true };
        } else {
            self.notified(id, true);
        }
    }

    fn notify_all(&mut self) {
        while let Some(id) = self.cv.pop_front() {
            if self.waits[&id].volatile {
                self.waits.get_mut(&id).unwrap().phase = WPhase::Either { pass_on: false };
            } else {
                self.notified(id, false);
            }
        }
    }

    /// A notification reached waiter `id`: it completes, or (`wait_with`) asks for its lock
    /// again, as a new exclusive request under the same id.
    fn notified(&mut self, id: u64, by_one: bool) {
        let wait = self.waits.get_mut(&id).unwrap();
        match wait.relock {
            None => wait.phase = WPhase::Notified,
            Some(lock) => {
                wait.phase = WPhase::Done;
                let actor = wait.actor;
                self.reqs.insert(
                    id,
                    MReq {
                        relock_by_one: Some(by_one),
                        ..self.blank(actor, lock, Exclusive)
                    },
                );
                self.request(id);
            }
        }
    }

    fn blank(&self, actor: usize, lock: usize, mode: AsyncLockMode) -> MReq {
        MReq {
            actor,
            lock,
            mode,
            transient: false,
            signal: None,
            timeout: None,
            volatile: false,
            alt: None,
            relock_by_one: None,
            value: None,
            cycle: None,
            phase: Phase::Queued,
        }
    }

    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    // --- events ---

    fn req_of(&mut self, actor: usize, id: u64) -> Result<&mut MReq, String> {
        match self.reqs.get_mut(&id) {
            Some(req) if req.actor == actor => Ok(req),
            _ => Err(format!("actor {actor} reported request {id}, not its own")),
        }
    }

    fn finish(&mut self, actor: usize, id: u64) {
        if self.actors[actor].pending == Some(id) {
            self.actors[actor].pending = None;
        }
    }

    fn ack(&mut self, actor: usize) -> Result<(), String> {
        let acks = &mut self.actors[actor].acks;
        if *acks == 0 {
            return Err(format!("actor {actor} acknowledged a command never sent"));
        }
        *acks -= 1;
        Ok(())
    }

    /// Applies an event to the model, and any deferred events it explains.
    ///
    /// Events of different actors arrive in any order: a grant that a departure (a timeout, an
    /// abort, a dropped future) let happen may be reported before the departure is. Such an
    /// event is deferred while a departure is still awaited, and is a violation once none is.
    fn apply(&mut self, ev: Ev) -> Result<(), String> {
        match self.try_apply(ev)? {
            Early(ev, why) => {
                self.deferred.push((ev, why));
                self.check_deferred()
            }
            Applied => self.retry_deferred(),
        }
    }

    /// Applies the deferred events that fit now (the model moved on).
    fn retry_deferred(&mut self) -> Result<(), String> {
        loop {
            let mut progress = false;
            for (ev, _) in std::mem::take(&mut self.deferred) {
                match self.try_apply(ev)? {
                    Early(ev, why) => self.deferred.push((ev, why)),
                    Applied => progress = true,
                }
            }
            if !progress {
                return self.check_deferred();
            }
        }
    }

    /// A deferred event with no departure left to explain it is a violation.
    fn check_deferred(&self) -> Result<(), String> {
        if !self.deferred.is_empty() && !self.departing() {
            let (ev, why) = &self.deferred[0];
            return Err(format!("{why} (event {ev:?})"));
        }
        Ok(())
    }

    /// Whether a departure the model cannot time is still awaited: a request that may time
    /// out, a race's other outcome, a short wait, a dropped future not yet acknowledged.
    fn departing(&self) -> bool {
        self.reqs.values().any(|r| {
            (r.volatile && matches!(r.phase, Phase::Queued | Phase::Granting))
                || (r.alt.is_some() && r.phase == Phase::Granting)
        }) || self.waits.values().any(|w| {
            matches!(w.phase, WPhase::Either { .. }) || (w.volatile && w.phase == WPhase::Waiting)
        }) || self.actors.iter().any(|a| a.cancels > 0)
    }

    /// Settles a race between a woken waiter and a newcomer (see [`Phase::Arriving`]) by the
    /// first of them reported granted (or the newcomer's try refused).
    fn arrived(&mut self, req: u64, granted: bool) {
        let Some((waiter, newcomer, tries)) = self.arrival else {
            return;
        };
        let overtakes = self.reqs[&newcomer].mode == Exclusive;
        if req == newcomer && granted && !overtakes {
            // Shared requests never go before a woken writer: left as it is, the event is
            // reported as out of turn.
            return;
        }
        if req == newcomer && granted {
            // It came between the release and the waiter's turn, and took the lock first:
            // the waiter is back at the front of the queue, its write not done.
            let lock = self.reqs[&waiter].lock;
            let model = &mut self.locks[lock];
            model.holders.retain(|h| *h != waiter);
            if model.valued {
                model.value -= 1;
            }
            model.queue.push_front(waiter);
            self.reqs.get_mut(&waiter).unwrap().phase = Phase::Queued;
            self.grant(newcomer);
            note(format!(
                "  race: newcomer {newcomer} went before waiter {waiter}"
            ));
        } else if req == newcomer {
            self.reqs.get_mut(&newcomer).unwrap().phase = Phase::Failing(Fail::Refused);
            note(format!("  race: newcomer {newcomer}'s try failed"));
        } else if req == waiter && granted {
            if tries {
                self.reqs.get_mut(&newcomer).unwrap().phase = Phase::Failing(Fail::Refused);
            } else {
                self.request(newcomer);
            }
            note(format!(
                "  race: waiter {waiter} went before newcomer {newcomer}"
            ));
        } else {
            return;
        }
        self.arrival = None;
    }

    fn try_apply(&mut self, ev: Ev) -> Result<Fit, String> {
        match ev {
            Ev::Ready { actor, party } => self.actors[actor].party = Some(party),
            Ev::Quit { actor } => self.actors[actor].quit = true,
            Ev::Violation { actor, what } => return Err(format!("actor {actor}: {what}")),
            Ev::Ack { actor } => self.ack(actor)?,
            Ev::Granted { actor, req, value } => {
                let relocked_early = !self.reqs.contains_key(&req)
                    && self
                        .waits
                        .get(&req)
                        .is_some_and(|w| w.actor == actor && w.phase == WPhase::Waiting);
                if relocked_early {
                    // A `notify_one` passed on by a departure yet to be reported.
                    let why = format!("actor {actor}'s wait {req} took its lock back unnotified");
                    return Ok(Early(Ev::Granted { actor, req, value }, why));
                }
                self.arrived(req, true);
                let model = self.req_of(actor, req)?;
                if model.phase == Phase::Queued {
                    let why =
                        format!("actor {actor} was granted request {req} out of turn: {model:?}");
                    return Ok(Early(Ev::Granted { actor, req, value }, why));
                }
                if model.phase != Phase::Granting {
                    return Err(format!(
                        "actor {actor} was granted request {req} out of turn: {model:?}"
                    ));
                }
                if value != model.value {
                    return Err(format!(
                        "actor {actor}, granted request {req}, saw the value {value:?}: {model:?}"
                    ));
                }
                if model.alt.is_some() || model.volatile {
                    note(format!("  race: request {req} was granted"));
                }
                if model.transient {
                    model.phase = Phase::Releasing;
                } else {
                    model.phase = Phase::Held;
                    self.finish(actor, req);
                }
            }
            Ev::Released { actor, req } => {
                let model = self.req_of(actor, req)?;
                if model.phase == Phase::Queued && model.transient {
                    let why = format!("actor {actor}'s callback {req} ran out of turn: {model:?}");
                    return Ok(Early(Ev::Released { actor, req }, why));
                }
                if model.phase != Phase::Releasing {
                    return Err(format!(
                        "actor {actor} released request {req} unasked: {model:?}"
                    ));
                }
                model.phase = Phase::Done;
                self.finish(actor, req);
            }
            Ev::Refused { actor, req } => {
                self.arrived(req, false);
                let model = self.req_of(actor, req)?;
                if model.phase != Phase::Failing(Fail::Refused) {
                    return Err(format!("actor {actor}'s try {req} was refused: {model:?}"));
                }
                model.phase = Phase::Done;
                self.finish(actor, req);
            }
            Ev::Failed { actor, req, error } => {
                self.req_of(actor, req)?;
                let kind = self.check_error(req, &error)?;
                let model = &self.reqs[&req];
                let racing = model.alt == Some(kind) || (model.volatile && kind == Fail::TimedOut);
                match model.phase {
                    Phase::Failing(expected) if expected == kind => {
                        self.reqs.get_mut(&req).unwrap().phase = Phase::Done;
                    }
                    Phase::Queued | Phase::Granting if racing => {
                        note(format!("  race: request {req} failed: {kind:?}"));
                        self.withdraw(req);
                    }
                    _ => {
                        return Err(format!(
                            "actor {actor}'s request {req} failed with {error:?}: {model:?}"
                        ));
                    }
                }
                self.finish(actor, req);
            }
            Ev::Serialized { actor, req, result } => {
                let model = self.req_of(actor, req)?;
                match (&model.phase, &result) {
                    (Phase::Failing(Fail::NotSerialized), Err(message))
                        if message.contains("the caller holds it") => {}
                    (Phase::Granting, Ok(json))
                        if *json == model.value.map_or("null".into(), |v| v.to_string()) => {}
                    (Phase::Queued, Ok(_)) => {
                        let why = format!(
                            "actor {actor} serialized lock {} out of turn: {model:?}",
                            model.lock
                        );
                        return Ok(Early(Ev::Serialized { actor, req, result }, why));
                    }
                    _ => {
                        return Err(format!(
                            "actor {actor} serialized lock {}: {result:?}: {model:?}",
                            model.lock
                        ));
                    }
                }
                model.phase = Phase::Done;
                self.finish(actor, req);
            }
            Ev::Notified {
                actor,
                req,
                notified,
            } => {
                let Some(wait) = self.waits.get_mut(&req).filter(|w| w.actor == actor) else {
                    return Err(format!("actor {actor} reported wait {req}, not its own"));
                };
                match (wait.phase, notified) {
                    (WPhase::Notified, true) | (WPhase::TimesOut, false) => {
                        wait.phase = WPhase::Done;
                    }
                    (WPhase::Either { pass_on }, _) => {
                        wait.phase = WPhase::Done;
                        note(format!("  race: wait {req} notified: {notified}"));
                        if pass_on && !notified {
                            self.notify_one();
                        }
                    }
                    (WPhase::Waiting, false) if wait.volatile => {
                        wait.phase = WPhase::Done;
                        self.cv.retain(|w| *w != req);
                    }
                    (WPhase::Waiting, true) => {
                        // A `notify_one` passed on by a waiter whose departure is yet to come.
                        let why = format!(
                            "actor {actor}'s wait {req} was notified out of turn: {wait:?}"
                        );
                        return Ok(Early(
                            Ev::Notified {
                                actor,
                                req,
                                notified,
                            },
                            why,
                        ));
                    }
                    _ => {
                        return Err(format!(
                            "actor {actor}'s wait {req} ended notified={notified}: {wait:?}"
                        ));
                    }
                }
                self.finish(actor, req);
            }
            Ev::Cancelled { actor, dropped } => {
                self.ack(actor)?;
                self.actors[actor].cancels -= 1;
                let pending = self.actors[actor].pending;
                match dropped {
                    None if pending.is_none() => {}
                    Some(id) if pending == Some(id) => {
                        self.dropped(id)?;
                        self.actors[actor].pending = None;
                    }
                    _ => {
                        return Err(format!(
                            "actor {actor} dropped {dropped:?}; the model has {pending:?} pending"
                        ));
                    }
                }
            }
        }
        Ok(Applied)
    }

    /// The future of `id` was dropped while it waited (for a notification, or for its lock).
    fn dropped(&mut self, id: u64) -> Result<(), String> {
        if let Some(wait) = self.waits.get_mut(&id) {
            if wait.phase == WPhase::Waiting {
                wait.phase = WPhase::Done;
                self.cv.retain(|w| *w != id);
                return Ok(());
            }
        }
        let Some(req) = self.reqs.get(&id) else {
            return Err(format!("dropped {id}, which the model does not know"));
        };
        match req.phase {
            Phase::Queued => {}
            Phase::Granting if req.alt == Some(Fail::Dropped) => {
                note(format!("  race: request {id} was dropped"));
            }
            _ => return Err(format!("dropped {id}: {req:?}")),
        }
        let pass_on = req.relock_by_one == Some(true);
        self.withdraw(id);
        if pass_on {
            // A `wait_with` woken by `notify_one`, dropped before it got its lock back.
            self.notify_one();
        }
        Ok(())
    }

    /// The kind of a request's error, checked against what the request asked for.
    fn check_error(&self, id: u64, error: &Error) -> Result<Fail, String> {
        let req = &self.reqs[&id];
        let name = self.world.locks[req.lock].name();
        let wrong = |what: &str| Err(format!("request {id} ({req:?}): {what}: {error:?}"));
        match error {
            Error::LockTimedOut {
                name: named,
                mode,
                timeout,
                diagnosis,
                ..
            } => {
                if error.code() != Some(10200031) || *named != name || *mode != req.mode {
                    return wrong("a timeout with a wrong code, name or mode");
                }
                if Some(*timeout) != req.timeout {
                    return wrong("a timeout reporting another duration");
                }
                if let Some(cycle) = req.cycle {
                    if diagnosis.contains("possible deadlock") != cycle {
                        return wrong(&format!("the model says cycle={cycle}"));
                    }
                }
                Ok(Fail::TimedOut)
            }
            Error::LockAborted {
                name: named,
                reason,
                ..
            } => {
                let expected = req.signal.map(|s| &self.signals[s].reason);
                if *named != name || Some(reason) != expected {
                    return wrong("an abort with a wrong name or reason");
                }
                Ok(Fail::Aborted)
            }
            Error::LockUnavailable {
                name: named, mode, ..
            } => {
                if *named != name || *mode != req.mode {
                    return wrong("unavailable with a wrong name or mode");
                }
                Ok(Fail::Unavailable)
            }
            _ => wrong("an unexpected error"),
        }
    }

    /// What the step still waits for.
    fn outstanding(&self) -> Vec<String> {
        let mut left = Vec::new();
        for (id, req) in &self.reqs {
            let awaited = matches!(
                req.phase,
                Phase::Granting | Phase::Releasing | Phase::Failing(_)
            ) || (req.phase == Phase::Queued && req.volatile)
                || req.phase == Phase::Arriving;
            if awaited {
                left.push(format!("request {id}: {req:?}"));
            }
        }
        for (id, wait) in &self.waits {
            let awaited = matches!(
                wait.phase,
                WPhase::Notified | WPhase::Either { .. } | WPhase::TimesOut
            ) || (wait.phase == WPhase::Waiting && wait.volatile);
            if awaited {
                left.push(format!("wait {id}: {wait:?}"));
            }
        }
        for (ev, why) in &self.deferred {
            left.push(format!("deferred {ev:?}: {why}"));
        }
        for (at, actor) in self.actors.iter().enumerate() {
            if actor.acks > 0 {
                left.push(format!("{} acknowledgements of actor {at}", actor.acks));
            }
        }
        left
    }

    /// Compares every lock's snapshot (from `state()`, `query(name)` or `query_all()`, in
    /// turn) and the condition variable's waiter count with the model: `Ok(None)` if they
    /// match, `Ok(Some(difference))` if not (yet), `Err` for a snapshot no lock may show.
    fn compare(&mut self) -> Result<Option<String>, String> {
        self.looks += 1;
        let all = (self.looks % 5 == 0).then(AsyncLock::query_all);
        let mut difference = None;
        for (at, lock) in self.world.locks.iter().enumerate() {
            let state = match (&all, lock) {
                (Some(all), _) => {
                    let name = lock.name();
                    all.iter()
                        .find(|state| state.name == name)
                        .cloned()
                        .ok_or_else(|| format!("query_all() does not list the lock {name}"))?
                }
                (None, WalkLock::Named(_, name)) if self.looks % 5 == 2 => {
                    AsyncLock::query(name).map_err(|e| format!("query({name:?}): {e}"))?
                }
                _ => lock.state(),
            };
            valid_snapshot(&state)?;
            if difference.is_none() {
                difference = self.differs(at, &state);
            }
        }
        let waiters = self.world.condvar.waiters();
        if difference.is_none() && waiters != self.cv.len() {
            difference = Some(format!(
                "the condition variable has {waiters} waiters, the model {}",
                self.cv.len()
            ));
        }
        Ok(difference)
    }

    fn party(&self, id: &u64) -> (Party, AsyncLockMode) {
        let req = &self.reqs[id];
        (self.actors[req.actor].party.unwrap(), req.mode)
    }

    fn differs(&self, lock: usize, state: &AsyncLockState) -> Option<String> {
        let model = &self.locks[lock];
        let mut held: Vec<_> = state.held.iter().collect();
        for id in &model.holders {
            let (party, mode) = self.party(id);
            match held.iter().position(|h| party.is(h) && h.mode == mode) {
                Some(at) => {
                    held.swap_remove(at);
                }
                None => return Some(format!("lock {lock}: holder {id} missing from {state}")),
            }
        }
        if !held.is_empty() {
            return Some(format!("lock {lock}: holders the model lacks in {state}"));
        }
        let same_queue = state.pending.len() == model.queue.len()
            && model.queue.iter().zip(&state.pending).all(|(id, info)| {
                let (party, mode) = self.party(id);
                party.is(info) && info.mode == mode
            });
        (!same_queue).then(|| format!("lock {lock}: the queue {:?} is not {state}", model.queue))
    }

    fn describe_model(&self) -> String {
        let mut text = String::new();
        for (at, lock) in self.locks.iter().enumerate() {
            let _ = write!(
                text,
                "lock {at}: holders {:?}, queue {:?}, value {}; ",
                lock.holders, lock.queue, lock.value
            );
        }
        let _ = write!(text, "condvar queue {:?}; actors:", self.cv);
        for (at, actor) in self.actors.iter().enumerate() {
            let _ = write!(text, " {at} {:?} pending {:?};", actor.kind, actor.pending);
        }
        text
    }

    fn describe_world(&self) -> String {
        let mut text = String::new();
        for lock in &self.world.locks {
            let _ = write!(text, "{}; ", lock.state());
        }
        let _ = write!(text, "condvar waiters: {}", self.world.condvar.waiters());
        text
    }

    /// Waits until the actors have reported everything the step predicts and every snapshot
    /// matches the model. A step that does not get there within [`PATIENCE`] has hung.
    fn settle(&mut self) -> Result<(), String> {
        // Progress, for the watchdog: however many steps a walk has, each is bounded.
        WATCHDOG.moved_on();
        let deadline = Instant::now() + PATIENCE;
        let mut nap = Duration::from_micros(20);
        loop {
            while let Ok(ev) = self.events.try_recv() {
                self.apply(ev)?;
            }
            // The step's own model updates (a release, an abort) may explain a deferred event.
            self.retry_deferred()?;
            let left = self.outstanding();
            let difference = self.compare()?;
            if left.is_empty() && difference.is_none() {
                self.reqs.retain(|_, req| req.phase != Phase::Done);
                self.waits.retain(|id, wait| {
                    wait.phase != WPhase::Done || self.actors[wait.actor].pending == Some(*id)
                });
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "hang: the step did not settle within {PATIENCE:?}; awaited: {left:?}; \
                     difference: {difference:?}; model: {}; observed: {}",
                    self.describe_model(),
                    self.describe_world()
                ));
            }
            match self.events.recv_timeout(nap) {
                Ok(ev) => {
                    self.apply(ev)?;
                    nap = Duration::from_micros(20);
                }
                Err(RecvTimeoutError::Timeout) => nap = (nap * 2).min(Duration::from_millis(2)),
                Err(RecvTimeoutError::Disconnected) => unreachable!("the world keeps a sender"),
            }
        }
    }

    // --- choosing steps ---

    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[self.rng.below(items.len() as u64) as usize])
    }

    fn idle(&self) -> Vec<usize> {
        (0..self.actors.len())
            .filter(|a| self.actors[*a].pending.is_none())
            .collect()
    }

    fn held(&self) -> Vec<u64> {
        self.reqs
            .iter()
            .filter(|(_, r)| r.phase == Phase::Held && self.actors[r.actor].pending.is_none())
            .map(|(id, _)| *id)
            .collect()
    }

    fn holds_any(&self, actor: usize) -> bool {
        self.reqs
            .values()
            .any(|r| r.actor == actor && r.phase == Phase::Held)
    }

    fn send(&mut self, actor: usize, cmd: Cmd) {
        if matches!(
            cmd,
            Cmd::Cancel | Cmd::Notify { .. } | Cmd::Lookup { .. } | Cmd::Freeze
        ) {
            self.actors[actor].acks += 1;
        }
        if matches!(cmd, Cmd::Cancel) {
            self.actors[actor].cancels += 1;
        }
        self.world.mail[actor].send(cmd);
    }

    fn note_step(&self, what: String) {
        note(format!("step {}: {what}", self.step));
    }

    fn mode(&mut self) -> AsyncLockMode {
        if self.rng.chance(45) { Read } else { Exclusive }
    }

    fn step(&mut self) -> Result<(), String> {
        for _ in 0..20 {
            let issued = match self.rng.below(100) {
                0..=31 => self.op_acquire(),
                32..=52 => self.op_release(),
                53..=59 => self.op_wait(),
                60..=62 => self.op_wait_with(),
                63..=68 => self.op_notify(),
                69..=71 => self.op_abort(),
                72..=75 => self.op_cancel(),
                76..=78 => self.op_lookup(),
                79..=82 => self.op_serialize(),
                83..=85 => self.race_timeout()?,
                86..=88 => self.race_abort(),
                89..=91 => self.race_cancel(),
                92..=93 => self.race_arrival(),
                94..=95 => self.race_wait(),
                96 => self.frozen_timeout()?,
                97 => self.frozen_abort()?,
                _ => self.frozen_wait()?,
            };
            if issued {
                return self.settle();
            }
        }
        self.note_step("nothing to do".into());
        self.settle()
    }

    fn op_acquire(&mut self) -> bool {
        let idle = self.idle();
        let Some(actor) = self.pick(&idle) else {
            return false;
        };
        let lock = self.rng.below(self.locks.len() as u64) as usize;
        let mode = self.mode();
        let form = match self.rng.below(100) {
            0..=14 => Form::Try,
            15..=29 => Form::Then,
            _ => Form::Guard,
        };
        let mut req = self.blank(actor, lock, mode);
        req.transient = form == Form::Then;
        let mut options = None;
        let mut available = false;
        if form != Form::Try {
            // Callbacks get no short timeout: a callback whose grant races its timeout would
            // leave the model unsure of the writes after it.
            let choice = self.rng.below(if form == Form::Then { 8 } else { 10 });
            match choice {
                0 | 1 => {}
                2 => available = true,
                3 => req.timeout = Some(Duration::ZERO),
                4 => req.timeout = Some(LONG),
                5 | 6 => req.signal = Some(self.rng.below(self.signals.len() as u64) as usize),
                7 => {
                    req.signal = Some(self.rng.below(self.signals.len() as u64) as usize);
                    req.timeout = Some(LONG);
                }
                8 => req.timeout = Some(Duration::MAX),
                _ => {
                    req.timeout = Some(short(&mut self.rng));
                    req.volatile = true;
                }
            }
            if choice != 0 {
                let mut built = AsyncLockOptions::new().is_available(available);
                if let Some(timeout) = req.timeout {
                    built = built.timeout(timeout);
                }
                if let Some(signal) = req.signal {
                    built = built.signal(self.signals[signal].signal.clone());
                }
                options = Some(built);
            }
        }
        // A duration too long to represent is no timeout: it never reports one.
        let aborted = req.signal.is_some_and(|s| self.signals[s].aborted);
        let try_only = form == Form::Try || available || req.timeout == Some(Duration::ZERO);
        let id = self.new_id();
        let kind = self.actors[actor].kind;
        let breakable = req.signal.is_some() || req.volatile || kind.is_async();
        if !aborted
            && !try_only
            && !self.wait_rule(lock, mode)
            && !breakable
            && self.holds_any(actor)
        {
            // It would wait, holding a lock, where nothing but its own turn can end the wait:
            // a possible deadlock of the walk, not of the lock.
            return false;
        }
        self.reqs.insert(id, req);
        let predicted = if aborted {
            self.reqs.get_mut(&id).unwrap().phase = Phase::Failing(Fail::Aborted);
            "aborted at once".to_string()
        } else if try_only {
            if self.try_rule(lock, mode) {
                self.grant(id);
                "granted".to_string()
            } else {
                let fail = if form == Form::Try {
                    Fail::Refused
                } else if available {
                    Fail::Unavailable
                } else {
                    Fail::TimedOut
                };
                let cycle = (fail == Fail::TimedOut).then(|| self.cycle(actor, lock));
                let model = self.reqs.get_mut(&id).unwrap();
                model.phase = Phase::Failing(fail);
                model.cycle = cycle;
                format!("{fail:?}")
            }
        } else {
            self.request(id);
            let queued = self.reqs[&id].phase == Phase::Queued;
            if queued && self.reqs[&id].volatile {
                let cycle = self.cycle(actor, lock);
                self.reqs.get_mut(&id).unwrap().cycle = Some(cycle);
            }
            if queued { "queued" } else { "granted" }.to_string()
        };
        self.actors[actor].pending = Some(id);
        let req = &self.reqs[&id];
        self.note_step(format!(
            "actor {actor} ({kind:?}) {form:?} {mode} lock {lock} as {id} (timeout {:?}, signal {:?}, available {available}, options {}): {predicted}",
            req.timeout,
            req.signal,
            options.is_some()
        ));
        self.send(
            actor,
            Cmd::Acquire {
                req: id,
                lock,
                mode,
                form,
                options,
            },
        );
        true
    }

    fn op_release(&mut self) -> bool {
        let held = self.held();
        let Some(id) = self.pick(&held) else {
            return false;
        };
        let actor = self.reqs[&id].actor;
        self.note_step(format!(
            "actor {actor} releases {id} (lock {})",
            self.reqs[&id].lock
        ));
        self.release(id);
        self.send(actor, Cmd::Release { req: id });
        true
    }

    fn op_wait(&mut self) -> bool {
        let idle = self.idle();
        let Some(actor) = self.pick(&idle) else {
            return false;
        };
        let timeout = match self.rng.below(100) {
            0..=34 => None,
            35..=49 => Some(LONG),
            50..=69 => Some(Duration::ZERO),
            _ => Some(short(&mut self.rng)),
        };
        self.wait(actor, timeout, "");
        true
    }

    fn wait(&mut self, actor: usize, timeout: Option<Duration>, why: &str) -> u64 {
        let id = self.new_id();
        let zero = timeout == Some(Duration::ZERO);
        let volatile = timeout.is_some_and(|t| t < LONG && !t.is_zero());
        self.waits.insert(
            id,
            MWait {
                actor,
                volatile,
                relock: None,
                phase: if zero {
                    WPhase::TimesOut
                } else {
                    WPhase::Waiting
                },
            },
        );
        if !zero {
            self.cv.push_back(id);
        }
        self.actors[actor].pending = Some(id);
        self.note_step(format!(
            "{why}actor {actor} waits as {id} (timeout {timeout:?})"
        ));
        self.send(actor, Cmd::Wait { req: id, timeout });
        id
    }

    fn op_wait_with(&mut self) -> bool {
        let candidates: Vec<u64> = self
            .held()
            .into_iter()
            .filter(|id| {
                let req = &self.reqs[id];
                let only = self
                    .reqs
                    .values()
                    .filter(|r| r.actor == req.actor && r.phase == Phase::Held)
                    .count()
                    == 1;
                // One `wait_with` per lock at a time: two woken together would race for it.
                let relocking = self.waits.values().any(|w| w.relock == Some(req.lock))
                    || self
                        .reqs
                        .values()
                        .any(|r| r.lock == req.lock && r.relock_by_one.is_some());
                req.mode == Exclusive && only && !relocking
            })
            .collect();
        let Some(guard) = self.pick(&candidates) else {
            return false;
        };
        let (actor, lock) = (self.reqs[&guard].actor, self.reqs[&guard].lock);
        self.locks[lock].holders.retain(|h| *h != guard);
        self.reqs.get_mut(&guard).unwrap().phase = Phase::Done;
        self.advance(lock);
        let id = self.new_id();
        self.waits.insert(
            id,
            MWait {
                actor,
                volatile: false,
                relock: Some(lock),
                phase: WPhase::Waiting,
            },
        );
        self.cv.push_back(id);
        self.actors[actor].pending = Some(id);
        self.note_step(format!(
            "actor {actor} waits with its guard {guard} of lock {lock}, to take it back as {id}"
        ));
        self.send(actor, Cmd::WaitWith { req: id, guard });
        true
    }

    /// A notification, sent by the controller or by an idle actor other than `not`.
    fn notify(&mut self, all: bool, not: Option<usize>) {
        let idle: Vec<usize> = self
            .idle()
            .into_iter()
            .filter(|a| Some(*a) != not)
            .collect();
        let by = if self.rng.chance(50) {
            self.pick(&idle)
        } else {
            None
        };
        let what = if all { "notify_all" } else { "notify_one" };
        match by {
            Some(actor) => {
                note(format!("  actor {actor}: {what}"));
                self.send(actor, Cmd::Notify { all });
            }
            None => {
                note(format!("  controller: {what}"));
                if all {
                    self.world.condvar.notify_all();
                } else {
                    self.world.condvar.notify_one();
                }
            }
        }
        if all {
            self.notify_all();
        } else {
            self.notify_one();
        }
    }

    fn op_notify(&mut self) -> bool {
        let all = self.rng.chance(30);
        self.note_step(format!("notify (waiting: {:?})", self.cv));
        self.notify(all, None);
        true
    }

    fn abort(&mut self, slot: usize) {
        self.aborts += 1;
        let mut touched = Vec::new();
        for (id, req) in self.reqs.iter_mut() {
            if req.signal != Some(slot) {
                continue;
            }
            match req.phase {
                Phase::Queued => {
                    req.phase = Phase::Failing(Fail::Aborted);
                    touched.push((*id, req.lock));
                }
                // Let in by a release racing the abort: either may win.
                Phase::Granting => req.alt = Some(Fail::Aborted),
                _ => {}
            }
        }
        // All are withdrawn before anyone is let in: each sees the signal's flag, set before
        // the first withdrawal, and fails even if an earlier one's departure made it eligible.
        for (id, lock) in &touched {
            self.locks[*lock].queue.retain(|q| q != id);
        }
        for (_, lock) in touched {
            self.advance(lock);
        }
        let signal = &mut self.signals[slot];
        signal.aborted = true;
        note(format!("  abort signal {slot}: {}", signal.reason));
        signal.signal.abort(signal.reason.clone());
    }

    fn op_abort(&mut self) -> bool {
        let slot = self.rng.below(self.signals.len() as u64) as usize;
        if self.signals[slot].aborted {
            self.aborts += 1;
            self.signals[slot] = MSignal {
                signal: AbortSignal::new(),
                aborted: false,
                reason: format!("walk {} abort {}", self.seed, self.aborts),
            };
            self.note_step(format!("signal {slot} renewed"));
            return true;
        }
        self.note_step(format!("abort signal {slot}"));
        self.abort(slot);
        true
    }

    /// `async` actors whose pending request or wait may be dropped deterministically.
    fn cancellable(&self) -> Vec<usize> {
        (0..self.actors.len())
            .filter(|a| {
                self.actors[*a].kind.is_async()
                    && self.actors[*a].pending.is_some_and(|id| {
                        self.waits
                            .get(&id)
                            .is_some_and(|w| w.phase == WPhase::Waiting)
                            || self.reqs.get(&id).is_some_and(|r| r.phase == Phase::Queued)
                    })
            })
            .collect()
    }

    fn op_cancel(&mut self) -> bool {
        let cancellable = self.cancellable();
        let Some(actor) = self.pick(&cancellable) else {
            return false;
        };
        self.note_step(format!(
            "actor {actor} drops its pending {:?}",
            self.actors[actor].pending
        ));
        self.send(actor, Cmd::Cancel);
        true
    }

    fn op_lookup(&mut self) -> bool {
        let idle = self.idle();
        let Some(actor) = self.pick(&idle) else {
            return false;
        };
        let lock = self.rng.below(self.locks.len() as u64) as usize;
        self.note_step(format!("actor {actor} looks up lock {lock}"));
        self.send(actor, Cmd::Lookup { lock });
        true
    }

    fn op_serialize(&mut self) -> bool {
        let idle: Vec<usize> = self
            .idle()
            .into_iter()
            .filter(|a| !self.actors[*a].kind.is_async())
            .collect();
        let Some(actor) = self.pick(&idle) else {
            return false;
        };
        let lock = self.rng.below(self.locks.len() as u64) as usize;
        let holds = self
            .reqs
            .values()
            .filter(|r| r.actor == actor && r.lock == lock && r.phase == Phase::Held)
            .map(|r| r.mode)
            .max_by_key(|mode| *mode == Exclusive);
        let tries = self.try_rule(lock, Read);
        if holds.is_none() && !tries && self.holds_any(actor) {
            return false;
        }
        let id = self.new_id();
        self.reqs.insert(
            id,
            MReq {
                transient: true,
                ..self.blank(actor, lock, Read)
            },
        );
        // It reads with a shared try; failing that, a caller holding the lock gets an error,
        // anyone else waits in shared mode.
        let predicted = match holds {
            Some(_) if !tries => {
                self.reqs.get_mut(&id).unwrap().phase = Phase::Failing(Fail::NotSerialized);
                "refused"
            }
            _ if tries => {
                self.grant(id);
                "read at once"
            }
            _ => {
                self.request(id);
                "queued"
            }
        };
        self.actors[actor].pending = Some(id);
        self.note_step(format!(
            "actor {actor} serializes lock {lock} as {id} (holding {holds:?}): {predicted}"
        ));
        self.send(actor, Cmd::Serialize { req: id, lock });
        true
    }

    /// A short-timeout request queued behind a holder, which then releases: the request takes
    /// the lock or times out, whichever comes first.
    fn race_timeout(&mut self) -> Result<bool, String> {
        let held = self.held();
        let Some(holder) = self.pick(&held) else {
            return Ok(false);
        };
        let (owner, lock) = (self.reqs[&holder].actor, self.reqs[&holder].lock);
        let idle: Vec<usize> = self.idle().into_iter().filter(|a| *a != owner).collect();
        let Some(actor) = self.pick(&idle) else {
            return Ok(false);
        };
        let mode = self.mode();
        if self.wait_rule(lock, mode) {
            return Ok(false);
        }
        let timeout = Duration::from_micros(100 + self.rng.below(5000));
        let id = self.acquire_timed(actor, lock, mode, timeout, |id| {
            format!(
                "race: actor {actor} {mode} lock {lock} as {id} with timeout {timeout:?}, then actor {owner} releases {holder}"
            )
        });
        // The release must come after the request has queued: arriving after it, the request
        // might overtake a woken waiter, which the model does not follow.
        let deadline = Instant::now() + PATIENCE;
        let party = self.actors[actor].party.unwrap();
        loop {
            while let Ok(ev) = self.events.try_recv() {
                self.apply(ev)?;
            }
            let queued = self.world.locks[lock]
                .state()
                .pending
                .iter()
                .any(|info| party.is(info));
            if queued || self.reqs[&id].phase != Phase::Queued {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("request {id} never queued"));
            }
            std::thread::yield_now();
        }
        self.release(holder);
        self.send(owner, Cmd::Release { req: holder });
        Ok(true)
    }

    /// `actor` asks for `lock` in `mode` with a guard and `timeout` (a volatile request: its
    /// time may run out whatever the model expects), queued in the model as it will be by the
    /// lock; `what` describes the step, given the request's id. Returns that id.
    fn acquire_timed(
        &mut self,
        actor: usize,
        lock: usize,
        mode: AsyncLockMode,
        timeout: Duration,
        what: impl FnOnce(u64) -> String,
    ) -> u64 {
        let id = self.new_id();
        self.reqs.insert(
            id,
            MReq {
                timeout: Some(timeout),
                volatile: true,
                ..self.blank(actor, lock, mode)
            },
        );
        self.request(id);
        self.actors[actor].pending = Some(id);
        self.note_step(what(id));
        self.send(
            actor,
            Cmd::Acquire {
                req: id,
                lock,
                mode,
                form: Form::Guard,
                options: Some(AsyncLockOptions::new().timeout(timeout)),
            },
        );
        id
    }

    /// A holder releases while the signal of a request queued behind it is aborted.
    fn race_abort(&mut self) -> bool {
        let queued: Vec<u64> = self
            .reqs
            .iter()
            .filter(|(_, r)| {
                // Not with a callback waiting on the same signal: one let in by the release
                // writes and releases at once, and a later reader's value would depend on
                // whether the abort came first.
                let callback_waits = |s: usize| {
                    self.reqs
                        .values()
                        .any(|o| o.transient && o.phase == Phase::Queued && o.signal == Some(s))
                };
                r.phase == Phase::Queued
                    && r.signal
                        .is_some_and(|s| !self.signals[s].aborted && !callback_waits(s))
            })
            .map(|(id, _)| *id)
            .collect();
        let Some(waiter) = self.pick(&queued) else {
            return false;
        };
        let lock = self.reqs[&waiter].lock;
        let holders: Vec<u64> = self
            .held()
            .into_iter()
            .filter(|h| self.reqs[h].lock == lock)
            .collect();
        let Some(holder) = self.pick(&holders) else {
            return false;
        };
        let owner = self.reqs[&holder].actor;
        let slot = self.reqs[&waiter].signal.unwrap();
        self.note_step(format!(
            "race: actor {owner} releases {holder} while signal {slot} of {waiter} aborts"
        ));
        self.release(holder);
        self.send(owner, Cmd::Release { req: holder });
        self.abort(slot);
        true
    }

    /// A holder releases while the future of a request queued behind it is dropped.
    fn race_cancel(&mut self) -> bool {
        let candidates: Vec<(usize, u64)> = self
            .cancellable()
            .into_iter()
            .filter_map(|a| {
                let id = self.actors[a].pending?;
                let req = self.reqs.get(&id)?;
                (!req.transient && req.relock_by_one.is_none()).then_some((a, id))
            })
            .collect();
        let Some((actor, waiter)) = self.pick(&candidates) else {
            return false;
        };
        let lock = self.reqs[&waiter].lock;
        let holders: Vec<u64> = self
            .held()
            .into_iter()
            .filter(|h| self.reqs[h].lock == lock && self.reqs[h].actor != actor)
            .collect();
        let Some(holder) = self.pick(&holders) else {
            return false;
        };
        let owner = self.reqs[&holder].actor;
        self.note_step(format!(
            "race: actor {owner} releases {holder} while actor {actor} drops {waiter}"
        ));
        self.release(holder);
        self.send(owner, Cmd::Release { req: holder });
        if self.reqs[&waiter].phase == Phase::Granting {
            self.reqs.get_mut(&waiter).unwrap().alt = Some(Fail::Dropped);
        }
        self.send(actor, Cmd::Cancel);
        true
    }

    /// A holder releases to an exclusive waiter while another actor asks for the lock (waiting,
    /// or trying): an exclusive newcomer coming first takes it, a shared one never does.
    fn race_arrival(&mut self) -> bool {
        let candidates: Vec<u64> = self
            .held()
            .into_iter()
            .filter(|h| {
                let lock = &self.locks[self.reqs[h].lock];
                lock.holders.len() == 1
                    && lock.queue.front().is_some_and(|w| {
                        let w = &self.reqs[w];
                        w.mode == Exclusive && !w.transient && !w.volatile && w.alt.is_none()
                    })
            })
            .collect();
        let Some(holder) = self.pick(&candidates) else {
            return false;
        };
        let (owner, lock) = (self.reqs[&holder].actor, self.reqs[&holder].lock);
        let waiter = self.locks[lock].queue[0];
        let idle: Vec<usize> = self
            .idle()
            .into_iter()
            .filter(|a| *a != owner && *a != self.reqs[&waiter].actor)
            .collect();
        let Some(actor) = self.pick(&idle) else {
            return false;
        };
        let tries = self.rng.chance(40);
        if !tries && !self.actors[actor].kind.is_async() && self.holds_any(actor) {
            return false;
        }
        let mode = self.mode();
        let id = self.new_id();
        self.reqs.insert(
            id,
            MReq {
                phase: Phase::Arriving,
                ..self.blank(actor, lock, mode)
            },
        );
        self.actors[actor].pending = Some(id);
        self.note_step(format!(
            "race: actor {owner} releases {holder} to waiter {waiter} while actor {actor} {} {mode} lock {lock} as {id}",
            if tries { "tries" } else { "asks for" }
        ));
        self.release(holder);
        self.arrival = Some((waiter, id, tries));
        self.send(owner, Cmd::Release { req: holder });
        self.send(
            actor,
            Cmd::Acquire {
                req: id,
                lock,
                mode,
                form: if tries { Form::Try } else { Form::Guard },
                options: None,
            },
        );
        true
    }

    /// Stops `actor` (a `Local` one, whose thread is its own) from polling anything until
    /// thawed, once it has polled what it was sent before.
    fn freeze(&mut self, actor: usize) -> Result<(), String> {
        self.send(actor, Cmd::Freeze);
        let deadline = Instant::now() + PATIENCE;
        while self.actors[actor].acks > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(ev) => self.apply(ev)?,
                Err(_) => return Err(format!("actor {actor} did not freeze")),
            }
        }
        Ok(())
    }

    /// Waits until `happened` holds, applying events meanwhile; a hang after [`PATIENCE`].
    fn wait_observed(
        &mut self,
        what: &str,
        happened: impl Fn(&Walk) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            while let Ok(ev) = self.events.try_recv() {
                self.apply(ev)?;
            }
            if happened(self) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "hang: {what} did not happen within {PATIENCE:?}; model: {}; observed: {}",
                    self.describe_model(),
                    self.describe_world()
                ));
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    fn frozen_actors(&self) -> Vec<usize> {
        self.idle()
            .into_iter()
            .filter(|a| self.actors[*a].kind == Kind::Local)
            .collect()
    }

    /// A short-timeout request queues, and its waiter stops: the deadline alone must withdraw
    /// it and let in whom it held up.
    fn frozen_timeout(&mut self) -> Result<bool, String> {
        let frozen = self.frozen_actors();
        let Some(actor) = self.pick(&frozen) else {
            return Ok(false);
        };
        let lock = self.rng.below(self.locks.len() as u64) as usize;
        let mode = self.mode();
        if self.wait_rule(lock, mode) {
            return Ok(false);
        }
        let timeout = Duration::from_micros(200 + self.rng.below(2000));
        let id = self.acquire_timed(actor, lock, mode, timeout, |id| {
            format!(
                "frozen: actor {actor} {mode} lock {lock} as {id} with timeout {timeout:?}, then stops"
            )
        });
        self.freeze(actor)?;
        if self.reqs[&id].phase != Phase::Queued {
            // Its time ran out (and it ran) before it stopped: nothing left to see.
            self.world.mail[actor].send(Cmd::Thaw);
            return Ok(true);
        }
        let party = self.actors[actor].party.unwrap();
        self.wait_observed(
            &format!("the deadline of request {id} withdrawing it while its waiter is stopped"),
            |walk| {
                !walk.world.locks[lock]
                    .state()
                    .pending
                    .iter()
                    .any(|info| party.is(info))
            },
        )?;
        self.locks[lock].queue.retain(|q| *q != id);
        self.reqs.get_mut(&id).unwrap().phase = Phase::Failing(Fail::TimedOut);
        self.advance(lock);
        self.retry_deferred()?;
        self.world.mail[actor].send(Cmd::Thaw);
        Ok(true)
    }

    /// A waiter with a signal stops; the signal aborts: the request must be out of the queue
    /// when `abort` returns, and whom it held up let in.
    fn frozen_abort(&mut self) -> Result<bool, String> {
        let candidates: Vec<usize> = (0..self.actors.len())
            .filter(|a| {
                self.actors[*a].kind == Kind::Local
                    && self.actors[*a].pending.is_some_and(|id| {
                        self.reqs.get(&id).is_some_and(|r| {
                            r.phase == Phase::Queued
                                && r.signal.is_some_and(|s| !self.signals[s].aborted)
                        })
                    })
            })
            .collect();
        let Some(actor) = self.pick(&candidates) else {
            return Ok(false);
        };
        let id = self.actors[actor].pending.unwrap();
        let (lock, slot) = (self.reqs[&id].lock, self.reqs[&id].signal.unwrap());
        self.note_step(format!(
            "frozen: actor {actor} stops while signal {slot} of its request {id} aborts"
        ));
        self.freeze(actor)?;
        self.abort(slot);
        // Its waiter cannot have run: only the abort itself can have taken it out.
        let party = self.actors[actor].party.unwrap();
        let state = self.world.locks[lock].state();
        if state.pending.iter().any(|info| party.is(info)) {
            return Err(format!(
                "abort() returned with request {id} of a stopped waiter still queued: {state}"
            ));
        }
        self.world.mail[actor].send(Cmd::Thaw);
        Ok(true)
    }

    /// A short condition wait whose waiter stops: its deadline alone must take it out of the
    /// queue, so that a `notify_one` then goes to the next waiter.
    fn frozen_wait(&mut self) -> Result<bool, String> {
        let frozen = self.frozen_actors();
        let Some(actor) = self.pick(&frozen) else {
            return Ok(false);
        };
        let timeout = Duration::from_micros(200 + self.rng.below(2000));
        let id = self.wait(actor, Some(timeout), "frozen: ");
        self.freeze(actor)?;
        if self.waits[&id].phase != WPhase::Waiting {
            // Its time ran out (and it ran) before it stopped: nothing left to see.
            self.world.mail[actor].send(Cmd::Thaw);
            return Ok(true);
        }
        self.wait_observed(
            &format!("the deadline of wait {id} withdrawing it while its waiter is stopped"),
            |walk| walk.world.condvar.waiters() < walk.cv.len(),
        )?;
        self.cv.retain(|w| *w != id);
        self.waits.get_mut(&id).unwrap().phase = WPhase::TimesOut;
        if self.rng.chance(50) {
            note("  controller: notify_one".into());
            self.world.condvar.notify_one();
            self.notify_one();
        }
        self.retry_deferred()?;
        self.world.mail[actor].send(Cmd::Thaw);
        Ok(true)
    }

    /// A short condition wait while a notification is sent.
    fn race_wait(&mut self) -> bool {
        let idle = self.idle();
        let Some(actor) = self.pick(&idle) else {
            return false;
        };
        let timeout = short(&mut self.rng);
        self.wait(actor, Some(timeout), "race: ");
        let all = self.rng.chance(30);
        self.notify(all, Some(actor));
        true
    }

    /// Lets every waiter go and drops every guard, step by step (each checked as any other).
    fn drain(&mut self) -> Result<(), String> {
        for _ in 0..1000 {
            self.step += 1;
            let cancellable = self.cancellable();
            if let Some(&actor) = cancellable.first() {
                self.note_step(format!("drain: actor {actor} drops its pending operation"));
                self.send(actor, Cmd::Cancel);
            } else if let Some(slot) = self.reqs.values().find_map(|r| {
                r.signal
                    .filter(|s| r.phase == Phase::Queued && !self.signals[*s].aborted)
            }) {
                self.note_step(format!("drain: abort signal {slot}"));
                self.abort(slot);
            } else if !self.cv.is_empty() {
                self.note_step("drain: notify_all".into());
                self.world.condvar.notify_all();
                self.notify_all();
            } else if let Some(&holder) = self.held().first() {
                let actor = self.reqs[&holder].actor;
                self.note_step(format!("drain: actor {actor} releases {holder}"));
                self.release(holder);
                self.send(actor, Cmd::Release { req: holder });
            } else if self.actors.iter().any(|a| a.pending.is_some()) {
                return Err(format!("the drain is stuck: {}", self.describe_model()));
            } else {
                return Ok(());
            }
            self.settle()?;
        }
        Err("the drain did not end".into())
    }

    fn run(&mut self, steps: usize) -> Result<(), String> {
        let deadline = Instant::now() + PATIENCE;
        while self.actors.iter().any(|a| a.party.is_none()) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(ev) => self.apply(ev)?,
                Err(_) => return Err("an actor never started".into()),
            }
        }
        for step in 1..=steps {
            self.step = step;
            self.step()?;
        }
        self.drain()?;
        // Every lock free, every queue empty, every value the model's.
        for (at, lock) in self.world.locks.iter().enumerate() {
            let state = lock.state();
            if !state.held.is_empty() || !state.pending.is_empty() {
                return Err(format!("after the walk: {state}"));
            }
            if let WalkLock::Valued(valued) = lock {
                let value = *valued
                    .try_lock_shared()
                    .ok_or_else(|| format!("lock {at} is free yet refuses a try"))?;
                let json = serde_json::to_string(&**valued).map_err(|e| e.to_string())?;
                if value != self.locks[at].value || json != value.to_string() {
                    return Err(format!(
                        "lock {at} ends at {value} (serialized {json}), the model at {}",
                        self.locks[at].value
                    ));
                }
            }
        }
        if self.world.condvar.waiters() != 0 {
            return Err("waiters left on the condition variable".into());
        }
        for actor in 0..self.actors.len() {
            self.world.mail[actor].send(Cmd::Quit);
        }
        let deadline = Instant::now() + PATIENCE;
        while self.actors.iter().any(|a| !a.quit) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(ev) => self.apply(ev)?,
                Err(_) => return Err("an actor did not quit".into()),
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// One walk
// ---------------------------------------------------------------------------------------------

fn walk(seed: u64, steps: Option<usize>) {
    TRACE.lock().unwrap().clear();
    WATCHDOG.begin(seed);
    let number = NEXT_WALK.fetch_add(1, Ordering::Relaxed);
    let mut rng = Rng::for_seed(seed);
    let lock_count = 2 + rng.below(2) as usize;
    let mut locks = Vec::new();
    let mut model = Vec::new();
    for at in 0..lock_count {
        if rng.chance(35) {
            let name = format!("locks-walk-{number}-{at}");
            locks.push(WalkLock::Named(AsyncLock::request(&name), name));
            model.push(MLock::default());
        } else {
            locks.push(WalkLock::Valued(Shared::new(AsyncLock::new(0))));
            model.push(MLock {
                valued: true,
                ..MLock::default()
            });
        }
    }
    let condvar_name = rng.chance(50).then(|| format!("locks-walk-{number}-cv"));
    let condvar = match &condvar_name {
        Some(name) => ConditionVariable::request(name),
        None => Shared::new(ConditionVariable::new()),
    };
    let mut kinds = Vec::new();
    for _ in 0..2 + rng.below(3) {
        let kind = match rng.below(100) {
            0..=29 => Kind::Thread,
            30..=64 => Kind::Task,
            65..=84 => Kind::Local,
            _ if !kinds.contains(&Kind::BlockingTask) => Kind::BlockingTask,
            _ => Kind::Thread,
        };
        kinds.push(kind);
    }
    let (events, receiver) = channel();
    let world = Arc::new(World {
        inside: locks.iter().map(|_| Inside::default()).collect(),
        locks,
        condvar,
        condvar_name,
        missing: format!("locks-walk-{number}-nobody"),
        mail: kinds.iter().map(|_| Mailbox::default()).collect(),
        events: Mutex::new(events),
    });
    *WORLD.lock().unwrap() = Some(world.clone());
    let needs_pool = kinds
        .iter()
        .any(|k| matches!(k, Kind::Task | Kind::BlockingTask));
    // A sync task holds one pool thread for the whole walk: the others run the `async` ones.
    let pool = needs_pool.then(|| {
        TaskPool::builder()
            .max_threads(2 + rng.below(2) as usize)
            .extra_threads(2)
            .build()
            .unwrap()
    });
    let mut threads = Vec::new();
    let mut handles: Vec<TaskHandle<()>> = Vec::new();
    for (me, kind) in kinds.iter().enumerate() {
        let world = world.clone();
        match kind {
            Kind::Thread => threads.push(std::thread::spawn(move || run_blocking(&world, me))),
            Kind::Local => threads.push(std::thread::spawn(move || {
                support::block_on(run_async(&world, me))
            })),
            Kind::Task => handles.push(pool.as_ref().unwrap().run(async_task_actor, (me as u64,))),
            Kind::BlockingTask => handles.push(
                pool.as_ref()
                    .unwrap()
                    .run(blocking_task_actor, (me as u64,)),
            ),
        }
    }
    let steps = steps.unwrap_or(30 + rng.below(31) as usize);
    note(format!(
        "seed {seed}: {lock_count} locks ({}), actors {kinds:?}, condvar named: {}, {steps} steps",
        world
            .locks
            .iter()
            .map(|l| match l {
                WalkLock::Valued(_) => "valued",
                WalkLock::Named(..) => "named",
            })
            .collect::<Vec<_>>()
            .join(", "),
        world.condvar_name.is_some()
    ));
    let mut walk = Walk {
        seed,
        rng,
        world,
        events: receiver,
        actors: kinds
            .iter()
            .map(|kind| MActor {
                kind: *kind,
                party: None,
                pending: None,
                acks: 0,
                cancels: 0,
                quit: false,
            })
            .collect(),
        locks: model,
        reqs: Default::default(),
        waits: Default::default(),
        cv: VecDeque::new(),
        signals: (0..2)
            .map(|slot| MSignal {
                signal: AbortSignal::new(),
                aborted: false,
                reason: format!("walk {seed} signal {slot}"),
            })
            .collect(),
        next_id: 0,
        aborts: 0,
        step: 0,
        looks: 0,
        deferred: Vec::new(),
        arrival: None,
    };
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| walk.run(steps)));
    let failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(message)) => Some(format!(
            "step {}: {message}\nmodel: {}\nobserved: {}",
            walk.step,
            walk.describe_model(),
            walk.describe_world()
        )),
        Err(payload) => Some(format!(
            "step {}: the controller panicked: {}",
            walk.step,
            panic_message(&*payload)
        )),
    };
    if let Some(failure) = failure {
        // The actors may be stuck: leave them (and their pool) behind rather than wait.
        std::mem::forget(pool);
        panic!(
            "locks_walk: seed {seed} failed at {failure}\ntrace (LOCKS_WALK_SEED={seed} LOCKS_WALK_VERBOSE=1 replays it):\n{}",
            trace_text()
        );
    }
    for thread in threads {
        thread.join().unwrap();
    }
    for mut handle in handles {
        let outcome = handle.wait_timeout(PATIENCE);
        assert!(
            matches!(outcome, Some(Ok(()))),
            "seed {seed}: an actor task ended with {outcome:?}"
        );
    }
    *WORLD.lock().unwrap() = None;
    drop(walk);
    drop(pool);
    WATCHDOG.end();
}

fn seeds() -> Vec<u64> {
    if let Ok(seeds) = std::env::var("LOCKS_WALK_SEED") {
        return seeds
            .split(',')
            .map(|s| s.trim().parse().expect("LOCKS_WALK_SEED: seeds"))
            .collect();
    }
    let from: u64 = std::env::var("LOCKS_WALK_FROM")
        .ok()
        .map(|s| s.parse().expect("LOCKS_WALK_FROM: a seed"))
        .unwrap_or(0);
    let count: u64 = std::env::var("LOCKS_WALK_SEEDS")
        .ok()
        .map(|s| s.parse().expect("LOCKS_WALK_SEEDS: a count"))
        .unwrap_or(300);
    (from..from + count).collect()
}

#[test]
fn locks_walk() {
    WATCHDOG.arm("locks_walk", PATIENCE * 3, hang_report);
    let steps = std::env::var("LOCKS_WALK_STEPS")
        .ok()
        .map(|s| s.parse().expect("LOCKS_WALK_STEPS: a count"));
    let started = Instant::now();
    let seeds = seeds();
    for &seed in &seeds {
        walk(seed, steps);
    }
    eprintln!(
        "locks_walk: {} seeds in {:?}",
        seeds.len(),
        started.elapsed()
    );
}
