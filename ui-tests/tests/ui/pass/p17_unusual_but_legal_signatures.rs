// Unusual but legal task functions: raw identifiers as function and parameter names, the same
// name in nested modules (each registered under its own path), arguments behind type aliases,
// `ref`/`mut`/array/unit patterns, `#[track_caller]`, `#[cold]`, `#[doc = ..]`, a very long name
// and an `impl` block beside the function. `main` runs each through the pool and a descriptor,
// so the expansion is not only compiled but works.

use std::collections::BTreeMap;

use taskpool::{ConcurrentFunction, Task, TaskDescriptor, TaskPool, concurrent};

type Bag = BTreeMap<String, Vec<u8>>;
type Pair = (u32, String);

/// The struct beside the functions, with an `impl` block of its own.
pub struct Counter(u32);

impl Counter {
    pub fn bump(&mut self) -> u32 {
        self.0 += 1;
        self.0
    }
}

#[concurrent]
fn r#type(r#in: u32, r#fn: String) -> String {
    format!("{in}{fn}", in = r#in, fn = r#fn)
}

#[concurrent]
async fn r#match(r#async: u8) -> u8 {
    r#async + 1
}

#[concurrent]
#[track_caller]
#[cold]
#[doc = "Sums a bag's bytes."]
/// And a second doc line.
fn weigh(bag: Bag, (mut count, label): Pair) -> String {
    count += bag.values().map(|bytes| bytes.len() as u32).sum::<u32>();
    format!("{label}:{count}")
}

#[concurrent]
fn shapes(ref text: String, [first, second]: [u8; 2], (): (), mut tail: Vec<u8>) -> usize {
    tail.push(first);
    tail.push(second);
    text.len() + tail.len()
}

#[concurrent]
fn a_task_function_whose_name_is_very_long_so_that_every_generated_identifier_that_derives_from_it_is_long_as_well_and_still_has_to_work(
    x: u8,
) -> u8 {
    x
}

mod outer {
    use taskpool::concurrent;

    #[concurrent]
    pub fn work(x: u32) -> u32 {
        x + 1
    }

    pub mod inner {
        use taskpool::concurrent;

        #[concurrent]
        pub fn work(x: u32) -> u32 {
            x + 2
        }
    }
}

mod sibling {
    use taskpool::concurrent;

    #[concurrent]
    pub fn work(x: u32) -> u32 {
        x + 3
    }
}

fn name_of<F: ConcurrentFunction>(_: F) -> &'static str {
    F::NAME
}

/// Runs `task` directly and through its descriptor (in both wire forms) on `pool`.
fn through_descriptor<T>(pool: &TaskPool, task: Task<T>) -> T
where
    T: taskpool::Transferable + PartialEq + std::fmt::Debug,
{
    let descriptor = task.descriptor().unwrap();
    let bytes = TaskDescriptor::from_bytes(&descriptor.to_bytes().unwrap()).unwrap();
    let json = TaskDescriptor::from_json(&descriptor.to_json().unwrap()).unwrap();
    let from_bytes: T = pool.execute_descriptor(&bytes).wait().unwrap().decode().unwrap();
    let from_json: T = pool.execute_descriptor(&json).wait().unwrap().decode().unwrap();
    let direct = pool.execute(task).wait().unwrap();
    assert_eq!(from_bytes, direct);
    assert_eq!(from_json, direct);
    direct
}

fn main() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let mut counter = Counter(0);
    assert_eq!(counter.bump(), 1);

    // Raw identifiers: the registered name is the unraw one.
    assert!(name_of(r#type).ends_with("::type"), "{}", name_of(r#type));
    assert!(name_of(r#match).ends_with("::match"));
    assert_eq!(through_descriptor(&pool, r#type::task(4, "2".to_owned())), "42");
    assert_eq!(through_descriptor(&pool, r#match::task(1)), 2);

    let bag: Bag = [("a".to_owned(), vec![1, 2]), ("b".to_owned(), vec![3])].into();
    assert_eq!(weigh(bag.clone(), (1, "w".to_owned())), "w:4");
    assert_eq!(through_descriptor(&pool, weigh::task(bag, (1, "w".to_owned()))), "w:4");

    assert_eq!(shapes("ab".to_owned(), [1, 2], (), vec![0]), 5);
    assert_eq!(through_descriptor(&pool, shapes::task("ab".to_owned(), [1, 2], (), vec![0])), 5);

    let long = a_task_function_whose_name_is_very_long_so_that_every_generated_identifier_that_derives_from_it_is_long_as_well_and_still_has_to_work::task(7);
    assert_eq!(through_descriptor(&pool, long), 7);

    // One name in three modules: three registrations, three stable names, no conflict.
    let names = [name_of(outer::work), name_of(outer::inner::work), name_of(sibling::work)];
    assert!(names[0].ends_with("::outer::work"));
    assert!(names[1].ends_with("::outer::inner::work"));
    assert!(names[2].ends_with("::sibling::work"));
    assert!(taskpool::duplicate_functions().is_empty());
    assert_eq!(through_descriptor(&pool, outer::work::task(0)), 1);
    assert_eq!(through_descriptor(&pool, outer::inner::work::task(0)), 2);
    assert_eq!(through_descriptor(&pool, sibling::work::task(0)), 3);
    pool.shutdown();
}
