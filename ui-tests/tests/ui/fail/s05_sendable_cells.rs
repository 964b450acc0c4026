use std::cell::{Cell, RefCell};
use taskpool::sendable;

#[sendable]
pub struct Cache {
    pub hits: Cell<u64>,
    pub entries: RefCell<Vec<String>>,
}

fn main() {}
