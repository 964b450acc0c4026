//! Seed scenario "Using Custom Classes or Functions in Concurrent Functions" (ArkTS TaskPool guide).
//!
//! ArkTS requires the helpers and classes a concurrent function uses to live in another file, or
//! they count as closures. In Rust shared code is fine wherever it lives; here the helpers and the
//! `@Sendable` class live in another module (`test_helpers`, the guide's `Test.ets`), and the
//! concurrent function uses them. What Rust forbids instead is per-thread state, which the
//! compile-fail suite covers (`thread_local!`, `static mut`).

mod test_helpers {
    use taskpool::sendable;

    /// `export function testAdd(arg: number) { return ++arg; }`
    pub fn test_add(arg: i64) -> i64 {
        arg + 1
    }

    /// `@Sendable export class MyTestA { name: string }`
    #[sendable]
    #[derive(Debug, Clone)]
    pub struct MyTestA {
        pub name: String,
    }

    impl MyTestA {
        pub fn new(name: &str) -> MyTestA {
            MyTestA {
                name: name.to_owned(),
            }
        }
    }

    /// `export class MyTestB { static nameStr: string = 'MyTestB'; }`
    pub struct MyTestB;

    impl MyTestB {
        pub const NAME_STR: &'static str = "MyTestB";
    }
}

use taskpool::{Shared, Task, TaskPool, concurrent};
use test_helpers::{MyTestA, MyTestB, test_add};

/// `@Concurrent function TestFunc()`: uses an imported function, class and static member.
#[concurrent]
fn test_func() -> (i64, String, String) {
    let res1 = test_add(1);
    let tmp = MyTestA::new("TEST A");
    (res1, tmp.name, MyTestB::NAME_STR.to_owned())
}

/// The same, with the sendable object passed in by reference from the host.
#[concurrent]
fn test_func_shared(a: Shared<MyTestA>) -> (String, usize) {
    (a.name.clone(), Shared::as_ptr(&a) as usize)
}

#[test]
fn concurrent_function_uses_helpers_and_classes_from_another_module() {
    let (res1, res2, res3) = TaskPool::global()
        .execute(Task::new(test_func, ()))
        .wait()
        .unwrap();
    assert_eq!(res1, 2); // res1 is: 2
    assert_eq!(res2, "TEST A"); // res2 is: TEST A
    assert_eq!(res3, "MyTestB"); // res3 is: MyTestB
}

#[test]
fn a_sendable_class_instance_reaches_the_task_by_reference() {
    let a = Shared::new(MyTestA::new("shared"));
    let (name, address) = TaskPool::global()
        .execute(test_func_shared::task(a.clone()))
        .wait()
        .unwrap();
    assert_eq!(name, "shared");
    assert_eq!(address, Shared::as_ptr(&a) as usize);
}
