//! Serialized values: the two encodings, the size cap, the nesting limit, and how values are
//! copied per run.
//!
//! Encoding and decoding never panic or abort on bad data: every failure is a 10200006 error,
//! and so is a panic of the user's `Serialize` or `Deserialize` implementation.
//! Beyond what `postcard` and `serde_json` check themselves, the encoders refuse what the decoders
//! would refuse — values nested deeper than [`Payload::MAX_NESTING_DEPTH`], collections of more
//! zero-sized elements than [`Payload::MAX_EMPTY_ELEMENTS`], NaN and infinities in JSON, data
//! over the cap — so what can be written can be read back.

mod buffer;
mod checked_ser;
pub mod copy;
mod formats;
mod guarded_de;
mod raw_json;
mod refusal;
mod rules;
pub(crate) mod sharing;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The default cap on serialized data, as in ArkTS: 16 MiB.
pub const DEFAULT_MAX_SERIALIZED_BYTES: usize = 16 * 1024 * 1024;

/// How a [`Payload`] is encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Encoding {
    /// Compact binary (`postcard`): what processes exchange.
    #[default]
    Postcard,
    /// Readable JSON: what people log and inspect.
    Json,
}

/// A serialized value: task arguments or a task result, in one of the two encodings.
///
/// ```
/// use taskpool::{Encoding, Payload};
///
/// let bytes = Payload::encode(&(1u32, "two".to_owned()), Encoding::Postcard).unwrap();
/// let json = Payload::encode(&(1u32, "two".to_owned()), Encoding::Json).unwrap();
/// assert_eq!(json, Payload::Json(r#"[1,"two"]"#.to_owned()));
/// assert_eq!(bytes.decode::<(u32, String)>().unwrap(), (1, "two".to_owned()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Payload {
    /// `postcard` bytes.
    Postcard(Vec<u8>),
    /// JSON text. [`Payload::encode`] writes it compact; equality compares the text.
    ///
    /// Kept as text rather than a parsed `serde_json::Value`, which takes up to 16 times the
    /// size of the text in memory. A `Payload` serialized into JSON holds it as the JSON value
    /// itself; into a compact format (`postcard`), as a string, checked to be JSON when read.
    Json(#[serde(with = "raw_json")] String),
}

impl Payload {
    /// How deep a value may nest to be encoded or decoded: every struct, enum variant, tuple,
    /// sequence, map, newtype and `Some` is one level, the outermost value included (a tuple
    /// variant or struct variant is two: the variant and its fields). Deeper data is refused
    /// with 10200006 — when encoding, and when decoding, before the decoder's recursion can
    /// overflow the stack.
    ///
    /// ```
    /// use taskpool::{Encoding, Payload};
    ///
    /// // Each array is a level.
    /// let deepest = (0..Payload::MAX_NESTING_DEPTH).fold(serde_json::json!(0), |v, _| {
    ///     serde_json::json!([v])
    /// });
    /// assert!(Payload::encode(&deepest, Encoding::Json).is_ok());
    /// let error = Payload::encode(&[deepest], Encoding::Json).unwrap_err();
    /// assert_eq!(error.code(), Some(10200006));
    /// ```
    pub const MAX_NESTING_DEPTH: usize = rules::MAX_NESTING_DEPTH;

    /// How many elements of sequences and maps a value may hold beyond one per byte of its
    /// encoding: in effect, how many zero-sized elements (`()`, unit structs), which `postcard`
    /// writes as nothing. More is refused with 10200006, when encoding and when decoding — so a
    /// length prefix claiming 2^63 `()`s cannot keep a decoder busy for centuries.
    ///
    /// ```
    /// use taskpool::{Encoding, Payload};
    ///
    /// let units = vec![(); Payload::MAX_EMPTY_ELEMENTS];
    /// assert!(Payload::encode(&units, Encoding::Postcard).is_ok());
    /// let error = Payload::encode(&vec![(); 2 * Payload::MAX_EMPTY_ELEMENTS], Encoding::Postcard);
    /// assert_eq!(error.unwrap_err().code(), Some(10200006));
    /// ```
    pub const MAX_EMPTY_ELEMENTS: usize = rules::MAX_EMPTY_ELEMENTS;

    /// Encodes `value`, refusing more than [`DEFAULT_MAX_SERIALIZED_BYTES`] (10200006).
    pub fn encode<T: Serialize + ?Sized>(value: &T, encoding: Encoding) -> Result<Payload, Error> {
        Payload::encode_capped(value, encoding, DEFAULT_MAX_SERIALIZED_BYTES)
    }

    /// Encodes `value`, refusing more than `limit` bytes (10200006): encoding stops when it
    /// crosses the cap. Also refuses values nested deeper than [`Payload::MAX_NESTING_DEPTH`]
    /// and, in JSON, NaN and the infinities (which JSON would turn into `null`).
    pub fn encode_capped<T: Serialize + ?Sized>(
        value: &T,
        encoding: Encoding,
        limit: usize,
    ) -> Result<Payload, Error> {
        Ok(match encoding {
            Encoding::Postcard => Payload::Postcard(formats::to_bytes(value, limit)?),
            Encoding::Json => Payload::Json(formats::to_json(value, limit)?),
        })
    }

    /// Decodes the value. Malformed, truncated, mistyped or too deeply nested data gives
    /// 10200006, never a panic or a stack overflow; so does a `Deserialize` that panics.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, Error> {
        match self {
            Payload::Postcard(bytes) => formats::from_bytes(bytes),
            Payload::Json(text) => formats::from_json(text),
        }
    }

    /// The encoding of this payload.
    pub fn encoding(&self) -> Encoding {
        match self {
            Payload::Postcard(_) => Encoding::Postcard,
            Payload::Json(_) => Encoding::Json,
        }
    }

    /// The encoded size in bytes (for JSON, the length of its text).
    pub fn size(&self) -> usize {
        match self {
            Payload::Postcard(bytes) => bytes.len(),
            Payload::Json(text) => text.len(),
        }
    }

    /// Fails with 10200006 if the payload is larger than `limit` bytes.
    pub fn check_size(&self, limit: usize) -> Result<(), Error> {
        check_size(self.size(), limit)
    }
}

/// Fails with 10200006 if `size` serialized bytes are more than `limit`.
pub(crate) fn check_size(size: usize, limit: usize) -> Result<(), Error> {
    if size > limit {
        return Err(Error::Serialization(format!(
            "the serialized data is {size} bytes: it {}",
            formats::over_cap_advice(limit)
        )));
    }
    Ok(())
}

impl std::fmt::Display for Payload {
    /// JSON payloads print as their text; postcard payloads as their length and leading bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Payload::Json(text) => f.write_str(text),
            Payload::Postcard(bytes) => write!(
                f,
                "postcard[{} bytes: {:02x?}{}]",
                bytes.len(),
                &bytes[..bytes.len().min(16)],
                if bytes.len() > 16 { "…" } else { "" }
            ),
        }
    }
}

/// Encodes `value` in the compact form, within `limit` bytes and the nesting limit.
pub(crate) fn to_bytes<T: Serialize + ?Sized>(value: &T, limit: usize) -> Result<Vec<u8>, Error> {
    formats::to_bytes(value, limit)
}

/// Decodes a value from the compact form, borrowing from `bytes` where it can; trailing bytes
/// are an error.
pub(crate) fn from_bytes<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, Error> {
    formats::from_bytes(bytes)
}

/// Decodes a value from the start of compact bytes, ignoring any bytes after it.
pub(crate) fn from_bytes_prefix<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, Error> {
    formats::from_bytes_prefix(bytes)
}

/// Encodes `value` as compact JSON text, within `limit` bytes and the rules of [`Payload`].
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T, limit: usize) -> Result<String, Error> {
    formats::to_json(value, limit)
}

/// Decodes a value from JSON text, borrowing from `text` where it can.
pub(crate) fn from_json<'de, T: Deserialize<'de>>(text: &'de str) -> Result<T, Error> {
    formats::from_json(text)
}

/// `value` serialized for a receiver that decodes it as `T`, within `limit` bytes: in the compact
/// form, or in JSON when the compact form cannot be read back as `T` (`serde_json::Value`,
/// untagged enums, `#[serde(flatten)]` need a self-describing format). The check decodes the
/// compact form once on the sender.
pub(crate) fn encode_copy<T: Serialize + DeserializeOwned>(
    value: &T,
    limit: usize,
) -> Result<Payload, Error> {
    let compact = Payload::encode_capped(value, Encoding::Postcard, limit)?;
    if reads_back::<T>(&compact) {
        return Ok(compact);
    }
    match Payload::encode_capped(value, Encoding::Json, limit) {
        Ok(json) if reads_back::<T>(&json) => Ok(json),
        _ => Ok(compact),
    }
}

/// Whether `payload` decodes as `T`. The decoding is user code (a `Deserialize` impl) run on
/// the sender's thread: a panic there means "no", and the receiver reports the copy it cannot
/// read as it would any other.
pub(crate) fn reads_back<T: DeserializeOwned>(payload: &Payload) -> bool {
    crate::panic::catch(|| payload.decode::<T>().is_ok()).unwrap_or(false)
}

/// A fresh, independent copy of `value`, made by a serialization round trip within the cap:
/// through the compact form, or through JSON for values only a self-describing format can
/// read back (`serde_json::Value`, untagged enums, `#[serde(flatten)]`). If neither works, the
/// compact form's error is returned.
///
/// Every `Shared<T>` in the value stays shared: the copy holds another handle to the same
/// allocation (ArkTS passes a Sendable object by reference, also inside an argument that is
/// copied), and the shared value is neither serialized nor counted against the cap. Only a
/// value whose `Serialize` and `Deserialize` do not mirror each other around its `Shared`
/// handles is copied with them serialized, as a last resort (see `sharing`).
pub(crate) fn deep_copy<T: Serialize + DeserializeOwned>(value: &T) -> Result<T, Error> {
    let compact = round_trip(value, Encoding::Postcard);
    compact.or_else(|error| round_trip(value, Encoding::Json).map_err(|_| error))
}

/// `value` encoded in `encoding` and decoded again, its `Shared` handles kept by reference
/// when they can be.
fn round_trip<T: Serialize + DeserializeOwned>(value: &T, encoding: Encoding) -> Result<T, Error> {
    let copy = || Payload::encode(value, encoding).and_then(|payload| payload.decode());
    match sharing::keep_shared(copy)? {
        sharing::Kept::Copied(copy) => Ok(copy),
        sharing::Kept::Mismatch | sharing::Kept::Failed => copy(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serializes as a number; its `Deserialize` panics.
    struct PanicsWhenRead;

    impl Serialize for PanicsWhenRead {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_u8(7)
        }
    }

    impl<'de> Deserialize<'de> for PanicsWhenRead {
        fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
            panic!("a user Deserialize panicked")
        }
    }

    #[test]
    fn a_copy_checked_on_the_sender_contains_a_panicking_deserialize() {
        // The check runs the receiver's decoding on the sender's thread (a worker's
        // `post_message_serialized`): a panic there must not reach the caller.
        let payload = encode_copy(&PanicsWhenRead, usize::MAX).unwrap();
        assert_eq!(payload.encoding(), Encoding::Postcard);
    }

    #[test]
    fn data_over_the_cap_is_refused_with_10200006() {
        let big = vec![0u8; 1000];
        let error = Payload::encode_capped(&big, Encoding::Postcard, 999).unwrap_err();
        assert_eq!(error.code(), Some(10200006));
        assert!(error.to_string().contains("over the cap of 999 bytes"));
        assert!(Payload::encode_capped(&big, Encoding::Postcard, 1002).is_ok());
    }

    #[test]
    fn a_value_json_cannot_hold_fails_cleanly() {
        let map: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert_eq!(
            Payload::encode(&map, Encoding::Json).unwrap_err().code(),
            Some(10200006)
        );
    }

    #[test]
    fn a_json_payload_serializes_as_the_value_it_holds() {
        let payload = Payload::encode(&(1, "a"), Encoding::Json).unwrap();
        let text = serde_json::to_string(&payload).unwrap();
        assert_eq!(text, r#"{"Json":[1,"a"]}"#);
        assert_eq!(serde_json::from_str::<Payload>(&text).unwrap(), payload);
    }
}
