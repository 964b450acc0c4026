//! Step 2: the compile-time rules of `#[concurrent]`. Every violation is collected, each spanned
//! at the smallest offending piece of code, so one build reports all of them.

use std::collections::HashSet;

use quote::quote;
use syn::ext::IdentExt;
use syn::visit::{self, Visit};
use syn::{FnArg, GenericParam, ReturnType, StaticMutability};

use crate::parse::ConcurrentFn;
use crate::types::{self, Errors, Position, pretty};

/// Applies every rule; `Err` carries all violations combined, in the order of the checks
/// below (the order in which the compiler prints them).
pub fn validate(function: &ConcurrentFn) -> syn::Result<()> {
    let item = &function.item;
    let sig = &item.sig;
    let mut errors = Errors::default();

    check_reserved_name(&sig.ident, &mut errors);
    check_hidden_type(&sig.ident, &mut errors);
    check_parameter_count(sig, &mut errors);
    check_qualifiers(item, &mut errors);
    check_generics(&sig.generics, &mut errors);
    let has_receiver = check_signature_types(sig, &mut errors);
    check_bindings(item, &mut errors);
    check_body(&item.block, has_receiver, &mut errors);

    errors.finish()
}

/// What makes a function other than a plain safe Rust `fn`: `const`, `unsafe`,
/// `#[target_feature]`, a foreign ABI, variadic parameters.
fn check_qualifiers(item: &syn::ItemFn, errors: &mut Errors) {
    let sig = &item.sig;
    if let Some(constness) = &sig.constness {
        errors.push(
            constness,
            "a `#[concurrent]` function cannot be `const`: the attribute makes its name a unit value that derefs to a function pointer, so a direct call is not a const call (`const N: u32 = f(3);` would not compile); keep a plain `const fn` and call it from the body of a `#[concurrent]` function",
        );
    }
    if let Some(unsafety) = &sig.unsafety {
        errors.push(
            unsafety,
            "a `#[concurrent]` function cannot be `unsafe`: the pool calls it and cannot uphold its safety contract; make it a safe `fn` and put an `unsafe { .. }` block inside",
        );
    }
    for attr in &item.attrs {
        if attr.path().is_ident("target_feature") {
            errors.push(
                attr,
                "a `#[concurrent]` function cannot have `#[target_feature]`: calling it is safe only where the feature is enabled, and the pool calls it from its own code on any thread; keep the task function plain and, in its body, call a `#[target_feature]` helper after checking the CPU (`is_x86_feature_detected!` or the like)",
            );
        }
    }
    // `extern "Rust"` is the ABI of every plain `fn`, spelled out.
    let rust_abi = |abi: &syn::Abi| abi.name.as_ref().is_some_and(|name| name.value() == "Rust");
    if let Some(abi) = sig.abi.as_ref().filter(|abi| !rust_abi(abi)) {
        errors.push(
            abi,
            format!(
                "a `#[concurrent]` function cannot be `{}`: the pool calls it as a Rust function; remove the ABI (write a separate `extern` wrapper if foreign code needs one)",
                pretty(abi)
            ),
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(
            variadic,
            "a `#[concurrent]` function cannot be variadic (`...`): a task has a fixed list of owned arguments; take a `Vec<T>` instead",
        );
    }
}

/// Generic parameters of every kind, and a `where` clause without any.
fn check_generics(generics: &syn::Generics, errors: &mut Errors) {
    for param in &generics.params {
        match param {
            GenericParam::Type(ty) => errors.push(
                &ty.ident,
                format!(
                    "a `#[concurrent]` function cannot be generic over `{}`: the pool needs one concrete signature to name and call; use a concrete type (one `#[concurrent]` fn per type if you need several)",
                    ty.ident
                ),
            ),
            GenericParam::Lifetime(lifetime) => errors.push(
                &lifetime.lifetime,
                format!(
                    "a `#[concurrent]` function cannot have lifetime parameters (`{}`): task data is owned and outlives the caller; remove `{}` and use owned types",
                    lifetime.lifetime, lifetime.lifetime
                ),
            ),
            GenericParam::Const(constant) => errors.push(
                quote!(#constant),
                format!(
                    "a `#[concurrent]` function cannot have const generic parameters (`{}`): the pool needs one concrete signature; pass the value as an argument instead",
                    pretty(constant)
                ),
            ),
        }
    }
    if generics.params.is_empty() {
        if let Some(where_clause) = &generics.where_clause {
            errors.push(
                where_clause,
                "a `#[concurrent]` function cannot have a `where` clause: it has no generic parameters to bound; remove it",
            );
        }
    }
}

/// A receiver, the parameters' attributes and types, the result type, and `Self` in any of
/// them. Returns whether the function has a receiver.
fn check_signature_types(sig: &syn::Signature, errors: &mut Errors) -> bool {
    let mut has_receiver = false;
    let mut self_finder = SelfTypeFinder::default();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => {
                has_receiver = true;
                errors.push(
                    receiver,
                    format!(
                        "a `#[concurrent]` function cannot be a method (`{}`): a task is a free function and has no receiver; move it out of the `impl` and pass the data as an owned argument",
                        pretty(receiver)
                    ),
                );
            }
            FnArg::Typed(typed) => {
                check_parameter_attributes(&typed.attrs, errors);
                types::check(&typed.ty, Position::Param, errors);
                self_finder.visit_type(&typed.ty);
            }
        }
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        types::check_return(ty, errors);
        self_finder.visit_type(ty);
    }
    for error in self_finder.errors {
        errors.add(error);
    }
    has_receiver
}

/// Bindings, in the parameters and the body, named like the function.
fn check_bindings(item: &syn::ItemFn, errors: &mut Errors) {
    let mut bindings = BindingsNamed {
        name: item.sig.ident.unraw().to_string(),
        errors,
    };
    for input in &item.sig.inputs {
        if let FnArg::Typed(typed) = input {
            bindings.visit_pat(&typed.pat);
        }
    }
    bindings.visit_block(&item.block);
}

/// What the body may not use: `self`/`Self` (unless the receiver was reported already),
/// thread-locals and `static mut`.
fn check_body(block: &syn::Block, has_receiver: bool, errors: &mut Errors) {
    let mut statics = StaticMutNames::default();
    statics.visit_block(block);
    let mut body = BodyChecker {
        check_self: !has_receiver,
        nested_items: 0,
        static_muts: statics.0,
        errors,
    };
    body.visit_block(block);
}

/// The prefixes of the names the expansion generates next to the function.
fn check_reserved_name(ident: &syn::Ident, errors: &mut Errors) {
    let name = ident.unraw().to_string();
    if name.to_lowercase().starts_with("__taskpool") {
        errors.push(
            ident,
            format!(
                "`{name}` starts with `__taskpool`, a prefix reserved for the names `#[concurrent]` generates; rename the function"
            ),
        );
    } else if name.starts_with("__concurrent_") {
        errors.push(
            ident,
            format!(
                "`{name}` starts with `__concurrent_`, the prefix of the hidden function `#[concurrent]` generates for each task function (`__concurrent_add` for `add`); rename the function (or, if `#[concurrent]` is written twice on it, perhaps once under another name, keep one)"
            ),
        );
    } else if name == "main" {
        errors.push(
            ident,
            "a `#[concurrent]` function cannot be named `main`: the attribute makes its name a unit struct, and the program's entry point must be a function; call a task function from `main` instead",
        );
    }
}

/// The most parameters a task function may take: its arguments travel as one tuple, and serde
/// implements `Serialize`/`Deserialize` for tuples of at most 16 elements.
const MAX_PARAMETERS: usize = 16;

/// Rejects a 17th parameter and any after it, where the arguments tuple would not serialize.
fn check_parameter_count(sig: &syn::Signature, errors: &mut Errors) {
    let extra: Vec<&FnArg> = sig.inputs.iter().skip(MAX_PARAMETERS).collect();
    if extra.is_empty() {
        return;
    }
    let count = sig.inputs.len();
    errors.push(
        quote!(#(#extra),*),
        format!(
            "a `#[concurrent]` function takes at most {MAX_PARAMETERS} parameters, and this one takes {count}: its arguments travel as one tuple, and serde serializes tuples of at most {MAX_PARAMETERS} elements; group related parameters in a struct deriving `Serialize`/`Deserialize` (or a tuple parameter)"
        ),
    );
}

/// Rejects `#[cfg]` on a parameter (also through `#[cfg_attr]`): the parameter list is the
/// task's argument tuple, which every build and every descriptor of the function must agree on.
fn check_parameter_attributes(attrs: &[syn::Attribute], errors: &mut Errors) {
    for attr in attrs {
        let conditional = if attr.path().is_ident("cfg") {
            true
        } else if attr.path().is_ident("cfg_attr") {
            // `cfg_attr(predicate, attr, ..)`: a `cfg` among the attributes it adds.
            attr.parse_args_with(
                syn::punctuated::Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated,
            )
            .is_ok_and(|metas| metas.iter().skip(1).any(|meta| meta.path().is_ident("cfg")))
        } else {
            false
        };
        if conditional {
            errors.push(
                attr,
                "a parameter of a `#[concurrent]` function cannot be conditional (`#[cfg]`): the parameters are the task's argument tuple, which every build and every descriptor of the function must agree on; put the `#[cfg]` on the whole function (one version per configuration), or pass an `Option<T>`",
            );
        }
    }
}

/// Names in the type namespace of every module: the primitive types and the types and traits of
/// the standard prelude (editions 2021 and 2024).
const PRELUDE_TYPES: &[&str] = &[
    "bool",
    "char",
    "str",
    "u8",
    "u16",
    "u32",
    "u64",
    "u128",
    "usize",
    "i8",
    "i16",
    "i32",
    "i64",
    "i128",
    "isize",
    "f16",
    "f32",
    "f64",
    "f128",
    "Box",
    "String",
    "Vec",
    "Option",
    "Result",
    "ToString",
    "ToOwned",
    "Clone",
    "Copy",
    "Send",
    "Sync",
    "Sized",
    "Unpin",
    "Drop",
    "Fn",
    "FnMut",
    "FnOnce",
    "AsyncFn",
    "AsyncFnMut",
    "AsyncFnOnce",
    "Iterator",
    "IntoIterator",
    "DoubleEndedIterator",
    "ExactSizeIterator",
    "Extend",
    "FromIterator",
    "Default",
    "Eq",
    "PartialEq",
    "Ord",
    "PartialOrd",
    "AsRef",
    "AsMut",
    "Into",
    "From",
    "TryFrom",
    "TryInto",
    "Future",
    "IntoFuture",
];

/// Crates every module can name without a `use`: the standard library's (`alloc` only after an
/// `extern crate`, so a function may still be named so) and `taskpool`, which the attribute's
/// users depend on under that name (the expansion's paths start with `::taskpool`).
const PRELUDE_CRATES: &[&str] = &["std", "core", "taskpool"];

/// Rejects a name that would hide a primitive or prelude type, or a crate of the extern prelude:
/// the expansion makes the name a unit struct of the module, and a struct shadows those in the
/// whole module, so `fn String` would turn every `String` there into the task function, and
/// `fn std` every `std::..` path (with baffling errors far away).
fn check_hidden_type(ident: &syn::Ident, errors: &mut Errors) {
    let name = ident.unraw().to_string();
    let hidden = if PRELUDE_TYPES.contains(&name.as_str()) {
        format!("the type `{name}` everywhere in the module")
    } else if PRELUDE_CRATES.contains(&name.as_str()) {
        format!(
            "the crate `{name}` from every path of the module (`{name}::..` would name the function)"
        )
    } else {
        return;
    };
    errors.push(
        ident,
        format!(
            "a `#[concurrent]` function cannot be named `{name}`: the attribute makes its name a unit struct of this module (so that `{name}::task(..)` works), which would hide {hidden}; rename the function"
        ),
    );
}

/// Finds bindings (parameters, `let`, closure and `match` patterns, also in nested items) named
/// like the function. The expansion makes that name a unit struct of the module, and a pattern
/// naming a unit struct matches it instead of binding a variable.
struct BindingsNamed<'e> {
    name: String,
    errors: &'e mut Errors,
}

impl<'ast> Visit<'ast> for BindingsNamed<'_> {
    fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
        if pat.ident.unraw() == self.name {
            let name = &self.name;
            self.errors.push(
                &pat.ident,
                format!(
                    "a binding cannot be named `{name}` like its `#[concurrent]` function: the attribute makes `{name}` a unit value of this module (so that `{name}::task(..)` works), and a pattern with that name would match that value instead of binding a new variable; rename the binding"
                ),
            );
        }
        visit::visit_pat_ident(self, pat);
    }
}

const SELF_TYPE: &str = "`Self` cannot be used in a `#[concurrent]` function: a task is a free function outside any `impl`; name the type explicitly";

/// Finds `Self` in the signature's types.
#[derive(Default)]
struct SelfTypeFinder {
    errors: Vec<syn::Error>,
}

impl<'ast> Visit<'ast> for SelfTypeFinder {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        if let Some(first) = path.segments.first() {
            if first.ident == "Self" {
                self.errors
                    .push(syn::Error::new_spanned(&first.ident, SELF_TYPE));
            }
        }
        visit::visit_path(self, path);
    }
}

/// Collects the names of `static mut` items declared anywhere in the body.
#[derive(Default)]
struct StaticMutNames(HashSet<String>);

impl<'ast> Visit<'ast> for StaticMutNames {
    fn visit_item_static(&mut self, item: &'ast syn::ItemStatic) {
        if matches!(item.mutability, StaticMutability::Mut(_)) {
            self.0.insert(item.ident.to_string());
        }
        visit::visit_item_static(self, item);
    }
}

/// Rules 2 and 7 inside the body: `self`/`Self`, thread-locals and `static mut`.
struct BodyChecker<'e> {
    /// False when the receiver was already reported, to avoid one error per use of `self`.
    check_self: bool,
    /// Inside a nested item (`impl`, `fn`, …) `self` and `Self` are legitimate.
    nested_items: usize,
    static_muts: HashSet<String>,
    errors: &'e mut Errors,
}

impl<'ast> Visit<'ast> for BodyChecker<'_> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        self.nested_items += 1;
        visit::visit_item(self, item);
        self.nested_items -= 1;
    }

    fn visit_item_static(&mut self, item: &'ast syn::ItemStatic) {
        if let StaticMutability::Mut(mutability) = &item.mutability {
            let static_token = &item.static_token;
            let ident = &item.ident;
            self.errors.push(
                quote!(#static_token #mutability #ident),
                "`static mut` cannot be used in a `#[concurrent]` function: tasks run in parallel on several threads and would race on it; use an atomic (`static COUNT: AtomicU64`) or share an `AsyncLock` through `Shared<T>`",
            );
        }
        visit::visit_item_static(self, item);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        let is_thread_local = mac
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "thread_local");
        if is_thread_local {
            let path = &mac.path;
            let bang = &mac.bang_token;
            self.errors.push(
                quote!(#path #bang),
                "`thread_local!` cannot be used in a `#[concurrent]` function: every pool thread has its own copy, so each run would see different state; pass the state as an argument, or share it through `Shared<T>` with an `AsyncLock`",
            );
        }
        visit::visit_macro(self, mac);
    }

    fn visit_expr_path(&mut self, expr: &'ast syn::ExprPath) {
        if expr.qself.is_none() && expr.path.segments.len() == 1 {
            let ident = &expr.path.segments[0].ident;
            if ident == "self" && self.check_self && self.nested_items == 0 {
                self.errors.push(
                    ident,
                    "`self` cannot be used in a `#[concurrent]` function: a task has no receiver; pass the value as an owned argument",
                );
            } else if self.static_muts.contains(&ident.to_string()) {
                self.errors.push(
                    ident,
                    format!(
                        "`{ident}` is a `static mut`: tasks run in parallel on several threads and would race on it; use an atomic or an `AsyncLock` instead"
                    ),
                );
            }
        }
        visit::visit_expr_path(self, expr);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if let Some(first) = path.segments.first() {
            if first.ident == "Self" && self.nested_items == 0 {
                self.errors.push(&first.ident, SELF_TYPE);
            }
        }
        if let Some(last) = path.segments.last() {
            if last.ident == "LocalKey" && types::may_be_std(path, "thread") {
                self.errors.push(
                    path,
                    "`LocalKey` is a thread-local key and cannot be used in a `#[concurrent]` function: every pool thread has its own copy; pass the state as an argument instead",
                );
            }
        }
        visit::visit_path(self, path);
    }
}
