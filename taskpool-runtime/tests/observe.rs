//! Observability: the timeline (Chrome trace JSON), and the counters, lanes and thread names of
//! `TaskPool::info`. Spans (the `tracing` feature) are tested in the `tracing-tests` crate.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{hold, open_gate, wait_until};
use taskpool::{Counters, Error, Priority, SliceKind, Task, TaskPool, concurrent, sleep};

#[concurrent]
fn add(a: u32, b: u32) -> u32 {
    a + b
}

#[concurrent]
async fn nap_then_add(a: u32, b: u32) -> u32 {
    sleep(Duration::from_millis(2)).await;
    a + b
}

#[concurrent]
fn refuse(reason: String) -> Result<u8, String> {
    Err(reason)
}

#[concurrent]
fn explode() -> u8 {
    panic!("on purpose")
}

fn events(json: &Value) -> &Vec<Value> {
    json["traceEvents"].as_array().expect("a traceEvents array")
}

#[test]
fn the_timeline_holds_what_ran_and_parses_as_a_chrome_trace() {
    let pool = TaskPool::builder()
        .max_threads(2)
        .thread_name("tl")
        .record_timeline(10_000)
        .build()
        .unwrap();
    let sync = pool.execute_with_priority(Task::new(add, (1, 2)).with_name("sum"), Priority::High);
    let asynchronous = pool.run(nap_then_add, (3, 4));
    let (sync_id, async_id) = (sync.id(), asynchronous.id());
    assert_eq!(sync.wait().unwrap(), 3);
    assert_eq!(asynchronous.wait().unwrap(), 7);
    // A thread records a slice once its call or poll returned: just after the handle resolved.
    wait_until("both tasks' slices are recorded", || {
        let timeline = pool.timeline().expect("recording");
        let slices = timeline.slices();
        let napper = |s: &&taskpool::TimelineSlice| s.function.ends_with("::nap_then_add");
        slices.iter().any(|s| s.name.as_deref() == Some("sum"))
            && slices.iter().filter(napper).count() >= 2
    });

    let timeline = pool.timeline().expect("recording");
    let slices = timeline.slices();
    let sum = slices
        .iter()
        .find(|s| s.name.as_deref() == Some("sum"))
        .unwrap();
    assert_eq!(
        (sum.priority, sum.kind, sum.run),
        (Priority::High, SliceKind::Call, 1)
    );
    assert!(sum.start <= sum.end);
    let napper: Vec<_> = slices
        .iter()
        .filter(|s| s.function.ends_with("::nap_then_add"))
        .collect();
    assert!(
        napper.len() >= 2,
        "a call and at least one poll: {napper:?}"
    );
    assert_eq!(napper[0].kind, SliceKind::Call);
    assert!(napper[1..].iter().all(|s| s.kind == SliceKind::Poll));
    assert_eq!(timeline.dropped(), 0);

    let mut bytes = Vec::new();
    timeline.write_chrome_trace(&mut bytes).unwrap();
    let json: Value = serde_json::from_slice(&bytes).expect("valid JSON");
    let events = events(&json);
    let complete: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(complete.len(), slices.len());
    // One named track per thread that ran something.
    for event in &complete {
        let tid = &event["tid"];
        let track = events
            .iter()
            .find(|e| e["ph"] == "M" && e["name"] == "thread_name" && &e["tid"] == tid)
            .expect("a thread_name for each track");
        assert!(track["args"]["name"].as_str().unwrap().starts_with("tl-"));
        assert!(event["ts"].is_number() && event["dur"].is_number());
    }
    let sum = complete.iter().find(|e| e["name"] == "sum").unwrap();
    assert_eq!(sum["cat"], "HIGH");
    assert_eq!(sum["args"]["task"], sync_id.into_raw());
    let nap = complete
        .iter()
        .find(|e| e["name"].as_str().unwrap().ends_with("::nap_then_add"))
        .unwrap();
    assert_eq!(nap["cat"], "MEDIUM");
    // The suspension at the `.await`: an async begin/end pair with one id.
    let begin = events
        .iter()
        .find(|e| e["ph"] == "b")
        .expect("a suspension");
    assert_eq!(begin["args"]["task"], async_id.into_raw());
    let end = events
        .iter()
        .find(|e| e["ph"] == "e" && e["id"] == begin["id"])
        .expect("its end");
    assert!(end["ts"].as_f64().unwrap() >= begin["ts"].as_f64().unwrap());
}

#[test]
fn the_timeline_ring_is_bounded() {
    let pool = TaskPool::builder()
        .max_threads(1)
        .record_timeline(4)
        .build()
        .unwrap();
    let task = Task::new(add, (1, 1));
    for _ in 0..10 {
        pool.execute(&task).wait().unwrap();
    }
    wait_until("the last slice is recorded", || {
        pool.timeline().unwrap().dropped() == 6
    });
    let timeline = pool.timeline().unwrap();
    assert_eq!(timeline.capacity(), 4);
    let runs: Vec<u64> = timeline.slices().iter().map(|s| s.run).collect();
    assert_eq!(runs, vec![7, 8, 9, 10], "the newest entries are kept");
}

#[test]
fn timeline_capacity_is_validated() {
    for capacity in [0, taskpool::MAX_TIMELINE_ENTRIES + 1] {
        let error = TaskPool::builder()
            .record_timeline(capacity)
            .build()
            .unwrap_err();
        assert_eq!(error.code(), Some(401));
        assert!(error.to_string().contains("record_timeline"), "{error}");
    }
    assert!(TaskPool::new().timeline().is_none());
}

#[test]
fn info_counts_each_outcome_exactly_once() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    assert_eq!(pool.info().counters, Counters::default());
    assert_eq!(pool.run(add, (1, 1)).wait().unwrap(), 2);
    assert!(pool.run(refuse, ("no".into(),)).wait().is_err());
    assert!(pool.run(explode, ()).wait().is_err());
    // Queued behind a blocker, then canceled before it starts.
    let blocker = pool.run(hold, (702,));
    let queued = pool.run(add, (2, 2));
    queued.cancel().unwrap();
    assert!(matches!(queued.wait(), Err(Error::Canceled { .. })));
    open_gate(702);
    blocker.wait().unwrap();
    let expected = Counters {
        submitted: 5,
        completed: 2,
        failed: 2,
        canceled: 1,
        timed_out: 0,
    };
    wait_until("every outcome is counted", || {
        pool.info().counters == expected
    });

    // Held past the time limit: timed out, and not counted again when the call returns.
    let strict = TaskPool::builder()
        .max_threads(1)
        .time_limit(support::SHORT_LIMIT)
        .build()
        .unwrap();
    let stuck = strict.run(hold, (701,));
    assert!(matches!(stuck.wait(), Err(Error::TimedOut { .. })));
    open_gate(701);
    assert_eq!(strict.run(add, (0, 0)).wait().unwrap(), 0);
    let expected = Counters {
        submitted: 2,
        completed: 1,
        timed_out: 1,
        ..Counters::default()
    };
    assert_eq!(strict.info().counters, expected);
    strict.shutdown();
    assert_eq!(expected.settled(), 2);
}

#[test]
fn info_reports_lane_queues_waits_and_thread_names() {
    let pool = TaskPool::builder()
        .max_threads(1)
        .thread_name("lanes")
        .build()
        .unwrap();
    let blocker = pool.run(hold, (703,));
    wait_until("the blocker runs", || {
        pool.info().threads.iter().any(|t| !t.task_ids.is_empty())
    });
    let high: Vec<_> = (0..3)
        .map(|i| pool.execute_with_priority(Task::new(add, (i, 1)), Priority::High))
        .collect();
    let low: Vec<_> = (0..2)
        .map(|i| pool.execute_with_priority(Task::new(add, (i, 2)), Priority::Low))
        .collect();
    let info = pool.info();
    let lanes: Vec<_> = info.lanes.iter().map(|l| (l.priority, l.queued)).collect();
    assert_eq!(
        lanes,
        vec![
            (Priority::High, 3),
            (Priority::Medium, 0),
            (Priority::Low, 2),
            (Priority::Idle, 0)
        ]
    );
    assert_eq!(info.threads.len(), 1);
    assert_eq!(
        info.threads[0].name,
        format!("lanes-{}", info.threads[0].id)
    );
    assert_eq!(info.threads[0].task_ids, vec![blocker.id()]);
    open_gate(703);
    blocker.wait().unwrap();
    for handle in high.into_iter().chain(low) {
        handle.wait().unwrap();
    }
    let info = pool.info();
    let waits: Vec<u64> = info.lanes.iter().map(|l| l.waits.count).collect();
    assert_eq!(waits, vec![3, 1, 2, 0]);
    for lane in &info.lanes {
        let w = lane.waits;
        assert!(w.p50 <= w.p90 && w.p90 <= w.p99 && w.p99 <= w.max, "{w:?}");
        assert!(w.mean <= w.max);
        assert_eq!(lane.queued + lane.woken, 0);
    }
}

#[test]
fn info_under_churn_never_counts_more_settled_than_submitted_nor_lists_a_task_twice() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let pool = Arc::new(
        TaskPool::builder()
            .max_threads(4)
            .record_timeline(64)
            .build()
            .unwrap(),
    );
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (pool, done) = (pool.clone(), done.clone());
        std::thread::spawn(move || {
            let mut last = Counters::default();
            while !done.load(Ordering::SeqCst) {
                let info = pool.info();
                let now = info.counters;
                assert!(
                    now.settled() <= now.submitted,
                    "more settled than submitted: {now:?}"
                );
                for (before, after) in [
                    (last.submitted, now.submitted),
                    (last.completed, now.completed),
                    (last.failed, now.failed),
                    (last.canceled, now.canceled),
                ] {
                    assert!(after >= before, "a counter went back: {last:?} -> {now:?}");
                }
                last = now;
                let mut ids: Vec<_> = info.tasks.iter().map(|task| task.task_id).collect();
                ids.sort_unstable();
                let listed = ids.len();
                ids.dedup();
                assert_eq!(ids.len(), listed, "a task listed twice: {:?}", info.tasks);
                let _ = pool.timeline().unwrap();
            }
        })
    };
    let submitters: Vec<_> = (0..4u32)
        .map(|seed| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                for round in 0..500u32 {
                    match (round + seed) % 4 {
                        0 => drop(pool.run(add, (round, seed)).wait()),
                        1 => drop(pool.run(refuse, ("no".into(),))),
                        2 => drop(pool.run(nap_then_add, (round, seed)).cancel()),
                        _ => drop(pool.run(add, (round, 1)).cancel()),
                    }
                }
            })
        })
        .collect();
    for submitter in submitters {
        submitter.join().unwrap();
    }
    wait_until("every run is settled", || {
        let counters = pool.info().counters;
        counters.submitted == 2000 && counters.settled() == 2000
    });
    done.store(true, Ordering::SeqCst);
    reader.join().unwrap();
}

#[test]
fn a_ring_of_one_keeps_the_newest_entry_and_odd_names_stay_valid_json() {
    let odd = "q\"uote\nnew\u{0}line\t\\ \u{1F600} \u{7f}";
    // A thread name cannot hold a NUL byte (401): the pool's name gets the rest.
    let prefix = "q\"uote\nnew line\t\\ \u{1F600} \u{7f}";
    let pool = TaskPool::builder()
        .max_threads(1)
        .thread_name(prefix)
        .record_timeline(1)
        .build()
        .unwrap();
    for round in 0..5 {
        let task = Task::new(add, (round, 1)).with_name(format!("{odd} {round}"));
        pool.execute(task).wait().unwrap();
    }
    wait_until("the last slice is recorded", || {
        pool.timeline().unwrap().dropped() == 4
    });
    let timeline = pool.timeline().unwrap();
    assert_eq!(timeline.slices().len(), 1);
    let mut json = Vec::new();
    timeline.write_chrome_trace(&mut json).unwrap();
    let json: Value = serde_json::from_slice(&json).expect("valid JSON");
    let slice = events(&json)
        .iter()
        .find(|e| e["ph"] == "X")
        .expect("the newest call");
    assert_eq!(slice["name"], format!("{odd} 4"));
    assert_eq!(json["otherData"]["pool"], prefix);
}
