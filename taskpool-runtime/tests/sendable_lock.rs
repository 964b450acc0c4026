//! `AsyncLock` shared between tasks: no lost update, FIFO hand-off, blocking and async waiters.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use taskpool::{AsyncLock, ConcurrentFunction, Invocation, Shared, concurrent, sendable};

#[sendable]
struct Counter {
    pub value: AsyncLock<u64>,
}

#[concurrent]
fn increment(counter: Shared<Counter>) {
    let mut value = counter.value.lock();
    let read = *value;
    std::thread::yield_now(); // widen the window a lost update would need
    *value = read + 1;
}

#[concurrent]
async fn increment_async(counter: Shared<Counter>) {
    let mut value = counter.value.lock_async().await;
    *value += 1;
}

/// A minimal executor: polls on this thread, parking until woken.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut Context::from_waker(&waker)) {
            return value;
        }
        std::thread::park();
    }
}

fn run<T>(invocation: Invocation<T>) -> T {
    match invocation {
        Invocation::Ready(result) => result.unwrap(),
        Invocation::Pending(future) => block_on(future).unwrap(),
    }
}

#[test]
fn a_thousand_concurrent_increments_lose_no_update() {
    let counter = Shared::new(Counter {
        value: AsyncLock::new(0),
    });
    let threads: Vec<_> = (0..8)
        .map(|thread| {
            let counter = counter.clone();
            std::thread::spawn(move || {
                for i in 0..125 {
                    // Mix blocking and async lockers on the same lock.
                    if (thread + i) % 2 == 0 {
                        run(increment::invoke((counter.clone(),)));
                    } else {
                        run(increment_async::invoke((counter.clone(),)));
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(*counter.value.lock(), 1000);
}

#[test]
fn waiters_get_the_lock_in_arrival_order() {
    let lock = Arc::new(AsyncLock::new(Vec::new()));
    let held = lock.lock();
    let mut threads = Vec::new();
    for id in 0..5 {
        let lock = Arc::clone(&lock);
        threads.push(std::thread::spawn(move || {
            if id % 2 == 0 {
                lock.lock().push(id);
            } else {
                block_on(async { lock.lock_async().await.push(id) });
            }
        }));
        // Let this waiter queue up before the next one arrives.
        std::thread::sleep(Duration::from_millis(30));
    }
    drop(held);
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(*lock.lock(), vec![0, 1, 2, 3, 4]);
}

#[test]
fn a_dropped_lock_future_gives_its_turn_to_the_next_waiter() {
    let lock = Arc::new(AsyncLock::new(0));
    let held = lock.lock();

    // Queue an async waiter, then abandon it without ever being woken.
    let noop = Waker::from(Arc::new(Noop));
    let mut abandoned = Box::pin(lock.lock_async());
    assert!(
        abandoned
            .as_mut()
            .poll(&mut Context::from_waker(&noop))
            .is_pending()
    );

    let finished = Arc::new(AtomicBool::new(false));
    let waiter = {
        let (lock, finished) = (Arc::clone(&lock), Arc::clone(&finished));
        std::thread::spawn(move || {
            *lock.lock() += 1;
            finished.store(true, Ordering::SeqCst);
        })
    };
    std::thread::sleep(Duration::from_millis(30));
    drop(held); // hands the lock to the abandoned future, first in line
    std::thread::sleep(Duration::from_millis(30));
    assert!(!finished.load(Ordering::SeqCst));
    drop(abandoned); // passes it on
    waiter.join().unwrap();
    assert_eq!(*lock.lock(), 1);
}

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

#[test]
fn the_guard_can_be_held_across_an_await_in_a_send_future() {
    fn assert_send<T: Send>(_: &T) {}
    let lock = Shared::new(AsyncLock::new(String::new()));
    let future = {
        let lock = lock.clone();
        async move {
            let mut guard = lock.lock_async().await;
            std::future::ready(()).await;
            guard.push_str("done");
        }
    };
    assert_send(&future);
    block_on(future);
    assert_eq!(*lock.lock(), "done");
}

#[test]
fn a_panic_while_locked_releases_the_lock_with_the_value() {
    let lock = Arc::new(AsyncLock::new(vec![1]));
    let result = std::thread::spawn({
        let lock = Arc::clone(&lock);
        move || {
            let mut guard = lock.lock();
            guard.push(2);
            panic!("boom");
        }
    })
    .join();
    assert!(result.is_err());
    assert_eq!(*lock.try_lock().expect("the lock was released"), vec![1, 2]);
}

#[test]
fn a_lock_serializes_as_its_value() {
    let lock = AsyncLock::new(vec![1u8, 2]);
    assert_eq!(serde_json::to_string(&lock).unwrap(), "[1,2]");
    let back: AsyncLock<Vec<u8>> = serde_json::from_str("[3]").unwrap();
    assert_eq!(back.into_inner(), vec![3]);
}
