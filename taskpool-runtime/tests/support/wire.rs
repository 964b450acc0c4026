//! The descriptor wire format, written by hand: what the codec tests feed the reader when they
//! need bytes a `TaskDescriptor` would never produce (hostile lengths, huge nesting). Included
//! with `#[path]` by the tests that need it, apart from `support/mod.rs` (no pool, no gates).
#![allow(dead_code)]

use serde::Serialize;
use taskpool::Priority;

/// The compact descriptor form, written field by field as the reader expects it.
#[derive(Serialize)]
struct WireDescriptor<'a> {
    version: u16,
    function: &'a str,
    name: Option<&'a str>,
    priority: Priority,
    args: &'a [u8],
}

/// The compact bytes of a MEDIUM, unnamed descriptor of `function` with `args` as its
/// (already encoded) arguments.
pub fn compact_descriptor(function: &str, args: &[u8]) -> Vec<u8> {
    postcard::to_allocvec(&WireDescriptor {
        version: taskpool::DESCRIPTOR_FORMAT_VERSION,
        function,
        name: None,
        priority: Priority::Medium,
        args,
    })
    .expect("the wire descriptor encodes")
}

/// A postcard varint.
pub fn varint(mut value: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    loop {
        let low = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            bytes.push(low);
            return bytes;
        }
        bytes.push(low | 0x80);
    }
}
