// User types that happen to share a name with a standard type the macros reject (`Rc`, `Cell`,
// `RefCell`, `Weak`, `OnceCell`, `LocalKey`, `JoinHandle`) are allowed when the path cannot name
// the standard one: rooted at `crate`, `self` or `super`, or at a module of the user's own.

use taskpool::{Shared, TaskPool, concurrent, sendable};

/// A reference count of the user's own: plain data here.
#[sendable]
#[derive(Debug, PartialEq)]
pub struct Rc(pub u32);

/// A handle of the user's own: plain data.
#[sendable]
#[derive(Debug, PartialEq)]
pub struct JoinHandle(pub u32);

mod shapes {
    use taskpool::sendable;

    #[sendable]
    #[derive(Debug, PartialEq)]
    pub struct Cell(pub u8);

    #[sendable]
    #[derive(Debug, PartialEq)]
    pub struct LocalKey(pub u8);
}

mod my_mod {
    use taskpool::sendable;

    #[sendable]
    #[derive(Debug, PartialEq)]
    pub struct Rc(pub u16);

    #[sendable]
    #[derive(Debug, PartialEq)]
    pub struct RefCell(pub u16);

    #[sendable]
    #[derive(Debug, PartialEq)]
    pub struct Weak(pub u16);

    #[sendable]
    #[derive(Debug, PartialEq)]
    pub struct OnceCell(pub u16);
}

#[concurrent]
fn combine(
    a: crate::Rc,
    b: self::shapes::Cell,
    c: my_mod::Rc,
    d: my_mod::RefCell,
    e: Vec<my_mod::Weak>,
    f: Option<my_mod::OnceCell>,
    g: shapes::LocalKey,
) -> crate::JoinHandle {
    let weak: u32 = e.iter().map(|w| u32::from(w.0)).sum();
    let once = f.map_or(0, |o| u32::from(o.0));
    JoinHandle(a.0 + u32::from(b.0) + u32::from(c.0) + u32::from(d.0) + weak + once + u32::from(g.0))
}

mod nested {
    use taskpool::concurrent;

    #[concurrent]
    pub fn unwrap(handle: super::JoinHandle) -> u32 {
        handle.0
    }
}

/// Every field names a user type through a path that cannot be std's.
#[sendable]
#[derive(Debug)]
pub struct Holder {
    pub rc: crate::Rc,
    pub cell: self::shapes::Cell,
    pub refcell: my_mod::RefCell,
    pub weak: Option<my_mod::Weak>,
    pub once: my_mod::OnceCell,
}

fn main() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let handle = pool
        .run(
            combine,
            (
                Rc(1),
                shapes::Cell(2),
                my_mod::Rc(3),
                my_mod::RefCell(4),
                vec![my_mod::Weak(5)],
                Some(my_mod::OnceCell(6)),
                shapes::LocalKey(7),
            ),
        )
        .wait()
        .unwrap();
    assert_eq!(handle, JoinHandle(28));
    assert_eq!(pool.run(nested::unwrap, (handle,)).wait().unwrap(), 28);

    let holder = Shared::new(Holder {
        rc: Rc(1),
        cell: shapes::Cell(2),
        refcell: my_mod::RefCell(3),
        weak: None,
        once: my_mod::OnceCell(4),
    });
    assert_eq!(holder.rc.0 + u32::from(holder.once.0), 5);
}
