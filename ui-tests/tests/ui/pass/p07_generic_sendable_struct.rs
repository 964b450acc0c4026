use taskpool::{Sendable, Shared, concurrent, sendable};

#[sendable]
#[derive(Debug, Clone, PartialEq)]
pub struct Pair<A, B: Clone> {
    pub first: A,
    pub second: Vec<B>,
}

fn assert_sendable<T: Sendable>() {}

#[concurrent]
fn swap(pair: Pair<u8, String>) -> Pair<String, u8> {
    Pair {
        first: pair.second.concat(),
        second: vec![pair.first],
    }
}

fn main() {
    assert_sendable::<Pair<u8, String>>();
    assert_sendable::<Pair<Shared<Pair<u8, u8>>, i32>>();
    let swapped = swap(Pair { first: 1, second: vec!["a".into()] });
    assert_eq!(swapped, Pair { first: "a".into(), second: vec![1] });
}
