use std::future::Future;
use std::pin::Pin;
use taskpool::concurrent;

#[concurrent]
fn fetch(id: u32) -> Pin<Box<dyn Future<Output = u32> + Send>> {
    Box::pin(async move { id })
}

fn main() {}
