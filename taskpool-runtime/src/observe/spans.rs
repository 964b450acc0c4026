//! `tracing` integration, behind the `tracing` cargo feature.
//!
//! With the feature, every run gets a span (`taskpool::run`, level INFO, fields `task_id`,
//! `name`, `function`, `priority`, `run`) created with the run, so the call and every poll of an
//! `async fn` enter the *same* span and user events across `.await`s nest under it. The pool
//! emits events (target `taskpool`) with the run's span as parent: `enqueued`, `started`,
//! `suspended`, `resumed` (TRACE), `succeeded`, `canceled` (DEBUG), `failed`, `timed out` (WARN,
//! with the error), and `thread added` / `thread released` (DEBUG) for the pool's threads.
//!
//! Without the feature every type here is zero-sized and every function empty: nothing is
//! compiled in.
//!
//! A subscriber's code runs inside these calls, often on a pool thread: each call is wrapped
//! in `crate::panic::catch`, so a panicking subscriber loses its event but never a pool thread.

use crate::priority::Priority;
use crate::run::{RunHeader, Settled};
use crate::task::TaskId;

/// Whether the feature is compiled in.
pub(crate) const ENABLED: bool = cfg!(feature = "tracing");

/// The span of one run (zero-sized without the feature).
pub(crate) struct RunSpan {
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

/// The span entered on this thread until dropped.
pub(crate) struct Entered<'a> {
    #[cfg(feature = "tracing")]
    entered: Option<tracing::span::Entered<'a>>,
    #[cfg(not(feature = "tracing"))]
    _run: std::marker::PhantomData<&'a ()>,
}

/// Runs subscriber code, containing its panics (and a panicking payload's `Drop`).
#[cfg(feature = "tracing")]
fn contained<R>(f: impl FnOnce() -> R) -> Option<R> {
    match crate::panic::catch(f) {
        Ok(value) => Some(value),
        Err(payload) => {
            crate::panic::drop_quietly(payload);
            None
        }
    }
}

#[cfg(feature = "tracing")]
fn lane(priority: Priority) -> &'static str {
    super::timeline::lane_name(priority)
}

impl RunSpan {
    /// The span of run number `run` of task `id`, in lane `priority`.
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn new(
        id: TaskId,
        name: Option<&str>,
        function: &'static str,
        priority: Priority,
        run: u64,
    ) -> RunSpan {
        RunSpan {
            #[cfg(feature = "tracing")]
            span: contained(|| {
                tracing::info_span!(
                    target: "taskpool",
                    "run",
                    task_id = id.into_raw(),
                    name = name,
                    function = function,
                    priority = lane(priority),
                    run = run,
                )
            })
            .unwrap_or_else(tracing::Span::none),
        }
    }

    /// Enters the span on this thread (around a call or a poll).
    pub(crate) fn enter(&self) -> Entered<'_> {
        Entered {
            #[cfg(feature = "tracing")]
            entered: contained(|| self.span.enter()),
            #[cfg(not(feature = "tracing"))]
            _run: std::marker::PhantomData,
        }
    }
}

#[cfg(feature = "tracing")]
impl Drop for RunSpan {
    fn drop(&mut self) {
        // Closing a span runs subscriber code, wherever the run's last reference goes.
        let span = std::mem::replace(&mut self.span, tracing::Span::none());
        contained(move || drop(span));
    }
}

#[cfg(feature = "tracing")]
impl Drop for Entered<'_> {
    fn drop(&mut self) {
        if let Some(entered) = self.entered.take() {
            contained(move || drop(entered));
        }
    }
}

/// A lifecycle event of a run, with its span as parent.
#[cfg(feature = "tracing")]
macro_rules! run_event {
    ($run:expr, $level:ident, $($rest:tt)+) => {{
        let run: &RunHeader = $run;
        contained(|| {
            tracing::event!(
                target: "taskpool",
                parent: &run.observe.span.span,
                tracing::Level::$level,
                task_id = run.id.into_raw(),
                $($rest)+
            )
        });
    }};
}

/// The run was pushed into its lane.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn enqueued(run: &RunHeader) {
    #[cfg(feature = "tracing")]
    run_event!(run, TRACE, "enqueued");
}

/// The run's call begins.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn started(run: &RunHeader) {
    #[cfg(feature = "tracing")]
    run_event!(run, TRACE, "started");
}

/// The run's future returned `Pending`.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn suspended(run: &RunHeader) {
    #[cfg(feature = "tracing")]
    run_event!(run, TRACE, "suspended");
}

/// The run's woken future is about to be polled again.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn resumed(run: &RunHeader) {
    #[cfg(feature = "tracing")]
    run_event!(run, TRACE, "resumed");
}

/// The run ended; its handle resolves right after.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn settled(run: &RunHeader, settled: Settled<'_>) {
    #[cfg(feature = "tracing")]
    match settled {
        Settled::Succeeded => run_event!(run, DEBUG, "succeeded"),
        Settled::Failed(error) => run_event!(run, WARN, error = %error, "failed"),
        Settled::Canceled(error) => run_event!(run, DEBUG, error = %error, "canceled"),
        Settled::TimedOut(error) => run_event!(run, WARN, error = %error, "timed out"),
    }
}

/// A pool thread was started.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn thread_added(thread: &str, worker: u64) {
    #[cfg(feature = "tracing")]
    contained(|| tracing::debug!(target: "taskpool", thread, worker, "thread added"));
}

/// A pool thread is leaving (released, retired, shut down).
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
pub(crate) fn thread_released(thread: &str, worker: u64) {
    #[cfg(feature = "tracing")]
    contained(|| tracing::debug!(target: "taskpool", thread, worker, "thread released"));
}
