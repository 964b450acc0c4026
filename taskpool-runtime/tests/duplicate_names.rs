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

#[test]
fn a_duplicated_name_is_listed_and_refused_by_descriptors() {
    let name = format!("{}::twin", module_path!());
    assert_eq!(duplicate_functions(), vec![(name.as_str(), 2)]);

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
