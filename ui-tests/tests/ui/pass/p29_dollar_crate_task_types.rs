// A `macro_rules!` that defines task functions names its crate's types as `$crate::..`. A type
// of the user's own that shares a name with a standard or taskpool type the attribute rejects
// (`JoinHandle`, `TaskHandle`, `BoxFuture`, `Rc`, `Cell`) is allowed behind `$crate::`, as it
// is behind `crate::` (p18): that path cannot name the standard one.

use taskpool::TaskPool;

pub mod kinds {
    use taskpool::sendable;

    /// A handle of the user's own: plain data.
    #[sendable]
    #[derive(Debug, PartialEq)]
    pub struct JoinHandle(pub u32);

    /// Another one.
    #[sendable]
    #[derive(Debug, PartialEq)]
    pub struct TaskHandle(pub u32);

    /// A "future" of the user's own: a planned value, plain data.
    #[sendable]
    #[derive(Debug, PartialEq)]
    pub struct BoxFuture(pub u32);

    /// A reference count of the user's own.
    #[sendable]
    #[derive(Debug, PartialEq)]
    pub struct Rc(pub u32);

    /// A cell of the user's own.
    #[sendable]
    #[derive(Debug, PartialEq)]
    pub struct Cell(pub u32);
}

macro_rules! define_tasks {
    () => {
        #[::taskpool::concurrent]
        pub fn open(id: u32) -> $crate::kinds::JoinHandle {
            $crate::kinds::JoinHandle(id)
        }

        #[::taskpool::concurrent]
        pub async fn track(id: $crate::kinds::Rc) -> $crate::kinds::TaskHandle {
            $crate::kinds::TaskHandle(id.0)
        }

        #[::taskpool::concurrent]
        pub fn plan(
            cell: $crate::kinds::Cell,
        ) -> ::std::result::Result<$crate::kinds::BoxFuture, ::std::string::String> {
            Ok($crate::kinds::BoxFuture(cell.0))
        }
    };
}

define_tasks!();

fn main() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    assert_eq!(pool.run(open, (1,)).wait().unwrap(), kinds::JoinHandle(1));
    assert_eq!(pool.run(track, (kinds::Rc(2),)).wait().unwrap(), kinds::TaskHandle(2));
    assert_eq!(pool.run(plan, (kinds::Cell(3),)).wait().unwrap(), kinds::BoxFuture(3));
}
