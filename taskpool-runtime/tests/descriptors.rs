//! Task descriptors: bytes and JSON round trips, execution from a descriptor, the size cap,
//! bad input, and how arguments move or are copied.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use taskpool::{Encoding, Payload, Priority, Task, TaskDescriptor, TaskPool, concurrent, sleep};

#[concurrent]
fn add(a: i32, b: i32) -> i32 {
    a + b
}

#[concurrent]
async fn slow_concat(parts: Vec<String>) -> String {
    sleep(Duration::from_millis(1)).await;
    parts.concat()
}

#[test]
fn a_descriptor_round_trips_through_bytes_and_json_and_runs_on_a_pool() {
    let task = Task::new(add, (40, 2))
        .with_name("answer")
        .with_priority(Priority::High);
    let descriptor = task.descriptor().unwrap();
    assert_eq!(descriptor.function, format!("{}::add", module_path!()));
    assert_eq!(
        (descriptor.name.as_deref(), descriptor.priority),
        (Some("answer"), Priority::High)
    );

    let from_bytes = TaskDescriptor::from_bytes(&descriptor.to_bytes().unwrap()).unwrap();
    assert_eq!(from_bytes, descriptor);
    let json = descriptor.to_json().unwrap();
    assert_eq!(
        json,
        format!(
            r#"{{"version":1,"function":"{}::add","name":"answer","priority":"High","args":[40,2]}}"#,
            module_path!()
        )
    );
    let from_json = TaskDescriptor::from_json(&json).unwrap();
    assert_eq!(from_json.args, Payload::Json("[40,2]".to_owned()));
    // Either form converts to the other.
    assert_eq!(
        TaskDescriptor::from_bytes(&from_json.to_bytes().unwrap()).unwrap(),
        descriptor
    );

    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let bytes_result = pool.execute_descriptor(&from_bytes).wait().unwrap();
    assert_eq!(bytes_result.encoding(), Encoding::Postcard);
    assert_eq!(bytes_result.decode::<i32>().unwrap(), 42);
    let json_result = pool.execute_descriptor(&from_json).wait().unwrap();
    assert_eq!(json_result, Payload::Json("42".to_owned()));
    // Typed, when the caller knows the function.
    let typed = Task::from_descriptor(&from_json).unwrap();
    assert_eq!(typed.name(), "answer");
    assert_eq!(
        pool.execute(typed).wait().unwrap().decode::<i32>().unwrap(),
        42
    );
}

#[test]
fn an_async_function_runs_from_a_descriptor() {
    let parts = vec!["de".to_owned(), "scriptor".to_owned()];
    let json = Task::new(slow_concat, (parts,))
        .descriptor()
        .unwrap()
        .to_json()
        .unwrap();
    let descriptor = TaskDescriptor::from_json(&json).unwrap();
    let result = TaskPool::global()
        .execute_descriptor(&descriptor)
        .wait()
        .unwrap();
    assert_eq!(result.decode::<String>().unwrap(), "descriptor");
}

#[test]
fn an_unknown_function_is_refused_with_10200014() {
    let json = r#"{"version":1,"function":"nowhere::nothing","args":[]}"#;
    let error = TaskDescriptor::from_json(json).unwrap_err();
    assert_eq!(error.code(), Some(10200014));
    assert!(error.to_string().contains("nowhere::nothing"));

    let forged = TaskDescriptor {
        function: "nowhere::nothing".into(),
        name: None,
        priority: Priority::Medium,
        args: Payload::encode(&(), Encoding::Postcard).unwrap(),
    };
    let handle = TaskPool::global().execute_descriptor(&forged);
    assert_eq!(handle.wait().unwrap_err().code(), Some(10200014));
}

#[test]
fn malformed_input_is_refused_with_10200006_and_a_reason() {
    let bytes = Task::new(add, (1, 2))
        .descriptor()
        .unwrap()
        .to_bytes()
        .unwrap();
    for cut in 0..bytes.len() {
        let error = TaskDescriptor::from_bytes(&bytes[..cut]).unwrap_err();
        assert_eq!(error.code(), Some(10200006), "truncated at {cut}: {error}");
    }
    let wrong_types = format!(
        r#"{{"version":1,"function":"{}::add","args":["one",2]}}"#,
        module_path!()
    );
    let error = TaskDescriptor::from_json(&wrong_types).unwrap_err();
    assert_eq!(error.code(), Some(10200006));
    assert!(error.to_string().contains("expected type"), "{error}");
    let wrong_count = format!(
        r#"{{"version":1,"function":"{}::add","args":[1]}}"#,
        module_path!()
    );
    assert_eq!(
        TaskDescriptor::from_json(&wrong_count).unwrap_err().code(),
        Some(10200006)
    );
    let future_version = format!(
        r#"{{"version":9,"function":"{}::add","args":[1,2]}}"#,
        module_path!()
    );
    let error = TaskDescriptor::from_json(&future_version).unwrap_err();
    assert!(error.to_string().contains("version 9"), "{error}");
    let error = TaskDescriptor::from_json("{not json").unwrap_err();
    assert_eq!(error.code(), Some(10200006));
    assert!(error.to_string().contains("not a task descriptor"));
}

static BIG_RAN: AtomicBool = AtomicBool::new(false);

#[concurrent]
fn weigh(data: Vec<u8>) -> usize {
    BIG_RAN.store(true, Ordering::SeqCst);
    data.len()
}

#[concurrent]
fn inflate(size: usize) -> Vec<u8> {
    vec![1; size]
}

#[test]
fn data_over_the_pools_cap_is_refused_and_nothing_runs() {
    let pool = TaskPool::builder()
        .max_serialized_bytes(1024)
        .build()
        .unwrap();
    let descriptor = Task::new(weigh, (vec![7u8; 4096],)).descriptor().unwrap();
    let error = pool.execute_descriptor(&descriptor).wait().unwrap_err();
    assert_eq!(error.code(), Some(10200006));
    assert!(
        error.to_string().contains("over the cap of 1024 bytes"),
        "{error}"
    );
    assert!(!BIG_RAN.load(Ordering::SeqCst), "a refused task never runs");

    let small = Task::new(weigh, (vec![7u8; 100],)).descriptor().unwrap();
    assert_eq!(
        pool.execute_descriptor(&small)
            .wait()
            .unwrap()
            .decode::<usize>()
            .unwrap(),
        100
    );
    // A result over the cap fails the task instead of crossing back.
    let inflating = Task::new(inflate, (4096,)).descriptor().unwrap();
    assert_eq!(
        pool.execute_descriptor(&inflating)
            .wait()
            .unwrap_err()
            .code(),
        Some(10200006)
    );
}

/// Whether a [`weigh_over_cap`] ran with data over 1024 bytes on a thread of the pool with
/// that cap (named "capped").
static OVER_CAP_RAN: AtomicBool = AtomicBool::new(false);

#[concurrent]
fn weigh_over_cap(data: Vec<u8>) -> usize {
    let thread = std::thread::current();
    if data.len() > 1024 && thread.name().is_some_and(|name| name.starts_with("capped")) {
        OVER_CAP_RAN.store(true, Ordering::SeqCst);
    }
    data.len()
}

/// A task rebuilt from a descriptor with `Task::from_descriptor` (under the default cap) and
/// executed on a pool with a smaller one is held to the pool's cap, as `execute_descriptor`
/// holds it: by value and by reference. It used to run.
#[test]
fn a_task_rebuilt_from_a_descriptor_is_held_to_the_pools_cap() {
    let pool = TaskPool::builder()
        .max_serialized_bytes(1024)
        .thread_name("capped")
        .build()
        .unwrap();
    let descriptor = Task::new(weigh_over_cap, (vec![7u8; 4096],))
        .descriptor()
        .unwrap();
    let task = Task::from_descriptor(&descriptor).unwrap();
    let error = pool.execute(&task).wait().unwrap_err();
    assert_eq!(error.code(), Some(10200006), "{error}");
    assert!(
        error.to_string().contains("over the cap of 1024 bytes"),
        "{error}"
    );
    let error = pool.execute(task).wait().unwrap_err();
    assert_eq!(error.code(), Some(10200006), "{error}");
    assert!(
        !OVER_CAP_RAN.load(Ordering::SeqCst),
        "a refused task never runs"
    );
    // Under the cap, or on a pool with the default one, it runs.
    let small = Task::new(weigh_over_cap, (vec![7u8; 100],))
        .descriptor()
        .unwrap();
    let small = Task::from_descriptor(&small).unwrap();
    let result = pool.execute(small).wait().unwrap();
    assert_eq!(result.decode::<usize>().unwrap(), 100);
    let roomy = TaskPool::builder().build().unwrap();
    let task = Task::from_descriptor(&descriptor).unwrap();
    let result = roomy.execute(task).wait().unwrap();
    assert_eq!(result.decode::<usize>().unwrap(), 4096);
}

#[concurrent]
fn address_of(buffer: Vec<u8>) -> (usize, u8) {
    (buffer.as_ptr() as usize, buffer[0])
}

#[concurrent]
fn scribble(mut buffer: Vec<u8>) -> (usize, u8) {
    let before = buffer[0];
    buffer[0] = 0xFF;
    (buffer.as_ptr() as usize, before)
}

#[test]
fn a_one_shot_task_receives_the_callers_buffer_without_a_copy() {
    let buffer = vec![42u8; 1 << 20];
    let address = buffer.as_ptr() as usize;
    let (seen, first) = TaskPool::global()
        .run(address_of, (buffer,))
        .wait()
        .unwrap();
    assert_eq!((seen, first), (address, 42), "the same allocation arrived");
}

#[test]
fn a_task_executed_several_times_gives_each_run_its_own_copy() {
    let buffer = vec![1u8; 4096];
    let address = buffer.as_ptr() as usize;
    let task = Task::new(scribble, (buffer,));
    let pool = TaskPool::global();
    for _ in 0..3 {
        let (seen, before) = pool.execute(&task).wait().unwrap();
        assert_ne!(seen, address, "each run works on its own copy");
        assert_eq!(
            before, 1,
            "earlier runs' writes never reach the task's arguments"
        );
    }
    // The task's own arguments are untouched and it can still run once more by value.
    let (seen, before) = pool.execute(task).wait().unwrap();
    assert_eq!((seen, before), (address, 1));
}

#[test]
fn a_caller_that_knows_the_function_gets_a_typed_task_back() {
    let json = Task::new(add, (4, 5))
        .with_name("typed")
        .descriptor()
        .unwrap()
        .to_json()
        .unwrap();
    let descriptor = TaskDescriptor::from_json(&json).unwrap();
    let task = descriptor.clone().into_task(add).unwrap();
    assert_eq!(task.name(), "typed");
    assert_eq!(taskpool::execute(task).wait().unwrap(), 9);
    let error = descriptor.into_task(weigh).unwrap_err();
    assert!(error.to_string().contains("not `"), "{error}");
}

#[concurrent]
fn make_value(n: u32) -> serde_json::Value {
    serde_json::json!({ "n": n })
}

/// Regression: a result only a self-describing format reads back came back from a bytes
/// descriptor as compact bytes nobody could decode, the run counted a success. It comes back
/// in JSON.
#[test]
fn a_result_only_json_reads_back_comes_back_in_json_from_a_bytes_descriptor() {
    let bytes = Task::new(make_value, (5,))
        .descriptor()
        .unwrap()
        .to_bytes()
        .unwrap();
    let descriptor = TaskDescriptor::from_bytes(&bytes).unwrap();
    let result = TaskPool::global()
        .execute_descriptor(&descriptor)
        .wait()
        .unwrap();
    assert_eq!(result.encoding(), Encoding::Json);
    let value: serde_json::Value = result.decode().unwrap();
    assert_eq!(value, serde_json::json!({ "n": 5 }));
}

#[concurrent]
fn echo_value(value: serde_json::Value) -> serde_json::Value {
    value
}

/// Regression: arguments only a self-describing format reads back made a descriptor that
/// `to_bytes` wrote and `from_bytes` then refused, with a message naming neither the cause nor
/// a way out. `descriptor()` refuses them (10200006, saying why); the task still runs.
#[test]
fn arguments_only_json_reads_back_are_refused_by_descriptor_saying_why() {
    let task = Task::new(echo_value, (serde_json::json!({ "a": [1, null] }),));
    let error = task.descriptor().unwrap_err();
    assert_eq!(error.code(), Some(10200006));
    assert!(error.to_string().contains("self-describing"), "{error}");
    let result = TaskPool::global().execute(task).wait().unwrap();
    assert_eq!(result, serde_json::json!({ "a": [1, null] }));
}
