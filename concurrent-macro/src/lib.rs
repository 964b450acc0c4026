//! `#[concurrent]`: see the `taskpool` crate.
use proc_macro::TokenStream;

/// Marks a free function as a task function. See the `taskpool` crate.
#[proc_macro_attribute]
pub fn concurrent(_attr: TokenStream, item: TokenStream) -> TokenStream {
    item
}
