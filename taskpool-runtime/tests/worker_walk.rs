//! A seeded random walk over `Worker`: up to six workers at once, driven by the host through
//! random posts (moved, serialized, and payloads that do not decode), `terminate()`, drops,
//! callbacks (`on_message`, `on_error`, `on_all_errors`, `clear_callbacks`, and an `on_message`
//! that terminates its own worker through a `WorkerRef`), `recv_timeout`, `wait_for_exit_timeout`,
//! global call objects registered and unregistered, and other threads posting through
//! `WorkerRef`s. The handler answers, answers at the front of the host's queue in each class,
//! naps at an `.await`, blocks its thread, fails or panics, closes its worker, spawns a local
//! task, runs a pool task, calls the host's global call object, posts bursts of serialized
//! replies, and creates, uses and ends a worker of its own.
//!
//! Checked at the end of each walk, once every worker was terminated:
//! - every worker exits within [`PATIENCE`] (and a hang anywhere aborts with the seed);
//! - the handler took the host's messages in the order each thread posted them, none twice,
//!   and none the host was told were refused;
//! - every reply reaches the host once, and only for a message the handler took;
//! - the replies posted at the back of the host's queue are taken in the order they were
//!   posted, by `recv` and by the `on_message` callbacks alike, whatever went to the front;
//! - a worker whose handler met nothing that may fail it (a `Fail`, a `Panic`, a call to a call
//!   object that may be gone, a nested worker the process may have no room for) exits with 0;
//! - every message that did not decode was counted (`message_errors`) before the handler heard
//!   of it, and it heard of no more than were posted;
//! - no thread of the walk is left.
//!
//! Knobs as for the other walks: `STRESS_SEED=<n>[,<n>…]` (default 1..=8), `STRESS_STEPS`
//! (default 300), and `STRESS_STATS=1` to print how much each walk did.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use support::walk::{self, Rng, Watchdog};
use support::{PATIENCE, threads_named};
use taskpool::{
    CallObject, Encoding, Error, HandlerResult, MessagePriority, Payload, TaskPool, Worker,
    WorkerHandler, WorkerPort, concurrent,
};

/// Ids posted by threads other than the host's walk are `poster * SIDE + n`.
const SIDE: u64 = 1_000_000;

/// What the host asks of a handler; every command carries a fresh id.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Cmd {
    Echo(u64),
    /// Reply at the front of the host's queue, in class `priority % 4`.
    Front(u64, u8),
    /// Reply after a nap of some milliseconds at an `.await`.
    Nap(u64, u64),
    /// Reply after blocking the worker's thread for some milliseconds.
    Block(u64, u64),
    Panic(u64),
    Fail(u64),
    /// Close the worker, then reply (still delivered: the handler has not returned).
    Close(u64),
    /// Reply from a task spawned on the worker's thread.
    Spawn(u64),
    /// Reply with what a pool task computed.
    Pool(u64),
    /// Reply with what the host's global call object answered.
    Call(u64),
    /// Post several serialized replies.
    Burst(u64, u8),
    /// Create a worker of the handler's own, use it, end it, then reply.
    Nested(u64),
}

impl Cmd {
    fn id(&self) -> u64 {
        match *self {
            Cmd::Echo(id)
            | Cmd::Front(id, _)
            | Cmd::Nap(id, _)
            | Cmd::Block(id, _)
            | Cmd::Panic(id)
            | Cmd::Fail(id)
            | Cmd::Close(id)
            | Cmd::Spawn(id)
            | Cmd::Pool(id)
            | Cmd::Call(id)
            | Cmd::Burst(id, _)
            | Cmd::Nested(id) => id,
        }
    }

    /// Whether taking it may fail the worker (a call object may have been unregistered, the
    /// process may have 64 workers already).
    fn may_fail(&self) -> bool {
        matches!(
            self,
            Cmd::Panic(_) | Cmd::Fail(_) | Cmd::Call(_) | Cmd::Nested(_)
        )
    }
}

/// What the handlers saw, by worker: the ids they took, in order, and the messages that did
/// not decode.
#[derive(Default)]
struct Seen {
    taken: HashMap<usize, Vec<u64>>,
    undecoded: HashMap<usize, usize>,
    /// The replies posted at the back of the host's queue, in the order they were posted.
    plain: HashMap<usize, Vec<(u64, u64)>>,
}

static SEEN: LazyLock<Mutex<Seen>> = LazyLock::new(Mutex::default);
static WATCHDOG: Watchdog = Watchdog::new();

#[concurrent]
fn doubled(x: u64) -> u64 {
    x * 2
}

/// The handler of every worker of the walk; workers it creates itself get numbers from 1000 on.
struct Handler {
    worker: usize,
}

impl WorkerHandler for Handler {
    type In = Cmd;
    type Out = (u64, u64);

    async fn on_message(&mut self, cmd: Cmd, port: &WorkerPort<(u64, u64)>) -> HandlerResult {
        // A statement of its own: the guard must not live across the `.await`s below.
        SEEN.lock()
            .unwrap()
            .taken
            .entry(self.worker)
            .or_default()
            .push(cmd.id());
        match cmd {
            Cmd::Echo(id) => self.reply(port, (id, 0))?,
            Cmd::Front(id, class) => port.post_message_at_front((id, 1), priority(class))?,
            Cmd::Nap(id, millis) => {
                taskpool::sleep(Duration::from_millis(millis)).await;
                self.reply(port, (id, 2))?
            }
            Cmd::Block(id, millis) => {
                std::thread::sleep(Duration::from_millis(millis));
                self.reply(port, (id, 3))?
            }
            Cmd::Panic(id) => panic!("stress panic {id}"),
            Cmd::Fail(id) => return Err(format!("failed on purpose ({id})").into()),
            Cmd::Close(id) => {
                port.close()?;
                self.reply(port, (id, 4))?
            }
            Cmd::Spawn(id) => {
                let (port, worker) = (port.clone(), self.worker);
                port.clone().spawn_local(async move {
                    taskpool::sleep(Duration::from_millis(id % 3)).await;
                    post_plain(worker, &port, (id, 5), false)?;
                    Ok(())
                });
            }
            Cmd::Pool(id) => {
                let value = TaskPool::global().run(doubled, (id,)).await?;
                self.reply(port, (id, value))?
            }
            Cmd::Call(id) => {
                let answer: u64 =
                    port.call_global_object_method("calc", "inc", Duration::from_secs(2), id)?;
                self.reply(port, (id, answer))?
            }
            Cmd::Burst(id, count) => {
                for n in 0..u64::from(count) {
                    post_plain(self.worker, port, (id, 100 + n), true)?;
                }
            }
            Cmd::Nested(id) => {
                let worker = 1000 + (id % 7) as usize;
                let inner = Worker::builder()
                    .name(format!("wwalk-nest{}", id % 100))
                    .spawn(move || Handler { worker })?;
                inner.post_message(Cmd::Echo(id))?;
                let answered = inner.recv_timeout(PATIENCE).is_ok();
                if id % 2 == 0 {
                    let _ = inner.terminate();
                }
                drop(inner);
                self.reply(port, (id, if answered { 6 } else { 7 }))?
            }
        }
        Ok(())
    }

    fn on_message_error(&mut self, _: Error, _: &WorkerPort<(u64, u64)>) -> HandlerResult {
        let mut seen = SEEN.lock().unwrap();
        *seen.undecoded.entry(self.worker).or_default() += 1;
        Ok(())
    }
}

impl Handler {
    fn reply(&self, port: &WorkerPort<(u64, u64)>, reply: (u64, u64)) -> taskpool::Result<()> {
        post_plain(self.worker, port, reply, false)
    }
}

/// Posts `reply` at the back of the host's queue and records it: every post of a worker comes
/// from its own thread, so the record is in the order of the posts.
fn post_plain(
    worker: usize,
    port: &WorkerPort<(u64, u64)>,
    reply: (u64, u64),
    serialized: bool,
) -> taskpool::Result<()> {
    if serialized {
        port.post_message_serialized(&reply)?;
    } else {
        port.post_message(reply)?;
    }
    let mut seen = SEEN.lock().unwrap();
    seen.plain.entry(worker).or_default().push(reply);
    Ok(())
}

fn priority(class: u8) -> MessagePriority {
    match class % 4 {
        0 => MessagePriority::Immediate,
        1 => MessagePriority::High,
        2 => MessagePriority::Low,
        _ => MessagePriority::Idle,
    }
}

/// A global call object that answers `x + 1`.
fn calc() -> CallObject<u64> {
    CallObject::new(0_u64).method("inc", |calls: &mut u64, x: u64| {
        *calls += 1;
        x + 1
    })
}

/// One worker of the walk, as the host sees it.
struct Slot {
    worker: Option<Worker<Cmd, (u64, u64)>>,
    /// Ids the host posted (accepted), in order.
    posted: Vec<u64>,
    /// Ids other threads posted (accepted).
    side: Arc<Mutex<Vec<u64>>>,
    /// Threads posting through a `WorkerRef`.
    posters: Vec<JoinHandle<()>>,
    /// Ids of accepted commands that may fail the worker.
    may_fail: HashSet<u64>,
    undecodable_posted: usize,
    /// Replies heard by the `on_message` callbacks, in the order they came.
    replies: Arc<Mutex<Vec<(u64, u64)>>>,
    /// Replies taken by `recv_timeout` and `recv`, in the order they came.
    received: Vec<(u64, u64)>,
}

struct Walk {
    seed: u64,
    rng: Rng,
    slots: Vec<Slot>,
    next_id: u64,
    log: Vec<String>,
}

impl Walk {
    fn new(seed: u64) -> Walk {
        Walk {
            seed,
            rng: Rng::for_seed(seed),
            slots: Vec::new(),
            next_id: 1,
            log: Vec::new(),
        }
    }

    fn prefix(&self) -> String {
        format!("wwalk{}-", self.seed % 1000)
    }

    fn live(&self) -> usize {
        let running = |slot: &&Slot| slot.worker.as_ref().is_some_and(Worker::is_running);
        self.slots.iter().filter(running).count()
    }

    fn step(&mut self, step: usize) {
        let action = self.rng.below(22);
        let live = self.live();
        if live == 0 || (action == 0 && live < 6) {
            self.spawn(step);
            return;
        }
        // Mostly a running worker; now and then one that ended (its calls must refuse).
        let candidates: Vec<usize> = (0..self.slots.len())
            .filter(|&index| match &self.slots[index].worker {
                Some(worker) => worker.is_running() || self.rng.chance(10),
                None => false,
            })
            .collect();
        if candidates.is_empty() {
            return;
        }
        let index = candidates[self.rng.below(candidates.len() as u64) as usize];
        let id = self.next_id;
        self.next_id += 1;
        let cmd = match action {
            1..=4 => Cmd::Echo(id),
            5 => Cmd::Front(id, self.rng.below(4) as u8),
            6 => Cmd::Nap(id, self.rng.below(4)),
            7 => match self.rng.below(8) {
                0 => Cmd::Panic(id),
                1 => Cmd::Fail(id),
                _ => Cmd::Block(id, self.rng.below(3)),
            },
            8 if self.rng.chance(30) => Cmd::Close(id),
            8 => Cmd::Echo(id),
            9 => Cmd::Spawn(id),
            10 => Cmd::Pool(id),
            11 => Cmd::Call(id),
            12 if self.rng.chance(25) => Cmd::Nested(id),
            12 => Cmd::Burst(id, self.rng.below(5) as u8),
            _ => return self.host_action(step, index, action, id),
        };
        let text = format!("{cmd:?}");
        let slot = &mut self.slots[index];
        let worker = slot.worker.as_ref().unwrap();
        let fails = cmd.may_fail();
        let result = if self.rng.chance(20) {
            worker.post_message_serialized(&cmd)
        } else {
            worker.post_message(cmd)
        };
        match result {
            Ok(()) => {
                slot.posted.push(id);
                if fails {
                    slot.may_fail.insert(id);
                }
                self.log.push(format!("{step}: post {index} {text}"));
            }
            Err(error) => {
                assert_eq!(error.code(), Some(10200004), "{error}");
                self.log
                    .push(format!("{step}: post {index} {text} refused"));
            }
        }
    }

    fn spawn(&mut self, step: usize) {
        let index = self.slots.len();
        let name = format!("{}{index}", self.prefix());
        let worker = match Worker::builder()
            .name(name)
            .spawn(move || Handler { worker: index })
        {
            Ok(worker) => worker,
            Err(error) => {
                // Workers ended but not dropped may still fill the process's 64.
                assert_eq!(error.code(), Some(10200003), "{error}");
                self.log.push(format!("{step}: new worker refused"));
                return;
            }
        };
        worker
            .register_global_call_object("calc", calc())
            .expect("registered on a running worker");
        self.slots.push(Slot {
            worker: Some(worker),
            posted: Vec::new(),
            side: Arc::default(),
            posters: Vec::new(),
            may_fail: HashSet::new(),
            undecodable_posted: 0,
            replies: Arc::default(),
            received: Vec::new(),
        });
        self.log.push(format!("{step}: new worker {index}"));
    }

    fn host_action(&mut self, step: usize, index: usize, action: u64, id: u64) {
        let pick = self.rng.below(6);
        let millis = self.rng.below(3);
        let slot = &mut self.slots[index];
        let worker = slot.worker.as_ref().unwrap();
        let what = match (action, pick) {
            (13, 0..=2) => format!("terminate: {:?}", worker.terminate().map_err(|e| e.code())),
            (14, 0) => {
                slot.worker = None;
                "drop".to_owned()
            }
            (14, 1) => {
                let replies = Arc::clone(&slot.replies);
                worker.on_message(move |reply| replies.lock().unwrap().push(reply));
                "on_message".to_owned()
            }
            (14, 2) => {
                worker.on_error(|_| {});
                "on_error".to_owned()
            }
            (14, 3) => {
                worker.on_all_errors(|_| {});
                "on_all_errors".to_owned()
            }
            (14, _) => {
                worker.clear_callbacks();
                "clear_callbacks".to_owned()
            }
            (15, _) => {
                if let Ok(reply) = worker.recv_timeout(Duration::from_millis(millis)) {
                    slot.received.push(reply);
                }
                "recv_timeout".to_owned()
            }
            (16, 0..=2) => {
                let result = worker.unregister_global_call_object(Some("calc"));
                format!("unregister: {:?}", result.map_err(|e| e.code()))
            }
            (16, _) => {
                let result = worker.register_global_call_object("calc", calc());
                format!("register: {:?}", result.map_err(|e| e.code()))
            }
            (17, _) => {
                let payload = Payload::encode(&format!("not a command {id}"), Encoding::Json);
                let result = worker.post_payload(payload.unwrap());
                slot.undecodable_posted += usize::from(result.is_ok());
                format!("undecodable: {:?}", result.map_err(|e| e.code()))
            }
            (18, 0..=2) => {
                let target = worker.worker_ref();
                let side = Arc::clone(&slot.side);
                let count = 1 + millis * 5;
                slot.posters.push(std::thread::spawn(move || {
                    for n in 0..count {
                        let id = id * SIDE + n;
                        if target.post_message(Cmd::Echo(id)).is_ok() {
                            side.lock().unwrap().push(id);
                        }
                    }
                }));
                format!("poster of {count}")
            }
            (18, _) => {
                let target = worker.worker_ref();
                let replies = Arc::clone(&slot.replies);
                let after = pick as usize;
                worker.on_message(move |reply| {
                    let mut replies = replies.lock().unwrap();
                    replies.push(reply);
                    if replies.len() > after {
                        let _ = target.terminate();
                    }
                });
                format!("on_message that terminates after {after}")
            }
            _ => {
                let exit = worker.wait_for_exit_timeout(Duration::from_millis(millis));
                format!("wait_for_exit_timeout: {exit:?}")
            }
        };
        self.log.push(format!("{step}: {index} {what}"));
    }

    /// How much the walk did: posts accepted and refused, workers made.
    fn stats(&self) -> String {
        let posts = self.log.iter().filter(|line| line.contains(": post "));
        let refused = posts
            .clone()
            .filter(|line| line.ends_with("refused"))
            .count();
        let accepted = posts.count() - refused;
        let workers = self.slots.len();
        format!("{accepted} posts accepted, {refused} refused, {workers} workers")
    }

    /// Terminates every worker, collects what is left, and checks the walk's invariants.
    fn finish(mut self) {
        for slot in &mut self.slots {
            for poster in slot.posters.drain(..) {
                poster.join().expect("a poster thread");
            }
        }
        let mut exits = HashMap::new();
        for (index, slot) in self.slots.iter_mut().enumerate() {
            let Some(worker) = slot.worker.take() else {
                continue;
            };
            let _ = worker.terminate();
            let Some(code) = worker.wait_for_exit_timeout(PATIENCE) else {
                fail(&self.log, &format!("worker {index} did not exit"));
            };
            exits.insert(index, (code, worker.message_errors()));
            while let Some(reply) = worker.recv() {
                slot.received.push(reply);
            }
        }
        let seen = std::mem::take(&mut *SEEN.lock().unwrap());
        for (index, slot) in self.slots.iter().enumerate() {
            let taken = seen.taken.get(&index).cloned().unwrap_or_default();
            check_order(&self.log, index, &taken, slot);
            check_replies(&self.log, index, &taken, slot);
            let plain = seen.plain.get(&index).map_or(&[][..], Vec::as_slice);
            check_plain_order(&self.log, index, plain, &slot.received, "recv");
            check_plain_order(
                &self.log,
                index,
                plain,
                &slot.replies.lock().unwrap(),
                "on_message",
            );
            if let Some(&(code, errors)) = exits.get(&index) {
                let failed = taken.iter().any(|id| slot.may_fail.contains(id));
                if code != 0 && !failed {
                    fail(&self.log, &format!("worker {index} exited with {code}"));
                }
                let heard = seen.undecoded.get(&index).copied().unwrap_or(0);
                if heard > errors || heard > slot.undecodable_posted {
                    let posted = slot.undecodable_posted;
                    let what = format!(
                        "worker {index}: {heard} undecoded heard, {errors} counted, {posted} posted"
                    );
                    fail(&self.log, &what);
                }
            }
        }
        let prefix = self.prefix();
        let deadline = Instant::now() + PATIENCE;
        while threads_named(&prefix) > 0 || threads_named("wwalk-nest") > 0 {
            if Instant::now() > deadline {
                fail(&self.log, "threads of the walk are left");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// The handler took the host's messages in the order each thread posted them, none twice.
fn check_order(log: &[String], index: usize, taken: &[u64], slot: &Slot) {
    let mut host = slot.posted.iter();
    let side = slot.side.lock().unwrap();
    let mut last_by_poster = HashMap::new();
    for &id in taken {
        if id < SIDE {
            if !host.any(|&posted| posted == id) {
                fail(
                    log,
                    &format!("worker {index} took {id} out of order: {taken:?}"),
                );
            }
        } else if !side.contains(&id) {
            fail(
                log,
                &format!("worker {index} took {id}, refused to its poster"),
            );
        } else if last_by_poster
            .insert(id / SIDE, id)
            .is_some_and(|last| last >= id)
        {
            fail(
                log,
                &format!("worker {index} took {id} out of its poster's order"),
            );
        }
    }
}

/// Every reply reached the host once, and only for a message the handler took.
fn check_replies(log: &[String], index: usize, taken: &[u64], slot: &Slot) {
    let mut replies = slot.received.clone();
    replies.extend(slot.replies.lock().unwrap().iter().copied());
    let mut once = HashSet::new();
    for reply in replies {
        if !once.insert(reply) {
            fail(log, &format!("worker {index}: reply {reply:?} came twice"));
        }
        if !taken.contains(&reply.0) {
            fail(
                log,
                &format!("worker {index}: reply {reply:?} to a message never taken"),
            );
        }
    }
}

/// The replies a route (`recv`, or the `on_message` callbacks) took that were posted at the
/// back of the queue came in the order they were posted: a reply at the front goes before
/// them, never reorders them.
fn check_plain_order(
    log: &[String],
    index: usize,
    plain: &[(u64, u64)],
    route: &[(u64, u64)],
    name: &str,
) {
    let position: HashMap<(u64, u64), usize> = plain
        .iter()
        .enumerate()
        .map(|(at, &reply)| (reply, at))
        .collect();
    let mut last = None;
    for reply in route {
        let Some(&at) = position.get(reply) else {
            continue;
        };
        if last.is_some_and(|last| last > at) {
            fail(
                log,
                &format!("worker {index}: {name} took {reply:?} before a reply posted earlier"),
            );
        }
        last = Some(at);
    }
}

fn fail(log: &[String], what: &str) -> ! {
    let start = log.len().saturating_sub(60);
    panic!(
        "{what}\nlast steps of the walk:\n{}",
        log[start..].join("\n")
    );
}

#[test]
fn random_worker_walks_keep_the_invariants() {
    walk::install_quiet_panics();
    WATCHDOG.arm("worker_walk", PATIENCE * 3, String::new);
    let steps = walk::steps(300);
    for seed in walk::seeds(1..=8) {
        eprintln!("worker_walk seed {seed}");
        WATCHDOG.begin(seed);
        let mut walk = Walk::new(seed);
        for step in 0..steps {
            walk.step(step);
            WATCHDOG.moved_on();
        }
        if std::env::var("STRESS_STATS").is_ok() {
            eprintln!("  {}", walk.stats());
        }
        walk.finish();
        WATCHDOG.end();
    }
}
