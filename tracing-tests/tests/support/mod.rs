//! What the span test files share: a bounded wait for a condition.

use std::time::{Duration, Instant};

/// How long a test waits for a condition before declaring failure.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Polls `condition` until it holds, failing the test after [`PATIENCE`].
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}
