use taskpool::concurrent;

#[concurrent]
fn count() -> u64 {
    static mut CALLS: u64 = 0;
    unsafe {
        CALLS += 1;
    }
    1
}

fn main() {}
