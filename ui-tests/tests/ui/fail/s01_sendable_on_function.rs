use taskpool::sendable;

#[sendable]
fn helper() -> u32 {
    1
}

fn main() {}
