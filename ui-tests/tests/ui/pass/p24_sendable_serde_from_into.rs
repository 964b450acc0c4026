// A `#[sendable]` type serde converts through another type (`#[serde(into = "..")]` to write it,
// `from` or `try_from` to read it) is never serialized field by field there, so its fields need
// no serde impl of their own in that direction, only `Send + Sync`. They were asserted
// serializable ("`Millis` cannot be a field of a `#[sendable]` type").
use taskpool::{Encoding, Payload, Shared, sendable};

/// Thread-safe, but no serde impl (as a type of another crate).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Millis(pub u64);

#[sendable]
#[serde(from = "u64", into = "u64")]
#[derive(Debug, Clone, PartialEq)]
pub struct Stamp {
    at: Millis,
}

impl From<u64> for Stamp {
    fn from(millis: u64) -> Stamp {
        Stamp { at: Millis(millis) }
    }
}

impl From<Stamp> for u64 {
    fn from(stamp: Stamp) -> u64 {
        stamp.at.0
    }
}

#[sendable]
#[serde(try_from = "String")]
#[derive(Debug, PartialEq)]
pub struct Parsed {
    text: String,
    // Never written (skipped), never read field by field (`try_from`).
    #[serde(skip_serializing)]
    at: Millis,
}

impl TryFrom<String> for Parsed {
    type Error = std::num::ParseIntError;

    fn try_from(text: String) -> Result<Parsed, Self::Error> {
        let at = Millis(text.parse()?);
        Ok(Parsed { text, at })
    }
}

fn main() {
    let stamp = Stamp { at: Millis(4) };
    for encoding in [Encoding::Postcard, Encoding::Json] {
        let payload = Payload::encode(&stamp, encoding).unwrap();
        assert_eq!(payload.decode::<Stamp>().unwrap(), stamp);
    }
    assert_eq!(
        Payload::encode(&stamp, Encoding::Json).unwrap().to_string(),
        "4"
    );
    let parsed = Payload::encode("12", Encoding::Json)
        .unwrap()
        .decode::<Parsed>()
        .unwrap();
    assert_eq!(parsed.at, Millis(12));
    assert!(
        Payload::encode("x", Encoding::Json)
            .unwrap()
            .decode::<Parsed>()
            .is_err()
    );
    let shared = Shared::new(stamp);
    assert_eq!(shared.at, Millis(4));
}
