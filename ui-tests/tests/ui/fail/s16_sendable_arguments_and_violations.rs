// Arguments to `#[sendable]` are reported together with the type's own violations, and a valid
// type is still expanded next to the error: sharing it compiles.
use std::rc::Rc;
use taskpool::{Shared, sendable};

#[sendable(shared)]
pub struct Broken {
    pub counter: Rc<u32>,
}

#[sendable(lock = "async")]
pub struct Fine {
    pub count: u32,
}

fn main() {
    let _shared = Shared::new(Fine { count: 1 });
}
