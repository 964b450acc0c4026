//! Syntactic checks of the types in a task function's signature (rules 4, 5 and 6).
//!
//! These checks see only what is written. A type alias that hides a reference, or a user type
//! that holds an `Rc`, is caught later by the type-level assertions of the expansion.

use syn::{GenericArgument, PathArguments, Type, TypeParamBound, TypePath};

use macro_support::own_type_hint;
pub use macro_support::{Errors, may_be_std, pretty};

/// Where a type appears: it changes the wording and which rules apply.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// A parameter type.
    Param,
    /// The return type.
    Return,
}

impl Position {
    fn role(self) -> &'static str {
        match self {
            Position::Param => "a task argument",
            Position::Return => "a task result",
        }
    }
}

/// Checks one signature type, recording every violation found in it.
pub fn check(ty: &Type, position: Position, errors: &mut Errors) {
    check_in(ty, position, false, errors);
}

/// Checks the return type. The error type `E` of a `Result<T, E>` written as such is not task
/// data: it becomes the boxed source of `Error::TaskFailed` on the pool thread and is never
/// serialized, so only the borrow rule applies to it (the type-level `Fallible` bound checks
/// that it can fail a task).
pub fn check_return(ty: &Type, errors: &mut Errors) {
    match ty {
        Type::Paren(paren) => return check_return(&paren.elem, errors),
        Type::Group(group) => return check_return(&group.elem, errors),
        Type::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last();
            if let Some(last) = last.filter(|last| last.ident == "Result") {
                if let PathArguments::AngleBracketed(args) = &last.arguments {
                    let types: Vec<&Type> = args
                        .args
                        .iter()
                        .filter_map(|arg| match arg {
                            GenericArgument::Type(ty) => Some(ty),
                            _ => None,
                        })
                        .collect();
                    if let [ok, error] = types.as_slice() {
                        check(ok, Position::Return, errors);
                        let mut borrows = ErrorTypeBorrows {
                            errors,
                            bound: Vec::new(),
                        };
                        syn::visit::visit_type(&mut borrows, error);
                        return;
                    }
                }
            }
        }
        _ => {}
    }
    check(ty, Position::Return, errors);
}

/// Finds borrows in a task's error type: a reference that is not `'static`, or any other
/// lifetime but `'static`.
struct ErrorTypeBorrows<'e> {
    errors: &'e mut Errors,
    /// The lifetimes declared by the `for<..>` binders around the current position.
    bound: Vec<syn::Ident>,
}

impl<'ast> syn::visit::Visit<'ast> for ErrorTypeBorrows<'_> {
    fn visit_type_reference(&mut self, reference: &'ast syn::TypeReference) {
        let is_static = reference
            .lifetime
            .as_ref()
            .is_some_and(|lifetime| lifetime.ident == "static");
        if is_static {
            self.visit_type(&reference.elem);
        } else {
            let ty = Type::Reference(reference.clone());
            check(&ty, Position::Return, self.errors);
        }
    }

    // The expansion names the error type (the task's signature, its descriptor): it must be a
    // type, not an opaque one.
    fn visit_type_impl_trait(&mut self, imp: &'ast syn::TypeImplTrait) {
        let written = pretty(&Type::ImplTrait(imp.clone()));
        self.errors.push(
            imp,
            format!(
                "`{written}` cannot be the error type of a task: the pool names the type of every task it runs; write the concrete error type, or `Box<dyn std::error::Error + Send + Sync>`"
            ),
        );
    }

    fn visit_lifetime(&mut self, lifetime: &'ast syn::Lifetime) {
        let bound_here = self.bound.contains(&lifetime.ident);
        if lifetime.ident != "static" && !bound_here {
            self.errors
                .push(lifetime, borrow_message(lifetime, "the error type"));
        }
    }

    // A `for<'b>` binder declares its own lifetime: neither it nor its uses borrow from the
    // caller.
    fn visit_trait_bound(&mut self, bound: &'ast syn::TraitBound) {
        let names = bound
            .lifetimes
            .iter()
            .flat_map(|binder| binder.lifetimes.iter());
        let declared: Vec<syn::Ident> = names
            .filter_map(|param| match param {
                syn::GenericParam::Lifetime(param) => Some(param.lifetime.ident.clone()),
                _ => None,
            })
            .collect();
        let depth = self.bound.len();
        self.bound.extend(declared);
        syn::visit::visit_trait_bound(self, bound);
        self.bound.truncate(depth);
    }

    // Lifetimes elided in a function pointer's or closure trait's arguments are its own.
    fn visit_type_bare_fn(&mut self, _: &'ast syn::TypeBareFn) {}
    fn visit_parenthesized_generic_arguments(
        &mut self,
        _: &'ast syn::ParenthesizedGenericArguments,
    ) {
    }
}

/// The message for a lifetime other than `'static` (`'_`, `'a`, declared or not) in a signature
/// type (`written`): the same rule as a lifetime parameter. Reported here, before rustc's
/// resolution, so an undeclared `'a` gives this one error instead of a cascade through the
/// expansion.
fn borrow_message(lifetime: &syn::Lifetime, written: &str) -> String {
    format!(
        "a `#[concurrent]` function cannot borrow (`{lifetime}` in {written}): task data is owned and outlives the caller; remove `{lifetime}` and use owned types (`'static` in its place, or the owned form, e.g. `String` for `Cow<{lifetime}, str>`)"
    )
}

/// Whether `path` is rooted in the current crate (`crate::`, `self::`, `super::`, or `$crate::`
/// in a `macro_rules!`, the crate that defines the macro): it names a type of the user's own,
/// whatever its last segment.
fn is_own(path: &syn::Path) -> bool {
    path.leading_colon.is_none()
        && path.segments.len() > 1
        && path.segments.first().is_some_and(|first| {
            matches!(
                first.ident.to_string().as_str(),
                "crate" | "self" | "super" | "$crate"
            )
        })
}

fn check_in(ty: &Type, position: Position, in_phantom: bool, errors: &mut Errors) {
    let role = position.role();
    match ty {
        Type::Reference(reference) => errors.push(ty, reference_message(ty, reference, position)),
        Type::Ptr(_) => errors.push(
            ty,
            format!(
                "raw pointer `{}` cannot cross threads as {role}; use an owned value instead (`T`, or `Vec<T>` for a buffer)",
                pretty(ty)
            ),
        ),
        Type::ImplTrait(imp) => {
            let written = pretty(ty);
            match position {
                Position::Param => errors.push(
                    ty,
                    format!(
                        "`{written}` makes a `#[concurrent]` function generic, but a task needs one concrete signature; use a concrete owned type"
                    ),
                ),
                Position::Return => {
                    let shape = bounds_shape(imp.bounds.iter());
                    errors.push(ty, return_shape_message(shape, &written, ty));
                }
            }
        }
        Type::TraitObject(object) => errors.push(ty, trait_object_message(ty, object, position)),
        // `PhantomData<fn() -> T>` is a zero-size marker (`Send + Sync`), not code.
        Type::BareFn(_) if in_phantom => {}
        Type::BareFn(_) => {
            let written = pretty(ty);
            match position {
                Position::Param => errors.push(ty, closure_param_message(&written)),
                Position::Return => {
                    errors.push(ty, return_shape_message(Shape::Closure, &written, ty))
                }
            }
        }
        Type::Never(_) if position == Position::Return => errors.push(
            ty,
            "a task must return a value, and `!` never does; return `()` or a `Result<T, E>` instead",
        ),
        Type::Infer(_) => errors.push(
            ty,
            format!(
                "`_` cannot stand for the type of {role}: the pool needs one concrete signature to name, send and call; write the type out"
            ),
        ),
        Type::Path(path) => check_path(ty, path, position, in_phantom, errors),
        Type::Tuple(tuple) => tuple
            .elems
            .iter()
            .for_each(|t| check_in(t, position, in_phantom, errors)),
        Type::Array(array) => {
            match macro_support::array_serde_lacks(array, role).filter(|_| !in_phantom) {
                Some(message) => errors.push(ty, message),
                None => check_in(&array.elem, position, in_phantom, errors),
            }
        }
        Type::Slice(slice) => check_in(&slice.elem, position, in_phantom, errors),
        Type::Paren(paren) => check_in(&paren.elem, position, in_phantom, errors),
        Type::Group(group) => check_in(&group.elem, position, in_phantom, errors),
        _ => {}
    }
}

/// What a reference type as an argument or a result is told.
fn reference_message(ty: &Type, reference: &syn::TypeReference, position: Position) -> String {
    let suggestion = owned_form(&reference.elem, reference.mutability.is_some());
    let written = pretty(ty);
    let statik = match &reference.lifetime {
        Some(lifetime) if lifetime.ident == "static" => {
            " (even a `'static` borrow: task data is moved to a pool thread and may be serialized)"
        }
        _ => "",
    };
    match position {
        Position::Param if reference.mutability.is_some() => {
            format!("a task cannot write into the caller's data through `{written}`; {suggestion}")
        }
        Position::Param => {
            format!("borrowed data cannot be a task argument: `{written}`{statik}; {suggestion}")
        }
        Position::Return => format!(
            "a task cannot return borrowed data: `{written}`{statik}; {}",
            owned_form(&reference.elem, false).replacen("take", "return", 1)
        ),
    }
}

/// What a trait object as an argument or a result is told: a closure or a future by its shape,
/// any other by its unknown type.
fn trait_object_message(ty: &Type, object: &syn::TypeTraitObject, position: Position) -> String {
    let written = pretty(ty);
    match bounds_shape(object.bounds.iter()) {
        shape @ (Shape::Closure | Shape::Future) if position == Position::Return => {
            return_shape_message(shape, &written, ty)
        }
        Shape::Closure => closure_param_message(&written),
        _ => format!(
            "trait object `{written}` cannot cross threads as {}: a value of unknown type cannot be serialized; use a concrete type that derives `Serialize`/`Deserialize` or is `#[sendable]` (an enum can stand for several kinds)",
            position.role()
        ),
    }
}

fn check_path(
    ty: &Type,
    path: &TypePath,
    position: Position,
    in_phantom: bool,
    errors: &mut Errors,
) {
    let Some(last) = path.path.segments.last() else {
        return;
    };
    let name = last.ident.to_string();
    if let Some(message) = path_message(ty, path, last, &name, position) {
        errors.push(ty, message);
        return;
    }
    if let Some(qself) = &path.qself {
        check_in(&qself.ty, position, in_phantom, errors);
    }
    let in_phantom = in_phantom || name == "PhantomData";
    for segment in &path.path.segments {
        if let PathArguments::AngleBracketed(args) = &segment.arguments {
            for arg in &args.args {
                match arg {
                    GenericArgument::Type(inner) => check_in(inner, position, in_phantom, errors),
                    GenericArgument::Lifetime(lifetime) if lifetime.ident != "static" => errors
                        .push(
                            lifetime,
                            borrow_message(lifetime, &format!("`{}`", pretty(ty))),
                        ),
                    _ => {}
                }
            }
        }
    }
}

/// What a path type whose last segment is `last` (named `name`) is told, if the type itself
/// is refused (its arguments are checked apart): a future, a handle or a closure by its shape,
/// a single-threaded type, a thread-local key.
fn path_message(
    ty: &Type,
    path: &TypePath,
    last: &syn::PathSegment,
    name: &str,
    position: Position,
) -> Option<String> {
    let written = pretty(ty);
    if position == Position::Return && !is_own(&path.path) {
        let promise = match name {
            "BoxFuture" | "LocalBoxFuture" => Some(Shape::Future),
            "JoinHandle" | "TaskHandle" => Some(Shape::Handle),
            "Pin" if written.contains("Future") => Some(Shape::Future),
            _ => None,
        };
        if let Some(shape) = promise {
            return Some(return_shape_message(shape, &written, ty));
        }
    }
    if let Some(message) = boxed_code_message(ty, last, name, position) {
        return Some(message);
    }
    if let Some(reason) = single_threaded(&path.path, name) {
        return Some(format!(
            "`{written}` cannot cross threads as {}: {reason}; pass the value itself (deriving `Serialize`/`Deserialize`), or mark the type `#[sendable]` and share it with `Shared<T>` (with an `AsyncLock` for mutation){}",
            position.role(),
            own_type_hint(&path.path)
        ));
    }
    if name == "LocalKey" && may_be_std(&path.path, "thread") {
        return Some(format!(
            "`{written}` is a thread-local key: every pool thread has its own copy, so a task cannot use it; pass the state as an argument instead{}",
            own_type_hint(&path.path)
        ));
    }
    None
}

/// What `Box`, `Arc` or `Pin` around a closure (or, as a result, a future) is told.
fn boxed_code_message(
    ty: &Type,
    last: &syn::PathSegment,
    name: &str,
    position: Position,
) -> Option<String> {
    let object = match first_type_arg(last) {
        Some(Type::TraitObject(object)) if matches!(name, "Box" | "Arc" | "Pin") => object,
        _ => return None,
    };
    let shape = bounds_shape(object.bounds.iter());
    let written = pretty(ty);
    match position {
        Position::Param if shape == Shape::Closure => Some(closure_param_message(&written)),
        Position::Return if matches!(shape, Shape::Closure | Shape::Future) => {
            Some(return_shape_message(shape, &written, ty))
        }
        _ => None,
    }
}

/// Why the std type at `path` (named `name`) is single-threaded, if it is one.
fn single_threaded(path: &syn::Path, name: &str) -> Option<&'static str> {
    let in_sync = path.segments.iter().any(|s| s.ident == "sync");
    match name {
        "Rc" if may_be_std(path, "rc") => Some("`Rc` counts references without synchronization"),
        "Weak" if !in_sync && may_be_std(path, "rc") => {
            Some("`rc::Weak` counts references without synchronization")
        }
        "Cell" | "RefCell" | "UnsafeCell" | "OnceCell" | "LazyCell" if may_be_std(path, "cell") => {
            Some("it is single-threaded interior mutability")
        }
        _ => None,
    }
}

fn first_type_arg(segment: &syn::PathSegment) -> Option<&Type> {
    match &segment.arguments {
        PathArguments::AngleBracketed(args) => args.args.iter().find_map(|arg| match arg {
            GenericArgument::Type(ty) => Some(ty),
            _ => None,
        }),
        _ => None,
    }
}

/// What a set of trait bounds describes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Future,
    Closure,
    Handle,
    Other,
}

fn bounds_shape<'a>(bounds: impl Iterator<Item = &'a TypeParamBound>) -> Shape {
    for bound in bounds {
        let TypeParamBound::Trait(trait_bound) = bound else {
            continue;
        };
        let Some(last) = trait_bound.path.segments.last() else {
            continue;
        };
        match last.ident.to_string().as_str() {
            "Future" | "IntoFuture" => return Shape::Future,
            "Fn" | "FnMut" | "FnOnce" => return Shape::Closure,
            _ => {}
        }
    }
    Shape::Other
}

/// The `Output = T` of an `impl Future<Output = T>` (or the `T` of `BoxFuture<T>`), if written.
fn future_output(ty: &Type) -> Option<String> {
    struct Finder(Option<String>);
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_assoc_type(&mut self, assoc: &'ast syn::AssocType) {
            if assoc.ident == "Output" && self.0.is_none() {
                self.0 = Some(pretty(&assoc.ty));
            }
        }
    }
    let mut finder = Finder(None);
    syn::visit::visit_type(&mut finder, ty);
    if finder.0.is_some() {
        return finder.0;
    }
    let Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    match last.ident.to_string().as_str() {
        "BoxFuture" | "LocalBoxFuture" | "JoinHandle" | "TaskHandle" => {
            first_type_arg(last).map(pretty)
        }
        _ => None,
    }
}

fn return_shape_message(shape: Shape, written: &str, ty: &Type) -> String {
    match shape {
        Shape::Future => {
            let output = future_output(ty).unwrap_or_else(|| "T".to_owned());
            format!(
                "a task returns a value, not a promise: `{written}` cannot be a task result; write `async fn name(..) -> {output}` instead, and the pool awaits it"
            )
        }
        Shape::Handle => {
            let output = future_output(ty).unwrap_or_else(|| "T".to_owned());
            format!(
                "a task returns a value, not a handle to other work: `{written}` cannot be a task result; wait for that work inside the task (or `.await` it in an `async fn`) and return the `{output}`"
            )
        }
        Shape::Closure => format!(
            "a task returns a value, not a closure: `{written}` cannot be a task result; return the data, and let the caller pick the function to apply"
        ),
        Shape::Other => format!(
            "a task returns a value the pool can name and send back, not `{written}`; write the concrete type (for example a `Vec<T>` instead of an `impl Iterator`)"
        ),
    }
}

fn closure_param_message(written: &str) -> String {
    format!(
        "a closure or function pointer cannot be a task argument (`{written}`): code cannot be serialized or sent to another thread; pass data, and call a named function inside the task"
    )
}

/// The advice for a borrowed type: which owned type to write instead.
///
/// A concrete type is suggested only when it would be accepted: the owned form of an unsized
/// type (`Vec<T>` for `[T]`, `String` for `str`, ...), or the referenced type itself. When that
/// type is itself borrowed or rejected (`&[&str]`, `&Rc<T>`, `&dyn Fn()`, `&impl Trait`), naming
/// it would send the user from one error to the next, so the advice stays general.
fn owned_form(elem: &Type, mutable: bool) -> String {
    let then = if mutable {
        " and return the new value, or share an `AsyncLock` through `Shared<T>`"
    } else {
        ""
    };
    if !is_task_data(elem) {
        let share = if mutable {
            then
        } else {
            ", or share a `#[sendable]` value with `Shared<T>`"
        };
        return format!(
            "take owned data instead (`{}` cannot be task data by value either){share}",
            pretty(elem)
        );
    }
    match macro_support::owned_form_of_unsized(elem) {
        Some(owned) if mutable => format!("take the owned `{owned}` by value{then}"),
        Some(owned) => format!("take the owned `{owned}` instead"),
        None if mutable => format!("take `{}` by value{then}", pretty(elem)),
        None => format!(
            "take `{}` by value instead, or `Shared<{}>` to share a `#[sendable]` value without copying",
            pretty(elem),
            pretty(elem)
        ),
    }
}

/// Whether `ty` passes every syntactic rule for a task argument (checked into a scratch list:
/// the reference around it is the one error reported).
fn is_task_data(ty: &Type) -> bool {
    let mut scratch = Errors::default();
    check_in(ty, Position::Param, false, &mut scratch);
    scratch.finish().is_ok()
}
