//! `#[sendable]`: the attribute that makes a struct or enum shareable between threads by
//! reference in `taskpool` (ArkTS `@Sendable`).
//!
//! Use it through the `taskpool` crate (`taskpool::sendable`). Like `#[concurrent]` it works in
//! three steps: `parse` (a struct or enum), `validate` (every rule, every violation
//! collected) and `expand` (serde derives through `taskpool`'s re-export, the `Sendable`
//! marker, and a type-level check of every field). When the type breaks a rule it is emitted
//! unchanged next to the errors; errors that are not the type's own (arguments to the attribute,
//! the attribute written twice) are reported next to the full expansion of a valid type.

use proc_macro::TokenStream;

mod expand;
mod parse;
mod validate;

/// Marks a struct or enum as sendable: shared between threads by reference (ArkTS `@Sendable`).
///
/// ```
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
#[proc_macro_attribute]
pub fn sendable(attr: TokenStream, item: TokenStream) -> TokenStream {
    let attr = proc_macro2::TokenStream::from(attr);
    let item = proc_macro2::TokenStream::from(item);
    // Errors are collected and emitted together, each at its own span. Only the type's own
    // violations stop its expansion: misused attribute arguments do not, so a valid type is
    // still sendable and its uses compile.
    let mut errors = macro_support::Errors::default();
    parse::check_arguments(&attr, &mut errors);
    let Some(data) = parse::parse(item.clone(), &mut errors) else {
        return errors.emit_after(item).into();
    };
    let tokens = match validate::validate(&data) {
        Ok(()) => expand::expand(&data),
        Err(violations) => {
            errors.add(violations);
            data.refused_item()
        }
    };
    errors.emit_after(tokens).into()
}
