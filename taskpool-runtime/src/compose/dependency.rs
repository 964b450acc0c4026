//! Dependencies between tasks (ArkTS `task.addDependency` / `removeDependency`).
//!
//! One process-wide graph: for each task, the dependencies it still waits for, and the runs of
//! it that are held until they have all succeeded. A run of a dependent task is held by its
//! task's hook (`RunHooks::hold`) when it is about to be queued — whoever queues it: `execute`, a
//! group, a delay — and released when its last dependency succeeds.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::run::{Holder, Run, RunHeader, RunHooks, Settled};
use crate::sync::{Arc, Mutex, lock};
use crate::task::{LongTask, Task, TaskId, TaskRecord};

#[derive(Default)]
struct Graph {
    /// Task → the dependencies it still waits for.
    deps: HashMap<TaskId, HashSet<TaskId>>,
    /// Dependency → the tasks that wait for it. An entry whose key is no longer `observed` is
    /// a dependency that is gone without having succeeded: it stays while tasks wait for it,
    /// and their runs fail at once.
    dependents: HashMap<TaskId, HashSet<TaskId>>,
    /// Task → its runs held until its dependencies succeed.
    held: HashMap<TaskId, Vec<Arc<Run>>>,
    /// Task → whether its state (which every record of the task shares: a `Task` value's, or
    /// one its runs still hold) carries the graph's hook and has an owner; counted once. When
    /// its last owner goes, the task's node leaves the graph.
    observed: HashMap<TaskId, usize>,
}

/// A run that will never see its dependency succeed, to resolve with `DependencyFailed`.
type Failed = (Arc<Run>, TaskId, TaskId, String);

/// What a dependency that is gone reports to the runs that waited for it.
const GONE: &str = "the dependency was dropped without succeeding";

impl Graph {
    /// Whether `run` (about to be queued) waits for dependencies: then the graph holds it — or,
    /// if one of them is gone, returns it to fail.
    fn hold(&mut self, run: &Arc<Run>) -> Result<bool, Failed> {
        let id = run.id;
        let Some(deps) = self.deps.get(&id).filter(|deps| !deps.is_empty()) else {
            return Ok(false);
        };
        if let Some(gone) = deps.iter().find(|dep| !self.observed.contains_key(dep)) {
            return Err((Arc::clone(run), id, *gone, GONE.to_owned()));
        }
        self.held.entry(id).or_default().push(Arc::clone(run));
        Ok(true)
    }

    /// If `run` is held here, what it waits for (see `RunHooks::held_behind`): a run of each
    /// dependency it still waits for to succeed — one executing, or one the graph holds in turn.
    fn held_behind(&self, run: &RunHeader, holders: &mut Vec<Holder>) {
        let is_held = self
            .held
            .get(&run.id)
            .is_some_and(|held| held.iter().any(|h| std::ptr::eq(h.header(), run)));
        if !is_held {
            return;
        }
        for &dep in self.deps.get(&run.id).into_iter().flatten() {
            holders.push(Holder::Task(dep));
            let held = self.held.get(&dep).into_iter().flatten();
            holders.extend(held.cloned().map(Holder::Run));
        }
    }

    /// A run of task `id` settled: the runs to release (their last dependency succeeded) and
    /// those to fail (a dependency they wait for did not succeed), who are told `reason` (see
    /// [`reason_of`], made before the graph's lock is taken).
    fn settled(
        &mut self,
        id: TaskId,
        run: &RunHeader,
        settled: Settled<'_>,
        reason: &str,
    ) -> (Vec<Arc<Run>>, Vec<Failed>) {
        let mut release = Vec::new();
        let mut fail = Vec::new();
        // A held run that ended without running (canceled) leaves the graph.
        if let Some(held) = self.held.get_mut(&id) {
            held.retain(|held| !std::ptr::eq(&**held as &RunHeader, run));
            if held.is_empty() {
                self.held.remove(&id);
            }
        }
        let dependents: Vec<TaskId> = self
            .dependents
            .get(&id)
            .map(|d| d.iter().copied().collect())
            .unwrap_or_default();
        for dependent in dependents {
            match settled {
                Settled::Succeeded => {
                    // Satisfied: the dependency is consumed, as in ArkTS.
                    if let Some(deps) = self.deps.get_mut(&dependent) {
                        deps.remove(&id);
                        if deps.is_empty() {
                            self.deps.remove(&dependent);
                            release.extend(self.held.remove(&dependent).unwrap_or_default());
                        }
                    }
                    if let Some(d) = self.dependents.get_mut(&id) {
                        d.remove(&dependent);
                    }
                }
                _ => {
                    // The edge stays (a later success still satisfies it), but the runs
                    // waiting now will never see this dependency succeed.
                    for held in self.held.remove(&dependent).unwrap_or_default() {
                        fail.push((held, dependent, id, reason.to_owned()));
                    }
                }
            }
        }
        if self.dependents.get(&id).is_some_and(HashSet::is_empty) {
            self.dependents.remove(&id);
        }
        (release, fail)
    }

    /// Adds the edge `task` → `dep`, unless it would close a cycle.
    fn add(&mut self, task: TaskId, dep: TaskId) -> Result<()> {
        // A path from `dep` back to `task` ends with an edge into `task`: a task nothing
        // depends on closes no cycle, and a chain built link by link (each new task on the
        // previous one) then costs no walk per link, instead of one along the whole chain.
        let has_dependents = self.dependents.get(&task).is_some_and(|d| !d.is_empty());
        if task == dep || (has_dependents && reaches(self, dep, task)) {
            return Err(Error::CircularDependency {
                task,
                dependency: dep,
            });
        }
        self.deps.entry(task).or_default().insert(dep);
        self.dependents.entry(dep).or_default().insert(task);
        Ok(())
    }

    /// Removes the edge `task` → `dep`: the runs of `task` it alone held, to release.
    fn remove(&mut self, task: TaskId, dep: TaskId) -> Result<Vec<Arc<Run>>> {
        let removed = self
            .deps
            .get_mut(&task)
            .is_some_and(|deps| deps.remove(&dep));
        if !removed {
            return Err(Error::DependencyNotFound {
                task,
                dependency: dep,
            });
        }
        self.unlink(dep, task);
        if self.deps.get(&task).is_some_and(HashSet::is_empty) {
            self.deps.remove(&task);
            Ok(self.held.remove(&task).unwrap_or_default())
        } else {
            Ok(Vec::new())
        }
    }

    /// Forgets that `dependent` waits for `dep` on `dep`'s side, dropping `dep`'s entry once no
    /// task waits for it.
    fn unlink(&mut self, dep: TaskId, dependent: TaskId) {
        if let Some(d) = self.dependents.get_mut(&dep) {
            d.remove(&dependent);
            if d.is_empty() {
                self.dependents.remove(&dep);
            }
        }
    }

    /// A record of task `id` that carried the graph's hook is gone. When it was the last one,
    /// nothing can run the task again: its node leaves the graph, and the runs of the tasks
    /// that still wait for it (it never succeeded) are returned to fail; those tasks keep the
    /// edge, so their later runs fail too (see `hold`).
    fn record_gone(&mut self, id: TaskId) -> Vec<Failed> {
        match self.observed.get_mut(&id) {
            Some(count) if *count > 1 => {
                *count -= 1;
                return Vec::new();
            }
            Some(_) => {
                self.observed.remove(&id);
            }
            None => return Vec::new(),
        }
        for dep in self.deps.remove(&id).unwrap_or_default() {
            self.unlink(dep, id);
        }
        self.held.remove(&id);
        let mut fail = Vec::new();
        let dependents: Vec<TaskId> = self
            .dependents
            .get(&id)
            .map(|d| d.iter().copied().collect())
            .unwrap_or_default();
        for dependent in dependents {
            for held in self.held.remove(&dependent).unwrap_or_default() {
                fail.push((held, dependent, id, GONE.to_owned()));
            }
        }
        fail
    }
}

/// The longest reason a `DependencyFailed` carries, in bytes: the dependency's own handle has
/// its whole error, and the reason is copied into every run that waited for it.
const MAX_REASON: usize = 1024;

/// What a run that waited for a dependency that ended with `error` is told. A dependency that
/// did not run for want of its own dependency is named, not quoted: quoting would nest each
/// link's message in the next, and along a chain of 20 000 dependents the reasons grew to
/// gigabytes. The message of a task's own error is user code (its `Display`), so this is made
/// outside the graph's lock, and a `Display` that panics is contained.
fn reason_of(error: &Error) -> String {
    let mut reason = match error {
        Error::DependencyFailed { dependency, .. } => {
            format!("it did not run because its own dependency {dependency} did not succeed")
        }
        error => crate::panic::display_quietly(error),
    };
    if reason.len() > MAX_REASON {
        let mut end = MAX_REASON;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        reason.push('…');
    }
    reason
}

fn graph() -> &'static Mutex<Graph> {
    static GRAPH: OnceLock<Mutex<Graph>> = OnceLock::new();
    GRAPH.get_or_init(Default::default)
}

/// Whether task `id` waits for any dependency (it then cannot join a runner, 10200025).
pub(crate) fn has_dependencies(id: TaskId) -> bool {
    lock(graph())
        .deps
        .get(&id)
        .is_some_and(|deps| !deps.is_empty())
}

/// Whether task `id` has a dependency relationship: it waits for a dependency, or a task
/// waits for it (a periodic task may have neither: 401).
pub(crate) fn in_dependency_relationship(id: TaskId) -> bool {
    let graph = lock(graph());
    let non_empty = |edges: Option<&HashSet<TaskId>>| edges.is_some_and(|e| !e.is_empty());
    non_empty(graph.deps.get(&id)) || non_empty(graph.dependents.get(&id))
}

/// A record of a task in the graph lost its last owner (`data::release_owner`).
pub(crate) fn record_gone(id: TaskId) {
    let fail = lock(graph()).record_gone(id);
    fail_all(fail);
}

/// Whether `from` reaches `to` by following dependencies.
///
/// Two walks take turns, one task each: from `from` along dependencies, and from `to` back
/// along dependents; they answer when they meet, or when either has nothing left to visit. So
/// a walk costs at most twice its smaller side: a chain whose links all have one dependent in
/// common (a sink depending on every link) costs a step or two per new link, instead of a
/// walk along the whole chain.
fn reaches(graph: &Graph, from: TaskId, to: TaskId) -> bool {
    let mut forward = Walk::new(from, &graph.deps);
    let mut backward = Walk::new(to, &graph.dependents);
    loop {
        if let Some(found) = forward.step(&backward) {
            return found;
        }
        if let Some(found) = backward.step(&forward) {
            return found;
        }
    }
}

/// A depth-first walk of one direction of the graph's edges.
struct Walk<'a> {
    edges: &'a HashMap<TaskId, HashSet<TaskId>>,
    start: TaskId,
    stack: Vec<TaskId>,
    seen: HashSet<TaskId>,
}

impl<'a> Walk<'a> {
    fn new(start: TaskId, edges: &'a HashMap<TaskId, HashSet<TaskId>>) -> Walk<'a> {
        Walk {
            edges,
            start,
            stack: vec![start],
            seen: HashSet::new(),
        }
    }

    /// Visits one more task: `Some(true)` when `other` (the walk the other way) started from
    /// it or visited it, `Some(false)` when nothing is left to visit, `None` to go on.
    fn step(&mut self, other: &Walk<'_>) -> Option<bool> {
        let Some(task) = self.stack.pop() else {
            return Some(false);
        };
        if task == other.start || other.seen.contains(&task) {
            return Some(true);
        }
        if self.seen.insert(task) {
            if let Some(next) = self.edges.get(&task) {
                self.stack.extend(next.iter().copied());
            }
        }
        None
    }
}

fn release_all(release: Vec<Arc<Run>>) {
    for run in release {
        if let Some(pool) = run.pool.upgrade() {
            pool.release(run);
        } else {
            run.cancel();
        }
    }
}

std::thread_local! {
    /// The runs this thread still has to fail, while it is failing others: see [`fail_all`].
    static CASCADE: RefCell<Option<VecDeque<Failed>>> = const { RefCell::new(None) };
}

/// Resolves each run of `fail` with `DependencyFailed`.
///
/// Failing a run settles it, and its settle hook fails the runs that wait for *it*: along a
/// chain of dependents each link would nest one call deeper, enough to overflow a thread's
/// stack behind a few thousand links. So a call made while this thread is already failing runs
/// only queues its runs, and the outermost call fails them all, in a loop.
fn fail_all(mut fail: Vec<Failed>) {
    let queued = CASCADE.try_with(|cascade| match &mut *cascade.borrow_mut() {
        Some(queue) => {
            queue.extend(fail.drain(..));
            true
        }
        outermost => {
            *outermost = Some(VecDeque::new());
            false
        }
    });
    match queued {
        Ok(true) => {}
        Ok(false) => {
            let _done = EndCascade;
            fail.into_iter().for_each(fail_one);
            while let Some(failed) = CASCADE.with(|c| c.borrow_mut().as_mut()?.pop_front()) {
                fail_one(failed);
            }
        }
        // The thread is exiting (a run dropped from a thread-local destructor): no queue.
        Err(_) => fail.into_iter().for_each(fail_one),
    }
}

/// Ends this thread's cascade, even if failing a run unwinds.
struct EndCascade;

impl Drop for EndCascade {
    fn drop(&mut self) {
        let _ = CASCADE.try_with(|cascade| cascade.borrow_mut().take());
    }
}

fn fail_one((run, task, dependency, reason): Failed) {
    let error = Error::DependencyFailed {
        task,
        dependency,
        reason,
    };
    match run.pool.upgrade() {
        Some(pool) => {
            pool.discard(&run, error);
        }
        None => {
            run.discard(error);
        }
    }
}

/// The graph's hook on every run of a task that has, or is, a dependency.
struct Observer;

impl RunHooks for Observer {
    fn hold(&self, run: &Arc<Run>) -> bool {
        let held = lock(graph()).hold(run);
        match held {
            Ok(held) => held,
            Err(failed) => {
                fail_all(vec![failed]);
                true
            }
        }
    }

    fn on_settle(&self, run: &RunHeader, settled: Settled<'_>) {
        let reason = settled.error().map_or_else(String::new, reason_of);
        let (release, fail) = lock(graph()).settled(run.id, run, settled, &reason);
        release_all(release);
        fail_all(fail);
    }

    fn held_behind(&self, run: &RunHeader, holders: &mut Vec<Holder>) {
        lock(graph()).held_behind(run, holders);
    }
}

fn observe(graph: &mut Graph, record: &TaskRecord) {
    if !record
        .in_graph
        .swap(true, std::sync::atomic::Ordering::AcqRel)
    {
        *graph.observed.entry(record.id).or_default() += 1;
        lock(&record.hooks).push(Arc::new(Observer));
    }
}

impl<T> Task<T> {
    /// Makes this task wait for `dependency` (ArkTS `task.addDependency(dependency)`): a run
    /// of this task queued from now on starts only after a run of `dependency` has succeeded
    /// (the dependency is then consumed, as in ArkTS, so later runs do not wait for it again).
    ///
    /// If a run of `dependency` fails, is canceled or times out, the runs of this task waiting
    /// for it resolve with [`Error::DependencyFailed`] and never run (ArkTS leaves them
    /// pending); the dependency stays, so a later run waits for a later success.
    ///
    /// Fails with [`Error::CircularDependency`] (10200026) if `dependency` already depends,
    /// directly or not, on this task (or is this task), and with
    /// [`Error::ExecutedTaskDependency`] (401) if either task has already been executed (as in
    /// ArkTS: a dependency on a task whose runs are over would never be satisfied).
    ///
    /// A run of `dependency` that waits for (or awaits) a held run of this task gets
    /// [`Error::WaitsForItself`] at once: that run is released only once the waiting one has
    /// succeeded. (Only a direct dependency is seen; a longer chain waits until the time limit
    /// fails the waiting run, and with it the runs that depend on it.)
    ///
    /// ```
    /// use taskpool::{concurrent, Task, TaskPool};
    ///
    /// #[concurrent]
    /// fn step(n: u32) -> u32 {
    ///     n
    /// }
    ///
    /// let first = Task::new(step, (1,));
    /// let second = Task::new(step, (2,));
    /// second.add_dependency(&first).unwrap();
    /// assert_eq!(first.add_dependency(&second).unwrap_err().code(), Some(10200026));
    /// let pool = TaskPool::global();
    /// let later = pool.execute(second); // held until `first` succeeds
    /// assert_eq!(pool.execute(first).wait().unwrap(), 1);
    /// assert_eq!(later.wait().unwrap(), 2);
    /// ```
    pub fn add_dependency<D: Dependable + ?Sized>(&self, dependency: &D) -> Result<()> {
        let (task, dep) = (self.node(), dependency.node());
        for (id, record) in [task, dep] {
            if record.executed.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(Error::ExecutedTaskDependency(id));
            }
        }
        let mut graph = lock(graph());
        graph.add(task.0, dep.0)?;
        observe(&mut graph, task.1);
        observe(&mut graph, dep.1);
        Ok(())
    }

    /// Removes a dependency added with [`add_dependency`](Task::add_dependency) (ArkTS
    /// `task.removeDependency`). Runs held only by it are queued at once.
    ///
    /// Fails with [`Error::DependencyNotFound`] (10200027) if this task does not (or no
    /// longer: a dependency is consumed when it succeeds) depend on `dependency`.
    pub fn remove_dependency<D: Dependable + ?Sized>(&self, dependency: &D) -> Result<()> {
        let release = lock(graph()).remove(self.id(), dependency.node().0)?;
        release_all(release);
        Ok(())
    }

    /// Whether this task waits for any dependency.
    pub fn has_dependencies(&self) -> bool {
        has_dependencies(self.id())
    }
}

/// A task that others can depend on, and that can depend on others: a [`Task`] or a
/// [`LongTask`] (ArkTS: a `LongTask` is a `Task`, with its `addDependency`). Sealed.
pub trait Dependable: crate::task::sealed::Sealed {
    #[doc(hidden)]
    #[allow(private_interfaces)]
    fn node(&self) -> (TaskId, &Arc<TaskRecord>);
}

impl<T> Dependable for Task<T> {
    #[allow(private_interfaces)]
    fn node(&self) -> (TaskId, &Arc<TaskRecord>) {
        (self.id(), self.record())
    }
}

impl<T> Dependable for LongTask<T> {
    #[allow(private_interfaces)]
    fn node(&self) -> (TaskId, &Arc<TaskRecord>) {
        self.as_task().node()
    }
}

impl<T> LongTask<T> {
    /// Makes this long task wait for `dependency`, as [`Task::add_dependency`] does (ArkTS
    /// `longTask.addDependency`).
    pub fn add_dependency<D: Dependable + ?Sized>(&self, dependency: &D) -> Result<()> {
        self.as_task().add_dependency(dependency)
    }

    /// Removes a dependency added with [`add_dependency`](LongTask::add_dependency), as
    /// [`Task::remove_dependency`] does (ArkTS `longTask.removeDependency`).
    pub fn remove_dependency<D: Dependable + ?Sized>(&self, dependency: &D) -> Result<()> {
        self.as_task().remove_dependency(dependency)
    }

    /// Whether this long task waits for any dependency.
    pub fn has_dependencies(&self) -> bool {
        has_dependencies(self.id())
    }
}

#[cfg(all(test, not(taskpool_loom)))]
mod tests {
    use super::*;
    use crate::TaskPool;

    #[crate::concurrent]
    fn step(n: u32) -> u32 {
        n
    }

    /// Whether the graph still mentions task `id` anywhere.
    fn mentions(id: TaskId) -> bool {
        let graph = lock(graph());
        graph.deps.contains_key(&id)
            || graph.deps.values().any(|deps| deps.contains(&id))
            || graph.dependents.contains_key(&id)
            || graph.dependents.values().any(|d| d.contains(&id))
            || graph.held.contains_key(&id)
            || graph.observed.contains_key(&id)
    }

    #[test]
    fn tasks_dropped_without_their_dependency_succeeding_leave_the_graph() {
        let first = Task::new(step, (1,));
        let second = Task::new(step, (2,));
        second.add_dependency(&first).unwrap();
        let (a, b) = (first.id(), second.id());
        assert!(mentions(a) && mentions(b));
        drop(second);
        assert!(!mentions(b), "the dependent's node went with it");
        assert!(mentions(a), "the dependency is still alive");
        drop(first);
        assert!(!mentions(a), "the dependency's node went with it");
    }

    #[test]
    fn a_run_waiting_for_a_dependency_that_is_dropped_fails_and_nothing_stays() {
        let pool = TaskPool::builder().max_threads(1).build().unwrap();
        let first = Task::new(step, (1,));
        let second = Task::new(step, (2,));
        second.add_dependency(&first).unwrap();
        let (a, b) = (first.id(), second.id());
        let later = pool.execute(&second); // held: `first` has not succeeded
        drop(first);
        match later.wait() {
            Err(Error::DependencyFailed {
                task, dependency, ..
            }) => assert_eq!((task, dependency), (b, a)),
            other => panic!("expected DependencyFailed, got {other:?}"),
        }
        // The edge stays with `second`: a later run fails at once too.
        assert!(matches!(
            pool.execute(&second).wait(),
            Err(Error::DependencyFailed { .. })
        ));
        drop(second);
        assert!(!mentions(a) && !mentions(b));
    }

    #[test]
    fn a_dependency_that_succeeded_and_was_dropped_leaves_the_graph() {
        let pool = TaskPool::builder().max_threads(1).build().unwrap();
        let first = Task::new(step, (1,));
        let second = Task::new(step, (2,));
        second.add_dependency(&first).unwrap();
        let (a, b) = (first.id(), second.id());
        let later = pool.execute(second);
        assert_eq!(pool.execute(first).wait().unwrap(), 1);
        assert_eq!(later.wait().unwrap(), 2);
        leave(&[a, b]);
    }

    /// Waits until the graph no longer mentions `ids` (runs let go of their records right
    /// after their handles resolve).
    fn leave(ids: &[TaskId]) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while ids.iter().any(|id| mentions(*id)) {
            assert!(std::time::Instant::now() < deadline, "the nodes stayed");
            std::thread::yield_now();
        }
    }

    /// A task renamed while a run of it is alive gets its own record (same id): the run's
    /// record going does not take the node of the task, which still waits.
    #[test]
    fn a_copied_record_keeps_the_node_until_the_task_is_gone() {
        let pool = TaskPool::builder().max_threads(1).build().unwrap();
        let first = Task::new(step, (1,));
        let second = Task::new(step, (2,));
        second.add_dependency(&first).unwrap();
        let b = second.id();
        let held = pool.execute(&second);
        let second = second.with_name("renamed");
        held.cancel().unwrap();
        assert!(held.wait().is_err());
        assert!(
            second.has_dependencies(),
            "the task still waits for `first`"
        );
        let later = pool.execute(&second);
        assert_eq!(pool.execute(&first).wait().unwrap(), 1);
        assert_eq!(later.wait().unwrap(), 2);
        drop((first, second));
        leave(&[b]);
    }
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use super::*;
    use crate::function::Invocation;
    use crate::priority::Priority;
    use crate::run::TypedRun;
    use crate::task::Call;

    fn run() -> Arc<Run> {
        let record = crate::task::Owner::anonymous(&"loom::task");
        let call: Call<u32> = Box::new(|| Invocation::Ready(Ok(0)));
        TypedRun::new(record, Priority::Medium, call, std::sync::Weak::new(), None)
    }

    /// A graph where the task of `dependent` waits for the tasks of `deps`, with `dependent`
    /// held.
    fn graph_with(dependent: &Arc<Run>, deps: &[&Arc<Run>]) -> Arc<Mutex<Graph>> {
        let mut graph = Graph::default();
        for dep in deps {
            graph.observed.insert(dep.id, 1);
            graph.add(dependent.id, dep.id).unwrap();
        }
        graph.observed.insert(dependent.id, 1);
        assert_eq!(graph.hold(dependent).ok(), Some(true));
        Arc::new(Mutex::new(graph))
    }

    /// Two dependencies succeed at once on two threads: the dependent is released exactly
    /// once, and the graph keeps nothing of it.
    #[test]
    fn two_dependencies_settling_at_once_release_the_dependent_once() {
        loom::model(|| {
            let (a, b, t) = (run(), run(), run());
            let graph = graph_with(&t, &[&a, &b]);
            let settle = |dep: &Arc<Run>| {
                let (graph, dep) = (Arc::clone(&graph), Arc::clone(dep));
                loom::thread::spawn(move || {
                    let (release, fail) =
                        lock(&graph).settled(dep.id, &dep, Settled::Succeeded, "");
                    assert!(fail.is_empty());
                    release
                })
            };
            let (first, second) = (settle(&a), settle(&b));
            let mut released = first.join().unwrap();
            released.extend(second.join().unwrap());
            assert_eq!(released.len(), 1, "released exactly once");
            assert!(Arc::ptr_eq(&released[0], &t));
            let graph = lock(&graph);
            assert!(graph.deps.is_empty() && graph.dependents.is_empty());
            assert!(graph.held.is_empty());
        });
    }

    /// A dependency succeeds (thread A) while the other dependency is removed (B) and the held
    /// run is canceled (C): the run is released at most once, and only if the cancel lost;
    /// nothing of it stays held.
    #[test]
    fn a_dependency_settling_races_remove_and_cancel() {
        loom::model(|| {
            let (a, b, t) = (run(), run(), run());
            let graph = graph_with(&t, &[&a, &b]);
            let settler = {
                let (graph, a) = (Arc::clone(&graph), Arc::clone(&a));
                loom::thread::spawn(move || {
                    lock(&graph).settled(a.id, &a, Settled::Succeeded, "").0
                })
            };
            let remover = {
                let (graph, t, b) = (Arc::clone(&graph), Arc::clone(&t), Arc::clone(&b));
                loom::thread::spawn(move || lock(&graph).remove(t.id, b.id).unwrap())
            };
            // The cancel: the run's state first, then the graph's hook.
            let canceled = t.cancel() == crate::run::Cancel::Dequeued;
            let error = Error::PoolShutDown;
            let (release, _) = lock(&graph).settled(t.id, &t, Settled::Canceled(&error), "");
            assert!(release.is_empty());
            let mut released = settler.join().unwrap();
            released.extend(remover.join().unwrap());
            // A released run that was canceled first is ignored by `release` (not WAITING).
            let live: Vec<_> = released.iter().filter(|r| r.is_waiting()).collect();
            assert!(released.len() <= 1, "released at most once");
            assert!(canceled && live.is_empty());
            let graph = lock(&graph);
            assert!(graph.held.is_empty(), "nothing stays held");
            assert!(graph.deps.is_empty() && graph.dependents.is_empty());
        });
    }
}
