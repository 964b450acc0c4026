use taskpool::sendable;

#[sendable]
pub struct Handler {
    pub on_event: Box<dyn Fn(u32) + Send + Sync>,
    pub fallback: fn(u32) -> u32,
}

fn main() {}
