//! `WorkerPort::post_message_at_front` (ArkTS `workerPort.postMessageAtFront(message,
//! priority)`, API 26; `worker-postMessageAtFront.md` and `js-apis-worker.md`): a message the
//! worker sends to the front of the messages of its class still waiting for the host, classes
//! IMMEDIATE > HIGH > LOW > IDLE, a plain `post_message` at the back of HIGH.
//!
//! Messages pile up for the host deterministically: either the host's `on_message` callback is
//! held busy by a gate while the worker posts, or the host reads with `recv` / the stream only
//! once the worker has posted everything (and exited). Nothing asserts on time.
//! Gate ids: 88_000–88_099 (bomb ids in the same range: another namespace).

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use support::{Bomb, PATIENCE, block_on, dropped, open_gate, pass_gate, wait_until};
use taskpool::{
    Encoding, HandlerResult, MessagePriority, Payload, Worker, WorkerHandler, WorkerPort,
};

use MessagePriority::{High, Idle, Immediate, Low};

/// How a scripted message is sent.
#[derive(Debug, Clone, Copy)]
enum Post {
    /// `post_message`: moved, at the back of HIGH.
    Plain,
    /// `post_message_serialized`: a copy, at the back of HIGH.
    Serialized,
    /// `post_message_at_front`: moved.
    Front(MessagePriority),
    /// `post_message_serialized_at_front`: a copy.
    SerializedFront(MessagePriority),
    /// `post_payload_at_front`: bytes serialized beforehand.
    PayloadFront(MessagePriority),
}

/// One step of a [`Script`].
#[derive(Debug, Clone)]
enum Step {
    Post(&'static str, Post),
    /// Opens a gate (tells the test how far the worker got).
    Open(u64),
    /// Waits at a gate in synchronous code (the host got the messages so far).
    Pass(u64),
    /// `port.close()`: the worker exits once this message is handled.
    Close,
    /// The handler returns this error (the host's `on_all_errors` hears it).
    Fail,
}

/// Each post's outcome, as its error code (`None`: accepted), in post order.
type Outcomes = Arc<Mutex<Vec<Option<u32>>>>;

/// A worker that runs one script per message it is sent (the `n`-th message runs `scripts[n]`),
/// and records every post's outcome.
struct Script {
    scripts: std::vec::IntoIter<Vec<Step>>,
    outcomes: Outcomes,
}

impl Script {
    /// A worker running `scripts`, and where its posts' outcomes go.
    fn spawn(scripts: Vec<Vec<Step>>) -> (Worker<(), String>, Outcomes) {
        let outcomes: Outcomes = Arc::default();
        let recorded = Arc::clone(&outcomes);
        let worker = Worker::new(move || Script {
            scripts: scripts.into_iter(),
            outcomes: recorded,
        })
        .unwrap();
        (worker, outcomes)
    }
}

/// Sends `text` the way `how` says.
fn post(port: &WorkerPort<String>, text: &str, how: Post) -> taskpool::Result<()> {
    let text = text.to_owned();
    match how {
        Post::Plain => port.post_message(text),
        Post::Serialized => port.post_message_serialized(&text),
        Post::Front(priority) => port.post_message_at_front(text, priority),
        Post::SerializedFront(priority) => port.post_message_serialized_at_front(&text, priority),
        Post::PayloadFront(priority) => {
            port.post_payload_at_front(Payload::encode(&text, Encoding::Json)?, priority)
        }
    }
}

impl WorkerHandler for Script {
    type In = ();
    type Out = String;

    async fn on_message(&mut self, (): (), port: &WorkerPort<String>) -> HandlerResult {
        let steps = self.scripts.next().expect("a script for every message");
        for step in steps {
            match step {
                Step::Post(text, how) => {
                    let outcome = post(port, text, how).err().and_then(|e| e.code());
                    self.outcomes.lock().unwrap().push(outcome);
                }
                Step::Open(gate) => open_gate(gate),
                Step::Pass(gate) => pass_gate(gate),
                Step::Close => port.close()?,
                Step::Fail => return Err("scripted failure".into()),
            }
        }
        Ok(())
    }
}

/// Every message the worker sent, in the order `recv` takes them, once it has exited (so all of
/// them were waiting before the first was taken).
fn all_after_exit(worker: &Worker<(), String>) -> Vec<String> {
    assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(0));
    std::iter::from_fn(|| worker.recv()).collect()
}

/// The host's events, as its callbacks saw them.
type Events = Arc<Mutex<Vec<String>>>;

/// Registers an `on_message` that records each message and, on the first one, opens `busy` and
/// stays busy until `release` opens: the worker's later messages wait for the host meanwhile.
fn busy_host(worker: &Worker<(), String>, busy: u64, release: u64) -> Events {
    let events: Events = Arc::default();
    let sink = Arc::clone(&events);
    let first = AtomicUsize::new(0);
    worker.on_message(move |message| {
        sink.lock().unwrap().push(message);
        if first.fetch_add(1, Ordering::SeqCst) == 0 {
            open_gate(busy);
            pass_gate(release);
        }
    });
    events
}

fn strings(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|&text| text.to_owned()).collect()
}

// ---------------------------------------------------------------------------------------------
// worker-postMessageAtFront.md, ported: the host handles each message slowly (the guide spins
// 100 ms; here its callback waits at a gate on the first one), the worker posts ten normal
// messages (ArkTS `postMessage` copies them: `post_message_serialized`) and then one at the
// front with `Priority.HIGH` — "the same priority as a normal message, inserted at the head of
// the queue so that the message is executed earlier".

const GUIDE_HOST_BUSY: u64 = 88_000;
const GUIDE_ALL_POSTED: u64 = 88_001;

#[test]
fn guide_an_at_front_high_message_is_handled_before_the_normal_ones_queued_at_a_busy_host() {
    let mut steps = vec![
        Step::Post("normal message. 0", Post::Serialized),
        // The host is busy with the first message from here on.
        Step::Pass(GUIDE_HOST_BUSY),
    ];
    let normal: [&str; 9] = [
        "normal message. 1",
        "normal message. 2",
        "normal message. 3",
        "normal message. 4",
        "normal message. 5",
        "normal message. 6",
        "normal message. 7",
        "normal message. 8",
        "normal message. 9",
    ];
    steps.extend(
        normal
            .iter()
            .map(|&text| Step::Post(text, Post::Serialized)),
    );
    steps.push(Step::Post("atFront high message", Post::Front(High)));
    steps.push(Step::Open(GUIDE_ALL_POSTED));
    let (worker_object, outcomes) = Script::spawn(vec![steps]);
    let received = busy_host(&worker_object, GUIDE_HOST_BUSY, GUIDE_ALL_POSTED);
    // 'Trigger message sending'.
    worker_object.post_message(()).unwrap();
    wait_until("every message was handled", || {
        received.lock().unwrap().len() == 11
    });
    let mut expected = strings(&["normal message. 0", "atFront high message"]);
    expected.extend(strings(&normal));
    assert_eq!(*received.lock().unwrap(), expected);
    assert!(outcomes.lock().unwrap().iter().all(Option::is_none));
    // 'Release worker'.
    worker_object.terminate().unwrap();
}

// ---------------------------------------------------------------------------------------------
// The order of the classes, and within a class.

/// A mix of every class, plain posts among them, and what the host takes first to last:
/// IMMEDIATE, HIGH at the front (latest first), the plain posts (send order), LOW, IDLE.
fn mixed() -> (Vec<Step>, Vec<String>) {
    let posts = [
        ("i1", Post::Front(Idle)),
        ("n1", Post::Plain),
        ("l1", Post::Front(Low)),
        ("x1", Post::Front(Immediate)),
        ("h1", Post::Front(High)),
        ("n2", Post::Serialized),
        ("i2", Post::Front(Idle)),
        ("x2", Post::Front(Immediate)),
        ("h2", Post::Front(High)),
        ("l2", Post::Front(Low)),
        ("n3", Post::Plain),
    ];
    let steps = posts
        .iter()
        .map(|&(text, how)| Step::Post(text, how))
        .collect();
    let expected = strings(&[
        "x2", "x1", "h2", "h1", "n1", "n2", "n3", "l2", "l1", "i2", "i1",
    ]);
    (steps, expected)
}

#[test]
fn recv_takes_immediate_then_high_then_the_plain_posts_then_low_then_idle() {
    let (mut steps, expected) = mixed();
    steps.push(Step::Close);
    let (worker, outcomes) = Script::spawn(vec![steps]);
    worker.post_message(()).unwrap();
    assert_eq!(all_after_exit(&worker), expected);
    assert_eq!(*outcomes.lock().unwrap(), vec![None; expected.len()]);
}

#[test]
fn the_stream_takes_the_messages_in_the_same_order() {
    let (mut steps, expected) = mixed();
    steps.push(Step::Close);
    let (worker, _) = Script::spawn(vec![steps]);
    worker.post_message(()).unwrap();
    assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(0));
    let received: Vec<String> = block_on(worker.messages().collect());
    assert_eq!(received, expected);
}

const ORDER_HOST_BUSY: u64 = 88_002;
const ORDER_ALL_POSTED: u64 = 88_003;

/// The host's `on_message` (ArkTS `onmessage`, the host's event loop) takes them in that order
/// too, after the one it was busy with, and `on_exit` comes after every message.
#[test]
fn a_busy_hosts_on_message_takes_the_waiting_messages_by_class_and_on_exit_comes_last() {
    let (mixed, expected_after_first) = mixed();
    let mut steps = vec![
        Step::Post("first", Post::Plain),
        Step::Pass(ORDER_HOST_BUSY),
    ];
    steps.extend(mixed);
    steps.push(Step::Close);
    steps.push(Step::Open(ORDER_ALL_POSTED));
    let (worker, _) = Script::spawn(vec![steps]);
    let events = busy_host(&worker, ORDER_HOST_BUSY, ORDER_ALL_POSTED);
    let sink = Arc::clone(&events);
    worker.on_exit(move |code| sink.lock().unwrap().push(format!("exit {code}")));
    worker.post_message(()).unwrap();
    wait_until("the exit was heard", || {
        events.lock().unwrap().last().is_some_and(|e| e == "exit 0")
    });
    let mut expected = strings(&["first"]);
    expected.extend(expected_after_first);
    expected.push("exit 0".to_owned());
    assert_eq!(*events.lock().unwrap(), expected);
}

#[test]
fn a_later_at_front_message_goes_before_an_earlier_one_of_its_class() {
    for priority in MessagePriority::ALL {
        let steps = vec![
            Step::Post("a", Post::Front(priority)),
            Step::Post("b", Post::Front(priority)),
            Step::Post("c", Post::Front(priority)),
            Step::Close,
        ];
        let (worker, _) = Script::spawn(vec![steps]);
        worker.post_message(()).unwrap();
        assert_eq!(
            all_after_exit(&worker),
            strings(&["c", "b", "a"]),
            "{priority:?}"
        );
    }
}

#[test]
fn plain_posts_keep_their_send_order_around_at_front_ones() {
    let steps = vec![
        Step::Post("n1", Post::Plain),
        Step::Post("low", Post::Front(Low)),
        Step::Post("n2", Post::Serialized),
        Step::Post("high", Post::Front(High)),
        Step::Post("n3", Post::Plain),
        Step::Close,
    ];
    let (worker, _) = Script::spawn(vec![steps]);
    worker.post_message(()).unwrap();
    assert_eq!(
        all_after_exit(&worker),
        strings(&["high", "n1", "n2", "n3", "low"])
    );
}

/// An at-front message never overtakes one the host already took: a message taken before the
/// at-front post stays first.
#[test]
fn an_at_front_message_does_not_overtake_a_message_already_taken() {
    const POSTED_FIRST: u64 = 88_004;
    const TAKEN: u64 = 88_005;
    let steps = vec![
        Step::Post("first", Post::Plain),
        Step::Open(POSTED_FIRST),
        Step::Pass(TAKEN),
        Step::Post("urgent", Post::Front(Immediate)),
        Step::Close,
    ];
    let (worker, _) = Script::spawn(vec![steps]);
    worker.post_message(()).unwrap();
    pass_gate(POSTED_FIRST);
    assert_eq!(worker.recv_timeout(PATIENCE).as_deref(), Ok("first"));
    open_gate(TAKEN);
    assert_eq!(all_after_exit(&worker), strings(&["urgent"]));
}

// ---------------------------------------------------------------------------------------------
// The serialized variants, and bad input.

#[test]
fn serialized_and_payload_at_front_posts_take_their_place_like_moved_ones() {
    let steps = vec![
        Step::Post("n1", Post::Serialized),
        Step::Post("idle copy", Post::SerializedFront(Idle)),
        Step::Post("high copy", Post::SerializedFront(High)),
        Step::Post("immediate bytes", Post::PayloadFront(Immediate)),
        Step::Post("low bytes", Post::PayloadFront(Low)),
        Step::Post("high moved", Post::Front(High)),
        Step::Post("n2", Post::Plain),
        Step::Close,
    ];
    let (worker, outcomes) = Script::spawn(vec![steps]);
    worker.post_message(()).unwrap();
    assert_eq!(
        all_after_exit(&worker),
        strings(&[
            "immediate bytes",
            "high moved",
            "high copy",
            "n1",
            "n2",
            "low bytes",
            "idle copy",
        ])
    );
    assert_eq!(*outcomes.lock().unwrap(), vec![None; 7]);
}

/// Posts copies and payloads at the front, some over a cap of 16 bytes, one that does not
/// decode as a `String`; records each outcome's code.
struct OverTheCap;

impl WorkerHandler for OverTheCap {
    type In = ();
    type Out = String;

    async fn on_message(&mut self, (): (), port: &WorkerPort<String>) -> HandlerResult {
        let big = "x".repeat(64);
        let codes = [
            port.post_message_serialized_at_front(&big, Immediate),
            port.post_payload_at_front(Payload::encode(&big, Encoding::Json)?, High),
            // Not a `String`: the host's `on_message_error` hears of it; no message arrives.
            port.post_payload_at_front(Payload::encode(&7u8, Encoding::Json)?, Immediate),
            port.post_message_serialized_at_front(&"small".to_owned(), Low),
            // Moved: no cap.
            port.post_message_at_front(big, Idle),
        ]
        .map(|outcome| outcome.err().and_then(|e| e.code()));
        port.post_message(format!("{codes:?}"))?;
        port.close()?;
        Ok(())
    }
}

#[test]
fn an_at_front_copy_over_the_cap_is_refused_with_10200006_and_nothing_is_sent() {
    let worker = Worker::builder()
        .max_serialized_bytes(16)
        .spawn(|| OverTheCap)
        .unwrap();
    worker.post_message(()).unwrap();
    assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(0));
    let received: Vec<String> = std::iter::from_fn(|| worker.recv()).collect();
    let codes = format!(
        "{:?}",
        [Some(10200006u32), Some(10200006), None, None, None]
    );
    // The refused copies never reached the host; the rest did, by class.
    assert_eq!(received, [codes, "small".to_owned(), "x".repeat(64)]);
    assert_eq!(worker.message_errors(), 1, "the undecodable payload");
}

// ---------------------------------------------------------------------------------------------
// After `close()`, after `terminate()`: as `post_message`.

#[test]
fn after_close_an_at_front_post_is_still_delivered_until_the_handler_returns() {
    let steps = vec![
        Step::Post("before", Post::Plain),
        Step::Close,
        Step::Post("after close", Post::Front(High)),
        Step::Post("after close, a copy", Post::SerializedFront(Immediate)),
    ];
    let (worker, outcomes) = Script::spawn(vec![steps]);
    worker.post_message(()).unwrap();
    assert_eq!(
        all_after_exit(&worker),
        strings(&["after close, a copy", "after close", "before"])
    );
    assert_eq!(*outcomes.lock().unwrap(), [None, None, None]);
}

const TERMINATE_STARTED: u64 = 88_006;
const TERMINATE_RESUME: u64 = 88_007;

#[test]
fn after_terminate_every_at_front_post_fails_with_10200004_and_nothing_is_sent() {
    let steps = vec![
        Step::Post("started", Post::Plain),
        Step::Open(TERMINATE_STARTED),
        // Synchronous code: it runs on after `terminate()` until it returns.
        Step::Pass(TERMINATE_RESUME),
        Step::Post("moved", Post::Front(Immediate)),
        Step::Post("copy", Post::SerializedFront(High)),
        Step::Post("bytes", Post::PayloadFront(Low)),
        Step::Post("plain", Post::Plain),
    ];
    let (worker, outcomes) = Script::spawn(vec![steps]);
    worker.post_message(()).unwrap();
    pass_gate(TERMINATE_STARTED);
    worker.terminate().unwrap();
    open_gate(TERMINATE_RESUME);
    assert_eq!(all_after_exit(&worker), strings(&["started"]));
    assert_eq!(
        *outcomes.lock().unwrap(),
        [
            None,
            Some(10200004),
            Some(10200004),
            Some(10200004),
            Some(10200004)
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Errors and hand-overs.

const ERROR_HOST_BUSY: u64 = 88_008;
const ERROR_RELEASE: u64 = 88_009;

/// The host's events keep their count and order: an error reported between two messages is
/// heard after the first message slot and before the second, whichever messages fill them —
/// so an IMMEDIATE message sent after the error takes the slot of the plain one sent before.
#[test]
fn an_error_keeps_its_place_among_the_hosts_events_while_messages_jump_ahead() {
    let scripts = vec![
        vec![
            Step::Post("first", Post::Plain),
            Step::Pass(ERROR_HOST_BUSY),
            Step::Post("before the error", Post::Plain),
            Step::Fail,
        ],
        vec![
            Step::Post("after the error", Post::Front(Immediate)),
            Step::Open(ERROR_RELEASE),
        ],
    ];
    let (worker, _) = Script::spawn(scripts);
    let events = busy_host(&worker, ERROR_HOST_BUSY, ERROR_RELEASE);
    let sink = Arc::clone(&events);
    worker.on_all_errors(move |_| sink.lock().unwrap().push("error".to_owned()));
    worker.post_message(()).unwrap();
    worker.post_message(()).unwrap();
    wait_until("every event was heard", || {
        events.lock().unwrap().len() == 4
    });
    assert_eq!(
        *events.lock().unwrap(),
        strings(&["first", "after the error", "error", "before the error"])
    );
    worker.terminate().unwrap();
}

const HAND_OVER_EARLY: u64 = 88_010;
const HAND_OVER_CALLBACK_SET: u64 = 88_011;
const HAND_OVER_BUSY: u64 = 88_012;
const HAND_OVER_POSTED: u64 = 88_013;
const HAND_OVER_RELEASE: u64 = 88_014;

/// Messages waiting for an `on_message` that is cleared meanwhile go to `recv` (as before), and
/// keep their places, also among a message that waited there already (sent before the callback
/// was registered): the host thread hands over each at the place it had.
#[test]
fn messages_waiting_for_a_cleared_callback_reach_recv_at_their_places() {
    let steps = vec![
        Step::Post("early", Post::Plain),
        Step::Open(HAND_OVER_EARLY),
        Step::Pass(HAND_OVER_CALLBACK_SET),
        Step::Post("first", Post::Plain),
        Step::Pass(HAND_OVER_BUSY),
        Step::Post("n1", Post::Plain),
        Step::Post("low", Post::Front(Low)),
        Step::Post("n2", Post::Serialized),
        Step::Post("high", Post::Front(High)),
        Step::Post("immediate", Post::Front(Immediate)),
        Step::Open(HAND_OVER_POSTED),
        Step::Close,
    ];
    let (worker, _) = Script::spawn(vec![steps]);
    worker.post_message(()).unwrap();
    // "early" waits for `recv`; from now on the messages go to the callback.
    pass_gate(HAND_OVER_EARLY);
    let events = busy_host(&worker, HAND_OVER_BUSY, HAND_OVER_RELEASE);
    open_gate(HAND_OVER_CALLBACK_SET);
    pass_gate(HAND_OVER_POSTED);
    worker.clear_callbacks();
    // `on_exit` runs on the host thread after the jobs queued before it: once it ran, every
    // message the host thread held was handed over, and `recv` sees all of them waiting
    // (otherwise it could take "early" before the others arrive, correctly).
    let exited = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&exited);
    worker.on_exit(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    });
    open_gate(HAND_OVER_RELEASE);
    wait_until("on_exit ran", || exited.load(Ordering::SeqCst) == 1);
    let received: Vec<String> = std::iter::from_fn(|| worker.recv()).collect();
    assert_eq!(
        received,
        strings(&["immediate", "high", "early", "n1", "n2", "low"])
    );
    assert_eq!(*events.lock().unwrap(), strings(&["first"]));
}

// ---------------------------------------------------------------------------------------------
// What nobody takes.

/// Posts two bombs (values whose `Drop` panics), one at the front, and exits.
struct Bombs;

impl WorkerHandler for Bombs {
    type In = ();
    type Out = Bomb;

    async fn on_message(&mut self, (): (), port: &WorkerPort<Bomb>) -> HandlerResult {
        port.post_message(Bomb(88_050))?;
        port.post_message_at_front(Bomb(88_051), Idle)?;
        port.close()?;
        Ok(())
    }
}

#[test]
fn messages_nobody_took_are_dropped_with_the_worker_their_drop_contained() {
    let worker = Worker::new(|| Bombs).unwrap();
    worker.post_message(()).unwrap();
    assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(0));
    assert!(
        !dropped(88_050) && !dropped(88_051),
        "they wait for the host"
    );
    drop(worker);
    assert!(dropped(88_050) && dropped(88_051));
}

// ---------------------------------------------------------------------------------------------
// Stress: several workers (each its own posting thread) post at every priority while several
// threads receive from each; no message is lost or received twice, and the plain posts each
// receiver gets come in send order (a receiver always takes the first waiting, and plain
// posts wait in send order).

const STRESS_WORKERS: u64 = 4;
const STRESS_MESSAGES: u64 = 2_000;

/// How the `i`-th stress message is sent: plain, or at the front of a class; moved or copied.
fn stress_post(i: u64) -> Option<MessagePriority> {
    match i % 5 {
        0 => None,
        1 => Some(Immediate),
        2 => Some(High),
        3 => Some(Low),
        _ => Some(Idle),
    }
}

/// Posts `STRESS_MESSAGES` numbers `base + i`, each as [`stress_post`] says, then closes.
struct Flood {
    base: u64,
}

impl WorkerHandler for Flood {
    type In = ();
    type Out = u64;

    async fn on_message(&mut self, (): (), port: &WorkerPort<u64>) -> HandlerResult {
        for i in 0..STRESS_MESSAGES {
            let n = self.base + i;
            let copy = (i / 5) % 2 == 1;
            match (stress_post(i), copy) {
                (None, false) => port.post_message(n)?,
                (None, true) => port.post_message_serialized(&n)?,
                (Some(p), false) => port.post_message_at_front(n, p)?,
                (Some(p), true) => port.post_message_serialized_at_front(&n, p)?,
            }
        }
        port.close()?;
        Ok(())
    }
}

/// Checks that the plain posts among `received` (from one receiver) come in send order.
fn plain_in_send_order(received: &[u64], base: u64) {
    let plain: Vec<u64> = received
        .iter()
        .copied()
        .filter(|&n| stress_post(n - base).is_none())
        .collect();
    assert!(
        plain.windows(2).all(|w| w[0] < w[1]),
        "plain posts out of send order: {plain:?}"
    );
}

#[test]
fn stress_several_workers_post_at_every_priority_while_several_threads_receive() {
    let workers: Vec<(u64, Worker<(), u64>)> = (0..STRESS_WORKERS)
        .map(|w| {
            let base = (w + 1) * 1_000_000;
            (base, Worker::new(move || Flood { base }).unwrap())
        })
        .collect();
    std::thread::scope(|scope| {
        let mut receivers = Vec::new();
        for (base, worker) in &workers {
            let base = *base;
            // Two blocking receivers and a stream per worker.
            for _ in 0..2 {
                receivers.push((
                    base,
                    scope.spawn(move || std::iter::from_fn(|| worker.recv()).collect::<Vec<_>>()),
                ));
            }
            let stream = worker.messages();
            receivers.push((
                base,
                scope.spawn(move || block_on(stream.collect::<Vec<_>>())),
            ));
        }
        // Every worker floods at once, while its receivers take.
        for (_, worker) in &workers {
            worker.post_message(()).unwrap();
        }
        let mut all: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
        for (base, receiver) in receivers {
            let received = receiver.join().unwrap();
            plain_in_send_order(&received, base);
            all.entry(base).or_default().extend(received);
        }
        for (base, mut received) in all {
            received.sort_unstable();
            let expected: Vec<u64> = (base..base + STRESS_MESSAGES).collect();
            assert_eq!(
                received, expected,
                "worker {base}: a message lost or received twice"
            );
        }
    });
    for (_, worker) in &workers {
        assert_eq!(worker.wait_for_exit_timeout(PATIENCE), Some(0));
    }
}

/// The host registers and clears `on_message` over and over while the worker floods and a
/// thread receives: each message reaches the callback or `recv`, once, whatever route it took
/// (straight, or handed over by the host thread when its callback was cleared).
#[test]
fn stress_messages_switching_between_the_callback_and_recv_are_never_lost_or_doubled() {
    const BASE: u64 = 9_000_000;
    let worker = Worker::new(|| Flood { base: BASE }).unwrap();
    let by_callback = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|scope| {
        let receiver = scope.spawn(|| std::iter::from_fn(|| worker.recv()).collect::<Vec<_>>());
        worker.post_message(()).unwrap();
        let mut toggles = 0u64;
        while worker.exit_code().is_none() || toggles < 10 {
            let sink = Arc::clone(&by_callback);
            worker.on_message(move |n| sink.lock().unwrap().push(n));
            std::thread::yield_now();
            worker.clear_callbacks();
            std::thread::yield_now();
            toggles += 1;
        }
        let by_recv = receiver.join().unwrap();
        plain_in_send_order(&by_recv, BASE);
        // `recv` ended: the end of the messages came behind every message the host thread
        // held, so the callback got its last one before.
        let mut all = by_recv;
        all.extend(by_callback.lock().unwrap().iter().copied());
        all.sort_unstable();
        let expected: Vec<u64> = (BASE..BASE + STRESS_MESSAGES).collect();
        assert_eq!(all, expected, "a message lost or received twice");
    });
}
