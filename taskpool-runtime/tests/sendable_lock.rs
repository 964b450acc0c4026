//! `AsyncLock` shared between tasks: no lost update, wake-up order, blocking and async waiters.

mod support;

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use taskpool::{
    AsyncLock, ConcurrentFunction, Invocation, LockFuture, Shared, TaskPool, concurrent, sendable,
};

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

/// A waker that counts its wake-ups.
#[derive(Default)]
struct Counting(AtomicUsize);

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn queue_async_waiter<'a>(
    lock: &'a AsyncLock<u32>,
) -> (Pin<Box<LockFuture<'a, u32>>>, Arc<Counting>) {
    let counting = Arc::new(Counting::default());
    let mut future = Box::pin(lock.lock_async());
    let waker = Waker::from(Arc::clone(&counting));
    assert!(
        future
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    (future, counting)
}

#[test]
fn a_release_wakes_the_longest_waiting_async_waiter_first() {
    let lock = AsyncLock::new(0);
    let held = lock.lock();
    let (mut first, first_wakes) = queue_async_waiter(&lock);
    let (_second, second_wakes) = queue_async_waiter(&lock);
    drop(held);
    assert_eq!(first_wakes.0.load(Ordering::SeqCst), 1);
    assert_eq!(second_wakes.0.load(Ordering::SeqCst), 0);
    let noop = Waker::from(Arc::new(Noop));
    match first.as_mut().poll(&mut Context::from_waker(&noop)) {
        Poll::Ready(mut guard) => *guard += 1,
        Poll::Pending => panic!("the woken waiter finds the lock free"),
    }
    assert_eq!(
        second_wakes.0.load(Ordering::SeqCst),
        1,
        "the next in line is woken"
    );
}

#[test]
fn a_dropped_lock_future_passes_its_wake_up_on() {
    let lock = AsyncLock::new(0);
    let held = lock.lock();
    let (abandoned, abandoned_wakes) = queue_async_waiter(&lock);
    let (_next, next_wakes) = queue_async_waiter(&lock);
    drop(held);
    assert_eq!(abandoned_wakes.0.load(Ordering::SeqCst), 1);
    drop(abandoned); // woken for a free lock it will never take
    assert_eq!(next_wakes.0.load(Ordering::SeqCst), 1);
    assert!(lock.try_lock().is_some(), "nobody holds the lock meanwhile");
}

#[concurrent]
async fn add_async(counter: Shared<Counter>) {
    *counter.value.lock_async().await += 1;
}

#[test]
fn a_blocking_locker_and_an_async_waiter_on_one_worker_do_not_deadlock() {
    // One worker: the async task suspends in `lock_async`, then the blocking task occupies the
    // worker in `lock`. Handing the lock to the suspended task would deadlock them.
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let counter = Shared::new(Counter {
        value: AsyncLock::new(0),
    });
    let held = counter.value.lock();
    let waiting_async = pool.execute(add_async::task(counter.clone()));
    support::wait_until_suspended(&pool, waiting_async.id());
    let blocking = pool.execute(increment::task(counter.clone()));
    drop(held);
    let mut handles = [blocking, waiting_async];
    for handle in &mut handles {
        let outcome = handle.wait_timeout(Duration::from_secs(20));
        assert!(matches!(outcome, Some(Ok(()))), "{outcome:?}");
    }
    assert_eq!(*counter.value.lock(), 2);
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
