use std::future::Future;
use taskpool::concurrent;

#[concurrent]
fn fetch(id: u32) -> impl Future<Output = String> {
    async move { id.to_string() }
}

fn main() {}
