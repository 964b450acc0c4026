// Two task functions with the same name in one module: rustc's "defined multiple times",
// pointing at the second function's name.
use taskpool::concurrent;

#[concurrent]
fn work(x: u32) -> u32 {
    x
}

#[concurrent]
fn work(x: u32) -> u32 {
    x + 1
}

fn main() {}
