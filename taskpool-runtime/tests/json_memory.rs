//! Decoding must not take many times its input in memory: a JSON descriptor near the 16 MiB cap
//! (it once peaked at 34 times its size), or a length prefix claiming far more than the input
//! holds.
//!
//! A counting global allocator records the peak of live heap bytes while the decoding runs; the
//! tests take turns (`ONE_AT_A_TIME`, held for a whole test: building the 16 MiB input while the
//! other test measured once showed up in its figure) so no other test's allocations mix in.

// A `#[global_allocator]` must `unsafe impl GlobalAlloc`; the workspace denies unsafe code, and
// this test binary is the one place that needs it (it only forwards to `System` and counts).
#![allow(unsafe_code)]

#[path = "support/wire.rs"]
mod wire;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use taskpool::{Payload, TaskDescriptor, concurrent};
use wire::varint;

/// Forwards to the system allocator, counting live bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

impl Counting {
    fn grow(by: usize) {
        let live = LIVE.fetch_add(by, Ordering::SeqCst) + by;
        PEAK.fetch_max(live, Ordering::SeqCst);
    }

    fn shrink(by: usize) {
        LIVE.fetch_sub(by, Ordering::SeqCst);
    }
}

// SAFETY: every call forwards to `System` with the caller's arguments unchanged; the counters
// are atomics and never affect what is returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Counting::grow(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Counting::grow(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) };
        Counting::shrink(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as the worst case, a copy: the new block is live before the old one is freed.
        Counting::grow(new_size);
        // SAFETY: forwarded as is.
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        Counting::shrink(if moved.is_null() {
            new_size
        } else {
            layout.size()
        });
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Serializes the tests of this file.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// This test's turn: no other test of this file runs until it is dropped.
fn my_turn() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `body` and returns its result with the peak of bytes it had live at once (call it
/// during [`my_turn`]).
fn peak_during<R>(body: impl FnOnce() -> R) -> (R, usize) {
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let result = body();
    (result, PEAK.load(Ordering::SeqCst) - before)
}

#[concurrent]
fn bytes_len(bytes: Vec<u8>) -> usize {
    bytes.len()
}

/// A descriptor of `bytes_len` whose JSON text is just under `size` bytes: one large array of
/// small numbers, the shape that costs the most per input byte.
fn big_descriptor_json(size: usize) -> String {
    let head = format!(
        r#"{{"version":1,"function":"{}::bytes_len","args":[["#,
        module_path!()
    );
    let tail = "]]}";
    let count = (size - head.len() - tail.len()) / 2;
    let mut text = String::with_capacity(size);
    text.push_str(&head);
    for i in 0..count {
        text.push_str(if i == 0 { "7" } else { ",7" });
    }
    text.push_str(tail);
    text
}

#[test]
fn a_16_mib_json_descriptor_decodes_in_less_than_4x_its_size() {
    let _turn = my_turn();
    let text = big_descriptor_json(taskpool::DEFAULT_MAX_SERIALIZED_BYTES);
    assert!(text.len() <= taskpool::DEFAULT_MAX_SERIALIZED_BYTES);

    let (descriptor, peak) = peak_during(|| TaskDescriptor::from_json(&text));
    let descriptor = descriptor.expect("the descriptor is valid");
    assert_eq!(
        descriptor.args.size(),
        text.len() - text.find("[[").unwrap() - 1
    );
    drop(descriptor);

    let ratio = peak as f64 / text.len() as f64;
    println!(
        "from_json of {} bytes: peak {} bytes above the input ({ratio:.2}x)",
        text.len(),
        peak
    );
    assert!(
        peak < 4 * text.len(),
        "decoding took {ratio:.2}x the input size at its peak"
    );
}

#[test]
fn a_length_prefix_of_2_pow_60_allocates_nothing_like_it() {
    let _turn = my_turn();
    let claims_too_much = [varint(1 << 60), vec![1, 2, 3]].concat();
    let (results, peak) = peak_during(|| {
        let payload = Payload::Postcard(claims_too_much.clone());
        [
            payload.decode::<Vec<u64>>().map(drop),
            payload.decode::<Vec<u8>>().map(drop),
            payload.decode::<String>().map(drop),
            payload.decode::<Vec<String>>().map(drop),
            payload
                .decode::<std::collections::HashMap<u32, u32>>()
                .map(drop),
        ]
    });
    for result in results {
        assert_eq!(result.unwrap_err().code(), Some(10200006));
    }
    println!("decoding 2^60-long sequences from 12 bytes: peak {peak} bytes");
    assert!(peak < 64 * 1024, "peak {peak} bytes");
}
