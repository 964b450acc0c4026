// A task function cannot be the program's entry point: its name becomes a unit struct.
use taskpool::concurrent;

#[concurrent]
fn main() {}
