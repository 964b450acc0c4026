use std::cell::Cell;
use taskpool::concurrent;

#[concurrent]
fn next_id() -> u64 {
    thread_local! {
        static NEXT: Cell<u64> = const { Cell::new(0) };
    }
    NEXT.with(|next| {
        next.set(next.get() + 1);
        next.get()
    })
}

fn main() {}
