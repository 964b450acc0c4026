//! Workers: dedicated threads with their own message loop (ArkTS `worker`).
//!
//! Not to be confused with the TaskPool's *pool threads* (`pool/thread.rs`): a pool thread runs
//! whatever task comes next and belongs to no one; a [`Worker`] is one long-lived thread that
//! its creator talks to with messages, whose handler keeps its own state — state that may be
//! `!Send`, since it is built on that thread and never leaves it.
//!
//! | file | one job |
//! |---|---|
//! | `handler.rs` | [`WorkerHandler`]: what the user writes (`on_message`, may be `async`) |
//! | `host.rs` | [`Worker`] (the owning handle), [`WorkerRef`], [`WorkerBuilder`] |
//! | `port.rs` | [`WorkerPort`]: the worker side (reply — at the front too —, close, call the host, spawn local tasks) |
//! | `inbox.rs` | the order the host takes its worker's messages in: [`MessagePriority`] and the queue of messages waiting for the host (the channels to the host carry only tokens) |
//! | `stream.rs` | [`Messages`]: the replies as a `futures::Stream` |
//! | `event_loop.rs` | the worker thread: builds the handler, runs its loop on a `LocalPool` |
//! | `link.rs` | what host and worker share: channels, the worker's state, its exit |
//! | `host_thread.rs` | the thread where host callbacks and global call objects run |
//! | `call_object.rs` | [`CallObject`]: global call objects and the synchronous call |
//! | `limit.rs` | the process-wide cap of 64 live workers (a loom-checked counter) |

mod call_object;
mod event_loop;
mod exit;
mod handler;
mod host;
mod host_thread;
mod inbox;
mod limit;
mod link;
mod port;
mod stream;

pub use self::call_object::{CallObject, MAX_GLOBAL_CALL_TIMEOUT};
pub use self::handler::{HandlerResult, WorkerHandler};
pub use self::host::{DEFAULT_JOIN_TIMEOUT, RecvTimeoutError, Worker, WorkerBuilder, WorkerRef};
pub use self::inbox::MessagePriority;
pub use self::limit::{DEFAULT_MAX_WORKERS, live_workers, max_workers, set_max_workers};
pub use self::port::WorkerPort;
pub use self::stream::Messages;
