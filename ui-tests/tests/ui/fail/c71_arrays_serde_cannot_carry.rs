// Arrays longer than 32 elements (or of a length that is not a literal) have no serde impls:
// the error says so and suggests `Vec`, instead of asking to derive `Serialize` for an array.
use taskpool::{concurrent, sendable};

#[concurrent]
fn checksum(block: [u8; 64]) -> u32 {
    block.iter().map(|&b| u32::from(b)).sum()
}

const LEN: usize = 8;

#[concurrent]
fn first(block: [u8; LEN]) -> u8 {
    block[0]
}

// Up to 32 elements, fine.
#[concurrent]
fn small(block: [u8; 32]) -> [u16; 4] {
    [u16::from(block[0]); 4]
}

#[sendable]
pub struct Frame {
    pub pixels: [u8; 64],
    // Skipped both ways: serde never sees it.
    #[serde(skip)]
    pub scratch: [u8; 128],
}

fn main() {}
