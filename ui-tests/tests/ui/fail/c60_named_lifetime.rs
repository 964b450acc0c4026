// Any lifetime but `'static` in a signature type borrows, declared or not: one "cannot borrow"
// error each (next to rustc's own for an undeclared name), not a cascade through the expansion.
// `'static` stays allowed (`Cow<'static, str>` owns or points at a literal).
use std::borrow::Cow;
use taskpool::concurrent;

#[concurrent]
fn shout(text: Cow<'a, str>) -> String {
    text.to_uppercase()
}

#[concurrent]
fn label(code: u32) -> Result<Cow<'static, str>, Cow<'b, str>> {
    Ok(Cow::Owned(code.to_string()))
}

#[concurrent]
fn fixed(text: Cow<'static, str>) -> Cow<'static, str> {
    text
}

fn main() {}
