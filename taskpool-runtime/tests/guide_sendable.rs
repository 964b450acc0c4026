//! The ArkTS guides on Sendable objects and shared modules (openharmony/docs,
//! `en/application-dev/arkts-utils/`), program by program: `arkts-sendable.md`,
//! `sendable-guide.md`, `sendable-freeze.md`, `arkts-sendable-module.md`,
//! `sendablelrucache-recent-list.md` and `ason-parsing-generation.md`; with them the TaskPool
//! programs of `io-intensive-task-development.md` and `actor-model-development-samples.md`.
//! The compile-time rules of `sendable-constraints.md` are mapped in the README ("ArkTS's
//! Sendable rules") to the trybuild cases of `ui-tests`. Nothing asserts on time.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use support::block_on;
use taskpool::{
    AsyncLock, SendableLruCache, Shared, Task, TaskPool, Worker, WorkerHandler, WorkerPort,
    concurrent, sendable,
};

// ---------------------------------------------------------------------------------------------
// arkts-sendable.md, "@Sendable Decorator": a class and a function

/// `@Sendable class SendableTestClass { desc; num; printName(); getNum() }`.
#[sendable]
pub struct SendableTestClass {
    desc: String,
    num: u32,
}

impl SendableTestClass {
    fn new() -> SendableTestClass {
        SendableTestClass {
            desc: "sendable: this is SendableTestClass ".to_owned(),
            num: 5,
        }
    }

    /// `printName()`: the port returns the line instead of logging it.
    fn print_name(&self) -> String {
        format!("sendable: SendableTestClass desc is: {}", self.desc)
    }

    fn get_num(&self) -> u32 {
        self.num
    }
}

/// The methods travel with the object: a task calls them on the very instance the host made.
#[concurrent]
fn use_sendable_class(object: Shared<SendableTestClass>) -> (String, u32, usize) {
    (
        object.print_name(),
        object.get_num(),
        Shared::as_ptr(&object) as usize,
    )
}

#[test]
fn a_sendable_class_crosses_to_a_task_with_its_methods() {
    let object = Shared::new(SendableTestClass::new());
    let (line, num, address) = taskpool::execute(use_sendable_class::task(object.clone()))
        .wait()
        .unwrap();
    assert_eq!(
        line,
        "sendable: SendableTestClass desc is: sendable: this is SendableTestClass "
    );
    assert_eq!(num, 5);
    assert_eq!(
        address,
        Shared::as_ptr(&object) as usize,
        "passed by reference"
    );
}

/// `@Sendable class TopLevelSendableClass { num = 1; PrintNum() }`.
#[sendable]
pub struct TopLevelSendableClass {
    num: u32,
}

impl TopLevelSendableClass {
    fn print_num(&self) -> &'static str {
        "Top level sendable class"
    }
}

/// `@Sendable function TopLevelSendableFunction()`: a `#[concurrent]` function is Rust's
/// function that may cross threads.
#[concurrent]
fn top_level_sendable_function() -> String {
    "Top level sendable function".to_owned()
}

/// `@Sendable function SendableTestFunction()`: uses a top-level sendable class and function.
#[concurrent]
fn sendable_test_function() -> Vec<String> {
    let top_class = TopLevelSendableClass { num: 1 };
    assert_eq!(top_class.num, 1);
    vec![
        top_class.print_num().to_owned(),
        top_level_sendable_function(),
        "Sendable test function".to_owned(),
    ]
}

/// `@Sendable class SendableTestClass { callback: SendableFuncType; CallSendableFunc() }`. A
/// `#[sendable]` type holds data, not functions (trybuild case s06): the callback the guide
/// stores is the top-level function, which the methods name directly instead.
#[sendable]
pub struct SendableCallbackClass {}

impl SendableCallbackClass {
    /// `sendableClass.callback()`.
    fn callback(&self) -> Vec<String> {
        sendable_test_function()
    }

    /// `CallSendableFunc()`.
    fn call_sendable_func(&self) -> Vec<String> {
        sendable_test_function()
    }
}

/// The same calls from a pool thread, through the shared object.
#[concurrent]
fn call_through(object: Shared<SendableCallbackClass>) -> Vec<String> {
    let mut lines = object.callback();
    lines.extend(object.call_sendable_func());
    lines
}

#[test]
fn a_sendable_function_and_class_are_usable_on_any_thread() {
    let expected = [
        "Top level sendable class",
        "Top level sendable function",
        "Sendable test function",
    ];
    let sendable_class = Shared::new(SendableCallbackClass {});
    assert_eq!(sendable_class.callback(), expected);
    assert_eq!(sendable_class.call_sendable_func(), expected);
    // The function is also a task of its own, and the class's methods run on a pool thread.
    assert_eq!(
        taskpool::execute(sendable_test_function::task())
            .wait()
            .unwrap(),
        expected
    );
    let both = taskpool::execute(call_through::task(sendable_class))
        .wait()
        .unwrap();
    assert_eq!(both, [expected, expected].concat());
}

#[test]
fn a_sendable_object_lives_while_any_thread_holds_it() {
    // "its liveness depends on whether any concurrent instance holds a reference to it"
    let object = Shared::new(SendableTestClass::new());
    let handles: Vec<_> = (0..4)
        .map(|_| taskpool::execute(use_sendable_class::task(object.clone())))
        .collect();
    for handle in handles {
        assert_eq!(handle.wait().unwrap().1, 5);
    }
    // Every task dropped its reference when it ended: the host's is the last one.
    support::wait_until("the tasks released the object", || {
        Shared::handle_count(&object) == 1
    });
}

// ---------------------------------------------------------------------------------------------
// sendable-guide.md, "Transmitting Large Data Across Concurrent Instances"

/// `@Sendable export class testTypeA { name = "A" }`.
#[sendable]
pub struct TestTypeA {
    name: String,
}

/// `@Sendable export class testTypeB { name = "B" }`.
#[sendable]
pub struct TestTypeB {
    name: String,
}

/// `@Sendable export class Test { data1: testTypeA; data2: testTypeB }`, here with a large
/// payload, which is what the guide is about.
#[sendable]
pub struct Test {
    data1: TestTypeA,
    data2: TestTypeB,
    payload: Vec<u8>,
}

/// `@Concurrent async function taskFunc(obj: Test)`: "test task res1 is: testTypeA res2 is:
/// testTypeB"; also where the payload it read lives.
#[concurrent]
async fn task_func(obj: Shared<Test>) -> (String, usize) {
    (
        format!(
            "test task res1 is: {} res2 is: {}",
            obj.data1.name, obj.data2.name
        ),
        obj.payload.as_ptr() as usize,
    )
}

#[test]
fn large_sendable_data_reaches_a_task_without_a_copy() {
    let a = TestTypeA {
        name: "testTypeA".to_owned(),
    };
    let b = TestTypeB {
        name: "testTypeB".to_owned(),
    };
    let obj = Shared::new(Test {
        data1: a,
        data2: b,
        payload: vec![7; 1 << 20],
    });
    let task = Task::new(task_func, (obj.clone(),));
    let (line, payload_address) = block_on(taskpool::execute(task)).unwrap();
    assert_eq!(line, "test task res1 is: testTypeA res2 is: testTypeB");
    assert_eq!(
        payload_address,
        obj.payload.as_ptr() as usize,
        "the megabyte was not copied"
    );
}

// ---------------------------------------------------------------------------------------------
// sendable-guide.md, "Passing Class Instances Carrying Methods Across Concurrent Instances"

/// `@Sendable export class SendableTestClass { name; age; sex; arr: collections.Array<number> }`.
/// `setAge` mutates a shared object: ArkTS lets any thread write the field; in Rust a shared
/// value is mutated through a thread-safe field, here an atomic.
#[sendable]
pub struct Person {
    name: String,
    age: AtomicU32,
    sex: String,
    arr: Vec<u32>,
}

impl Person {
    fn new() -> Person {
        Person {
            name: "John".to_owned(),
            age: AtomicU32::new(20),
            sex: "man".to_owned(),
            arr: vec![1, 2, 3],
        }
    }

    fn set_age(&self, age: u32) {
        self.age.store(age, Ordering::SeqCst);
    }

    fn print_name(&self) -> &str {
        &self.name
    }

    fn print_age(&self) -> u32 {
        self.age.load(Ordering::SeqCst)
    }

    fn print_sex(&self) -> &str {
        &self.sex
    }
}

/// What `ArkTSUtils.ASON.parse(jsonStr) as ISendable` yields, as a typed `#[sendable]` value.
#[sendable]
#[derive(Debug, PartialEq)]
pub struct ParsedPerson {
    name: String,
    age: u32,
    sex: String,
}

/// `@Concurrent async function taskFunc(sendableObj: SendableTestClass)`: the port returns the
/// lines the guide logs.
#[concurrent]
async fn task_func_with_methods(sendable_obj: Shared<Person>) -> Vec<String> {
    let mut lines = vec![format!(
        "SendableTestClass: name is: {}, age is: {}, sex is: {}",
        sendable_obj.print_name(),
        sendable_obj.print_age(),
        sendable_obj.print_sex()
    )];
    sendable_obj.set_age(28);
    lines.push(format!(
        "SendableTestClass: age is: {}",
        sendable_obj.print_age()
    ));
    // `ArkTSUtils.ASON.stringify(sendableObj.arr)`
    let text = serde_json::to_string(&sendable_obj.arr).unwrap();
    lines.push(format!("SendableTestClass: str is: {text}"));
    // `ArkTSUtils.ASON.parse(jsonStr)`
    let json_str = r#"{"name": "Alexa", "age": 23, "sex": "female"}"#;
    let obj: Shared<ParsedPerson> = serde_json::from_str(json_str).unwrap();
    lines.push(format!("SendableTestClass: name is: {}", obj.name));
    lines.push(format!("SendableTestClass: age is: {}", obj.age));
    lines.push(format!("SendableTestClass: sex is: {}", obj.sex));
    lines
}

#[test]
fn a_class_instance_keeps_its_methods_and_the_caller_sees_its_update() {
    let obj = Shared::new(Person::new());
    let task = Task::new(task_func_with_methods, (obj.clone(),));
    let lines = block_on(taskpool::execute(task)).unwrap();
    assert_eq!(
        lines,
        [
            "SendableTestClass: name is: John, age is: 20, sex is: man",
            "SendableTestClass: age is: 28",
            "SendableTestClass: str is: [1,2,3]",
            "SendableTestClass: name is: Alexa",
            "SendableTestClass: age is: 23",
            "SendableTestClass: sex is: female",
        ]
    );
    // Passed by reference: the task's `setAge(28)` changed the host's object.
    assert_eq!(obj.print_age(), 28);
}

// ---------------------------------------------------------------------------------------------
// sendable-freeze.md: a frozen object is read without a lock

/// `@Sendable export class GlobalConfig { init() { ...; freezeObj(this) } }`. A `Shared<T>`
/// gives only `&T`: once shared, a value without atomics or locks is read-only, which is what
/// `Object.freeze` makes of a Sendable object (assigning through it: trybuild case s14).
#[sendable]
#[derive(Debug, PartialEq)]
pub struct GlobalConfig {
    endpoint: String,
    retries: u32,
}

impl GlobalConfig {
    /// `init()`: the configuration is built, then frozen by sharing it.
    fn init() -> Shared<GlobalConfig> {
        Shared::new(GlobalConfig {
            endpoint: "https://example.invalid".to_owned(),
            retries: 3,
        })
    }
}

/// `Worker.ets`: `let gConfig: GlobalConfig = e.data;` and uses it, without a lock.
struct ConfigReader;

impl WorkerHandler for ConfigReader {
    type In = Shared<GlobalConfig>;
    type Out = (String, u32, usize);

    async fn on_message(
        &mut self,
        g_config: Shared<GlobalConfig>,
        port: &WorkerPort<(String, u32, usize)>,
    ) -> taskpool::HandlerResult {
        port.post_message((
            g_config.endpoint.clone(),
            g_config.retries,
            Shared::as_ptr(&g_config) as usize,
        ))?;
        Ok(())
    }
}

#[test]
fn a_frozen_config_is_read_by_a_worker_without_a_lock() {
    let g_config = GlobalConfig::init();
    let worker_instance = Worker::builder()
        .name("Worker1")
        .spawn(|| ConfigReader)
        .unwrap();
    worker_instance.post_message(g_config.clone()).unwrap();
    let (endpoint, retries, address) = worker_instance.recv().unwrap();
    assert_eq!(endpoint, g_config.endpoint);
    assert_eq!(retries, 3);
    assert_eq!(
        address,
        Shared::as_ptr(&g_config) as usize,
        "shared, not copied"
    );
    worker_instance.terminate().unwrap();
}

// ---------------------------------------------------------------------------------------------
// arkts-sendable-module.md: a shared module's singleton

/// `@Sendable class SingletonA { private count_; lock_: AsyncLock }` (the lock holds the count).
#[sendable]
pub struct SingletonA {
    count: AsyncLock<u64>,
}

impl SingletonA {
    async fn get_count(&self) -> u64 {
        *self.count.lock_shared_async().await
    }

    async fn increase_count(&self) {
        *self.count.lock_async().await += 1;
    }
}

/// `"use shared"` + `export let singletonA = new SingletonA()`: a shared module is loaded once
/// per process, so its exports are process-wide singletons. A Rust `static` is exactly that (a
/// per-thread module instance would be a `thread_local!`, which `#[concurrent]` rejects: c32).
static SINGLETON_A: LazyLock<SingletonA> = LazyLock::new(|| SingletonA {
    count: AsyncLock::new(0),
});

/// `@Concurrent async function increaseCount()`: returns the count it then reads.
#[concurrent]
async fn increase_count() -> u64 {
    SINGLETON_A.increase_count().await;
    SINGLETON_A.get_count().await
}

/// `@Concurrent async function printCount()`.
#[concurrent]
async fn print_count() -> u64 {
    SINGLETON_A.get_count().await
}

#[test]
fn a_shared_module_singleton_is_one_object_for_every_thread() {
    // The guide's four buttons: each call, on the main thread or a pool thread, sees one count.
    assert_eq!(
        block_on(SINGLETON_A.get_count()),
        0,
        "MainThread print count"
    );
    assert_eq!(
        taskpool::execute(print_count::task()).wait().unwrap(),
        0,
        "Taskpool print count"
    );
    block_on(SINGLETON_A.increase_count()); // MainThread increase count
    assert_eq!(
        taskpool::execute(increase_count::task()).wait().unwrap(),
        2,
        "Taskpool increase count"
    );
    // Many threads at once lose no increment.
    let pool = TaskPool::builder().max_threads(4).build().unwrap();
    let handles: Vec<_> = (0..32)
        .map(|_| pool.execute(increase_count::task()))
        .collect();
    for handle in handles {
        handle.wait().unwrap();
    }
    assert_eq!(taskpool::execute(print_count::task()).wait().unwrap(), 34);
    assert_eq!(block_on(SINGLETON_A.get_count()), 34);
}

// ---------------------------------------------------------------------------------------------
// sendablelrucache-recent-list.md: the recently opened books

/// `@Sendable class SendableClass { lock_; books_: SendableLruCache<string, string>(4) }`. The
/// guide wraps `put`, `get` and `keys` in the lock because ArkTS's cache is not thread-safe;
/// `SendableLruCache` locks itself (each method is atomic), so the wrappers need none.
#[sendable]
pub struct Bookshelf {
    books: SendableLruCache<String, String>,
}

impl Bookshelf {
    fn new() -> Bookshelf {
        let books = SendableLruCache::with_capacity(NonZeroUsize::new(4).unwrap());
        books.put("fourth".to_owned(), "Book4".to_owned());
        books.put("third".to_owned(), "Book3".to_owned());
        books.put("second".to_owned(), "Book2".to_owned());
        books.put("first".to_owned(), "Book1".to_owned());
        Bookshelf { books }
    }

    async fn put(&self, key: String, value: String) {
        self.books.put(key, value);
    }

    async fn get(&self, key: &str) -> Option<String> {
        self.books.get(&key.to_owned())
    }

    async fn keys(&self) -> Vec<String> {
        self.books.keys()
    }
}

/// `export let lruCache = new SendableClass()` in a `"use shared"` module.
static LRU_CACHE: LazyLock<Bookshelf> = LazyLock::new(Bookshelf::new);

/// `@Concurrent async function updateBooks(key, value)`: updates the list on a pool thread.
#[concurrent]
async fn update_books(key: String, value: String) {
    LRU_CACHE.put(key, value).await;
}

/// A click on the button of `books[index]`: get the book, then update the list on the pool.
fn open_book(books: &[String], index: usize) -> String {
    let key = books[index].clone();
    let value = block_on(LRU_CACHE.get(&key)).unwrap();
    taskpool::execute(update_books::task(key, value.clone()))
        .wait()
        .unwrap();
    value
}

#[test]
fn the_bookshelf_lists_the_recently_opened_books() {
    // `aboutToAppear`: from least to most recently used.
    let books = block_on(LRU_CACHE.keys());
    assert_eq!(books, ["fourth", "third", "second", "first"]);
    // The button of books[0] opens Book4, which becomes the most recent.
    assert_eq!(open_book(&books, 0), "Book4");
    let books = block_on(LRU_CACHE.keys());
    assert_eq!(books, ["third", "second", "first", "fourth"]);
    assert_eq!(open_book(&books, 1), "Book2");
    let books = block_on(LRU_CACHE.keys());
    assert_eq!(books, ["third", "first", "fourth", "second"]);
    // A fifth book, over the capacity of 4, evicts the least recently used.
    block_on(LRU_CACHE.put("fifth".to_owned(), "Book5".to_owned()));
    assert_eq!(
        block_on(LRU_CACHE.keys()),
        ["first", "fourth", "second", "fifth"]
    );
    // Updates from many pool threads at once keep the cache consistent.
    let handles: Vec<_> = (0..16)
        .map(|i| taskpool::execute(update_books::task(format!("k{}", i % 6), format!("v{i}"))))
        .collect();
    for handle in handles {
        handle.wait().unwrap();
    }
    let keys = block_on(LRU_CACHE.keys());
    assert_eq!(keys.len(), 4);
    assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 4);
}

// ---------------------------------------------------------------------------------------------
// ason-parsing-generation.md

/// An object ASON parses into: typed, and read-only once shared.
#[sendable]
#[derive(Debug, Default, PartialEq)]
pub struct Settings {
    #[serde(default)]
    theme: Option<String>,
}

#[test]
fn ason_is_serde_json_on_sendable_types() {
    // `ArkTSUtils.ASON.parse("{}")`
    let parsed: Shared<Settings> = serde_json::from_str("{}").unwrap();
    assert_eq!(*parsed, Settings::default());
    // `ArkTSUtils.ASON.stringify(new collections.Array(1, 2, 3))`
    assert_eq!(serde_json::to_string(&vec![1, 2, 3]).unwrap(), "[1,2,3]");
    // The MAP return type (`collections.Map`, a layout that may change): a map type.
    let mut map: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(r#"{"name": "Alexa", "age": 23}"#).unwrap();
    map.insert("sex".to_owned(), "female".into());
    map.remove("age");
    assert_eq!(
        serde_json::to_string(&map).unwrap(),
        r#"{"name":"Alexa","sex":"female"}"#
    );
}

// ---------------------------------------------------------------------------------------------
// io-intensive-task-development.md

/// `write(data, filePath)`: opens (creating) the file and writes the data.
fn write(data: &str, file_path: &Path) -> std::io::Result<()> {
    std::fs::write(file_path, data)
}

/// `@Concurrent async function concurrentTest(context)`: the context's `filesDir` is prepared
/// outside the task and passed as an argument, as the guide says. The guide starts both writes
/// without awaiting them and returns `true`; the port writes each and reports a failure.
#[concurrent]
async fn concurrent_test(files_dir: PathBuf) -> bool {
    let file_list = [files_dir.join("path1.txt"), files_dir.join("path2.txt")];
    file_list
        .iter()
        .all(|file| write("Hello World!", file).is_ok())
}

#[test]
fn an_io_intensive_task_writes_its_files_on_the_pool() {
    let files_dir = std::env::temp_dir().join(format!(
        "taskpool-guide-io-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&files_dir).unwrap();
    assert!(
        taskpool::execute(concurrent_test::task(files_dir.clone()))
            .wait()
            .unwrap(),
        "taskpool: execute success"
    );
    for name in ["path1.txt", "path2.txt"] {
        assert_eq!(
            std::fs::read_to_string(files_dir.join(name)).unwrap(),
            "Hello World!"
        );
    }
    // A directory that does not exist: the writes fail and the task says so.
    let missing = files_dir.join("missing");
    assert!(
        !taskpool::execute(concurrent_test::task(missing))
            .wait()
            .unwrap()
    );
    std::fs::remove_dir_all(&files_dir).unwrap();
}

// ---------------------------------------------------------------------------------------------
// actor-model-development-samples.md: producer and consumer without shared memory

static PRODUCED: AtomicU64 = AtomicU64::new(0);

/// `@Concurrent async function produce(): Promise<number>`: "producing..."; the guide's
/// `Math.random()` becomes a distinct value per run.
#[concurrent]
async fn produce() -> u64 {
    PRODUCED.fetch_add(1, Ordering::SeqCst) + 1
}

/// `class Consumer { consume(value) }`: lives on the host, never crosses threads.
#[derive(Default)]
struct Consumer {
    consumed: Vec<u64>,
}

impl Consumer {
    fn consume(&mut self, value: u64) {
        self.consumed.push(value);
    }
}

#[test]
fn a_producer_task_runs_ten_times_and_the_host_consumes_each_result() {
    let produce_task = Task::new(produce, ());
    let mut consumer = Consumer::default();
    // The same task executed ten times (by reference; its runs take turns).
    let handles: Vec<_> = (0..10).map(|_| taskpool::execute(&produce_task)).collect();
    for handle in handles {
        consumer.consume(handle.wait().unwrap());
    }
    let mut consumed = consumer.consumed.clone();
    consumed.sort_unstable();
    assert_eq!(consumed, (1..=10).collect::<Vec<u64>>());
}
