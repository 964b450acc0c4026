//! Serialized values: the two encodings, the size cap, and how values are copied per run.

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
/// assert_eq!(json.to_string(), r#"[1,"two"]"#);
/// assert_eq!(bytes.decode::<(u32, String)>().unwrap(), (1, "two".to_owned()));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Payload {
    /// `postcard` bytes.
    Postcard(Vec<u8>),
    /// A JSON value.
    Json(serde_json::Value),
}

impl Payload {
    /// Encodes `value`, refusing more than [`DEFAULT_MAX_SERIALIZED_BYTES`] (10200006).
    pub fn encode<T: Serialize + ?Sized>(value: &T, encoding: Encoding) -> Result<Payload, Error> {
        Payload::encode_capped(value, encoding, DEFAULT_MAX_SERIALIZED_BYTES)
    }

    /// Encodes `value`, refusing more than `limit` bytes (10200006).
    pub fn encode_capped<T: Serialize + ?Sized>(
        value: &T,
        encoding: Encoding,
        limit: usize,
    ) -> Result<Payload, Error> {
        let payload = match encoding {
            Encoding::Postcard => Payload::Postcard(to_bytes(value)?),
            Encoding::Json => Payload::Json(
                serde_json::to_value(value).map_err(|e| cannot("encode the value as JSON", e))?,
            ),
        };
        payload.check_size(limit)?;
        Ok(payload)
    }

    /// Decodes the value. Malformed, truncated or mistyped data gives 10200006, never a panic.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, Error> {
        match self {
            Payload::Postcard(bytes) => from_bytes(bytes),
            Payload::Json(value) => T::deserialize(value)
                .map_err(|e| cannot("decode the JSON value as the expected type", e)),
        }
    }

    /// The encoding of this payload.
    pub fn encoding(&self) -> Encoding {
        match self {
            Payload::Postcard(_) => Encoding::Postcard,
            Payload::Json(_) => Encoding::Json,
        }
    }

    /// The encoded size in bytes (for JSON, the length of its compact text).
    pub fn size(&self) -> usize {
        match self {
            Payload::Postcard(bytes) => bytes.len(),
            Payload::Json(value) => value.to_string().len(),
        }
    }

    /// Fails with 10200006 if the payload is larger than `limit` bytes.
    pub fn check_size(&self, limit: usize) -> Result<(), Error> {
        let size = self.size();
        if size > limit {
            return Err(Error::Serialization(format!(
                "the serialized data is {size} bytes, over the cap of {limit} bytes; pass large data as `Shared<T>` or raise the pool's `max_serialized_bytes`"
            )));
        }
        Ok(())
    }
}

impl std::fmt::Display for Payload {
    /// JSON payloads print as JSON; postcard payloads as their length and leading bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Payload::Json(value) => write!(f, "{value}"),
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

fn cannot(what: &str, error: impl std::fmt::Display) -> Error {
    Error::Serialization(format!("could not {what}: {error}"))
}

/// Encodes `value` in the compact form.
pub(crate) fn to_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    postcard::to_allocvec(value).map_err(|e| cannot("encode the value", e))
}

/// Decodes a value from the compact form; trailing bytes are an error.
pub(crate) fn from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let (value, rest) = postcard::take_from_bytes(bytes)
        .map_err(|e| cannot("decode the bytes as the expected type", e))?;
    if !rest.is_empty() {
        return Err(Error::Serialization(format!(
            "{} unexpected bytes after the value; the data is corrupt or of another type",
            rest.len()
        )));
    }
    Ok(value)
}

/// A fresh, independent copy of `value`, made by a serialization round trip within the cap.
pub(crate) fn deep_copy<T: Serialize + DeserializeOwned>(value: &T) -> Result<T, Error> {
    Payload::encode(value, Encoding::Postcard)?.decode()
}

/// Copies a task's arguments for one more run: by `Clone` where the arguments are `Clone` (a
/// `Shared<T>` then stays shared), by a serialization round trip otherwise. `#[concurrent]`
/// selects the strategy at the expansion site, where the argument types are concrete (autoref
/// specialization: the `&&Copier` receiver prefers `ViaClone` and falls back to `ViaSerde`).
/// The serde path is passed in as a function checked once, generically, in this crate, so a
/// type that is neither `Clone` nor serializable adds no error of its own here.
pub mod copy {
    use super::*;
    use crate::function::ConcurrentFunction;

    /// How to copy when `Clone` is not available.
    pub type Fallback<T> = fn(&T) -> Result<T, Error>;

    /// Wraps the arguments to copy.
    pub struct Copier<'a, T>(pub &'a T);

    /// Chosen when the arguments are `Clone`.
    pub trait ViaClone<T> {
        /// Clones the arguments.
        fn copy_args(&self, fallback: Fallback<T>) -> Result<T, Error>;
    }

    impl<T: Clone> ViaClone<T> for &Copier<'_, T> {
        fn copy_args(&self, _: Fallback<T>) -> Result<T, Error> {
            Ok(self.0.clone())
        }
    }

    /// Chosen otherwise.
    pub trait ViaSerde<T> {
        /// Copies the arguments with `fallback`.
        fn copy_args(&self, fallback: Fallback<T>) -> Result<T, Error>;
    }

    impl<T> ViaSerde<T> for Copier<'_, T> {
        fn copy_args(&self, fallback: Fallback<T>) -> Result<T, Error> {
            fallback(self.0)
        }
    }

    /// The serde fallback for the arguments of `F`.
    pub fn by_serialization<F: ConcurrentFunction>(args: &F::Args) -> Result<F::Args, Error> {
        deep_copy(args)
    }
}

#[cfg(test)]
mod tests {
    use super::copy::{Copier, ViaClone, ViaSerde};
    use super::*;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct NotClone(u8);

    #[test]
    // The double borrow is what selects the strategy.
    #[allow(clippy::needless_borrow)]
    fn clone_is_preferred_and_serde_is_the_fallback() {
        let shared = std::sync::Arc::new(5u8);
        let copied = (&&Copier(&(shared.clone(),)))
            .copy_args(|_| panic!("Clone is used"))
            .unwrap();
        assert!(
            std::sync::Arc::ptr_eq(&copied.0, &shared),
            "a Clone copy keeps sharing"
        );
        let copied = (&&Copier(&NotClone(3))).copy_args(deep_copy).unwrap();
        assert_eq!(copied, NotClone(3));
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
    fn trailing_and_truncated_bytes_are_errors() {
        let bytes = to_bytes(&(7u32, 8u32)).unwrap();
        assert!(from_bytes::<(u32, u32)>(&bytes[..1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(from_bytes::<(u32, u32)>(&longer).is_err());
        assert_eq!(from_bytes::<(u32, u32)>(&bytes).unwrap(), (7, 8));
    }

    #[test]
    fn a_value_json_cannot_hold_fails_cleanly() {
        let map: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert_eq!(
            Payload::encode(&map, Encoding::Json).unwrap_err().code(),
            Some(10200006)
        );
    }
}
