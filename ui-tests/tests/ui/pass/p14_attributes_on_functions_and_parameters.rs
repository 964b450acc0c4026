// Attributes a task function may carry: `#[deprecated]` moves to the name users call (and the
// expansion's own uses of the hidden function do not warn: this crate denies `deprecated`),
// `#[must_use]`, `#[inline]`, `#[allow]`, and attributes on parameters other than `#[cfg]`.
#![deny(deprecated, unused_must_use)]

use taskpool::{Task, concurrent};

/// Superseded by `add_checked`.
#[concurrent]
#[deprecated(note = "use `add_checked`")]
pub fn add(a: i32, b: i32) -> i32 {
    a + b
}

#[concurrent]
#[must_use]
#[inline]
pub fn add_checked(a: i32, b: i32) -> Option<i32> {
    a.checked_add(b)
}

#[concurrent]
fn labelled(
    #[allow(unused_variables)] label: String,
    #[cfg_attr(test, allow(unused_mut))] mut value: u32,
) -> u32 {
    value += 1;
    value
}

#[allow(deprecated)]
fn old_api() -> Task<i32> {
    assert_eq!(add(1, 2), 3);
    add::task(1, 2)
}

fn main() {
    let _task = old_api();
    assert_eq!(add_checked(1, 2), Some(3));
    assert_eq!(labelled("x".to_owned(), 1), 2);
}
