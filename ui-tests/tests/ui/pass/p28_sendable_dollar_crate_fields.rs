// A `macro_rules!` that defines `#[sendable]` types names its crate's types as `$crate::..`, as
// exported macros must. The expansion bounds the serde impls on the field types through a
// string, where `$crate` cannot be written: such fields are bounded through the type parameters
// they mention instead, and the types are serializable and sendable like any other.

use taskpool::{Shared, TaskDescriptor, TaskPool, concurrent};

pub mod parts {
    /// A part the macro's types hold.
    #[taskpool::sendable]
    #[derive(Debug, Clone, PartialEq)]
    pub struct Part(pub u32);

    /// A generic part.
    #[taskpool::sendable]
    #[derive(Debug, Clone, PartialEq)]
    pub struct Wrap<T>(pub T);
}

#[macro_export]
macro_rules! define_holders {
    ($holder:ident, $generic:ident, $choice:ident) => {
        #[::taskpool::sendable]
        #[derive(Debug, Clone, PartialEq)]
        pub struct $holder {
            pub part: $crate::parts::Part,
            pub parts: ::std::vec::Vec<$crate::parts::Part>,
        }

        #[::taskpool::sendable]
        #[derive(Debug, Clone, PartialEq)]
        pub struct $generic<T> {
            pub wrapped: $crate::parts::Wrap<T>,
            pub plain: T,
        }

        #[::taskpool::sendable]
        #[derive(Debug, Clone, PartialEq)]
        pub enum $choice {
            One($crate::parts::Part),
            Many { parts: ::std::vec::Vec<$crate::parts::Wrap<u8>> },
        }
    };
}

define_holders!(Holder, GenericHolder, Choice);

#[concurrent]
fn total(holder: Holder, generic: GenericHolder<u32>, choice: Shared<Choice>) -> u32 {
    let choice = match &*choice {
        Choice::One(part) => part.0,
        Choice::Many { parts } => parts.len() as u32,
    };
    holder.part.0 + holder.parts.len() as u32 + generic.wrapped.0 + generic.plain + choice
}

fn main() {
    let holder = Holder { part: parts::Part(1), parts: vec![parts::Part(2)] };
    let generic = GenericHolder { wrapped: parts::Wrap(3u32), plain: 4 };
    let choice = Shared::new(Choice::One(parts::Part(5)));

    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let args = (holder.clone(), generic.clone(), choice.clone());
    assert_eq!(pool.run(total, args).wait().unwrap(), 1 + 1 + 3 + 4 + 5);

    let descriptor = total::task(holder, generic, choice).descriptor().unwrap();
    let decoded = TaskDescriptor::from_bytes(&descriptor.to_bytes().unwrap()).unwrap();
    assert_eq!(decoded.to_json().unwrap(), descriptor.to_json().unwrap());
    let many = Shared::new(Choice::Many { parts: vec![parts::Wrap(1)] });
    assert!(matches!(&*many, Choice::Many { parts } if parts.len() == 1));
}
