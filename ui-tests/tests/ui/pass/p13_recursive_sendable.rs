//! `#[sendable]` types that contain themselves — a list, a tree, through `Self` or a generic
//! parameter — compile, serialize and cross threads like any other.

use taskpool::{Shared, concurrent, sendable};

#[sendable]
pub enum List {
    Nil,
    Cons(u32, Box<List>),
}

#[sendable]
pub struct Tree<T> {
    value: T,
    children: Vec<Tree<T>>,
}

#[sendable]
pub struct Chain {
    next: Option<Box<Self>>,
}

#[concurrent]
fn sum(list: Shared<List>) -> u32 {
    let mut total = 0;
    let mut at = &*list;
    while let List::Cons(head, tail) = at {
        total += head;
        at = tail;
    }
    total
}

#[concurrent]
fn count(tree: Tree<u8>) -> usize {
    // `count` is a unit struct as a value (see the README's known limitations): call it.
    1 + tree.children.into_iter().map(|child| count(child)).sum::<usize>()
}

fn main() {
    let list = List::Cons(1, Box::new(List::Cons(2, Box::new(List::Nil))));
    assert_eq!(sum(Shared::new(list)), 3);
    let leaf = || Tree { value: 0, children: Vec::new() };
    assert_eq!(count(Tree { value: 1, children: vec![leaf(), leaf()] }), 3);
    let _chain = Shared::new(Chain { next: Some(Box::new(Chain { next: None })) });
}
