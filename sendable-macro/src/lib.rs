//! `#[sendable]`: the attribute that makes a struct or enum shareable between threads by
//! reference in `taskpool` (ArkTS `@Sendable`).
//!
//! Use it through the `taskpool` crate (`taskpool::sendable`). Like `#[concurrent]` it works in
//! three steps: `parse` (a struct or enum), `validate` (every rule, every violation
//! collected) and `expand` (serde derives through `taskpool`'s re-export, the `Sendable`
//! marker, and a type-level check of every field). On errors the item is emitted unchanged next
//! to them.

use proc_macro::TokenStream;

mod expand;
mod parse;
mod validate;

/// Marks a struct or enum as sendable: shared between threads by reference (ArkTS `@Sendable`).
///
/// ```ignore
/// use std::sync::atomic::AtomicU64;
/// use taskpool::{sendable, AsyncLock, Shared};
///
/// #[sendable]
/// pub struct Stats {
///     pub hits: AtomicU64,
///     pub names: AsyncLock<Vec<String>>,
/// }
///
/// let stats = Shared::new(Stats { hits: AtomicU64::new(0), names: AsyncLock::new(vec![]) });
/// ```
///
/// The attribute derives `Serialize`/`Deserialize` through `taskpool` (no serde dependency needed)
/// and implements `taskpool::Sendable`. Generic parameters are bounded automatically. It rejects
/// other items, lifetime parameters, references and raw pointers, `Rc`/`Weak`/`Cell`/`RefCell`/
/// `UnsafeCell`, closures, function pointers and trait objects, and (at the type level) any field
/// that is not serializable and `Send + Sync`.
///
/// (These examples are compiled by the `taskpool` crate's own tests.)
#[proc_macro_attribute]
pub fn sendable(attr: TokenStream, item: TokenStream) -> TokenStream {
    let attr = proc_macro2::TokenStream::from(attr);
    let item = proc_macro2::TokenStream::from(item);
    let data = match parse::parse(attr, item.clone()) {
        Ok(data) => data,
        Err(error) => return with_errors(item, error),
    };
    if let Err(error) = validate::validate(&data) {
        return with_errors(item, error);
    }
    expand::expand(&data).into()
}

fn with_errors(item: proc_macro2::TokenStream, error: syn::Error) -> TokenStream {
    let mut out = item;
    out.extend(error.to_compile_error());
    out.into()
}
