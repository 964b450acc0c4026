//! Probes of the run spans at the edges of a run's life: canceled before it started, timed out,
//! canceled while suspended, resumed on other threads, and run inline by a task waiting for it.
//! Every span must be entered and exited in pairs, strictly nested on each thread, and closed
//! once its run is gone.
//!
//! One recording layer is installed as the global default; each test finds its spans by task id.

mod support;

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, Once, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use taskpool::{Error, TaskId, TaskPool, concurrent};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer, SubscriberExt};
use tracing_subscriber::registry::{LookupSpan, Registry};

use support::{PATIENCE, wait_until};

/// What happened to one run span.
#[derive(Debug, Clone, Default)]
struct SpanLife {
    task: u64,
    enters: u64,
    exits: u64,
    closed: bool,
    threads: Vec<std::thread::ThreadId>,
    /// Messages of the events recorded while this span was the current one.
    inside: Vec<String>,
}

static SPANS: Mutex<Vec<(u64, SpanLife)>> = Mutex::new(Vec::new());
/// Exits that did not match the innermost span entered on their thread.
static MISNESTED: Mutex<Vec<String>> = Mutex::new(Vec::new());

thread_local! {
    static STACK: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

fn with_span(id: &Id, f: impl FnOnce(&mut SpanLife)) {
    let mut spans = SPANS.lock().unwrap();
    if let Some((_, life)) = spans.iter_mut().rev().find(|(s, _)| *s == id.into_u64()) {
        f(life);
    }
}

#[derive(Default)]
struct TaskIdField(Option<u64>, Option<String>);

impl Visit for TaskIdField {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "task_id" {
            self.0 = Some(value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.1 = Some(format!("{value:?}"));
        }
    }
}

struct Record;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Record {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: LayerContext<'_, S>) {
        let mut fields = TaskIdField::default();
        attrs.record(&mut fields);
        if let Some(task) = fields.0 {
            let life = SpanLife {
                task,
                ..SpanLife::default()
            };
            SPANS.lock().unwrap().push((id.into_u64(), life));
        }
    }

    fn on_enter(&self, id: &Id, _: LayerContext<'_, S>) {
        STACK.with(|stack| stack.borrow_mut().push(id.into_u64()));
        with_span(id, |life| {
            life.enters += 1;
            let me = std::thread::current().id();
            if !life.threads.contains(&me) {
                life.threads.push(me);
            }
        });
    }

    fn on_exit(&self, id: &Id, _: LayerContext<'_, S>) {
        let top = STACK.with(|stack| stack.borrow_mut().pop());
        if top != Some(id.into_u64()) {
            MISNESTED
                .lock()
                .unwrap()
                .push(format!("exit {id:?} with {top:?} innermost"));
        }
        with_span(id, |life| life.exits += 1);
    }

    fn on_close(&self, id: Id, _: LayerContext<'_, S>) {
        with_span(&id, |life| life.closed = true);
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        // Only events without an explicit parent: the user's, nested by the current span.
        if event.parent().is_some() || event.metadata().target() == "taskpool" {
            return;
        }
        let mut fields = TaskIdField::default();
        event.record(&mut fields);
        if let (Some(current), Some(message)) = (ctx.current_span().id(), fields.1) {
            with_span(current, |life| life.inside.push(message));
        }
    }
}

fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(Registry::default().with(Record)).unwrap();
    });
}

/// The spans of task `id`, one per run.
fn spans_of(id: TaskId) -> Vec<SpanLife> {
    SPANS
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, life)| life.task == id.into_raw())
        .map(|(_, life)| life.clone())
        .collect()
}

/// Waits until task `id`'s only span is closed, and checks it was entered and exited in pairs.
fn closed_span_of(id: TaskId) -> SpanLife {
    wait_until("the run's span is closed", || {
        spans_of(id).first().is_some_and(|life| life.closed)
    });
    let spans = spans_of(id);
    assert_eq!(spans.len(), 1, "one span per run: {spans:?}");
    let life = spans.into_iter().next().unwrap();
    assert_eq!(life.enters, life.exits, "unbalanced: {life:?}");
    let misnested = MISNESTED.lock().unwrap().clone();
    assert!(misnested.is_empty(), "{misnested:?}");
    life
}

static GATES: Mutex<Vec<u64>> = Mutex::new(Vec::new());

fn open_gate(gate: u64) {
    GATES.lock().unwrap().push(gate);
}

#[concurrent]
fn hold(gate: u64) -> u64 {
    let deadline = Instant::now() + PATIENCE;
    while !GATES.lock().unwrap().contains(&gate) {
        assert!(Instant::now() < deadline, "gate {gate} stayed closed");
        std::thread::sleep(Duration::from_millis(1));
    }
    gate
}

#[concurrent]
fn plain(x: u32) -> u32 {
    tracing::info!("plain runs");
    x
}

/// Returns `Pending` once, waking itself first.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[concurrent]
async fn yield_many(times: u32) -> u32 {
    for _ in 0..times {
        YieldOnce(false).await;
        tracing::info!("resumed");
    }
    times
}

#[concurrent]
async fn nap() -> u32 {
    taskpool::sleep(Duration::from_secs(3600)).await;
    0
}

#[test]
fn a_run_canceled_before_it_started_has_a_span_never_entered_and_closed() {
    install();
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let blocker = pool.run(hold, (1,));
    wait_until("the blocker runs", || {
        pool.info()
            .threads
            .iter()
            .any(|t| t.task_ids.contains(&blocker.id()))
    });
    let queued = pool.run(plain, (2,));
    let id = queued.id();
    queued.cancel().unwrap();
    assert!(matches!(queued.wait(), Err(Error::Canceled { .. })));
    open_gate(1);
    blocker.wait().unwrap();
    let life = closed_span_of(id);
    assert_eq!(life.enters, 0, "{life:?}");
}

#[test]
fn a_run_that_timed_out_exits_its_span_when_its_call_returns() {
    install();
    let pool = TaskPool::builder()
        .max_threads(1)
        .time_limit(Duration::from_millis(30))
        .build()
        .unwrap();
    let late = pool.run(hold, (2,));
    let id = late.id();
    assert!(matches!(late.wait(), Err(Error::TimedOut { .. })));
    open_gate(2);
    let life = closed_span_of(id);
    assert_eq!(life.enters, 1, "{life:?}");
    assert_eq!(pool.run(plain, (3,)).wait().unwrap(), 3);
}

#[test]
fn an_async_run_resumed_on_any_thread_enters_its_span_once_per_poll() {
    install();
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let handle = pool.run(yield_many, (200,));
    let id = handle.id();
    assert_eq!(handle.wait().unwrap(), 200);
    let life = closed_span_of(id);
    // The call, the first poll and one poll per resumption.
    assert_eq!(life.enters, 202, "{life:?}");
    assert_eq!(
        life.inside.len(),
        200,
        "each user event under the run's span"
    );
}

#[test]
fn an_async_run_canceled_while_suspended_closes_its_span() {
    install();
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let handle = pool.run(nap, ());
    let id = handle.id();
    wait_until("the nap is suspended", || {
        let info = pool.info();
        info.tasks.iter().any(|t| t.task_id == id)
            && info.threads.iter().all(|t| t.task_ids.is_empty())
            && spans_of(id)
                .first()
                .is_some_and(|l| l.enters == 2 && l.exits == 2)
    });
    handle.cancel().unwrap();
    assert!(matches!(handle.wait(), Err(Error::Canceled { .. })));
    let life = closed_span_of(id);
    assert_eq!(life.enters, 2, "the call and the first poll: {life:?}");
}

static INLINE: OnceLock<TaskPool> = OnceLock::new();

/// Waits for a run of `plain` it submits to its own pool: with one thread, it runs inline.
#[concurrent]
fn wait_for_plain(x: u32) -> u32 {
    let handle = INLINE.get().unwrap().run(plain, (x,));
    tracing::info!("inner submitted");
    let id = handle.id().into_raw();
    let value = handle.wait().unwrap();
    tracing::info!(inner = id, "inner done");
    value
}

#[test]
fn a_run_executed_inline_by_a_waiting_task_nests_its_span_inside_the_waiter_s() {
    install();
    let pool = INLINE.get_or_init(|| TaskPool::builder().max_threads(1).build().unwrap());
    let outer = pool.run(wait_for_plain, (4,));
    let outer_id = outer.id();
    assert_eq!(outer.wait().unwrap(), 4);
    let life = closed_span_of(outer_id);
    assert_eq!(life.enters, 1);
    assert_eq!(life.inside, ["inner submitted", "inner done"]);
    let inner_task = SPANS
        .lock()
        .unwrap()
        .iter()
        .find(|(_, l)| l.task > outer_id.into_raw() && l.inside == ["plain runs"])
        .map(|(_, l)| l.task)
        .expect("the inner run's event is under its own span");
    let inner = closed_span_of(TaskId::from_raw(inner_task));
    assert_eq!(inner.enters, 1);
}
