use taskpool::concurrent;

#[concurrent]
fn greet(name: &'static str) -> String {
    format!("hello {name}")
}

fn main() {}
