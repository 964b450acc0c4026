use taskpool::concurrent;

#[concurrent]
fn identity<T: Clone>(value: T) -> T {
    value
}

fn main() {}
