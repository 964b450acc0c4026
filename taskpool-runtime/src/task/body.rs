//! A task's function bound to its arguments, and how each run gets its call from them.
//!
//! A run by value takes the arguments: nothing is copied. A run by reference (`execute(&task)`,
//! a group's member, a periodic tick) copies them when it starts, on the pool thread that
//! executes it, not on the thread that submits it: the copy runs user code (`Clone`,
//! `Serialize`) whose depth follows the value's, and a pool thread has the pool's stack (16 MiB
//! by default) where a submitting thread may have 2 MiB; a value nested 100 000 deep that a task
//! may own must not abort the process for where it was submitted from. The first run by
//! reference therefore moves the body behind a shared lock, which the task and its runs that
//! have not copied the arguments yet hold; a task only ever executed by value keeps its body to
//! itself, and its one run takes it without an allocation, lock or atomic operation more.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, PoisonError};

use crate::codec::{Encoding, Payload};
use crate::error::Error;
use crate::function::{ConcurrentFunction, Invocation};
use crate::registry::FunctionEntry;
use crate::task::{Call, TaskId};

/// A function bound to its arguments, seen without its type.
pub(super) trait Body<T>: Send {
    /// The call for a run by value: the arguments move in, nothing is copied.
    fn into_call(self: Box<Self>) -> Call<T>;
    /// A call with a fresh copy of the arguments, for a task that runs several times.
    fn copy_call(&self) -> Result<Call<T>, Error>;
    /// The arguments, serialized for a descriptor.
    fn encode_args(&self, encoding: Encoding) -> Result<Payload, Error>;
    /// The size of the serialized arguments the body was built from, if it was (a task rebuilt
    /// from a descriptor): what a pool's `max_serialized_bytes` caps.
    fn serialized_size(&self) -> Option<usize> {
        None
    }
}

/// A typed function bound to its arguments.
pub(super) struct Bound<F: ConcurrentFunction> {
    pub(super) args: F::Args,
}

impl<F: ConcurrentFunction> Body<F::Output> for Bound<F> {
    fn into_call(self: Box<Self>) -> Call<F::Output> {
        let args = self.args;
        Box::new(move || F::invoke(args))
    }

    fn copy_call(&self) -> Result<Call<F::Output>, Error> {
        let args = F::copy_args(&self.args)?;
        Ok(Box::new(move || F::invoke(args)))
    }

    fn encode_args(&self, encoding: Encoding) -> Result<Payload, Error> {
        let payload = Payload::encode(&self.args, encoding)?;
        // Refused here, rather than written and then refused by every reader.
        if crate::codec::reads_back::<F::Args>(&payload) {
            return Ok(payload);
        }
        Err(Error::Serialization(format!(
            "the arguments of `{}` do not read back from the {encoding:?} form a descriptor \
                 carries (types only a self-describing format reads back, such as \
                 `serde_json::Value`, untagged enums or `#[serde(flatten)]`, cannot be put in \
                 a descriptor); execute the task in process, or give it arguments of a type \
                 that form reads back",
            F::NAME
        )))
    }
}

/// A registered function bound to serialized arguments (a task rebuilt from a descriptor).
pub(super) struct Encoded {
    pub(super) entry: &'static FunctionEntry,
    pub(super) args: Payload,
    pub(super) limit: usize,
    /// The arguments decoded when the task was built, for its first run.
    pub(super) decoded: Option<Call<Payload>>,
}

impl Drop for Encoded {
    /// The arguments decoded for a first run that never came: user values the caller never
    /// held, so a panic in their `Drop` is not the caller's to receive.
    fn drop(&mut self) {
        crate::panic::drop_quietly(self.decoded.take());
    }
}

impl Body<Payload> for Encoded {
    fn into_call(mut self: Box<Self>) -> Call<Payload> {
        match self.decoded.take() {
            Some(call) => call,
            None => self
                .copy_call()
                .unwrap_or_else(|error| Box::new(move || Invocation::Ready(Err(error)))),
        }
    }

    fn copy_call(&self) -> Result<Call<Payload>, Error> {
        self.entry.call(&self.args, self.limit)
    }

    fn encode_args(&self, encoding: Encoding) -> Result<Payload, Error> {
        if self.args.encoding() == encoding {
            return Ok(self.args.clone());
        }
        self.entry.transcode_args(&self.args, encoding, self.limit)
    }

    fn serialized_size(&self) -> Option<usize> {
        Some(self.args.size())
    }
}

/// The body left where a run by value took the arguments (a zero-sized box: no allocation).
struct Spent;

impl<T> Body<T> for Spent {
    fn into_call(self: Box<Self>) -> Call<T> {
        Box::new(|| Invocation::Ready(Err(Error::PoolShutDown)))
    }

    fn copy_call(&self) -> Result<Call<T>, Error> {
        Err(Error::PoolShutDown)
    }

    fn encode_args(&self, _encoding: Encoding) -> Result<Payload, Error> {
        Err(Error::PoolShutDown)
    }
}

/// A body shared by a task and its runs by reference that have not started. The lock is for
/// the copy such a run makes on its pool thread while the task's owner may encode a descriptor.
type Shared<T> = Arc<Mutex<Box<dyn Body<T>>>>;

/// Where a task keeps its body.
enum Slot<T> {
    /// Its own: no run by reference was made of it.
    Owned(Box<dyn Body<T>>),
    /// Shared with its runs by reference.
    Shared(Shared<T>),
}

/// A task's body. In a `RefCell` because a run by reference, made from `&Task`, may share it;
/// a `Task` is not `Sync`, and no borrow is held while user code runs, so none ever clashes.
pub(super) struct TaskBody<T> {
    slot: RefCell<Slot<T>>,
    /// See [`Body::serialized_size`]: kept aside, so that a submission never waits for the
    /// lock that a run's copy (user code, which may block) holds.
    serialized_size: Option<usize>,
}

impl<T> TaskBody<T> {
    pub(super) fn new(body: Box<dyn Body<T>>) -> TaskBody<T> {
        TaskBody {
            serialized_size: body.serialized_size(),
            slot: RefCell::new(Slot::Owned(body)),
        }
    }

    /// The body, shared (from now on, if it was not yet).
    fn shared(&self) -> Shared<T> {
        let mut slot = self.slot.borrow_mut();
        match &mut *slot {
            Slot::Shared(shared) => Arc::clone(shared),
            Slot::Owned(body) => {
                let body = std::mem::replace(body, Box::new(Spent));
                let shared = Arc::new(Mutex::new(body));
                *slot = Slot::Shared(Arc::clone(&shared));
                shared
            }
        }
    }

    /// See [`Body::serialized_size`].
    pub(super) fn serialized_size(&self) -> Option<usize> {
        self.serialized_size
    }

    /// The arguments, serialized for a descriptor (from the shared body, so that no borrow of
    /// the task is held while the user's `Serialize` runs).
    pub(super) fn encode_args(&self, encoding: Encoding) -> Result<Payload, Error> {
        lock(&self.shared()).encode_args(encoding)
    }
}

impl<T: 'static> TaskBody<T> {
    /// The call of a run by value of task `task`: the arguments themselves, unless a run by
    /// reference still has to copy them (it was queued and has not started); then this run
    /// copies them too, when it starts.
    pub(super) fn take_call(&mut self, task: TaskId) -> Call<T> {
        let body = match self.slot.get_mut() {
            Slot::Owned(body) => body,
            Slot::Shared(shared) => match Arc::get_mut(shared) {
                Some(body) => body.get_mut().unwrap_or_else(PoisonError::into_inner),
                None => return copied_at_start(Arc::clone(shared), task),
            },
        };
        std::mem::replace(body, Box::new(Spent)).into_call()
    }

    /// The call of a run by reference of task `task`: it copies the arguments when it starts.
    pub(super) fn copied_at_start(&self, task: TaskId) -> Call<T> {
        copied_at_start(self.shared(), task)
    }
}

fn lock<T>(shared: &Shared<T>) -> std::sync::MutexGuard<'_, Box<dyn Body<T>>> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A call that copies the arguments of `body` when it is made, then lets the body go (the task
/// may be gone by then: the last of its arguments end on the pool thread). A copy that fails or
/// panics fails the run, and leaves the arguments as they were (a copy only reads them).
fn copied_at_start<T: 'static>(body: Shared<T>, task: TaskId) -> Call<T> {
    Box::new(move || {
        let copied = crate::panic::catch(|| lock(&body).copy_call()).unwrap_or_else(|payload| {
            Err(Error::Panicked {
                task,
                message: crate::panic::message(payload),
            })
        });
        drop(body);
        match copied {
            Ok(call) => call(),
            Err(error) => Invocation::Ready(Err(error)),
        }
    })
}

#[cfg(all(test, not(taskpool_loom)))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::function::Invocation;
    use crate::task::{Executable, Task};

    /// The clones made of each test's [`Counted`].
    static CLONES: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];

    /// Counts its clones in `CLONES[self.0]`.
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Counted(usize);

    impl Clone for Counted {
        fn clone(&self) -> Counted {
            CLONES[self.0].fetch_add(1, Ordering::SeqCst);
            Counted(self.0)
        }
    }

    /// How many clones of its argument were made when it ran.
    #[crate::concurrent]
    fn counted(value: Counted) -> usize {
        CLONES[value.0].load(Ordering::SeqCst)
    }

    fn outcome(invocation: Invocation<usize>) -> usize {
        match invocation {
            Invocation::Ready(outcome) => outcome.unwrap(),
            Invocation::Pending(_) => unreachable!("a synchronous function"),
        }
    }

    /// A run by reference copies nothing until it starts; a run by value of a task nobody
    /// shares takes the arguments without a copy.
    #[test]
    fn a_run_by_reference_copies_when_it_starts_and_a_run_by_value_moves() {
        let task = Task::new(counted, (Counted(0),));
        let by_reference = (&task).into_submission();
        assert_eq!(CLONES[0].load(Ordering::SeqCst), 0, "copied at submission");
        assert_eq!(outcome((by_reference.call)()), 1, "copied as it started");
        let by_value = task.into_submission();
        assert_eq!(outcome((by_value.call)()), 1, "moved, not copied");
    }

    /// A run by value of a task whose run by reference has not started leaves that run its
    /// arguments: it copies them too, and the task may be gone before either starts.
    #[test]
    fn a_run_by_value_leaves_a_waiting_run_by_reference_its_arguments() {
        let task = Task::new(counted, (Counted(1),));
        let by_reference = (&task).into_submission();
        let by_value = task.into_submission();
        assert_eq!(outcome((by_value.call)()), 1);
        assert_eq!(outcome((by_reference.call)()), 2);
    }
}
