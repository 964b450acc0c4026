//! Global call objects (ArkTS `registerGlobalCallObject` / `callGlobalCallObjectMethod`): a
//! host object registered on a `Worker` by name, whose methods the worker calls synchronously.
//!
//! The object lives on the worker's host thread (see `host_thread.rs`) and its methods run
//! there, one call at a time, in order with the host's callbacks: the Rust stand-in for the
//! host's event loop. Arguments and results cross as serialized `Payload`s (ArkTS copies
//! them too), so the size cap applies (10200006). The worker waits at most the timeout it gives
//! (0 means the maximum, 5 s, as in ArkTS; longer values are capped at 5 s).

use std::any::type_name;
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::codec::Payload;
use crate::error::{Error, Result};
use crate::function::Transferable;
use crate::panic;
use crate::sync::{Arc, Mutex, lock};
use crate::worker::host_thread::HostJob;
use crate::worker::link::Link;

/// The longest a global call may wait (ArkTS: 5000 ms); a timeout of zero means this.
pub const MAX_GLOBAL_CALL_TIMEOUT: Duration = Duration::from_secs(5);

type Method<S> = Box<dyn FnMut(&mut S, &Payload, usize) -> Result<Payload> + Send>;

/// A host object whose methods a worker can call by name (ArkTS global call object).
///
/// Build it from the object's state and its methods, each a closure taking `&mut S` and one
/// argument (use a tuple for several, `()` for none) and returning a value; both must be
/// [`Transferable`]. Register it with
/// [`Worker::register_global_call_object`](crate::Worker::register_global_call_object); the
/// worker calls it with
/// [`WorkerPort::call_global_object_method`](crate::WorkerPort::call_global_object_method).
///
/// The methods run on the worker's **host thread** (`<worker name>-host`), never on the worker
/// thread: the state only has to be `Send`. In ArkTS an `async` method is refused at run time
/// (10200020); here a method returning a future does not compile, since a future is not
/// `Transferable`.
///
/// ```
/// use taskpool::CallObject;
///
/// struct Greeter {
///     greeting: String,
/// }
///
/// let object = CallObject::new(Greeter { greeting: "hello".into() })
///     .method("greeting", |this: &mut Greeter, (): ()| this.greeting.clone())
///     .method("greet", |this: &mut Greeter, name: String| format!("{} {name}", this.greeting));
/// assert!(object.has_method("greet"));
/// ```
#[must_use = "a call object answers nothing until it is registered with a worker"]
pub struct CallObject<S> {
    state: S,
    methods: HashMap<String, Method<S>>,
}

impl<S: Send + 'static> CallObject<S> {
    /// An object with `state` and no methods yet.
    pub fn new(state: S) -> CallObject<S> {
        CallObject {
            state,
            methods: HashMap::new(),
        }
    }

    /// Adds (or replaces) method `name`: `f` receives the state and the decoded argument.
    pub fn method<A, R, F>(mut self, name: impl Into<String>, mut f: F) -> CallObject<S>
    where
        A: Transferable,
        R: Transferable,
        F: FnMut(&mut S, A) -> R + Send + 'static,
    {
        let method: Method<S> = Box::new(move |state, args, cap| {
            let args: A = args.decode()?;
            crate::codec::encode_copy(&f(state, args), cap)
        });
        self.methods.insert(name.into(), method);
        self
    }

    /// Whether the object has method `name`.
    pub fn has_method(&self, name: &str) -> bool {
        self.methods.contains_key(name)
    }
}

impl<S> fmt::Debug for CallObject<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut methods: Vec<_> = self.methods.keys().collect();
        methods.sort();
        f.debug_struct("CallObject")
            .field("state", &type_name::<S>())
            .field("methods", &methods)
            .finish()
    }
}

/// A call object with its state's type erased.
pub(crate) trait Callable: Send {
    /// Calls `method`; `None` if there is no such method.
    fn call(&mut self, method: &str, args: &Payload, cap: usize) -> Option<Result<Payload>>;
}

impl<S: Send + 'static> Callable for CallObject<S> {
    fn call(&mut self, method: &str, args: &Payload, cap: usize) -> Option<Result<Payload>> {
        let f = self.methods.get_mut(method)?;
        Some(f(&mut self.state, args, cap))
    }
}

/// One call, from the worker thread to the host thread.
pub(crate) struct CallRequest {
    object: String,
    method: String,
    args: Payload,
    cap: usize,
    worker: String,
    /// The caller stops waiting then: a call not started by then is not made.
    deadline: Instant,
    reply: Sender<Result<Payload>>,
}

/// A registered object, shared between the registry and a call in progress: the registry's
/// lock is not held while the method runs (a method may register or unregister objects), and
/// unregistering or replacing the object during a call takes effect — the call keeps its own
/// reference to the object it started with.
pub(crate) type Registered = Arc<Mutex<Box<dyn Callable>>>;

/// Serves one call on the host thread.
pub(crate) fn serve(objects: &Mutex<HashMap<String, Registered>>, request: CallRequest) {
    if Instant::now() >= request.deadline {
        return; // the worker gave up waiting
    }
    let Some(object) = lock(objects).get(&request.object).map(Arc::clone) else {
        let _ = request
            .reply
            .send(Err(Error::CallObjectNotRegistered(request.object)));
        return;
    };
    // Only the host thread calls objects, one call at a time: this lock is never contended.
    let outcome = panic::catch(|| lock(&object).call(&request.method, &request.args, request.cap));
    // Unregistered during the call, the object is dropped here: user code, contained.
    panic::drop_quietly(object);
    let result = match outcome {
        Ok(Some(result)) => result,
        Ok(None) => Err(Error::CallObjectMethodNotFound {
            object: request.object,
            method: request.method,
        }),
        Err(payload) => Err(Error::WorkerPanicked {
            worker: request.worker,
            message: format!(
                "the global call object `{}` panicked in `{}` on the host thread: {}",
                request.object,
                request.method,
                panic::message(payload)
            ),
        }),
    };
    let _ = request.reply.send(result);
}

/// Makes a call from the worker thread and waits for the (serialized) result, at most the
/// timeout.
pub(crate) fn call<In, Out>(
    link: &Link<In, Out>,
    object: &str,
    method: &str,
    timeout: Duration,
    args: Payload,
) -> Result<Payload> {
    let timeout = if timeout.is_zero() {
        MAX_GLOBAL_CALL_TIMEOUT
    } else {
        timeout.min(MAX_GLOBAL_CALL_TIMEOUT)
    };
    // Registering an object starts the host thread: without it, no object can be there.
    // Otherwise the host thread looks the object up when it serves the call, in order with the
    // other calls and callbacks.
    if !link.host.is_started() {
        return Err(Error::CallObjectNotRegistered(object.to_owned()));
    }
    let deadline = Instant::now() + timeout;
    let (reply, result) = crossbeam_channel::bounded(1);
    link.host.send(HostJob::Call(CallRequest {
        object: object.to_owned(),
        method: method.to_owned(),
        args,
        cap: link.max_serialized_bytes,
        worker: link.name.clone(),
        deadline,
        reply,
    }));
    let timed_out = || Error::CallObjectTimedOut {
        object: object.to_owned(),
        method: method.to_owned(),
        timeout,
    };
    let not_running = || Error::WorkerNotRunning(link.name.clone());
    // The reply, or the worker's stop signal: a worker terminated (or whose `Worker` is dropped
    // — by this very method, maybe, on the host thread that would answer) must not sit out the
    // timeout, and its host must not wait for it meanwhile.
    let left = deadline.saturating_duration_since(Instant::now());
    crossbeam_channel::select! {
        recv(result) -> reply => match reply {
            Ok(payload) => payload,
            // The host thread dropped the call: it came too late, or the `Worker` is being
            // dropped.
            Err(_) if Instant::now() >= deadline => Err(timed_out()),
            Err(_) => Err(not_running()),
        },
        recv(link.stop_signal()) -> _ => match result.try_recv() {
            // Answered just as the stop came: the answer is kept.
            Ok(payload) => payload,
            Err(_) => Err(not_running()),
        },
        default(left) => Err(timed_out()),
    }
}
