use taskpool::sendable;

#[sendable]
pub struct View<'a> {
    pub text: &'a str,
    pub bytes: &'a [u8],
}

fn main() {}
