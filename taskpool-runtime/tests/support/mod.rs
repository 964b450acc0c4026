//! Helpers shared by the runtime's integration tests: gates, signals and condition waits.
//!
//! Tests never assert on elapsed time; they wait for conditions with generous timeouts.
#![allow(dead_code)]

pub mod echo;
pub mod handoff;
pub mod icons;
pub mod wakers;
pub mod walk;

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How long a test waits for a condition before declaring failure.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A time limit for tests that make one call overrun it *and* expect other calls of the same
/// pool to succeed: long enough that a trivial call never exceeds it, even on a thread the OS
/// preempts on a loaded machine, and short enough that the overrun costs the test little.
pub const SHORT_LIMIT: Duration = Duration::from_millis(250);

/// Runs `f` on its own thread and returns its result, or fails the test after `PATIENCE` (the
/// thread, deadlocked, is left behind): for calls that could deadlock the caller.
pub fn bounded<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(PATIENCE)
        .unwrap_or_else(|_| panic!("{what}: deadlocked (no answer within PATIENCE)"))
}

/// Runs `body` in a child process of this test binary, where an abort (a stack overflow) ends
/// the child instead of the whole suite, and fails if the child did not succeed. `test` is the
/// calling test's name: the child runs that test alone, which calls this again and, seeing it
/// is the child, runs `body`.
pub fn in_child_process(test: &str, body: impl FnOnce()) {
    in_child_process_after("", test, body);
}

/// [`in_child_process`], the child started by `sh` after the shell commands `setup` (such as
/// `ulimit -v 1024;`); none if it is empty.
pub fn in_child_process_after(setup: &str, test: &str, body: impl FnOnce()) {
    const CHILD: &str = "TASKPOOL_TEST_CHILD";
    if std::env::var_os(CHILD).is_some() {
        body();
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut child = if setup.is_empty() {
        std::process::Command::new(exe)
    } else {
        let script = format!("{setup} exec \"$0\" \"$@\"");
        let mut shell = std::process::Command::new("sh");
        shell.args(["-c", &script]).arg(exe);
        shell
    };
    let output = child
        .args(["--exact", test, "--test-threads=1"])
        .env(CHILD, test)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{test}: the child failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A pool of one thread and no extra one (one per test binary): a task blocking on work of
/// its own pool must run that work itself, or nothing ever will.
pub fn one_thread_pool() -> &'static taskpool::TaskPool {
    static POOL: OnceLock<taskpool::TaskPool> = OnceLock::new();
    POOL.get_or_init(|| {
        taskpool::TaskPool::builder()
            .max_threads(1)
            .extra_threads(0)
            .build()
            .unwrap()
    })
}

/// Returns `Pending` once after waking itself: a suspension that resumes at once (often on
/// another pool thread).
pub struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// One suspension that resumes at once (see [`YieldNow`]).
pub fn yield_now() -> YieldNow {
    YieldNow(false)
}

/// Polls `condition` until it holds, failing the test after [`PATIENCE`].
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

struct Gates {
    open: Mutex<HashSet<u64>>,
    changed: Condvar,
}

fn gates() -> &'static Gates {
    static GATES: OnceLock<Gates> = OnceLock::new();
    GATES.get_or_init(|| Gates {
        open: Mutex::new(HashSet::new()),
        changed: Condvar::new(),
    })
}

/// Opens gate `id`, releasing every task blocked in [`pass_gate`].
pub fn open_gate(id: u64) {
    // Poison is ignored: one failing test must not fail every other gate test of its binary.
    let mut open = gates().open.lock().unwrap_or_else(|e| e.into_inner());
    open.insert(id);
    drop(open);
    gates().changed.notify_all();
}

/// Blocks until gate `id` is open (or [`PATIENCE`] runs out, which panics).
pub fn pass_gate(id: u64) {
    let gates = gates();
    let mut open = gates.open.lock().unwrap_or_else(|e| e.into_inner());
    let deadline = Instant::now() + PATIENCE;
    while !open.contains(&id) {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            drop(open);
            panic!("gate {id} stayed closed too long");
        };
        open = gates
            .changed
            .wait_timeout(open, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// A waker-based one-shot signal that async tasks can await.
pub struct Signal {
    state: Mutex<(bool, Vec<Waker>)>,
}

impl Signal {
    pub const fn new() -> Signal {
        Signal {
            state: Mutex::new((false, Vec::new())),
        }
    }

    pub fn raise(&self) {
        let wakers = {
            let mut state = self.state.lock().unwrap();
            state.0 = true;
            std::mem::take(&mut state.1)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    pub fn raised(&'static self) -> impl Future<Output = ()> + Send {
        Raised(self)
    }
}

struct Raised(&'static Signal);

impl Future for Raised {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.0.state.lock().unwrap();
        if state.0 {
            Poll::Ready(())
        } else {
            state.1.push(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// Counts this process's threads whose name starts with `prefix` (Linux `/proc`).
pub fn threads_named(prefix: &str) -> usize {
    thread_names()
        .iter()
        .filter(|name| name.starts_with(prefix))
        .count()
}

/// The names of this process's threads, read once (Linux `/proc`).
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| std::fs::read_to_string(entry.path().join("comm")).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `future` to completion on this thread, parking until it is woken.
pub fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut Context::from_waker(&waker)) {
            return value;
        }
        std::thread::park();
    }
}

/// A waker that counts how often it was woken.
#[derive(Default)]
pub struct Wakes(std::sync::atomic::AtomicUsize);

impl Wakes {
    pub fn count(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl std::task::Wake for Wakes {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A future polled by hand with a counting waker: `poll()` once, then look at `wakes()`.
pub struct Probe<F> {
    future: Pin<Box<F>>,
    wakes: std::sync::Arc<Wakes>,
}

impl<F: Future> Probe<F> {
    pub fn new(future: F) -> Probe<F> {
        Probe {
            future: Box::pin(future),
            wakes: std::sync::Arc::new(Wakes::default()),
        }
    }

    /// Polls once with this probe's waker.
    pub fn poll(&mut self) -> Poll<F::Output> {
        let waker = Waker::from(self.wakes.clone());
        self.future.as_mut().poll(&mut Context::from_waker(&waker))
    }

    /// Polls once and expects the future to be pending.
    pub fn pending(mut self) -> Probe<F> {
        assert!(self.poll().is_pending(), "expected the future to wait");
        self
    }

    /// Polls once and expects a value.
    pub fn ready(&mut self) -> F::Output {
        match self.poll() {
            Poll::Ready(value) => value,
            Poll::Pending => panic!("expected the future to be ready"),
        }
    }

    pub fn wakes(&self) -> usize {
        self.wakes.count()
    }
}

/// Threads of the pool whose threads are named `prefix` (`<prefix>-<id>`), not counting its
/// supervisor. Choose a prefix no test thread's name starts with.
pub fn pool_threads(prefix: &str) -> usize {
    // One reading for both counts: a supervisor started between two readings made the
    // difference negative.
    let (threads, supervisor) = (format!("{prefix}-"), format!("{prefix}-superv"));
    thread_names()
        .iter()
        .filter(|name| name.starts_with(&threads) && !name.starts_with(&supervisor))
        .count()
}

/// The states `info()` lists for task `id` (one per run it lists).
pub fn states_of(pool: &taskpool::TaskPool, id: taskpool::TaskId) -> Vec<taskpool::TaskState> {
    pool.info()
        .tasks
        .iter()
        .filter(|t| t.task_id == id)
        .map(|t| t.state)
        .collect()
}

/// Waits until a pool thread is executing task `id`.
pub fn wait_until_executing(pool: &taskpool::TaskPool, id: taskpool::TaskId) {
    wait_until("the task is executing", || {
        pool.info().threads.iter().any(|t| t.task_ids.contains(&id))
    });
}

/// Waits until task `id` is suspended: started, and executed by no thread.
pub fn wait_until_suspended(pool: &taskpool::TaskPool, id: taskpool::TaskId) {
    wait_until("the task is suspended", || {
        let info = pool.info();
        let running = info
            .tasks
            .iter()
            .any(|t| t.task_id == id && t.state == taskpool::TaskState::Running);
        running && !info.threads.iter().any(|t| t.task_ids.contains(&id))
    });
}

/// Blocks until gate `gate` opens, then returns it: a task that holds its thread.
#[taskpool::concurrent]
pub fn hold(gate: u64) -> u64 {
    pass_gate(gate);
    gate
}

/// Returns its argument: a task with nothing to do.
#[taskpool::concurrent]
pub fn plain(x: u32) -> u32 {
    x
}

/// Sleeps for an hour: a task that stays suspended until it is canceled or abandoned.
#[taskpool::concurrent]
pub async fn nap() -> u32 {
    taskpool::sleep(Duration::from_secs(3600)).await;
    0
}

/// The ids of the bombs whose `Drop` ran.
static DROPPED: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Records that the bomb `id` was dropped.
pub fn note_dropped(id: u32) {
    DROPPED.lock().unwrap_or_else(|e| e.into_inner()).push(id);
}

/// Whether the bomb `id` was dropped.
pub fn dropped(id: u32) -> bool {
    DROPPED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&id)
}

/// A value whose `Drop` panics. Every test uses its own ids. It stays quiet while its thread is
/// already unwinding (a second panic would abort the test binary), so a defect fails the test.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Bomb(pub u32);

impl Drop for Bomb {
    fn drop(&mut self) {
        note_dropped(self.0);
        if !std::thread::panicking() {
            panic!("bomb {} went off in Drop", self.0);
        }
    }
}

/// A value whose `Drop` holds the thread that drops it until gate `.0` opens: it keeps the
/// pool code that drops it (a cancel, a shutdown, a settle hook) in place for a test.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct StallOnDrop(pub u64);

impl Drop for StallOnDrop {
    fn drop(&mut self) {
        pass_gate(self.0);
    }
}

/// Posts a payload the worker cannot decode and waits until the worker reached it: the worker
/// handles messages in order, so every message posted before has been handled.
pub fn rendezvous<Out: taskpool::Transferable>(worker: &taskpool::Worker<u64, Out>) {
    let before = worker.message_errors();
    worker
        .post_payload(taskpool::Payload::encode(&"not a number", taskpool::Encoding::Json).unwrap())
        .unwrap();
    wait_until("the worker reached the rendezvous", || {
        worker.message_errors() > before
    });
}

/// How many of `pool`'s threads are executing a task.
pub fn busy_threads(pool: &taskpool::TaskPool) -> usize {
    pool.info()
        .threads
        .iter()
        .filter(|t| !t.task_ids.is_empty())
        .count()
}

/// The id of the thread of `pool` executing task `task`, if one is.
pub fn thread_executing(pool: &taskpool::TaskPool, task: taskpool::TaskId) -> Option<u64> {
    pool.info()
        .threads
        .iter()
        .find(|t| t.task_ids.contains(&task))
        .map(|t| t.id)
}

/// Runs test `test` of the current binary again, alone, in a child process limited to 768 MiB
/// of address space (the test harness fits; a large stack or a thread more may not), with
/// `child_env` set so that the test knows it is the child. Returns the child's stdout (both
/// streams are printed), or `None` where `prlimit` is not available.
pub fn run_under_address_limit(test: &str, child_env: &str) -> Option<String> {
    let exe = std::env::current_exe().unwrap();
    let output = std::process::Command::new("prlimit")
        .arg("--as=805306368")
        .arg(&exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(child_env, "1")
        .output()
        .ok()?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    println!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    Some(stdout)
}
