use std::fmt::Debug;
use taskpool::sendable;

#[sendable]
pub enum Slot {
    Raw(*const u8),
    Any(Box<dyn Debug + Send + Sync>),
    Empty,
}

fn main() {}
