use taskpool::{BoxFuture, concurrent};

#[concurrent]
fn fetch(id: u32) -> BoxFuture<u32> {
    Box::pin(async move { id })
}

fn main() {}
