use taskpool::concurrent;

#[concurrent(priority = "high")]
fn work() {}

fn main() {}
