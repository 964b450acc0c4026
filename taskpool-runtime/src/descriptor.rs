//! `TaskDescriptor`: a task as data — function name, serialized arguments, name and priority —
//! in a compact binary form and a readable JSON form.
//!
//! A descriptor is what lets a task be logged, stored, or executed by another process of the same
//! program: the receiving side finds the function in its registry by name
//! ([`Task::from_descriptor`](crate::Task::from_descriptor)) and decodes the arguments. Decoding
//! never panics: unknown functions give 10200014, malformed or hostile input gives 10200006.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::codec::{self, DEFAULT_MAX_SERIALIZED_BYTES, Encoding, Payload};
use crate::error::Error;
use crate::function::ConcurrentFunction;
use crate::priority::Priority;
use crate::registry;
use crate::task::Task;

/// The version of the descriptor wire format; a reader refuses any other.
pub const DESCRIPTOR_FORMAT_VERSION: u16 = 1;

/// A task as data. Build one with [`Task::descriptor`](crate::Task::descriptor); run one with
/// [`TaskPool::execute_descriptor`](crate::TaskPool::execute_descriptor).
///
/// ```
/// use taskpool::{concurrent, Task, TaskDescriptor};
///
/// #[concurrent]
/// fn greet(name: String) -> String {
///     format!("hello, {name}")
/// }
///
/// let descriptor = Task::new(greet, ("ada".to_owned(),)).with_name("hi").descriptor().unwrap();
/// assert!(descriptor.function.ends_with("::greet"));
/// let bytes = descriptor.to_bytes().unwrap();
/// assert_eq!(TaskDescriptor::from_bytes(&bytes).unwrap(), descriptor);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDescriptor {
    /// The stable name of the `#[concurrent]` function (module path and function name).
    pub function: String,
    /// The task's name, if any.
    pub name: Option<String>,
    /// The lane the task runs in.
    pub priority: Priority,
    /// The arguments, as a serialized tuple.
    pub args: Payload,
}

/// The compact wire form. It borrows from the descriptor it is written from and from the bytes
/// it is read from, so the arguments — the bulk of it — are copied once, into the descriptor.
#[derive(Serialize, Deserialize)]
struct CompactForm<'a> {
    version: u16,
    #[serde(borrow)]
    function: Cow<'a, str>,
    name: Option<Cow<'a, str>>,
    priority: Priority,
    #[serde(borrow, with = "byte_slice")]
    args: &'a [u8],
}

/// The readable wire form. The arguments are embedded as JSON and read back as their text,
/// never parsed into a `serde_json::Value` (which takes up to 16 times the text's size).
#[derive(Serialize, Deserialize)]
struct ReadableForm<'a> {
    version: u16,
    #[serde(borrow)]
    function: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<Cow<'a, str>>,
    #[serde(default)]
    priority: Priority,
    #[serde(borrow)]
    args: &'a RawValue,
}

/// A byte slice as `postcard` writes a `Vec<u8>` (a length, then the bytes), so the wire form is
/// unchanged, but copied in one piece instead of byte by byte.
mod byte_slice {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        bytes: &&[u8],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<&'de [u8], D::Error> {
        <&[u8]>::deserialize(deserializer)
    }
}

impl TaskDescriptor {
    /// The compact binary form (`postcard`). Fails with 10200006 if it would exceed
    /// [`DEFAULT_MAX_SERIALIZED_BYTES`], which [`from_bytes`](TaskDescriptor::from_bytes) refuses.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let args = self.args_as(Encoding::Postcard)?;
        let Payload::Postcard(args) = args.as_ref() else {
            unreachable!("args_as returns the requested encoding")
        };
        let form = CompactForm {
            version: DESCRIPTOR_FORMAT_VERSION,
            function: Cow::Borrowed(&self.function),
            name: self.name.as_deref().map(Cow::Borrowed),
            priority: self.priority,
            args,
        };
        codec::to_bytes(&form, DEFAULT_MAX_SERIALIZED_BYTES)
    }

    /// Reads the compact form, checking the version, that the function is registered in this
    /// program and that the arguments decode as its parameters.
    pub fn from_bytes(bytes: &[u8]) -> Result<TaskDescriptor, Error> {
        check_input_size(bytes.len())?;
        let form: CompactForm<'_> = codec::from_bytes(bytes).map_err(|error| {
            // Another version may lay out what follows the version otherwise: say so rather
            // than call its descriptor corrupt.
            match codec::from_bytes_prefix::<u16>(bytes) {
                Ok(version) => another_version(version, error),
                Err(_) => error,
            }
        })?;
        TaskDescriptor::checked(
            form.version,
            form.function.into_owned(),
            form.name.map(Cow::into_owned),
            form.priority,
            || Payload::Postcard(form.args.to_vec()),
        )
    }

    /// The readable JSON form. Fails with 10200006 if it would exceed
    /// [`DEFAULT_MAX_SERIALIZED_BYTES`], which [`from_json`](TaskDescriptor::from_json) refuses.
    pub fn to_json(&self) -> Result<String, Error> {
        let args = self.args_as(Encoding::Json)?;
        let Payload::Json(args) = args.as_ref() else {
            unreachable!("args_as returns the requested encoding")
        };
        let form = ReadableForm {
            version: DESCRIPTOR_FORMAT_VERSION,
            function: Cow::Borrowed(&self.function),
            name: self.name.as_deref().map(Cow::Borrowed),
            priority: self.priority,
            // Checks the text is one JSON value, without copying or parsing it into a tree.
            args: codec::from_json(args)?,
        };
        codec::to_json(&form, DEFAULT_MAX_SERIALIZED_BYTES)
    }

    /// Reads the JSON form, with the same checks as [`from_bytes`](TaskDescriptor::from_bytes).
    /// The arguments are kept as the text they were given in.
    pub fn from_json(text: &str) -> Result<TaskDescriptor, Error> {
        check_input_size(text.len())?;
        let form: ReadableForm<'_> = codec::from_json(text).map_err(|error| {
            let version = codec::from_json::<VersionOnly>(text).ok();
            match version {
                Some(VersionOnly { version }) => another_version(version, not_a_descriptor(error)),
                None => not_a_descriptor(error),
            }
        })?;
        TaskDescriptor::checked(
            form.version,
            form.function.into_owned(),
            form.name.map(Cow::into_owned),
            form.priority,
            || Payload::Json(form.args.get().to_owned()),
        )
    }

    /// Rebuilds the typed task, for a caller that knows the function: checks that the
    /// descriptor names `function` and decodes the arguments as its parameters.
    ///
    /// ```
    /// use taskpool::{concurrent, Task, TaskDescriptor, TaskPool};
    ///
    /// #[concurrent]
    /// fn add(a: i32, b: i32) -> i32 {
    ///     a + b
    /// }
    ///
    /// let json = Task::new(add, (2, 3)).descriptor().unwrap().to_json().unwrap();
    /// let task = TaskDescriptor::from_json(&json).unwrap().into_task(add).unwrap();
    /// assert_eq!(TaskPool::global().execute(task).wait().unwrap(), 5);
    /// ```
    pub fn into_task<F: ConcurrentFunction>(self, function: F) -> Result<Task<F::Output>, Error> {
        if self.function != F::NAME {
            return Err(Error::Serialization(format!(
                "the descriptor is for `{}`, not `{}`; rebuild it with the function it names",
                self.function,
                F::NAME
            )));
        }
        let task = Task::new(function, self.args.decode()?).with_priority(self.priority);
        Ok(match self.name {
            Some(name) => task.with_name(name),
            None => task,
        })
    }

    /// Decodes a result this descriptor's execution produced.
    pub fn decode_result<T: serde::de::DeserializeOwned>(result: &Payload) -> Result<T, Error> {
        result.decode()
    }

    /// Builds the descriptor once its version, function and arguments are checked; `args` is
    /// only copied out of the input once the cheap checks pass.
    fn checked(
        version: u16,
        function: String,
        name: Option<String>,
        priority: Priority,
        args: impl FnOnce() -> Payload,
    ) -> Result<TaskDescriptor, Error> {
        if version != DESCRIPTOR_FORMAT_VERSION {
            return Err(unsupported_version(version));
        }
        let entry = registry::lookup(&function)?;
        let args = args();
        // Decode once now, so bad arguments are reported here rather than at execution. The
        // call this prepares is dropped unrun — quietly: it holds the decoded arguments, user
        // values whose `Drop` may panic, which the caller never sees. The arguments are kept as
        // they came, since re-encoding them would hold a second copy at the peak.
        crate::panic::drop_quietly(entry.call(&args, DEFAULT_MAX_SERIALIZED_BYTES)?);
        Ok(TaskDescriptor {
            function,
            name,
            priority,
            args,
        })
    }

    /// The arguments in `encoding`: borrowed when they are in it already.
    fn args_as(&self, encoding: Encoding) -> Result<Cow<'_, Payload>, Error> {
        if self.args.encoding() == encoding {
            return Ok(Cow::Borrowed(&self.args));
        }
        let entry = registry::lookup(&self.function)?;
        let args = entry.transcode_args(&self.args, encoding, DEFAULT_MAX_SERIALIZED_BYTES)?;
        Ok(Cow::Owned(args))
    }
}

/// The readable form's version alone, to name it when the rest does not read as this
/// version's layout (unknown fields are ignored).
#[derive(Deserialize)]
struct VersionOnly {
    version: u16,
}

/// The error for a descriptor of format `version`, which this build does not read.
fn unsupported_version(version: u16) -> Error {
    Error::Serialization(format!(
        "descriptor format version {version} is not supported (this build reads version {DESCRIPTOR_FORMAT_VERSION}); produce it with the same version of taskpool"
    ))
}

/// `error`, a descriptor that failed to read, or the version it declares if this build does
/// not read that version (its layout may differ from this version's).
fn another_version(version: u16, error: Error) -> Error {
    if version == DESCRIPTOR_FORMAT_VERSION {
        error
    } else {
        unsupported_version(version)
    }
}

/// Says that JSON which failed to read as the readable form is not a descriptor.
fn not_a_descriptor(error: Error) -> Error {
    match error {
        Error::Serialization(reason) => Error::Serialization(format!(
            "not a task descriptor in JSON ({reason}); expected {{\"version\":1,\"function\":…,\"args\":[…]}}"
        )),
        other => other,
    }
}

fn check_input_size(len: usize) -> Result<(), Error> {
    if len > DEFAULT_MAX_SERIALIZED_BYTES {
        return Err(Error::Serialization(format!(
            "the descriptor is {len} bytes, over the cap of {DEFAULT_MAX_SERIALIZED_BYTES} bytes"
        )));
    }
    Ok(())
}
