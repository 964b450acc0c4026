//! Port of the TaskPool guide's TaskGroup example (seed 002): a task whose buffer argument is
//! cloned per run (`setCloneList`) is added to a group, and the group is executed five times.
//!
//! ```ts
//! @Concurrent
//! function printArrayBuffer(buffer: ArrayBuffer) { return buffer; }
//! const buffer = new ArrayBuffer(1);
//! const group = new taskpool.TaskGroup();
//! const task = new taskpool.Task(printArrayBuffer, buffer);
//! group.addTask(task);
//! task.setCloneList([buffer]);
//! for (let i = 0; i < 5; i++) { taskpool.execute(group).then(...) }
//! ```
//!
//! In Rust the clone list is the default for a task that runs more than once: every execution
//! of the group gets its own copy of the buffer, and the task, moved into the group, cannot be
//! executed on its own.

use taskpool::{Priority, Task, TaskGroup, concurrent};

#[concurrent]
fn print_array_buffer(buffer: Vec<u8>) -> Vec<u8> {
    buffer
}

#[test]
fn a_group_with_a_cloned_buffer_executes_five_times() {
    let buffer = vec![0u8; 1];
    let mut group = TaskGroup::new();
    let task = Task::new(print_array_buffer, (buffer.clone(),));
    group.add_task(task).unwrap();
    let executions: Vec<_> = (0..5)
        .map(|_| taskpool::execute_group(&group, Priority::Medium))
        .collect();
    for execution in executions {
        // "execute group success", with the buffer each run received.
        assert_eq!(execution.wait().unwrap(), vec![buffer.clone()]);
    }
    assert_eq!(buffer, [0], "the host's buffer is untouched");
}
