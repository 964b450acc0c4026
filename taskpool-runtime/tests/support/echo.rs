//! Worker handlers shared by the worker probes: an echo, one that blocks on a gate, and one
//! that replies three times and closes.

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

/// Replies with the gate number it is sent (saying it started), then blocks in synchronous
/// code until that gate opens: a handler that cannot be stopped at an `.await`.
pub struct Gated;

impl WorkerHandler for Gated {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, gate: u64, port: &WorkerPort<u64>) -> HandlerResult {
        port.post_message(gate)?;
        super::pass_gate(gate);
        Ok(())
    }
}

/// Replies with 1, 2, 3 and closes its worker.
pub struct ThreeThenClose;

impl WorkerHandler for ThreeThenClose {
    type In = ();
    type Out = u64;

    async fn on_message(&mut self, (): (), port: &WorkerPort<u64>) -> HandlerResult {
        for n in 1..=3 {
            port.post_message(n)?;
        }
        port.close()?;
        Ok(())
    }
}
