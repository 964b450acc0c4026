//! What `#[concurrent]` and `#[sendable]` share.
//!
//! A proc-macro crate can export only its macros, so the pieces both attribute crates need —
//! collecting every violation, rendering a type as a person writes it, telling a standard
//! library path from a user's own, and recognising the attribute itself — live in this plain
//! library, which both depend on.

#![warn(missing_debug_implementations)]

use proc_macro2::TokenStream;
use quote::ToTokens;

/// Accumulates errors so that every violation is reported, not only the first.
#[derive(Default, Debug)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    /// Records an error spanning `tokens`.
    pub fn push(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.add(syn::Error::new_spanned(tokens, message));
    }

    /// Records a ready-made error (which may already combine several).
    pub fn add(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// `Ok` if nothing was recorded, else all the errors together.
    pub fn finish(self) -> syn::Result<()> {
        match self.0 {
            Some(errors) => Err(errors),
            None => Ok(()),
        }
    }

    /// `tokens` (an expansion, or the item unchanged) followed by every recorded error as a
    /// `compile_error!`, in the order recorded: the item is still emitted next to its errors,
    /// so the rest of the crate type-checks.
    pub fn emit_after(self, mut tokens: TokenStream) -> TokenStream {
        if let Some(errors) = self.0 {
            tokens.extend(errors.to_compile_error());
        }
        tokens
    }
}

/// Records an error for arguments given to `#[name]`, which takes none. They do not stop the
/// expansion: the item is still checked, and still expanded if it is valid.
pub fn check_no_arguments(attr: &TokenStream, name: &str, errors: &mut Errors) {
    if !attr.is_empty() {
        errors.push(
            attr,
            format!("`#[{name}]` takes no arguments; write `#[{name}]` alone"),
        );
    }
}

/// Removes the attribute written again on the item (`#[name]`, `#[taskpool::name]` or
/// `#[macro_crate::name]`), reporting each copy at its span: the item is then expanded once,
/// as if written once. `what` names the item in the message ("function", "type").
pub fn remove_repeats(
    attrs: &mut Vec<syn::Attribute>,
    (name, macro_crate): (&str, &str),
    what: &str,
    errors: &mut Errors,
) {
    let message = format!("`#[{name}]` is written twice on this {what}; remove this one");
    remove_reporting(attrs, (name, macro_crate), &message, errors);
}

/// Removes every `#[name]` attribute (spelled as [`remove_repeats`] reads it) from the item,
/// reporting each at its span with `message`: an attribute that does not apply to the item
/// is reported by the macro that sees it first, at the attribute itself, and not run at all.
pub fn remove_reporting(
    attrs: &mut Vec<syn::Attribute>,
    (name, macro_crate): (&str, &str),
    message: &str,
    errors: &mut Errors,
) {
    attrs.retain(|attr| {
        let found = is_attribute(attr, name, macro_crate);
        if found {
            errors.push(attr, message);
        }
        !found
    });
}

/// Whether `attr` is `#[name]`, `#[taskpool::name]` or `#[macro_crate::name]`.
fn is_attribute(attr: &syn::Attribute, name: &str, macro_crate: &str) -> bool {
    let segments: Vec<String> = attr
        .path()
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    match segments.as_slice() {
        [only] => only == name,
        [krate, last] => last == name && (krate == "taskpool" || krate == macro_crate),
        _ => false,
    }
}

/// Renders a type the way a person writes it (`Vec<&str>`, not `Vec < & str >`).
pub fn pretty(tokens: &impl ToTokens) -> String {
    let mut out = tokens.to_token_stream().to_string();
    for (from, to) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" ::", "::"),
        (" < ", "<"),
        ("< ", "<"),
        (" <", "<"),
        (" >", ">"),
        (" ,", ","),
        (" : ", ": "),
        ("& ", "&"),
        ("( ", "("),
        (" )", ")"),
        ("[ ", "["),
        (" ]", "]"),
        (" ;", ";"),
        ("* const", "*const"),
        ("* mut", "*mut"),
        ("' ", "'"),
        ("- >", "->"),
        ("fn (", "fn("),
        ("Fn (", "Fn("),
        ("FnMut (", "FnMut("),
        ("FnOnce (", "FnOnce("),
    ] {
        out = out.replace(from, to);
    }
    // `impl Fn(i32)->i32` reads better with spaces around the arrow.
    out.replace(")->", ") ->").replace(">->", "> ->")
}

/// The owned counterpart of an unsized type behind a reference: `Vec<T>` for `[T]`, `String`
/// for `str`, `PathBuf` for `Path`, `OsString` for `OsStr`, `CString` for `CStr`; `None` for
/// any other type (the caller checks that `T` itself is acceptable first: `Vec<&str>` is not).
pub fn owned_form_of_unsized(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Slice(slice) => Some(format!("Vec<{}>", pretty(&slice.elem))),
        syn::Type::Group(group) => owned_form_of_unsized(&group.elem),
        syn::Type::Paren(paren) => owned_form_of_unsized(&paren.elem),
        syn::Type::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last()?;
            let owned = match last.ident.to_string().as_str() {
                "str" => "String",
                "Path" => "PathBuf",
                "OsStr" => "OsString",
                "CStr" => "CString",
                _ => return None,
            };
            Some(owned.to_owned())
        }
        _ => None,
    }
}

/// The longest array serde serializes (it implements `Serialize` and `Deserialize` for
/// `[T; 0]` to `[T; 32]` only).
const SERDE_MAX_ARRAY: u64 = 32;

/// If `array` is one serde has no impls for — longer than 32 elements, or of a length that is
/// not a literal (a const parameter, a constant) — the error that says so about `role` (what
/// it is: "a task argument", "a field of a `#[sendable]` type"), instead of the generic "cannot
/// be serialized, derive `Serialize`", which no one can follow for an array.
pub fn array_serde_lacks(array: &syn::TypeArray, role: &str) -> Option<String> {
    let literal = match &array.len {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(int),
            ..
        }) => int.base10_parse::<u64>().ok(),
        _ => None,
    };
    if literal.is_some_and(|len| len <= SERDE_MAX_ARRAY) {
        return None;
    }
    let written = pretty(array);
    let elem = pretty(&array.elem);
    Some(format!(
        "`{written}` cannot be {role}: serde serializes arrays of at most {SERDE_MAX_ARRAY} elements, of a literal length; use `Vec<{elem}>` (or `Box<[{elem}]>`), or wrap the array in a type with its own serde impl"
    ))
}

/// Whether `path` may name the standard library's item of its last segment: a bare name (it may
/// be imported from `std`), a path rooted at `std`, `core` or `alloc`, or `home::Name` where
/// `home` is the standard module that defines it (`rc::Rc` after `use std::rc`). Any other path
/// (`crate::Rc`, `self::shapes::Cell`, `my_mod::Rc`) names a type of the user's or of another
/// crate.
pub fn may_be_std(path: &syn::Path, home: &str) -> bool {
    let segments = &path.segments;
    match segments.first() {
        None => false,
        Some(_) if segments.len() == 1 => path.leading_colon.is_none(),
        Some(first) => {
            matches!(first.ident.to_string().as_str(), "std" | "core" | "alloc")
                || (segments.len() == 2 && first.ident == home && path.leading_colon.is_none())
        }
    }
}

/// For a bare name that [`may_be_std`] took for the standard item: how to name a type of the
/// user's own that shares the name (a path the macros cannot take for the standard one), as
/// the end of an error message; empty for any other path.
pub fn own_type_hint(path: &syn::Path) -> String {
    match (path.segments.len(), path.segments.first()) {
        (1, Some(only)) if path.leading_colon.is_none() => format!(
            "; if this `{0}` is a type of your own, name it by a path that cannot be std's (`self::{0}`, `crate::…::{0}`)",
            only.ident
        ),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_reads_like_source() {
        let ty: syn::Type = syn::parse_quote!(Vec<&'static [u8; 4]>);
        assert_eq!(pretty(&ty), "Vec<&'static [u8; 4]>");
        let ty: syn::Type = syn::parse_quote!(Box<dyn Fn(i32) -> Option<u8>>);
        assert_eq!(pretty(&ty), "Box<dyn Fn(i32) -> Option<u8>>");
    }

    #[test]
    fn unsized_types_have_owned_forms() {
        let owned = |ty: syn::Type| owned_form_of_unsized(&ty);
        assert_eq!(owned(syn::parse_quote!([u8])).as_deref(), Some("Vec<u8>"));
        assert_eq!(owned(syn::parse_quote!(str)).as_deref(), Some("String"));
        assert_eq!(
            owned(syn::parse_quote!(std::path::Path)).as_deref(),
            Some("PathBuf")
        );
        assert_eq!(owned(syn::parse_quote!(OsStr)).as_deref(), Some("OsString"));
        assert_eq!(owned(syn::parse_quote!(Vec<u8>)), None);
    }

    #[test]
    fn only_a_bare_name_gets_the_own_type_hint() {
        let bare: syn::Path = syn::parse_quote!(Cell);
        assert!(own_type_hint(&bare).contains("`self::Cell`"));
        for path in [
            syn::parse_quote!(std::cell::Cell),
            syn::parse_quote!(::Cell),
            syn::parse_quote!(cell::Cell),
        ] {
            let path: syn::Path = path;
            assert_eq!(own_type_hint(&path), "");
        }
    }

    #[test]
    fn standard_paths_are_told_from_own_ones() {
        let std_like: [syn::Path; 4] = [
            syn::parse_quote!(Rc),
            syn::parse_quote!(std::rc::Rc),
            syn::parse_quote!(::core::cell::Cell),
            syn::parse_quote!(rc::Rc),
        ];
        assert!(
            std_like
                .iter()
                .all(|path| may_be_std(path, "rc") || may_be_std(path, "cell"))
        );
        let own: [syn::Path; 4] = [
            syn::parse_quote!(crate::Rc),
            syn::parse_quote!(self::shapes::Cell),
            syn::parse_quote!(my_mod::Rc),
            syn::parse_quote!(::Rc),
        ];
        assert!(own.iter().all(|path| !may_be_std(path, "rc")));
    }

    #[test]
    fn the_attribute_is_recognised_under_its_paths_only() {
        let is = |attr: syn::Attribute| is_attribute(&attr, "sendable", "sendable_macro");
        assert!(is(syn::parse_quote!(#[sendable])));
        assert!(is(syn::parse_quote!(#[taskpool::sendable])));
        assert!(is(syn::parse_quote!(#[sendable_macro::sendable])));
        assert!(!is(syn::parse_quote!(#[other::sendable])));
        assert!(!is(syn::parse_quote!(#[concurrent])));
    }

    #[test]
    fn a_repeated_attribute_is_removed_and_reported() {
        let mut attrs: Vec<syn::Attribute> = vec![
            syn::parse_quote!(#[taskpool::sendable]),
            syn::parse_quote!(#[derive(Debug)]),
        ];
        let mut errors = Errors::default();
        remove_repeats(
            &mut attrs,
            ("sendable", "sendable_macro"),
            "type",
            &mut errors,
        );
        assert_eq!(attrs.len(), 1);
        let message = errors.finish().unwrap_err().to_string();
        assert!(message.contains("written twice on this type"), "{message}");
    }

    #[test]
    fn errors_are_all_emitted_after_the_item() {
        let mut errors = Errors::default();
        check_no_arguments(&quote::quote!(fast), "concurrent", &mut errors);
        errors.push(quote::quote!(x), "second");
        let out = errors
            .emit_after(quote::quote!(
                struct Kept;
            ))
            .to_string();
        assert!(out.starts_with("struct Kept ;"), "{out}");
        assert_eq!(out.matches("compile_error").count(), 2, "{out}");
        assert!(out.contains("takes no arguments"), "{out}");
        assert!(Errors::default().finish().is_ok());
    }
}
