//! The ArkTS guides on inter-thread communication (openharmony/docs,
//! `en/application-dev/arkts-utils/`), program by program: `normal-object.md`,
//! `arraybuffer-object.md`, `transferabled-object.md`, `shared-arraybuffer-object.md`,
//! `serialization-support-types.md` and `arkts-collections-introduction.md`. ArkTS copies
//! (structured clone), transfers or shares; here a value is moved (transfer), cloned (copy) or
//! put in a `Shared<T>` (share). Timers are replaced by conditions; nothing asserts on time.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use support::{PATIENCE, wait_until};
use taskpool::{
    AsyncLock, ConditionVariable, HandlerResult, Priority, Shared, Task, TaskGroup, TaskPool,
    Worker, WorkerHandler, WorkerPort, concurrent, sendable,
};

// ---------------------------------------------------------------------------------------------
// normal-object.md: a common object crosses by copy; each thread has its own.

/// `export class TestA { name: string = 'ClassA' }`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestA {
    name: String,
}

impl TestA {
    fn new(name: &str) -> TestA {
        TestA {
            name: name.to_owned(),
        }
    }
}

/// `@Concurrent async function test1(arg: TestA)`: logs the name; the port returns it, and
/// renames its own copy to show the caller's is another object.
#[concurrent]
async fn test1(mut arg: TestA) -> String {
    let name = format!("TestA name is: {}", arg.name);
    arg.name = "changed in the task".to_owned();
    name
}

#[test]
fn a_common_object_reaches_the_task_as_a_copy() {
    // 1. objA; 2. a task with it (ArkTS serializes it; `&task` runs copy it per run, by Clone);
    // 3. execute.
    let obj_a = TestA::new("TestA");
    let task = Task::new(test1, (obj_a.clone(),));
    for _ in 0..2 {
        let logged = taskpool::execute(&task).wait().unwrap();
        assert_eq!(logged, "TestA name is: TestA", "each run has a fresh copy");
    }
    // Through a descriptor the object is serialized and deserialized, as in ArkTS.
    let descriptor = task.descriptor().unwrap();
    let logged = TaskPool::global()
        .execute_descriptor(&descriptor)
        .wait()
        .unwrap()
        .decode::<String>()
        .unwrap();
    assert_eq!(logged, "TestA name is: TestA");
    assert_eq!(
        obj_a,
        TestA::new("TestA"),
        "the caller's object is untouched"
    );
}

// ---------------------------------------------------------------------------------------------
// arraybuffer-object.md: an ArrayBuffer is passed by copy or by transfer.

/// `@Concurrent function adjustImageValue(arrayBuffer: ArrayBuffer): ArrayBuffer`: "operates"
/// on the buffer (inverts it) and returns it (the result is transferred by default).
#[concurrent]
fn adjust_image_value(mut array_buffer: Vec<u8>) -> Vec<u8> {
    for byte in &mut array_buffer {
        *byte = !*byte;
    }
    array_buffer
}

/// `createImageTask(arrayBuffer, isParamsByTransfer)`: ArkTS's `setTransferList([])` (copy) is
/// a `clone()`; transfer is a move, after which the caller cannot use the buffer (a compile
/// error, not a run-time detach).
fn create_image_task(
    array_buffer: &mut Option<Vec<u8>>,
    is_params_by_transfer: bool,
) -> Task<Vec<u8>> {
    let argument = if is_params_by_transfer {
        array_buffer.take().unwrap()
    } else {
        array_buffer.clone().unwrap()
    };
    Task::new(adjust_image_value, (argument,))
}

fn process_in_four_slices(is_params_by_transfer: bool) {
    let task_num = 4;
    let array_buffer: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let slice_len = array_buffer.len() / task_num;
    let mut slices: Vec<Option<Vec<u8>>> = array_buffer
        .chunks(slice_len)
        .map(|slice| Some(slice.to_vec()))
        .collect();
    let addresses: Vec<usize> = slices
        .iter()
        .map(|slice| slice.as_ref().unwrap().as_ptr() as usize)
        .collect();
    let tasks: Vec<Task<Vec<u8>>> = slices
        .iter_mut()
        .map(|slice| create_image_task(slice, is_params_by_transfer))
        .collect();
    let data: Vec<Vec<u8>> = if is_params_by_transfer {
        // Each task executed by value: its arguments move into the run. (A `TaskGroup` is
        // re-executable, so each of its executions copies its tasks' arguments.)
        let handles: Vec<_> = tasks.into_iter().map(taskpool::execute).collect();
        handles
            .into_iter()
            .map(|handle| handle.wait().unwrap())
            .collect()
    } else {
        let mut task_pool_group = TaskGroup::new();
        for task in tasks {
            task_pool_group.add_task(task).unwrap();
        }
        taskpool::execute_group(&task_pool_group, Priority::Medium)
            .wait()
            .unwrap()
    };
    // Concatenate the results to obtain the final result.
    let inverted: Vec<u8> = array_buffer.iter().map(|byte| !byte).collect();
    assert_eq!(data.concat(), inverted);
    for ((slice, result), address) in slices.iter().zip(&data).zip(addresses) {
        if is_params_by_transfer {
            // Transferred both ways: the caller gave its buffer up, and the very allocation
            // came back, never copied.
            assert!(slice.is_none());
            assert_eq!(result.as_ptr() as usize, address);
        } else {
            // Copied: the caller still has its own, unchanged buffer.
            let own = slice.as_ref().unwrap();
            assert_eq!(own.as_ptr() as usize, address);
            assert_ne!(own, result);
        }
    }
}

#[test]
fn array_buffer_slices_are_passed_by_copy() {
    process_in_four_slices(false);
}

#[test]
fn array_buffer_slices_are_passed_by_transfer() {
    process_in_four_slices(true);
}

// ---------------------------------------------------------------------------------------------
// transferabled-object.md: NativeBinding objects, shared (Context) or transferred (PixelMap).

/// A `PixelMap`: holds its pixels; not `Clone`, so it can only be transferred.
#[derive(Debug, Serialize, Deserialize)]
pub struct PixelMap {
    width: u32,
    pixels: Vec<u32>,
}

impl PixelMap {
    /// `pixelMap.release()`.
    fn release(self) -> usize {
        self.pixels.len()
    }
}

/// `@Concurrent async function loadPixelMap(rawFileDescriptor: number): Promise<PixelMap>`:
/// creates the image source and the pixel map, releases the source and returns the map. ArkTS's
/// `setTransferDetached(true)` is what returning by value does: the pool thread keeps nothing.
#[concurrent]
async fn load_pixel_map(raw_file_descriptor: u32) -> PixelMap {
    let image_source: Vec<u32> = (0..16).map(|i| i * raw_file_descriptor).collect();
    let pixel_map = PixelMap {
        width: 4,
        pixels: image_source.clone(),
    };
    drop(image_source); // imageSource.release()
    pixel_map
}

#[test]
fn a_pixel_map_created_in_a_task_is_transferred_to_the_host() {
    let pixel_map = taskpool::execute(Task::new(load_pixel_map, (3,)))
        .wait()
        .unwrap();
    assert_eq!((pixel_map.width, pixel_map.pixels[5]), (4, 15));
    // The host owns it and can release it at once.
    assert_eq!(pixel_map.release(), 16);
}

/// A `Context`: thread-safe on the native side, so every thread bridges to the same object.
#[sendable]
#[derive(Debug)]
pub struct Context {
    files_dir: String,
}

#[concurrent]
fn context_files_dir(context: Shared<Context>) -> (String, Shared<Context>) {
    (context.files_dir.clone(), context)
}

#[test]
fn a_context_is_shared_by_every_task() {
    let context = Shared::new(Context {
        files_dir: "/data/storage/el2/base/files".to_owned(),
    });
    let handles: Vec<_> = (0..4)
        .map(|_| taskpool::execute(Task::new(context_files_dir, (context.clone(),))))
        .collect();
    for handle in handles {
        let (files_dir, same) = handle.wait().unwrap();
        assert_eq!(files_dir, "/data/storage/el2/base/files");
        assert!(Shared::ptr_eq(&same, &context), "one object, not copies");
    }
}

// ---------------------------------------------------------------------------------------------
// shared-arraybuffer-object.md (and the "Shared Objects" of serialization-support-types.md): a
// SharedArrayBuffer viewed as an Int32Array, waited on with `Atomics.wait` in a task and woken
// with `Atomics.notify` by the host.

/// `new SharedArrayBuffer(20)` viewed as `new Int32Array(sab)`: five atomic cells; the
/// condition variable does `Atomics.wait` / `Atomics.notify`'s parking.
/// The shared memory block.
#[sendable]
pub struct SharedInt32Array {
    cells: Vec<AtomicI32>,
    parked: ConditionVariable,
}

impl SharedInt32Array {
    fn new(byte_length: usize) -> SharedInt32Array {
        SharedInt32Array {
            cells: (0..byte_length / 4).map(|_| AtomicI32::new(0)).collect(),
            parked: ConditionVariable::new(),
        }
    }

    /// `Atomics.wait(array, index, value, timeout)`: "not-equal" if the cell does not hold
    /// `value`, else "ok" when notified in time, "timed-out" otherwise.
    fn wait(&self, index: usize, value: i32, timeout: Duration) -> &'static str {
        if self.cells[index].load(Ordering::SeqCst) != value {
            return "not-equal";
        }
        if self.parked.wait_for(timeout) {
            "ok"
        } else {
            "timed-out"
        }
    }

    /// `Atomics.notify(array, index, count)` for one waiter.
    fn notify_one(&self) {
        self.parked.notify_one();
    }
}

/// `@Concurrent function transferAtomics(arg1: Int32Array)`: `Atomics.wait(arg1, 0, 0, 3000)`
/// (the port's timeout is generous: the host notifies as soon as the task waits).
#[concurrent]
fn transfer_atomics(arg1: Shared<SharedInt32Array>) -> String {
    arg1.wait(0, 0, Duration::from_secs(300)).to_owned()
}

#[test]
fn a_task_waits_on_a_shared_int32_array_until_the_host_notifies() {
    let int32 = Shared::new(SharedInt32Array::new(20));
    assert_eq!(int32.cells.len(), 5);
    let task = Task::new(transfer_atomics, (int32.clone(),));
    let res = taskpool::execute(task);
    // The guide's setTimeout(1000) becomes: notify once the task waits.
    wait_until("the task waits", || int32.parked.waiters() == 1);
    int32.notify_one();
    assert_eq!(res.wait().unwrap(), "ok", "this res is: ok");
    // The memory is shared: a store by the host is seen by the next task.
    int32.cells[0].store(7, Ordering::SeqCst);
    let res = taskpool::execute(Task::new(transfer_atomics, (int32.clone(),)));
    assert_eq!(res.wait().unwrap(), "not-equal");
}

// ---------------------------------------------------------------------------------------------
// serialization-support-types.md, "Common Objects": basic types (no Symbol), Date, String,
// RegExp (as its source), Array, Map, Set, plain objects, ArrayBuffer and typed arrays.

/// A plain object (`{ key: 'value', nested: [1, 2] }`): its attributes, as a struct.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlainFields {
    key: String,
    nested: Vec<i32>,
}

/// One attribute of each common type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommonObject {
    number: f64,
    boolean: bool,
    big_int: i128,
    nothing: Option<()>,
    string: String,
    date: SystemTime,
    reg_exp: String,
    array: Vec<String>,
    map: BTreeMap<String, i32>,
    set: BTreeSet<u8>,
    object: PlainFields,
    array_buffer: Vec<u8>,
    float32_array: Vec<f32>,
}

/// Echoes the object after checking it arrived whole.
#[concurrent]
fn echo_common_object(object: CommonObject) -> CommonObject {
    assert_eq!(object.map["b"], 2);
    object
}

#[test]
fn every_common_object_type_round_trips_through_serialization() {
    let object = CommonObject {
        number: 0.5,
        boolean: true,
        big_int: -(1 << 100),
        nothing: None,
        string: "ArkTS".to_owned(),
        date: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
        reg_exp: "^a+b$".to_owned(),
        array: vec!["x".to_owned(), "y".to_owned()],
        map: [("a".to_owned(), 1), ("b".to_owned(), 2)].into(),
        set: [3, 1, 2].into(),
        object: PlainFields {
            key: "value".to_owned(),
            nested: vec![1, 2],
        },
        array_buffer: vec![0, 255, 7],
        float32_array: vec![1.5, -2.25],
    };
    let task = Task::new(echo_common_object, (object.clone(),));
    // In process: moved (or cloned per run); no serialization.
    assert_eq!(taskpool::execute(&task).wait().unwrap(), object);
    // Serialized, in both wire forms, as ArkTS always does.
    let descriptor = task.descriptor().unwrap();
    for encoded in [
        taskpool::TaskDescriptor::from_bytes(&descriptor.to_bytes().unwrap()).unwrap(),
        taskpool::TaskDescriptor::from_json(&descriptor.to_json().unwrap()).unwrap(),
    ] {
        let back = TaskPool::global()
            .execute_descriptor(&encoded)
            .wait()
            .unwrap()
            .decode::<CommonObject>()
            .unwrap();
        assert_eq!(back, object);
    }
}

/// A free-form object that is not `Clone`: re-running its task copies it by serialization
/// (through JSON, since the compact form cannot read a `serde_json::Value` back).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct PlainObject {
    fields: serde_json::Value,
}

#[concurrent]
fn read_plain_object(object: PlainObject) -> String {
    object.fields["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_task_re_executed_copies_a_free_form_object_that_is_not_clone() {
    let task = Task::new(
        read_plain_object,
        (PlainObject {
            fields: serde_json::json!({ "name": "TestA", "list": [1, "two", null] }),
        },),
    );
    for _ in 0..2 {
        assert_eq!(taskpool::execute(&task).wait().unwrap(), "TestA");
    }
}

// ---------------------------------------------------------------------------------------------
// arkts-collections-introduction.md: 1000 tasks increment a shared array's first element under
// an AsyncLock. The lock holds the array (`collections.Array.create<number>(1, 0)`).

/// `@Concurrent async function add(arr: collections.Array<number>, lock: AsyncLock)`.
#[concurrent]
async fn add(arr: Shared<AsyncLock<Vec<i64>>>) {
    // Without the lock, the task would not compile (ArkTS: fails with a data race error).
    arr.lock_async().await[0] += 1;
}

#[test]
fn a_thousand_tasks_increment_a_shared_array_under_an_async_lock() {
    let arr = Shared::new(AsyncLock::new(vec![0i64; 1]));
    let mut task_group = TaskGroup::new();
    let mut count = 1000;
    while count > 0 {
        task_group.add(add, (arr.clone(),)).unwrap();
        count -= 1;
    }
    taskpool::execute_group(&task_group, Priority::Medium)
        .wait()
        .unwrap();
    // "Return success": passed by reference, every increment landed in the one array.
    assert_eq!(arr.lock()[0], 1000);
}

// ---------------------------------------------------------------------------------------------
// serialization-support-types.md: a Worker carries the same common objects, by copy.

/// Echoes each message back as a serialized copy.
struct EchoCopy;

impl WorkerHandler for EchoCopy {
    type In = serde_json::Value;
    type Out = serde_json::Value;

    async fn on_message(
        &mut self,
        message: serde_json::Value,
        port: &WorkerPort<serde_json::Value>,
    ) -> HandlerResult {
        port.post_message_serialized(&message)?;
        Ok(())
    }
}

#[test]
fn a_worker_copies_a_free_form_object_both_ways() {
    let worker = Worker::new(|| EchoCopy).unwrap();
    let message = serde_json::json!({ "type": "start", "data": [10, "x", null, { "k": true }] });
    worker.post_message_serialized(&message).unwrap();
    // Before the fix the worker could not decode it (on_message_error): nothing came back.
    assert_eq!(worker.recv_timeout(PATIENCE).ok(), Some(message));
    assert_eq!(worker.message_errors(), 0);
    worker.terminate().unwrap();
}
