// `#[sendable]` on every shape of type: enums (struct, tuple and unit variants), tuple structs,
// unit structs, generic structs with inline bounds, a `where` clause and a const parameter,
// raw identifiers, documented fields, and fields behind `#[cfg]`: a field compiled out may
// name a type that does not exist in this build (an optional dependency's), so the expansion
// must not name it either.

use std::fmt::Debug;

use taskpool::{Shared, TaskPool, concurrent, sendable};

#[sendable]
#[derive(Debug, PartialEq)]
pub enum Shape {
    Circle { r#type: u8 },
    Square(u32),
    Empty,
    #[cfg(any())]
    Missing(does_not_exist::Thing),
}

#[sendable]
#[derive(Debug, PartialEq)]
pub struct Pair(pub u32, pub String);

#[sendable]
#[derive(Debug, PartialEq)]
pub struct Unit;

/// A bag with every kind of generic parameter.
#[sendable]
#[derive(Debug, PartialEq)]
pub struct Bounded<T: Debug + Clone, const N: usize>
where
    T: PartialEq,
{
    /// The items, documented.
    pub items: Vec<T>,
    #[cfg(any())]
    pub never: does_not_exist::Thing,
    #[cfg(all())]
    pub always: [u8; 2],
    pub r#type: u8,
}

#[concurrent]
fn describe(shape: Shared<Shape>, pair: Pair, unit: Unit, bag: Bounded<u32, 2>) -> String {
    format!("{:?} {pair:?} {unit:?} {}", *shape, bag.items.len() + bag.always.len())
}

fn main() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let bag = Bounded::<u32, 2> { items: vec![1], always: [1, 2], r#type: 3 };
    assert_eq!(bag.r#type, 3);
    let text = pool
        .run(
            describe,
            (Shared::new(Shape::Circle { r#type: 1 }), Pair(1, "a".into()), Unit, bag),
        )
        .wait()
        .unwrap();
    assert_eq!(text, r#"Circle { type: 1 } Pair(1, "a") Unit 3"#);
    assert_eq!(Shared::new(Shape::Square(2)).as_ref(), &Shape::Square(2));
    assert_eq!(*Shared::new(Shape::Empty), Shape::Empty);
}
