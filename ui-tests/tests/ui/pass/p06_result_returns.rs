use taskpool::{ConcurrentFunction, Invocation, Task, concurrent};

#[derive(Debug)]
pub struct MyError;

impl std::fmt::Display for MyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("my error")
    }
}

impl std::error::Error for MyError {}

#[concurrent]
fn parse(text: String) -> Result<i64, std::num::ParseIntError> {
    text.parse()
}

#[concurrent]
fn read(path: String) -> std::io::Result<Vec<u8>> {
    std::fs::read(path)
}

#[concurrent]
fn custom(flag: bool) -> Result<(), MyError> {
    if flag { Ok(()) } else { Err(MyError) }
}

fn main() {
    let _task: Task<i64> = parse::task("42".into());
    let _task: Task<Vec<u8>> = read::task("/nonexistent".into());
    let _task: Task<()> = custom::task(true);
    assert!(matches!(parse::invoke(("x".into(),)), Invocation::Ready(Err(_))));
    assert!(matches!(custom::invoke((true,)), Invocation::Ready(Ok(()))));
    // A direct call returns the `Result` itself.
    assert_eq!(parse("7".into()), Ok(7));
}
