// A placeholder `_` in a signature type is one pointed error of ours (next to rustc's own E0121
// on the function, emitted unchanged), not a cascade through the expansion.
use taskpool::concurrent;

#[concurrent]
fn guess(x: _) -> u32 {
    x
}

#[concurrent]
fn collect(values: Vec<_>) -> usize {
    values.len()
}

fn main() {}
