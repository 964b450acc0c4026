//! Step 2: the rules of `#[sendable]`, every violation collected and spanned at the offending
//! generic parameter or field type.

use syn::{GenericArgument, GenericParam, PathArguments, Type, TypeParamBound, TypePath};

use macro_support::{Errors, may_be_std, own_type_hint, pretty};

use crate::parse::{SendableData, fields};

/// Applies every rule; `Err` carries all violations combined.
pub fn validate(data: &SendableData) -> syn::Result<()> {
    let input = &data.input;
    let mut errors = Errors::default();
    for param in &input.generics.params {
        if let GenericParam::Lifetime(lifetime) = param {
            errors.push(
                &lifetime.lifetime,
                format!(
                    "a `#[sendable]` type cannot have lifetime parameters (`{}`): it is shared between threads for as long as any of them holds it, so it must own its data; remove `{}` and use owned field types",
                    lifetime.lifetime, lifetime.lifetime
                ),
            );
        }
    }
    // A field serde skips is still shared between threads: every syntactic rule applies to it.
    for field in fields(input) {
        check(field.ty, false, &mut errors);
        let serialized = !field.skip.serialize || !field.skip.deserialize;
        if let Type::Array(array) = field.ty {
            let role = "a field of a `#[sendable]` type";
            let lacking = macro_support::array_serde_lacks(array, role).filter(|_| serialized);
            if let Some(message) = lacking {
                errors.push(field.ty, message);
            }
        }
    }
    errors.finish()
}

/// Checks a field type; `in_phantom` inside the arguments of a `PhantomData`.
fn check(ty: &Type, in_phantom: bool, errors: &mut Errors) {
    match ty {
        Type::Reference(reference) => errors.push(ty, borrowed_message(ty, &reference.elem)),
        Type::Ptr(_) => errors.push(
            ty,
            format!(
                "a `#[sendable]` type cannot hold a raw pointer (`{}`): it cannot be shared or serialized safely; use an owned value or `Shared<T>`",
                pretty(ty)
            ),
        ),
        // `PhantomData<fn() -> T>` is a zero-size marker (`Send + Sync`), not code.
        Type::BareFn(_) if in_phantom => {}
        Type::BareFn(_) => errors.push(ty, closure_message(ty)),
        Type::TraitObject(object) => {
            if is_closure(object.bounds.iter()) {
                errors.push(ty, closure_message(ty));
            } else {
                errors.push(ty, trait_object_message(ty));
            }
        }
        Type::ImplTrait(_) => errors.push(ty, trait_object_message(ty)),
        Type::Infer(_) => errors.push(
            ty,
            "`_` cannot stand for the type of a field: a `#[sendable]` type is shared, serialized and checked by its field types; write the type out",
        ),
        Type::Path(path) => check_path(ty, path, in_phantom, errors),
        Type::Tuple(tuple) => tuple
            .elems
            .iter()
            .for_each(|t| check(t, in_phantom, errors)),
        Type::Array(array) => check(&array.elem, in_phantom, errors),
        Type::Slice(slice) => check(&slice.elem, in_phantom, errors),
        Type::Paren(paren) => check(&paren.elem, in_phantom, errors),
        Type::Group(group) => check(&group.elem, in_phantom, errors),
        _ => {}
    }
}

fn check_path(ty: &Type, path: &TypePath, in_phantom: bool, errors: &mut Errors) {
    let Some(last) = path.path.segments.last() else {
        return;
    };
    let name = last.ident.to_string();
    if let Some((reason, instead)) = single_threaded(&path.path, &name) {
        errors.push(
            ty,
            format!(
                "`{}` cannot be a field of a `#[sendable]` type: {reason}, and the value is shared between threads; use {instead} instead{}",
                pretty(ty),
                own_type_hint(&path.path)
            ),
        );
        return;
    }
    if matches!(name.as_str(), "Box" | "Arc") {
        if let PathArguments::AngleBracketed(args) = &last.arguments {
            if let Some(GenericArgument::Type(Type::TraitObject(object))) = args.args.first() {
                let message = if is_closure(object.bounds.iter()) {
                    closure_message(ty)
                } else {
                    trait_object_message(ty)
                };
                errors.push(ty, message);
                return;
            }
        }
    }
    if let Some(qself) = &path.qself {
        check(&qself.ty, in_phantom, errors);
    }
    let in_phantom = in_phantom || name == "PhantomData";
    for segment in &path.path.segments {
        if let PathArguments::AngleBracketed(args) = &segment.arguments {
            for arg in &args.args {
                match arg {
                    GenericArgument::Type(inner) => check(inner, in_phantom, errors),
                    GenericArgument::Lifetime(lifetime) if lifetime.ident != "static" => {
                        errors.push(lifetime, lifetime_message(lifetime, ty));
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Why the std type at `path` (named `name`) cannot be shared, and what to use instead, if it
/// is a single-threaded one.
fn single_threaded(path: &syn::Path, name: &str) -> Option<(&'static str, &'static str)> {
    let in_sync = path.segments.iter().any(|s| s.ident == "sync");
    let home = match name {
        "Rc" | "Weak" => "rc",
        _ => "cell",
    };
    match name {
        _ if !may_be_std(path, home) => None,
        "Rc" => Some((
            "`Rc` counts references without synchronization",
            "`Shared<T>` (for a `#[sendable]` T) or `Arc<T>`",
        )),
        "Weak" if !in_sync => Some((
            "`rc::Weak` counts references without synchronization",
            "`Shared<T>` or `std::sync::Weak<T>`",
        )),
        "Cell" => Some((
            "`Cell` is single-threaded interior mutability",
            "an atomic (`AtomicU64`, `AtomicBool`, ...) or `AsyncLock<T>`",
        )),
        "RefCell" | "UnsafeCell" => Some((
            "it is single-threaded interior mutability",
            "`AsyncLock<T>` (or `std::sync::Mutex<T>` if you never serialize it)",
        )),
        "OnceCell" | "LazyCell" if !in_sync => Some((
            "it is single-threaded lazy initialization",
            "`std::sync::OnceLock<T>`",
        )),
        _ => None,
    }
}

/// The message for a reference field, with an owned type to use only when that type would be
/// accepted: the owned form of an unsized type (`String` for `str`, `PathBuf` for `Path`), or
/// the referenced type itself, unless it is itself borrowed or rejected (`&[&str]`, `&dyn Fn()`).
fn borrowed_message(ty: &Type, elem: &Type) -> String {
    let mut scratch = Errors::default();
    check(elem, false, &mut scratch);
    let advice = if scratch.finish().is_err() {
        format!(
            "use owned data (`{}` cannot be a field by value either), or share a `#[sendable]` value with `Shared<T>`",
            pretty(elem)
        )
    } else if let Some(owned) = macro_support::owned_form_of_unsized(elem) {
        format!("use the owned `{owned}`")
    } else {
        let owned = pretty(elem);
        format!("use the owned `{owned}` (or `Shared<{owned}>` for another `#[sendable]` value)")
    };
    format!(
        "a `#[sendable]` type cannot hold borrowed data (`{}`): it is shared between threads and must own its fields; {advice}",
        pretty(ty)
    )
}

/// The message for a lifetime other than `'static` in a field type (`Cow<'a, str>`), declared or
/// not: reported here, before rustc's resolution, so an undeclared `'a` gives this one error
/// instead of a cascade through the expansion.
fn lifetime_message(lifetime: &syn::Lifetime, ty: &Type) -> String {
    format!(
        "a `#[sendable]` type cannot borrow (`{lifetime}` in `{}`): it is shared between threads and must own its fields; remove `{lifetime}` and use owned types (`'static` in its place, or the owned form, e.g. `String` for `Cow<{lifetime}, str>`)",
        pretty(ty)
    )
}

fn is_closure<'a>(mut bounds: impl Iterator<Item = &'a TypeParamBound>) -> bool {
    bounds.any(|bound| match bound {
        TypeParamBound::Trait(bound) => bound
            .path
            .segments
            .last()
            .is_some_and(|s| matches!(s.ident.to_string().as_str(), "Fn" | "FnMut" | "FnOnce")),
        _ => false,
    })
}

fn closure_message(ty: &Type) -> String {
    format!(
        "a `#[sendable]` type cannot hold a closure or function pointer (`{}`): code cannot be serialized; store data (an enum can select the behavior) and call named functions on it",
        pretty(ty)
    )
}

fn trait_object_message(ty: &Type) -> String {
    format!(
        "a `#[sendable]` type cannot hold a trait object (`{}`): a value of unknown type cannot be serialized; use a concrete type or an enum of the possible kinds",
        pretty(ty)
    )
}
