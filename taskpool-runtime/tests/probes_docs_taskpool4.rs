//! A fourth round of probes of the TaskPool API against `js-apis-taskpool.md` and
//! `errorcode-utils.md` (openharmony/docs), and against bad input and faults: behaviours the
//! other test files did not cover, and each defect found, with the test that failed before its
//! fix. Every wait is on a gate or a condition with a generous timeout.
//!
//! Some user impls below panic in `Drop` on purpose; their messages in the output are expected.

mod support;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use taskpool::{Encoding, Error, Payload, Task, TaskPool, concurrent};

/// Gate ids of this file.
const G: u64 = 97_000;

// --- A user `Serialize` that refuses with its own reason -------------------------------------

/// The reason [`Refuses`] gives.
const REASON: &str = "my reason: the sensor handle cannot leave this thread";

/// An argument whose `Serialize` refuses with [`REASON`], nested one level down as user data
/// usually is (the refusal crosses the runtime's checked wrapper twice).
#[derive(Debug)]
struct Refuses;

impl Serialize for Refuses {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(REASON))
    }
}

impl<'de> Deserialize<'de> for Refuses {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <()>::deserialize(deserializer).map(|()| Refuses)
    }
}

/// Holds a [`Refuses`] in a field, as user data usually holds such a value.
#[derive(Debug, Serialize, Deserialize)]
struct Holder {
    id: u32,
    inner: Refuses,
}

#[concurrent]
fn holder_id(holder: Holder) -> u32 {
    holder.id
}

/// Asserts that `result` is a 10200006 error that carries [`REASON`].
fn assert_carries_reason<T: std::fmt::Debug>(result: Result<T, Error>, what: &str) {
    let error = result.expect_err(what);
    assert_eq!(error.code(), Some(10200006), "{what}: {error:?}");
    assert!(
        error.to_string().contains(REASON),
        "{what}: the user's reason is lost: {error}"
    );
}

/// A user `Serialize` that fails with `custom("…")` gives the caller a 10200006 error that
/// carries that reason, in the compact form as in JSON. (`postcard` drops a custom error's
/// message: the compact form said only "Serde Serialization Error".)
#[test]
fn a_refusing_user_serialize_keeps_its_reason_in_both_forms() {
    let holder = Holder {
        id: 1,
        inner: Refuses,
    };
    assert_carries_reason(Payload::encode(&holder, Encoding::Json), "JSON");
    assert_carries_reason(Payload::encode(&holder, Encoding::Postcard), "compact");
    assert_carries_reason(
        Payload::encode(&Refuses, Encoding::Postcard),
        "compact, top",
    );
    let task = Task::new(holder_id, (holder,));
    assert_carries_reason(task.descriptor(), "descriptor");
    // A run by reference copies the arguments that are not `Clone` through the compact form.
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    assert_carries_reason(pool.execute(&task).wait(), "per-run copy");
    assert_eq!(pool.execute(task).wait().unwrap(), 1);
    pool.shutdown();
}

/// Wraps a [`Refuses`] and, when it refuses, refuses with its own context around the reason
/// it was given: what user code that adds context to a field's error does.
#[derive(Debug)]
struct Context(Refuses);

impl Serialize for Context {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0
            .serialize(serializer)
            .map_err(|error| serde::ser::Error::custom(format!("in the context: {error}")))
    }
}

/// An enum whose variants hold a refusing value in each compound form the runtime's checked
/// serializer hands on: a newtype variant, a tuple variant and a struct variant.
#[derive(Debug, Serialize)]
enum Shapes {
    Newtype(Refuses),
    Tuple(u8, Refuses),
    Struct { first: u8, refuses: Refuses },
}

/// The refusal's reason reaches the caller from every place a value can sit: a sequence, a
/// map key and value, an `Option`, a newtype, tuple and struct variant, and through a user
/// impl that adds context around it (which sees the reason, not the format's bare error).
#[test]
fn a_refusal_keeps_its_reason_from_every_nesting_in_both_forms() {
    use std::collections::BTreeMap;
    for encoding in [Encoding::Postcard, Encoding::Json] {
        let what = |shape: &str| format!("{encoding:?}: {shape}");
        let encode = |value: &dyn erased::Encode| value.encode(encoding);
        assert_carries_reason(encode(&vec![Refuses]), &what("sequence"));
        assert_carries_reason(encode(&Some(Refuses)), &what("option"));
        let values = BTreeMap::from([(1u8, Refuses)]);
        assert_carries_reason(encode(&values), &what("map value"));
        assert_carries_reason(encode(&(1u8, Shapes::Newtype(Refuses))), &what("newtype"));
        assert_carries_reason(encode(&Shapes::Tuple(1, Refuses)), &what("tuple variant"));
        let shape = Shapes::Struct {
            first: 1,
            refuses: Refuses,
        };
        assert_carries_reason(encode(&shape), &what("struct variant"));
        let error = encode(&vec![Context(Refuses)]).unwrap_err().to_string();
        assert!(
            error.contains(&format!("in the context: {REASON}")),
            "{}: {error}",
            what("context")
        );
    }
}

/// Object-safe encoding of the values of one test, whatever their types.
mod erased {
    use taskpool::{Encoding, Error, Payload};

    pub trait Encode {
        fn encode(&self, encoding: Encoding) -> Result<Payload, Error>;
    }

    impl<T: serde::Serialize> Encode for T {
        fn encode(&self, encoding: Encoding) -> Result<Payload, Error> {
            Payload::encode(self, encoding)
        }
    }
}

/// Returns a value whose serialization refuses: the result of a task run from a descriptor,
/// which comes back serialized.
#[concurrent]
fn refusing_result(id: u32) -> Holder {
    Holder { id, inner: Refuses }
}

/// A task run from a descriptor whose result refuses to serialize resolves with a 10200006
/// that carries the refusal's reason, in both encodings of the descriptor.
#[test]
fn a_descriptor_run_whose_result_refuses_reports_the_reason() {
    use taskpool::TaskDescriptor;
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let descriptor = Task::new(refusing_result, (7,)).descriptor().unwrap();
    let by_bytes = TaskDescriptor::from_bytes(&descriptor.to_bytes().unwrap()).unwrap();
    let by_json = TaskDescriptor::from_json(&descriptor.to_json().unwrap()).unwrap();
    for (what, descriptor) in [("compact", by_bytes), ("JSON", by_json)] {
        assert_carries_reason(pool.execute_descriptor(&descriptor).wait(), what);
    }
    pool.shutdown();
}

/// Every copy of arguments that are not `Clone` goes through the compact form: a group's
/// members (a group is re-executable, so each execution copies), a delayed run and the ticks
/// of a periodic task. Each refusal reaches its caller with the reason, and the execution
/// after it still runs: the group's other member and the task executed by value.
#[test]
fn a_refusing_argument_copy_reports_the_reason_from_groups_delays_and_ticks() {
    use std::sync::mpsc;
    use std::time::Duration;
    use taskpool::{Priority, TaskGroup};
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let mut group = TaskGroup::new();
    group
        .add_task(Task::new(
            holder_id,
            (Holder {
                id: 2,
                inner: Refuses,
            },),
        ))
        .unwrap();
    group.add(support::plain, (3,)).unwrap();
    for _ in 0..2 {
        assert_carries_reason(pool.execute_group(&group, Priority::High).wait(), "group");
    }
    let task = Task::new(
        holder_id,
        (Holder {
            id: 4,
            inner: Refuses,
        },),
    );
    let delayed = pool.execute_delayed(Duration::from_millis(1), &task, Priority::High);
    assert_carries_reason(delayed.wait(), "delayed");
    // Its listeners are set before it is first executed (after, 10200034).
    let task = Task::new(
        holder_id,
        (Holder {
            id: 5,
            inner: Refuses,
        },),
    );
    let (failures, failed) = mpsc::channel();
    task.on_execution_failed(move |error| drop(failures.send(error.to_string())))
        .unwrap();
    let ticker = pool
        .execute_periodically(Duration::from_millis(1), task, Priority::High)
        .unwrap();
    for tick in 0..2 {
        let error = failed
            .recv_timeout(support::PATIENCE)
            .expect("a tick failed");
        assert!(error.contains(REASON), "tick {tick}: {error}");
    }
    ticker.cancel().unwrap();
    let task = Task::new(
        holder_id,
        (Holder {
            id: 6,
            inner: Refuses,
        },),
    );
    assert_eq!(
        pool.execute(task).wait().unwrap(),
        6,
        "moved: nothing to copy"
    );
    pool.shutdown();
}

/// A value whose copies (by `Clone`) panic in `Drop`: the original, which the test keeps, is
/// quiet. Copies are what the runtime makes and drops for a run.
#[derive(Debug, Serialize, Deserialize)]
struct LoudCopies {
    copy: bool,
}

/// How many copies of a [`LoudCopies`] were dropped.
static LOUD_COPIES_DROPPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Clone for LoudCopies {
    fn clone(&self) -> LoudCopies {
        LoudCopies { copy: true }
    }
}

impl Drop for LoudCopies {
    fn drop(&mut self) {
        if self.copy {
            LOUD_COPIES_DROPPED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if !std::thread::panicking() {
                panic!("a copy of the arguments went off in Drop");
            }
        }
    }
}

#[concurrent]
fn loud_copy_taken(value: LoudCopies) -> u32 {
    // The copy is dropped here, in the run: contained as the run's panic.
    std::mem::forget(value);
    1
}

/// A group one of whose members cannot copy its arguments fails with that member's error, and
/// no panic reaches the caller of `execute_group`. Each member copies its arguments when it
/// starts, so a member canceled by that failure before it started copied nothing: no copy of
/// its arguments is made, and none dropped (a copy's `Drop` here panics).
#[test]
fn a_group_failed_by_a_member_s_copy_copies_nothing_for_the_members_it_cancels() {
    use std::sync::atomic::Ordering;
    use taskpool::{Priority, TaskGroup};
    // One thread: the members start in the order they were added.
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let mut group: TaskGroup<u32> = TaskGroup::new();
    group
        .add_task(Task::new(
            holder_id,
            (Holder {
                id: 8,
                inner: Refuses,
            },),
        ))
        .unwrap();
    group
        .add_task(Task::new(loud_copy_taken, (LoudCopies { copy: false },)))
        .unwrap();
    let before = LOUD_COPIES_DROPPED.load(Ordering::SeqCst);
    let executed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.execute_group(&group, Priority::High)
    }));
    let handle = executed.expect("execute_group does not panic");
    assert_carries_reason(handle.wait(), "group");
    pool.shutdown();
    assert_eq!(LOUD_COPIES_DROPPED.load(Ordering::SeqCst), before);
    // Executed again without the refusing member, the group copies and runs the other.
    let mut quiet = TaskGroup::new();
    quiet
        .add_task(Task::new(loud_copy_taken, (LoudCopies { copy: false },)))
        .unwrap();
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    assert_eq!(
        pool.execute_group(&quiet, Priority::High).wait().unwrap(),
        [1]
    );
}

/// Arguments that share a value (`Shared<T>`) beside one whose `Serialize` refuses: the per-run
/// copy lends the shared handle by reference, then fails.
#[derive(Debug, Serialize, Deserialize)]
struct SharedBeside {
    shared: taskpool::Shared<Gauge>,
    inner: Refuses,
}

/// A shared, read-only value.
#[taskpool::sendable]
#[derive(Debug)]
struct Gauge {
    pub value: u64,
}

#[concurrent]
fn shared_value(args: SharedBeside) -> u64 {
    args.shared.value
}

/// A per-run copy that fails after lending a `Shared` handle leaves no handle behind: the
/// value's handle count is what it was, and the task still runs by value, moving its
/// arguments. (A leaked handle would keep the shared value alive for good.)
#[test]
fn a_refused_copy_that_lent_a_shared_handle_leaves_none_behind() {
    use taskpool::Shared;
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let shared = Shared::new(Gauge { value: 41 });
    let task = Task::new(
        shared_value,
        (SharedBeside {
            shared: Shared::clone(&shared),
            inner: Refuses,
        },),
    );
    let before = Shared::handle_count(&shared);
    for _ in 0..3 {
        assert_carries_reason(pool.execute(&task).wait(), "per-run copy");
        assert_carries_reason(task.descriptor(), "descriptor");
    }
    assert_eq!(
        Shared::handle_count(&shared),
        before,
        "no handle left behind"
    );
    assert_eq!(pool.execute(task).wait().unwrap(), 41);
    assert_eq!(
        Shared::handle_count(&shared),
        before - 1,
        "the task's own is gone"
    );
    pool.shutdown();
}

// --- A user `Deserialize` that refuses with its own reason -----------------------------------

/// The reason [`Picky`] gives.
const PICKY: &str = "my reason: the reading is out of the sensor's range";

/// Reads a `u8` and refuses it with [`PICKY`]: a user `Deserialize` that validates.
#[derive(Debug)]
struct Picky;

impl<'de> Deserialize<'de> for Picky {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        u8::deserialize(deserializer)?;
        Err(serde::de::Error::custom(PICKY))
    }
}

/// Holds a [`Picky`] in a field, in a sequence and in an enum's variant, where derived code
/// hands the refusal up through the runtime's guard of each level.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
enum Reading {
    Field { id: u8, value: Picky },
    Listed(Vec<Picky>),
}

/// A variant index the enum [`Reading`] does not have: serde's own derived refusal.
#[derive(Debug, Serialize)]
enum Wider {
    #[allow(dead_code)]
    A,
    #[allow(dead_code)]
    B,
    C,
}

/// A user `Deserialize` that fails with `custom("…")` — and serde's own derived checks, which
/// build their errors the same way — give the caller a 10200006 error with that reason, in the
/// compact form as in JSON, from the top and from inside a struct variant, a sequence and a
/// task's arguments read from a descriptor. (`postcard` drops a custom error's message: the
/// compact form said only "Serde Deserialization Error".)
#[test]
fn a_refusing_user_deserialize_keeps_its_reason_in_both_forms() {
    for encoding in [Encoding::Postcard, Encoding::Json] {
        let what = |shape: &str| format!("{encoding:?}: {shape}");
        let decode = |reason: &str,
                      value: &dyn erased::Encode,
                      into: &dyn Fn(&Payload) -> Result<(), Error>,
                      shape: &str| {
            let error = into(&value.encode(encoding).unwrap()).expect_err(shape);
            assert_eq!(error.code(), Some(10200006), "{error:?}");
            assert!(
                error.to_string().contains(reason),
                "{}: the reason is lost: {error}",
                what(shape)
            );
        };
        decode(PICKY, &1u8, &|p| p.decode::<Picky>().map(drop), "top");
        #[derive(Serialize)]
        enum Shape {
            Field { id: u8, value: u8 },
            Listed(Vec<u8>),
        }
        let field = Shape::Field { id: 1, value: 2 };
        decode(
            PICKY,
            &field,
            &|p| p.decode::<Reading>().map(drop),
            "struct variant",
        );
        let listed = Shape::Listed(vec![3]);
        decode(
            PICKY,
            &listed,
            &|p| p.decode::<Reading>().map(drop),
            "sequence",
        );
        decode(
            "variant",
            &Wider::C,
            &|p| p.decode::<Reading>().map(drop),
            "unknown variant",
        );
    }
}

impl Serialize for Picky {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(0)
    }
}

/// Reads three elements: a [`Picky`] whose refusal it drops (going on with the next element),
/// a `u8`, then a `bool`, which the format may refuse with its own error.
#[derive(Debug)]
struct Forgiving;

impl<'de> Deserialize<'de> for Forgiving {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Elements;
        impl<'de> serde::de::Visitor<'de> for Elements {
            type Value = Forgiving;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("three elements")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Forgiving, A::Error> {
                let dropped = seq.next_element::<Picky>();
                assert!(dropped.is_err(), "the picky element refuses");
                seq.next_element::<u8>()?;
                seq.next_element::<bool>()?;
                Ok(Forgiving)
            }
        }
        deserializer.deserialize_tuple(3, Elements)
    }
}

/// A refusal that user code dropped before going on does not stand for a later error of the
/// format: the caller is told what failed (a byte that is no `bool`), not the dropped reason.
#[test]
fn a_dropped_refusal_does_not_explain_a_later_error() {
    let payload = Payload::encode(&(1u8, 2u8, 7u8), Encoding::Postcard).unwrap();
    let error = payload.decode::<Forgiving>().unwrap_err().to_string();
    assert!(!error.contains(PICKY), "a stale reason: {error}");
    assert!(error.contains("bool"), "{error}");
}

/// Takes a [`Picky`]: its arguments cannot be read back from a descriptor.
#[concurrent]
fn picky_arg(_picky: Picky) -> u32 {
    0
}

/// Takes what a [`Picky`] reads: the sender's side of [`picky_arg`], in another program.
#[concurrent]
fn picky_arg_sender(value: u8) -> u32 {
    u32::from(value)
}

/// The stable name of `function`.
fn name_of<F: taskpool::ConcurrentFunction>(_: F) -> &'static str {
    F::NAME
}

/// Arguments that a user `Deserialize` refuses, read from a descriptor built by another
/// program (the same function name, another argument type): the run fails with the reason.
#[test]
fn a_descriptor_whose_arguments_a_user_deserialize_refuses_reports_the_reason() {
    use taskpool::TaskDescriptor;
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let sent = Task::new(picky_arg_sender, (5,)).descriptor().unwrap();
    let mut descriptor = TaskDescriptor::from_bytes(&sent.to_bytes().unwrap()).unwrap();
    descriptor.function = name_of(picky_arg).to_owned();
    let error = pool.execute_descriptor(&descriptor).wait().unwrap_err();
    assert_eq!(error.code(), Some(10200006), "{error:?}");
    assert!(
        error.to_string().contains(PICKY),
        "the reason is lost: {error}"
    );
    pool.shutdown();
}

// --- `taskpool.cancel(group)` from inside one of its members -------------------------------

/// The handle of the group execution its first member cancels, handed to it by the test and
/// back.
static OWN_GROUP: std::sync::Mutex<Option<taskpool::GroupHandle<u32>>> =
    std::sync::Mutex::new(None);

/// What a member saw: the ArkTS codes of its two cancels (`None`: Ok) and `is_canceled()`
/// after them.
type Seen = (Option<u32>, Option<u32>, bool);

/// What the members saw, one entry per execution.
static OWN_GROUP_SEEN: std::sync::Mutex<Vec<Seen>> = std::sync::Mutex::new(Vec::new());

fn take_own_group() -> taskpool::GroupHandle<u32> {
    let mut taken = None;
    support::wait_until("the group's handle is handed over", || {
        taken = OWN_GROUP.lock().unwrap().take();
        taken.is_some()
    });
    taken.unwrap()
}

/// Cancels the group it runs in, twice, and notes what it saw.
#[concurrent]
fn cancel_own_group(value: u32) -> u32 {
    let group = take_own_group();
    let code = |result: taskpool::Result<()>| result.err().map(|error| error.code().unwrap_or(0));
    let (first, again) = (code(group.cancel()), code(group.cancel()));
    OWN_GROUP_SEEN
        .lock()
        .unwrap()
        .push((first, again, taskpool::is_canceled()));
    *OWN_GROUP.lock().unwrap() = Some(group);
    value
}

/// A member canceling its own group (ArkTS `taskpool.cancel(group)` from a task of the
/// group): the cancel succeeds, a second one is 10200018 (the execution is over), the member
/// then reads `is_canceled()` as true, the members that had not started never run, and the
/// group resolves as canceled. The group can be executed again, with the same outcome.
#[test]
fn a_member_canceling_its_own_group_ends_the_execution() {
    use taskpool::{Priority, TaskGroup};
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let mut group = TaskGroup::new();
    group.add(cancel_own_group, (1,)).unwrap();
    group.add(support::plain, (2,)).unwrap();
    group.add(support::plain, (3,)).unwrap();
    for round in 1..=2 {
        *OWN_GROUP.lock().unwrap() = Some(pool.execute_group(&group, Priority::High));
        support::wait_until("the member canceled its group", || {
            OWN_GROUP_SEEN.lock().unwrap().len() == round
        });
        let seen = OWN_GROUP_SEEN.lock().unwrap()[round - 1];
        assert_eq!(seen, (None, Some(10200018), true), "round {round}");
        let outcome = take_own_group().wait();
        assert!(
            matches!(outcome, Err(Error::Canceled { .. })),
            "round {round}: {outcome:?}"
        );
    }
    let counters = pool.info().counters;
    assert_eq!((counters.completed, counters.canceled), (0, 6));
    pool.shutdown();
}

// --- Results whose `Drop` panics, that nobody reads ------------------------------------------

/// Returns a value whose `Drop` panics.
#[concurrent]
fn make_bomb(id: u32) -> support::Bomb {
    support::Bomb(id)
}

/// The results no handle reads — a periodic task's ticks, and the runs of a delayed task, a
/// `SequenceRunner` and an `AsyncRunner` whose handles were dropped before they ended — are
/// dropped by the runtime, their panicking `Drop` contained: the ticks go on, and the pool
/// serves the next task.
#[test]
fn unread_results_whose_drop_panics_are_contained_on_every_composer() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use taskpool::Priority;
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(make_bomb, (97_101,));
    let ticks = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&ticks);
    task.on_execution_succeeded(move || {
        counted.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    let ticker = pool
        .execute_periodically(Duration::from_millis(1), task, Priority::High)
        .unwrap();
    support::wait_until("three ticks succeeded", || {
        ticks.load(Ordering::SeqCst) >= 3
    });
    ticker.cancel().unwrap();
    assert!(support::dropped(97_101), "a tick's result was dropped");
    // Held behind a gate so that each handle is dropped before its run ends.
    let gate = G + 1;
    let held = pool.run(support::hold, (gate,));
    drop(pool.execute_delayed(
        Duration::ZERO,
        Task::new(make_bomb, (97_102,)),
        Priority::Low,
    ));
    drop(
        pool.sequence_runner(Priority::Low)
            .execute(Task::new(make_bomb, (97_103,))),
    );
    let runner = pool.async_runner(1, 0).unwrap();
    drop(runner.execute(Task::new(make_bomb, (97_104,)), Priority::Low));
    support::open_gate(gate);
    assert_eq!(held.wait().unwrap(), gate);
    for id in [97_102, 97_103, 97_104] {
        support::wait_until("the unread result is dropped", || support::dropped(id));
    }
    assert_eq!(pool.run(support::plain, (9,)).wait().unwrap(), 9);
    pool.shutdown();
}
