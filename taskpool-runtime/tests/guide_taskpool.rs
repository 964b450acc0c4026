//! The ArkTS developer guides on TaskPool (openharmony/docs, `en/application-dev/arkts-utils/`),
//! program by program: each test names the guide it ports. Timers and busy loops of the guides
//! are replaced by gates and conditions; nothing asserts on time.

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use support::icons::{IconItemSource, push_row};
use support::{open_gate, pass_gate, wait_until};
use taskpool::{
    AsyncLock, AsyncRunner, Error, LongTask, Priority, Shared, Task, TaskGroup, TaskId, TaskPool,
    concurrent, send_data, sendable,
};

// ---------------------------------------------------------------------------------------------
// sync-task-development.md, "Using TaskPool for Independent Synchronous Tasks"

/// `@Concurrent async function taskpoolFunc(num: number): Promise<number>`
#[concurrent]
async fn taskpool_func(num: i64) -> i64 {
    num + 100
}

/// `mainFunc`: the second task takes the first one's result.
#[test]
fn sync_tasks_chain_one_result_into_the_next_task() {
    let res1 = taskpool::execute(Task::new(taskpool_func, (1,)))
        .wait()
        .unwrap();
    let res2 = taskpool::execute(Task::new(taskpool_func, (res1,)))
        .wait()
        .unwrap();
    assert_eq!((res1, res2), (101, 201));
}

// ---------------------------------------------------------------------------------------------
// independent-time-consuming-task.md, multi-time-consuming-tasks.md,
// taskpool-communicates-with-mainthread.md

/// `@Concurrent function loadPicture(count: number): IconItemSource[]`
#[concurrent]
fn load_picture(count: u32) -> Vec<IconItemSource> {
    let mut list = Vec::new();
    for index in 0..count {
        push_row(&mut list, index);
    }
    list
}

/// `@Concurrent function loadPictureSendData(count)`: the same, reporting each step with
/// `taskpool.Task.sendData(iconItemSourceList.length)`.
#[concurrent]
fn load_picture_send_data(count: u32) -> Vec<IconItemSource> {
    let mut list = Vec::new();
    for index in 0..count {
        push_row(&mut list, index);
        send_data(list.len()).unwrap();
    }
    list
}

fn assert_is_picture_list(list: &[IconItemSource], count: usize) {
    assert_eq!(list.len(), count * 6);
    for (i, item) in list.iter().enumerate() {
        assert_eq!(item.text, format!("item{}", i + 1));
    }
    assert_eq!(list[0].image, "$media:startIcon");
    assert_eq!(list[1].image, "$media:background");
    assert_eq!(list[5].image, "$media:foreground");
}

/// independent-time-consuming-task.md: `new taskpool.Task(loadPicture, 30)`, then `execute`.
#[test]
fn an_independent_task_returns_its_thirty_picture_rows() {
    let load_picture_task = Task::new(load_picture, (30,));
    let icon_item_source_list = taskpool::execute(load_picture_task).wait().unwrap();
    assert_is_picture_list(&icon_item_source_list, 30);
}

/// multi-time-consuming-tasks.md: a group of `loadPicture(30)`, `(20)`, `(10)`; the host
/// flattens the results, which come back in the order the tasks were added.
#[test]
fn a_group_of_picture_loads_returns_every_result_in_add_order() {
    let mut task_group = TaskGroup::new();
    task_group.add_task(Task::new(load_picture, (30,))).unwrap();
    task_group.add_task(Task::new(load_picture, (20,))).unwrap();
    task_group.add_task(Task::new(load_picture, (10,))).unwrap();
    let ret = taskpool::execute_group(&task_group, Priority::Medium)
        .wait()
        .unwrap();
    let lengths: Vec<usize> = ret.iter().map(Vec::len).collect();
    assert_eq!(lengths, [180, 120, 60]);
    for (list, count) in ret.iter().zip([30, 20, 10]) {
        assert_is_picture_list(list, count);
    }
    let icon_item_source_list: Vec<IconItemSource> = ret.into_iter().flatten().collect();
    assert_eq!(icon_item_source_list.len(), 360);
}

/// taskpool-communicates-with-mainthread.md: `lodePictureTask.onReceiveData(notice)`; the
/// host hears 6, 12, … 180 while the task runs, in order, and still gets the full result.
#[test]
fn a_task_reports_its_progress_to_the_host_with_send_data() {
    let notices = Arc::new(Mutex::new(Vec::new()));
    let lode_picture_task = Task::new(load_picture_send_data, (30,));
    let sink = Arc::clone(&notices);
    lode_picture_task.on_receive_data(move |data: usize| sink.lock().unwrap().push(data));
    let icon_item_source_list = taskpool::execute(lode_picture_task).wait().unwrap();
    assert_is_picture_list(&icon_item_source_list, 30);
    wait_until("every notice arrived", || {
        notices.lock().unwrap().len() == 30
    });
    let expected: Vec<usize> = (1..=30).map(|i| i * 6).collect();
    assert_eq!(*notices.lock().unwrap(), expected);
}

// ---------------------------------------------------------------------------------------------
// taskpool-waterflow.md: `query` sends its 33 image names with sendData and returns nothing;
// `fillImg` receives them.

#[concurrent]
fn query() {
    let result: Vec<String> = (0..33).map(|i| format!("Image{i}")).collect();
    send_data(result).unwrap();
}

#[test]
fn waterflow_query_sends_its_rows_to_the_host() {
    let img: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let task = Task::new(query, ());
    let fill_img = Arc::clone(&img);
    task.on_receive_data(move |img_arr: Vec<String>| *fill_img.lock().unwrap() = img_arr);
    taskpool::execute(task).wait().unwrap();
    wait_until("fillImg ran", || img.lock().unwrap().len() == 33);
    let img = img.lock().unwrap();
    assert_eq!(img[0], "Image0");
    assert_eq!(img[32], "Image32");
    // The page shows `img[item % 33]` for item 0..100.
    assert_eq!(img[99 % 33], "Image0");
}

// ---------------------------------------------------------------------------------------------
// cpu-intensive-task-development.md, "Using TaskPool for Image Histogram Processing": the
// buffer is cut in three, a group processes the slices at HIGH priority.

/// `@Concurrent function imageProcessing(dataSlice: ArrayBuffer): ArrayBuffer`
#[concurrent]
fn image_processing(data_slice: Vec<u8>) -> Vec<u8> {
    data_slice
}

#[test]
fn histogram_slices_run_as_a_high_priority_group() {
    let pixel_buffer: Vec<u8> = (0..24).collect();
    let number = pixel_buffer.len() / 3;
    let mut group = TaskGroup::new();
    group
        .add(image_processing, (pixel_buffer[..number].to_vec(),))
        .unwrap();
    group
        .add(
            image_processing,
            (pixel_buffer[number..number * 2].to_vec(),),
        )
        .unwrap();
    group
        .add(image_processing, (pixel_buffer[number * 2..].to_vec(),))
        .unwrap();
    let ret = taskpool::execute_group(&group, Priority::High)
        .wait()
        .unwrap();
    assert_eq!(ret.len(), 3);
    assert_eq!(ret.concat(), pixel_buffer, "the slices come back in order");
}

// ---------------------------------------------------------------------------------------------
// multi-thread-cancel-task.md: the id of a delayed task travels in a Sendable object to a task
// that cancels it from a pool thread.

/// `@Sendable class SendableTest { private taskId: number }`
#[sendable]
struct SendableTest {
    task_id: TaskId,
}

impl SendableTest {
    fn get_task_id(&self) -> TaskId {
        self.task_id
    }
}

/// `@Concurrent function cancel(send: SendableTest)`
#[concurrent]
fn cancel(send: Shared<SendableTest>) -> bool {
    taskpool::cancel(send.get_task_id()).is_ok()
}

static DELAYED_RAN: AtomicBool = AtomicBool::new(false);

/// `@Concurrent function delayed()`
#[concurrent]
fn delayed() {
    DELAYED_RAN.store(true, Ordering::SeqCst);
}

#[test]
fn a_pool_thread_cancels_a_delayed_task_by_its_id() {
    let task = Task::new(delayed, ());
    let id = task.id();
    // The guide waits 2 s; an hour keeps the test deterministic (the cancel always comes first).
    let handle = taskpool::execute_delayed(Duration::from_secs(3600), task, Priority::Medium);
    let send = Shared::new(SendableTest { task_id: id });
    assert!(
        taskpool::execute(Task::new(cancel, (send,)))
            .wait()
            .unwrap()
    );
    // "taskpool execute error, message is: taskpool:: task has been canceled"
    assert!(matches!(handle.wait(), Err(Error::Canceled { .. })));
    assert!(!DELAYED_RAN.load(Ordering::SeqCst));
}

// ---------------------------------------------------------------------------------------------
// taskpool-async-task-guide.md: an `AsyncRunner("async", 5, 5)` for camera frames; when frames
// come faster than they are processed, the earliest waiting frames are discarded.

/// `@Concurrent function collectFrame()`: the guide busy-waits 30 s; this one waits at a gate.
#[concurrent]
fn collect_frame(gate: u64, frame: u32) -> u32 {
    pass_gate(gate);
    frame
}

#[test]
fn an_async_runner_discards_the_earliest_waiting_frames() {
    // `new taskpool.AsyncRunner("async", 5, 5)`: named runners are process-wide singletons.
    let named = AsyncRunner::named("async", 5, 5).unwrap();
    assert_eq!(named.name(), Some("async"));
    assert_eq!((named.running_capacity(), named.waiting_capacity()), (5, 5));
    // The same runner on a pool of its own, so that the gated frames hold no global thread.
    let pool = TaskPool::builder().max_threads(5).build().unwrap();
    let async_runner = pool.async_runner(5, 5).unwrap();
    const GATE: u64 = 7_301;
    // Frames 0-4 run (and wait at the gate), frames 5-9 wait, frames 10 and 11 push out 5 and 6.
    let handles: Vec<_> = (0..12)
        .map(|frame| {
            async_runner.execute(Task::new(collect_frame, (GATE, frame)), Priority::Medium)
        })
        .collect();
    let mut handles: Vec<_> = handles.into_iter().map(Some).collect();
    for frame in [5, 6] {
        let outcome = handles[frame].take().unwrap().wait();
        assert_eq!(outcome.unwrap_err().code(), Some(10200054), "frame {frame}");
    }
    open_gate(GATE);
    let processed: Vec<u32> = handles
        .into_iter()
        .flatten()
        .map(|h| h.wait().unwrap())
        .collect();
    assert_eq!(processed, [0, 1, 2, 3, 4, 7, 8, 9, 10, 11]);
}

// ---------------------------------------------------------------------------------------------
// concurrent-loading-modules-guide.md: service modules (Sendable `Calculator` and `TimerSdk`)
// are initialized on pool threads and used by the host afterwards.

/// `@Sendable class Calculator { history; totalCount }`: its mutable state sits behind an
/// `AsyncLock`, as ArkTS's `collections` containers require.
#[sendable]
struct Calculator {
    history: AsyncLock<Vec<[String; 2]>>,
}

impl Calculator {
    fn init() -> Calculator {
        Calculator {
            history: AsyncLock::new(Vec::new()),
        }
    }

    fn add(&self, a: f64, b: f64) -> f64 {
        let result = a + b;
        self.new_calc(format!("{a} + {b}"), format!("{result}"));
        result
    }

    fn sub(&self, a: f64, b: f64) -> f64 {
        let result = a - b;
        self.new_calc(format!("{a} - {b}"), format!("{result}"));
        result
    }

    fn mul(&self, a: f64, b: f64) -> f64 {
        let result = a * b;
        self.new_calc(format!("{a} * {b}"), format!("{result}"));
        result
    }

    fn div(&self, a: f64, b: f64) -> f64 {
        let result = a / b;
        self.new_calc(format!("{a} / {b}"), format!("{result}"));
        result
    }

    fn total_count(&self) -> usize {
        self.history.lock_shared().len()
    }

    fn get_history(&self) -> Vec<[String; 2]> {
        self.history.lock_shared().clone()
    }

    /// `this.totalCount = this.history!.unshift(newRecord)`: newest first.
    fn new_calc(&self, opt: String, ret: String) {
        self.history.lock().insert(0, [opt, ret]);
    }
}

/// `@Sendable class TimerSdk`
#[sendable]
struct TimerSdk {}

impl TimerSdk {
    fn init() -> TimerSdk {
        TimerSdk {}
    }

    /// `async Countdown(time)`: resolves `true` after `time`.
    async fn countdown(&self, time: Duration) -> bool {
        taskpool::sleep(time).await;
        true
    }
}

#[concurrent]
fn init_calculator() -> Shared<Calculator> {
    Shared::new(Calculator::init())
}

#[concurrent]
fn init_timer_sdk() -> Shared<TimerSdk> {
    Shared::new(TimerSdk::init())
}

#[test]
fn service_modules_load_on_pool_threads_and_serve_the_host() {
    let calc = taskpool::execute(Task::new(init_calculator, ()));
    let timer = taskpool::execute(Task::new(init_timer_sdk, ()));
    let calc = calc.wait().unwrap();
    let timer = timer.wait().unwrap();
    assert_eq!(calc.add(1.0, 2.0), 3.0);
    assert_eq!(calc.sub(5.0, 2.0), 3.0);
    assert_eq!(calc.mul(2.0, 4.0), 8.0);
    assert_eq!(calc.div(1.0, 4.0), 0.25);
    assert_eq!(calc.total_count(), 4);
    let history = calc.get_history();
    assert_eq!(history[0], ["1 / 4".to_owned(), "0.25".to_owned()]);
    assert_eq!(history[3], ["1 + 2".to_owned(), "3".to_owned()]);
    assert!(support::block_on(timer.countdown(Duration::from_millis(1))));
}

// ---------------------------------------------------------------------------------------------
// batch-database-operations-guide.md: `create`, `insert`, `query` and `clear` tasks work on one
// store, named by the context the host passes (here a directory; the store is a JSON-lines
// file), both with plain rows and with Sendable rows.

const STORE: &str = "Store.db";

/// `relationalStore.ValuesBucket { id, name, age, salary }`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValuesBucket {
    id: i64,
    name: String,
    age: i64,
    salary: f64,
}

/// `@Sendable class SharedValuesBucket implements IValueBucket`
#[sendable]
#[derive(Debug, Clone, PartialEq)]
pub struct SharedValuesBucket {
    id: i64,
    name: String,
    age: i64,
    salary: f64,
}

/// `collections.Array<SharedValuesBucket>`: a `Vec` field of a `#[sendable]` type.
#[sendable]
#[derive(Debug, PartialEq)]
pub struct SendableRows {
    rows: Vec<SharedValuesBucket>,
}

fn store_path(context: &Path) -> PathBuf {
    context.join(STORE)
}

/// `@Concurrent async function create(context)`: "CREATE TABLE IF NOT EXISTS test".
#[concurrent]
async fn create(context: PathBuf) -> Result<(), std::io::Error> {
    std::fs::create_dir_all(&context)?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(store_path(&context))?;
    Ok(())
}

/// `@Concurrent async function insert(context, valueBucketArray)`: `batchInsert("test", …)`.
#[concurrent]
async fn insert(context: PathBuf, value_bucket_array: Vec<ValuesBucket>) -> Result<(), String> {
    use std::io::Write;
    let mut store = std::fs::OpenOptions::new()
        .append(true)
        .open(store_path(&context))
        .map_err(|e| e.to_string())?;
    for v in &value_bucket_array {
        let line = serde_json::to_string(v).map_err(|e| e.to_string())?;
        writeln!(store, "{line}").map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The Sendable form of `insert`.
#[concurrent]
async fn insert_shared(
    context: PathBuf,
    value_bucket_array: Shared<SendableRows>,
) -> Result<(), String> {
    let rows = value_bucket_array
        .rows
        .iter()
        .map(|v| ValuesBucket {
            id: v.id,
            name: v.name.clone(),
            age: v.age,
            salary: v.salary,
        })
        .collect();
    insert(context, rows).await
}

fn read_rows(context: &Path) -> Result<Vec<ValuesBucket>, String> {
    let text = std::fs::read_to_string(store_path(context)).map_err(|e| e.to_string())?;
    text.lines()
        .map(|line| serde_json::from_str(line).map_err(|e| e.to_string()))
        .collect()
}

/// `@Concurrent async function query(context)`: every row.
#[concurrent]
async fn query_rows(context: PathBuf) -> Result<Vec<ValuesBucket>, String> {
    read_rows(&context)
}

/// The Sendable form of `query`: the rows come back shared, not copied.
#[concurrent]
async fn query_shared(context: PathBuf) -> Result<Shared<SendableRows>, String> {
    let rows = read_rows(&context)?
        .into_iter()
        .map(|v| SharedValuesBucket {
            id: v.id,
            name: v.name,
            age: v.age,
            salary: v.salary,
        })
        .collect();
    Ok(Shared::new(SendableRows { rows }))
}

/// `@Concurrent async function clear(context)`: `deleteRdbStore`.
#[concurrent]
async fn clear(context: PathBuf) -> Result<(), std::io::Error> {
    std::fs::remove_file(store_path(&context))
}

fn database_context(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("taskpool-guide-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn database_tasks_create_insert_query_and_clear_in_order() {
    let context = database_context("plain");
    let count = 5;
    let value_bucket_array: Vec<ValuesBucket> = (0..count)
        .map(|i| ValuesBucket {
            id: i,
            name: format!("zhangsan{i}"),
            age: 20,
            salary: 5000.0 + 50.0 * i as f64,
        })
        .collect();
    taskpool::execute(Task::new(create, (context.clone(),)))
        .wait()
        .unwrap();
    taskpool::execute(Task::new(
        insert,
        (context.clone(), value_bucket_array.clone()),
    ))
    .wait()
    .unwrap();
    let ret = taskpool::execute(Task::new(query_rows, (context.clone(),)))
        .wait()
        .unwrap();
    assert_eq!(ret, value_bucket_array);
    assert_eq!(ret[4].name, "zhangsan4");
    assert_eq!(ret[4].salary, 5200.0);
    taskpool::execute(Task::new(clear, (context.clone(),)))
        .wait()
        .unwrap();
    assert!(!store_path(&context).exists());
    let _ = std::fs::remove_dir_all(&context);
}

#[test]
fn database_tasks_share_sendable_rows_with_the_host() {
    let context = database_context("sendable");
    let value_bucket_array = Shared::new(SendableRows {
        rows: (0..5)
            .map(|i| SharedValuesBucket {
                id: i,
                name: format!("zhangsan{i}"),
                age: 20,
                salary: 5000.0 + 50.0 * i as f64,
            })
            .collect(),
    });
    taskpool::execute(Task::new(create, (context.clone(),)))
        .wait()
        .unwrap();
    taskpool::execute(Task::new(
        insert_shared,
        (context.clone(), value_bucket_array.clone()),
    ))
    .wait()
    .unwrap();
    let ret = taskpool::execute(Task::new(query_shared, (context.clone(),)))
        .wait()
        .unwrap();
    assert_eq!(*ret, *value_bucket_array);
    let ids: Vec<i64> = ret.rows.iter().map(|v| v.id).collect();
    assert_eq!(ids, [0, 1, 2, 3, 4]);
    taskpool::execute(Task::new(clear, (context.clone(),)))
        .wait()
        .unwrap();
    let _ = std::fs::remove_dir_all(&context);
}

/// A failing database call (here: inserting before `create`) rejects its promise with the
/// task's own error.
#[test]
fn a_database_task_that_fails_rejects_with_its_error() {
    let context = database_context("missing");
    let outcome = taskpool::execute(Task::new(insert, (context, Vec::new()))).wait();
    assert!(matches!(outcome, Err(Error::TaskFailed(_))), "{outcome:?}");
}

// ---------------------------------------------------------------------------------------------
// long-time-task-guide.md: a `LongTask` listens to a sensor and forwards its readings to the
// host; "Delete listener" stops the listening and calls `terminateTask`.

/// The sensor: readings the long task receives (`sensor.on(ACCELEROMETER, …)`), and the
/// "delete listener" event (`emitter.emit({ eventId: 1 })`).
#[sendable]
struct Accelerometer {
    stop: AsyncLock<bool>,
}

/// `@Concurrent async function SensorListener()`: forwards a reading per tick until told to
/// stop (the guide's `emitter.emit({ eventId: 0 }, { data })`, here `sendData`).
#[concurrent]
async fn sensor_listener(sensor: Shared<Accelerometer>) -> u32 {
    let mut readings = 0;
    loop {
        if *sensor.stop.lock_shared_async().await {
            return readings;
        }
        readings += 1;
        send_data((readings as f64, 0.0_f64, 9.8_f64)).unwrap();
        taskpool::sleep(Duration::from_millis(1)).await;
    }
}

#[test]
fn a_long_task_listens_until_the_host_deletes_the_listener() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let sensor = Shared::new(Accelerometer {
        stop: AsyncLock::new(false),
    });
    let sensor_task = LongTask::new(sensor_listener, (sensor.clone(),));
    let id = sensor_task.id();
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&received);
    // `emitter.on({ eventId: 0 }, (data) => …)`, registered before the task is executed.
    sensor_task.on_receive_data(move |data: (f64, f64, f64)| sink.lock().unwrap().push(data));
    let handle = pool.execute(sensor_task);
    wait_until("readings arrive", || received.lock().unwrap().len() >= 3);
    // "Delete listener": stop listening, then terminate the long task.
    *sensor.stop.lock() = true;
    let readings = handle.wait().unwrap();
    pool.terminate_task(id).unwrap();
    assert_eq!(pool.terminate_task(id).unwrap_err().code(), Some(401));
    wait_until("every reading arrived", || {
        received.lock().unwrap().len() == readings as usize
    });
    let received = received.lock().unwrap();
    assert_eq!(received[0], (1.0, 0.0, 9.8));
}
