// `impl Trait` as the error type of a task's `Result`: one error at it, not errors about
// positions in the expansion (the pool names the error type of every task).
use taskpool::concurrent;

#[derive(Debug)]
struct ParseError;

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a number")
    }
}

impl std::error::Error for ParseError {}

#[concurrent]
fn parse(x: u32) -> Result<u32, impl std::error::Error + Send + Sync + 'static> {
    if x > 0 { Ok(x) } else { Err(ParseError) }
}

fn main() {}
