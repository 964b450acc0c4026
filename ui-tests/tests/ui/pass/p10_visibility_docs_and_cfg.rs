#![deny(missing_docs)]
//! A crate that documents everything: the generated items carry the function's docs.

/// Tasks of this crate.
pub mod tasks {
    use taskpool::concurrent;

    /// Counts the bytes.
    #[concurrent]
    pub fn count(bytes: Vec<u8>) -> usize {
        bytes.len()
    }

    #[concurrent]
    pub(crate) fn internal(flag: bool) -> bool {
        !flag
    }

    #[cfg(any())]
    #[concurrent]
    pub fn never_compiled(value: u8) -> u8 {
        value
    }
}

fn main() {
    assert_eq!(tasks::count(vec![1, 2, 3]), 3);
    assert!(tasks::internal(false));
    println!("{:?}", tasks::count);
}
