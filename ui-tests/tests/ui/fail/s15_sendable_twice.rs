// The attribute written twice: one error at the second one, and the type is still sendable
// (no conflicting implementations, no cascade at its uses).
use taskpool::{Shared, sendable};

#[sendable]
#[taskpool::sendable]
pub struct Config {
    pub retries: u32,
}

fn main() {
    let _shared = Shared::new(Config { retries: 3 });
}
