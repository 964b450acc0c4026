//! `#[concurrent]`: the attribute that turns a free function into a task function of `taskpool`.
//!
//! Use it through the `taskpool` crate (`taskpool::concurrent`); this crate only hosts the macro.
//! The macro works in three steps, each in its own module:
//!
//! 1. [`parse`] reads the item and makes sure it is a function at all;
//! 2. [`validate`] applies the compile-time rules and collects *every* violation;
//! 3. [`expand`] generates the task machinery.
//!
//! When a rule is broken, the original function is emitted unchanged next to the errors, so the
//! rest of the crate still type-checks and IDEs keep working.

use proc_macro::TokenStream;

mod expand;
mod parse;
mod types;
mod validate;

/// Marks a free function as a task function. See `taskpool::concurrent` for the documentation.
#[proc_macro_attribute]
pub fn concurrent(attr: TokenStream, item: TokenStream) -> TokenStream {
    let attr = proc_macro2::TokenStream::from(attr);
    let item = proc_macro2::TokenStream::from(item);
    let function = match parse::parse(attr, item.clone()) {
        Ok(function) => function,
        Err(error) => return with_errors(item, error),
    };
    if let Err(error) = validate::validate(&function) {
        return with_errors(item, error);
    }
    expand::expand(&function).into()
}

/// The original item, untouched, followed by the errors as `compile_error!`s.
fn with_errors(item: proc_macro2::TokenStream, error: syn::Error) -> TokenStream {
    let mut out = item;
    out.extend(error.to_compile_error());
    out.into()
}
