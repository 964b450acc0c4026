// A `#[deprecated]` `#[sendable]` type, and a type allowed to hold one, compile in a crate that
// denies `deprecated`: rustc warns where the user names the type, never inside the expansion
// (it failed with "use of deprecated struct `Old`" at the type's name and at the field).
#![deny(deprecated)]

use taskpool::{Shared, sendable};

/// Superseded by `New`.
#[sendable]
#[deprecated(note = "use `New`")]
pub struct Old {
    pub value: u8,
}

#[sendable]
pub struct New {
    #[deprecated(note = "read `value`")]
    pub legacy: u8,
    pub value: u8,
}

#[allow(deprecated)]
#[sendable]
pub struct Holder {
    pub old: Box<Old>,
}

#[allow(deprecated)]
fn main() {
    let holder = Shared::new(Holder {
        old: Box::new(Old { value: 1 }),
    });
    assert_eq!(holder.old.value, 1);
    let new = Shared::new(New {
        legacy: 0,
        value: 2,
    });
    assert_eq!(new.value, 2);
}
