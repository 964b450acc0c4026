use taskpool::concurrent;

pub struct Config;

#[concurrent]
fn join(parts: Vec<&str>, config: Option<&Config>) -> String {
    let _ = config;
    parts.concat()
}

fn main() {}
