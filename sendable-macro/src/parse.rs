//! Step 1: read the annotated item; only structs and enums go on.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{DeriveInput, Item};

/// A struct or enum that `#[sendable]` will check and expand.
pub struct SendableData {
    /// The type as written.
    pub input: DeriveInput,
}

/// Parses the (empty) attribute arguments and the item.
pub fn parse(attr: TokenStream, item: TokenStream) -> syn::Result<SendableData> {
    let mut errors: Option<syn::Error> = None;
    if !attr.is_empty() {
        errors = Some(syn::Error::new_spanned(
            &attr,
            "`#[sendable]` takes no arguments; write `#[sendable]` alone",
        ));
    }
    let result = match syn::parse2::<Item>(item) {
        Ok(Item::Struct(item)) => Ok(SendableData { input: item.into() }),
        Ok(Item::Enum(item)) => Ok(SendableData { input: item.into() }),
        Ok(other) => Err(not_data(&other)),
        Err(error) => Err(syn::Error::new(
            error.span(),
            "`#[sendable]` applies only to a struct or an enum",
        )),
    };
    match (result, errors) {
        (Ok(data), None) => Ok(data),
        (Ok(_), Some(errors)) => Err(errors),
        (Err(error), None) => Err(error),
        (Err(error), Some(mut errors)) => {
            errors.combine(error);
            Err(errors)
        }
    }
}

fn not_data(item: &Item) -> syn::Error {
    let (what, tokens): (&str, TokenStream) = match item {
        Item::Union(i) => {
            let (keyword, name) = (&i.union_token, &i.ident);
            (
                "a union (its fields overlap, so it cannot be shared or serialized safely)",
                quote!(#keyword #name),
            )
        }
        Item::Fn(i) => {
            let (keyword, name) = (&i.sig.fn_token, &i.sig.ident);
            (
                "a function (to run a function as a task, use `#[concurrent]`)",
                quote!(#keyword #name),
            )
        }
        Item::Impl(i) => {
            let (keyword, ty) = (&i.impl_token, &i.self_ty);
            ("an `impl` block", quote!(#keyword #ty))
        }
        Item::Trait(i) => {
            let (keyword, name) = (&i.trait_token, &i.ident);
            ("a trait", quote!(#keyword #name))
        }
        Item::Type(i) => {
            let (keyword, name) = (&i.type_token, &i.ident);
            (
                "a type alias (mark the type it names instead)",
                quote!(#keyword #name),
            )
        }
        Item::Const(i) => {
            let (keyword, name) = (&i.const_token, &i.ident);
            ("a constant", quote!(#keyword #name))
        }
        Item::Static(i) => {
            let (keyword, name) = (&i.static_token, &i.ident);
            ("a static", quote!(#keyword #name))
        }
        Item::Mod(i) => {
            let (keyword, name) = (&i.mod_token, &i.ident);
            ("a module", quote!(#keyword #name))
        }
        other => ("this item", other.to_token_stream()),
    };
    syn::Error::new_spanned(
        tokens,
        format!("`#[sendable]` applies only to structs and enums, not to {what}"),
    )
}
