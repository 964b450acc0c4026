// sendable-constraints.md, "The template type of a sendable class, collections.Array,
// collections.Map, and collections.Set in the generic class must be Sendable": ArkTS rejects
// `collections.Array<Array<number>>`. A generic `#[sendable]` type is `Sendable` only for
// parameters that are `Transferable + Sync`, so sharing one instantiated with a type that cannot
// cross threads is a compile error. (A `Bag<Rc<u32>>` that stays on its thread compiles: Rust
// checks where a value crosses threads, not where it is built.)
use std::cell::Cell;
use std::rc::Rc;

use taskpool::{Shared, sendable};

#[sendable]
pub struct Bag<T> {
    pub items: Vec<T>,
}

fn main() {
    let _local: Bag<Rc<u32>> = Bag { items: vec![Rc::new(1)] };
    let _counted = Shared::new(Bag { items: vec![Rc::new(1u32)] });
    let _cells = Shared::new(Bag { items: vec![Cell::new(1u32)] });
}
