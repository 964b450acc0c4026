//! Serde helpers for JSON text held as a `String`: written into JSON (and any human-readable
//! format) as the value itself, not as a string, and read back as its text. Keeps `Payload`'s
//! own serialized form what it was when the variant held a parsed value.
//!
//! Compact formats (`postcard`) get the text as a string: `RawValue` cannot be read back from
//! a format that does not describe itself, so a JSON payload inside a descriptor's bytes, a
//! worker message or a stored result would be written but never read.

use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// Writes `text` as the JSON value it holds, or as a string in a compact format.
pub(crate) fn serialize<S: Serializer>(text: &str, serializer: S) -> Result<S::Ok, S::Error> {
    // Parsing into a borrowed `RawValue` checks the text without copying or building it.
    let raw: &RawValue = serde_json::from_str(text).map_err(|error| {
        S::Error::custom(format_args!(
            "a `Payload::Json` does not hold one JSON value: {error}"
        ))
    })?;
    if serializer.is_human_readable() {
        raw.serialize(serializer)
    } else {
        serializer.serialize_str(raw.get())
    }
}

/// Reads a JSON value as its text; in a compact format, reads the string and checks that it
/// holds one JSON value, as the human-readable form checks it by parsing.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    if deserializer.is_human_readable() {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        return Ok(Box::<str>::from(raw).into_string());
    }
    let text = String::deserialize(deserializer)?;
    serde_json::from_str::<&RawValue>(&text)
        .map_err(|error| D::Error::custom(format_args!("not JSON text: {error}")))?;
    Ok(text)
}
