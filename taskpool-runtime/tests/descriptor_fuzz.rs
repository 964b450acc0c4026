//! Property tests: random and mutated descriptors, as bytes and as JSON, always give an error
//! or a task that resolves — never a panic or a hang. Then the specific ways input can be
//! malformed: truncated, huge length prefixes, invalid UTF-8, unknown functions, wrong argument
//! types, deep nesting; each must be refused with its ArkTS code.

#[path = "support/wire.rs"]
mod wire;

use std::time::Duration;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use taskpool::{Task, TaskDescriptor, TaskPool, concurrent};
use wire::{compact_descriptor, varint};

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

/// A recursive argument type, for inputs that nest.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Tree {
    Leaf,
    Node(Vec<Tree>),
    Wrap(Box<Tree>),
}

#[concurrent]
fn leaves(tree: Tree) -> usize {
    match tree {
        Tree::Leaf => 1,
        Tree::Node(children) => children.into_iter().fold(0, |sum, c| sum + leaves(c)),
        Tree::Wrap(child) => leaves(*child),
    }
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

/// Postcard bytes drawn mostly from the variant indices and lengths of `Tree`, so they nest.
fn tree_ish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![Just(0u8), Just(1), Just(2), Just(3), Just(0x80), Just(0xff)];
    proptest::collection::vec((byte, 1..300usize), 0..40).prop_map(|runs| {
        runs.into_iter()
            .flat_map(|(byte, count)| std::iter::repeat_n(byte, count))
            .collect()
    })
}

/// JSON made of the tokens of `Tree`, in runs, so it nests (or fails to) in every way.
fn tree_ish_json() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("["),
        Just("]"),
        Just(r#"{"Node":["#),
        Just(r#"{"Wrap":"#),
        Just("}"),
        Just(r#""Leaf""#),
        Just(","),
    ];
    proptest::collection::vec((token, 1..300usize), 0..40).prop_map(|runs| {
        runs.into_iter()
            .map(|(token, count)| token.repeat(count))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn nesting_argument_bytes_never_abort(args in tree_ish_bytes()) {
        match TaskDescriptor::from_bytes(&compact_descriptor(&leaves_name(), &args)) {
            Ok(descriptor) => runs_to_an_outcome(descriptor),
            Err(error) => refused_cleanly(error),
        }
    }

    #[test]
    fn nesting_argument_json_never_aborts(args in tree_ish_json()) {
        let text = format!(r#"{{"version":1,"function":"{}","args":[{args}]}}"#, leaves_name());
        match TaskDescriptor::from_json(&text) {
            Ok(descriptor) => runs_to_an_outcome(descriptor),
            Err(error) => refused_cleanly(error),
        }
    }
}

fn leaves_name() -> String {
    format!("{}::leaves", module_path!())
}

fn mix_name() -> String {
    format!("{}::mix", module_path!())
}

fn assert_code(result: Result<TaskDescriptor, taskpool::Error>, code: u32) {
    let error = result.expect_err("malformed input must be refused");
    assert_eq!(error.code(), Some(code), "{error}");
}

#[test]
fn every_truncation_of_a_valid_descriptor_is_refused() {
    let bytes = valid_bytes();
    for len in 0..bytes.len() {
        assert_code(TaskDescriptor::from_bytes(&bytes[..len]), 10200006);
    }
    let text = valid_json();
    for len in (0..text.len()).filter(|&len| text.is_char_boundary(len)) {
        assert_code(TaskDescriptor::from_json(&text[..len]), 10200006);
    }
}

#[test]
fn huge_length_prefixes_are_refused_without_allocating_them() {
    let huge = varint(1 << 60);
    // The label's length, then the items' length, inside the arguments.
    let long_label = [varint(7), huge.clone(), b"x".to_vec()].concat();
    assert_code(
        TaskDescriptor::from_bytes(&compact_descriptor(&mix_name(), &long_label)),
        10200006,
    );
    let many_items = [varint(7), varint(1), b"x".to_vec(), huge.clone(), vec![2]].concat();
    assert_code(
        TaskDescriptor::from_bytes(&compact_descriptor(&mix_name(), &many_items)),
        10200006,
    );
    // The function name's length and the arguments' length, in the descriptor itself.
    let long_name = [varint(1), huge.clone(), b"mix".to_vec()].concat();
    assert_code(TaskDescriptor::from_bytes(&long_name), 10200006);
    let mut long_args = compact_descriptor(&mix_name(), &[]);
    long_args.pop(); // the empty arguments' length
    long_args.extend(&huge);
    assert_code(TaskDescriptor::from_bytes(&long_args), 10200006);
    // A length that overflows a 64-bit varint.
    let overlong = [varint(1), vec![0xff; 11]].concat();
    assert_code(TaskDescriptor::from_bytes(&overlong), 10200006);
}

#[test]
fn invalid_utf8_is_refused() {
    let mut bad_name = compact_descriptor(&mix_name(), &[]);
    bad_name[2] = 0xff; // the first byte of the function name
    assert_code(TaskDescriptor::from_bytes(&bad_name), 10200006);
    let bad_label = [varint(7), varint(2), vec![0xc3, 0x28], varint(0), vec![0]].concat();
    assert_code(
        TaskDescriptor::from_bytes(&compact_descriptor(&mix_name(), &bad_label)),
        10200006,
    );
    // JSON text is UTF-8 by type; an escaped lone surrogate is its way of being invalid.
    let lone = format!(
        r#"{{"version":1,"function":"{}","args":[7,"\udc00",[],null]}}"#,
        mix_name()
    );
    assert_code(TaskDescriptor::from_json(&lone), 10200006);
}

#[test]
fn unknown_functions_are_refused_with_10200014_in_both_forms() {
    let args = [varint(7), varint(0), varint(0), vec![0]].concat();
    assert_code(
        TaskDescriptor::from_bytes(&compact_descriptor("nowhere::nothing", &args)),
        10200014,
    );
    let text = r#"{"version":1,"function":"nowhere::nothing","args":[7,"",[],null]}"#;
    assert_code(TaskDescriptor::from_json(text), 10200014);
}

#[test]
fn wrong_argument_types_are_refused_with_10200006() {
    for args in [
        r#"[7,"",[]]"#,
        r#"[7,"",[],null,1]"#,
        r#"["7","",[],null]"#,
        r#"{"a":7}"#,
        "7",
    ] {
        let text = format!(
            r#"{{"version":1,"function":"{}","args":{args}}}"#,
            mix_name()
        );
        assert_code(TaskDescriptor::from_json(&text), 10200006);
    }
    // Bytes of a `Tree` given to `mix`, and an option tag that is neither 0 nor 1.
    assert_code(
        TaskDescriptor::from_bytes(&compact_descriptor(&mix_name(), &[1, 1, 0])),
        10200006,
    );
    let bad_tag = [varint(7), varint(0), varint(0), vec![2]].concat();
    assert_code(
        TaskDescriptor::from_bytes(&compact_descriptor(&mix_name(), &bad_tag)),
        10200006,
    );
}

#[test]
fn another_format_version_is_refused() {
    let mut bytes = valid_bytes();
    bytes[0] = 2;
    assert_code(TaskDescriptor::from_bytes(&bytes), 10200006);
    let text = valid_json().replacen(r#""version":1"#, r#""version":2"#, 1);
    assert_code(TaskDescriptor::from_json(&text), 10200006);
}

#[concurrent]
fn byte_count(bytes: Vec<u8>) -> usize {
    bytes.len()
}

#[test]
fn a_descriptor_too_big_to_read_is_refused_when_written() {
    // The arguments fit the cap; with the rest of the descriptor around them, they do not.
    let args = vec![0u8; taskpool::DEFAULT_MAX_SERIALIZED_BYTES - 8];
    let descriptor = Task::new(byte_count, (args,)).descriptor().unwrap();
    let error = descriptor.to_bytes().unwrap_err();
    assert_eq!(error.code(), Some(10200006), "{error}");
    assert!(error.to_string().contains("over the cap"), "{error}");
}

#[test]
fn the_unmutated_descriptors_are_valid() {
    // Guards the properties above: the seeds they mutate must themselves decode and run.
    runs_to_an_outcome(TaskDescriptor::from_bytes(&valid_bytes()).unwrap());
    runs_to_an_outcome(TaskDescriptor::from_json(&valid_json()).unwrap());
}
