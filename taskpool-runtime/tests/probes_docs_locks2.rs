//! Third pass of probes of the locks module against the ArkTS documentation
//! (`js-apis-arkts-utils.md`: `AsyncLock`, `AsyncLockOptions`, `AbortSignal`,
//! `ConditionVariable`) and against bad input: each test pins a defect that was found and fixed.
//! Deterministic: waits end on conditions, hangs fail on [`PATIENCE`](support::PATIENCE).

mod support;

use std::time::Duration;

use support::block_on;
use taskpool::{AsyncLock, AsyncLockOptions};

// ---------------------------------------------------------------------------------------------
// Timeouts: the report of a zero timeout (ArkTS: "possible deadlock warnings").
// ---------------------------------------------------------------------------------------------

/// A holder asking again for its own lock waits for itself. With a timeout of 1 ms the report
/// says so ("which it holds itself"); a zero timeout, refused without queueing, reported "no
/// cycle of waits: a holder is slow" instead — blaming a holder that is the caller itself. The
/// request counts as waiting in the search now, whether or not it queued.
#[test]
fn a_zero_timeout_request_by_the_holder_itself_is_reported_as_a_self_wait() {
    let lock = AsyncLock::new(0);
    let zero = AsyncLockOptions::new().timeout(Duration::ZERO);
    let held = lock.lock();
    for error in [
        lock.lock_with(&zero).map(drop).unwrap_err(),
        lock.lock_shared_with(&zero).map(drop).unwrap_err(),
        block_on(lock.lock_async_with(zero.clone()))
            .map(drop)
            .unwrap_err(),
    ] {
        assert_eq!(error.code(), Some(10200031), "{error}");
        let text = error.to_string();
        assert!(text.contains("which it holds itself"), "{text}");
        assert!(!text.contains("no cycle"), "{text}");
        assert!(text.contains("nobody waiting"), "it never queued: {text}");
    }
    drop(held);
    // An upgrade: a reader asking to write, at once.
    let reader = lock.lock_shared();
    let error = lock.lock_with(&zero).map(drop).unwrap_err();
    assert!(
        error.to_string().contains("which it holds itself"),
        "{error}"
    );
    drop(reader);
    assert!(lock.state().held.is_empty() && lock.state().pending.is_empty());
}
