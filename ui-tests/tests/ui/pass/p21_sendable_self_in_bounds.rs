//! `Self` in a `#[sendable]` type's `where` clause or in its parameters' bounds is valid Rust and
//! stays valid under the macro: its field checks name the type instead (they did say "cannot find
//! type `Self` in this scope", E0411).

use taskpool::{Shared, sendable};

#[sendable]
pub struct Sized1
where
    Self: Sized,
{
    value: u8,
}

#[sendable]
pub struct Pair<T: PartialEq<T>>
where
    Self: Send,
    T: Clone,
{
    left: T,
    right: T,
}

#[sendable]
pub enum Chain
where
    Self: Sized,
{
    End(u8),
    Link { next: Option<Box<Self>> },
}

fn main() {
    let one = Shared::new(Sized1 { value: 1 });
    assert_eq!(one.value, 1);
    let pair = Shared::new(Pair { left: 2u8, right: 2 });
    assert!(pair.left == pair.right);
    let _chain = Shared::new(Chain::Link { next: Some(Box::new(Chain::End(3))) });
}
