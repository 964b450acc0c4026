//! The ArkTS guides on Worker (openharmony/docs, `en/application-dev/arkts-utils/`), ported:
//! the basic usage and the multi-level lifecycle of `worker-introduction.md`, the handle-bound
//! worker of `sync-task-development.md`, the training/prediction worker of
//! `cpu-intensive-task-development.md`, the resident task of `resident-task-guide.md`, the
//! instant replies of `worker-communicates-with-mainthread.md`, the synchronous host call of
//! `worker-invoke-mainthread-interface.md` and the multi-level workers sharing Sendable objects
//! of `worker-postMessage-sendable.md`, and the instant-communication worker of
//! `thread_communication.md`.
//! Timers are replaced by conditions; nothing asserts on time.

mod support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use support::icons::{IconItemSource, push_row};
use support::{PATIENCE, wait_until};
use taskpool::{HandlerResult, Shared, Transferable, Worker, WorkerHandler, WorkerPort, sendable};

// ---------------------------------------------------------------------------------------------
// worker-introduction.md, "Basic Usage Example of Worker"

/// `worker.ets`: `workerPort.onmessage` answers '2'.
struct BasicWorker;

impl WorkerHandler for BasicWorker {
    type In = String;
    type Out = String;

    async fn on_message(&mut self, data: String, port: &WorkerPort<String>) -> HandlerResult {
        assert_eq!(data, "1", "workerPort onmessage is: 1");
        port.post_message("2".to_owned())?;
        Ok(())
    }
}

#[test]
fn the_host_posts_one_and_the_worker_answers_two() {
    let worker_instance = Worker::new(|| BasicWorker).unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let exits = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(0));
    let sink = Arc::clone(&received);
    worker_instance.on_message(move |data: String| sink.lock().unwrap().push(data));
    let error_count = Arc::clone(&errors);
    worker_instance.on_error(move |_| *error_count.lock().unwrap() += 1);
    worker_instance.on_message_error(|_| panic!("no undecodable message here"));
    let exit_codes = Arc::clone(&exits);
    worker_instance.on_exit(move |code| exit_codes.lock().unwrap().push(code));
    worker_instance.post_message("1".to_owned()).unwrap();
    wait_until("the worker answered", || {
        !received.lock().unwrap().is_empty()
    });
    assert_eq!(*received.lock().unwrap(), ["2"]);
    worker_instance.terminate().unwrap();
    wait_until("onexit ran", || !exits.lock().unwrap().is_empty());
    assert_eq!(*exits.lock().unwrap(), [0], "a normal exit is code 0");
    assert_eq!(*errors.lock().unwrap(), 0);
    // A destroyed worker refuses its functional interfaces.
    assert_eq!(
        worker_instance
            .post_message("1".to_owned())
            .unwrap_err()
            .code(),
        Some(10200004)
    );
}

// ---------------------------------------------------------------------------------------------
// worker-introduction.md, "Multi-Level Worker Lifecycle Management"

static EVENTS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
/// Set when the child of `a_child_worker_never_outlives_its_parent` is dropped.
static ORPHAN_DROPPED: AtomicBool = AtomicBool::new(false);
/// Set when the child of the recommended example is dropped.
static CHILD_DROPPED: AtomicBool = AtomicBool::new(false);

fn event(what: &'static str) {
    EVENTS.lock().unwrap().push(what);
}

/// `childworker.ets`: does its service logic, then closes itself.
struct ChildWorker {
    dropped: &'static AtomicBool,
}

impl WorkerHandler for ChildWorker {
    type In = String;
    type Out = String;

    async fn on_message(&mut self, data: String, port: &WorkerPort<String>) -> HandlerResult {
        if data == "The parent Worker sends a message to the child Worker - recommended example" {
            event("The service execution is complete, and the child Worker is destroyed");
            port.close()?;
        }
        Ok(())
    }
}

impl Drop for ChildWorker {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

/// `parentworker.ets`: creates the child, and closes itself once the child exited (the
/// recommended order); or, with `close_at_once`, right after creating the child (the guide's
/// "not recommended" example).
struct ParentWorker {
    close_at_once: bool,
    child: Option<Worker<String, String>>,
}

impl WorkerHandler for ParentWorker {
    type In = String;
    type Out = String;

    async fn on_message(&mut self, data: String, port: &WorkerPort<String>) -> HandlerResult {
        let dropped = if self.close_at_once {
            &ORPHAN_DROPPED
        } else {
            &CHILD_DROPPED
        };
        let child = Worker::builder()
            .name("childworker")
            .spawn(move || ChildWorker { dropped })?;
        child.post_message(if self.close_at_once {
            "The parent Worker sends a message to the child Worker".to_owned()
        } else {
            "The parent Worker sends a message to the child Worker - recommended example".to_owned()
        })?;
        if self.close_at_once {
            // The child lives in the parent's state: destroying the parent ends the child too.
            self.child = Some(child);
            port.close()?;
            return Ok(());
        }
        assert_eq!(
            data,
            "The main thread sends a message to the parent Worker - recommended example"
        );
        // `childworker.onexit`: the child's message stream ends when the child has exited.
        let mut from_child = child.messages();
        while from_child.next().await.is_some() {}
        assert_eq!(child.wait_for_exit_timeout(PATIENCE), Some(0));
        event("The child Worker exits");
        port.close()?;
        Ok(())
    }
}

#[test]
fn a_parent_worker_closes_after_its_child_exits() {
    EVENTS.lock().unwrap().clear();
    let parentworker = Worker::builder()
        .name("parentworker")
        .spawn(|| ParentWorker {
            close_at_once: false,
            child: None,
        })
        .unwrap();
    let exited = Arc::new(Mutex::new(None));
    let exit = Arc::clone(&exited);
    parentworker.on_exit(move |code| {
        event("The parent Worker exits");
        *exit.lock().unwrap() = Some(code);
    });
    parentworker
        .post_message(
            "The main thread sends a message to the parent Worker - recommended example".to_owned(),
        )
        .unwrap();
    wait_until("the parent exited", || exited.lock().unwrap().is_some());
    assert_eq!(*exited.lock().unwrap(), Some(0));
    assert!(CHILD_DROPPED.load(Ordering::SeqCst));
    assert_eq!(
        *EVENTS.lock().unwrap(),
        [
            "The service execution is complete, and the child Worker is destroyed",
            "The child Worker exits",
            "The parent Worker exits",
        ]
    );
}

/// The "not recommended" example: the parent closes right after creating its child. In ArkTS
/// the child's later messages have "unpredictable" effects; here the child belongs to the
/// parent's state, so it is terminated (and its thread joined) when the parent ends: a child
/// never outlives its parent.
#[test]
fn a_child_worker_never_outlives_its_parent() {
    let parentworker = Worker::new(|| ParentWorker {
        close_at_once: true,
        child: None,
    })
    .unwrap();
    parentworker
        .post_message("The main thread sends a message to the parent Worker".to_owned())
        .unwrap();
    assert_eq!(parentworker.wait_for_exit_timeout(PATIENCE), Some(0));
    assert!(
        ORPHAN_DROPPED.load(Ordering::SeqCst),
        "the child ended before the parent's exit was reported"
    );
}

// ---------------------------------------------------------------------------------------------
// sync-task-development.md, "Using Worker for Interdependent Synchronous Tasks": every
// operation goes through one handle that cannot be transferred (here `Rc<RefCell<_>>`, which is
// not `Send`: it is built on the worker thread and never leaves it).

/// `handle.ts`: `syncGet()` / `syncSet(num)`.
#[derive(Default)]
struct Handle {
    value: RefCell<Option<String>>,
}

impl Handle {
    fn sync_get(&self) -> Option<String> {
        self.value.borrow().clone()
    }

    fn sync_set(&self, data: String) {
        *self.value.borrow_mut() = Some(data);
    }
}

/// `{'type': 0, 'data': 'data'}` / `{'type': 1}`
#[derive(Debug, Serialize, Deserialize)]
enum HandleMessage {
    Set(String),
    Get,
}

struct MyWorker {
    handler: Rc<Handle>,
}

impl WorkerHandler for MyWorker {
    type In = HandleMessage;
    type Out = String;

    async fn on_message(&mut self, e: HandleMessage, port: &WorkerPort<String>) -> HandlerResult {
        match e {
            HandleMessage::Set(data) => {
                self.handler.sync_set(data);
                port.post_message("success set".to_owned())?;
            }
            HandleMessage::Get => {
                let value = self.handler.sync_get();
                port.post_message(format!("success get {}", value.unwrap_or_default()))?;
            }
        }
        Ok(())
    }
}

#[test]
fn a_worker_runs_interdependent_calls_on_one_handle() {
    let w = Worker::new(|| MyWorker {
        handler: Rc::new(Handle::default()),
    })
    .unwrap();
    w.post_message(HandleMessage::Set("data".to_owned()))
        .unwrap();
    w.post_message(HandleMessage::Get).unwrap();
    assert_eq!(w.recv().as_deref(), Some("success set"));
    assert_eq!(w.recv().as_deref(), Some("success get data"));
    w.terminate().unwrap();
    assert_eq!(w.wait_for_exit(), 0);
}

// ---------------------------------------------------------------------------------------------
// cpu-intensive-task-development.md, "Using Worker for Time-Consuming Data Analysis"

/// `{ 'type': 0 }` trains, `{ 'type': 1, 'value': x }` predicts.
#[derive(Debug, Serialize, Deserialize)]
struct Request {
    #[serde(rename = "type")]
    kind: u32,
    value: Option<usize>,
}

/// `{ type: 'message', value: 'train success.' }` / `{ type: 'predict', value: output }`
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
enum Response {
    Message(String),
    Predict(f64),
}

#[derive(Default)]
struct ModelWorker {
    result: Vec<f64>,
}

impl ModelWorker {
    fn predict(&self, x: usize) -> f64 {
        self.result[x]
    }

    fn optimize(&mut self) {
        self.result = vec![0.0];
    }
}

impl WorkerHandler for ModelWorker {
    type In = Request;
    type Out = Response;

    async fn on_message(&mut self, e: Request, port: &WorkerPort<Response>) -> HandlerResult {
        match e.kind {
            0 => {
                self.optimize();
                port.post_message(Response::Message("train success.".to_owned()))?;
            }
            1 => {
                let output = self.predict(e.value.unwrap_or_default());
                port.post_message(Response::Predict(output))?;
            }
            _ => port.post_message(Response::Message("send message is invalid".to_owned()))?,
        }
        Ok(())
    }
}

#[test]
fn a_worker_trains_then_predicts_and_the_host_terminates_it() {
    let worker_instance = Worker::new(ModelWorker::default).unwrap();
    let errors = Arc::new(Mutex::new(0));
    let error_count = Arc::clone(&errors);
    worker_instance.on_all_errors(move |_| *error_count.lock().unwrap() += 1);
    // The guide's host answers the first message with a prediction request (`done`).
    worker_instance
        .post_message_serialized(&Request {
            kind: 0,
            value: None,
        })
        .unwrap();
    let first = worker_instance.recv().unwrap();
    assert_eq!(first, Response::Message("train success.".to_owned()));
    assert_eq!(
        serde_json::to_string(&first).unwrap(),
        r#"{"type":"message","value":"train success."}"#
    );
    worker_instance
        .post_message(Request {
            kind: 1,
            value: Some(0),
        })
        .unwrap();
    assert_eq!(worker_instance.recv(), Some(Response::Predict(0.0)));
    worker_instance
        .post_message(Request {
            kind: 7,
            value: None,
        })
        .unwrap();
    assert_eq!(
        worker_instance.recv(),
        Some(Response::Message("send message is invalid".to_owned()))
    );
    let exited = Arc::new(Mutex::new(None));
    let exit = Arc::clone(&exited);
    worker_instance.on_exit(move |code| *exit.lock().unwrap() = Some(code));
    // Method 1: the host destroys the worker.
    worker_instance.terminate().unwrap();
    wait_until("onexit ran", || exited.lock().unwrap().is_some());
    assert_eq!(*exited.lock().unwrap(), Some(0));
    assert_eq!(*errors.lock().unwrap(), 0);
}

// ---------------------------------------------------------------------------------------------
// resident-task-guide.md: 'start' begins a task that reports repeatedly until 'stop', which
// ends it and closes the worker.

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Control {
    Start,
    Stop,
}

#[derive(Default)]
struct ResidentWorker {
    is_running: Rc<Cell<bool>>,
}

/// `performTask()`: reports, then runs again a moment later while `isRunning`.
async fn perform_task(is_running: Rc<Cell<bool>>, port: WorkerPort<String>) -> HandlerResult {
    while is_running.get() {
        port.post_message("Worker is performing a task".to_owned())?;
        taskpool::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

impl WorkerHandler for ResidentWorker {
    type In = Control;
    type Out = String;

    async fn on_message(&mut self, e: Control, port: &WorkerPort<String>) -> HandlerResult {
        match e {
            Control::Start => {
                if !self.is_running.get() {
                    self.is_running.set(true);
                    // The resident task runs beside the message loop, which takes 'stop'.
                    port.spawn_local(perform_task(Rc::clone(&self.is_running), port.clone()));
                }
            }
            Control::Stop => {
                self.is_running.set(false);
                port.post_message("Worker is stop performing a task".to_owned())?;
                port.close()?;
            }
        }
        Ok(())
    }
}

#[test]
fn a_resident_worker_reports_until_the_host_stops_it() {
    let worker_instance = Worker::new(ResidentWorker::default).unwrap();
    let start: Control = serde_json::from_str(r#"{"type":"start"}"#).unwrap();
    worker_instance.post_message(start).unwrap();
    // A second 'start' while running does not start a second task.
    worker_instance.post_message(Control::Start).unwrap();
    for _ in 0..3 {
        assert_eq!(
            worker_instance.recv().as_deref(),
            Some("Worker is performing a task")
        );
    }
    worker_instance.post_message(Control::Stop).unwrap();
    assert_eq!(worker_instance.wait_for_exit_timeout(PATIENCE), Some(0));
    // Every message sent before the worker closed is still delivered; then the stream ends.
    let rest: Vec<String> = std::iter::from_fn(|| worker_instance.recv()).collect();
    assert_eq!(
        rest.last().map(String::as_str),
        Some("Worker is stop performing a task")
    );
    assert!(
        rest[..rest.len() - 1]
            .iter()
            .all(|m| m == "Worker is performing a task")
    );
}

// ---------------------------------------------------------------------------------------------
// worker-communicates-with-mainthread.md, "Instant Communication Between the Worker Thread and
// Host Thread"

/// `Worker.ets`: answers 'success' to 'hello world', and nothing to anything else.
struct HelloWorker;

impl WorkerHandler for HelloWorker {
    type In = String;
    type Out = String;

    async fn on_message(&mut self, data: String, port: &WorkerPort<String>) -> HandlerResult {
        if data == "hello world" {
            port.post_message("success".to_owned())?;
        }
        Ok(())
    }
}

#[test]
fn the_worker_answers_hello_world_and_the_host_terminates_it() {
    // `postMessageTest()`: the guide polls its flags every 100 ms; the port waits on them.
    let ss = Worker::new(|| HelloWorker).unwrap();
    let is_terminate = Arc::new(AtomicBool::new(false));
    let terminated = Arc::clone(&is_terminate);
    ss.on_exit(move |_| terminated.store(true, Ordering::SeqCst));
    let res = Arc::new(Mutex::new(Vec::new()));
    let replies = Arc::clone(&res);
    ss.on_message(move |data: String| replies.lock().unwrap().push(data));
    ss.post_message("something else".to_owned()).unwrap();
    ss.post_message("hello world".to_owned()).unwrap();
    wait_until("the worker answered", || !res.lock().unwrap().is_empty());
    ss.terminate().unwrap();
    wait_until("onexit ran", || is_terminate.load(Ordering::SeqCst));
    // Messages are handled in order: the only reply is the answer to 'hello world'.
    assert_eq!(*res.lock().unwrap(), ["success"]);
    assert_eq!(ss.exit_code(), Some(0));
}

// ---------------------------------------------------------------------------------------------
// worker-invoke-mainthread-interface.md, "Synchronous Calls to Host Thread Interfaces from
// Worker"

/// `class PicData { iconItemSourceList; setUp() }`, implemented on the host.
#[derive(Default)]
struct PicData {
    icon_item_source_list: Vec<IconItemSource>,
}

impl PicData {
    fn set_up(&mut self) -> String {
        for row in 0..20 {
            push_row(&mut self.icon_item_source_list, row);
        }
        "setUpIconItemSourceList success!".to_owned()
    }

    /// The list `setUp` fills, built on the side.
    fn clone_filled(mut self) -> Vec<IconItemSource> {
        self.set_up();
        self.icon_item_source_list
    }
}

/// `Worker.ets`: calls `picData.setUp()` on the host, synchronously, with timeout 0 (the
/// maximum). The guide calls it at the top of the worker file, racing the host's registration;
/// the port calls it when the host's message says the object is registered.
struct CallsHost;

impl WorkerHandler for CallsHost {
    type In = String;
    type Out = String;

    async fn on_message(&mut self, message: String, port: &WorkerPort<String>) -> HandlerResult {
        assert_eq!(message, "run setUp in picData");
        let res: String =
            match port.call_global_object_method("picData", "setUp", Duration::ZERO, ()) {
                Ok(res) => res,
                // "worker: error code is .. error message is .."
                Err(error) => format!("worker: error code is {:?}", error.code()),
            };
        port.post_message(res)?;
        Ok(())
    }
}

/// Registers a fresh `PicData` on `worker` as the global call object `"picData"` with its
/// `setUp` method (the guides' `registerGlobalCallObject("picData", picData)`); returns it.
fn register_pic_data<In: Transferable, Out: Transferable>(
    worker: &Worker<In, Out>,
) -> Arc<Mutex<PicData>> {
    let pic_data = Arc::new(Mutex::new(PicData::default()));
    let object = taskpool::CallObject::new(Arc::clone(&pic_data))
        .method("setUp", |pic_data: &mut Arc<Mutex<PicData>>, (): ()| {
            pic_data.lock().unwrap().set_up()
        });
    worker
        .register_global_call_object("picData", object)
        .unwrap();
    pic_data
}

#[test]
fn a_worker_calls_a_method_of_a_host_object_synchronously() {
    let worker_instance = Worker::new(|| CallsHost).unwrap();
    let pic_data = register_pic_data(&worker_instance);
    worker_instance
        .post_message("run setUp in picData".to_owned())
        .unwrap();
    assert_eq!(
        worker_instance.recv().as_deref(),
        Some("setUpIconItemSourceList success!")
    );
    // The method ran on the host's object: the list is filled there.
    let list = &pic_data.lock().unwrap().icon_item_source_list;
    assert_eq!(list.len(), 120);
    assert_eq!(
        list[0],
        IconItemSource::new("$media:startIcon", "item1".to_owned())
    );
    assert_eq!(
        list[119],
        IconItemSource::new("$media:foreground", "item120".to_owned())
    );
    // Without the object, the call fails with 10200019 and the worker reports it.
    worker_instance
        .unregister_global_call_object(Some("picData"))
        .unwrap();
    worker_instance
        .post_message("run setUp in picData".to_owned())
        .unwrap();
    assert_eq!(
        worker_instance.recv().as_deref(),
        Some("worker: error code is Some(10200019)")
    );
    worker_instance.terminate().unwrap();
}

// ---------------------------------------------------------------------------------------------
// thread_communication.md, "Instant Communication Between the Worker Thread and Main Thread":
// a string makes the worker call `picData.setUp` on the host; an array is answered with its
// first four records.

/// `e.data`: a string or an array (`typeof` / `instanceof Array` in the guide).
#[derive(Debug, Serialize, Deserialize)]
enum PicMessage {
    Text(String),
    Array(Vec<IconItemSource>),
}

/// What the worker sends back: the guide logs the call's result and posts the slice.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum PicReply {
    Logged(String),
    Array(Vec<IconItemSource>),
}

struct InstantWorker;

impl WorkerHandler for InstantWorker {
    type In = PicMessage;
    type Out = PicReply;

    async fn on_message(&mut self, e: PicMessage, port: &WorkerPort<PicReply>) -> HandlerResult {
        match e {
            PicMessage::Text(_) => {
                let res = match port.call_global_object_method::<(), String>(
                    "picData",
                    "setUp",
                    Duration::ZERO,
                    (),
                ) {
                    Ok(res) => format!("worker: {res}"),
                    Err(error) => format!("worker: error code is {:?}", error.code()),
                };
                port.post_message(PicReply::Logged(res))?;
            }
            // Return the first four data records.
            PicMessage::Array(data) => {
                port.post_message(PicReply::Array(data.into_iter().take(4).collect()))?
            }
        }
        Ok(())
    }
}

#[test]
fn the_worker_answers_a_string_with_a_host_call_and_an_array_with_its_first_four() {
    let worker_instance = Worker::new(|| InstantWorker).unwrap();
    let pic_data = register_pic_data(&worker_instance);
    // aboutToAppear: twenty rows of six images.
    let icon_item_source_list = PicData::default().clone_filled();
    assert_eq!(icon_item_source_list.len(), 120);
    // The button: post the list (a copy, as ArkTS's postMessage); onmessage takes the reply.
    worker_instance
        .post_message_serialized(&PicMessage::Array(icon_item_source_list.clone()))
        .unwrap();
    assert_eq!(
        worker_instance.recv(),
        Some(PicReply::Array(icon_item_source_list[..4].to_vec()))
    );
    worker_instance
        .post_message(PicMessage::Text("run setUp in picData".to_owned()))
        .unwrap();
    assert_eq!(
        worker_instance.recv(),
        Some(PicReply::Logged(
            "worker: setUpIconItemSourceList success!".to_owned()
        ))
    );
    assert_eq!(pic_data.lock().unwrap().icon_item_source_list.len(), 120);
    worker_instance.terminate().unwrap();
}

// ---------------------------------------------------------------------------------------------
// worker-postMessage-sendable.md, "High-Performance Communication Between Multi-Level Workers"

/// `@Sendable export class CopyEntry { type; filePath }`.
#[sendable]
#[derive(Debug)]
pub struct CopyEntry {
    kind: String,
    file_path: String,
}

/// `ChildWorker.ets`: "copies" the entry (omitted, as in the guide) and answers. The guide
/// answers "done"; the port hands the entry back with it, so the parent can check that the very
/// object it sent came back.
struct CopyChild;

impl WorkerHandler for CopyChild {
    type In = Shared<CopyEntry>;
    type Out = (String, Shared<CopyEntry>);

    async fn on_message(
        &mut self,
        data: Shared<CopyEntry>,
        port: &WorkerPort<(String, Shared<CopyEntry>)>,
    ) -> HandlerResult {
        assert!(data.file_path.starts_with("file://"));
        port.post_message(("done".to_owned(), data))?; // postMessageWithSharedSendable
        Ok(())
    }
}

type CopyWorker = Worker<Shared<CopyEntry>, (String, Shared<CopyEntry>)>;

/// What the parent worker tells the host before it closes (the guide only logs).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct CopyReport {
    /// Entries done by each child.
    done: (usize, usize),
    /// Every answer carried one of the objects the host sent, not a copy.
    same_objects: bool,
    /// The children's exit codes, once the parent terminated them.
    child_exits: (Option<i32>, Option<i32>),
}

/// `ParentWorker.ets`: creates two children, dispatches the entries by type, terminates each
/// child when its entries are done and closes itself when all are. In ArkTS the children's
/// `onmessage` callbacks run on the parent's thread, serialized by an `AsyncLock`; here the
/// parent's handler awaits its children's replies itself (its state is its own, no lock).
struct CopyParent {
    copy_worker1: CopyWorker,
    copy_worker2: CopyWorker,
}

impl CopyParent {
    fn new() -> CopyParent {
        CopyParent {
            copy_worker1: Worker::new(|| CopyChild).unwrap(),
            copy_worker2: Worker::new(|| CopyChild).unwrap(),
        }
    }
}

impl WorkerHandler for CopyParent {
    type In = Vec<Shared<CopyEntry>>;
    type Out = CopyReport;

    async fn on_message(
        &mut self,
        array: Vec<Shared<CopyEntry>>,
        port: &WorkerPort<CopyReport>,
    ) -> HandlerResult {
        let mut sum = array.len();
        let (mut count1, mut count2) = (0, 0);
        for entry in &array {
            if entry.kind == "copy1" {
                count1 += 1;
                self.copy_worker1.post_message(entry.clone())?;
            } else if entry.kind == "copy2" {
                count2 += 1;
                self.copy_worker2.post_message(entry.clone())?;
            }
        }
        let mut replies = futures::stream::select(
            self.copy_worker1.messages().map(|reply| (1, reply)),
            self.copy_worker2.messages().map(|reply| (2, reply)),
        );
        let mut report = CopyReport {
            done: (0, 0),
            same_objects: true,
            child_exits: (None, None),
        };
        while sum > 0 {
            let (child, (done, entry)) = replies.next().await.ok_or("a child ended early")?;
            assert_eq!(done, "done");
            report.same_objects &= array.iter().any(|sent| Shared::ptr_eq(sent, &entry));
            if child == 1 {
                count1 -= 1;
                report.done.0 += 1;
                if count1 == 0 {
                    self.copy_worker1.terminate()?; // copyWorker1 close
                }
            } else {
                count2 -= 1;
                report.done.1 += 1;
                if count2 == 0 {
                    self.copy_worker2.terminate()?; // copyWorker2 close
                }
            }
            sum -= 1;
        }
        report.child_exits = (
            self.copy_worker1.wait_for_exit_timeout(PATIENCE),
            self.copy_worker2.wait_for_exit_timeout(PATIENCE),
        );
        port.post_message(report)?;
        port.close()?; // all tasks are complete: close the parent
        Ok(())
    }
}

#[test]
fn a_parent_worker_shares_sendable_entries_with_two_children() {
    let ss = Worker::new(CopyParent::new).unwrap();
    let is_terminate = Arc::new(AtomicBool::new(false));
    let terminated = Arc::clone(&is_terminate);
    ss.on_exit(move |_| terminated.store(true, Ordering::SeqCst));
    let array: Vec<Shared<CopyEntry>> = (0..4)
        .map(|i| {
            let (kind, file_path) = if i % 2 == 0 {
                ("copy1", "file://copy1.txt")
            } else {
                ("copy2", "file://copy2.txt")
            };
            Shared::new(CopyEntry {
                kind: kind.to_owned(),
                file_path: file_path.to_owned(),
            })
        })
        .collect();
    ss.post_message(array.clone()).unwrap(); // postMessageWithSharedSendable
    let report = ss.recv().unwrap();
    assert_eq!(
        report,
        CopyReport {
            done: (2, 2),
            same_objects: true,
            child_exits: (Some(0), Some(0)),
        }
    );
    wait_until("Worker thread has exited", || {
        is_terminate.load(Ordering::SeqCst)
    });
    assert_eq!(ss.exit_code(), Some(0));
    // The parent and its children have ended and dropped their references.
    for entry in &array {
        assert_eq!(Shared::handle_count(entry), 1, "{entry:?}");
    }
}
