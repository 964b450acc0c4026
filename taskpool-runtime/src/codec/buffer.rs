//! The output buffer of both encoders: it refuses to grow past the size cap, so an oversized
//! value fails as soon as it crosses the cap instead of after it was written out in full.

use std::io;

use super::rules::{Breach, Findings};

/// Encoded bytes, at most `limit` of them.
pub(crate) struct CappedBuf<'a> {
    bytes: Vec<u8>,
    limit: usize,
    findings: &'a Findings,
}

impl<'a> CappedBuf<'a> {
    /// An empty buffer that holds at most `limit` bytes and reports going over to `findings`.
    pub(crate) fn new(limit: usize, findings: &'a Findings) -> CappedBuf<'a> {
        CappedBuf {
            bytes: Vec::new(),
            limit,
            findings,
        }
    }

    /// The bytes written.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Appends `data`, or records [`Breach::OverCap`] and leaves the buffer as it was.
    fn append(&mut self, data: &[u8]) -> Result<(), Breach> {
        if data.len() > self.limit - self.bytes.len() {
            return Err(self.findings.record(Breach::OverCap(self.limit)));
        }
        self.bytes.extend_from_slice(data);
        Ok(())
    }
}

/// `serde_json` writes here.
impl io::Write for CappedBuf<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.append(data)
            .map_err(|breach| io::Error::other(breach.to_string()))?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `postcard` writes here.
impl postcard::ser_flavors::Flavor for CappedBuf<'_> {
    type Output = Vec<u8>;

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.append(data)
            .map_err(|_| postcard::Error::SerializeBufferFull)
    }

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.try_extend(&[byte])
    }

    fn finalize(self) -> postcard::Result<Vec<u8>> {
        Ok(self.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn the_cap_is_inclusive_and_a_refused_write_changes_nothing() {
        let findings = Findings::default();
        let mut buf = CappedBuf::new(4, &findings);
        buf.write_all(b"abc").unwrap();
        assert!(buf.write_all(b"de").is_err());
        assert_eq!(findings.first(), Some(Breach::OverCap(4)));
        buf.write_all(b"d").unwrap();
        assert_eq!(buf.into_bytes(), b"abcd");
    }
}
