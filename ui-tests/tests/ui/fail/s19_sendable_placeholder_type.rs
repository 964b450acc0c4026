// A placeholder `_` as a field type is one pointed error of ours (next to rustc's own).
use taskpool::sendable;

#[sendable]
pub struct Guess {
    pub value: _,
    pub values: Vec<_>,
}

fn main() {}
