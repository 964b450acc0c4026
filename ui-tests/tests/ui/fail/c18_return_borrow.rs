use taskpool::concurrent;

#[concurrent]
fn label(code: u8) -> &'static str {
    if code == 0 { "ok" } else { "error" }
}

fn main() {}
