use taskpool::concurrent;

#[derive(Default)]
pub struct Counter {
    n: u64,
}

impl Counter {
    #[concurrent]
    pub fn fresh(n: u64) -> Self {
        Self { n }
    }
}

fn main() {}
