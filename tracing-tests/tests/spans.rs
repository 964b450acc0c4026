//! The `tracing` feature: a span per run around every call and poll, user events nested under
//! it, lifecycle and thread events with their fields, and a panicking subscriber contained.
//!
//! One capturing layer is installed as the global default (pool threads are other threads);
//! each test finds its own runs by task id.

mod support;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, Once};
use std::task::{Context, Poll};
use std::time::Duration;

use taskpool::{Error, Task, TaskId, TaskPool, concurrent, sleep};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer, SubscriberExt};
use tracing_subscriber::registry::{LookupSpan, Registry};

use support::wait_until;

type Fields = BTreeMap<String, String>;

/// One captured event: its message, fields and the span it belongs to (name and fields).
#[derive(Debug, Clone)]
struct Captured {
    message: String,
    fields: Fields,
    span: Option<(u64, String, Fields)>,
}

static EVENTS: Mutex<Vec<Captured>> = Mutex::new(Vec::new());

#[derive(Default)]
struct Collect(Fields);

impl Visit for Collect {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

struct SpanFields(Fields);

struct Capture;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let mut fields = Collect::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields.0));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        let mut fields = Collect::default();
        event.record(&mut fields);
        let mut fields = fields.0;
        let message = fields.remove("message").unwrap_or_default();
        let span = ctx.event_span(event).map(|span| {
            let own = span
                .extensions()
                .get::<SpanFields>()
                .map(|f| f.0.clone())
                .unwrap_or_default();
            (span.id().into_u64(), span.name().to_owned(), own)
        });
        // A subscriber that panics: the pool's own events of `poisoned` runs.
        let poison = span
            .as_ref()
            .is_some_and(|(_, _, f)| f.get("function").is_some_and(|f| f.ends_with("::poisoned")));
        EVENTS.lock().unwrap().push(Captured {
            message,
            fields,
            span,
        });
        if poison && event.metadata().target() == "taskpool" {
            panic!("a subscriber that panics");
        }
    }
}

fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(Registry::default().with(Capture)).unwrap();
    });
}

/// The events that belong to `task` (by the span's or the event's task id).
fn events_of(task: TaskId) -> Vec<Captured> {
    let id = task.into_raw().to_string();
    EVENTS
        .lock()
        .unwrap()
        .iter()
        .filter(|e| {
            e.fields.get("task_id") == Some(&id)
                || e.span
                    .as_ref()
                    .is_some_and(|(_, _, f)| f.get("task_id") == Some(&id))
        })
        .cloned()
        .collect()
}

fn messages(events: &[Captured]) -> Vec<&str> {
    events.iter().map(|e| e.message.as_str()).collect()
}

#[concurrent]
fn greet(who: String) -> String {
    tracing::info!(who = who.as_str(), "hello from the task");
    format!("hello {who}")
}

#[concurrent]
async fn across_awaits(n: u32) -> u32 {
    tracing::info!(step = 1, "before the await");
    sleep(Duration::from_millis(2)).await;
    tracing::info!(step = 2, "after the await");
    n
}

#[concurrent]
fn fail(reason: String) -> Result<u8, String> {
    Err(reason)
}

#[concurrent]
fn poisoned(x: u32) -> u32 {
    x + 1
}

#[concurrent]
fn spin_until_canceled() -> u32 {
    while !taskpool::is_canceled() {
        std::thread::yield_now();
    }
    0
}

/// A future pending until polled twice, to run over a time limit across polls.
struct Busy(u32);

impl Future for Busy {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0 += 1;
        cx.waker().wake_by_ref();
        std::thread::sleep(Duration::from_millis(5));
        if self.0 > 1000 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[concurrent]
async fn over_time() -> u32 {
    Busy(0).await;
    1
}

#[test]
fn user_events_nest_under_the_run_span_with_its_fields() {
    install();
    let pool = TaskPool::builder().build().unwrap();
    let task = Task::new(greet, ("ada".to_owned(),)).with_name("greeter");
    assert_eq!(pool.execute(&task).wait().unwrap(), "hello ada");
    assert_eq!(pool.execute(&task).wait().unwrap(), "hello ada");
    wait_until("both runs' outcomes are traced", || {
        messages(&events_of(task.id()))
            .iter()
            .filter(|m| **m == "succeeded")
            .count()
            == 2
    });
    let events = events_of(task.id());
    let hellos: Vec<_> = events
        .iter()
        .filter(|e| e.message == "hello from the task")
        .collect();
    assert_eq!(hellos.len(), 2);
    let mut runs = Vec::new();
    for hello in &hellos {
        let (_, name, fields) = hello.span.as_ref().expect("nested under the run span");
        assert_eq!(name, "run");
        assert_eq!(fields["task_id"], task.id().into_raw().to_string());
        assert_eq!(fields["name"], "greeter");
        assert!(fields["function"].ends_with("::greet"));
        assert_eq!(fields["priority"], "MEDIUM");
        assert_eq!(hello.fields["who"], "ada");
        runs.push(fields["run"].clone());
    }
    assert_eq!(runs, ["1", "2"]);
    // Each run: enqueued, started, the user's event, succeeded — all under its span.
    let first_span = hellos[0].span.as_ref().unwrap().0;
    let first: Vec<&str> = events
        .iter()
        .filter(|e| e.span.as_ref().is_some_and(|s| s.0 == first_span))
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(
        first,
        ["enqueued", "started", "hello from the task", "succeeded"]
    );
}

#[test]
fn every_poll_enters_the_same_span() {
    install();
    let pool = TaskPool::builder().build().unwrap();
    let handle = pool.run(across_awaits, (5,));
    let id = handle.id();
    assert_eq!(handle.wait().unwrap(), 5);
    wait_until("the outcome is traced", || {
        messages(&events_of(id)).contains(&"succeeded")
    });
    let events = events_of(id);
    let span_of = |message: &str| {
        events
            .iter()
            .find(|e| e.message == message)
            .and_then(|e| e.span.as_ref().map(|s| s.0))
            .unwrap_or_else(|| panic!("no {message:?} in a span: {events:?}"))
    };
    let before = span_of("before the await");
    assert_eq!(
        span_of("after the await"),
        before,
        "one span across the await"
    );
    for lifecycle in ["started", "suspended", "resumed", "succeeded"] {
        assert_eq!(span_of(lifecycle), before, "{lifecycle}");
    }
}

#[test]
fn outcomes_are_traced_with_their_error() {
    install();
    let pool = TaskPool::builder()
        .time_limit(Duration::from_millis(30))
        .build()
        .unwrap();
    let failed = pool.run(fail, ("bad input".to_owned(),));
    let failed_id = failed.id();
    assert!(failed.wait().is_err());
    let canceled = pool.run(spin_until_canceled, ());
    let canceled_id = canceled.id();
    wait_until("it started", || {
        messages(&events_of(canceled_id)).contains(&"started")
    });
    canceled.cancel().unwrap();
    assert!(matches!(canceled.wait(), Err(Error::Canceled { .. })));
    let timed_out = pool.run(over_time, ());
    let timed_out_id = timed_out.id();
    assert!(matches!(timed_out.wait(), Err(Error::TimedOut { .. })));

    let outcome = |id: TaskId, message: &str| {
        wait_until(message, || messages(&events_of(id)).contains(&message));
        events_of(id)
            .into_iter()
            .find(|e| e.message == message)
            .unwrap()
    };
    let event = outcome(failed_id, "failed");
    assert!(event.fields["error"].contains("bad input"), "{event:?}");
    let event = outcome(canceled_id, "canceled");
    assert!(event.fields.contains_key("error"));
    let event = outcome(timed_out_id, "timed out");
    assert!(event.fields["error"].contains("time"), "{event:?}");
}

#[test]
fn threads_added_and_released_are_traced() {
    install();
    let pool = TaskPool::builder()
        .thread_name("traced-threads")
        .build()
        .unwrap();
    pool.run(poisoned, (0,)).wait().ok();
    let thread = pool.info().threads[0].name.clone();
    drop(pool);
    let seen = |message: &str| {
        EVENTS
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.message == message && e.fields.get("thread") == Some(&thread))
    };
    assert!(seen("thread added"), "{thread} added");
    assert!(seen("thread released"), "{thread} released");
}

#[test]
fn a_panicking_subscriber_does_not_break_the_pool() {
    install();
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    // Every pool event of `poisoned` runs makes the subscriber panic, on the pool's threads.
    for x in 0..20 {
        assert_eq!(pool.run(poisoned, (x,)).wait().unwrap(), x + 1);
    }
    assert_eq!(pool.thread_count(), 1, "no thread was lost");
    assert_eq!(
        pool.run(greet, ("again".to_owned(),)).wait().unwrap(),
        "hello again"
    );
}
