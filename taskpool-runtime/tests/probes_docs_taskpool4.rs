//! A fourth round of probes of the TaskPool API against `js-apis-taskpool.md` and
//! `errorcode-utils.md` (openharmony/docs), and against bad input and faults: behaviours the
//! other test files did not cover, and each defect found, with the test that failed before its
//! fix. Every wait is on a gate or a condition with a generous timeout.

mod support;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use taskpool::{Encoding, Error, Payload, Task, TaskPool, concurrent};

/// Gate ids of this file.
#[allow(dead_code)]
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
