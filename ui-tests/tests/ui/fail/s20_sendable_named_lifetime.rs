// A lifetime but `'static` in a field type borrows, declared or not: one "cannot borrow" error
// each (next to rustc's own for an undeclared name). `Cow<'static, str>` is allowed.
use std::borrow::Cow;
use taskpool::sendable;

#[sendable]
pub struct Label {
    pub text: Cow<'a, str>,
    pub fixed: Cow<'static, str>,
}

fn main() {}
