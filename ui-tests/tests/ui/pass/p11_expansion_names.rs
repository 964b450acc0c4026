// A task function may be named like anything the expansions of `#[concurrent]` and `#[sendable]`
// use or used (and `#[sendable]` types like what theirs use): bindings (`f`, `args`, the generated parameter and local names), associated items
// (`task`, `invoke`, `copy_args`, `fmt`, `deref`), helper items and their methods, generic
// parameters (`T`, `E`, `R`), inventory's items. Each name gets its own module, because the
// attribute makes the name a unit struct of the module; each function is called directly, built
// into a task and invoked, so every part of its expansion is compiled.
#![allow(non_snake_case)]

use taskpool::{ConcurrentFunction, Invocation, Task};

/// Invokes a synchronous task function and returns its output.
fn run<F: ConcurrentFunction>(args: F::Args) -> F::Output {
    match F::invoke(args) {
        Invocation::Ready(Ok(output)) => output,
        Invocation::Ready(Err(error)) => panic!("{error}"),
        Invocation::Pending(_) => panic!("not a synchronous function"),
    }
}

/// Declares `#[concurrent] fn $name(x: i32) -> i32` in module `$module`, proves it works.
macro_rules! plain {
    ($($module:ident :: $name:ident),* $(,)?) => {$(
        mod $module {
            use taskpool::concurrent;

            #[concurrent]
            pub fn $name(x: i32) -> i32 {
                x + 1
            }
        }
    )*};
}

plain!(
    m_args::args,
    m_arg0::arg0,
    m_arg1::arg1,
    m_u_arg0::__arg0,
    m_u_arg1::__arg1,
    m_task::task,
    m_invoke::invoke,
    m_copy_args::copy_args,
    m_fmt::fmt,
    m_deref::deref,
    m_store::store,
    m_take::take,
    m_settle::settle,
    m_given::given,
    m_stored::stored,
    m_returned::returned,
    m_fail::fail,
    m_error::error,
    m_into_task_error::into_task_error,
    m_formatter::formatter,
    m_value::value,
    m_output::output,
    m_function::__FUNCTION,
    m_check::__check,
    m_assert::__assert_transferable,
    m_assert_arg::__assert_owned_argument,
    m_assert_result::__assert_owned_result,
    m_ctor::__ctor,
    m_inventory::__INVENTORY,
    m_kind::KIND,
    m_borrowed::BORROWED,
    m_t::T,
    m_e::E,
    m_r::R,
    m_args_type::Args,
    m_output_type::Output,
);

/// Written out in full: `fn f`, the most common first spelling, with every kind of parameter and
/// return, and an `async` twin.
mod m_f {
    use taskpool::concurrent;

    #[derive(Debug)]
    pub struct Overdrawn;

    impl std::fmt::Display for Overdrawn {
        fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            formatter.write_str("overdrawn")
        }
    }

    impl std::error::Error for Overdrawn {}

    #[concurrent]
    pub fn f(value: i64, (a, b): (i64, i64), _: u8) -> Result<i64, Overdrawn> {
        let total = value + a + b;
        if total < 0 { Err(Overdrawn) } else { Ok(total) }
    }
}

mod m_f_async {
    use taskpool::concurrent;

    #[concurrent]
    pub async fn f(args: Vec<u8>, (x, y): (u8, u8)) -> usize {
        args.len() + usize::from(x) + usize::from(y)
    }
}

/// A raw identifier names the function `match`.
mod m_raw {
    use taskpool::concurrent;

    #[concurrent]
    pub fn r#match(r#type: u8) -> u8 {
        r#type
    }
}

/// User types named like the helpers' generic parameters and the trait's associated types.
mod m_types {
    use taskpool::{concurrent, sendable};

    #[sendable]
    pub struct T(pub i32);
    #[sendable]
    pub struct E(pub i32);
    #[sendable]
    pub struct R(pub i32);
    #[sendable]
    pub struct Args(pub i32);
    #[sendable]
    pub struct Output(pub i32);

    #[concurrent]
    pub fn combine(t: T, e: E, r: R, args: Args) -> Output {
        Output(t.0 + e.0 + r.0 + args.0)
    }
}

/// `#[sendable]` adds no name to the module; its types may be named like the bindings and
/// generic parameters of its expansion (and of the serde derives it emits).
#[allow(non_camel_case_types)]
mod m_sendable {
    use taskpool::sendable;

    #[sendable]
    pub struct value;
    #[sendable]
    pub struct formatter;
    #[sendable]
    pub struct serializer(pub u8);
    #[sendable]
    pub struct deserializer {
        pub field: u8,
    }
    #[sendable]
    pub enum visitor {
        A,
        B(u8),
    }
    #[sendable]
    pub struct de<T> {
        pub inner: T,
    }
    #[sendable]
    pub struct Holder {
        pub value: value,
        pub formatter: formatter,
        pub serializer: serializer,
        pub deserializer: deserializer,
        pub visitor: visitor,
        pub de: de<u8>,
    }
}

fn main() {
    macro_rules! check_plain {
        ($($module:ident :: $name:ident),* $(,)?) => {$(
            assert_eq!($module::$name(1), 2);
            let _task: Task<i32> = $module::$name::task(1);
            assert_eq!(run::<$module::$name>((1,)), 2);
            assert!(format!("{:?}", $module::$name).ends_with(stringify!($name)));
        )*};
    }
    check_plain!(
        m_args::args,
        m_arg0::arg0,
        m_arg1::arg1,
        m_u_arg0::__arg0,
        m_u_arg1::__arg1,
        m_task::task,
        m_invoke::invoke,
        m_copy_args::copy_args,
        m_fmt::fmt,
        m_deref::deref,
        m_store::store,
        m_take::take,
        m_settle::settle,
        m_given::given,
        m_stored::stored,
        m_returned::returned,
        m_fail::fail,
        m_error::error,
        m_into_task_error::into_task_error,
        m_formatter::formatter,
        m_value::value,
        m_output::output,
        m_function::__FUNCTION,
        m_check::__check,
        m_assert::__assert_transferable,
        m_assert_arg::__assert_owned_argument,
        m_assert_result::__assert_owned_result,
        m_ctor::__ctor,
        m_inventory::__INVENTORY,
        m_kind::KIND,
        m_borrowed::BORROWED,
        m_t::T,
        m_e::E,
        m_r::R,
        m_args_type::Args,
        m_output_type::Output,
    );

    assert_eq!(m_f::f(1, (2, 3), 0).unwrap(), 6);
    let _task: Task<i64> = m_f::f::task(1, (2, 3), 0);
    assert_eq!(run::<m_f::f>((1, (2, 3), 0)), 6);
    assert!(matches!(
        m_f::f::invoke((-9, (2, 3), 0)),
        Invocation::Ready(Err(_))
    ));
    assert_eq!(format!("{:?}", m_f::f), "#[concurrent] fn f");
    assert!(<m_f::f as ConcurrentFunction>::NAME.ends_with("::m_f::f"));

    let _task: Task<usize> = m_f_async::f::task(vec![1], (2, 3));
    assert!(matches!(
        m_f_async::f::invoke((vec![1], (2, 3))),
        Invocation::Pending(_)
    ));
    drop(m_f_async::f(vec![], (0, 0)));

    assert_eq!(m_raw::r#match(4), 4);
    let _task: Task<u8> = m_raw::r#match::task(4);
    assert_eq!(run::<m_raw::r#match>((4,)), 4);
    assert!(<m_raw::r#match as ConcurrentFunction>::NAME.ends_with("::m_raw::match"));

    fn assert_sendable<S: taskpool::Sendable>() {}
    assert_sendable::<m_sendable::Holder>();
    assert_sendable::<m_sendable::de<m_sendable::visitor>>();

    use m_types::{Args, E, Output, R, T};
    let _task: Task<Output> = m_types::combine::task(T(1), E(2), R(3), Args(4));
    assert_eq!(run::<m_types::combine>((T(1), E(2), R(3), Args(4))).0, 10);
}
