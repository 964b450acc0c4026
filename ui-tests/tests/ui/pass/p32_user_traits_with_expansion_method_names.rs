// A user trait in scope implemented for every type, with methods named like those the
// expansion uses, does not make the expansion's calls ambiguous: they call reserved names
// (`__taskpool_copy_args`) or go by path.
#![allow(dead_code)]
use taskpool::{TaskPool, concurrent};

pub trait Everything {
    fn copy_args<F>(&self, _f: F) -> u8 {
        0
    }
    fn write_str(&mut self, _s: &str) -> u8 {
        0
    }
    fn store(self) -> u8
    where
        Self: Sized,
    {
        0
    }
    fn take(self) -> u8
    where
        Self: Sized,
    {
        0
    }
    fn settle(self) -> u8
    where
        Self: Sized,
    {
        0
    }
    fn map_err(self) -> u8
    where
        Self: Sized,
    {
        0
    }
    fn deref(&self) -> u8 {
        0
    }
}
impl<T: ?Sized> Everything for T {}

#[concurrent]
fn add(a: u32, b: u32) -> u32 {
    a + b
}

#[concurrent]
fn fallible(a: u32) -> Result<u32, String> {
    Ok(a)
}

#[concurrent]
async fn later(a: u32) -> u32 {
    a
}

fn main() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    assert_eq!(format!("{add:?}"), "#[concurrent] fn add");
    assert_eq!(add(1, 2), 3);
    let task = add::task(1, 2);
    // Executing by reference copies the arguments for the run (`__taskpool_copy_args`).
    assert_eq!(pool.execute(&task).wait().unwrap(), 3);
    assert_eq!(pool.execute(task).wait().unwrap(), 3);
    assert_eq!(pool.execute(fallible::task(3)).wait().unwrap(), 3);
    assert_eq!(pool.execute(later::task(4)).wait().unwrap(), 4);
}
