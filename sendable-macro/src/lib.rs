//! `#[sendable]`: see the `taskpool` crate.
use proc_macro::TokenStream;

/// Marks a data type as shareable across threads. See the `taskpool` crate.
#[proc_macro_attribute]
pub fn sendable(_attr: TokenStream, item: TokenStream) -> TokenStream {
    item
}
