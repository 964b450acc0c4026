use std::cell::{Cell, RefCell};
use taskpool::concurrent;

#[concurrent]
fn bump(counter: Cell<u32>, log: RefCell<Vec<String>>) -> u32 {
    log.borrow_mut().push("bump".into());
    counter.get() + 1
}

fn main() {}
