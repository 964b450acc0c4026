use std::sync::mpsc::Sender;
use taskpool::sendable;

// `Sender` is not serializable; the field check names it.
#[sendable]
pub struct Notifier {
    pub channel: Sender<u32>,
}

fn main() {}
