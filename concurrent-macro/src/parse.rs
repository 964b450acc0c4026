//! Step 1: read the annotated item. Only a function with a body goes on to validation.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Item, ItemFn};

/// A function that `#[concurrent]` will check and expand.
pub struct ConcurrentFn {
    /// The function as written.
    pub item: ItemFn,
}

/// Parses the attribute arguments (there are none) and the item.
pub fn parse(attr: TokenStream, item: TokenStream) -> syn::Result<ConcurrentFn> {
    let mut errors: Option<syn::Error> = None;
    if !attr.is_empty() {
        errors = Some(syn::Error::new_spanned(
            &attr,
            "`#[concurrent]` takes no arguments; write `#[concurrent]` alone",
        ));
    }
    let parsed = match syn::parse2::<Item>(item) {
        Ok(Item::Fn(item)) => Ok(ConcurrentFn { item }),
        Ok(other) => Err(not_a_function(&other)),
        Err(error) => Err(syn::Error::new(
            error.span(),
            "`#[concurrent]` applies only to a free `fn` or `async fn` item with a body",
        )),
    };
    match (parsed, errors) {
        (Ok(function), None) => Ok(function),
        (Ok(_), Some(errors)) => Err(errors),
        (Err(error), None) => Err(error),
        (Err(error), Some(mut errors)) => {
            errors.combine(error);
            Err(errors)
        }
    }
}

/// The error for an item that is not a function, spanned at its keyword and name.
fn not_a_function(item: &Item) -> syn::Error {
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
