//! `TaskDescriptor`: a task as data — function name, serialized arguments, name and priority —
//! in a compact binary form and a readable JSON form.
//!
//! A descriptor is what lets a task be logged, stored, or executed by another process of the same
//! program: the receiving side finds the function in its registry by name
//! ([`Task::from_descriptor`](crate::Task::from_descriptor)) and decodes the arguments. Decoding
//! never panics: unknown functions give 10200014, malformed or hostile input gives 10200006.

use serde::{Deserialize, Serialize};

use crate::codec::{DEFAULT_MAX_SERIALIZED_BYTES, Encoding, Payload};
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
#[derive(Debug, Clone, PartialEq)]
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

/// The compact wire form.
#[derive(Serialize, Deserialize)]
struct CompactForm {
    version: u16,
    function: String,
    name: Option<String>,
    priority: Priority,
    args: Vec<u8>,
}

/// The readable wire form.
#[derive(Serialize, Deserialize)]
struct ReadableForm {
    version: u16,
    function: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default)]
    priority: Priority,
    args: serde_json::Value,
}

impl TaskDescriptor {
    /// The compact binary form (`postcard`).
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let Payload::Postcard(args) = self.args_as(Encoding::Postcard)? else {
            unreachable!("args_as returns the requested encoding")
        };
        crate::codec::to_bytes(&CompactForm {
            version: DESCRIPTOR_FORMAT_VERSION,
            function: self.function.clone(),
            name: self.name.clone(),
            priority: self.priority,
            args,
        })
    }

    /// Reads the compact form, checking the version, that the function is registered in this
    /// program and that the arguments decode as its parameters.
    pub fn from_bytes(bytes: &[u8]) -> Result<TaskDescriptor, Error> {
        check_input_size(bytes.len())?;
        let form: CompactForm = crate::codec::from_bytes(bytes)?;
        TaskDescriptor::checked(
            form.version,
            form.function,
            form.name,
            form.priority,
            Payload::Postcard(form.args),
        )
    }

    /// The readable JSON form.
    pub fn to_json(&self) -> Result<String, Error> {
        let Payload::Json(args) = self.args_as(Encoding::Json)? else {
            unreachable!("args_as returns the requested encoding")
        };
        serde_json::to_string(&ReadableForm {
            version: DESCRIPTOR_FORMAT_VERSION,
            function: self.function.clone(),
            name: self.name.clone(),
            priority: self.priority,
            args,
        })
        .map_err(|e| Error::Serialization(format!("could not write the descriptor as JSON: {e}")))
    }

    /// Reads the JSON form, with the same checks as [`from_bytes`](TaskDescriptor::from_bytes).
    pub fn from_json(text: &str) -> Result<TaskDescriptor, Error> {
        check_input_size(text.len())?;
        let form: ReadableForm = serde_json::from_str(text).map_err(|e| {
            Error::Serialization(format!(
                "not a task descriptor in JSON ({e}); expected {{\"version\":1,\"function\":…,\"args\":[…]}}"
            ))
        })?;
        TaskDescriptor::checked(
            form.version,
            form.function,
            form.name,
            form.priority,
            Payload::Json(form.args),
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

    fn checked(
        version: u16,
        function: String,
        name: Option<String>,
        priority: Priority,
        args: Payload,
    ) -> Result<TaskDescriptor, Error> {
        if version != DESCRIPTOR_FORMAT_VERSION {
            return Err(Error::Serialization(format!(
                "descriptor format version {version} is not supported (this build reads version {DESCRIPTOR_FORMAT_VERSION}); produce it with the same version of taskpool"
            )));
        }
        let entry = registry::lookup(&function)?;
        // Decode once now, so bad arguments are reported here rather than at execution.
        entry.transcode_args(&args, args.encoding(), DEFAULT_MAX_SERIALIZED_BYTES)?;
        Ok(TaskDescriptor {
            function,
            name,
            priority,
            args,
        })
    }

    fn args_as(&self, encoding: Encoding) -> Result<Payload, Error> {
        if self.args.encoding() == encoding {
            return Ok(self.args.clone());
        }
        registry::lookup(&self.function)?.transcode_args(
            &self.args,
            encoding,
            DEFAULT_MAX_SERIALIZED_BYTES,
        )
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
