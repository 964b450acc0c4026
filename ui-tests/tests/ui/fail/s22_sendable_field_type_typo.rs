// A field type that does not resolve is reported once, at the field (rustc's own error), not
// again at `#[sendable]` through the serde bounds the expansion adds.
use taskpool::sendable;

#[sendable]
pub struct Config {
    pub name: Strng,
    pub retries: u32,
}

#[sendable]
pub enum Mode<T> {
    Fast(Vec<T>),
    Slow { id: Uuidd },
}

fn main() {}
