//! The seed guide's "General Use of Concurrent Functions" and "Concurrent Functions Returning
//! Promises", as they apply to Rust (DESIGN §5): a function returning a promise is a compile
//! error (see the ui-tests), an `async fn` is awaited on the worker.

use std::time::Duration;

use taskpool::{Task, TaskPool, concurrent, sleep};

#[concurrent]
fn add(num1: i32, num2: i32) -> i32 {
    num1 + num2
}

#[test]
fn general_use_adds_two_numbers_on_the_pool() {
    let task = Task::new(add, (1, 2));
    assert_eq!(TaskPool::global().execute(task).wait().unwrap(), 3);
    // The marked function stays an ordinary function.
    assert_eq!(add(1, 2), 3);
}

// testPromise2: an async function awaiting a resolved promise.
#[concurrent]
async fn test_promise2(args1: i32, args2: i32) -> i32 {
    std::future::ready(args1 + args2).await
}

// testPromise4: an async function returning a plain value.
#[concurrent]
async fn test_promise4() -> i32 {
    1
}

// testPromise5: an async function awaiting a timer.
#[concurrent]
async fn test_promise5() -> String {
    sleep(Duration::from_millis(10)).await;
    "Promise setTimeout after resolve".to_owned()
}

#[test]
fn async_functions_are_awaited_on_the_worker() {
    let pool = TaskPool::global();
    let task3 = pool.run(test_promise2, (1, 2));
    let task5 = pool.run(test_promise4, ());
    let task6 = Task::new(test_promise5, ());
    let handle6 = pool.execute(&task6);
    assert_eq!(task3.wait().unwrap(), 3);
    assert_eq!(task5.wait().unwrap(), 1);
    assert_eq!(handle6.wait().unwrap(), "Promise setTimeout after resolve");
    let durations = task6.durations().expect("the task finished");
    assert!(
        durations.io > Duration::ZERO,
        "awaiting the timer counts as io time"
    );
    assert_eq!(durations.total, durations.cpu + durations.io);
}

#[tokio::test]
async fn a_handle_is_a_future_on_any_executor() {
    let value = TaskPool::global().run(add, (20, 22)).await.unwrap();
    assert_eq!(value, 42);
}
