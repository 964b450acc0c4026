//! How a worker thread ended, and who waits for it: the exit code, published once, for waits
//! that block their thread (a condition variable) and for waits that may stand in for a pool's
//! stranded work meanwhile (a waker: see `pool::block_until`); and the error that destroyed the
//! worker, when no callback took it.

use std::task::Waker;
use std::time::Instant;

use crate::error::Error;
use crate::sync::{Condvar, Mutex, lock};

#[derive(Default)]
struct Exit {
    code: Option<i32>,
    /// The error that destroyed the worker, when no `on_error` callback took it.
    error: Option<Error>,
    /// Waiters to wake when the code is published (the runtime's own wakers: a blocked pool
    /// thread's parker).
    wakers: Vec<Waker>,
}

#[derive(Default)]
pub(crate) struct ExitRecord {
    exit: Mutex<Exit>,
    exited: Condvar,
}

impl ExitRecord {
    /// Publishes the exit code and wakes every waiter. The code and the wakers are under one
    /// lock: a waiter either sees the code or is woken.
    pub(crate) fn publish(&self, code: i32) {
        let wakers = {
            let mut exit = lock(&self.exit);
            exit.code = Some(code);
            std::mem::take(&mut exit.wakers)
        };
        self.exited.notify_all();
        wakers.into_iter().for_each(Waker::wake);
    }

    pub(crate) fn code(&self) -> Option<i32> {
        lock(&self.exit).code
    }

    /// The exit code, or `None` with `waker` kept to be woken once there is one.
    pub(crate) fn poll(&self, waker: &Waker) -> Option<i32> {
        let mut exit = lock(&self.exit);
        if exit.code.is_none() && !exit.wakers.iter().any(|kept| kept.will_wake(waker)) {
            exit.wakers.push(waker.clone());
        }
        exit.code
    }

    /// Waits until the code is published, at most until `deadline` (`None`: no bound).
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> Option<i32> {
        let mut exit = lock(&self.exit);
        loop {
            if let Some(code) = exit.code {
                return Some(code);
            }
            exit = match deadline {
                None => self.exited.wait(exit).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.checked_duration_since(Instant::now())?;
                    self.exited
                        .wait_timeout(exit, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    /// Keeps `error` for `take_error` if none is kept yet; otherwise hands it back, for the
    /// caller to drop outside the lock (a user error whose `Drop` may panic).
    pub(crate) fn keep_error(&self, error: Error) -> Option<Error> {
        let mut exit = lock(&self.exit);
        match exit.error {
            Some(_) => Some(error),
            None => {
                exit.error = Some(error);
                None
            }
        }
    }

    pub(crate) fn take_error(&self) -> Option<Error> {
        lock(&self.exit).error.take()
    }
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use std::task::Wake;

    use super::*;
    use crate::sync::Arc;
    use crate::sync::atomic::{AtomicBool, Ordering};

    struct Flag(AtomicBool);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// A waiter polling as the code is published: it sees the code, or it is woken.
    #[test]
    fn a_poll_racing_the_exit_sees_the_code_or_is_woken() {
        loom::model(|| {
            let record = Arc::new(ExitRecord::default());
            let exiting = {
                let record = Arc::clone(&record);
                loom::thread::spawn(move || record.publish(0))
            };
            let flag = Arc::new(Flag(AtomicBool::new(false)));
            let seen = record.poll(&Waker::from(Arc::clone(&flag)));
            exiting.join().unwrap();
            assert!(seen == Some(0) || flag.0.load(Ordering::SeqCst));
        });
    }
}
