//! What a lock looks like from outside — [`AsyncLockState`] and [`AsyncLockInfo`] (ArkTS
//! `AsyncLockState`, `AsyncLockInfo`) — and the report a timed-out request carries: the lock's
//! holders and waiters, and any cycle of waits among the live locks (a possible deadlock).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::thread::ThreadId;

use super::core::LockCore;
use super::options::AsyncLockMode;
use super::state::Entry;
use super::who::{Party, Who};
use crate::task::TaskId;

/// A snapshot of one lock: who holds it and who waits for it (ArkTS `AsyncLockState`).
///
/// Returned by [`AsyncLock::query`](crate::AsyncLock::query),
/// [`AsyncLock::query_all`](crate::AsyncLock::query_all) and
/// [`AsyncLock::state`](crate::AsyncLock::state). `held` lists the holders (one exclusive, or
/// any number of shared ones); `pending` lists the waiters in the order they will be served. A
/// waiter at the front whose turn has come but which has not run yet is still listed as pending.
///
/// ```
/// use taskpool::{AsyncLock, AsyncLockMode};
///
/// let lock = AsyncLock::new(0);
/// let _reader = lock.lock_shared();
/// let state = lock.state();
/// assert_eq!(state.held.len(), 1);
/// assert_eq!(state.held[0].mode, AsyncLockMode::Shared);
/// assert_eq!(state.held[0].thread, std::thread::current().id());
/// assert!(state.pending.is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AsyncLockState {
    /// The lock's name: the one given to [`AsyncLock::request`](crate::AsyncLock::request), or
    /// `anonymous#<n>` for a lock made with `new`.
    pub name: String,
    /// The holders (ArkTS `held`).
    pub held: Vec<AsyncLockInfo>,
    /// The waiters, in the order they will be served (ArkTS `pending`).
    pub pending: Vec<AsyncLockInfo>,
}

/// One holder or waiter of a lock (ArkTS `AsyncLockInfo`).
///
/// ArkTS identifies the caller by a context id (its thread); here a caller is the pool task
/// that asked, if any, and the thread it asked from. An `async` task may resume on another
/// thread: its task id is what identifies it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AsyncLockInfo {
    /// The lock's name.
    pub name: String,
    /// The mode held or asked for.
    pub mode: AsyncLockMode,
    /// The pool task that asked, if the request came from a task.
    pub task: Option<TaskId>,
    /// The thread that asked (for a holder: the thread on which it took the lock).
    pub thread: ThreadId,
    /// That thread's name, if it has one.
    pub thread_name: Option<String>,
}

impl AsyncLockInfo {
    fn party(&self) -> Party {
        match self.task {
            Some(task) => Party::Task(task),
            None => Party::Thread(self.thread),
        }
    }
}

impl fmt::Display for AsyncLockInfo {
    /// `exclusive by task #4 on thread "main" (ThreadId(1))`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} by ", self.mode)?;
        if let Some(task) = self.task {
            write!(f, "task {task} on ")?;
        }
        match &self.thread_name {
            Some(name) => write!(f, "thread {name:?} ({:?})", self.thread),
            None => write!(f, "thread {:?}", self.thread),
        }
    }
}

impl fmt::Display for AsyncLockState {
    /// `lock "db": held by …; waiting: …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lock {:?}: ", self.name)?;
        list(f, "held by", "not held", &self.held)?;
        f.write_str("; ")?;
        list(f, "waiting", "nobody waiting", &self.pending)
    }
}

fn list(
    f: &mut fmt::Formatter<'_>,
    title: &str,
    empty: &str,
    infos: &[AsyncLockInfo],
) -> fmt::Result {
    if infos.is_empty() {
        return f.write_str(empty);
    }
    write!(f, "{title} ")?;
    for (at, info) in infos.iter().enumerate() {
        if at > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{info}")?;
    }
    Ok(())
}

fn info_of(name: &str, entry: &Entry) -> AsyncLockInfo {
    AsyncLockInfo {
        name: name.to_owned(),
        mode: entry.mode,
        task: entry.who.task,
        thread: entry.who.thread.id,
        thread_name: entry.who.thread.name.clone(),
    }
}

/// The public snapshot of a state machine's holders and waiters.
pub(crate) fn state_of<'a>(
    name: String,
    holders: &[Entry],
    waiters: impl Iterator<Item = &'a Entry>,
) -> AsyncLockState {
    AsyncLockState {
        held: holders.iter().map(|entry| info_of(&name, entry)).collect(),
        pending: waiters.map(|entry| info_of(&name, entry)).collect(),
        name,
    }
}

/// The report of a request of `who` in `mode` that timed out on `core`: its holders and
/// waiters, and the cycle of waits through `who` among all live locks, if there is one.
///
/// The request counts as waiting for `core` in the search even if it is not in its queue: a
/// zero timeout is refused without queueing, yet a holder asking again waits for itself all
/// the same.
pub(crate) fn timeout_report(core: &LockCore, who: &Who, mode: AsyncLockMode) -> String {
    let here = core.snapshot();
    let party = who.party();
    let mut searched = here.clone();
    if !searched
        .pending
        .iter()
        .any(|waiter| waiter.party() == party)
    {
        searched.pending.push(AsyncLockInfo {
            name: here.name.clone(),
            mode,
            task: who.task,
            thread: who.thread.id,
            thread_name: who.thread.name.clone(),
        });
    }
    // Only a lock somebody waits for can be on a cycle of waits (besides this one, where the
    // request counts as waiting): the others are not copied, which keeps a report cheap among
    // many idle locks.
    let everything = super::named::live_cores()
        .iter()
        .filter(|other| other.id() != core.id() && other.has_waiters())
        .map(|other| other.snapshot())
        .chain(std::iter::once(searched))
        .collect::<Vec<_>>();
    let warning = match find_cycle(&everything, party) {
        Some(cycle) => format!(
            "possible deadlock: {}; take locks in one global order, or use a timeout and retry",
            describe(&cycle)
        ),
        None => String::from(
            "no cycle of waits among the live locks: a holder is slow or never releases it (a guard kept alive, or held across an await that never completes)",
        ),
    };
    format!("{here}; {warning}")
}

/// One edge of the wait-for graph: `waiter` waits for `lock`, held by `holder`.
#[derive(Clone, Debug)]
struct Wait {
    waiter: Party,
    lock: String,
    holder: Party,
}

/// A cycle of waits that starts and ends at `start`, if any: `start` waits for a lock whose
/// holder waits for a lock … held by `start`.
fn find_cycle(states: &[AsyncLockState], start: Party) -> Option<Vec<Wait>> {
    let mut edges: HashMap<Party, Vec<Wait>> = HashMap::new();
    for state in states {
        for waiter in &state.pending {
            for holder in &state.held {
                edges.entry(waiter.party()).or_default().push(Wait {
                    waiter: waiter.party(),
                    lock: state.name.clone(),
                    holder: holder.party(),
                });
            }
        }
    }
    // Depth-first search for a path back to `start`.
    let mut path: Vec<Wait> = Vec::new();
    let mut visited = HashSet::new();
    let mut stack: Vec<(Party, usize)> = vec![(start, 0)];
    while let Some((node, next)) = stack.pop() {
        let out = edges.get(&node).map(Vec::as_slice).unwrap_or_default();
        if let Some(edge) = out.get(next) {
            stack.push((node, next + 1));
            if edge.holder == start {
                path.push(edge.clone());
                return Some(path);
            }
            if visited.insert(edge.holder) {
                path.push(edge.clone());
                stack.push((edge.holder, 0));
            }
        } else if node != start {
            path.pop();
        }
    }
    None
}

fn describe(cycle: &[Wait]) -> String {
    let mut text = String::new();
    for (at, wait) in cycle.iter().enumerate() {
        if at > 0 {
            text.push_str(", which ");
        } else {
            text.push_str(&format!("{} ", wait.waiter));
        }
        if wait.holder == wait.waiter {
            text.push_str(&format!("waits for {:?}, which it holds itself", wait.lock));
        } else {
            text.push_str(&format!(
                "waits for {:?} held by {}",
                wait.lock, wait.holder
            ));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, task: u64, mode: AsyncLockMode) -> AsyncLockInfo {
        AsyncLockInfo {
            name: name.into(),
            mode,
            task: Some(TaskId::from_raw(task)),
            thread: std::thread::current().id(),
            thread_name: None,
        }
    }

    fn lock(name: &str, holder: u64, waiter: u64) -> AsyncLockState {
        AsyncLockState {
            name: name.into(),
            held: vec![info(name, holder, AsyncLockMode::Exclusive)],
            pending: vec![info(name, waiter, AsyncLockMode::Exclusive)],
        }
    }

    #[test]
    fn a_cycle_of_two_locks_is_found() {
        let states = [lock("a", 1, 2), lock("b", 2, 1), lock("c", 3, 4)];
        let cycle = find_cycle(&states, Party::Task(TaskId::from_raw(1))).unwrap();
        let text = describe(&cycle);
        assert!(text.contains("\"b\" held by task #2"), "{text}");
        assert!(text.contains("\"a\" held by task #1"), "{text}");
    }

    #[test]
    fn waiting_for_a_lock_one_holds_is_a_cycle_of_one() {
        let states = [lock("a", 1, 1)];
        let cycle = find_cycle(&states, Party::Task(TaskId::from_raw(1))).unwrap();
        assert!(describe(&cycle).contains("which it holds itself"));
    }

    #[test]
    fn no_cycle_no_warning() {
        let states = [lock("a", 1, 2), lock("b", 3, 1), lock("c", 2, 5)];
        assert!(find_cycle(&states, Party::Task(TaskId::from_raw(1))).is_none());
    }
}
