// A field serde reads and writes through the user's functions (`#[serde(with = "..")]`,
// `serialize_with`, `deserialize_with`, on the field or on its enum variant) need not have a serde
// impl of its own — a foreign type often has none — only be `Send + Sync`, as serde never calls
// its impl. It was asserted serializable ("`Millis` cannot be a field of a `#[sendable]` type").
use taskpool::__private::serde::{self, Deserialize};
use taskpool::{Encoding, Payload, Shared, sendable};

/// Thread-safe, but no serde impl (as a type of another crate).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Millis(pub u64);

mod as_u64 {
    use super::{Deserialize, Millis, serde};

    pub fn serialize<S: serde::Serializer>(
        value: &Millis,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(value.0)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Millis, D::Error> {
        u64::deserialize(deserializer).map(Millis)
    }
}

#[sendable]
#[derive(Debug, PartialEq)]
pub struct Timer {
    #[serde(with = "as_u64")]
    pub at: Millis,
    #[serde(
        serialize_with = "as_u64::serialize",
        deserialize_with = "as_u64::deserialize"
    )]
    pub every: Millis,
}

#[sendable]
#[derive(Debug, PartialEq)]
pub enum When {
    #[serde(with = "as_u64")]
    At(Millis),
    Never,
}

fn main() {
    let timer = Timer {
        at: Millis(5),
        every: Millis(7),
    };
    for encoding in [Encoding::Postcard, Encoding::Json] {
        let payload = Payload::encode(&timer, encoding).unwrap();
        assert_eq!(payload.decode::<Timer>().unwrap(), timer);
    }
    assert_eq!(
        Payload::encode(&timer, Encoding::Json).unwrap().to_string(),
        r#"{"at":5,"every":7}"#
    );
    let when = Payload::encode(&When::At(Millis(3)), Encoding::Json).unwrap();
    assert_eq!(when.decode::<When>().unwrap(), When::At(Millis(3)));
    let shared = Shared::new(timer);
    assert_eq!(shared.every, Millis(7));
}
