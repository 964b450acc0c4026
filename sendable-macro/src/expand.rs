//! Step 3: the expansion of a valid `#[sendable]` type.
//!
//! For `#[sendable] pub struct Point<T> { x: T }` this emits the type with
//! `#[derive(Serialize, Deserialize)]` (through `taskpool`'s serde re-export, so users need no
//! serde dependency), `impl<T> taskpool::Sendable for Point<T> where T: Transferable + Sync`,
//! and a type-level assertion per field, spanned at the field's type, that the field is
//! serializable (in the directions serde does not skip) and thread-safe.
//!
//! The expansion adds no name to the user's module: its items live in an anonymous
//! `const _: () = { .. };` block and have the `__taskpool` prefix (the block also holds the
//! field types, which would find a block item first), the lifetime of the deferred bounds is
//! `'__taskpool`, and every path is fully qualified.

use proc_macro2::{Delimiter, Group, Ident, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::{self, Visit};
use syn::{GenericParam, Path, Token, Type, WherePredicate};

use crate::parse::{Field, SendableData, SerdeSkip, fields, skip_value};

/// Generates the derives, the marker impl and the field checks.
pub fn expand(data: &SendableData) -> TokenStream {
    let input = &data.input;
    let name = &input.ident;
    let fields = fields(input);
    let (derive_attrs, annotated) = derived(input, &fields);

    // Every type parameter must itself be sendable field material.
    let mut generics = input.generics.clone();
    bound_type_params(&mut generics);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    // The marker impl holds exactly when the type is transferable and `Sync` (checked at use).
    let mut marker_generics = generics.clone();
    marker_generics
        .make_where_clause()
        .predicates
        .push(syn::parse_quote! {
            for<'__taskpool> #name #ty_generics: ::taskpool::Transferable + ::core::marker::Sync
        });
    let marker_where = &marker_generics.where_clause;

    // The checks live in a free function, where `Self` means nothing: a field type that says
    // `Self` is checked with the type's own name instead.
    let self_type = quote!(#name #ty_generics);
    // The checks live in a free function, where `Self` means nothing: a `Self` the user wrote in
    // the type's bounds or `where` clause (`where Self: Sized`) names the type there instead.
    let check_generics = replace_self(impl_generics.to_token_stream(), &self_type);
    let check_where = replace_self(where_clause.to_token_stream(), &self_type);
    let field_checks = fields.iter().map(|field| field_check(field, &self_type));

    quote! {
        #derive_attrs
        #annotated

        // The type (or a field's type) may be `#[deprecated]`: rustc warns where the user wrote
        // it, and the expansion's own uses of it must not warn again, nor fail a
        // `#![deny(deprecated)]` crate that allowed it on the type.
        #[allow(deprecated)]
        impl #impl_generics ::taskpool::Sendable for #name #ty_generics #marker_where {}

        #[allow(deprecated)]
        const _: () = {
            fn __taskpool_assert_sendable_field<T: ::taskpool::__private::SendableField>() {}
            #[allow(dead_code)]
            fn __taskpool_assert_serialized_field<T: ::taskpool::__private::SerializedField>() {}
            #[allow(dead_code)]
            fn __taskpool_assert_deserialized_field<
                T: ::taskpool::__private::DeserializedField,
            >() {
            }
            #[allow(dead_code)]
            fn __taskpool_assert_skipped_field<T: ::taskpool::__private::SkippedField>() {}
            #[allow(dead_code)]
            fn __taskpool_check #check_generics () #check_where {
                #(#field_checks)*
            }
        };
    }
}

/// The serde derives the type lacks, with their `#[serde(..)]` container attribute, and the
/// type itself with its fields' bounds: `(derive attributes, annotated type)`.
fn derived(input: &syn::DeriveInput, fields: &[Field<'_>]) -> (TokenStream, syn::DeriveInput) {
    let (has_serialize, has_deserialize) = existing_serde_derives(input);
    // serde refuses a container attribute given twice: the user's `bound` and `crate` win.
    let given = given_serde_attributes(&input.attrs);
    let directions = Directions {
        serialize: !has_serialize && !given.serialize_bound,
        deserialize: !has_deserialize && !given.deserialize_bound,
    };
    let annotated = with_field_bounds(input, fields, directions);
    let mut derives = Vec::new();
    let mut bounds = Vec::new();
    if !has_serialize {
        derives.push(quote!(::taskpool::__private::serde::Serialize));
    }
    if !has_deserialize {
        derives.push(quote!(::taskpool::__private::serde::Deserialize));
    }
    // An empty container bound turns off serde's own inference: the field bounds are all.
    if directions.serialize {
        bounds.push(quote!(serialize = ""));
    }
    if directions.deserialize {
        bounds.push(quote!(deserialize = ""));
    }
    let mut serde_args = Vec::new();
    if !given.krate {
        serde_args.push(quote!(crate = "::taskpool::__private::serde"));
    }
    if !bounds.is_empty() {
        serde_args.push(quote!(bound(#(#bounds),*)));
    }
    let derive_attrs = match (derives.is_empty(), serde_args.is_empty()) {
        (true, _) => quote!(),
        (false, true) => quote!(#[derive(#(#derives),*)]),
        (false, false) => quote! {
            #[derive(#(#derives),*)]
            #[serde(#(#serde_args),*)]
        },
    };
    (derive_attrs, annotated)
}

/// Bounds every type parameter of `generics` by `Transferable + Sync`.
fn bound_type_params(generics: &mut syn::Generics) {
    let type_params: Vec<_> = generics
        .params
        .iter()
        .filter_map(|param| match param {
            GenericParam::Type(ty) => Some(ty.ident.clone()),
            _ => None,
        })
        .collect();
    let where_clause = generics.make_where_clause();
    for param in &type_params {
        let predicate: WherePredicate = syn::parse_quote! {
            #param: ::taskpool::Transferable + ::core::marker::Sync
        };
        where_clause.predicates.push(predicate);
    }
}

/// The assertion for one field, spanned at its type. A field serde skips only needs what serde
/// still does with it (`SendableField` and its one-way and skipped forms), so a cache or a
/// handle can sit beside the data.
fn field_check(field: &Field<'_>, self_type: &TokenStream) -> TokenStream {
    let ty = field.ty;
    let checked = replace_self(ty.to_token_stream(), self_type);
    let cfgs = &field.cfgs;
    let check = |skip: SerdeSkip, condition: TokenStream| {
        let assertion = match (skip.serialize, skip.deserialize) {
            (false, false) => quote!(__taskpool_assert_sendable_field),
            (false, true) => quote!(__taskpool_assert_serialized_field),
            (true, false) => quote!(__taskpool_assert_deserialized_field),
            (true, true) => quote!(__taskpool_assert_skipped_field),
        };
        quote_spanned! {ty.span()=>
            #(#cfgs)*
            #condition
            #assertion::<#checked>();
        }
    };
    match &field.conditional {
        None => check(field.skip, TokenStream::new()),
        // Checked as serde will treat it: skipped as well when the predicate holds.
        Some((predicate, extra)) => {
            let when = check(field.skip.or(*extra), quote!(#[cfg(#predicate)]));
            let otherwise = check(field.skip, quote!(#[cfg(not(#predicate))]));
            quote!(#when #otherwise)
        }
    }
}

/// The directions the expansion bounds the serde impls in: those it derives and the user gave no
/// container `bound` for.
#[derive(Clone, Copy)]
struct Directions {
    serialize: bool,
    deserialize: bool,
}

/// The type with a field-level `#[serde(bound(..))]` on each field, in the directions serde
/// handles the field in with the type's own impl.
///
/// The serde impls are bounded on the field types (under an unused `for<'__taskpool>`, so the
/// bounds are checked where the impls are used, not where they are defined). A field that is
/// not serializable then leaves the type without a serde impl instead of producing a cascade of
/// errors inside the derived code; the field check reports it once, at the field.
///
/// Each bound is the field's own attribute, a string serde parses and gives the span of the
/// literal, which is the field type's: a bound that does not resolve (a misspelt type) is
/// reported at the field, as rustc's own error is, not at `#[sendable]`. Being on the field, it
/// is also behind the field's `#[cfg]`, so a field compiled out bounds nothing. A field that
/// carries its own serde `bound` keeps it.
fn with_field_bounds(
    input: &syn::DeriveInput,
    fields: &[Field<'_>],
    directions: Directions,
) -> syn::DeriveInput {
    let mut annotated = input.clone();
    let type_params: Vec<&Ident> = input
        .generics
        .type_params()
        .map(|param| &param.ident)
        .collect();
    let serialize = "::taskpool::__private::serde::Serialize";
    let deserialize = "::taskpool::__private::serde::Deserialize<'de>";
    for (target, field) in fields_mut(&mut annotated.data).into_iter().zip(fields) {
        let own = given_serde_attributes(&target.attrs);
        if own.serialize_bound || own.deserialize_bound {
            continue;
        }
        let span = field.ty.span();
        let bounds = |skip: SerdeSkip| {
            let mut bounds = Vec::new();
            let wanted = [
                (
                    directions.serialize && !skip.serialize,
                    "serialize",
                    serialize,
                ),
                (
                    directions.deserialize && !skip.deserialize,
                    "deserialize",
                    deserialize,
                ),
            ];
            for (wanted, direction, trait_path) in wanted {
                if wanted {
                    let text = field_bound(field.ty, &input.ident, &type_params, trait_path);
                    let text = syn::LitStr::new(&text, span);
                    let direction = Ident::new(direction, span);
                    bounds.push(quote_spanned!(span=> #direction = #text));
                }
            }
            bounds
        };
        let always = bounds(field.skip);
        match &field.conditional {
            // Bounded as serde will treat it: in the directions it is not skipped, when the
            // predicate of a conditional skip holds and when it does not.
            Some((predicate, extra)) => {
                let when = bounds(field.skip.or(*extra));
                if !when.is_empty() {
                    target.attrs.push(syn::parse_quote_spanned!(span=>
                        #[cfg_attr(#predicate, serde(bound(#(#when),*)))]));
                }
                if !always.is_empty() {
                    target.attrs.push(syn::parse_quote_spanned!(span=>
                        #[cfg_attr(not(#predicate), serde(bound(#(#always),*)))]));
                }
            }
            None if !always.is_empty() => {
                target
                    .attrs
                    .push(syn::parse_quote_spanned!(span=> #[serde(bound(#(#always),*))]));
            }
            None => {}
        }
    }
    annotated
}

/// The fields of a struct or of all its variants, in the order of [`crate::parse::fields`].
fn fields_mut(data: &mut syn::Data) -> Vec<&mut syn::Field> {
    match data {
        syn::Data::Struct(data) => data.fields.iter_mut().collect(),
        syn::Data::Enum(data) => data
            .variants
            .iter_mut()
            .flat_map(|variant| variant.fields.iter_mut())
            .collect(),
        syn::Data::Union(data) => data.fields.named.iter_mut().collect(),
    }
}

/// The where-clause text bounding one field's type by `trait_path`.
///
/// A field that names the type itself (`Box<Node>`, `Vec<Self>`: a list, a tree) cannot be
/// bounded as a whole: `impl Serialize for Node where Box<Node>: Serialize` is a cycle the
/// compiler cannot prove (E0275). Nor can a field whose type a `macro_rules!` wrote with
/// `$crate::..` (`$crate` means nothing in the string). Both are bounded as serde bounds fields,
/// through the type parameters they mention (none for a concrete type, whose impl the derived
/// body then needs directly): `Vec<(K, Box<Self>)>` needs `K: Serialize`. A type containing
/// itself may do so through a `Shared<Self>`, whose serde impls need a `'static` value, so its
/// parameters are also bounded `'static` there (as every parameter of a sendable type is for
/// `Sendable`).
fn field_bound(ty: &Type, name: &Ident, type_params: &[&Ident], trait_path: &str) -> String {
    let tokens = ty.to_token_stream();
    let recursive = names_type(ty, name);
    if !recursive && !names_dollar_crate(tokens.clone()) {
        return format!("for<'__taskpool> {tokens}: {trait_path}");
    }
    let lifetime = if recursive { " + 'static" } else { "" };
    type_params
        .iter()
        .filter(|param| names_ident(tokens.clone(), param))
        .map(|param| format!("for<'__taskpool> {param}: {trait_path}{lifetime}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `ty` (a field's type) names the type being defined: `Self`, or its own name alone
/// (`Node`, `self::Node`, `crate::Node`), anywhere, generic arguments included. A longer path that
/// ends in the same name (`db::Record<T>` in `Record<T>`) is another type, and is bounded like any
/// field; a type written by a macro (`node!()`) is read token by token.
fn names_type(ty: &Type, name: &Ident) -> bool {
    struct Finder<'n> {
        name: &'n Ident,
        found: bool,
    }
    impl<'ast> Visit<'ast> for Finder<'_> {
        fn visit_path(&mut self, path: &'ast Path) {
            let idents: Vec<&Ident> = path.segments.iter().map(|s| &s.ident).collect();
            let own = match idents.as_slice() {
                [first, ..] if *first == "Self" => true,
                [only] => path.leading_colon.is_none() && *only == self.name,
                // `crate::Node` is the type itself when it is defined at the crate root, the
                // likeliest reason to write it so; bounding it there would be a cycle (E0275).
                [first, second] => {
                    path.leading_colon.is_none()
                        && (*first == "self" || *first == "crate")
                        && *second == self.name
                }
                _ => false,
            };
            self.found |= own;
            visit::visit_path(self, path);
        }
        fn visit_macro(&mut self, mac: &'ast syn::Macro) {
            self.found |= mentions(mac.tokens.clone(), self.name);
        }
    }
    fn mentions(tokens: TokenStream, name: &Ident) -> bool {
        tokens.into_iter().any(|token| match token {
            TokenTree::Ident(ident) => ident == *name || ident == "Self",
            TokenTree::Group(group) => mentions(group.stream(), name),
            TokenTree::Punct(_) | TokenTree::Literal(_) => false,
        })
    }
    let mut finder = Finder { name, found: false };
    finder.visit_type(ty);
    finder.found
}

/// Whether `tokens` (a field's type) name `ident` anywhere, generic arguments included.
fn names_ident(tokens: TokenStream, ident: &Ident) -> bool {
    tokens.into_iter().any(|token| match token {
        TokenTree::Ident(found) => found == *ident,
        TokenTree::Group(group) => names_ident(group.stream(), ident),
        TokenTree::Punct(_) | TokenTree::Literal(_) => false,
    })
}

/// Whether `tokens` (a field's type) hold a `$crate` path, written by a `macro_rules!`.
fn names_dollar_crate(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|token| match token {
        TokenTree::Ident(ident) => ident == "$crate",
        TokenTree::Group(group) => names_dollar_crate(group.stream()),
        TokenTree::Punct(_) | TokenTree::Literal(_) => false,
    })
}

/// `tokens` with every `Self` replaced by `replacement`, spans kept.
fn replace_self(tokens: TokenStream, replacement: &TokenStream) -> TokenStream {
    tokens
        .into_iter()
        .map(|token| match token {
            TokenTree::Ident(ident) if ident == "Self" => {
                let mut spanned = TokenStream::new();
                for mut piece in replacement.clone() {
                    piece.set_span(ident.span());
                    spanned.extend([piece]);
                }
                TokenTree::Group(Group::new(Delimiter::None, spanned))
            }
            TokenTree::Group(group) => {
                let mut new =
                    Group::new(group.delimiter(), replace_self(group.stream(), replacement));
                new.set_span(group.span());
                TokenTree::Group(new)
            }
            other => other,
        })
        .collect()
}

/// The serde container attributes the user wrote that the expansion would otherwise add.
#[derive(Default)]
struct GivenSerdeAttributes {
    /// `#[serde(crate = "..")]`.
    krate: bool,
    /// `#[serde(bound = "..")]` or `#[serde(bound(serialize = ".."))]`.
    serialize_bound: bool,
    /// `#[serde(bound = "..")]` or `#[serde(bound(deserialize = ".."))]`.
    deserialize_bound: bool,
}

fn given_serde_attributes(attrs: &[syn::Attribute]) -> GivenSerdeAttributes {
    let mut given = GivenSerdeAttributes::default();
    for attr in attrs {
        if !attr.path().is_ident("serde") {
            continue;
        }
        // Only the attribute's names matter here; serde reports malformed ones itself.
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                given.krate = true;
            } else if meta.path.is_ident("bound") {
                if meta.input.peek(Token![=]) {
                    given.serialize_bound = true;
                    given.deserialize_bound = true;
                } else {
                    meta.parse_nested_meta(|direction| {
                        if direction.path.is_ident("serialize") {
                            given.serialize_bound = true;
                        } else if direction.path.is_ident("deserialize") {
                            given.deserialize_bound = true;
                        }
                        skip_value(&direction)
                    })?;
                    return Ok(());
                }
            }
            skip_value(&meta)
        });
    }
    given
}

/// Whether the user already derives `Serialize` / `Deserialize` (then we do not derive it again).
///
/// A bare name is taken for serde's (imported as usual); a path is serde's only through a `serde`
/// (or `serde_derive`) segment: `rkyv::Serialize` is another crate's derive of that name, and
/// the type still needs serde's.
fn existing_serde_derives(input: &syn::DeriveInput) -> (bool, bool) {
    let mut found = (false, false);
    for attr in &input.attrs {
        if !attr.path().is_ident("derive") {
            continue;
        }
        let Ok(paths) = attr.parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated)
        else {
            continue;
        };
        for path in paths {
            let from_serde = path.segments.len() == 1
                || path
                    .segments
                    .iter()
                    .any(|segment| segment.ident == "serde" || segment.ident == "serde_derive");
            if !from_serde {
                continue;
            }
            match path.segments.last().map(|s| s.ident.to_string()).as_deref() {
                Some("Serialize") => found.0 = true,
                Some("Deserialize") => found.1 = true,
                _ => {}
            }
        }
    }
    found
}
