//! `sleep`: a timer future that any executor (and any task of the pool) can await.
//!
//! One lazily started timer thread holds the deadlines in a heap and wakes each waker when its
//! deadline passes; it parks with no timeout when no timer is pending.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::sync::{Arc, Condvar, Mutex, lock};

/// A future that completes once `duration` has passed (the runtime's timer).
///
/// An `async fn` task that awaits it frees its worker for other tasks meanwhile, and the time it
/// spends waiting counts as I/O time, not toward the pool's time limit.
///
/// ```
/// use std::time::Duration;
/// use taskpool::{concurrent, sleep, TaskPool};
///
/// #[concurrent]
/// async fn later(x: u32) -> u32 {
///     sleep(Duration::from_millis(5)).await;
///     x + 1
/// }
///
/// assert_eq!(TaskPool::global().run(later, (1,)).wait().unwrap(), 2);
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        deadline: Instant::now() + duration,
        registered: None,
    }
}

/// The future returned by [`sleep`].
#[derive(Debug)]
pub struct Sleep {
    deadline: Instant,
    registered: Option<Arc<Mutex<Option<Waker>>>>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        match &self.registered {
            Some(slot) => *lock(slot) = Some(cx.waker().clone()),
            None => {
                let slot = Arc::new(Mutex::new(Some(cx.waker().clone())));
                timer().add(self.deadline, Arc::clone(&slot));
                self.registered = Some(slot);
            }
        }
        Poll::Pending
    }
}

struct Entry {
    deadline: Instant,
    sequence: u64,
    waker: Arc<Mutex<Option<Waker>>>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.sequence) == (other.deadline, other.sequence)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.sequence).cmp(&(other.deadline, other.sequence))
    }
}

#[derive(Default)]
struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
    next_sequence: u64,
}

struct Timer {
    timers: Mutex<Timers>,
    changed: Condvar,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::new(Timer {
            timers: Mutex::new(Timers::default()),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("taskpool-timer".to_owned())
            .spawn(move || timer.run())
            .expect("the timer thread can be spawned");
        timer
    })
}

impl Timer {
    fn add(&self, deadline: Instant, waker: Arc<Mutex<Option<Waker>>>) {
        let mut timers = lock(&self.timers);
        let sequence = timers.next_sequence;
        timers.next_sequence += 1;
        let earliest = timers
            .heap
            .peek()
            .is_none_or(|Reverse(e)| deadline < e.deadline);
        timers.heap.push(Reverse(Entry {
            deadline,
            sequence,
            waker,
        }));
        drop(timers);
        if earliest {
            self.changed.notify_one();
        }
    }

    fn run(&self) {
        let mut timers = lock(&self.timers);
        loop {
            let now = Instant::now();
            let mut due = Vec::new();
            while timers
                .heap
                .peek()
                .is_some_and(|Reverse(e)| e.deadline <= now)
            {
                let Reverse(entry) = timers.heap.pop().expect("peeked");
                due.push(entry.waker);
            }
            if !due.is_empty() {
                drop(timers);
                for slot in due {
                    if let Some(waker) = lock(&slot).take() {
                        waker.wake();
                    }
                }
                timers = lock(&self.timers);
                continue;
            }
            let next_deadline = timers.heap.peek().map(|Reverse(e)| e.deadline);
            timers = match next_deadline {
                None => self
                    .changed
                    .wait(timers)
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
                Some(deadline) => {
                    let timeout = deadline.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(timers, timeout)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0
                }
            };
        }
    }
}
