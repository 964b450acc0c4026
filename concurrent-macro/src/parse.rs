//! Step 1: read the annotated item. Only a function with a body goes on to validation.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Item, ItemFn};

use crate::types::Errors;

/// A function that `#[concurrent]` will check and expand.
pub struct ConcurrentFn {
    /// The function as written.
    pub item: ItemFn,
}

/// Records an error for arguments given to the attribute (it takes none). They do not stop the
/// expansion: the function is still checked, and still expanded if it is valid.
pub fn check_arguments(attr: &TokenStream, errors: &mut Errors) {
    macro_support::check_no_arguments(attr, "concurrent", errors);
}

/// Parses the item: `None` (with the error recorded) if it is not a function.
///
/// A second `#[concurrent]` on the function is reported and removed, so the function is
/// expanded once: expanded twice, the hidden function would be checked again under its
/// generated name, and its uses would find no task. A `#[sendable]` below it is reported at
/// the attribute and removed too: run on the expansion, it would point at `#[concurrent]`.
pub fn parse(item: TokenStream, errors: &mut Errors) -> Option<ConcurrentFn> {
    match syn::parse2::<Item>(item) {
        Ok(Item::Fn(mut item)) => {
            let attribute = ("concurrent", "concurrent_macro");
            macro_support::remove_repeats(&mut item.attrs, attribute, "function", errors);
            macro_support::remove_reporting(
                &mut item.attrs,
                ("sendable", "sendable_macro"),
                "`#[sendable]` applies only to structs and enums, not to a function; `#[concurrent]` alone makes a function a task: remove `#[sendable]`",
                errors,
            );
            Some(ConcurrentFn { item })
        }
        Ok(other) => {
            errors.add(not_a_function(&other));
            None
        }
        Err(error) => {
            errors.add(syn::Error::new(
                error.span(),
                "`#[concurrent]` applies only to a free `fn` or `async fn` item with a body",
            ));
            None
        }
    }
}

/// The error for an item that is not a function, spanned at its keyword and name.
fn not_a_function(item: &Item) -> syn::Error {
    if let Some(declared) = bodyless_function(item) {
        let (keyword, name) = (&declared.sig.fn_token, &declared.sig.ident);
        return syn::Error::new_spanned(
            head(keyword, name),
            "a `#[concurrent]` function needs a body: the pool calls it as a Rust function; write the body `{ .. }` in place of the `;` (to run a foreign function, call it from a `#[concurrent]` function's body)",
        );
    }
    let (what, tokens): (&str, TokenStream) = match item {
        Item::Struct(i) => ("a struct", head(&i.struct_token, &i.ident)),
        Item::Enum(i) => ("an enum", head(&i.enum_token, &i.ident)),
        Item::Union(i) => ("a union", head(&i.union_token, &i.ident)),
        Item::Impl(i) => ("an `impl` block", head(&i.impl_token, &i.self_ty)),
        Item::Trait(i) => ("a trait", head(&i.trait_token, &i.ident)),
        Item::Const(i) => ("a constant", head(&i.const_token, &i.ident)),
        Item::Static(i) => ("a static", head(&i.static_token, &i.ident)),
        Item::Type(i) => ("a type alias", head(&i.type_token, &i.ident)),
        Item::Mod(i) => ("a module", head(&i.mod_token, &i.ident)),
        Item::Use(i) => ("a `use` declaration", i.use_token.to_token_stream()),
        Item::Macro(i) => ("a macro", i.mac.path.to_token_stream()),
        Item::ForeignMod(i) => ("an `extern` block", i.abi.to_token_stream()),
        other => ("this item", other.to_token_stream()),
    };
    let tokens = if tokens.is_empty() {
        item.to_token_stream()
    } else {
        tokens
    };
    syn::Error::new_spanned(
        tokens,
        format!(
            "`#[concurrent]` applies only to free functions, not to {what}; put it on a `fn` or `async fn` item"
        ),
    )
}

fn head(keyword: &impl ToTokens, name: &impl ToTokens) -> TokenStream {
    let mut tokens = keyword.to_token_stream();
    name.to_tokens(&mut tokens);
    tokens
}

/// A function declared without a body (`fn name(..) -> T;`), which `syn` reads as a verbatim item.
fn bodyless_function(item: &Item) -> Option<syn::ForeignItemFn> {
    match item {
        Item::Verbatim(tokens) => syn::parse2::<syn::ForeignItemFn>(tokens.clone()).ok(),
        _ => None,
    }
}
