use std::rc::Rc;
use taskpool::concurrent;

#[concurrent]
fn total(values: Rc<Vec<u32>>) -> u32 {
    values.iter().sum()
}

fn main() {}
