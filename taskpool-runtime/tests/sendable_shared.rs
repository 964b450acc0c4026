//! `#[sendable]` values in `Shared<T>` are passed to tasks by reference: never copied.
//!
//! These tests call the task functions through `ConcurrentFunction::invoke` on plain threads, the
//! way a worker does, so they exercise the macro expansion and `Shared` without the pool.

use std::sync::atomic::{AtomicU64, Ordering};

use taskpool::{ConcurrentFunction, Invocation, Shared, concurrent, sendable};

#[sendable]
#[derive(Debug)]
struct Model {
    pub weights: Vec<f32>,
    pub reads: AtomicU64,
}

/// Reports where the model it received lives, and counts the read.
#[concurrent]
fn model_address(model: Shared<Model>) -> usize {
    model.reads.fetch_add(1, Ordering::SeqCst);
    Shared::as_ptr(&model) as usize
}

fn ready<T>(invocation: Invocation<T>) -> T {
    match invocation {
        Invocation::Ready(Ok(value)) => value,
        Invocation::Ready(Err(error)) => panic!("task failed: {error}"),
        Invocation::Pending(_) => panic!("a sync task function returned a future"),
    }
}

#[test]
fn a_shared_value_passed_to_many_tasks_is_never_copied() {
    let model = Shared::new(Model {
        weights: vec![0.5; 1 << 16],
        reads: AtomicU64::new(0),
    });
    let expected = Shared::as_ptr(&model) as usize;

    let threads: Vec<_> = (0..8)
        .map(|_| {
            let model = model.clone();
            std::thread::spawn(move || {
                (0..50)
                    .map(|_| ready(model_address::invoke((model.clone(),))))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for thread in threads {
        for address in thread.join().unwrap() {
            assert_eq!(address, expected, "a task received a copy of the model");
        }
    }
    assert_eq!(model.reads.load(Ordering::SeqCst), 400);
    assert_eq!(
        Shared::handle_count(&model),
        1,
        "every task released its handle"
    );
}

#[test]
fn a_task_built_with_the_generated_constructor_keeps_the_same_allocation() {
    let model = Shared::new(Model {
        weights: vec![1.0],
        reads: AtomicU64::new(0),
    });
    let task = model_address::task(model.clone());
    assert!(task.function_name().ends_with("::model_address"));
    // The direct call path shares the allocation too.
    assert_eq!(
        model_address(model.clone()),
        Shared::as_ptr(&model) as usize
    );
}

#[test]
fn a_serialized_shared_value_is_a_copy() {
    let model = Shared::new(Model {
        weights: vec![1.0, 2.0],
        reads: AtomicU64::new(3),
    });
    let json = serde_json::to_string(&model).unwrap();
    let copy: Shared<Model> = serde_json::from_str(&json).unwrap();
    assert!(!Shared::ptr_eq(&model, &copy));
    assert_eq!(copy.weights, model.weights);
    assert_eq!(copy.reads.load(Ordering::SeqCst), 3);
}

#[sendable]
#[derive(Debug, PartialEq)]
enum Job<T> {
    Resize { width: u32, height: u32 },
    Payload(T),
}

#[test]
fn generic_sendable_enums_round_trip() {
    let job: Job<String> = Job::Payload("x".into());
    let json = serde_json::to_string(&job).unwrap();
    assert_eq!(serde_json::from_str::<Job<String>>(&json).unwrap(), job);
    let resize: Job<u8> = Job::Resize {
        width: 2,
        height: 3,
    };
    assert_eq!(
        postcard_round_trip(&resize),
        Job::Resize {
            width: 2,
            height: 3
        }
    );
}

fn postcard_round_trip<T: taskpool::Transferable>(value: &T) -> T {
    let bytes = postcard::to_allocvec(value).unwrap();
    postcard::from_bytes(&bytes).unwrap()
}

/// A `#[sendable]` type that contains itself (ArkTS: a `@Sendable` class with a field of its
/// own type).
#[sendable]
#[derive(Debug)]
enum Chain {
    End,
    Link(u32, Box<Chain>),
}

impl Drop for Chain {
    /// Unlinks iteratively: the derived drop of a 100 000-deep chain would overflow the stack
    /// by itself, before any serialization is tried.
    fn drop(&mut self) {
        let Chain::Link(_, tail) = self else { return };
        let mut next = std::mem::replace(&mut **tail, Chain::End);
        // Each link is dropped with an `End` tail: its own `drop` stops at once.
        while let Chain::Link(_, tail) = &mut next {
            next = std::mem::replace(&mut **tail, Chain::End);
        }
    }
}

#[concurrent]
fn chain_length(chain: Shared<Chain>) -> usize {
    let (mut length, mut at) = (0, &*chain);
    while let Chain::Link(_, tail) = at {
        length += 1;
        at = tail;
    }
    length
}

#[test]
fn a_recursive_sendable_type_is_shared_and_too_deep_a_value_fails_to_serialize_cleanly() {
    let deep = (0..100_000).fold(Chain::End, |tail, n| Chain::Link(n, Box::new(tail)));
    let deep = Shared::new(deep);
    // Shared by reference: depth does not matter.
    let length = ready(chain_length::invoke((Shared::clone(&deep),)));
    assert_eq!(length, 100_000);
    // A copy must be serialized: refused with 10200006 in both formats, never a stack overflow.
    for encoding in [taskpool::Encoding::Postcard, taskpool::Encoding::Json] {
        let error = taskpool::Payload::encode(&*deep, encoding).unwrap_err();
        assert_eq!(error.code(), Some(10200006), "{error}");
    }
    // A shallow one round-trips.
    let shallow = Chain::Link(1, Box::new(Chain::Link(2, Box::new(Chain::End))));
    let copy: Chain = taskpool::Payload::encode(&shallow, taskpool::Encoding::Postcard)
        .unwrap()
        .decode()
        .unwrap();
    assert_eq!(ready(chain_length::invoke((Shared::new(copy),))), 2);
}
