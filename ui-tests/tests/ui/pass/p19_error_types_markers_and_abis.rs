// The error type of a returned `Result` is not task data (it becomes the source of
// `Error::TaskFailed`, never serialized): a boxed trait object or a `&'static str` is fine.
// `PhantomData<fn() -> T>` is a zero-size marker, not code. `extern "Rust"` is the plain Rust
// ABI spelled out. A `#[concurrent]` fn cannot be `const` (c62), but a task may call a plain
// `const fn`, which stays const.

use std::error::Error as StdError;
use std::marker::PhantomData;

use taskpool::{Error, Shared, TaskPool, concurrent, sendable};

type BoxError = Box<dyn StdError + Send + Sync>;

#[concurrent]
fn parse(text: String) -> Result<u32, Box<dyn StdError + Send + Sync>> {
    Ok(text.parse::<u32>()?)
}

#[concurrent]
fn parse_aliased(text: String) -> Result<u32, BoxError> {
    Ok(text.parse::<u32>()?)
}

#[concurrent]
async fn refuse(code: u32) -> Result<u32, &'static str> {
    if code == 0 { Err("zero is refused") } else { Ok(code) }
}

/// A typed id: the marker says what it identifies without holding one.
#[sendable]
#[derive(Debug)]
pub struct Id<T: 'static> {
    pub raw: u64,
    pub marker: PhantomData<fn() -> T>,
}

#[concurrent]
fn next(id: Id<String>, marker: PhantomData<fn(u8) -> String>) -> Id<String> {
    let _ = marker;
    Id { raw: id.raw + 1, marker: PhantomData }
}

#[concurrent]
extern "Rust" fn spelled_out(x: u32) -> u32 {
    x + 1
}

const fn triple(x: u32) -> u32 {
    x * 3
}

const NINE: u32 = triple(3);

#[concurrent]
fn constant(x: u32) -> u32 {
    triple(x)
}

fn main() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    assert_eq!(pool.run(parse, ("7".to_owned(),)).wait().unwrap(), 7);
    let failed = pool.run(parse_aliased, ("x".to_owned(),)).wait().unwrap_err();
    assert!(matches!(failed, Error::TaskFailed(_)), "{failed:?}");
    assert_eq!(pool.run(refuse, (4,)).wait().unwrap(), 4);
    let refused = pool.run(refuse, (0,)).wait().unwrap_err();
    assert!(refused.to_string().contains("zero is refused"), "{refused}");

    let id = Id::<String> { raw: 1, marker: PhantomData };
    assert_eq!(pool.run(next, (id, PhantomData)).wait().unwrap().raw, 2);
    let shared = Shared::new(Id::<u8> { raw: 9, marker: PhantomData });
    assert_eq!(shared.raw, 9);

    assert_eq!(spelled_out(1), 2);
    assert_eq!(pool.run(spelled_out, (1,)).wait().unwrap(), 2);
    assert_eq!(pool.run(constant, (2,)).wait().unwrap(), 6);
    assert_eq!(NINE, 9);
}
