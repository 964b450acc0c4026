use taskpool::concurrent;

// The attribute makes the function's name a unit struct of the module, and a struct named like
// a crate hides it from every path of the module: `std::…` would name the task function.
mod with_std {
    use taskpool::concurrent;

    #[concurrent]
    pub fn std(value: u8) -> u8 {
        value
    }

    pub fn label() -> std::string::String {
        std::string::String::from("label")
    }
}

mod with_core {
    use taskpool::concurrent;

    #[concurrent]
    pub fn r#core(value: u8) -> u8 {
        value
    }

    pub fn biggest() -> u8 {
        core::cmp::max(1, 2)
    }
}

#[concurrent]
fn taskpool(value: u8) -> u8 {
    value
}

fn main() {}
