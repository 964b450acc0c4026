use taskpool::concurrent;

#[concurrent]
fn apply(f: fn(i32) -> i32, x: i32) -> i32 {
    f(x)
}

fn main() {}
