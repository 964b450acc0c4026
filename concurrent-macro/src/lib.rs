//! `#[concurrent]`: the attribute that turns a free function into a task function of `taskpool`.
//!
//! Use it through the `taskpool` crate (`taskpool::concurrent`); this crate only hosts the macro.
//! The macro works in three steps, each in its own module:
//!
//! 1. `parse` reads the item and makes sure it is a function at all;
//! 2. `validate` applies the compile-time rules and collects *every* violation;
//! 3. `expand` generates the task machinery.
//!
//! When a rule is broken, the original function is emitted unchanged next to the errors, so the
//! rest of the crate still type-checks and IDEs keep working. Errors that are not the function's
//! own (arguments to the attribute, the attribute written twice) are reported next to the full
//! expansion of a valid function.

use proc_macro::TokenStream;
use quote::ToTokens;

mod expand;
mod parse;
mod types;
mod validate;

/// Marks a free function (`fn` or `async fn`) as a task function of `taskpool`.
///
/// The function stays callable as before, and gains a name the pool can run:
///
/// ```
/// use taskpool::{concurrent, Task};
///
/// #[concurrent]
/// fn add(a: i32, b: i32) -> i32 {
///     a + b
/// }
///
/// assert_eq!(add(1, 2), 3);              // still an ordinary call
/// let task: Task<i32> = add::task(1, 2); // same as Task::new(add, (1, 2))
/// ```
///
/// Parameters and the result must be owned values that can cross threads (serializable, or
/// `#[sendable]` in a `Shared<T>`). Methods, generics, borrowed data, `Rc`/`Cell`, closures,
/// returned futures or handles, `const`, `unsafe` and `#[target_feature]` functions, foreign ABIs
/// (`extern "C"`; `extern "Rust"` is a plain `fn`), `thread_local!` and `static mut` are
/// rejected at compile time, each with
/// its own message. The error type of a returned `Result` is not task data: it only has to be
/// able to fail the task. A function returning a
/// `Result<T, E>`, spelled directly or through any alias (`io::Result<T>`,
/// `type BankResult<T> = Result<T, BankError>`), yields `T` and fails the task with the `E`,
/// which must be a `std::error::Error + Send + Sync` (or a `String`). An `async fn` is awaited
/// by the pool; its future must be `Send`, and calling it directly returns a boxed future.
///
/// The attribute makes the function's name a unit value of the module (that is what
/// `add::task` and `Task::new(add, ..)` name), so no binding inside the function may reuse the
/// name, the function cannot take a name the struct would hide in the module (a primitive or
/// prelude type such as `u8` or `String`, or the crates `std`, `core` and `taskpool`), and names
/// starting with `__taskpool` or `__concurrent_` are reserved for the expansion.
#[proc_macro_attribute]
pub fn concurrent(attr: TokenStream, item: TokenStream) -> TokenStream {
    let attr = proc_macro2::TokenStream::from(attr);
    let item = proc_macro2::TokenStream::from(item);
    // Errors are collected and emitted together, each at its own span (as serde_derive and
    // thiserror do). Only the item's own violations stop its expansion: misused attribute
    // arguments do not, so a valid function still gets its task machinery and its uses compile.
    let mut errors = types::Errors::default();
    parse::check_arguments(&attr, &mut errors);
    let Some(function) = parse::parse(item.clone(), &mut errors) else {
        return errors.emit_after(item).into();
    };
    let tokens = match validate::validate(&function) {
        Ok(()) => expand::expand(&function),
        Err(violations) => {
            errors.add(violations);
            function.item.to_token_stream()
        }
    };
    errors.emit_after(tokens).into()
}
