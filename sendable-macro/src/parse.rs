//! Step 1: read the annotated item; only structs and enums go on.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{Attribute, Data, DeriveInput, Fields, Item, Token, Type};

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

/// One field of the type (of any variant, for an enum) and what serde does with it.
pub struct Field<'a> {
    /// The field's type as written.
    pub ty: &'a Type,
    /// The directions serde skips it in.
    pub skip: SerdeSkip,
}

/// Which directions serde leaves a field out of: `#[serde(skip)]`, `skip_serializing` or
/// `skip_deserializing` on the field or on its enum variant. A skipped direction needs no serde
/// impl of the field's type, so the expansion neither bounds nor asserts it.
#[derive(Clone, Copy, Default)]
pub struct SerdeSkip {
    /// Never serialized.
    pub serialize: bool,
    /// Never deserialized (serde fills it with `Default` or the field's `default = ".."`).
    pub deserialize: bool,
}

impl SerdeSkip {
    fn of(attrs: &[Attribute]) -> SerdeSkip {
        let mut skip = SerdeSkip::default();
        for attr in attrs.iter().filter(|attr| attr.path().is_ident("serde")) {
            // Only the names matter here; serde reports malformed attributes itself.
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("skip") {
                    skip.serialize = true;
                    skip.deserialize = true;
                } else if meta.path.is_ident("skip_serializing") {
                    skip.serialize = true;
                } else if meta.path.is_ident("skip_deserializing") {
                    skip.deserialize = true;
                }
                skip_value(&meta)
            });
        }
        skip
    }

    fn or(self, other: SerdeSkip) -> SerdeSkip {
        SerdeSkip {
            serialize: self.serialize || other.serialize,
            deserialize: self.deserialize || other.deserialize,
        }
    }
}

/// Every field of a struct or of all variants of an enum.
pub fn fields(data: &Data) -> Vec<Field<'_>> {
    fn of(fields: &Fields, outer: SerdeSkip) -> impl Iterator<Item = Field<'_>> {
        fields.iter().map(move |field| Field {
            ty: &field.ty,
            skip: outer.or(SerdeSkip::of(&field.attrs)),
        })
    }
    match data {
        Data::Struct(data) => of(&data.fields, SerdeSkip::default()).collect(),
        Data::Enum(data) => data
            .variants
            .iter()
            .flat_map(|variant| of(&variant.fields, SerdeSkip::of(&variant.attrs)))
            .collect(),
        Data::Union(data) => data
            .fields
            .named
            .iter()
            .map(|field| Field {
                ty: &field.ty,
                skip: SerdeSkip::default(),
            })
            .collect(),
    }
}

/// Consumes `= value` or `(..)` after a nested meta's name, whatever it holds.
pub fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _content;
        syn::parenthesized!(_content in meta.input);
    }
    Ok(())
}
