use taskpool::{ConcurrentFunction, Invocation, Task, concurrent};

/// Adds two numbers.
#[concurrent]
pub fn add(a: i32, b: i32) -> i32 {
    a + b
}

#[concurrent]
fn no_args_no_return() {}

fn main() {
    // A direct call still works.
    assert_eq!(add(1, 2), 3);
    no_args_no_return();
    let _task: Task<i32> = add::task(1, 2);
    let _task: Task<()> = Task::new(no_args_no_return, ());
    assert!(add::NAME.ends_with("::add"));
    match add::invoke((2, 3)) {
        Invocation::Ready(Ok(value)) => assert_eq!(value, 5),
        _ => unreachable!(),
    }
}
