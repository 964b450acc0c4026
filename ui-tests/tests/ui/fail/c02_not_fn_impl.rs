use taskpool::concurrent;

pub struct Job;

#[concurrent]
impl Job {
    pub fn run() {}
}

fn main() {}
