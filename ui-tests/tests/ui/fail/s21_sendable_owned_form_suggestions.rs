// The owned form suggested for a borrowed field is one the rules accept.
use std::ffi::OsStr;
use std::path::Path;
use taskpool::sendable;

#[sendable]
pub struct Names {
    pub list: &'static [&'static str],
    pub hook: &'static dyn Fn(u8) -> u8,
    pub root: &'static Path,
    pub name: &'static OsStr,
    pub count: &'static u32,
}

fn main() {}
