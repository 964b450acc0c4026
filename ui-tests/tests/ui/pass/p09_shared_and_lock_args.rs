use std::sync::atomic::{AtomicU64, Ordering};
use taskpool::{AsyncLock, Shared, concurrent, sendable};

#[sendable]
pub struct Stats {
    pub hits: AtomicU64,
    pub names: AsyncLock<Vec<String>>,
}

#[concurrent]
fn record(stats: Shared<Stats>, name: String) -> Shared<Stats> {
    stats.hits.fetch_add(1, Ordering::SeqCst);
    stats.names.lock().push(name);
    stats
}

#[concurrent]
async fn record_async(stats: Shared<Stats>, name: String) -> u64 {
    let mut names = stats.names.lock_async().await;
    names.push(name);
    stats.hits.fetch_add(1, Ordering::SeqCst) + 1
}

#[concurrent]
fn lock_alone(counter: Shared<AsyncLock<u64>>) -> u64 {
    let mut value = counter.lock();
    *value += 1;
    *value
}

fn main() {
    let stats = Shared::new(Stats {
        hits: AtomicU64::new(0),
        names: AsyncLock::new(Vec::new()),
    });
    let back = record(stats.clone(), "a".into());
    assert!(Shared::ptr_eq(&stats, &back));
    let _task = record_async::task(stats.clone(), "b".into());
    assert_eq!(lock_alone(Shared::new(AsyncLock::new(1))), 2);
}
