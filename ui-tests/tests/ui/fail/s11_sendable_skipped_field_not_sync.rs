use std::sync::mpsc::Receiver;

use taskpool::sendable;

// A field serde skips need not be serializable, but it is still shared between threads:
// a `Receiver` is not `Sync`.
#[sendable]
pub struct Inbox {
    pub name: String,
    #[serde(skip)]
    pub events: Option<Receiver<u32>>,
}

fn main() {}
