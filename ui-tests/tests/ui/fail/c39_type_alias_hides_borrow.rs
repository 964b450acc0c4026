use taskpool::concurrent;

// The alias hides the reference from the syntactic check; the type-level check still sees it.
type Name = &'static str;

#[concurrent]
fn greet(name: Name) -> String {
    format!("hello {name}")
}

fn main() {}
