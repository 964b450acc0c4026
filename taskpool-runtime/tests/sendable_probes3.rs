//! Probes of the Sendable / data-crossing layer, third pass: what a task's per-run copy of its
//! arguments does to the `Shared<T>` values among them, descriptors of another format version,
//! and sizes at the edges of the caps.
//!
//! Nothing here may panic the caller, hang or leak; a `Shared<T>` must stay shared wherever
//! ArkTS passes a Sendable object by reference.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};
use taskpool::{
    AsyncLock, Encoding, Payload, Priority, Shared, Task, TaskDescriptor, TaskGroup, TaskPool,
    concurrent, sendable,
};

/// A counter the tasks update through the handle they receive.
#[sendable]
pub struct Tally {
    /// How many runs counted.
    pub hits: AtomicU32,
}

/// A plain argument that is serializable but not `Clone`.
#[derive(Serialize, Deserialize)]
pub struct Note {
    /// Anything.
    pub text: String,
}

/// Counts one hit on the tally it received and says where that tally lives.
#[concurrent]
fn hit_with_note(tally: Shared<Tally>, note: Note) -> (usize, usize) {
    tally.hits.fetch_add(1, Ordering::SeqCst);
    (Shared::as_ptr(&tally) as usize, note.text.len())
}

/// A task executed by reference copies its arguments per run; a `Shared<T>` among them must
/// stay shared (ArkTS passes a Sendable object by reference whatever travels beside it).
///
/// It used to be copied through serde whenever another argument was not `Clone`: each run got
/// a fresh, disconnected `Tally`, so the runs' hits never reached the caller's (0 instead of 2)
/// and the addresses differed.
#[test]
fn a_shared_argument_beside_one_that_is_not_clone_stays_shared_across_runs() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let tally = Shared::new(Tally {
        hits: AtomicU32::new(0),
    });
    let address = Shared::as_ptr(&tally) as usize;
    let note = Note {
        text: "abc".to_owned(),
    };
    let task = Task::new(hit_with_note, (tally.clone(), note));
    for _ in 0..2 {
        let (seen, len) = pool.execute(&task).wait().unwrap();
        assert_eq!(len, 3);
        assert_eq!(seen, address, "the run received a copy of the shared value");
    }
    // A group copies its tasks' arguments for every execution, too.
    let mut group = TaskGroup::new();
    group.add_task(task).unwrap();
    for _ in 0..2 {
        let results = pool.execute_group(&group, Priority::Medium).wait().unwrap();
        assert_eq!(results[0].0, address, "the group's run received a copy");
    }
    assert_eq!(tally.hits.load(Ordering::SeqCst), 4);
}

/// A job that holds a shared tally among plain, non-`Clone` data.
#[derive(Serialize, Deserialize)]
pub struct Job {
    /// Where the runs count.
    pub tally: Shared<Tally>,
    /// Plain data beside it.
    pub note: Note,
    /// The same tally again: both handles must come back as one value.
    pub again: Option<Shared<Tally>>,
}

/// Counts a hit through each handle of the job and says where they live.
#[concurrent]
fn run_job(job: Job) -> (usize, usize) {
    job.tally.hits.fetch_add(1, Ordering::SeqCst);
    let again = job.again.expect("the second handle arrived");
    again.hits.fetch_add(1, Ordering::SeqCst);
    (
        Shared::as_ptr(&job.tally) as usize,
        Shared::as_ptr(&again) as usize,
    )
}

/// A `Shared<T>` nested in a non-`Clone` argument stays shared too, however often it appears.
///
/// It used to be copied with the argument: the runs counted on copies, and the caller's tally
/// stayed at 0.
#[test]
fn a_shared_value_nested_in_an_argument_that_is_not_clone_stays_shared() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let tally = Shared::new(Tally {
        hits: AtomicU32::new(0),
    });
    let address = Shared::as_ptr(&tally) as usize;
    let job = Job {
        tally: tally.clone(),
        note: Note {
            text: String::new(),
        },
        again: Some(tally.clone()),
    };
    let task = Task::new(run_job, (job,));
    for _ in 0..3 {
        assert_eq!(pool.execute(&task).wait().unwrap(), (address, address));
    }
    assert_eq!(tally.hits.load(Ordering::SeqCst), 6);
    drop(task);
    assert_eq!(Shared::handle_count(&tally), 1, "a handle leaked");
}

/// An untagged enum, which only a self-describing format reads back; its first variant would
/// take a reference for a number.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
pub enum Either {
    /// A plain number.
    Number(u64),
    /// A shared tally.
    Tally(Shared<Tally>),
}

/// Says which variant arrived, and the tally's hits if it was one.
#[concurrent]
fn which(either: Either) -> Option<u32> {
    match either {
        Either::Number(_) => None,
        Either::Tally(tally) => Some(tally.hits.load(Ordering::SeqCst)),
    }
}

/// Where a reference could be read as something else (an untagged enum's number variant
/// first), the copy still holds the right variant: a reference reads as no number.
#[test]
fn a_reference_a_type_reads_as_other_data_falls_back_to_a_copy_of_the_value() {
    let tally = Shared::new(Tally {
        hits: AtomicU32::new(7),
    });
    let task = Task::new(which, (Either::Tally(tally.clone()),));
    assert_eq!(TaskPool::global().execute(&task).wait().unwrap(), Some(7));
    drop(task);
    assert_eq!(Shared::handle_count(&tally), 1, "a handle leaked");
}

/// An untagged enum that tries its `Shared` variant first.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
pub enum TallyFirst {
    /// A shared tally.
    Tally(Shared<Tally>),
    /// A plain number.
    Number(u64),
}

/// Not `Clone`: the task's per-run copy of its arguments is a serialization round trip.
#[derive(Serialize, Deserialize)]
pub struct NotClone;

/// Says which variants arrived.
#[concurrent]
fn which_pair(first: TallyFirst, second: Either, _copied: NotClone) -> (bool, bool) {
    let first_is_tally = matches!(first, TallyFirst::Tally(_));
    let second_is_tally = matches!(second, Either::Tally(_));
    (first_is_tally, second_is_tally)
}

/// Regression: a reference was written as the bare index of its handle, so an untagged enum
/// trying its `Shared` variant first read a plain `0` beside it as a reference, and each run
/// got the `Shared` in the wrong argument, unnoticed (every handle was still taken back once).
#[test]
fn a_plain_number_beside_a_reference_is_not_read_as_one() {
    let tally = Shared::new(Tally {
        hits: AtomicU32::new(0),
    });
    let args = (
        TallyFirst::Number(0),
        Either::Tally(tally.clone()),
        NotClone,
    );
    let task = Task::new(which_pair, args);
    for _ in 0..2 {
        let outcome = TaskPool::global().execute(&task).wait().unwrap();
        assert_eq!(outcome, (false, true));
    }
    drop(task);
    assert_eq!(Shared::handle_count(&tally), 1, "a handle leaked");
}

/// A node of a graph that may close a cycle through its lock.
#[sendable]
pub struct Node {
    /// Which node.
    pub id: u32,
    /// The next node, if any.
    pub next: AsyncLock<Option<Shared<Node>>>,
}

/// Regression: serializing a cycle of `Shared` handles (ASON.stringify's `serde_json`)
/// recursed until the stack overflowed and the process aborted. It is an error; a chain
/// without a cycle still serializes, the same node twice included.
#[test]
fn a_cycle_of_shared_values_is_a_serialization_error() {
    support::in_child_process("a_cycle_of_shared_values_is_a_serialization_error", || {
        let node = |id, next| {
            Shared::new(Node {
                id,
                next: AsyncLock::new(next),
            })
        };
        let first = node(1, None);
        let second = node(2, Some(first.clone()));
        let both = (second.clone(), second.clone());
        let text = serde_json::to_string(&both).unwrap();
        assert_eq!(text.matches(r#""id":1"#).count(), 2, "{text}");
        *first.next.lock() = Some(second.clone());
        let error = serde_json::to_string(&first).unwrap_err();
        assert!(error.to_string().contains("cycle"), "{error}");
        // Broken again, or both nodes would keep each other alive.
        *first.next.lock() = None;
    });
}

/// Every text a `ByValue` wrote.
static WRITTEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Serializes its tally by value, in JSON text, through `Payload` — an encode of the
/// runtime's own inside a user `Serialize`.
pub struct ByValue(pub Shared<Tally>);

impl Serialize for ByValue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = match Payload::encode(&self.0, Encoding::Json) {
            Ok(Payload::Json(text)) => text,
            other => return Err(serde::ser::Error::custom(format!("{other:?}"))),
        };
        WRITTEN.lock().unwrap().push(text.clone());
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for ByValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Payload::Json(text)
            .decode()
            .map(ByValue)
            .map_err(serde::de::Error::custom)
    }
}

/// The text a `ByValue` was written as, and the hits of the tally it carries.
#[concurrent]
fn by_value(value: ByValue, note: Note) -> (String, u32) {
    let _ = note;
    let text = serde_json::to_string(&value.0).unwrap();
    (text, value.0.hits.load(Ordering::SeqCst))
}

/// An encode or decode a user impl makes while the per-run copy runs writes and reads values,
/// not the copy's references: its text is the tally itself (user code may keep or log it).
#[test]
fn an_encode_nested_in_a_user_impl_during_a_copy_writes_the_value() {
    let tally = Shared::new(Tally {
        hits: AtomicU32::new(5),
    });
    let note = Note {
        text: String::new(),
    };
    let task = Task::new(by_value, (ByValue(tally.clone()), note));
    let (text, hits) = TaskPool::global().execute(&task).wait().unwrap();
    assert_eq!(text, r#"{"hits":5}"#);
    assert_eq!(hits, 5);
    let written = WRITTEN.lock().unwrap().clone();
    assert!(!written.is_empty());
    assert!(
        written.iter().all(|text| text == r#"{"hits":5}"#),
        "the nested encode wrote a reference: {written:?}"
    );
}

/// Adds two numbers.
#[concurrent]
fn add(a: u32, b: u32) -> u32 {
    a + b
}

/// A descriptor written by another version of the format, whose layout differs after the
/// version (a field added at the end, one renamed), is refused as that: the error names the
/// version, as the README promises ("another format version").
///
/// The version was checked only after the whole descriptor decoded in this version's layout,
/// so such a descriptor was refused as corrupt ("1 unexpected bytes after the value; the data
/// is corrupt or of another type", "missing field `args`"), never naming the version.
#[test]
fn a_descriptor_of_another_format_version_is_refused_by_its_version() {
    let descriptor = Task::new(add, (1, 2)).descriptor().unwrap();
    let mut bytes = descriptor.to_bytes().unwrap();
    assert_eq!(bytes[0], 1, "the version comes first");
    bytes[0] = 2;
    bytes.push(7); // a field version 2 added
    let error = TaskDescriptor::from_bytes(&bytes).unwrap_err();
    assert_eq!(error.code(), Some(10200006));
    assert!(error.to_string().contains("version 2"), "{error}");

    let json = descriptor.to_json().unwrap();
    let json = json
        .replacen(r#""version":1"#, r#""version":2"#, 1)
        .replacen(r#""args""#, r#""arguments""#, 1);
    let error = TaskDescriptor::from_json(&json).unwrap_err();
    assert_eq!(error.code(), Some(10200006));
    assert!(error.to_string().contains("version 2"), "{error}");

    // This version's descriptors, damaged the same way, are still refused as damaged.
    let mut bytes = descriptor.to_bytes().unwrap();
    bytes.push(7);
    let error = TaskDescriptor::from_bytes(&bytes).unwrap_err();
    assert!(error.to_string().contains("unexpected bytes"), "{error}");
}

/// Bytes written with `serialize_bytes` (as `serde_bytes` does), read back from the bytes or
/// from the array JSON writes them as.
#[derive(Debug, PartialEq)]
pub struct Blob(pub Vec<u8>);

impl Serialize for Blob {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Takes the bytes in either form.
        struct Bytes;
        impl<'de> serde::de::Visitor<'de> for Bytes {
            type Value = Blob;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, bytes: &[u8]) -> Result<Blob, E> {
                Ok(Blob(bytes.to_vec()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Blob, A::Error> {
                let mut bytes = Vec::new();
                while let Some(byte) = seq.next_element()? {
                    bytes.push(byte);
                }
                Ok(Blob(bytes))
            }
        }
        deserializer.deserialize_byte_buf(Bytes)
    }
}

/// A chain of nodes ending in bytes: every node is one level.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub enum Chain {
    /// The bytes at the end.
    End(Blob),
    /// One more node.
    Node(Box<Chain>),
}

/// Whatever can be written can be read back (README, `Payload::MAX_NESTING_DEPTH`), at every
/// depth, for bytes too.
///
/// JSON writes bytes as an array of numbers, which the decoder counts as a level and the
/// encoder did not: bytes at the deepest level were written as JSON but refused when read
/// ("the data nests deeper than 126 levels").
#[test]
fn bytes_at_the_depth_limit_are_written_only_if_they_can_be_read_back() {
    let mut chain = Chain::End(Blob(vec![1, 2, 3]));
    let mut written = [0, 0];
    for _ in 0..taskpool::Payload::MAX_NESTING_DEPTH + 2 {
        for (slot, encoding) in [Encoding::Postcard, Encoding::Json].into_iter().enumerate() {
            if let Ok(payload) = Payload::encode(&chain, encoding) {
                written[slot] += 1;
                let read = payload.decode::<Chain>();
                assert_eq!(read.as_ref().ok(), Some(&chain), "{encoding:?}: {read:?}");
            }
        }
        chain = Chain::Node(Box::new(chain));
    }
    // Both encodings wrote up to the limit (the bytes are a level in JSON only).
    assert_eq!(
        written,
        [
            taskpool::Payload::MAX_NESTING_DEPTH,
            taskpool::Payload::MAX_NESTING_DEPTH - 1
        ]
    );
}

/// Counts a hit and sends the count it reached.
#[concurrent]
fn tick_job(job: Job) {
    let reached = job.tally.hits.fetch_add(1, Ordering::SeqCst) + 1;
    let _ = taskpool::send_data(reached);
}

/// A periodic task copies its arguments for every tick, on the pool thread running it: a
/// `Shared<T>` in arguments that are not `Clone` stays the caller's value there too.
///
/// Each tick used to receive a fresh copy of the tally (each sent 1, and the caller's stayed 0).
#[test]
fn a_periodic_task_counts_every_tick_on_the_callers_shared_value() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let tally = Shared::new(Tally {
        hits: AtomicU32::new(0),
    });
    let job = Job {
        tally: tally.clone(),
        note: Note {
            text: "tick".to_owned(),
        },
        again: None,
    };
    let task = Task::new(tick_job, (job,));
    let mut reached = task.data_stream::<u32>();
    let ticker = pool
        .execute_periodically(std::time::Duration::from_millis(1), task, Priority::Medium)
        .unwrap();
    let (first, reached) = support::bounded("three ticks", move || {
        let first: Vec<u32> = reached.blocking_iter().take(3).collect();
        (first, reached)
    });
    ticker.cancel().unwrap();
    assert_eq!(first, [1, 2, 3], "every tick counted on one tally");
    // The stream ends once the last run is over; the caller's tally saw every tick.
    let last = support::bounded("the last tick", move || reached.into_iter().last());
    assert_eq!(tally.hits.load(Ordering::SeqCst), last.unwrap_or(3));
}

/// A hand-built `Payload::Json` that holds no JSON cannot be encoded, and the error says why in
/// both encodings.
///
/// In the compact form the reason was lost (`postcard` drops a custom error's message): the
/// error said only "could not encode the value: Serde Serialization Error".
#[test]
fn a_json_payload_without_json_is_refused_with_its_reason_in_both_encodings() {
    let bad = Payload::Json("not json".to_owned());
    for encoding in [Encoding::Postcard, Encoding::Json] {
        let error = Payload::encode(&(bad.clone(),), encoding).unwrap_err();
        assert_eq!(error.code(), Some(10200006));
        assert!(
            error.to_string().contains("does not hold one JSON value"),
            "{encoding:?}: {error}"
        );
    }
}
