//! The limits that keep hostile or unrepresentable data from killing the process: the nesting
//! limit (a deep value used to overflow the stack while decoding), NaN and infinities in JSON
//! (written as `null`, then unreadable), and the agreement of writing and reading at the limit.
//!
//! Deep inputs are built by hand as bytes or text: building a 100,000-deep value would itself
//! overflow the stack when it is serialized or dropped.

#[path = "support/wire.rs"]
mod wire;

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use taskpool::{Encoding, Payload, Task, TaskDescriptor, TaskPool, concurrent};

const LIMIT: usize = Payload::MAX_NESTING_DEPTH;
const HOSTILE_DEPTH: usize = 100_000;

/// A recursive argument type. As levels: `Leaf` is one (an enum variant), `Wrap` one (a variant
/// holding a value), the others two (the variant, then its sequence or fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Tree {
    Leaf,
    Node(Vec<Tree>),
    Wrap(Box<Tree>),
    Pair(Box<Tree>, u8),
    Named { child: Box<Tree> },
}

impl Tree {
    /// `Leaf` inside `wraps` `Wrap`s, built without recursion.
    fn wrapped(wraps: usize) -> Tree {
        (0..wraps).fold(Tree::Leaf, |tree, _| Tree::Wrap(Box::new(tree)))
    }
}

/// The depth of `(Tree::wrapped(wraps),)`: the tuple, the wrappers, the leaf.
fn args_depth(wraps: usize) -> usize {
    1 + wraps + 1
}

#[concurrent]
fn leaf_depth(tree: Tree) -> usize {
    match tree {
        Tree::Leaf => 0,
        Tree::Wrap(child) | Tree::Pair(child, _) | Tree::Named { child } => 1 + leaf_depth(*child),
        Tree::Node(children) => children.into_iter().fold(1, |sum, c| sum + leaf_depth(c)),
    }
}

/// `postcard` bytes of `(tree,)` where the tree is `nodes` one-child `Node`s around a `Leaf`.
fn nested_nodes_bytes(nodes: usize) -> Vec<u8> {
    // Variant index 1 (`Node`), then a sequence of length 1; finally variant 0 (`Leaf`).
    let mut bytes = [1u8, 1].repeat(nodes);
    bytes.push(0);
    bytes
}

/// The same value as JSON text.
fn nested_nodes_json(nodes: usize) -> String {
    format!(
        r#"[{}"Leaf"{}]"#,
        r#"{"Node":["#.repeat(nodes),
        "]}".repeat(nodes)
    )
}

/// `postcard` bytes of `(Tree::wrapped(wraps),)`.
fn wrapped_bytes(wraps: usize) -> Vec<u8> {
    let mut bytes = vec![2u8; wraps];
    bytes.push(0);
    bytes
}

fn descriptor_bytes(args: &[u8]) -> Vec<u8> {
    wire::compact_descriptor(&leaf_depth_name(), args)
}

fn descriptor_json(args: &str) -> String {
    format!(
        r#"{{"version":1,"function":"{}","args":{args}}}"#,
        leaf_depth_name()
    )
}

fn leaf_depth_name() -> String {
    format!("{}::leaf_depth", module_path!())
}

/// The error is 10200006 and says the data is too deep.
fn assert_too_deep(error: taskpool::Error) {
    assert_eq!(error.code(), Some(10200006), "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&format!("deeper than {LIMIT} levels")),
        "{message}"
    );
}

#[test]
fn a_100_000_deep_tree_in_descriptor_bytes_is_refused_with_10200006() {
    let bytes = descriptor_bytes(&nested_nodes_bytes(HOSTILE_DEPTH));
    assert!(
        bytes.len() < 256 * 1024,
        "small input: {} bytes",
        bytes.len()
    );
    assert_too_deep(TaskDescriptor::from_bytes(&bytes).unwrap_err());
}

#[test]
fn a_100_000_deep_tree_in_descriptor_json_is_refused_with_10200006() {
    let text = descriptor_json(&nested_nodes_json(HOSTILE_DEPTH));
    assert_too_deep(TaskDescriptor::from_json(&text).unwrap_err());
}

#[test]
fn a_100_000_deep_payload_is_refused_in_both_encodings() {
    let bytes = Payload::Postcard(nested_nodes_bytes(HOSTILE_DEPTH));
    assert_too_deep(bytes.decode::<(Tree,)>().unwrap_err());
    let json = Payload::Json(nested_nodes_json(HOSTILE_DEPTH));
    assert_too_deep(json.decode::<(Tree,)>().unwrap_err());
    // A self-describing target walks the data as deeply.
    assert_too_deep(json.decode::<serde_json::Value>().unwrap_err());
    let arrays = Payload::Json(format!(
        "{}{}",
        "[".repeat(HOSTILE_DEPTH),
        "]".repeat(HOSTILE_DEPTH)
    ));
    assert_too_deep(arrays.decode::<serde_json::Value>().unwrap_err());
}

#[test]
fn hand_built_data_is_read_up_to_the_limit_and_refused_past_it() {
    let wraps = LIMIT - 2;
    assert_eq!(args_depth(wraps), LIMIT);
    let at_limit: (Tree,) = Payload::Postcard(wrapped_bytes(wraps)).decode().unwrap();
    assert_eq!(at_limit.0, Tree::wrapped(wraps));
    let past = Payload::Postcard(wrapped_bytes(wraps + 1)).decode::<(Tree,)>();
    assert_too_deep(past.unwrap_err());
}

#[test]
fn values_at_the_depth_limit_round_trip_in_both_encodings_and_through_descriptors() {
    let wraps = LIMIT - 2;
    let args = (Tree::wrapped(wraps),);
    for encoding in [Encoding::Postcard, Encoding::Json] {
        let payload = Payload::encode(&args, encoding).unwrap();
        assert_eq!(payload.decode::<(Tree,)>().unwrap(), args, "{encoding:?}");
    }
    let descriptor = Task::new(leaf_depth, args).descriptor().unwrap();
    let from_bytes = TaskDescriptor::from_bytes(&descriptor.to_bytes().unwrap()).unwrap();
    let from_json = TaskDescriptor::from_json(&from_bytes.to_json().unwrap()).unwrap();
    assert_eq!(
        TaskDescriptor::from_bytes(&from_json.to_bytes().unwrap()).unwrap(),
        descriptor
    );
    let result = TaskPool::global()
        .execute_descriptor(&from_json)
        .wait()
        .unwrap();
    assert_eq!(result.decode::<usize>().unwrap(), wraps);
}

#[test]
fn one_level_past_the_limit_is_refused_when_encoding() {
    let args = (Tree::wrapped(LIMIT - 1),);
    assert_eq!(args_depth(LIMIT - 1), LIMIT + 1);
    for encoding in [Encoding::Postcard, Encoding::Json] {
        assert_too_deep(Payload::encode(&args, encoding).unwrap_err());
    }
    assert_too_deep(Task::new(leaf_depth, args).descriptor().unwrap_err());
}

/// Trees of several shapes whose argument tuple is `depth` levels deep: chains of one kind of
/// level (`Wrap` costs one, the others two), topped up with `Wrap`s.
fn shapes(depth: usize) -> Vec<(Tree,)> {
    let budget = depth - 2; // the tuple and the leaf
    let chain = |cost: usize, step: fn(Tree) -> Tree| {
        let tree = (0..budget / cost).fold(Tree::Leaf, |tree, _| step(tree));
        (0..budget % cost).fold(tree, |tree, _| Tree::Wrap(Box::new(tree)))
    };
    vec![
        (chain(1, |t| Tree::Wrap(Box::new(t))),),
        (chain(2, |t| Tree::Node(vec![t])),),
        (chain(2, |t| Tree::Pair(Box::new(t), 7)),),
        (chain(2, |t| Tree::Named { child: Box::new(t) }),),
    ]
}

#[test]
fn writing_and_reading_agree_at_every_depth_around_the_limit() {
    for depth in LIMIT - 3..=LIMIT + 3 {
        let fits = depth <= LIMIT;
        for args in shapes(depth) {
            for encoding in [Encoding::Postcard, Encoding::Json] {
                let written = Payload::encode(&args, encoding);
                assert_eq!(written.is_ok(), fits, "{encoding:?} at {depth}: {args:?}");
                if let Ok(payload) = written {
                    assert_eq!(payload.decode::<(Tree,)>().unwrap(), args);
                }
            }
            // What a writer without the limit produces is read up to the same depth.
            let bytes = Payload::Postcard(postcard::to_allocvec(&args).unwrap());
            assert_eq!(bytes.decode::<(Tree,)>().is_ok(), fits, "bytes at {depth}");
            let json = Payload::Json(serde_json::to_string(&args).unwrap());
            assert_eq!(json.decode::<(Tree,)>().is_ok(), fits, "JSON at {depth}");
        }
    }
}

#[test]
fn json_nested_to_the_limit_stays_within_serde_jsons_own_limit() {
    // Arrays are the one shape where a level here is exactly one of serde_json's, which refuses
    // a 128th: everything this side writes, serde_json must still read.
    let nested = |depth: usize| {
        (0..depth).fold(serde_json::json!(null), |inner, _| {
            serde_json::json!([inner])
        })
    };
    let at_limit = Payload::encode(&nested(LIMIT), Encoding::Json).unwrap();
    assert_eq!(
        at_limit.decode::<serde_json::Value>().unwrap(),
        nested(LIMIT)
    );
    assert_too_deep(Payload::encode(&nested(LIMIT + 1), Encoding::Json).unwrap_err());
}

#[test]
fn decoding_at_the_limit_fits_in_a_small_thread_stack() {
    // Half the default stack of a spawned thread; a debug build needs about 384 KiB.
    std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(|| {
            let args = (Tree::wrapped(LIMIT - 2),);
            for encoding in [Encoding::Postcard, Encoding::Json] {
                let payload = Payload::encode(&args, encoding).unwrap();
                assert_eq!(payload.decode::<(Tree,)>().unwrap(), args);
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn json_refuses_nan_and_infinities_when_encoding() {
    for float in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let error = Payload::encode(&(1u8, vec![0.5, float]), Encoding::Json).unwrap_err();
        assert_eq!(error.code(), Some(10200006));
        assert!(
            error.to_string().contains("JSON cannot represent"),
            "{error}"
        );
    }
    let error = Payload::encode(&Some(f32::NAN), Encoding::Json).unwrap_err();
    assert_eq!(error.code(), Some(10200006));
    assert!(Payload::encode(&f64::MAX, Encoding::Json).is_ok());
}

#[test]
fn postcard_keeps_nan_and_infinities() {
    let floats = (f64::NAN, f64::INFINITY, f32::NEG_INFINITY);
    let back: (f64, f64, f32) = Payload::encode(&floats, Encoding::Postcard)
        .unwrap()
        .decode()
        .unwrap();
    assert!(back.0.is_nan());
    assert_eq!((back.1, back.2), (f64::INFINITY, f32::NEG_INFINITY));
}

#[concurrent]
fn scale(values: Vec<f64>, by: f64) -> Vec<f64> {
    values.into_iter().map(|v| v * by).collect()
}

#[test]
fn a_descriptor_with_a_nan_argument_is_refused_as_json_but_kept_as_bytes() {
    let descriptor = Task::new(scale, (vec![1.0, f64::NAN], 2.0))
        .descriptor()
        .unwrap();
    let error = descriptor.to_json().unwrap_err();
    assert_eq!(error.code(), Some(10200006));
    assert!(error.to_string().contains("NaN"), "{error}");
    assert!(TaskDescriptor::from_bytes(&descriptor.to_bytes().unwrap()).is_ok());
    // A JSON result that cannot be written fails the task instead of arriving as `null`.
    let overflows = Task::new(scale, (vec![f64::MAX], 2.0))
        .descriptor()
        .unwrap();
    let overflows = TaskDescriptor::from_json(&overflows.to_json().unwrap()).unwrap();
    let outcome = TaskPool::global().execute_descriptor(&overflows).wait();
    assert_eq!(outcome.unwrap_err().code(), Some(10200006));
}

#[concurrent]
fn count_units(units: Vec<()>) -> usize {
    units.len()
}

/// The error is 10200006 and says the data holds too many zero-sized elements.
fn assert_too_many_elements(error: taskpool::Error) {
    assert_eq!(error.code(), Some(10200006), "{error}");
    let message = error.to_string();
    assert!(message.contains("zero-sized"), "{message}");
}

#[test]
fn a_length_prefix_claiming_2_pow_60_zero_sized_elements_is_refused() {
    // `()` takes no bytes, so ten bytes of length prefix used to keep the decoder visiting
    // elements for centuries: the size of the input did not bound the work.
    let claim = wire::varint(1 << 60);
    let bytes = wire::compact_descriptor(&format!("{}::count_units", module_path!()), &claim);
    assert!(bytes.len() < 64, "small input: {} bytes", bytes.len());
    assert_too_many_elements(TaskDescriptor::from_bytes(&bytes).unwrap_err());

    let payload = Payload::Postcard(claim.clone());
    assert_too_many_elements(payload.decode::<Vec<()>>().unwrap_err());
    assert_too_many_elements(payload.decode::<HashSet<()>>().unwrap_err());
    assert_too_many_elements(payload.decode::<BTreeMap<(), ()>>().unwrap_err());
    // Nested: every inner claim is cheap, their product is not.
    let mut nested = wire::varint(1 << 20);
    for _ in 0..1 << 10 {
        nested.extend(wire::varint(1 << 20));
    }
    let nested = Payload::Postcard(nested);
    assert_too_many_elements(nested.decode::<Vec<Vec<()>>>().unwrap_err());
}

#[test]
fn writing_and_reading_agree_on_how_many_zero_sized_elements_a_value_may_hold() {
    let allowance = Payload::MAX_EMPTY_ELEMENTS;
    // `vec![(); n]` is written as the varint of `n` alone.
    let mut accepted = 0;
    for n in allowance - 2..allowance + 8 {
        let written = Payload::encode(&vec![(); n], Encoding::Postcard);
        let read = Payload::Postcard(wire::varint(n as u64)).decode::<Vec<()>>();
        assert_eq!(written.is_ok(), read.is_ok(), "{n} elements");
        match read {
            Ok(units) => {
                assert_eq!(units.len(), n);
                accepted = n;
            }
            Err(error) => assert_too_many_elements(error),
        }
        if let Err(error) = written {
            assert_too_many_elements(error);
        }
    }
    let prefix = wire::varint(accepted as u64).len();
    assert_eq!(
        accepted,
        allowance + prefix,
        "one per byte, plus the allowance"
    );
    // Elements that take bytes are bounded by the input, whatever their number.
    let bytes = vec![7u8; 3 * allowance];
    let back: Vec<u8> = Payload::encode(&bytes, Encoding::Postcard)
        .unwrap()
        .decode()
        .unwrap();
    assert_eq!(back, bytes);
    let json = Payload::encode(&vec![(); 10], Encoding::Json).unwrap();
    assert_eq!(json.decode::<Vec<()>>().unwrap().len(), 10);
}
