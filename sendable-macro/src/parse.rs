//! Step 1: read the annotated item; only structs and enums go on.

use macro_support::Errors;
use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{Attribute, Data, DeriveInput, Fields, Item, Token, Type};

/// A struct or enum that `#[sendable]` will check and expand.
pub struct SendableData {
    /// The type as written (without a repeated `#[sendable]`).
    pub input: DeriveInput,
}

/// Records an error for arguments given to the attribute (it takes none). They do not stop the
/// expansion: the type is still checked, and still expanded if it is valid.
pub fn check_arguments(attr: &TokenStream, errors: &mut Errors) {
    macro_support::check_no_arguments(attr, "sendable", errors);
}

/// Parses the item: `None` (with the error recorded) if it is not a struct or an enum.
///
/// A second `#[sendable]` on the type is reported and removed, so the type is expanded once
/// (twice, its serde and `Sendable` impls would conflict).
pub fn parse(item: TokenStream, errors: &mut Errors) -> Option<SendableData> {
    let mut item = match syn::parse2::<Item>(item) {
        Ok(item @ (Item::Struct(_) | Item::Enum(_))) => item,
        Ok(other) => {
            errors.add(not_data(&other));
            return None;
        }
        Err(error) => {
            errors.add(syn::Error::new(
                error.span(),
                "`#[sendable]` applies only to a struct or an enum",
            ));
            return None;
        }
    };
    let attrs = match &mut item {
        Item::Struct(item) => &mut item.attrs,
        Item::Enum(item) => &mut item.attrs,
        _ => unreachable!("only structs and enums get here"),
    };
    macro_support::remove_repeats(attrs, ("sendable", "sendable_macro"), "type", errors);
    let input = match item {
        Item::Struct(item) => item.into(),
        Item::Enum(item) => item.into(),
        _ => unreachable!("only structs and enums get here"),
    };
    Some(SendableData { input })
}

impl SendableData {
    /// The type as it is emitted when it breaks a rule (built only then).
    pub fn refused_item(&self) -> TokenStream {
        without_serde_helpers(&self.input).to_token_stream()
    }
}

/// The type as it is emitted when it breaks a rule: without the expansion's serde derives, so
/// without the `#[serde(..)]` attributes only they read (else each would be one more error,
/// "cannot find attribute `serde`") — unless the user derives serde on it as well.
fn without_serde_helpers(input: &DeriveInput) -> DeriveInput {
    let mut input = input.clone();
    let derives_serde = input.attrs.iter().any(|attr| {
        attr.path().is_ident("derive") && {
            let text = attr.meta.to_token_stream().to_string();
            text.contains("Serialize") || text.contains("Deserialize")
        }
    });
    if derives_serde {
        return input;
    }
    strip_serde(&mut input.attrs);
    match &mut input.data {
        Data::Struct(data) => data
            .fields
            .iter_mut()
            .for_each(|f| strip_serde(&mut f.attrs)),
        Data::Enum(data) => {
            for variant in &mut data.variants {
                strip_serde(&mut variant.attrs);
                variant
                    .fields
                    .iter_mut()
                    .for_each(|f| strip_serde(&mut f.attrs));
            }
        }
        Data::Union(_) => {}
    }
    input
}

fn strip_serde(attrs: &mut Vec<Attribute>) {
    attrs.retain(|attr| !attr.path().is_ident("serde"));
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
        Item::Fn(i) => function(&i.sig),
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
        // A function declared without a body (`fn name(..) -> T;`) is a verbatim item to `syn`.
        Item::Verbatim(tokens) => match syn::parse2::<syn::ForeignItemFn>(tokens.clone()) {
            Ok(declared) => function(&declared.sig),
            Err(_) => ("this item", tokens.clone()),
        },
        other => ("this item", other.to_token_stream()),
    };
    syn::Error::new_spanned(
        tokens,
        format!("`#[sendable]` applies only to structs and enums, not to {what}"),
    )
}

fn function(sig: &syn::Signature) -> (&'static str, TokenStream) {
    let (keyword, name) = (&sig.fn_token, &sig.ident);
    (
        "a function (to run a function as a task, use `#[concurrent]`)",
        quote!(#keyword #name),
    )
}

/// One field of the type (of any variant, for an enum) and what serde does with it.
pub struct Field<'a> {
    /// The field's type as written.
    pub ty: &'a Type,
    /// The directions serde skips it in.
    pub skip: SerdeSkip,
    /// The `#[cfg]` attributes of its variant and its own (a `cfg` inside a `cfg_attr`
    /// included): the field may not exist in this build, nor its type.
    pub cfgs: Vec<Attribute>,
    /// A skip inside a `#[cfg_attr(predicate, serde(..))]`: the directions serde skips besides
    /// [`skip`](Field::skip) when `predicate` holds, which only the compiler can tell.
    pub conditional: Option<(syn::Meta, SerdeSkip)>,
}

/// Which directions serde handles a field in without the field type's own impl: it leaves the
/// field out (`#[serde(skip)]`, `skip_serializing`, `skip_deserializing`, on the field or on its
/// enum variant) or calls the user's functions (`with`, `serialize_with`, `deserialize_with`).
/// Such a direction needs no serde impl of the field's type, so the expansion neither bounds
/// nor asserts it.
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
                // A `with` function stands in for the type's own impl, as a skip does: a type
                // with no serde impl (a foreign one) is fine there.
                if meta.path.is_ident("skip") || meta.path.is_ident("with") {
                    skip.serialize = true;
                    skip.deserialize = true;
                } else if meta.path.is_ident("skip_serializing")
                    || meta.path.is_ident("serialize_with")
                {
                    skip.serialize = true;
                } else if meta.path.is_ident("skip_deserializing")
                    || meta.path.is_ident("deserialize_with")
                {
                    skip.deserialize = true;
                }
                skip_value(&meta)
            });
        }
        skip
    }

    /// Skipped in either direction as well as by `other`.
    pub fn or(self, other: SerdeSkip) -> SerdeSkip {
        SerdeSkip {
            serialize: self.serialize || other.serialize,
            deserialize: self.deserialize || other.deserialize,
        }
    }
}

/// Every field of a struct or of all variants of an enum, with what serde does with each.
pub fn fields(input: &DeriveInput) -> Vec<Field<'_>> {
    let container = container_skip(&input.attrs);
    let mut fields = data_fields(&input.data);
    for field in &mut fields {
        field.skip = field.skip.or(container);
    }
    fields
}

/// The directions a container attribute takes away from the fields: `#[serde(into = "..")]`
/// serializes the type through another one, `from` / `try_from` deserializes it from another,
/// so its fields need no serde impl there.
fn container_skip(attrs: &[Attribute]) -> SerdeSkip {
    let mut skip = SerdeSkip::default();
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("serde")) {
        // Only the names matter here; serde reports malformed attributes itself.
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("into") {
                skip.serialize = true;
            } else if meta.path.is_ident("from") || meta.path.is_ident("try_from") {
                skip.deserialize = true;
            }
            skip_value(&meta)
        });
    }
    skip
}

/// Every field of a struct or of all variants of an enum, as the field attributes treat it.
fn data_fields(data: &Data) -> Vec<Field<'_>> {
    fn of<'a>(
        fields: &'a Fields,
        outer: SerdeSkip,
        outer_cfgs: &'a [Attribute],
    ) -> impl Iterator<Item = Field<'a>> {
        fields.iter().map(move |field| {
            let (inner_cfgs, conditional) = cfg_attrs(&field.attrs);
            Field {
                ty: &field.ty,
                skip: outer.or(SerdeSkip::of(&field.attrs)),
                cfgs: cfgs(outer_cfgs)
                    .chain(cfgs(&field.attrs))
                    .cloned()
                    .chain(inner_cfgs)
                    .collect(),
                conditional,
            }
        })
    }
    match data {
        Data::Struct(data) => of(&data.fields, SerdeSkip::default(), &[]).collect(),
        Data::Enum(data) => data
            .variants
            .iter()
            .flat_map(|variant| {
                of(
                    &variant.fields,
                    SerdeSkip::of(&variant.attrs),
                    &variant.attrs,
                )
            })
            .collect(),
        Data::Union(data) => data
            .fields
            .named
            .iter()
            .map(|field| Field {
                ty: &field.ty,
                skip: SerdeSkip::default(),
                cfgs: cfgs(&field.attrs).cloned().collect(),
                conditional: None,
            })
            .collect(),
    }
}

fn cfgs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|attr| attr.path().is_ident("cfg"))
}

/// What a field's `#[cfg_attr(predicate, ..)]` attributes hold that the checks must see before
/// the compiler expands them: a `cfg(x)` makes the field exist only when `not(predicate)` or
/// `x` (returned as such a `cfg`), a `serde(..)` skip applies only when `predicate` holds (the
/// first such attribute is returned; another is left to serde, as if it did not skip).
fn cfg_attrs(attrs: &[Attribute]) -> (Vec<Attribute>, Option<(syn::Meta, SerdeSkip)>) {
    let mut field_cfgs = Vec::new();
    let mut conditional = None;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("cfg_attr")) {
        let parsed = attr.parse_args_with(|input: syn::parse::ParseStream<'_>| {
            let predicate: syn::Meta = input.parse()?;
            input.parse::<Token![,]>()?;
            let inner =
                syn::punctuated::Punctuated::<syn::Meta, Token![,]>::parse_terminated(input)?;
            Ok((predicate, inner))
        });
        // A malformed `cfg_attr` is the compiler's to report.
        let Ok((predicate, inner)) = parsed else {
            continue;
        };
        let inner: Vec<Attribute> = inner
            .iter()
            .map(|meta| syn::parse_quote!(#[#meta]))
            .collect();
        for cfg in cfgs(&inner) {
            if let syn::Meta::List(list) = &cfg.meta {
                let condition = &list.tokens;
                field_cfgs.push(syn::parse_quote!(#[cfg(any(not(#predicate), #condition))]));
            }
        }
        let skip = SerdeSkip::of(&inner);
        if conditional.is_none() && (skip.serialize || skip.deserialize) {
            conditional = Some((predicate, skip));
        }
    }
    (field_cfgs, conditional)
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
