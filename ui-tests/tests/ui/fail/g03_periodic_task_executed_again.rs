// ArkTS: "the periodic task cannot be executed again" (10200051, run time). Here
// `execute_periodically` took the task by value.
use std::time::Duration;
use taskpool::{concurrent, Priority, Task, TaskPool};

#[concurrent]
fn tick() {}

fn main() {
    let task = Task::new(tick, ());
    let pool = TaskPool::global();
    let _ = pool.execute_periodically(Duration::from_millis(10), task, Priority::Low);
    let _ = pool.execute(task);
}
