// A task given to an AsyncRunner moved into it: it cannot also be executed by another API
// (ArkTS reports 10200057 at run time).
use taskpool::{AsyncRunner, Priority, Task, TaskPool, concurrent};

#[concurrent]
fn one() -> u32 {
    1
}

fn main() {
    let runner = AsyncRunner::new(1, 0).unwrap();
    let task = Task::new(one, ());
    let _handle = runner.execute(task, Priority::Medium);
    let _again = TaskPool::global().execute(task);
}
