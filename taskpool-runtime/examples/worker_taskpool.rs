//! "Persistent Worker Threads Handling Concurrent Tasks via TaskPool" — the ArkTS guide, in Rust.
//!
//! The host creates a worker and sends it `{type: "start", data: 10}`. The worker does a heavy
//! computation, runs a `#[concurrent]` task on the TaskPool, awaits it inside its `async`
//! handler (the worker thread is not blocked meanwhile), and replies
//! `{status: "success", result}`. The host prints the result and terminates the worker.
//!
//! ```sh
//! cargo run -p taskpool-runtime --example worker_taskpool
//! ```
//!
//! `tests/worker_pool.rs` includes this file and checks its numbers against the guide's
//! algorithm.

use serde::{Deserialize, Serialize};
use taskpool::{Error, HandlerResult, Worker, WorkerHandler, WorkerPort, concurrent};

/// What the host sends: serialized, it is the guide's `{"type": "start", "data": 10}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "lowercase")]
pub enum Command {
    /// Start the computation from this base.
    Start(f64),
}

/// How the work went.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The computation finished.
    Success,
}

/// What the worker replies: the guide's `{status: "success", result}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// Always `success` here.
    pub status: Status,
    /// What the TaskPool task computed.
    pub result: f64,
}

/// The worker's own work (the guide's `heavyComputation`): the sum of the square roots of
/// `0 .. base × 10`.
pub fn heavy_computation(base: f64) -> f64 {
    let mut sum = 0.0;
    let mut i = 0.0;
    while i < base * 10.0 {
        sum += f64::sqrt(i);
        i += 1.0;
    }
    sum
}

/// The task the worker runs on the TaskPool (the guide's `@Concurrent parallelTask`):
/// `0 - 1 + 2 - 3 + …` over the integers below `base`.
#[concurrent]
pub fn parallel_task(base: f64) -> f64 {
    let mut total = 0.0;
    let mut i = 0.0;
    while i < base {
        total += if i % 2.0 == 0.0 { i } else { -i };
        i += 1.0;
    }
    println!("TaskPool thread calculation result: {total}");
    total
}

/// The worker file of the guide (`Worker.ets`): its `workerPort.onmessage`.
pub struct GuideWorker;

impl WorkerHandler for GuideWorker {
    type In = Command;
    type Out = Reply;

    async fn on_message(&mut self, command: Command, port: &WorkerPort<Reply>) -> HandlerResult {
        match command {
            Command::Start(data) => {
                // Simulate data processing by the worker.
                let processed = heavy_computation(data);
                // Run the concurrent task on the TaskPool and await it: the worker thread is
                // free meanwhile (its loop could take other work).
                let result = taskpool::execute(parallel_task::task(processed)).await?;
                println!("Worker thread returns result: {result}");
                // Return the final result to the host.
                port.post_message(Reply {
                    status: Status::Success,
                    result,
                })?;
            }
        }
        Ok(())
    }
}

/// The host side of the guide (`Index.ets`): create the worker, send the start message,
/// take the result, terminate the worker.
pub fn run_guide(data: f64) -> Result<Reply, Error> {
    // 1. Create a worker.
    let worker = Worker::builder()
        .name("guide-worker")
        .spawn(|| GuideWorker)?;
    // 3. Send the start instruction.
    let command = Command::Start(data);
    println!(
        "Main thread sends: {}",
        serde_json::to_string(&command).expect("a command serializes")
    );
    worker.post_message(command)?;
    // 2. Handle the result from the worker.
    let reply = worker.recv().ok_or_else(|| {
        worker
            .take_exit_error()
            .unwrap_or_else(|| Error::WorkerNotRunning(worker.name().to_owned()))
    })?;
    // Destroy the worker at an appropriate time.
    worker.terminate()?;
    println!("Worker exited with code {}", worker.wait_for_exit());
    Ok(reply)
}

fn main() -> Result<(), Error> {
    let reply = run_guide(10.0)?;
    println!(
        "Main thread receives the final result: {} ({})",
        reply.result,
        serde_json::to_string(&reply).expect("a reply serializes")
    );
    Ok(())
}
