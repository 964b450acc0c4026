// The boundaries of what is allowed: a bare, `std`/`core`-rooted or `rc::`/`cell::` path may be
// the standard type; a real function pointer is still code; an ABI other than Rust's is foreign;
// the error type of a `Result` is not task data, yet it must still be able to fail a task.
use std::marker::PhantomData;
use std::rc::{self, Rc};
use taskpool::concurrent;

#[concurrent]
fn counted(a: Rc<u8>, b: rc::Rc<u8>, c: std::cell::Cell<u8>, d: ::core::cell::RefCell<u8>) {
    let _ = (a, b, c, d);
}

#[concurrent]
fn marked(marker: PhantomData<fn() -> u8>, callback: fn() -> u8) -> u8 {
    let _ = marker;
    callback()
}

#[concurrent]
extern "system" fn foreign() {}

#[concurrent]
fn fails() -> Result<u32, Rc<String>> {
    Ok(1)
}

fn main() {}
