// The anonymous lifetime `'_` borrows as much as a named one: rejected with the same message
// family as a lifetime parameter (c07), in parameters and in the result.
use std::borrow::Cow;
use taskpool::concurrent;

#[concurrent]
fn shout(text: Cow<'_, str>, tail: &'_ str) -> String {
    format!("{text}{tail}")
}

#[concurrent]
fn label(code: u32) -> Cow<'_, str> {
    Cow::Owned(code.to_string())
}

fn main() {}
