// A field whose type names the type being defined (`Box<Node<T>>`, `Vec<Self>`) gets no serde
// bound, to avoid a cycle. A field of *another* type with the same name (`db::Record<T>` in
// `Record<T>`: a layer wrapping the one below) is not such a field: it is bounded like any other,
// so the generic type's serde impls have what they need.

use taskpool::{Shared, TaskDescriptor, TaskPool, concurrent, sendable};

pub mod db {
    /// The stored record.
    #[taskpool::sendable]
    #[derive(Debug, Clone, PartialEq)]
    pub struct Record<T> {
        pub value: T,
    }
}

/// The record as the API shows it, wrapping the stored one.
#[sendable]
#[derive(Debug, Clone, PartialEq)]
pub struct Record<T> {
    pub stored: db::Record<T>,
    pub history: Vec<db::Record<T>>,
}

/// A recursive type beside it: its own name still gets no bound.
#[sendable]
#[derive(Debug, Clone, PartialEq)]
pub struct Node<T> {
    pub value: T,
    pub next: Option<Box<Node<T>>>,
    pub children: Vec<self::Node<T>>,
}

#[concurrent]
fn newest(record: Record<String>, node: Shared<Node<u8>>) -> String {
    let depth = node.next.as_ref().map_or(0, |next| next.value);
    format!("{}:{}:{depth}", record.stored.value, record.history.len())
}

fn main() {
    let record = Record {
        stored: db::Record { value: "b".to_owned() },
        history: vec![db::Record { value: "a".to_owned() }],
    };
    let leaf = Node { value: 2, next: None, children: vec![] };
    let node = Node { value: 1u8, next: Some(Box::new(leaf)), children: vec![] };

    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let node = Shared::new(node);
    let text = pool.run(newest, (record.clone(), node.clone())).wait().unwrap();
    assert_eq!(text, "b:1:2");

    let descriptor = newest::task(record, node).descriptor().unwrap();
    let decoded = TaskDescriptor::from_bytes(&descriptor.to_bytes().unwrap()).unwrap();
    let from_bytes: String = pool.execute_descriptor(&decoded).wait().unwrap().decode().unwrap();
    assert_eq!(from_bytes, "b:1:2");
}
