use std::fmt::Display;
use taskpool::concurrent;

#[concurrent]
fn show(value: impl Display) -> String {
    value.to_string()
}

fn main() {}
