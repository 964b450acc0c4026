//! Keeping `Shared<T>` values shared through the per-run copy of a task's arguments.
//!
//! A task executed several times copies its arguments for each run; when they are not `Clone`,
//! the copy is a serialization round trip ([`deep_copy`](super::deep_copy)). ArkTS passes a
//! Sendable object by reference whatever travels beside it, so a `Shared<T>` inside such
//! arguments must come out of the copy as another handle to the same allocation, not as a fresh
//! value: updates a run makes through it (atomics, locks) reach the caller.
//!
//! During such a copy the round trip is *armed*: the outermost encode and decode it makes are
//! *active*, and while one is, `Shared::serialize` lends its handle to this thread's table and
//! writes a reference to it instead of the value — a string no ordinary value reads as (a
//! marker and the handle's index: an untagged enum read a bare index as a number, and put the
//! `Shared` in the wrong variant) — and `Shared::deserialize` reads the reference and takes
//! another handle from the table. An encode or decode nested in user code meanwhile (a
//! `Serialize` impl calling `Payload::encode`) is not active: it writes and reads values as
//! always. The table is thread-local because a round trip runs on one thread, start to end.
//!
//! The copy is kept only if every handle lent was taken back exactly once and of its own type:
//! a `Serialize` that writes a `Shared` somewhere the `Deserialize` does not read it back, or an
//! untagged enum that read a reference as a string, shows as a mismatch, and the caller copies
//! again without sharing (the copy it would have made before).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::sync::Arc;

thread_local! {
    /// The handles lent during the round trip in progress on this thread, each with how many
    /// times it was taken back.
    static TABLE: RefCell<Vec<(Box<dyn Any>, usize)>> = const { RefCell::new(Vec::new()) };
    /// Whether the next encode or decode to start becomes active (a sharing round trip is in
    /// progress and no codec call of it is running).
    static ARMED: Cell<bool> = const { Cell::new(false) };
    /// Whether the encode or decode running on this thread is one of the round trip's.
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
}

/// How a round trip run with [`keep_shared`] went.
pub(crate) enum Kept<T> {
    /// Every `Shared` in the value came back as a handle to its original (or there was none).
    Copied(T),
    /// Handles were lent but not taken back one for one: the copy is unusable (it was dropped,
    /// quietly), and the caller copies again without sharing.
    Mismatch,
    /// Handles were lent and the round trip failed, perhaps because of them: the caller copies
    /// again without sharing, which reports the error if it was not theirs.
    Failed,
}

/// Runs `round_trip` (an encode and a decode of one value) with its `Shared` handles kept by
/// reference. Not re-entrant by design: a nested call (from user code inside the round trip)
/// runs its own round trip as an inner one, with its own table.
pub(crate) fn keep_shared<T>(
    round_trip: impl FnOnce() -> Result<T, crate::error::Error>,
) -> Result<Kept<T>, crate::error::Error> {
    let _scope = Scope::begin();
    let result = round_trip();
    let table = TABLE.with(|table| std::mem::take(&mut *table.borrow_mut()));
    let lent = !table.is_empty();
    let one_for_one = table.iter().all(|(_, taken)| *taken == 1);
    // Handles only: dropping them never drops a shared value (the caller still holds it).
    drop(table);
    match result {
        Ok(copy) if one_for_one => Ok(Kept::Copied(copy)),
        Ok(copy) => {
            crate::panic::drop_quietly(copy);
            Ok(Kept::Mismatch)
        }
        Err(error) if !lent => Err(error),
        Err(_) => Ok(Kept::Failed),
    }
}

/// The state of this thread's sharing round trip, saved at its start and put back at its end
/// (also by an unwind), so an inner one leaves the outer one as it found it.
struct Scope {
    table: Vec<(Box<dyn Any>, usize)>,
    armed: bool,
    active: bool,
}

impl Scope {
    fn begin() -> Scope {
        let table = TABLE.with(|table| std::mem::take(&mut *table.borrow_mut()));
        Scope {
            table,
            armed: ARMED.replace(true),
            active: ACTIVE.replace(false),
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let outer = std::mem::take(&mut self.table);
        let _ = TABLE.try_with(|table| *table.borrow_mut() = outer);
        let _ = ARMED.try_with(|armed| armed.set(self.armed));
        let _ = ACTIVE.try_with(|active| active.set(self.active));
    }
}

/// Marks one encode or decode as running: active if a sharing round trip armed it, inactive
/// otherwise (a codec call nested in user code during an active one). Undone when the guard
/// drops.
pub(crate) fn codec_call() -> CodecCall {
    let armed = ARMED
        .try_with(|armed| armed.replace(false))
        .unwrap_or(false);
    let active = ACTIVE
        .try_with(|active| active.replace(armed))
        .unwrap_or(false);
    CodecCall { armed, active }
}

/// Puts back the state [`codec_call`] changed.
pub(crate) struct CodecCall {
    armed: bool,
    active: bool,
}

impl Drop for CodecCall {
    fn drop(&mut self) {
        let _ = ARMED.try_with(|armed| armed.set(self.armed));
        let _ = ACTIVE.try_with(|active| active.set(self.active));
    }
}

/// Whether `Shared` values are written and read as handles right now.
pub(crate) fn active() -> bool {
    ACTIVE.try_with(Cell::get).unwrap_or(false)
}

/// What a reference to the handle lent at `index` is written as.
pub(crate) fn reference(index: u64) -> String {
    format!("{REFERENCE_MARKER}{index}")
}

/// The index a reference names, if `text` is one.
pub(crate) fn index_of(text: &str) -> Option<u64> {
    text.strip_prefix(REFERENCE_MARKER)?.parse().ok()
}

/// Starts every reference: control characters no value written by a person starts with.
const REFERENCE_MARKER: &str = "\u{1}taskpool::Shared#";

/// Lends `handle` to the table and returns its index, if an active encode is running.
pub(crate) fn lend<T: 'static>(handle: &Arc<T>) -> Option<u64> {
    if !active() {
        return None;
    }
    TABLE.with(|table| {
        let mut table = table.borrow_mut();
        table.push((Box::new(Arc::clone(handle)), 0));
        Some(table.len() as u64 - 1)
    })
}

/// Takes another handle to the value lent at `index`, if it is a `T`.
pub(crate) fn take_back<T: 'static>(index: u64) -> Option<Arc<T>> {
    TABLE.with(|table| {
        let mut table = table.borrow_mut();
        let (handle, taken) = table.get_mut(usize::try_from(index).ok()?)?;
        let handle = handle.downcast_ref::<Arc<T>>()?;
        *taken += 1;
        Some(Arc::clone(handle))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Encoding, Payload};
    use crate::error::Error;

    #[test]
    fn outside_a_round_trip_nothing_is_lent() {
        assert_eq!(lend(&Arc::new(1u8)), None);
        assert!(!active());
    }

    #[test]
    fn an_error_with_nothing_lent_is_the_round_trip_s_own() {
        let failed =
            keep_shared(|| -> Result<(), Error> { Err(Error::Serialization("no".to_owned())) });
        assert!(matches!(failed, Err(Error::Serialization(reason)) if reason == "no"));
        // The state is put back: the next codec call is not active.
        let payload = Payload::encode(&5u8, Encoding::Json).unwrap();
        assert_eq!(payload, Payload::Json("5".to_owned()));
    }

    #[test]
    fn a_handle_taken_back_twice_is_a_mismatch() {
        let handle = Arc::new(3u32);
        let kept = keep_shared(|| {
            let _call = codec_call();
            let index = lend(&handle).expect("an active encode lends");
            let first = take_back::<u32>(index).unwrap();
            let second = take_back::<u32>(index).unwrap();
            assert!(take_back::<u8>(index).is_none(), "another type is refused");
            Ok((first, second))
        });
        assert!(matches!(kept, Ok(Kept::Mismatch)));
        assert_eq!(Arc::strong_count(&handle), 1, "every handle lent went back");
    }
}
