// The attribute written twice: one error at the second one, and the function is still a task
// (no cascade at its uses).
use taskpool::concurrent;

#[concurrent]
#[concurrent]
fn twice(x: u32) -> u32 {
    x
}

fn main() {
    let _task = twice::task(1);
}
