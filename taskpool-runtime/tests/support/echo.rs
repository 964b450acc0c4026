//! A worker handler that replies with every number it is sent, shared by the worker probes.

use taskpool::{HandlerResult, WorkerHandler, WorkerPort};

/// Replies with every number it is sent.
pub struct Echo;

impl WorkerHandler for Echo {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        port.post_message(n)?;
        Ok(())
    }
}
