//! Dependencies: a task starts after its dependencies succeed; failures, cancels, cycles
//! (10200026), missing dependencies (10200027).

mod support;

use std::sync::atomic::{AtomicBool, Ordering};

use support::{hold, open_gate, pass_gate, wait_until};
use taskpool::{Error, LongTask, Priority, Task, TaskGroup, TaskPool, TaskState, concurrent};

#[concurrent]
fn echo(n: u64) -> u64 {
    n
}

#[concurrent]
fn boom() -> u64 {
    panic!("dependency fails")
}

static DEPENDENT_RAN: AtomicBool = AtomicBool::new(false);

#[concurrent]
fn mark() -> u64 {
    DEPENDENT_RAN.store(true, Ordering::SeqCst);
    1
}

#[test]
fn a_dependent_task_waits_for_all_its_dependencies() {
    let pool = TaskPool::builder().max_threads(3).build().unwrap();
    let a = Task::new(hold, (301,));
    let b = Task::new(hold, (302,));
    let c = Task::new(echo, (3,));
    c.add_dependency(&a).unwrap();
    c.add_dependency(&b).unwrap();
    assert!(c.has_dependencies());
    let c_id = c.id();
    let hc = pool.execute(c);
    let ha = pool.execute(a);
    let hb = pool.execute(b);
    let state_of_c = || {
        pool.info()
            .tasks
            .iter()
            .find(|t| t.task_id == c_id)
            .map(|t| t.state)
    };
    assert_eq!(state_of_c(), Some(TaskState::Waiting));
    open_gate(301);
    assert_eq!(ha.wait().unwrap(), 301);
    assert!(!hc.is_finished(), "still waits for b");
    assert_eq!(state_of_c(), Some(TaskState::Waiting));
    open_gate(302);
    assert_eq!(hb.wait().unwrap(), 302);
    assert_eq!(hc.wait().unwrap(), 3);
}

#[test]
fn a_failed_dependency_fails_its_waiting_dependents() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let dependency = Task::new(boom, ());
    let dependent = Task::new(mark, ());
    dependent.add_dependency(&dependency).unwrap();
    let dependency_id = dependency.id();
    let held = pool.execute(dependent);
    assert!(pool.execute(dependency).wait().is_err());
    match held.wait() {
        Err(error @ Error::DependencyFailed { .. }) => {
            assert!(
                matches!(error, Error::DependencyFailed { dependency, .. } if dependency == dependency_id)
            );
            assert_eq!(error.code(), None);
        }
        other => panic!("expected a dependency failure, got {other:?}"),
    }
    assert!(!DEPENDENT_RAN.load(Ordering::SeqCst));
}

/// Tasks each depending on the one before, the first being `first`; all executed, last first.
fn chain_of(first: Task<u64>, links: u64) -> Vec<Task<u64>> {
    let mut chain = vec![first];
    for link in 1..links {
        let task = Task::new(echo, (link,));
        task.add_dependency(chain.last().unwrap()).unwrap();
        chain.push(task);
    }
    chain
}

#[test]
fn a_failure_at_the_head_of_a_long_chain_fails_every_link_without_nesting() {
    // Each failed link fails the next from its settle hook. Before, that nested one call per
    // link (the process aborted with a stack overflow at a thousand links), and each reason
    // quoted the previous link's message whole (quadratic in time and memory).
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let chain = chain_of(Task::new(boom, ()), 20_000);
    let ids: Vec<_> = chain.iter().map(Task::id).collect();
    let mut handles: Vec<_> = chain.into_iter().rev().map(|t| pool.execute(t)).collect();
    handles.reverse();
    let mut outcomes = handles.into_iter().map(|h| h.wait());
    assert!(matches!(outcomes.next(), Some(Err(Error::Panicked { .. }))));
    for (link, outcome) in outcomes.enumerate() {
        match outcome {
            Err(Error::DependencyFailed {
                task,
                dependency,
                reason,
            }) => {
                assert_eq!((task, dependency), (ids[link + 1], ids[link]));
                assert!(reason.len() <= 1100, "link {link}: {} bytes", reason.len());
            }
            other => panic!("link {link}: expected a dependency failure, got {other:?}"),
        }
    }
}

#[test]
fn a_long_chain_built_link_by_link_runs_in_order() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let chain = chain_of(Task::new(echo, (0,)), 20_000);
    let handles: Vec<_> = chain.into_iter().rev().map(|t| pool.execute(t)).collect();
    for (link, handle) in handles.into_iter().rev().enumerate() {
        assert_eq!(handle.wait().unwrap(), link as u64);
    }
}

static GATED_DEPENDENCY_DONE: AtomicBool = AtomicBool::new(false);
static ABOUT_TO_WAIT: AtomicBool = AtomicBool::new(false);
static HELD_DEPENDENT: std::sync::Mutex<Option<taskpool::TaskHandle<bool>>> =
    std::sync::Mutex::new(None);

#[concurrent]
fn gated_dependency() -> u64 {
    pass_gate(321);
    GATED_DEPENDENCY_DONE.store(true, Ordering::SeqCst);
    1
}

#[concurrent]
fn saw_its_dependency_done() -> bool {
    GATED_DEPENDENCY_DONE.load(Ordering::SeqCst)
}

#[concurrent]
fn wait_for_the_held_dependent() -> bool {
    let held = HELD_DEPENDENT
        .lock()
        .unwrap()
        .take()
        .expect("set by the test");
    ABOUT_TO_WAIT.store(true, Ordering::SeqCst);
    held.wait().unwrap()
}

#[test]
fn a_wait_inside_a_task_does_not_start_a_run_its_dependencies_hold() {
    // A blocking wait inside a pool task runs the awaited task inline if it has not started.
    // A run held for its dependencies has not started either, but must not start: before, the
    // waiting task ran it at once, before its dependency had run.
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let dependency = Task::new(gated_dependency, ());
    let dependent = Task::new(saw_its_dependency_done, ());
    dependent.add_dependency(&dependency).unwrap();
    *HELD_DEPENDENT.lock().unwrap() = Some(pool.execute(dependent));
    let waiter = pool.run(wait_for_the_held_dependent, ());
    let dependency = pool.execute(dependency);
    wait_until("the waiter is about to wait", || {
        ABOUT_TO_WAIT.load(Ordering::SeqCst)
    });
    open_gate(321);
    assert!(
        waiter.wait().unwrap(),
        "the dependent ran before its dependency"
    );
    assert_eq!(dependency.wait().unwrap(), 1);
}

#[test]
fn a_canceled_dependency_fails_its_waiting_dependents() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let blocker = pool.run(hold, (311,));
    let dependency = Task::new(echo, (1,));
    let dependent = Task::new(echo, (2,));
    dependent.add_dependency(&dependency).unwrap();
    let held = pool.execute(dependent);
    let waiting = pool.execute(dependency);
    waiting.cancel().unwrap();
    assert!(matches!(held.wait(), Err(Error::DependencyFailed { .. })));
    open_gate(311);
    assert_eq!(blocker.wait().unwrap(), 311);
}

#[test]
fn a_held_dependent_can_be_canceled() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let dependency = Task::new(echo, (1,));
    let dependent = Task::new(echo, (2,));
    dependent.add_dependency(&dependency).unwrap();
    let held = pool.execute(&dependent);
    pool.cancel(dependent.id()).unwrap();
    assert!(held.wait().unwrap_err().is_canceled());
    assert_eq!(pool.execute(dependency).wait().unwrap(), 1);
    // Consumed: the dependent now runs at once.
    assert!(!dependent.has_dependencies());
    assert_eq!(pool.execute(dependent).wait().unwrap(), 2);
}

#[test]
fn cycles_are_refused_with_10200026() {
    let a = Task::new(echo, (1,));
    let b = Task::new(echo, (2,));
    let c = Task::new(echo, (3,));
    assert_eq!(a.add_dependency(&a).unwrap_err().code(), Some(10200026));
    b.add_dependency(&a).unwrap();
    c.add_dependency(&b).unwrap();
    match a.add_dependency(&c) {
        Err(error @ Error::CircularDependency { .. }) => assert_eq!(error.code(), Some(10200026)),
        other => panic!("expected a cycle error, got {other:?}"),
    }
}

#[test]
fn removing_a_missing_dependency_is_10200027_and_removing_releases() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let a = Task::new(echo, (1,));
    let b = Task::new(echo, (2,));
    assert_eq!(b.remove_dependency(&a).unwrap_err().code(), Some(10200027));
    b.add_dependency(&a).unwrap();
    let held = pool.execute(b.with_name("b"));
    // `with_name` on a task whose runs are alive keeps the identity.
    assert!(!held.is_finished());
    let b2 = Task::new(echo, (9,));
    assert!(matches!(
        b2.remove_dependency(&a),
        Err(Error::DependencyNotFound { .. })
    ));
    drop(a);
}

#[test]
fn remove_dependency_releases_a_held_run() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let a = Task::new(echo, (1,));
    let b = Task::new(echo, (2,));
    b.add_dependency(&a).unwrap();
    let held = pool.execute(&b);
    assert!(!held.is_finished());
    b.remove_dependency(&a).unwrap();
    assert_eq!(held.wait().unwrap(), 2);
    assert_eq!(b.remove_dependency(&a).unwrap_err().code(), Some(10200027));
}

#[test]
fn dependencies_hold_group_members_too() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let first = Task::new(hold, (321,));
    let second = Task::new(echo, (2,));
    second.add_dependency(&first).unwrap();
    let mut group = TaskGroup::new();
    group.add_task(second).unwrap();
    let handle = pool.execute_group(&group, Priority::High);
    let first_handle = pool.execute(first);
    assert!(!handle.is_finished());
    open_gate(321);
    assert_eq!(first_handle.wait().unwrap(), 321);
    assert_eq!(handle.wait().unwrap(), vec![2]);
}

#[test]
fn an_executed_task_cannot_take_part_in_a_new_dependency() {
    // ArkTS: "The task and its dependent tasks cannot be ... a task that has been executed"
    // (addDependency, 401). Accepting it made the dependent wait forever for a run of a
    // dependency that had already succeeded.
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let executed = Task::new(echo, (1,));
    assert_eq!(pool.execute(&executed).wait().unwrap(), 1);
    let fresh = Task::new(echo, (2,));
    match fresh.add_dependency(&executed) {
        Err(error @ Error::ExecutedTaskDependency(id)) => {
            assert_eq!(id, executed.id());
            assert_eq!(error.code(), Some(401));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(!fresh.has_dependencies());
    let error = executed.add_dependency(&fresh).unwrap_err();
    assert!(matches!(error, Error::ExecutedTaskDependency(id) if id == executed.id()));
    // Nothing was recorded: both still run on their own.
    assert_eq!(pool.execute(&fresh).wait().unwrap(), 2);
    assert_eq!(pool.execute(&executed).wait().unwrap(), 1);
}

/// ArkTS's `LongTask` is a `Task`, with its `addDependency`: a long task can wait for a task,
/// a task can wait for a long task, and a cycle through a long task is refused.
#[test]
fn a_long_task_depends_and_is_depended_on_like_a_task() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let first = Task::new(echo, (1,));
    let long = LongTask::new(echo, (2,));
    let last = Task::new(echo, (3,));
    long.add_dependency(&first).unwrap();
    last.add_dependency(&long).unwrap();
    assert!(long.has_dependencies());
    let err = first.add_dependency(&long).unwrap_err();
    assert_eq!(err.code(), Some(10200026), "{err}");
    let later = pool.execute(last);
    let long_id = long.id();
    let middle = pool.execute(long);
    assert!(!later.is_finished() && !middle.is_finished());
    assert_eq!(pool.execute(first).wait().unwrap(), 1);
    assert_eq!(middle.wait().unwrap(), 2);
    assert_eq!(later.wait().unwrap(), 3);
    pool.terminate_task(long_id).unwrap();
}

/// A dependency of a long task can be removed before it runs; its run is then not held.
#[test]
fn a_long_tasks_dependency_can_be_removed() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let never = Task::new(echo, (1,));
    let long = LongTask::new(echo, (2,));
    long.add_dependency(&never).unwrap();
    long.remove_dependency(&never).unwrap();
    assert!(!long.has_dependencies());
    let err = long.remove_dependency(&never).unwrap_err();
    assert_eq!(err.code(), Some(10200027), "{err}");
    let id = long.id();
    assert_eq!(pool.execute(long).wait().unwrap(), 2);
    pool.terminate_task(id).unwrap();
}
