// sendable-freeze.md: a frozen Sendable object is read-only, so threads read it without a lock.
// A `Shared<T>` gives only `&T`: assigning to a field of a shared value is a compile error
// (mutation goes through a thread-safe field: an atomic or an `AsyncLock<T>`).
use taskpool::{Shared, sendable};

#[sendable]
pub struct GlobalConfig {
    pub retries: u32,
    pub hosts: Vec<String>,
}

fn main() {
    let config = Shared::new(GlobalConfig { retries: 3, hosts: Vec::new() });
    config.retries = 4;
    config.hosts.push("example.invalid".to_owned());
}
