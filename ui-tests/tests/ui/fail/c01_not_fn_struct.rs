use taskpool::concurrent;

#[concurrent]
pub struct Job {
    id: u32,
}

fn main() {}
