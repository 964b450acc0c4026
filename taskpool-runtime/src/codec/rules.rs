//! The rules every encode and decode enforces beyond its format's own — nesting depth, finite
//! floats in JSON, the size cap — and the record of the first rule a value broke.
//!
//! The record is kept beside the format's error rather than inside it because `postcard` drops
//! the message of a custom error; reading the record afterwards gives the clear message either
//! way.

use std::cell::Cell;
use std::fmt;

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

/// A rule a value broke.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Breach {
    /// The value nests deeper than [`MAX_NESTING_DEPTH`].
    TooDeep,
    /// A float JSON cannot represent (`serde_json` would write `null`).
    NonFinite(f64),
    /// The encoded value would exceed this many bytes.
    OverCap(usize),
}

impl fmt::Display for Breach {
    /// The short form, used as the format's custom error message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Breach::TooDeep => write!(f, "nested deeper than {MAX_NESTING_DEPTH} levels"),
            Breach::NonFinite(value) => write!(f, "the float {value} has no JSON form"),
            Breach::OverCap(limit) => write!(f, "over the cap of {limit} bytes"),
        }
    }
}

/// The first breach found during one encode or decode, shared by the wrappers taking part.
#[derive(Debug, Default)]
pub(crate) struct Findings(Cell<Option<Breach>>);

impl Findings {
    /// Records `breach` (unless an earlier one is recorded) and returns it, for the error.
    pub(crate) fn record(&self, breach: Breach) -> Breach {
        if self.0.get().is_none() {
            self.0.set(Some(breach));
        }
        breach
    }

    /// The first breach recorded, if any.
    pub(crate) fn first(&self) -> Option<Breach> {
        self.0.get()
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
}
