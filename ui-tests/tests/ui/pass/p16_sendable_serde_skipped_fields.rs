// A field serde skips is never serialized, so it need not be serializable: a field skipped
// both ways only has to be `Send + Sync` (and `Default`, which serde fills it with when
// deserializing); a field skipped one way only has to support the other direction.
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use taskpool::__private::serde;
use taskpool::{Encoding, Payload, Shared, sendable};

/// Thread-safe, `Default`, but not serializable.
#[derive(Default)]
pub struct Cache {
    pub hits: Mutex<Vec<u32>>,
}

/// Serializable one way only.
#[derive(Default)]
pub struct WriteOnly(pub u32);

impl serde::Serialize for WriteOnly {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.0)
    }
}

#[derive(Default)]
pub struct ReadOnly(pub u32);

impl<'de> serde::Deserialize<'de> for ReadOnly {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <u32 as serde::Deserialize>::deserialize(deserializer).map(ReadOnly)
    }
}

#[sendable]
pub struct Session {
    pub user: String,
    #[serde(skip)]
    pub cache: Cache,
    #[serde(skip_deserializing)]
    pub written: WriteOnly,
    #[serde(skip_serializing)]
    pub read: ReadOnly,
    #[serde(skip, default = "start")]
    pub counter: AtomicU64,
}

fn start() -> AtomicU64 {
    AtomicU64::new(7)
}

#[sendable]
pub struct Generic<T> {
    pub value: T,
    #[serde(skip)]
    pub cache: Cache,
}

#[sendable]
pub enum Event {
    Login {
        user: String,
        #[serde(skip)]
        cache: Cache,
    },
    #[serde(skip)]
    Local(Cache),
    Logout,
}

fn main() {
    let session = Session {
        user: "ada".into(),
        cache: Cache::default(),
        written: WriteOnly(3),
        read: ReadOnly(4),
        counter: AtomicU64::new(1),
    };
    session.cache.hits.lock().unwrap().push(1);
    let json = Payload::encode(&session, Encoding::Json).unwrap();
    assert_eq!(json, Payload::Json(r#"{"user":"ada","written":3}"#.to_owned()));
    let back: Session = Payload::Json(r#"{"user":"bob","read":5}"#.to_owned())
        .decode()
        .unwrap();
    assert_eq!(back.user, "bob");
    assert!(back.cache.hits.lock().unwrap().is_empty());
    assert_eq!(back.written.0, 0);
    assert_eq!(back.read.0, 5);
    assert_eq!(back.counter.load(Ordering::Relaxed), 7);
    let shared = Shared::new(back);
    assert_eq!(shared.user, "bob");

    let _ = Shared::new(Generic { value: 1u8, cache: Cache::default() });
    let login = Event::Login { user: "ada".into(), cache: Cache::default() };
    let json = Payload::encode(&login, Encoding::Json).unwrap();
    assert_eq!(json, Payload::Json(r#"{"Login":{"user":"ada"}}"#.to_owned()));
    let _ = Shared::new(Event::Logout);
    let _ = Shared::new(Event::Local(Cache::default()));
}
