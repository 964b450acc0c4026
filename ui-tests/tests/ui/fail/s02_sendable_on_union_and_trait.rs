use taskpool::sendable;

#[sendable]
pub union Bits {
    int: u32,
    float: f32,
}

#[sendable]
pub trait Shape {}

fn main() {}
