use taskpool::concurrent;

#[concurrent]
const LIMIT: u32 = 10;

#[concurrent]
trait Runnable {
    fn run(&self);
}

fn main() {}
