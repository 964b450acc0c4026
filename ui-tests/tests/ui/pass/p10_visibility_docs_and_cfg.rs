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

    /// Restricted visibilities: `task` is generated with the function's own visibility.
    pub mod inner {
        use taskpool::concurrent;

        #[concurrent]
        pub(super) fn halve(value: u32) -> u32 {
            value / 2
        }

        #[concurrent]
        pub(in crate::tasks) fn double(value: u32) -> u32 {
            value * 2
        }
    }

    /// Calls and binds the restricted functions from the module that may see them.
    pub fn quarter_and_back(value: u32) -> u32 {
        let _task: taskpool::Task<u32> = inner::halve::task(value);
        let _task: taskpool::Task<u32> = inner::double::task(value);
        inner::double(inner::halve(inner::halve(value)))
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
    assert_eq!(tasks::quarter_and_back(8), 4);
    println!("{:?}", tasks::count);
}
