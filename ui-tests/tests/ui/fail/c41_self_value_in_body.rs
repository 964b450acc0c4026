use taskpool::concurrent;

pub struct Engine;

impl Engine {
    #[concurrent]
    pub fn start(power: u32) -> u32 {
        let _ = self;
        power
    }
}

fn main() {}
