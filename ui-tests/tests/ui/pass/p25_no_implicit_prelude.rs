// Both macros expand inside a module that opts out of the prelude: every path they emit is fully
// qualified, and no `#[diagnostic::…]` attribute (which such a module cannot resolve) is emitted
// into the user's crate.

#[no_implicit_prelude]
mod tasks {
    use ::taskpool::{Shared, concurrent, sendable};

    #[sendable]
    #[derive(Debug, Clone, PartialEq)]
    pub enum Kind {
        A,
        B(u32),
        C { x: ::std::string::String },
    }

    #[sendable]
    pub struct Holder<T> {
        pub values: ::std::vec::Vec<T>,
        pub kind: Kind,
    }

    #[concurrent]
    pub fn add(a: u32, b: u32) -> u32 {
        a + b
    }

    #[concurrent]
    pub async fn checked_add(a: u32, b: u32) -> ::std::result::Result<u32, ::std::string::String> {
        ::std::option::Option::ok_or_else(a.checked_add(b), || {
            ::std::string::ToString::to_string("overflow")
        })
    }

    #[concurrent]
    pub fn count(holder: Shared<Holder<u8>>) -> usize {
        holder.values.len()
    }
}

use taskpool::{Error, Shared, TaskPool};
use tasks::{Holder, Kind, add, checked_add, count};

fn main() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    assert_eq!(pool.run(add, (1, 2)).wait().unwrap(), 3);
    assert_eq!(pool.run(checked_add, (1, 2)).wait().unwrap(), 3);
    let failed = pool.run(checked_add, (u32::MAX, 1)).wait().unwrap_err();
    assert!(matches!(failed, Error::TaskFailed(_)), "{failed:?}");
    let holder = Shared::new(Holder { values: vec![1u8, 2], kind: Kind::C { x: "c".into() } });
    assert_eq!(pool.run(count, (holder,)).wait().unwrap(), 2);
    assert_ne!(Kind::A, Kind::B(1));
}
