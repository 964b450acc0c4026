// `#[concurrent]` on an associated function without a receiver: the attribute sees only the
// function, not the `impl` around it, so it cannot tell it from a free function; rustc then
// refuses the generated struct inside the `impl` (first error: "struct is not supported in
// `trait`s or `impl`s ... consider moving the struct out to a nearby module scope", at the name),
// followed by errors about the other generated items. Move the function out of the `impl`.
use taskpool::concurrent;

pub struct Factory;

impl Factory {
    #[concurrent]
    fn make(x: u32) -> u32 {
        x
    }
}

fn main() {}
