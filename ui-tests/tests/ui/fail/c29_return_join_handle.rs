use std::thread::JoinHandle;
use taskpool::concurrent;

#[concurrent]
fn spawn_work(n: u64) -> JoinHandle<u64> {
    std::thread::spawn(move || n * 2)
}

fn main() {}
