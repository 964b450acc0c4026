// A `const fn` cannot be a task function: a direct call goes through the unit value's `Deref`
// to a function pointer, which is not a const call. One error, at `const`.
use taskpool::concurrent;

#[concurrent]
const fn triple(x: u32) -> u32 {
    x * 3
}

fn main() {}
