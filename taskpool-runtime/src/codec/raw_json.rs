//! Serde helpers for JSON text held as a `String`: written into JSON as the value itself (not as
//! a string), read back as its text. Keeps `Payload`'s own serialized form what it was when the
//! variant held a parsed value.

use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// Writes `text` as the JSON value it holds.
pub(crate) fn serialize<S: Serializer>(text: &str, serializer: S) -> Result<S::Ok, S::Error> {
    // Parsing into a borrowed `RawValue` checks the text without copying or building it.
    let raw: &RawValue = serde_json::from_str(text).map_err(S::Error::custom)?;
    raw.serialize(serializer)
}

/// Reads a JSON value as its text.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let raw = Box::<RawValue>::deserialize(deserializer)?;
    Ok(Box::<str>::from(raw).into_string())
}
