use std::rc::{Rc, Weak};
use taskpool::sendable;

#[sendable]
pub struct Node {
    pub children: Vec<Rc<Node>>,
    pub parent: Option<Weak<Node>>,
}

fn main() {}
