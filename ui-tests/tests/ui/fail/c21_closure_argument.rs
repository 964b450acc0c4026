use taskpool::concurrent;

#[concurrent]
fn apply(f: Box<dyn Fn(i32) -> i32 + Send>, x: i32) -> i32 {
    f(x)
}

fn main() {}
