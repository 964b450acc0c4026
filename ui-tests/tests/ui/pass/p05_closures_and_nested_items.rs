use std::sync::atomic::{AtomicU64, Ordering};
use taskpool::concurrent;

#[concurrent]
fn squares(limit: u32) -> Vec<u32> {
    // Nested items may use `self`/`Self` and statics of their own kind.
    struct Acc {
        total: Vec<u32>,
    }
    impl Acc {
        fn push(&mut self, value: u32) -> &mut Self {
            self.total.push(value);
            self
        }
    }
    static CALLS: AtomicU64 = AtomicU64::new(0);
    CALLS.fetch_add(1, Ordering::Relaxed);

    let square = |n: u32| n * n;
    let mut acc = Acc { total: Vec::new() };
    for n in 0..limit {
        acc.push(square(n));
    }
    acc.total
}

fn main() {
    assert_eq!(squares(4), vec![0, 1, 4, 9]);
}
