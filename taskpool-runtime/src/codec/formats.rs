//! Writing and reading the two encodings with the rules applied: the checked serializer and the
//! capped buffer on the way out, the depth guard on the way in. Every failure becomes
//! [`Error::Serialization`] (10200006), saying which rule was broken when one was.

use serde::{Deserialize, Serialize};

use super::buffer::CappedBuf;
use super::checked_ser::{Checked, Rules};
use super::guarded_de::Guarded;
use super::rules::{Breach, Findings, Level, MAX_EMPTY_ELEMENTS, MAX_NESTING_DEPTH};
use crate::error::Error;

/// Encodes `value` as `postcard` bytes, at most `limit` of them.
pub(crate) fn to_bytes<T: Serialize + ?Sized>(value: &T, limit: usize) -> Result<Vec<u8>, Error> {
    contained(UserCode::Serialize, "the value", || {
        to_bytes_unguarded(value, limit)
    })
}

fn to_bytes_unguarded<T: Serialize + ?Sized>(value: &T, limit: usize) -> Result<Vec<u8>, Error> {
    let findings = Findings::default();
    let mut serializer = postcard::Serializer {
        output: CappedBuf::new(limit, &findings),
    };
    let rules = Rules::new(Level::top(&findings), false);
    if let Err(error) = value.serialize(Checked::new(&mut serializer, rules)) {
        return Err(encode_error(&findings, "the value", error));
    }
    let bytes = serializer.output.into_bytes();
    findings
        .check_elements(bytes.len())
        .map_err(|breach| encode_error(&findings, "the value", breach))?;
    Ok(bytes)
}

/// Encodes `value` as compact JSON text, at most `limit` bytes of it.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T, limit: usize) -> Result<String, Error> {
    contained(UserCode::Serialize, "the value as JSON", || {
        to_json_unguarded(value, limit)
    })
}

fn to_json_unguarded<T: Serialize + ?Sized>(value: &T, limit: usize) -> Result<String, Error> {
    let findings = Findings::default();
    let mut serializer = serde_json::Serializer::new(CappedBuf::new(limit, &findings));
    let rules = Rules::new(Level::top(&findings), true);
    if let Err(error) = value.serialize(Checked::new(&mut serializer, rules)) {
        return Err(encode_error(&findings, "the value as JSON", error));
    }
    let bytes = serializer.into_inner().into_bytes();
    findings
        .check_elements(bytes.len())
        .map_err(|breach| encode_error(&findings, "the value as JSON", breach))?;
    String::from_utf8(bytes).map_err(|error| encode_error(&findings, "the value as JSON", error))
}

/// Decodes a value from `postcard` bytes; bytes left over after it are an error.
pub(crate) fn from_bytes<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, Error> {
    contained(UserCode::Deserialize, "the bytes", || {
        from_bytes_unguarded(bytes)
    })
}

/// Decodes a value from the start of `postcard` bytes; bytes left over after it are ignored.
pub(crate) fn from_bytes_prefix<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, Error> {
    contained(UserCode::Deserialize, "the bytes", || {
        let findings = Findings::for_input(bytes.len());
        let mut deserializer = postcard::Deserializer::from_bytes(bytes);
        T::deserialize(Guarded::new(&mut deserializer, Level::top(&findings)))
            .map_err(|error| decode_error(&findings, "the bytes", error))
    })
}

fn from_bytes_unguarded<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, Error> {
    let findings = Findings::for_input(bytes.len());
    let mut deserializer = postcard::Deserializer::from_bytes(bytes);
    let value = T::deserialize(Guarded::new(&mut deserializer, Level::top(&findings)))
        .map_err(|error| decode_error(&findings, "the bytes", error))?;
    let rest = deserializer
        .finalize()
        .map_err(|error| decode_error(&findings, "the bytes", error))?;
    if !rest.is_empty() {
        return Err(Error::Serialization(format!(
            "{} unexpected bytes after the value; the data is corrupt or of another type",
            rest.len()
        )));
    }
    Ok(value)
}

/// Decodes a value from JSON text; anything but whitespace after it is an error.
pub(crate) fn from_json<'de, T: Deserialize<'de>>(text: &'de str) -> Result<T, Error> {
    contained(UserCode::Deserialize, "the JSON", || {
        from_json_unguarded(text)
    })
}

fn from_json_unguarded<'de, T: Deserialize<'de>>(text: &'de str) -> Result<T, Error> {
    let findings = Findings::for_input(text.len());
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = T::deserialize(Guarded::new(&mut deserializer, Level::top(&findings)))
        .map_err(|error| decode_error(&findings, "the JSON", error))?;
    deserializer
        .end()
        .map_err(|error| decode_error(&findings, "the JSON", error))?;
    Ok(value)
}

/// The user code an encode or a decode runs.
#[derive(Clone, Copy)]
enum UserCode {
    Serialize,
    Deserialize,
}

/// Runs an encode or a decode of `what`, turning a panic of the user's `Serialize` or
/// `Deserialize` into a 10200006 error. Encoding and decoding happen on the caller's thread
/// (`Task::descriptor`, `TaskDescriptor::from_bytes`, `Payload::decode`) and on the runtime's
/// (a periodic copy, a descriptor's result): a panicking impl — say one that validates with
/// `assert!`, fed bytes from another process — must fail the operation, not unwind into it.
fn contained<R>(
    code: UserCode,
    what: &str,
    body: impl FnOnce() -> Result<R, Error>,
) -> Result<R, Error> {
    // Whether `Shared` values go by handle in this call (see `sharing`), until it returns.
    let _call = super::sharing::codec_call();
    crate::panic::catch(body).unwrap_or_else(|payload| {
        let message = crate::panic::message(payload);
        Err(Error::Serialization(match code {
            UserCode::Serialize => {
                format!("could not encode {what}: a `Serialize` implementation panicked: {message}")
            }
            UserCode::Deserialize => format!(
                "could not decode {what}: a `Deserialize` implementation panicked: {message}"
            ),
        }))
    })
}

/// Why data over the cap `limit` was refused, and what to do. One text serves every encode, so
/// it names each cap and what sets it: the caller's context is not known here, and advice to
/// raise a setting that does not govern the data (a pool's cap for a per-run copy) would mislead.
pub(crate) fn over_cap_advice(limit: usize) -> String {
    format!(
        "is over the cap of {limit} bytes; pass large data as `Shared<T>`, or move it instead of copying it (execute the task by value, `post_message`); \
         the caps: a pool's descriptors and results, `TaskPoolBuilder::max_serialized_bytes`; a worker's serialized messages, `WorkerBuilder::max_serialized_bytes`; \
         `Task::descriptor` and the per-run copy of a re-executed task's arguments that are not `Clone`, {default} MiB (derive `Clone` for the arguments to copy them without serializing)",
        default = crate::codec::DEFAULT_MAX_SERIALIZED_BYTES >> 20
    )
}

/// The error for a failed encode of `what`: the broken rule if one was, else the format's error
/// (a [`Refusal`](super::refusal::Refusal) says the reason of a custom error).
fn encode_error(findings: &Findings, what: &str, error: impl std::fmt::Display) -> Error {
    Error::Serialization(match findings.first() {
        Some(Breach::TooDeep) => format!(
            "could not encode {what}: it nests deeper than {MAX_NESTING_DEPTH} levels (each struct, enum variant, tuple, sequence, map, newtype and `Some` is one), more than can be decoded safely; flatten the data or pass it as `Shared<T>`"
        ),
        Some(Breach::NonFinite(float)) => format!(
            "could not encode {what}: it holds the float {float}, which JSON cannot represent (it would be written as null and could not be read back); use `Encoding::Postcard`, or carry the value as a string"
        ),
        Some(Breach::OverCap(limit)) => format!("the serialized data {}", over_cap_advice(limit)),
        Some(Breach::TooManyElements) => format!(
            "could not encode {what}: its sequences and maps hold more zero-sized elements (such as `()`) than can be decoded safely (at most {MAX_EMPTY_ELEMENTS} beyond one per byte of the encoding); send their count instead"
        ),
        None => format!("could not encode {what}: {error}"),
    })
}

/// The error for a failed decode of `what`: the broken rule if one was, else the format's error
/// (a [`Refusal`](super::refusal::Refusal) says the reason of a custom error).
fn decode_error(findings: &Findings, what: &str, error: impl std::fmt::Display) -> Error {
    Error::Serialization(match findings.first() {
        Some(Breach::TooDeep) => format!(
            "could not decode {what}: the data nests deeper than {MAX_NESTING_DEPTH} levels, more than taskpool writes or reads (decoding it could overflow the stack); it is corrupt or hostile"
        ),
        Some(Breach::TooManyElements) => format!(
            "could not decode {what}: the data claims more elements than its bytes can hold (beyond {MAX_EMPTY_ELEMENTS} zero-sized ones), more than taskpool writes or reads; it is corrupt or hostile"
        ),
        _ => format!("could not decode {what} as the expected type: {error}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_and_truncated_bytes_are_errors() {
        let bytes = to_bytes(&(7u32, 8u32), usize::MAX).unwrap();
        assert!(from_bytes::<(u32, u32)>(&bytes[..1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(from_bytes::<(u32, u32)>(&longer).is_err());
        assert_eq!(from_bytes::<(u32, u32)>(&bytes).unwrap(), (7, 8));
    }

    #[test]
    fn trailing_json_is_an_error_but_whitespace_is_not() {
        assert_eq!(from_json::<u8>(" 7 \n").unwrap(), 7);
        assert!(from_json::<u8>("7 8").is_err());
    }

    /// Serializes and deserializes by panicking.
    #[derive(Debug)]
    struct Panics;

    impl Serialize for Panics {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            panic!("serialize boom")
        }
    }

    impl<'de> Deserialize<'de> for Panics {
        fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
            panic!("deserialize boom")
        }
    }

    #[test]
    fn a_panicking_user_impl_is_a_10200006_error_naming_it() {
        let error = to_bytes(&Panics, usize::MAX).unwrap_err();
        assert_eq!(error.code(), Some(10200006));
        assert!(
            error
                .to_string()
                .contains("`Serialize` implementation panicked: serialize boom")
        );
        assert!(to_json(&Panics, usize::MAX).is_err());
        let error = from_bytes::<Panics>(&[0]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("`Deserialize` implementation panicked: deserialize boom")
        );
        assert_eq!(from_json::<Panics>("0").unwrap_err().code(), Some(10200006));
    }

    #[test]
    fn an_oversized_value_stops_at_the_cap() {
        let error = to_json(&vec![1u8; 100], 10).unwrap_err();
        assert!(error.to_string().contains("over the cap of 10 bytes"));
        let error = to_bytes(&vec![1u8; 100], 10).unwrap_err();
        assert!(error.to_string().contains("over the cap of 10 bytes"));
    }
}
