use taskpool::{ConcurrentFunction, Invocation, Task, concurrent};

#[concurrent]
async fn fetch(id: u32) -> String {
    format!("item {id}")
}

#[concurrent]
async fn fallible(id: u32) -> Result<u32, std::io::Error> {
    Ok(id)
}

fn main() {
    let _task: Task<String> = fetch::task(7);
    let _task: Task<u32> = fallible::task(7);
    assert!(matches!(fetch::invoke((1,)), Invocation::Pending(_)));
    // Called directly, an async task function returns a boxed `Send` future.
    let future: taskpool::BoxFuture<String> = fetch(1);
    drop(future);
}
