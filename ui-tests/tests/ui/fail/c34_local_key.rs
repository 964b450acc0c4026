use std::cell::Cell;
use std::thread::LocalKey;
use taskpool::concurrent;

thread_local! {
    static SEEN: Cell<u32> = const { Cell::new(0) };
}

#[concurrent]
fn seen() -> u32 {
    let key: &'static LocalKey<Cell<u32>> = &SEEN;
    key.get()
}

fn main() {}
