// ArkTS: a task given to a SequenceRunner cannot be executed by another API (10200057, run
// time). Here the runner took the task by value.
use taskpool::{concurrent, Priority, SequenceRunner, Task, TaskPool};

#[concurrent]
fn add(a: i32, b: i32) -> i32 {
    a + b
}

fn main() {
    let task = Task::new(add, (1, 2));
    let runner = SequenceRunner::new(Priority::Medium);
    let _ = runner.execute(task);
    let _ = TaskPool::global().execute(&task);
}
