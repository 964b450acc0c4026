// sendable-constraints.md, "The @Sendable decorator supports type decoration for functions
// only": `@Sendable type A = number;` and `@Sendable type D = C;` are compile errors in ArkTS.
// A type alias is not a new type: `#[sendable]` goes on the struct or enum itself.
use taskpool::sendable;

#[sendable]
pub struct C {
    pub value: u32,
}

#[sendable]
pub type A = u32;

#[sendable]
pub type D = C;

fn main() {}
