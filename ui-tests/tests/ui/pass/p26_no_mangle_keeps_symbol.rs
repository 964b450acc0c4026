// `#[no_mangle]` exports a function under its own name. The attribute renames the function it
// marks (`__concurrent_<name>`), so the symbol must be given explicitly: linked against by its
// name (here from this very crate, through an `extern` block), the task function is found.
#![allow(unsafe_code)]

use taskpool::{TaskPool, concurrent};

#[concurrent]
#[unsafe(no_mangle)]
pub fn taskpool_probe_exported_add(a: u32, b: u32) -> u32 {
    a + b
}

#[unsafe(no_mangle)]
#[concurrent]
pub fn r#taskpool_probe_exported_raw(a: u32) -> u32 {
    a * 2
}

#[concurrent]
#[unsafe(no_mangle)]
pub async fn taskpool_probe_exported_async(a: u32) -> u32 {
    a + 1
}

/// The exported symbols, declared under other names (the task functions' names are unit structs).
mod by_symbol {
    unsafe extern "Rust" {
        #[link_name = "taskpool_probe_exported_add"]
        pub fn add(a: u32, b: u32) -> u32;
        #[link_name = "taskpool_probe_exported_raw"]
        pub fn raw(a: u32) -> u32;
        // Only linked, never called: the `async fn` returns its own future type.
        #[link_name = "taskpool_probe_exported_async"]
        pub fn asynchronous(a: u32);
    }
}

fn main() {
    // SAFETY: the symbols are the functions above, with these signatures.
    assert_eq!(unsafe { by_symbol::add(1, 2) }, 3);
    assert_eq!(unsafe { by_symbol::raw(4) }, 8);
    std::hint::black_box(by_symbol::asynchronous as unsafe extern "Rust" fn(u32));

    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    assert_eq!(pool.run(taskpool_probe_exported_add, (1, 2)).wait().unwrap(), 3);
    assert_eq!(pool.run(taskpool_probe_exported_raw, (4,)).wait().unwrap(), 8);
    assert_eq!(pool.run(taskpool_probe_exported_async, (1,)).wait().unwrap(), 2);
}
