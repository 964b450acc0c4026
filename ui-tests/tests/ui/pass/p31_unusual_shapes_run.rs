// Unusual but legal input not covered elsewhere, compiled *and run* (directly, through the pool
// and through a descriptor): non-ASCII names (function, type, field, parameter), a `#[repr(u8)]`
// enum with explicit discriminants, `#[derive]` written before `#[sendable]`, a const parameter
// with a default beside a `where` clause and a `PhantomData` field, a defaulted type parameter,
// a trait implemented for a `#[sendable]` type, `mut` and tuple/tuple-struct patterns,
// `pub(crate)` and `pub(in path)` functions, functions written by a `macro_rules!` and declared
// inside `main`, `#[must_use]`/`#[inline]`/`#[allow]` on a task, user items named like what an
// expansion might generate, and types that contain themselves through `Self`, their own name,
// `self::Name` or `crate::Name` (E0275 before `crate::Name` was recognised).
#![allow(uncommon_codepoints, dead_code)]

use std::marker::PhantomData;

use taskpool::{ConcurrentFunction, Shared, TaskDescriptor, TaskPool, concurrent, sendable};

#[sendable]
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(u8)]
pub enum Level {
    Low = 1,
    Mid = 5,
    High = 200,
}

#[derive(Debug, PartialEq)]
#[sendable]
pub struct DeriveFirst {
    pub a: u32,
}

#[sendable]
#[derive(Debug, PartialEq)]
pub struct Größe {
    pub länge: u32,
    pub r#type: String,
}

#[sendable]
#[derive(Debug, PartialEq)]
pub struct Marked<T, const N: usize = 3>
where
    T: Clone,
{
    pub items: Vec<u8>,
    pub marker: PhantomData<T>,
}

#[sendable]
#[derive(Debug, PartialEq)]
pub struct Defaulted<T = u32> {
    pub value: T,
}

#[sendable]
#[derive(Debug, PartialEq)]
pub struct Wrap(pub u32, pub String);

/// Contains itself under every name it has at the crate root.
#[sendable]
#[derive(Debug, PartialEq)]
pub struct Tree {
    pub kids: Vec<Self>,
    pub next: Option<Box<Tree>>,
    pub local: Vec<self::Tree>,
    pub rooted: Option<Box<crate::Tree>>,
    pub value: u32,
}

#[sendable]
#[derive(Debug, PartialEq)]
pub enum Expr {
    Num(i64),
    Add(Box<Self>, Box<crate::Expr>),
    List(Vec<Expr>),
}

pub trait Describe {
    fn describe(&self) -> String;
}

impl Describe for Größe {
    fn describe(&self) -> String {
        format!("{}{}", self.länge, self.r#type)
    }
}

#[concurrent]
fn größe(länge: u32) -> u32 {
    länge * 2
}

#[concurrent]
fn level(l: Level) -> u8 {
    l as u8
}

#[concurrent]
fn describe(g: Shared<Größe>) -> String {
    g.describe()
}

#[concurrent]
pub(crate) fn patterns(mut a: u32, (b, c): (u32, u32), Wrap(d, _): Wrap) -> u32 {
    a += b + c + d;
    a
}

#[concurrent]
fn generic_shapes(m: Marked<String>, d: Defaulted, f: DeriveFirst) -> usize {
    m.items.len() + d.value as usize + f.a as usize
}

#[concurrent]
fn tree(t: Tree) -> u32 {
    t.value + t.kids.len() as u32 + t.local.len() as u32 + u32::from(t.rooted.is_some())
}

#[concurrent]
fn eval(e: Expr) -> i64 {
    fn go(e: &Expr) -> i64 {
        match e {
            Expr::Num(n) => *n,
            Expr::Add(a, b) => go(a) + go(b),
            Expr::List(list) => list.iter().map(go).sum(),
        }
    }
    go(&e)
}

macro_rules! identity_task {
    ($name:ident, $t:ty) => {
        #[concurrent]
        fn $name(x: $t) -> $t {
            x
        }
    };
}
identity_task!(same_u32, u32);
identity_task!(same_string, String);

mod outer {
    pub mod inner {
        use taskpool::concurrent;

        #[concurrent]
        pub(in crate::outer) fn deep(x: u32) -> u32 {
            x + 1
        }
    }

    pub fn call(pool: &taskpool::TaskPool) -> u32 {
        inner::deep(1) + pool.execute(inner::deep::task(1)).wait().unwrap()
    }
}

/// A task function with attributes of every kind.
#[must_use]
#[inline]
#[allow(clippy::all)]
#[concurrent]
fn attributed(x: u32) -> u32 {
    x
}

// Names an expansion might be tempted to use.
struct Task;
struct Descriptor;
struct Args;
struct Output;
fn register() {}
fn invoke() {}
mod __private {}

fn name_of<F: ConcurrentFunction>(_: F) -> &'static str {
    F::NAME
}

/// Runs `task` on `pool` directly and through its descriptor; both must agree.
fn through<T>(pool: &TaskPool, task: taskpool::Task<T>) -> T
where
    T: taskpool::Transferable + PartialEq + std::fmt::Debug,
{
    let descriptor = task.descriptor().unwrap();
    let bytes = TaskDescriptor::from_bytes(&descriptor.to_bytes().unwrap()).unwrap();
    let from_bytes: T = pool.execute_descriptor(&bytes).wait().unwrap().decode().unwrap();
    let direct = pool.execute(task).wait().unwrap();
    assert_eq!(from_bytes, direct);
    direct
}

fn leaf(value: u32) -> Tree {
    Tree { kids: vec![], next: None, local: vec![], rooted: None, value }
}

fn main() {
    #[concurrent]
    fn local(x: u32) -> u32 {
        x + 10
    }

    let pool = TaskPool::builder().max_threads(2).build().unwrap();

    assert_eq!(größe(2), 4);
    assert!(name_of(größe).ends_with("::größe"), "{}", name_of(größe));
    assert_eq!(through(&pool, größe::task(4)), 8);

    assert_eq!(level(Level::High), 200);
    assert_eq!(through(&pool, level::task(Level::Mid)), 5);

    let g = Shared::new(Größe { länge: 3, r#type: "m".to_owned() });
    assert_eq!(describe(g.clone()), "3m");
    assert_eq!(pool.execute(describe::task(g)).wait().unwrap(), "3m");

    assert_eq!(patterns(1, (2, 3), Wrap(4, "x".to_owned())), 10);
    assert_eq!(through(&pool, patterns::task(1, (2, 3), Wrap(4, "x".to_owned()))), 10);

    let marked = || Marked { items: vec![1, 2], marker: PhantomData };
    let shapes = || (marked(), Defaulted { value: 3 }, DeriveFirst { a: 4 });
    let (m, d, f) = shapes();
    assert_eq!(generic_shapes(m, d, f), 9);
    let (m, d, f) = shapes();
    assert_eq!(through(&pool, generic_shapes::task(m, d, f)), 9);

    let grown = || Tree {
        kids: vec![leaf(1)],
        next: Some(Box::new(leaf(2))),
        local: vec![leaf(3)],
        rooted: Some(Box::new(leaf(4))),
        value: 5,
    };
    assert_eq!(tree(grown()), 8);
    assert_eq!(through(&pool, tree::task(grown())), 8);

    let sum = || {
        let list = Expr::List(vec![Expr::Num(2), Expr::Num(3)]);
        Expr::Add(Box::new(Expr::Num(1)), Box::new(list))
    };
    assert_eq!(eval(sum()), 6);
    assert_eq!(through(&pool, eval::task(sum())), 6);

    assert_eq!(same_u32(3), 3);
    assert_eq!(through(&pool, same_string::task("s".to_owned())), "s");

    assert_eq!(outer::call(&pool), 4);
    assert_eq!(through(&pool, attributed::task(5)), 5);

    assert_eq!(local(1), 11);
    assert_eq!(through(&pool, local::task(1)), 11);

    let _ = (Task, Descriptor, Args, Output);
    register();
    invoke();
    pool.shutdown();
}
