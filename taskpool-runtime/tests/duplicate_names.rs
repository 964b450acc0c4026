//! A stable name registered twice is reported, never silently shadowed.

use taskpool::{Priority, Task, TaskDescriptor, TaskPool, concurrent, duplicate_functions};

#[concurrent]
fn twin(x: u8) -> u8 {
    x
}

// A second registration under the same stable name, as two linked versions of one crate would
// produce.
taskpool::__private::inventory::submit! { taskpool::__private::FunctionEntry::of::<twin>() }

#[concurrent]
fn single(x: u8) -> u8 {
    x
}

// Two task functions of the same name declared inside function bodies of one module: both are
// registered under the module's path and the function name.
fn first_local() -> Task<u8> {
    #[concurrent]
    fn local() -> u8 {
        1
    }
    local::task()
}

fn second_local() -> Task<u8> {
    #[concurrent]
    fn local() -> u8 {
        2
    }
    local::task()
}

#[test]
fn a_duplicated_name_is_listed_and_refused_by_descriptors() {
    let name = format!("{}::twin", module_path!());
    let local = format!("{}::local", module_path!());
    assert_eq!(
        duplicate_functions(),
        vec![(local.as_str(), 2), (name.as_str(), 2)]
    );

    let json = format!(r#"{{"version":1,"function":"{name}","args":[1]}}"#);
    let error = TaskDescriptor::from_json(&json).unwrap_err();
    assert!(
        matches!(&error, taskpool::Error::DuplicateFunction { count: 2, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("registered by 2"));

    // In-process execution does not go through the registry and is unaffected.
    assert_eq!(TaskPool::global().run(twin, (3,)).wait().unwrap(), 3);
    let other = Task::new(single, (4,)).with_priority(Priority::Low);
    let descriptor = TaskDescriptor::from_bytes(&other.descriptor().unwrap().to_bytes().unwrap());
    assert!(descriptor.is_ok(), "other names still resolve");
}

#[test]
fn task_functions_of_one_name_in_function_bodies_share_it_and_the_error_says_so() {
    let pool = TaskPool::global();
    // In process, each runs its own function.
    assert_eq!(pool.execute(first_local()).wait().unwrap(), 1);
    assert_eq!(pool.execute(second_local()).wait().unwrap(), 2);

    // Through a descriptor the name is ambiguous, and the error names the cause.
    let descriptor = first_local().descriptor().unwrap();
    assert_eq!(descriptor.function, format!("{}::local", module_path!()));
    let error = pool.execute_descriptor(&descriptor).wait().unwrap_err();
    assert!(
        matches!(&error, taskpool::Error::DuplicateFunction { count: 2, .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(
            "rename one of the task functions declared inside function bodies of the same module"
        ),
        "{error}"
    );
}
