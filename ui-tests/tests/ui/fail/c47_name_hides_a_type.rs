use taskpool::concurrent;

// The attribute makes the function's name a unit struct of the module, so these names would
// hide the prelude's `String` and the primitive `u8` everywhere in it.
mod texts {
    use taskpool::concurrent;

    #[concurrent]
    pub fn String(value: u8) -> u8 {
        value
    }

    pub fn greet(name: String) -> String {
        format!("hello, {name}")
    }
}

#[concurrent]
fn u8(value: i32) -> i32 {
    value
}

fn low_byte(value: i32) -> u8 {
    value as u8
}

#[concurrent]
fn Option(value: i32) -> i32 {
    value
}

fn main() {}
