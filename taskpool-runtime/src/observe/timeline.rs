//! The timeline: which run executed on which pool thread, and when, kept in a bounded ring
//! buffer and written in the Chrome trace-event JSON format (Perfetto, `chrome://tracing`).
//!
//! Off by default: a pool records only when built with
//! [`record_timeline`](crate::TaskPoolBuilder::record_timeline); otherwise recording costs one
//! `Option` check per call or poll. When on, each call or poll appends one entry under a small
//! lock, and each suspension two more (its start and end); once the ring holds `capacity`
//! entries, the oldest is dropped.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;

use crate::priority::Priority;
use crate::run::RunHeader;
use crate::sync::{Mutex, lock};
use crate::task::TaskId;

/// What a [`TimelineSlice`] was: the run's call, or one poll of its `async fn` future.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SliceKind {
    /// The function's call. For an `async fn`, the call only builds the future: its first
    /// poll, right after on the same thread, is a [`Poll`](SliceKind::Poll) slice of its own.
    Call,
    /// A poll of an `async fn`'s future: the first one, after the call, and then one per
    /// resumption (so a run that suspended `n` times has one `Call` and `n + 1` `Poll`s).
    Poll,
}

/// One stretch of execution on one pool thread.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimelineSlice {
    /// The pool thread's id (as in [`ThreadInfo::id`](crate::ThreadInfo::id)).
    pub thread: u64,
    /// The task.
    pub task: TaskId,
    /// Which run of the task (1 for its first execution).
    pub run: u64,
    /// The function the task runs.
    pub function: &'static str,
    /// The task's name, if it has one.
    pub name: Option<String>,
    /// The lane the run was submitted to.
    pub priority: Priority,
    /// A call or a poll.
    pub kind: SliceKind,
    /// When it began, since the pool was built.
    pub start: Duration,
    /// When it ended, since the pool was built.
    pub end: Duration,
}

/// A run's future went to sleep (`suspend`) or was picked up again.
#[derive(Debug, Clone)]
struct Mark {
    suspend: bool,
    thread: u64,
    task: TaskId,
    run: u64,
    function: &'static str,
    priority: Priority,
    at: Duration,
}

#[derive(Debug, Clone)]
enum Entry {
    Slice(TimelineSlice),
    Mark(Mark),
}

/// The recorder of one pool.
pub(crate) struct Recorder {
    capacity: usize,
    ring: Mutex<Ring>,
}

struct Ring {
    entries: VecDeque<Entry>,
    dropped: u64,
}

impl Recorder {
    pub(crate) fn new(capacity: usize) -> Recorder {
        Recorder {
            capacity,
            ring: Mutex::new(Ring {
                entries: VecDeque::new(),
                dropped: 0,
            }),
        }
    }

    fn push(&self, entry: Entry) {
        let mut ring = lock(&self.ring);
        if ring.entries.len() >= self.capacity {
            ring.entries.pop_front();
            ring.dropped += 1;
        }
        ring.entries.push_back(entry);
    }

    pub(crate) fn slice(
        &self,
        thread: u64,
        run: &RunHeader,
        kind: SliceKind,
        start: Duration,
        end: Duration,
    ) {
        self.push(Entry::Slice(TimelineSlice {
            thread,
            task: run.id,
            run: u64::from(run.observe.run_number),
            function: run.function(),
            name: run.record().and_then(|record| record.name.clone()),
            priority: run.priority,
            kind,
            start,
            end,
        }));
    }

    pub(crate) fn mark(&self, suspend: bool, thread: u64, run: &RunHeader, at: Duration) {
        self.push(Entry::Mark(Mark {
            suspend,
            thread,
            task: run.id,
            run: u64::from(run.observe.run_number),
            function: run.function(),
            priority: run.priority,
            at,
        }));
    }

    pub(crate) fn snapshot(&self, thread_prefix: &str) -> Timeline {
        let ring = lock(&self.ring);
        let mut slices = Vec::new();
        let mut marks = Vec::new();
        for entry in &ring.entries {
            match entry {
                Entry::Slice(slice) => slices.push(slice.clone()),
                Entry::Mark(mark) => marks.push(mark.clone()),
            }
        }
        Timeline {
            thread_prefix: thread_prefix.to_owned(),
            slices,
            marks,
            dropped: ring.dropped,
            capacity: self.capacity,
        }
    }
}

/// A snapshot of a pool's timeline: [`TaskPool::timeline`](crate::TaskPool::timeline).
///
/// Holds the most recent entries of the pool's ring buffer (one entry per call or poll, one per
/// suspension and one per resumption). A call or poll is recorded when it returns, so one still
/// executing — a long task's, or a call past the time limit — is not in the snapshot yet. Write it with
/// [`write_chrome_trace`](Timeline::write_chrome_trace) and open the file in
/// <https://ui.perfetto.dev> or `chrome://tracing`.
///
/// ```
/// use taskpool::{concurrent, TaskPool};
///
/// #[concurrent]
/// fn double(x: u32) -> u32 {
///     x * 2
/// }
///
/// let pool = TaskPool::builder().record_timeline(1024).build().unwrap();
/// pool.run(double, (21,)).wait().unwrap();
/// // The thread records a slice once the call returned: just after the handle resolved.
/// let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
/// let timeline = loop {
///     let timeline = pool.timeline().unwrap();
///     if timeline.slices().iter().any(|s| s.function.ends_with("::double")) {
///         break timeline;
///     }
///     assert!(std::time::Instant::now() < deadline, "the slice is recorded");
///     std::thread::yield_now();
/// };
/// let mut json = Vec::new();
/// timeline.write_chrome_trace(&mut json).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Timeline {
    thread_prefix: String,
    slices: Vec<TimelineSlice>,
    marks: Vec<Mark>,
    dropped: u64,
    capacity: usize,
}

/// One Chrome trace event. Its fields borrow from the timeline, so writing a trace allocates
/// nothing per event.
#[derive(Serialize)]
struct Event<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    cat: &'a str,
    ph: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ts: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dur: Option<f64>,
    pid: u32,
    tid: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<SuspensionId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cname: Option<&'static str>,
    args: Args<'a>,
}

/// The `args` of an event, by kind of event.
#[derive(Serialize)]
#[serde(untagged)]
enum Args<'a> {
    Name {
        name: std::borrow::Cow<'a, str>,
    },
    SortIndex {
        sort_index: u64,
    },
    Slice {
        task: u64,
        run: u64,
        function: &'static str,
        kind: &'static str,
    },
    Suspension {
        task: u64,
        function: &'static str,
    },
}

/// The id pairing a suspension's begin and end: `"<task>.<run>"`.
struct SuspensionId(u64, u64);

impl Serialize for SuspensionId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{}.{}", self.0, self.1))
    }
}

/// The whole trace; its events are produced one by one as they are written.
#[derive(Serialize)]
struct Trace<'a> {
    #[serde(rename = "traceEvents")]
    trace_events: Events<'a>,
    #[serde(rename = "displayTimeUnit")]
    display_time_unit: &'static str,
    #[serde(rename = "otherData")]
    other_data: OtherData<'a>,
}

#[derive(Serialize)]
struct OtherData<'a> {
    pool: &'a str,
    capacity: usize,
    dropped: u64,
}

/// The events of a timeline, serialized as a sequence without collecting them first.
struct Events<'a>(&'a Timeline);

impl Serialize for Events<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.events())
    }
}

/// The lane's name, as trace category and span field.
pub(crate) fn lane_name(priority: Priority) -> &'static str {
    match priority {
        Priority::High => "HIGH",
        Priority::Medium => "MEDIUM",
        Priority::Low => "LOW",
        Priority::Idle => "IDLE",
    }
}

/// A colour of `chrome://tracing`'s reserved palette per lane (Perfetto colours by name).
fn lane_colour(priority: Priority) -> &'static str {
    match priority {
        Priority::High => "terrible",
        Priority::Medium => "yellow",
        Priority::Low => "good",
        Priority::Idle => "grey",
    }
}

fn micros(at: Duration) -> f64 {
    at.as_secs_f64() * 1e6
}

const PID: u32 = 1;

impl Timeline {
    /// The calls and polls recorded, in the order they ended: a run executed inside another
    /// on the same thread (inline, by the task waiting for it) comes before it.
    pub fn slices(&self) -> &[TimelineSlice] {
        &self.slices
    }

    /// How many entries the ring buffer dropped to stay within its capacity.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The ring buffer's capacity, in entries.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The name of pool thread `thread` (`<thread_name prefix>-<id>`).
    pub fn thread_name(&self, thread: u64) -> String {
        format!("{}-{thread}", self.thread_prefix)
    }

    /// Writes the timeline as Chrome trace-event JSON: one track per pool thread (named by
    /// `thread_name` metadata), a complete (`X`) event per call or poll — named after the task
    /// (or its function), with the lane as category and colour — and an async `b`/`e` pair per
    /// suspension of an `async fn` run, keyed by task and run. A suspension still open (or
    /// whose end fell out of the ring) ends at the last recorded instant.
    ///
    /// The output is buffered here, so a `File` can be passed as is. An error of `out` is
    /// returned as it is (its [`kind`](io::Error::kind) kept), and whatever was written before
    /// it is an incomplete trace.
    pub fn write_chrome_trace(&self, out: impl Write) -> io::Result<()> {
        let trace = Trace {
            trace_events: Events(self),
            display_time_unit: "ms",
            other_data: OtherData {
                pool: &self.thread_prefix,
                capacity: self.capacity,
                dropped: self.dropped,
            },
        };
        let mut out = io::BufWriter::new(out);
        serde_json::to_writer(&mut out, &trace).map_err(io::Error::from)?;
        out.flush()
    }

    /// Every event of the trace, in order: metadata, slices, then suspensions.
    fn events(&self) -> impl Iterator<Item = Event<'_>> {
        let process = Args::Name {
            name: format!("taskpool {}", self.thread_prefix).into(),
        };
        let tracks = self.threads().into_iter().flat_map(move |thread| {
            let name = Args::Name {
                name: self.thread_name(thread).into(),
            };
            let sort_index = Args::SortIndex { sort_index: thread };
            [
                metadata("thread_name", thread, name),
                metadata("thread_sort_index", thread, sort_index),
            ]
        });
        std::iter::once(metadata("process_name", 0, process))
            .chain(tracks)
            .chain(self.slices.iter().map(slice_event))
            .chain(self.suspensions().into_iter().map(suspension_event))
    }

    /// The pool threads that have an entry, in id order.
    fn threads(&self) -> Vec<u64> {
        let mut threads: Vec<u64> = self.slices.iter().map(|s| s.thread).collect();
        threads.extend(self.marks.iter().map(|m| m.thread));
        threads.sort_unstable();
        threads.dedup();
        threads
    }

    /// The begin (`b`) and end (`e`) of each suspension, in the order of the marks; a
    /// suspension still open (or whose end fell out of the ring) ends at the last recorded
    /// instant, and a resumption whose suspension fell out of the ring is left out.
    fn suspensions(&self) -> Vec<(&Mark, &'static str, Duration)> {
        let last = self
            .slices
            .iter()
            .map(|s| s.end)
            .chain(self.marks.iter().map(|m| m.at))
            .max()
            .unwrap_or_default();
        let mut open: HashMap<(TaskId, u64), &Mark> = HashMap::new();
        let mut events = Vec::new();
        for mark in &self.marks {
            let key = (mark.task, mark.run);
            if mark.suspend {
                events.push((mark, "b", mark.at));
                open.insert(key, mark);
            } else if open.remove(&key).is_some() {
                events.push((mark, "e", mark.at));
            }
        }
        let mut still_open: Vec<&Mark> = open.into_values().collect();
        still_open.sort_by_key(|m| (m.task, m.run));
        events.extend(still_open.into_iter().map(|mark| (mark, "e", last)));
        events
    }
}

/// A metadata (`M`) event of track `tid` (0: the process).
fn metadata<'a>(name: &'static str, tid: u64, args: Args<'a>) -> Event<'a> {
    Event {
        name,
        cat: "",
        ph: "M",
        ts: None,
        dur: None,
        pid: PID,
        tid,
        id: None,
        cname: None,
        args,
    }
}

/// The complete (`X`) event of a call or poll.
fn slice_event(slice: &TimelineSlice) -> Event<'_> {
    let kind = match slice.kind {
        SliceKind::Call => "call",
        SliceKind::Poll => "poll",
    };
    Event {
        name: slice.name.as_deref().unwrap_or(slice.function),
        cat: lane_name(slice.priority),
        ph: "X",
        ts: Some(micros(slice.start)),
        dur: Some(micros(slice.end.saturating_sub(slice.start))),
        pid: PID,
        tid: slice.thread,
        id: None,
        cname: Some(lane_colour(slice.priority)),
        args: Args::Slice {
            task: slice.task.into_raw(),
            run: slice.run,
            function: slice.function,
            kind,
        },
    }
}

/// One end (`ph`: `b` or `e`) of a suspension, as an async event keyed by task and run.
fn suspension_event<'a>((mark, ph, at): (&'a Mark, &'static str, Duration)) -> Event<'a> {
    Event {
        name: "suspended",
        cat: lane_name(mark.priority),
        ph,
        ts: Some(micros(at)),
        dur: None,
        pid: PID,
        tid: mark.thread,
        id: Some(SuspensionId(mark.task.into_raw(), mark.run)),
        cname: Some("thread_state_sleeping"),
        args: Args::Suspension {
            task: mark.task.into_raw(),
            function: mark.function,
        },
    }
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use super::*;
    use crate::run::{RunOps, TypedRun};
    use crate::task::Call;

    /// Two threads append to a full ring at once: it never exceeds its capacity and counts
    /// every entry it dropped.
    #[test]
    fn the_ring_stays_bounded_under_concurrent_appends() {
        loom::model(|| {
            let recorder = std::sync::Arc::new(Recorder::new(1));
            let record = crate::task::Owner::anonymous(&"loom::timeline");
            let call: Call<()> = Box::new(|| crate::function::Invocation::Ready(Ok(())));
            let run = TypedRun::new(record, Priority::Low, call, std::sync::Weak::new(), None);
            let other = {
                let (recorder, run) = (recorder.clone(), run.clone());
                loom::thread::spawn(move || {
                    recorder.mark(true, 1, run.header(), Duration::ZERO);
                })
            };
            recorder.mark(false, 2, run.header(), Duration::ZERO);
            other.join().unwrap();
            let timeline = recorder.snapshot("loom");
            assert_eq!(timeline.marks.len(), 1);
            assert_eq!(timeline.dropped(), 1);
        });
    }
}
