//! The error type the runtime's serde wrappers (`checked_ser`, `guarded_de`) give user code: the
//! format's error, with the reason of a custom error kept beside it.
//!
//! `postcard` drops the message of a custom error: its errors say only "Serde Serialization
//! Error" or "Serde Deserialization Error". A user `Serialize` or `Deserialize` that refuses with
//! `custom("…")` — or serde's own derived checks (an unknown variant, a missing field), which
//! build their errors the same way — would reach the caller without its reason in the compact
//! form. Where a wrapper must hand the format back its own error type, it notes the reason in
//! the `Findings` of the encode or decode ([`Level::settle`](super::rules::Level::settle)), and
//! attaches it again to the format's error on the way up
//! ([`Level::refusal`](super::rules::Level::refusal)), so that user code adding context to an
//! error, and the caller, see it.

use std::fmt;

use serde::{de, ser};

/// The format's error `E`, and the reason of the custom error it stands for, if any.
#[derive(Debug)]
pub(crate) struct Refusal<E> {
    inner: E,
    reason: Option<String>,
}

impl<E> Refusal<E> {
    /// `inner`, standing for the custom error that gave `reason` (if any).
    pub(crate) fn new(inner: E, reason: Option<String>) -> Refusal<E> {
        Refusal { inner, reason }
    }

    /// The format's error and the reason.
    pub(crate) fn into_parts(self) -> (E, Option<String>) {
        (self.inner, self.reason)
    }

    /// The custom error with `message`, in the format's error type and beside it.
    fn custom(message: impl fmt::Display, make: impl FnOnce(&str) -> E) -> Refusal<E> {
        let reason = message.to_string();
        Refusal::new(make(&reason), Some(reason))
    }
}

impl<E> From<E> for Refusal<E> {
    /// An error of the format itself, with no reason of its own to keep.
    fn from(inner: E) -> Refusal<E> {
        Refusal::new(inner, None)
    }
}

impl<E: fmt::Display> fmt::Display for Refusal<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The format's own text when it kept the reason (`serde_json` adds the position).
        let text = self.inner.to_string();
        match &self.reason {
            Some(reason) if !text.contains(reason.as_str()) => f.write_str(reason),
            _ => f.write_str(&text),
        }
    }
}

impl<E: std::error::Error> std::error::Error for Refusal<E> {}

impl<E: ser::Error> ser::Error for Refusal<E> {
    fn custom<T: fmt::Display>(message: T) -> Refusal<E> {
        Refusal::custom(message, |reason| E::custom(reason))
    }
}

impl<E: de::Error> de::Error for Refusal<E> {
    fn custom<T: fmt::Display>(message: T) -> Refusal<E> {
        Refusal::custom(message, |reason| E::custom(reason))
    }
}
