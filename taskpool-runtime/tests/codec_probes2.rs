//! Probes of the data side against hostile input and misbehaving user code: deep recursive
//! values as arguments, results, sent data and descriptors (and their drops, wherever the
//! runtime does them); user `Serialize`, `Deserialize` and `Clone` impls that panic or fail;
//! malformed descriptors not covered by `descriptor_fuzz.rs`; `Shared<T>` under contention.
//!
//! Nothing here may panic the caller, abort the process (a stack overflow is an abort), hang or
//! leak: bad input and failing user code give an error with its ArkTS code.
//!
//! Some user impls below panic on purpose; their messages in the output are expected.

mod support;

#[path = "support/wire.rs"]
mod wire;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use support::wait_until;
use taskpool::{
    ConcurrentFunction, Encoding, Error, Payload, Priority, Shared, Task, TaskDescriptor, TaskPool,
    concurrent, sendable,
};

/// How long the deep values are: the brief's 100 000.
const DEEP: usize = 100_000;

/// How long the lists the runtime clones are: a pool thread's default stack clones this deep
/// in a debug build.
const CLONE_DEEP: usize = 50_000;

/// A singly linked list as a user writes it: derived `Clone` and the compiler's recursive drop,
/// so cloning or dropping it 100 000 deep needs several MiB of stack.
#[sendable]
#[derive(Clone, Debug)]
struct List {
    value: u32,
    next: Option<Box<List>>,
}

fn list(length: usize) -> List {
    let mut head = List {
        value: 0,
        next: None,
    };
    for value in 1..length {
        head = List {
            value: value as u32,
            next: Some(Box::new(head)),
        };
    }
    head
}

fn length(list: &List) -> usize {
    let (mut length, mut at) = (1, list);
    while let Some(next) = &at.next {
        length += 1;
        at = next;
    }
    length
}

/// Runs `body` on a thread with a stack big enough to build, clone and drop the deep values
/// itself: the test harness's threads have 2 MiB, and what is probed is the runtime's threads.
fn on_big_stack<R: Send + 'static>(body: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(body)
        .expect("the test thread starts")
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Counts the lists a task saw.
static LENGTHS_SEEN: AtomicUsize = AtomicUsize::new(0);

#[concurrent]
fn list_length(list: List) -> usize {
    LENGTHS_SEEN.fetch_add(1, Ordering::SeqCst);
    length(&list)
}

#[concurrent]
fn make_list(length: u32) -> List {
    list(length as usize)
}

#[test]
fn a_deep_list_as_argument_and_result_is_dropped_without_overflowing_a_pool_thread() {
    on_big_stack(|| {
        let pool = TaskPool::builder().max_threads(2).build().unwrap();
        // Argument moved in, dropped on the pool thread when the function returns.
        let handle = pool.execute(Task::new(list_length, (list(DEEP),)));
        assert_eq!(handle.wait().unwrap(), DEEP);
        // Run by reference: each run gets a `Clone` of the list (made on this thread).
        let task = Task::new(list_length, (list(DEEP),));
        for _ in 0..2 {
            assert_eq!(pool.execute(&task).wait().unwrap(), DEEP);
        }
        // A result returned and taken.
        let made = pool.execute(Task::new(make_list, (DEEP as u32,))).wait();
        assert_eq!(length(&made.unwrap()), DEEP);
        // A result nobody takes: dropped by the runtime.
        drop(pool.execute(Task::new(make_list, (DEEP as u32,))));
        // The pool still works after all of it.
        assert_eq!(
            pool.execute(Task::new(make_list, (3,)))
                .wait()
                .map(|l| length(&l))
                .unwrap(),
            3
        );
        pool.shutdown();
    });
}

#[test]
fn a_deep_list_through_a_descriptor_is_refused_with_10200006() {
    on_big_stack(|| {
        let task = Task::new(list_length, (list(DEEP),));
        let error = task.descriptor().unwrap_err();
        assert_eq!(error.code(), Some(10200006), "{error}");
        // The result of a descriptor's execution is encoded too: too deep a result is an error.
        let descriptor = Task::new(make_list, (DEEP as u32,)).descriptor().unwrap();
        let result = TaskPool::global().execute_descriptor(&descriptor).wait();
        assert_eq!(result.unwrap_err().code(), Some(10200006));
    });
}

#[test]
fn a_deep_list_as_a_periodic_argument_is_copied_without_overflowing_the_timer_thread() {
    on_big_stack(|| {
        let pool = TaskPool::builder().max_threads(2).build().unwrap();
        let before = LENGTHS_SEEN.load(Ordering::SeqCst);
        // Deep enough that a derived `Clone` overflows a 2 MiB stack in a debug build, and
        // shallow enough to clone on a pool thread's default 16 MiB (100 000 needs about 20).
        let task = Task::new(list_length, (list(CLONE_DEEP),));
        // Each tick copies the arguments (by `Clone`) for the run it starts.
        let ticker = pool
            .execute_periodically(Duration::from_millis(1), task, Priority::Medium)
            .unwrap();
        wait_until("two periodic runs saw the list", || {
            LENGTHS_SEEN.load(Ordering::SeqCst) >= before + 2
        });
        ticker.cancel().unwrap();
        pool.shutdown();
    });
}

#[test]
fn a_deep_list_held_by_a_delayed_task_is_dropped_safely_when_its_pool_shuts_down() {
    on_big_stack(|| {
        let pool = TaskPool::builder().max_threads(1).build().unwrap();
        let handle = pool.execute_delayed(
            Duration::from_millis(200),
            Task::new(list_length, (list(DEEP),)),
            Priority::Medium,
        );
        pool.shutdown();
        assert!(handle.wait().is_err());
    });
}

#[concurrent]
fn send_list(length: u32) -> u32 {
    taskpool::send_data(list(length as usize)).unwrap();
    length
}

#[test]
fn a_deep_list_sent_as_data_is_received_and_one_nobody_reads_is_dropped_safely() {
    on_big_stack(|| {
        let pool = TaskPool::builder().max_threads(1).build().unwrap();
        // Read through a stream.
        let task = Task::new(send_list, (DEEP as u32,));
        let mut stream = task.data_stream::<List>();
        assert_eq!(pool.execute(task).wait().unwrap(), DEEP as u32);
        assert_eq!(length(&stream.next_blocking().unwrap()), DEEP);
        // Delivered to a callback on the pool's callback thread, which drops it.
        let task = Task::new(send_list, (DEEP as u32,));
        let seen = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&seen);
        task.on_receive_data(move |list: List| {
            counter.store(length(&list), Ordering::SeqCst);
        });
        assert_eq!(pool.execute(task).wait().unwrap(), DEEP as u32);
        wait_until("the callback saw the list", || {
            seen.load(Ordering::SeqCst) == DEEP
        });
        // Sent to a stream dropped unread: the value goes when the run releases the stream.
        let task = Task::new(send_list, (DEEP as u32,));
        drop(task.data_stream::<List>());
        assert_eq!(pool.execute(task).wait().unwrap(), DEEP as u32);
        pool.shutdown();
    });
}

/// A `Shared` deep list: sharing it never serializes, so depth does not matter.
#[concurrent]
fn shared_length(list: Shared<List>) -> usize {
    length(&list)
}

#[test]
fn a_deep_shared_list_is_shared_by_many_tasks_and_its_last_handle_may_drop_on_a_pool_thread() {
    on_big_stack(|| {
        let pool = TaskPool::builder().max_threads(4).build().unwrap();
        let shared = Shared::new(list(DEEP));
        let handles: Vec<_> = (0..64)
            .map(|_| pool.execute(Task::new(shared_length, (Shared::clone(&shared),))))
            .collect();
        // The caller lets go first: some pool thread drops the last handle.
        drop(shared);
        for handle in handles {
            assert_eq!(handle.wait().unwrap(), DEEP);
        }
        pool.shutdown();
    });
}

/// Counts how many `Tally` values were dropped, to prove each is dropped exactly once.
static TALLIES_DROPPED: AtomicUsize = AtomicUsize::new(0);

#[sendable]
struct Tally {
    hits: AtomicUsize,
}

impl Drop for Tally {
    fn drop(&mut self) {
        TALLIES_DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

#[concurrent]
fn hit(tally: Shared<Tally>) -> usize {
    tally.hits.fetch_add(1, Ordering::SeqCst) + 1
}

#[test]
fn a_shared_value_under_contention_counts_every_hit_and_is_dropped_once() {
    let pool = TaskPool::builder().max_threads(4).build().unwrap();
    let before = TALLIES_DROPPED.load(Ordering::SeqCst);
    let tally = Shared::new(Tally {
        hits: AtomicUsize::new(0),
    });
    // A task run by reference many times: its `Shared` argument is cloned, never serialized.
    let task = Task::new(hit, (Shared::clone(&tally),));
    let mut handles: Vec<_> = (0..200).map(|_| pool.execute(&task)).collect();
    handles.extend((0..200).map(|_| pool.execute(Task::new(hit, (Shared::clone(&tally),)))));
    for handle in handles {
        handle.wait().unwrap();
    }
    assert_eq!(tally.hits.load(Ordering::SeqCst), 400);
    drop(task);
    let weak_count = Shared::handle_count(&tally);
    assert_eq!(weak_count, 1, "every run let go of its handle");
    drop(tally);
    assert_eq!(TALLIES_DROPPED.load(Ordering::SeqCst), before + 1);
    pool.shutdown();
}

// --- User code that panics or fails ----------------------------------------------------------

/// Argument whose impls misbehave on demand: `mode` picks which.
#[derive(Debug)]
struct Touchy {
    mode: u8,
}

const SERIALIZE_PANICS: u8 = 1;
const SERIALIZE_FAILS: u8 = 2;
const DESERIALIZE_PANICS: u8 = 3;
const DESERIALIZE_FAILS: u8 = 4;
const CLONE_PANICS: u8 = 5;

impl Serialize for Touchy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.mode {
            SERIALIZE_PANICS => panic!("a user Serialize panicked"),
            SERIALIZE_FAILS => Err(serde::ser::Error::custom("a user Serialize failed")),
            mode => serializer.serialize_u8(mode),
        }
    }
}

impl<'de> Deserialize<'de> for Touchy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mode = u8::deserialize(deserializer)?;
        match mode {
            DESERIALIZE_PANICS => panic!("a user Deserialize panicked"),
            DESERIALIZE_FAILS => Err(serde::de::Error::custom("a user Deserialize failed")),
            mode => Ok(Touchy { mode }),
        }
    }
}

/// Not `Clone`: a run by reference copies it by a serialization round trip.
#[concurrent]
fn touchy_mode(touchy: Touchy) -> u8 {
    touchy.mode
}

/// `Clone` that panics on demand: a run by reference copies it by `Clone`.
#[derive(Debug, Serialize, Deserialize)]
struct CloneBomb(u8);

/// How many times a `CloneBomb` was cloned (or tried to be).
static CLONES_TRIED: AtomicUsize = AtomicUsize::new(0);

impl Clone for CloneBomb {
    fn clone(&self) -> CloneBomb {
        CLONES_TRIED.fetch_add(1, Ordering::SeqCst);
        if self.0 == CLONE_PANICS {
            panic!("a user Clone panicked");
        }
        CloneBomb(self.0)
    }
}

#[concurrent]
fn clone_bomb_value(bomb: CloneBomb) -> u8 {
    bomb.0
}

#[concurrent]
fn touchy_result(mode: u8) -> Touchy {
    Touchy { mode }
}

#[test]
fn a_failing_or_panicking_copy_of_arguments_fails_that_run_only() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    for mode in [
        SERIALIZE_PANICS,
        SERIALIZE_FAILS,
        DESERIALIZE_PANICS,
        DESERIALIZE_FAILS,
    ] {
        let task = Task::new(touchy_mode, (Touchy { mode },));
        let error = pool.execute(&task).wait().unwrap_err();
        assert!(
            matches!(error.code(), Some(10200006) | Some(10200001) | None),
            "mode {mode}: {error:?}"
        );
        // Still usable by value.
        assert_eq!(pool.execute(task).wait().unwrap(), mode);
    }
    let task = Task::new(clone_bomb_value, (CloneBomb(CLONE_PANICS),));
    assert!(pool.execute(&task).wait().is_err());
    assert_eq!(pool.execute(task).wait().unwrap(), CLONE_PANICS);
    pool.shutdown();
}

#[test]
fn a_periodic_task_whose_argument_copy_panics_does_not_kill_the_timer() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(clone_bomb_value, (CloneBomb(CLONE_PANICS),));
    let ticker = pool
        .execute_periodically(Duration::from_millis(1), task, Priority::Medium)
        .unwrap();
    // Ticks keep coming (each copy fails: the panic is contained on the timer thread)...
    let before = CLONES_TRIED.load(Ordering::SeqCst);
    wait_until("three more ticks tried to copy", || {
        CLONES_TRIED.load(Ordering::SeqCst) >= before + 3
    });
    ticker.cancel().unwrap();
    // ...and the timer still serves sleeps.
    support::block_on(taskpool::sleep(Duration::from_millis(1)));
    assert_eq!(
        pool.run(touchy_mode, (Touchy { mode: 9 },)).wait().unwrap(),
        9
    );
    pool.shutdown();
}

fn assert_serialization_error<T: std::fmt::Debug>(result: Result<T, Error>, what: &str) {
    match result {
        Err(error) => assert_eq!(error.code(), Some(10200006), "{what}: {error}"),
        Ok(value) => panic!("{what}: expected 10200006, got {value:?}"),
    }
}

/// Runs `body`, failing the test if it panics: "nothing may panic the caller".
fn no_panic<R>(what: &str, body: impl FnOnce() -> R) -> R {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body))
        .unwrap_or_else(|_| panic!("{what} panicked in the caller"))
}

#[test]
fn a_panicking_or_failing_serialize_gives_10200006_from_descriptor_and_encode() {
    for mode in [SERIALIZE_PANICS, SERIALIZE_FAILS] {
        let task = Task::new(touchy_mode, (Touchy { mode },));
        assert_serialization_error(no_panic("descriptor", || task.descriptor()), "descriptor");
        for encoding in [Encoding::Postcard, Encoding::Json] {
            let touchy = Touchy { mode };
            assert_serialization_error(
                no_panic("encode", || Payload::encode(&touchy, encoding)),
                "encode",
            );
        }
    }
}

fn touchy_descriptor(mode: u8) -> TaskDescriptor {
    TaskDescriptor {
        function: <touchy_mode as ConcurrentFunction>::NAME.to_owned(),
        name: None,
        priority: Priority::Medium,
        args: Payload::Postcard(vec![mode]),
    }
}

#[test]
fn a_panicking_or_failing_deserialize_gives_10200006_when_reading_or_executing_a_descriptor() {
    for mode in [DESERIALIZE_PANICS, DESERIALIZE_FAILS] {
        let bytes = wire::compact_descriptor(<touchy_mode as ConcurrentFunction>::NAME, &[mode]);
        assert_serialization_error(
            no_panic("from_bytes", || TaskDescriptor::from_bytes(&bytes)),
            "from_bytes",
        );
        let json = format!(
            r#"{{"version":1,"function":"{}","args":[{mode}]}}"#,
            <touchy_mode as ConcurrentFunction>::NAME
        );
        assert_serialization_error(
            no_panic("from_json", || TaskDescriptor::from_json(&json)),
            "from_json",
        );
        let descriptor = touchy_descriptor(mode);
        assert_serialization_error(
            no_panic("from_descriptor", || Task::from_descriptor(&descriptor)),
            "from_descriptor",
        );
        let handle = no_panic("execute_descriptor", || {
            TaskPool::global().execute_descriptor(&descriptor)
        });
        assert_serialization_error(handle.wait(), "execute_descriptor");
        assert_serialization_error(
            no_panic("to_json", || descriptor.to_json()),
            "to_json of a hand-built descriptor",
        );
        assert_serialization_error(
            no_panic("decode", || {
                Payload::Postcard(vec![mode]).decode::<Touchy>()
            }),
            "decode",
        );
    }
}

#[test]
fn a_result_whose_serialize_panics_or_fails_fails_the_descriptor_run() {
    for mode in [SERIALIZE_PANICS, SERIALIZE_FAILS] {
        let descriptor = Task::new(touchy_result, (mode,)).descriptor().unwrap();
        let result = TaskPool::global().execute_descriptor(&descriptor).wait();
        assert!(result.is_err(), "mode {mode}");
    }
    // A result that encodes but does not read back is the caller's decode error.
    let descriptor = Task::new(touchy_result, (DESERIALIZE_PANICS,))
        .descriptor()
        .unwrap();
    let payload = TaskPool::global()
        .execute_descriptor(&descriptor)
        .wait()
        .unwrap();
    assert_serialization_error(
        no_panic("decode_result", || {
            TaskDescriptor::decode_result::<Touchy>(&payload)
        }),
        "decode_result",
    );
}

// --- Malformed descriptors ---------------------------------------------------------------------

#[concurrent]
fn pair(a: u32, b: String) -> String {
    format!("{a}{b}")
}

#[test]
fn trailing_bytes_after_a_descriptor_or_its_arguments_are_refused() {
    let good = Task::new(pair, (1, "x".to_owned())).descriptor().unwrap();
    let mut bytes = good.to_bytes().unwrap();
    bytes.push(0);
    assert_serialization_error(TaskDescriptor::from_bytes(&bytes), "trailing byte");
    let Payload::Postcard(mut args) = good.args.clone() else {
        unreachable!()
    };
    args.push(7);
    let bytes = wire::compact_descriptor(<pair as ConcurrentFunction>::NAME, &args);
    assert_serialization_error(TaskDescriptor::from_bytes(&bytes), "trailing argument byte");
    let json = good.to_json().unwrap();
    assert_serialization_error(TaskDescriptor::from_json(&format!("{json} {json}")), "two");
    let json = format!(
        r#"{{"version":1,"function":"{}","args":[1,"x"] 5}}"#,
        <pair as ConcurrentFunction>::NAME
    );
    assert_serialization_error(TaskDescriptor::from_json(&json), "junk in the object");
}

#[test]
fn wrong_arity_is_refused_with_10200006_in_both_forms() {
    for args in [
        r#"[]"#,
        r#"[1]"#,
        r#"[1,"x",2]"#,
        r#"{"a":1,"b":"x"}"#,
        "null",
        r#"[1,"x",[]]"#,
    ] {
        let json = format!(
            r#"{{"version":1,"function":"{}","args":{args}}}"#,
            <pair as ConcurrentFunction>::NAME
        );
        assert_serialization_error(TaskDescriptor::from_json(&json), args);
    }
    let short = postcard::to_allocvec(&(1u32,)).unwrap();
    assert_serialization_error(
        TaskDescriptor::from_bytes(&wire::compact_descriptor(
            <pair as ConcurrentFunction>::NAME,
            &short,
        )),
        "one argument of two",
    );
    let long = postcard::to_allocvec(&(1u32, "x", 2u8)).unwrap();
    assert_serialization_error(
        TaskDescriptor::from_bytes(&wire::compact_descriptor(
            <pair as ConcurrentFunction>::NAME,
            &long,
        )),
        "three arguments of two",
    );
}

#[test]
fn depth_bombs_outside_the_arguments_are_refused_without_overflowing() {
    let bomb = "[".repeat(DEEP) + &"]".repeat(DEEP);
    let objects = r#"{"a":"#.repeat(DEEP) + "1" + &"}".repeat(DEEP);
    for (field, value) in [
        ("name", &bomb),
        ("priority", &bomb),
        ("extra", &bomb),
        ("extra", &objects),
        ("function", &objects),
    ] {
        let json = format!(
            r#"{{"version":1,"function":"{}","args":[1,"x"],"{field}":{value}}}"#,
            <pair as ConcurrentFunction>::NAME
        );
        let result = on_small_stack(move || TaskDescriptor::from_json(&json).map(|_| ()));
        // An unknown field is skipped (without recursing: `serde_json` skips iteratively);
        // any other is refused.
        assert!(field == "extra" || result.is_err(), "{field}");
    }
    // As a whole descriptor, and as a `Payload` read by serde itself.
    let result = on_small_stack(move || TaskDescriptor::from_json(&bomb).map(|_| ()));
    assert_eq!(result.unwrap_err().code(), Some(10200006));
    let text = format!(r#"{{"Json":{}}}"#, "[".repeat(DEEP) + &"]".repeat(DEEP));
    // `Payload` keeps JSON as its text: reading one only skips over the nesting (iteratively),
    // and decoding it refuses the depth.
    let result = on_small_stack(move || match serde_json::from_str::<Payload>(&text) {
        Ok(payload) => payload.decode::<serde_json::Value>().map(|_| ()),
        Err(_) => Ok(()),
    });
    assert_eq!(result.unwrap_err().code(), Some(10200006));
}

/// Runs `body` on a thread with a 1 MiB stack: a decoder that recursed once per level of
/// 100 000 would overflow it and abort the test binary.
fn on_small_stack<R: Send + 'static>(body: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(body)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn hand_built_descriptors_with_bad_arguments_are_refused_by_every_entry_point() {
    let cases = [
        Payload::Json("not json".to_owned()),
        Payload::Json(String::new()),
        Payload::Json("[1,\"x\"] trailing".to_owned()),
        Payload::Json("[".repeat(DEEP)),
        Payload::Postcard(vec![0xff; 12]),
        Payload::Postcard(Vec::new()),
    ];
    for args in cases {
        let descriptor = TaskDescriptor {
            function: <pair as ConcurrentFunction>::NAME.to_owned(),
            name: Some("\u{0}\u{ffff}".to_owned()),
            priority: Priority::High,
            args,
        };
        let d = descriptor.clone();
        on_small_stack(move || {
            assert_serialization_error(Task::from_descriptor(&d).map(|_| ()), "from_descriptor");
            let handle = TaskPool::global().execute_descriptor(&d);
            assert_serialization_error(handle.wait(), "execute_descriptor");
            // Arguments already in the compact form are written as they are; whatever is
            // written, reading it back refuses them.
            if let Ok(bytes) = d.to_bytes() {
                assert_serialization_error(TaskDescriptor::from_bytes(&bytes), "read back");
            }
            assert_serialization_error(d.to_json(), "to_json");
        });
    }
}

#[test]
fn a_hand_built_descriptor_of_an_unknown_or_empty_function_is_refused_with_10200014() {
    for function in [
        "",
        "::",
        "no::such::function",
        "\u{0}",
        &"x".repeat(1 << 16),
    ] {
        let descriptor = TaskDescriptor {
            function: function.to_owned(),
            name: None,
            priority: Priority::Low,
            args: Payload::Postcard(Vec::new()),
        };
        let error = TaskPool::global()
            .execute_descriptor(&descriptor)
            .wait()
            .unwrap_err();
        assert_eq!(error.code(), Some(10200014), "{function:.20}");
        let error = descriptor.to_json().unwrap_err();
        assert_eq!(error.code(), Some(10200014), "{function:.20}");
    }
}

#[test]
fn a_huge_length_prefix_inside_the_arguments_is_refused_without_allocating_it() {
    // The string argument claims 2^62 bytes: the descriptor itself is tiny.
    let mut args = wire::varint(1);
    args.extend(wire::varint(1 << 62));
    args.extend(b"abc");
    let bytes = wire::compact_descriptor(<pair as ConcurrentFunction>::NAME, &args);
    assert_serialization_error(TaskDescriptor::from_bytes(&bytes), "huge string prefix");
    // A `Vec<u64>` claiming 2^40 elements.
    let mut claims = wire::varint(1 << 40);
    claims.extend([1, 2, 3]);
    assert_serialization_error(Payload::Postcard(claims).decode::<Vec<u64>>(), "huge vec");
}

/// An argument whose `Drop` panics: a value the runtime decodes only to check it, and then
/// drops, must not panic the caller.
#[derive(Debug, Serialize, Deserialize)]
struct DropBomb(u8);

impl Drop for DropBomb {
    fn drop(&mut self) {
        if self.0 == 13 && !std::thread::panicking() {
            panic!("a user Drop panicked");
        }
    }
}

#[concurrent]
fn defuse(mut bomb: DropBomb) -> u8 {
    let value = bomb.0;
    bomb.0 = 0;
    value
}

#[test]
fn reading_or_converting_a_descriptor_drops_its_checked_arguments_quietly() {
    let bytes = wire::compact_descriptor(<defuse as ConcurrentFunction>::NAME, &[13]);
    let descriptor = no_panic("from_bytes", || TaskDescriptor::from_bytes(&bytes)).unwrap();
    let json = no_panic("to_json", || descriptor.to_json()).unwrap();
    let back = no_panic("from_json", || TaskDescriptor::from_json(&json)).unwrap();
    no_panic("to_bytes", || back.to_bytes()).unwrap();
    // Executed, the function defuses its bomb and returns its number.
    let result = TaskPool::global().execute_descriptor(&back).wait().unwrap();
    assert_eq!(result.decode::<u8>().unwrap(), 13);
    // A task rebuilt from the descriptor and dropped unexecuted drops the arguments it decoded.
    let task = no_panic("from_descriptor", || Task::from_descriptor(&back)).unwrap();
    no_panic("dropping the rebuilt task", || drop(task));
}

#[test]
fn a_deep_list_held_by_a_delayed_task_whose_dependency_is_dropped_is_dropped_safely() {
    on_big_stack(|| {
        let pool = TaskPool::builder().max_threads(1).build().unwrap();
        let dependency = Task::new(make_list, (1,));
        let task = Task::new(list_length, (list(DEEP),));
        task.add_dependency(&dependency).unwrap();
        let handle = pool.execute_delayed(Duration::from_millis(50), task, Priority::Medium);
        // Dropped without succeeding: the delayed task fails once its delay is over, on a
        // short-lived thread that drops its deep arguments.
        drop(dependency);
        assert!(handle.wait().is_err());
        pool.shutdown();
    });
}
