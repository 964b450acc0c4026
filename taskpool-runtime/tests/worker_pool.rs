//! The TaskPool used from inside a Worker: the guide's program (the example, included here)
//! and its numbers, an async handler awaiting pool tasks without blocking its loop, and the
//! pool thread a Worker was created on staying in the pool while the Worker lives.

mod support;

#[allow(dead_code)]
#[path = "../examples/worker_taskpool.rs"]
mod guide;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use support::{PATIENCE, open_gate, pass_gate, wait_until};
use taskpool::{
    HandlerResult, Payload, Task, TaskPool, Worker, WorkerHandler, WorkerPort, concurrent,
};

/// The guide's algorithm with JavaScript's semantics, written independently of the example:
/// `heavyComputation` sums `Math.sqrt(i)` for `i < base * 10`; `parallelTask` adds even and
/// subtracts odd integers `i < base` (a number that is not an integer).
fn seed_reference(data: u32) -> (f64, f64) {
    let processed: f64 = (0..data * 10).map(|i| f64::from(i).sqrt()).sum();
    let mut total = 0i64;
    let mut i = 0i64;
    while (i as f64) < processed {
        total += if i % 2 == 0 { i } else { -i };
        i += 1;
    }
    (processed, total as f64)
}

#[test]
fn the_guide_s_numbers_match_its_algorithm() {
    let (processed, expected) = seed_reference(10);
    assert!((661.0..662.0).contains(&processed), "{processed}");
    // 0 - 1 + 2 - 3 + … - 661: 331 pairs of -1.
    assert_eq!(expected, -331.0);
    assert_eq!(guide::heavy_computation(10.0), processed);

    let reply = guide::run_guide(10.0).unwrap();
    assert_eq!(reply.status, guide::Status::Success);
    assert_eq!(reply.result, expected);

    for data in [0, 1, 3, 25] {
        let reply = guide::run_guide(f64::from(data)).unwrap();
        assert_eq!(reply.result, seed_reference(data).1, "data = {data}");
    }
}

#[test]
fn the_guide_s_messages_have_its_json_shape() {
    // The guide's literal message, as JSON, is a `Command`; the reply is `{status, result}`.
    let worker = Worker::new(|| guide::GuideWorker).unwrap();
    worker
        .post_payload(Payload::Json(
            serde_json::json!({ "type": "start", "data": 10 }).to_string(),
        ))
        .unwrap();
    let reply = worker.recv_timeout(PATIENCE).unwrap();
    assert_eq!(
        serde_json::to_value(&reply).unwrap(),
        serde_json::json!({ "status": "success", "result": -331.0 })
    );
    worker.terminate().unwrap();
}

// ---- an async handler awaiting pool tasks --------------------------------------------------

#[concurrent]
fn gated_square(gate: u64, x: u64) -> u64 {
    pass_gate(gate);
    x * x
}

#[derive(Debug, Serialize, Deserialize)]
enum Job {
    /// Square `x` on the pool once `gate` opens; reply when done.
    Square {
        gate: u64,
        x: u64,
    },
    Ping,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Done {
    Squared(u64),
    Pong,
}

/// A handler given its own pool. Each `Square` is awaited in a local task, so the loop goes
/// on with the next message while the pool computes.
struct Squarer {
    pool: Arc<TaskPool>,
}

impl WorkerHandler for Squarer {
    type In = Job;
    type Out = Done;

    async fn on_message(&mut self, job: Job, port: &WorkerPort<Done>) -> HandlerResult {
        match job {
            Job::Square { gate, x } => {
                let handle = self.pool.execute(Task::new(gated_square, (gate, x)));
                let port = port.clone();
                port.clone().spawn_local(async move {
                    port.post_message(Done::Squared(handle.await?))?;
                    Ok(())
                });
            }
            Job::Ping => port.post_message(Done::Pong)?,
        }
        Ok(())
    }
}

#[test]
fn an_async_handler_awaits_pool_tasks_without_blocking_its_loop() {
    const GATE: u64 = 1;
    let pool = Arc::new(TaskPool::builder().max_threads(2).build().unwrap());
    let for_worker = Arc::clone(&pool);
    let worker = Worker::new(move || Squarer { pool: for_worker }).unwrap();
    worker
        .post_message(Job::Square { gate: GATE, x: 12 })
        .unwrap();
    worker.post_message(Job::Ping).unwrap();
    // The pool task is still gated, yet the worker answers.
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(Done::Pong));
    open_gate(GATE);
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(Done::Squared(144)));
}

/// Awaits the pool task in `on_message` itself: the next message waits, but the thread is not
/// blocked — terminate stops it at once.
struct Awaiter;

impl WorkerHandler for Awaiter {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, gate: u64, port: &WorkerPort<u64>) -> HandlerResult {
        port.post_message(0)?;
        let squared = taskpool::execute(Task::new(gated_square, (gate, 3))).await?;
        port.post_message(squared)?;
        Ok(())
    }
}

#[test]
fn terminate_stops_a_handler_awaiting_a_pool_task() {
    const GATE: u64 = 2;
    let worker = Worker::new(|| Awaiter).unwrap();
    worker.post_message(GATE).unwrap();
    assert_eq!(worker.recv_timeout(PATIENCE), Ok(0));
    worker.terminate().unwrap();
    assert_eq!(
        worker.wait_for_exit(),
        0,
        "ended while the task still waits"
    );
    open_gate(GATE);
    assert_eq!(worker.recv(), None);
}

// ---- the pool thread a Worker was created on ------------------------------------------------

struct Echo;

impl WorkerHandler for Echo {
    type In = u8;
    type Out = u8;

    async fn on_message(&mut self, n: u8, port: &WorkerPort<u8>) -> HandlerResult {
        port.post_message(n)?;
        Ok(())
    }
}

static HELD: Mutex<Vec<(String, Worker<u8, u8>)>> = Mutex::new(Vec::new());

fn keep_a_worker() {
    let worker = Worker::new(|| Echo).unwrap();
    let thread = std::thread::current().name().unwrap_or("").to_owned();
    HELD.lock().unwrap().push((thread, worker));
}

/// Creates a Worker (kept after the task returns) and waits for `gate`.
#[concurrent]
fn create_worker_then_wait(gate: u64) {
    keep_a_worker();
    pass_gate(gate);
}

#[concurrent]
fn just_wait(gate: u64) {
    pass_gate(gate);
}

/// Pool thread ids from their names (`hold-<id>`).
fn held_thread_ids() -> Vec<u64> {
    let mut ids: Vec<u64> = HELD
        .lock()
        .unwrap()
        .iter()
        .map(|(name, _)| name.trim_start_matches("hold-").parse().unwrap())
        .collect();
    ids.sort();
    ids
}

fn live_thread_ids(pool: &TaskPool) -> Vec<u64> {
    let mut ids: Vec<u64> = pool.info().threads.iter().map(|t| t.id).collect();
    ids.sort();
    ids
}

#[test]
fn a_pool_thread_that_created_a_worker_is_kept_while_the_worker_lives() {
    const GATE: u64 = 3;
    let tick = Duration::from_millis(2);
    let pool = TaskPool::builder()
        .max_threads(3)
        .thread_name("hold")
        .idle_timeout(tick)
        .check_interval(tick)
        .build()
        .unwrap();
    // Three tasks at once: three threads; two of them create a Worker.
    let handles = vec![
        pool.run(create_worker_then_wait, (GATE,)),
        pool.run(create_worker_then_wait, (GATE,)),
        pool.run(just_wait, (GATE,)),
    ];
    wait_until("three threads run the tasks", || pool.thread_count() == 3);
    wait_until("both workers exist", || HELD.lock().unwrap().len() == 2);
    open_gate(GATE);
    for handle in handles {
        handle.wait().unwrap();
    }

    // The thread without a Worker is released; the two holding one are not.
    wait_until("the idle thread is released", || pool.thread_count() == 2);
    let held = held_thread_ids();
    assert_eq!(live_thread_ids(&pool), held);
    // Many more idle checks pass: the held threads stay.
    std::thread::sleep(tick * 50);
    assert_eq!(live_thread_ids(&pool), held);

    // The Workers still work, from the test thread.
    for (_, worker) in HELD.lock().unwrap().iter() {
        worker.post_message(7).unwrap();
        assert_eq!(worker.recv_timeout(PATIENCE), Ok(7));
    }

    // One Worker ends: its thread may go (the pool keeps at least one thread).
    let (_, first) = HELD.lock().unwrap().remove(0);
    drop(first);
    wait_until("the thread of the ended worker is released", || {
        pool.thread_count() == 1
    });
    assert_eq!(live_thread_ids(&pool), held_thread_ids());
    HELD.lock().unwrap().clear();
}
