use std::fmt::Debug;
use taskpool::concurrent;

#[concurrent]
fn describe(value: Box<dyn Debug + Send>) -> String {
    format!("{value:?}")
}

fn main() {}
