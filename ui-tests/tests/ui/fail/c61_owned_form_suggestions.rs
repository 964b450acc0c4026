// The owned form suggested for a borrowed argument or result is one the rules accept: a
// general advice where the referenced type is itself borrowed, rejected, unsized or a trait.
use std::ffi::{CStr, OsStr};
use std::path::Path;
use std::rc::Rc;
use taskpool::concurrent;

#[concurrent]
fn count(list: &[&str], f: &dyn Fn(u8) -> u8, shared: &Rc<String>) -> usize {
    list.len() + f(1) as usize + shared.len()
}

#[concurrent]
fn show(value: &impl std::fmt::Display) -> String {
    value.to_string()
}

#[concurrent]
fn fill(buf: &mut [u8], text: &mut str, count: &mut u32) -> usize {
    *count += 1;
    buf.len() + text.len()
}

#[concurrent]
fn paths(root: &Path, name: &OsStr, c: &CStr, bytes: &[u8]) -> usize {
    root.as_os_str().len() + name.len() + c.count_bytes() + bytes.len()
}

#[concurrent]
fn words() -> &'static [&'static str] {
    &["x"]
}

fn main() {}
