//! Serialization of task arguments and results: the compact wire form and the size cap.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Error;

/// The default cap on serialized data, as in ArkTS: 16 MiB.
pub const DEFAULT_MAX_SERIALIZED_BYTES: usize = 16 * 1024 * 1024;

/// Encodes `value` in the compact form.
pub(crate) fn to_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    postcard::to_allocvec(value).map_err(|error| Error::Serialization(error.to_string()))
}

/// Decodes a value from the compact form.
pub(crate) fn from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    postcard::from_bytes(bytes).map_err(|error| Error::Serialization(error.to_string()))
}

/// A fresh, independent copy of `value`, made by a serialization round trip.
pub(crate) fn deep_copy<T: Serialize + DeserializeOwned>(value: &T) -> Result<T, Error> {
    from_bytes(&to_bytes(value)?)
}
