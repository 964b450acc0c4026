use taskpool::{concurrent, sendable};

// A function declared without a body is still a function: the error says what is missing
// instead of calling it some other item.
#[concurrent]
fn declared(value: u8) -> u8;

#[concurrent]
pub async fn declared_async(value: u8) -> u8;

#[sendable]
fn declared_sendable(value: u8) -> u8;

fn main() {}
