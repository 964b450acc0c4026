//! The rules every encode and decode enforces beyond its format's own — nesting depth, finite
//! floats in JSON, the size cap — and the record of the first rule a value broke.
//!
//! The record is kept beside the format's error rather than inside it because `postcard` drops
//! the message of a custom error; reading the record afterwards gives the clear message either
//! way.

use std::cell::{Cell, RefCell};
use std::fmt;

use super::refusal::Refusal;

/// How deep a value may nest: every struct, enum variant, tuple, sequence, map, newtype and
/// `Some` is one level, the outermost value included.
///
/// Decoders recurse once per level, so without a limit a few hundred kilobytes of hostile input
/// overflow the stack and abort the process. The same count is applied when encoding, so what
/// can be written can be read back. Why 126: `serde_json` reads arrays and objects nested at
/// most 127 deep, and a level here is never less than one of its own, so this guard always
/// refuses first (and its error says why). At this depth a debug build needs under 400 KiB of
/// stack to decode, well within a spawned thread's 2 MiB.
pub(crate) const MAX_NESTING_DEPTH: usize = 126;

/// How many elements of sequences and maps a value may hold beyond one per byte of its
/// encoding.
///
/// Every element of a length-prefixed collection takes at least one byte of its own, except a
/// zero-sized one (`()`, a unit struct, `PhantomData`), which `postcard` writes as nothing. So
/// the input's size bounds how many elements a decoder visits only with this allowance: without
/// it, a length prefix claiming 2^63 `()`s in ten bytes keeps the decoder looping for centuries.
/// The same count is checked when encoding, so what can be written can be read back.
pub(crate) const MAX_EMPTY_ELEMENTS: usize = 1 << 20;

/// A rule a value broke.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Breach {
    /// The value nests deeper than [`MAX_NESTING_DEPTH`].
    TooDeep,
    /// A float JSON cannot represent (`serde_json` would write `null`).
    NonFinite(f64),
    /// The encoded value would exceed this many bytes.
    OverCap(usize),
    /// More elements than one per byte of the encoding plus [`MAX_EMPTY_ELEMENTS`].
    TooManyElements,
}

impl fmt::Display for Breach {
    /// The short form, used as the format's custom error message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Breach::TooDeep => write!(f, "nested deeper than {MAX_NESTING_DEPTH} levels"),
            Breach::NonFinite(value) => write!(f, "the float {value} has no JSON form"),
            Breach::OverCap(limit) => write!(f, "over the cap of {limit} bytes"),
            Breach::TooManyElements => write!(
                f,
                "more elements than its bytes can hold (beyond {MAX_EMPTY_ELEMENTS} zero-sized ones)"
            ),
        }
    }
}

/// The first breach found during one encode or decode, shared by the wrappers taking part, and
/// the elements of sequences and maps counted so far.
#[derive(Debug)]
pub(crate) struct Findings {
    first: Cell<Option<Breach>>,
    elements: Cell<usize>,
    /// The most elements a decode may visit; unbounded while encoding, which checks the count
    /// against the size of its output once it is complete ([`Findings::check_elements`]).
    element_budget: usize,
    /// The reason of the custom error in flight through the format's code, from the wrapper
    /// that handed the format its error ([`Level::settle`]) to the wrapper above that gets it
    /// back ([`Level::refusal`]): the format's error may not say it.
    reason: RefCell<Option<String>>,
}

impl Default for Findings {
    fn default() -> Findings {
        Findings {
            first: Cell::new(None),
            elements: Cell::new(0),
            element_budget: usize::MAX,
            reason: RefCell::new(None),
        }
    }
}

impl Findings {
    /// The findings of a decode of `input_len` bytes: it may visit at most one element per
    /// byte, plus [`MAX_EMPTY_ELEMENTS`].
    pub(crate) fn for_input(input_len: usize) -> Findings {
        Findings {
            element_budget: input_len.saturating_add(MAX_EMPTY_ELEMENTS),
            ..Findings::default()
        }
    }

    /// Records `breach` (unless an earlier one is recorded) and returns it, for the error.
    pub(crate) fn record(&self, breach: Breach) -> Breach {
        if self.first.get().is_none() {
            self.first.set(Some(breach));
        }
        breach
    }

    /// The first breach recorded, if any.
    pub(crate) fn first(&self) -> Option<Breach> {
        self.first.get()
    }

    /// Counts one element of a sequence or map, or records [`Breach::TooManyElements`] when the
    /// budget is spent.
    fn count_element(&self) -> Result<(), Breach> {
        let elements = self.elements.get() + 1;
        if elements > self.element_budget {
            return Err(self.record(Breach::TooManyElements));
        }
        self.elements.set(elements);
        Ok(())
    }

    /// After an encode of `output_len` bytes: the elements it counted are within what a decode
    /// of those bytes accepts, or [`Breach::TooManyElements`] is recorded.
    pub(crate) fn check_elements(&self, output_len: usize) -> Result<(), Breach> {
        if self.elements.get() > output_len.saturating_add(MAX_EMPTY_ELEMENTS) {
            return Err(self.record(Breach::TooManyElements));
        }
        Ok(())
    }
}

/// How deep the value being walked is, and where to report a breach.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Level<'a> {
    depth: usize,
    findings: &'a Findings,
}

impl<'a> Level<'a> {
    /// The level outside the outermost value.
    pub(crate) fn top(findings: &'a Findings) -> Level<'a> {
        Level { depth: 0, findings }
    }

    /// Goes `levels` deeper, or records and returns [`Breach::TooDeep`].
    pub(crate) fn enter(self, levels: usize) -> Result<Level<'a>, Breach> {
        let depth = self.depth + levels;
        if depth > MAX_NESTING_DEPTH {
            return Err(self.findings.record(Breach::TooDeep));
        }
        Ok(Level { depth, ..self })
    }

    /// Records `breach` where this walk reports.
    pub(crate) fn breach(self, breach: Breach) -> Breach {
        self.findings.record(breach)
    }

    /// Counts one element of a sequence or map against the walk's budget.
    pub(crate) fn count_element(self) -> Result<(), Breach> {
        self.findings.count_element()
    }

    /// The format's error that `refusal` stands for, to hand back to the format; its reason
    /// waits in the findings for the wrapper above ([`Level::refusal`]), to which the format
    /// passes the error straight on.
    pub(crate) fn settle<E>(self, refusal: Refusal<E>) -> E {
        let (inner, reason) = refusal.into_parts();
        *self.findings.reason.borrow_mut() = reason;
        inner
    }

    /// `inner`, an error the format returned from below this level, with the reason its
    /// wrapper below noted ([`Level::settle`]) attached again. The reason is taken: should user
    /// code drop that error and go on, a later error of the format is not given it.
    pub(crate) fn refusal<E>(self, inner: E) -> Refusal<E> {
        Refusal::new(inner, self.findings.reason.borrow_mut().take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_inclusive_and_the_first_breach_wins() {
        let findings = Findings::default();
        let deepest = Level::top(&findings).enter(MAX_NESTING_DEPTH).unwrap();
        assert_eq!(findings.first(), None);
        assert_eq!(deepest.enter(1).unwrap_err(), Breach::TooDeep);
        deepest.breach(Breach::OverCap(1));
        assert_eq!(findings.first(), Some(Breach::TooDeep));
    }

    #[test]
    fn a_decode_visits_one_element_per_byte_plus_the_allowance() {
        let findings = Findings::for_input(2);
        let level = Level::top(&findings);
        for _ in 0..2 + MAX_EMPTY_ELEMENTS {
            level.count_element().unwrap();
        }
        assert_eq!(level.count_element(), Err(Breach::TooManyElements));
        let encoded = Findings::default();
        for _ in 0..3 + MAX_EMPTY_ELEMENTS {
            Level::top(&encoded).count_element().unwrap();
        }
        assert_eq!(encoded.check_elements(3), Ok(()));
        assert_eq!(encoded.check_elements(2), Err(Breach::TooManyElements));
    }

    #[test]
    fn a_settled_reason_is_attached_once_above() {
        let findings = Findings::default();
        let level = Level::top(&findings);
        let inner = level.settle(Refusal::new("bare", Some("the reason".to_owned())));
        assert_eq!(inner, "bare");
        assert_eq!(
            level.refusal(inner).into_parts().1.as_deref(),
            Some("the reason")
        );
        // Taken: an error that did not come from that refusal is not given its reason.
        assert_eq!(level.refusal("other").into_parts().1, None);
        // A refusal without a reason clears one left in flight.
        level.settle(Refusal::new("bare", Some("stale".to_owned())));
        level.settle(Refusal::new("bare", None));
        assert_eq!(level.refusal("later").into_parts().1, None);
    }
}
