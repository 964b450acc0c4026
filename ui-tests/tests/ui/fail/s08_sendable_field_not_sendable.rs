use taskpool::sendable;

// Not serializable: only the type-level check can see it.
pub struct Connection {
    pub port: u16,
}

#[sendable]
pub struct Pool {
    pub size: usize,
    pub primary: Connection,
}

fn main() {}
