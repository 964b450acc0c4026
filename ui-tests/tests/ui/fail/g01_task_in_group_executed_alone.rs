// ArkTS: "a task in a group cannot be executed" (run time). Here the task moved into the
// group, so executing it alone is a use-after-move.
use taskpool::{concurrent, Task, TaskGroup, TaskPool};

#[concurrent]
fn add(a: i32, b: i32) -> i32 {
    a + b
}

fn main() {
    let task = Task::new(add, (1, 2));
    let mut group = TaskGroup::new();
    group.add_task(task).unwrap();
    let _ = TaskPool::global().execute(task);
}
