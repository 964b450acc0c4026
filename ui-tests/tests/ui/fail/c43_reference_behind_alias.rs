use taskpool::concurrent;

// The alias hides the reference from the syntactic check; the type-level check still sees it,
// and says to use an owned type (not to derive `Serialize` for a reference).
type R = &'static i32;

#[concurrent]
fn read(value: R) -> i32 {
    *value
}

#[concurrent]
fn largest(values: Vec<i32>) -> R {
    Box::leak(Box::new(values.into_iter().max().unwrap_or(0)))
}

fn main() {}
