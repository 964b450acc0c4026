//! The `Sendable` marker: types that are shared between threads by reference.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::function::Transferable;

/// A type marked `#[sendable]`: thread-safe, serializable, and meant to be shared by reference
/// with [`Shared<T>`](crate::Shared) instead of being copied (ArkTS `@Sendable`).
///
/// You do not implement it by hand: `#[taskpool::sendable]` checks every field and implements it.
/// [`AsyncLock<T>`](crate::AsyncLock) implements it too, so a lock can be shared on its own.
///
/// ```
/// use taskpool::{sendable, Sendable, Shared};
///
/// #[sendable]
/// #[derive(Debug)]
/// pub struct Config {
///     pub name: String,
///     pub retries: u32,
/// }
///
/// fn share<T: Sendable>(value: T) -> Shared<T> {
///     Shared::new(value)
/// }
/// let config = share(Config { name: "db".into(), retries: 3 });
/// assert_eq!(config.retries, 3);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `#[sendable]`",
    label = "not marked `#[sendable]`",
    note = "mark the type `#[taskpool::sendable]` to share it between threads by reference"
)]
pub trait Sendable: Transferable + Sync {}

/// What every field of a `#[sendable]` type must be: serializable and thread-safe.
///
/// Implemented for every `Transferable + Sync` type; `#[sendable]` asserts it for each field so
/// that a field of the wrong type is reported at the field, with this message. A field serde
/// skips is asserted [`SerializedField`], [`DeserializedField`] or [`SkippedField`] instead.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a field of a `#[sendable]` type",
    label = "not serializable and thread-safe",
    note = "every field of a `#[sendable]` type must be serializable and `Send + Sync`: use an owned value deriving `Serialize`/`Deserialize`, another `#[sendable]` type, an atomic, or an `AsyncLock<T>`"
)]
pub trait SendableField: Transferable + Sync {}

impl<T: Transferable + Sync> SendableField for T {}

/// What a field marked `#[serde(skip_deserializing)]` of a `#[sendable]` type must be:
/// serializable and thread-safe (serde fills it with `Default` when deserializing, and says so
/// itself if the type has none).
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a field of a `#[sendable]` type",
    label = "not serializable and thread-safe",
    note = "a field marked `#[serde(skip_deserializing)]` (or `deserialize_with`) is still serialized and shared between threads: it must be `Serialize` and `Send + Sync`"
)]
pub trait SerializedField: Serialize + Send + Sync {}

impl<T: Serialize + Send + Sync> SerializedField for T {}

/// What a field marked `#[serde(skip_serializing)]` of a `#[sendable]` type must be:
/// deserializable and thread-safe.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a field of a `#[sendable]` type",
    label = "not deserializable and thread-safe",
    note = "a field marked `#[serde(skip_serializing)]` (or `serialize_with`) is still deserialized and shared between threads: it must be `Deserialize` and `Send + Sync`"
)]
pub trait DeserializedField: DeserializeOwned + Send + Sync {}

impl<T: DeserializeOwned + Send + Sync> DeserializedField for T {}

/// What a field marked `#[serde(skip)]` of a `#[sendable]` type must be: thread-safe only, since
/// serde never serializes it (and fills it with `Default` when deserializing).
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a field of a `#[sendable]` type",
    label = "not thread-safe",
    note = "a field marked `#[serde(skip)]` (or `with`) is not serialized by its own type, but it is still shared between threads: it must be `Send + Sync` (use an atomic, a `Mutex`, an `AsyncLock<T>` or an `Arc`)"
)]
pub trait SkippedField: Send + Sync {}

impl<T: Send + Sync> SkippedField for T {}
