use taskpool::concurrent;

#[concurrent]
#[taskpool::sendable]
fn both() -> u32 {
    1
}

fn main() {
    // Still expanded: its task machinery exists.
    let _task = both::task();
}
