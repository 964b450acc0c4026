// A borrow or an `Rc` hidden deep in a generic argument, in a tuple parameter or behind an
// alias is still rejected: the syntactic rules look inside every generic argument (each error
// at the inner type), and the type-level checks catch what only an alias shows.
use std::rc::Rc;

use taskpool::concurrent;

type Counted = Rc<u32>;

#[concurrent]
fn nested_rc(values: Vec<Option<Rc<u32>>>) -> usize {
    values.len()
}

#[concurrent]
fn nested_mut(values: Vec<Option<&mut u32>>) -> usize {
    values.len()
}

#[concurrent]
fn tuple_rc((a, b): (u32, Rc<u32>)) -> u32 {
    a + *b
}

#[concurrent]
fn alias_rc(counted: Counted) -> u32 {
    *counted
}

fn main() {}
