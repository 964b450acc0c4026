// The boundaries of what a `#[sendable]` type may hold: a bare, `std`-rooted or `rc::`/`cell::`
// path may be the standard type, and a real function pointer is still code (only a
// `PhantomData<fn() -> T>` marker is data).
use std::marker::PhantomData;
use std::rc;
use taskpool::sendable;

#[sendable]
pub struct Holder {
    pub a: std::rc::Rc<u8>,
    pub b: rc::Weak<u8>,
    pub c: core::cell::Cell<u8>,
    pub marker: PhantomData<fn() -> u8>,
    pub callback: fn() -> u8,
}

fn main() {}
