use taskpool::concurrent;

// `__taskpool` prefixes the names the expansion generates, `__concurrent_` the hidden function.
#[concurrent]
fn __taskpool_helper(value: u8) -> u8 {
    value
}

#[concurrent]
fn __concurrent_add(a: i32, b: i32) -> i32 {
    a + b
}

fn main() {}
