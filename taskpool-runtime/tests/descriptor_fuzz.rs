//! Property tests: random and mutated descriptors, as bytes and as JSON, always give an error
//! or a task that resolves — never a panic or a hang.

use std::time::Duration;

use proptest::prelude::*;
use taskpool::{Task, TaskDescriptor, TaskPool, concurrent};

#[concurrent]
fn mix(a: u32, label: String, items: Vec<i64>, flag: Option<bool>) -> String {
    format!("{a}{label}{}{flag:?}", items.len())
}

fn valid_bytes() -> Vec<u8> {
    Task::new(mix, (7, "seven".to_owned(), vec![1, -2, 3], Some(true)))
        .descriptor()
        .unwrap()
        .to_bytes()
        .unwrap()
}

fn valid_json() -> String {
    Task::new(mix, (7, "seven".to_owned(), vec![1, -2, 3], None))
        .descriptor()
        .unwrap()
        .to_json()
        .unwrap()
}

/// Decoding gave a descriptor: it must run to an outcome in bounded time.
fn runs_to_an_outcome(descriptor: TaskDescriptor) {
    let mut handle = TaskPool::global().execute_descriptor(&descriptor);
    assert!(
        handle.wait_timeout(Duration::from_secs(20)).is_some(),
        "a decoded descriptor must resolve"
    );
}

fn refused_cleanly(error: taskpool::Error) {
    let code = error.code();
    assert!(
        matches!(code, Some(10200006) | Some(10200014)),
        "unexpected error {error:?}"
    );
    assert!(!error.to_string().is_empty());
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
    Remove(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, bits)| Mutation::Flip(at, bits)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        any::<usize>().prop_map(Mutation::Remove),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        let len = bytes.len().max(1);
        match *mutation {
            Mutation::Flip(at, bits) => {
                if let Some(byte) = bytes.get_mut(at % len) {
                    *byte ^= bits | 1;
                }
            }
            Mutation::Truncate(at) => bytes.truncate(at % len),
            Mutation::Insert(at, byte) => bytes.insert(at % (bytes.len() + 1), byte),
            Mutation::Remove(at) => {
                if !bytes.is_empty() {
                    bytes.remove(at % len);
                }
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        match TaskDescriptor::from_bytes(&bytes) {
            Ok(descriptor) => runs_to_an_outcome(descriptor),
            Err(error) => refused_cleanly(error),
        }
    }

    #[test]
    fn mutated_bytes_never_panic(mutations in proptest::collection::vec(mutation(), 1..6)) {
        match TaskDescriptor::from_bytes(&mutate(valid_bytes(), &mutations)) {
            Ok(descriptor) => runs_to_an_outcome(descriptor),
            Err(error) => refused_cleanly(error),
        }
    }

    #[test]
    fn mutated_json_never_panics(mutations in proptest::collection::vec(mutation(), 1..6)) {
        let bytes = mutate(valid_json().into_bytes(), &mutations);
        let text = String::from_utf8_lossy(&bytes);
        match TaskDescriptor::from_json(&text) {
            Ok(descriptor) => runs_to_an_outcome(descriptor),
            Err(error) => refused_cleanly(error),
        }
    }

    #[test]
    fn random_text_never_panics(text in ".{0,200}") {
        if let Err(error) = TaskDescriptor::from_json(&text) {
            refused_cleanly(error);
        }
    }
}

#[test]
fn the_unmutated_descriptors_are_valid() {
    // Guards the properties above: the seeds they mutate must themselves decode and run.
    runs_to_an_outcome(TaskDescriptor::from_bytes(&valid_bytes()).unwrap());
    runs_to_an_outcome(TaskDescriptor::from_json(&valid_json()).unwrap());
}
