//! Dependencies between tasks (ArkTS `task.addDependency` / `removeDependency`).
//!
//! One process-wide graph: for each task, the dependencies it still waits for, and the runs of
//! it that are held until they have all succeeded. A run of a dependent task is held by its
//! task's hook (`RunHooks::hold`) when it is about to be queued — whoever queues it: `execute`, a
//! group, a delay — and released when its last dependency succeeds.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::run::{Run, RunHeader, RunHooks, Settled};
use crate::sync::{Arc, Mutex, lock};
use crate::task::{Task, TaskId, TaskRecord};

#[derive(Default)]
struct Graph {
    /// Task → the dependencies it still waits for.
    deps: HashMap<TaskId, HashSet<TaskId>>,
    /// Dependency → the tasks that wait for it.
    dependents: HashMap<TaskId, HashSet<TaskId>>,
    /// Task → its runs held until its dependencies succeed.
    held: HashMap<TaskId, Vec<Arc<Run>>>,
    /// Tasks whose records carry the graph's hook already.
    observed: HashSet<TaskId>,
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

/// Whether `from` reaches `to` by following dependencies.
fn reaches(graph: &Graph, from: TaskId, to: TaskId) -> bool {
    let mut stack = vec![from];
    let mut seen = HashSet::new();
    while let Some(task) = stack.pop() {
        if task == to {
            return true;
        }
        if seen.insert(task) {
            if let Some(deps) = graph.deps.get(&task) {
                stack.extend(deps.iter().copied());
            }
        }
    }
    false
}

/// The graph's hook on every run of a task that has, or is, a dependency.
struct Observer;

impl RunHooks for Observer {
    fn hold(&self, run: &Arc<Run>) -> bool {
        let id = run.record.id;
        let mut graph = lock(graph());
        if graph.deps.get(&id).is_none_or(HashSet::is_empty) {
            return false;
        }
        graph.held.entry(id).or_default().push(Arc::clone(run));
        true
    }

    fn on_settle(&self, run: &RunHeader, settled: Settled<'_>) {
        let id = run.record.id;
        let mut release = Vec::new();
        let mut fail = Vec::new();
        {
            let mut graph = lock(graph());
            // A held run that ended without running (canceled) leaves the graph.
            if let Some(held) = graph.held.get_mut(&id) {
                held.retain(|held| !std::ptr::eq(&**held as &RunHeader, run));
            }
            let dependents: Vec<TaskId> = graph
                .dependents
                .get(&id)
                .map(|d| d.iter().copied().collect())
                .unwrap_or_default();
            for dependent in dependents {
                match settled {
                    Settled::Succeeded => {
                        // Satisfied: the dependency is consumed, as in ArkTS.
                        if let Some(deps) = graph.deps.get_mut(&dependent) {
                            deps.remove(&id);
                            if deps.is_empty() {
                                graph.deps.remove(&dependent);
                                release.extend(graph.held.remove(&dependent).unwrap_or_default());
                            }
                        }
                        if let Some(d) = graph.dependents.get_mut(&id) {
                            d.remove(&dependent);
                        }
                    }
                    failed => {
                        // The edge stays (a later success still satisfies it), but the runs
                        // waiting now will never see this dependency succeed.
                        let reason = failed.error().map_or_else(String::new, ToString::to_string);
                        for held in graph.held.remove(&dependent).unwrap_or_default() {
                            fail.push((held, dependent, reason.clone()));
                        }
                    }
                }
            }
            if graph.dependents.get(&id).is_some_and(HashSet::is_empty) {
                graph.dependents.remove(&id);
            }
        }
        for run in release {
            if let Some(pool) = run.pool.upgrade() {
                pool.release(run);
            } else {
                run.cancel();
            }
        }
        for (run, task, reason) in fail {
            let error = Error::DependencyFailed {
                task,
                dependency: id,
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
    }
}

fn observe(graph: &mut Graph, record: &TaskRecord) {
    if graph.observed.insert(record.id) {
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
    /// directly or not, on this task (or is this task).
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
    pub fn add_dependency<U>(&self, dependency: &Task<U>) -> Result<()> {
        let (task, dep) = (self.id(), dependency.id());
        let mut graph = lock(graph());
        if task == dep || reaches(&graph, dep, task) {
            return Err(Error::CircularDependency {
                task,
                dependency: dep,
            });
        }
        graph.deps.entry(task).or_default().insert(dep);
        graph.dependents.entry(dep).or_default().insert(task);
        observe(&mut graph, self.record());
        observe(&mut graph, dependency.record());
        Ok(())
    }

    /// Removes a dependency added with [`add_dependency`](Task::add_dependency) (ArkTS
    /// `task.removeDependency`). Runs held only by it are queued at once.
    ///
    /// Fails with [`Error::DependencyNotFound`] (10200027) if this task does not (or no
    /// longer: a dependency is consumed when it succeeds) depend on `dependency`.
    pub fn remove_dependency<U>(&self, dependency: &Task<U>) -> Result<()> {
        let (task, dep) = (self.id(), dependency.id());
        let release = {
            let mut graph = lock(graph());
            let removed = graph
                .deps
                .get_mut(&task)
                .is_some_and(|deps| deps.remove(&dep));
            if !removed {
                return Err(Error::DependencyNotFound {
                    task,
                    dependency: dep,
                });
            }
            if let Some(d) = graph.dependents.get_mut(&dep) {
                d.remove(&task);
            }
            if graph.deps.get(&task).is_some_and(HashSet::is_empty) {
                graph.deps.remove(&task);
                graph.held.remove(&task).unwrap_or_default()
            } else {
                Vec::new()
            }
        };
        for run in release {
            if let Some(pool) = run.pool.upgrade() {
                pool.release(run);
            }
        }
        Ok(())
    }

    /// Whether this task waits for any dependency.
    pub fn has_dependencies(&self) -> bool {
        has_dependencies(self.id())
    }
}
