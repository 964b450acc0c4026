//! Step 3: the expansion of a valid task function.
//!
//! For `#[concurrent] pub fn add(a: i32, b: i32) -> i32` this emits:
//!
//! * the function itself, renamed `__concurrent_add` and `#[doc(hidden)]` (a `#[no_mangle]` on it
//!   becomes `#[export_name = "add"]`, so its symbol stays `add`);
//! * `pub struct add;`, a zero-sized value that derefs to `fn(i32, i32) -> i32`, so `add(1, 2)`
//!   still calls the function directly;
//! * in an anonymous `const _: () = { .. };` block:
//!   * `add::task(a, b)`, which binds the arguments in a `taskpool::Task`;
//!   * `impl taskpool::ConcurrentFunction for add`;
//!   * the type-level helpers below, and assertions that every argument and the result are owned
//!     and `Transferable`, each spanned at the type it checks, for what the syntactic rules
//!     cannot see (a type alias, a type from a macro); the asserted traits, with their
//!     `#[diagnostic]` messages, are in `taskpool::__private`, since a module under
//!     `#![no_implicit_prelude]` cannot resolve that attribute;
//! * a registry entry, so the function can be found by its stable name.
//!
//! # Names
//!
//! No name the expansion introduces can collide with the user's code:
//!
//! * at module level there are only the function's own name and `__concurrent_<name>`;
//!   validation reserves the `__concurrent_` and `__taskpool` prefixes for function names;
//! * every item inside the anonymous block is `__taskpool`-prefixed (`__TaskpoolProbe`,
//!   `__TaskpoolSlot`, …): the block also holds the user's tokens (the function's
//!   name as a type *and* as a value, the signature's types), which would find a block item first;
//! * every local binding and parameter (`__taskpool_args`, `__taskpool_argN`,
//!   `__taskpool_formatter`, the helpers' own) has that prefix *and* a `Span::mixed_site()` span.
//!   The prefix is what protects it from the function's unit struct: a pattern that names a unit
//!   struct in scope matches it instead of binding, whatever the hygiene of the pattern's span;
//! * every other path is fully qualified (`::core::…`, `::std::…`, `::taskpool::…`), primitive
//!   types included (`::core::primitive::u8`);
//! * methods are called by path (`::core::fmt::Formatter::write_str(..)`), except the one call
//!   that must use method syntax (the autoref selection of `copy_args`), whose method has a
//!   reserved name (`__taskpool_copy_args`): a user trait in scope implemented for every type,
//!   with a method of a plain name, would otherwise make the call ambiguous.
//!
//! # Type-level classification
//!
//! A macro sees tokens, not types: `type BankResult<T> = Result<T, BankError>` and
//! `type R = &'static i32` look like any other path. The helpers classify the *resolved* type at
//! the expansion site, where the signature is concrete (no generics are allowed): an inherent
//! associated const of `__TaskpoolProbe<Result<T, E>>` (or `<&T>`) takes precedence over the
//! trait's default, and the value picks an impl through a const generic argument. So a `Result`
//! behind any alias is a fallible function, and a reference behind an alias is reported once,
//! with an "owned type" message, instead of as a missing `Serialize`: it is stored as `()` in
//! `Args` (or yields `()` as `Output`), so the trait's `Transferable` bounds add nothing. Only a
//! reference at the top of the type is seen this way (`Vec<&'static str>` behind an alias still
//! fails on serde's bounds).

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{FnArg, Pat, ReturnType, Type};

use crate::parse::ConcurrentFn;

/// Generates the task machinery around a function that passed validation.
pub fn expand(function: &ConcurrentFn) -> TokenStream {
    let parts = Parts::of(function);
    let hidden_function = parts.hidden_function();
    let value = parts.value();
    let machinery = parts.machinery();
    let registration = parts.registration();
    quote! {
        #hidden_function
        #value
        #machinery
        #registration
    }
}

/// What the pieces of an expansion share: the function's names, its attributes that every
/// generated item repeats, and how each argument and the result are stored.
struct Parts<'a> {
    item: &'a syn::ItemFn,
    name: &'a syn::Ident,
    /// The name as written, without `r#`.
    name_str: String,
    /// `__concurrent_<name>`: the renamed function.
    hidden: syn::Ident,
    is_async: bool,
    /// `cfg` attributes go on every generated item.
    cfgs: Vec<&'a syn::Attribute>,
    arg_types: Vec<&'a Type>,
    /// The generated local of each argument (`__taskpool_argN`).
    locals: Vec<syn::Ident>,
    /// The result type (`()` when the function declares none) and where it is spelled.
    ret: TokenStream,
    ret_span: Span,
    /// `<__TaskpoolArg<{ borrowed? }, T> as __TaskpoolSlot>`: how each argument is stored.
    slots: Vec<TokenStream>,
    /// `<__TaskpoolRet<{ kind }, R> as __TaskpoolOutcome>`: what the task yields.
    outcome: TokenStream,
    /// The generated items sit at the function's name (still marked as coming from the macro,
    /// so lints treat them as generated): when a module defines the name twice, rustc's
    /// "defined multiple times" and "conflicting implementations" point at the second name,
    /// not at an attribute.
    at_name: Span,
}

impl<'a> Parts<'a> {
    fn of(function: &'a ConcurrentFn) -> Parts<'a> {
        let item = &function.item;
        let sig = &item.sig;
        let name = &sig.ident;
        let name_str = name.unraw().to_string();
        let arg_types: Vec<&Type> = sig
            .inputs
            .iter()
            .filter_map(|input| match input {
                FnArg::Typed(typed) => Some(&*typed.ty),
                FnArg::Receiver(_) => None,
            })
            .collect();
        let (ret, ret_span) = match &sig.output {
            ReturnType::Default => (quote!(()), Span::call_site()),
            ReturnType::Type(_, ty) => (quote!(#ty), ty.span()),
        };
        let slots = arg_types
            .iter()
            .map(|ty| {
                quote_spanned! {ty.span()=>
                    <__TaskpoolArg<{ __TaskpoolProbe::<#ty>::BORROWED }, #ty> as __TaskpoolSlot>
                }
            })
            .collect();
        let outcome = quote_spanned! {ret_span=>
            <__TaskpoolRet<{ __TaskpoolProbe::<#ret>::KIND }, #ret> as __TaskpoolOutcome>
        };
        Parts {
            item,
            name,
            hidden: format_ident!("__concurrent_{}", name_str),
            name_str,
            is_async: sig.asyncness.is_some(),
            cfgs: attributes(item, "cfg"),
            locals: (0..arg_types.len()).map(generated_arg).collect(),
            arg_types,
            ret,
            ret_span,
            slots,
            outcome,
            at_name: Span::call_site().located_at(name.span()),
        }
    }

    /// The function itself, renamed and hidden.
    fn hidden_function(&self) -> TokenStream {
        let mut renamed = self.item.clone();
        renamed.sig.ident = self.hidden.clone();
        // `#[deprecated]` belongs on the name users call: the unit struct (see `value`).
        renamed
            .attrs
            .retain(|attr| !attr.path().is_ident("deprecated"));
        // `#[no_mangle]` exports a function under its own name, which the hidden function no
        // longer has: it exports the name the user wrote instead.
        for attr in &mut renamed.attrs {
            keep_symbol(attr, &self.name_str);
        }
        let cfgs = &self.cfgs;
        quote_spanned! {self.at_name=>
            #(#cfgs)*
            #[doc(hidden)]
            // The pool calls it through a function pointer: a `const fn` is refused (c62).
            #[allow(clippy::missing_const_for_fn)]
            #renamed
        }
    }

    /// The unit struct of the function's name, which derefs to the function (so it is both
    /// called and passed as a value), with its `Debug`.
    fn value(&self) -> TokenStream {
        let Parts {
            name,
            name_str,
            hidden,
            cfgs,
            arg_types,
            locals,
            ret,
            ..
        } = self;
        let vis = &self.item.vis;
        let docs = attributes(self.item, "doc");
        // `#[deprecated]` on the hidden function would only warn about the expansion's own
        // uses of it, which the user cannot silence.
        let deprecations = attributes(self.item, "deprecated");
        let default_doc = if docs.is_empty() {
            let text = format!(" The `#[concurrent]` function `{name_str}`.");
            quote!(#[doc = #text])
        } else {
            quote!()
        };
        let (async_doc, target, pointer) = if self.is_async {
            (
                quote! {
                    #[doc = ""]
                    #[doc = " Called directly, this `async fn` returns a boxed `Send` future (`taskpool::BoxFuture`)."]
                },
                quote!(fn(#(#arg_types),*) -> ::taskpool::BoxFuture<#ret>),
                quote!(|#(#locals),*| ::std::boxed::Box::pin(#hidden(#(#locals),*))),
            )
        } else {
            (
                quote!(),
                quote!(fn(#(#arg_types),*) -> #ret),
                quote!(#hidden),
            )
        };
        let formatter = mixed("__taskpool_formatter");
        let debug_name = format!("#[concurrent] fn {name_str}");
        quote_spanned! {self.at_name=>
            #(#docs)*
            #default_doc
            #async_doc
            #(#deprecations)*
            #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
            #[derive(::core::clone::Clone, ::core::marker::Copy)]
            #(#cfgs)*
            #vis struct #name;

            #(#cfgs)*
            #[allow(deprecated)]
            impl ::core::fmt::Debug for #name {
                fn fmt(&self, #formatter: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    // Path syntax: a user trait in scope with a `write_str` method cannot interfere.
                    ::core::fmt::Formatter::write_str(#formatter, #debug_name)
                }
            }

            #(#cfgs)*
            #[allow(deprecated)]
            impl ::core::ops::Deref for #name {
                type Target = #target;
                fn deref(&self) -> &Self::Target {
                    static __TASKPOOL_FUNCTION: #target = #pointer;
                    &__TASKPOOL_FUNCTION
                }
            }
        }
    }

    /// The anonymous block: the type-level helpers, `name::task`, the `ConcurrentFunction`
    /// impl and the type-level checks.
    fn machinery(&self) -> TokenStream {
        let Parts {
            name,
            name_str,
            cfgs,
            arg_types,
            locals,
            slots,
            outcome,
            ..
        } = self;
        let vis = &self.item.vis;
        let arg_names = task_param_names(&self.item.sig);
        let args = mixed("__taskpool_args");
        let output = quote_spanned! {self.ret_span=> #outcome::Output};
        let task_doc = format!(
            " Binds [`{name_str}`] to its arguments in a `taskpool::Task`, ready to execute on a pool."
        );
        let invoke_body = self.invoke_body();
        let checks = self.checks(&output);
        let helpers = helpers();
        quote_spanned! {self.at_name=>
            #(#cfgs)*
            #[allow(non_camel_case_types, non_snake_case, dead_code, unreachable_code, deprecated)]
            const _: () = {
                #helpers

                impl #name {
                    #[doc = #task_doc]
                    #[allow(clippy::too_many_arguments, clippy::self_named_constructors, dead_code)]
                    #vis fn task(#(#arg_names: #arg_types),*)
                        -> ::taskpool::Task<<#name as ::taskpool::ConcurrentFunction>::Output>
                    {
                        ::taskpool::Task::new(#name, (#(#slots::store(#arg_names),)*))
                    }
                }

                impl ::taskpool::ConcurrentFunction for #name {
                    type Args = (#(#slots::Stored,)*);
                    type Output = #output;
                    const NAME: &'static str = ::core::concat!(::core::module_path!(), "::", #name_str);
                    fn invoke(#args: Self::Args) -> ::taskpool::Invocation<Self::Output> {
                        let (#(#locals,)*) = #args;
                        #invoke_body
                    }
                    // Clone the arguments for each run when they are `Clone` (a `Shared<T>` stays
                    // shared), otherwise copy them through serde: the `&&Copier` receiver selects.
                    #[allow(clippy::needless_borrow)]
                    fn copy_args(
                        #args: &Self::Args,
                    ) -> ::core::result::Result<Self::Args, ::taskpool::Error> {
                        #[allow(unused_imports)]
                        use ::taskpool::__private::{ViaClone as _, ViaSerde as _};
                        // Method syntax is what selects; the reserved method name keeps a user's trait
                        // in scope with a `copy_args` method for every type out of the choice.
                        (&&::taskpool::__private::Copier(#args))
                            .__taskpool_copy_args(::taskpool::__private::by_serialization::<Self>)
                    }
                }

                #checks
            };
        }
    }

    /// The body of `invoke`: the call of the hidden function with the stored arguments, its
    /// result settled (an `async fn`'s future is boxed, and settled when it ends).
    fn invoke_body(&self) -> TokenStream {
        let Parts {
            hidden,
            locals,
            slots,
            outcome,
            ..
        } = self;
        let fail = quote_spanned! {self.ret_span=> ::taskpool::__private::fail};
        let call = quote!(#hidden(#(#slots::take(#locals)),*));
        if self.is_async {
            quote! {
                ::taskpool::Invocation::Pending(::std::boxed::Box::pin(async move {
                    #outcome::settle(#call.await, #fail)
                }))
            }
        } else {
            quote! {
                ::taskpool::Invocation::Ready(#outcome::settle(#call, #fail))
            }
        }
    }

    /// The type-level checks, each spanned at the type it checks so the error points there.
    fn checks(&self, output: &TokenStream) -> TokenStream {
        let arg_checks = self.arg_types.iter().zip(&self.slots).map(|(ty, slot)| {
            quote_spanned! {ty.span()=>
                ::taskpool::__private::assert_owned_argument::<#slot::Checked>();
                ::taskpool::__private::assert_transferable::<#slot::Stored>();
            }
        });
        let outcome = &self.outcome;
        let output_check = match &self.item.sig.output {
            ReturnType::Default => quote!(),
            ReturnType::Type(_, ty) => quote_spanned! {ty.span()=>
                ::taskpool::__private::assert_owned_result::<#outcome::Checked>();
                ::taskpool::__private::assert_transferable::<#output>();
            },
        };
        quote_spanned! {self.at_name=>
            fn __taskpool_check() {
                #(#arg_checks)*
                #output_check
            }
        }
    }

    /// The registry entry that finds the function by its stable name.
    fn registration(&self) -> TokenStream {
        let Parts { name, cfgs, .. } = self;
        quote_spanned! {self.at_name=>
            #(#cfgs)*
            #[allow(deprecated)]
            const _: () = {
                ::taskpool::__private::inventory::submit! {
                    ::taskpool::__private::FunctionEntry::of::<#name>()
                }
            };
        }
    }
}

/// The attributes of `item` at path `name` (`cfg`, `doc`, `deprecated`).
fn attributes<'a>(item: &'a syn::ItemFn, name: &str) -> Vec<&'a syn::Attribute> {
    item.attrs
        .iter()
        .filter(|attr| attr.path().is_ident(name))
        .collect()
}

/// Turns `#[no_mangle]` (or `#[unsafe(no_mangle)]`) into `#[export_name = "<name>"]` (in the
/// same `unsafe(..)`, at the same span), so the renamed function keeps the symbol it was
/// declared with.
fn keep_symbol(attr: &mut syn::Attribute, name: &str) {
    let no_mangle = |tokens: &TokenStream| {
        syn::parse2::<syn::Ident>(tokens.clone())
            .ok()
            .filter(|ident| ident == "no_mangle")
    };
    let export_name = |at: &syn::Ident| {
        let path = syn::Ident::new("export_name", at.span());
        let symbol = syn::LitStr::new(name, at.span());
        quote_spanned!(at.span()=> #path = #symbol)
    };
    match &mut attr.meta {
        syn::Meta::Path(path) => {
            if let Some(ident) = path.get_ident().filter(|ident| *ident == "no_mangle") {
                let tokens = export_name(ident);
                attr.meta = syn::parse_quote!(#tokens);
            }
        }
        syn::Meta::List(list) if list.path.is_ident("unsafe") => {
            if let Some(ident) = no_mangle(&list.tokens) {
                list.tokens = export_name(&ident);
            }
        }
        _ => {}
    }
}

/// An identifier that only the expansion can name: local bindings and parameters.
fn mixed(name: &str) -> syn::Ident {
    syn::Ident::new(name, Span::mixed_site())
}

/// The generated name of the argument at `index` (`__taskpool_arg0`, …).
fn generated_arg(index: usize) -> syn::Ident {
    mixed(&format!("__taskpool_arg{index}"))
}

/// Names for the parameters of `name::task`: the parameter's own name when it is a plain
/// identifier (it shows in the documentation), a generated one for any other pattern.
///
/// A parameter's own name is safe: the function binds it too, and validation rejects a binding
/// named like the function. Generated names have the reserved prefix; if they would repeat a
/// parameter's own name, every parameter gets a generated one.
fn task_param_names(sig: &syn::Signature) -> Vec<syn::Ident> {
    let names: Vec<syn::Ident> = sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(typed) => Some(&*typed.pat),
            FnArg::Receiver(_) => None,
        })
        .enumerate()
        .map(|(index, pat)| match pat {
            Pat::Ident(pat) if pat.subpat.is_none() => {
                let mut name = pat.ident.clone();
                name.set_span(Span::mixed_site().located_at(name.span()));
                name
            }
            _ => generated_arg(index),
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    if names.iter().all(|name| seen.insert(name.to_string())) {
        names
    } else {
        (0..names.len()).map(generated_arg).collect()
    }
}

/// The type-level helpers, defined anew inside each expansion's anonymous block (they are not
/// nameable from outside it, so they cannot collide with anything). The assertions that carry a
/// `#[diagnostic]` message live in `taskpool::__private` instead: the attribute cannot be
/// resolved in a module under `#![no_implicit_prelude]`.
fn helpers() -> TokenStream {
    let probe = probe_helpers();
    let slots = slot_helpers();
    let outcomes = outcome_helpers();
    quote! {
        #probe
        #slots
        #outcomes
    }
}

/// `__TaskpoolProbe`: which kind of type a resolved type is (plain, `Result`, reference).
fn probe_helpers() -> TokenStream {
    quote! {
        /// Classifies a resolved type: the inherent consts below win over the trait's defaults.
        pub struct __TaskpoolProbe<T: ?::core::marker::Sized>(::core::marker::PhantomData<T>);
        impl<T, E> __TaskpoolProbe<::core::result::Result<T, E>> {
            pub const KIND: ::core::primitive::u8 = 1;
        }
        impl<T: ?::core::marker::Sized> __TaskpoolProbe<&T> {
            pub const KIND: ::core::primitive::u8 = 2;
            pub const BORROWED: ::core::primitive::bool = true;
        }
        impl<T: ?::core::marker::Sized> __TaskpoolProbe<&mut T> {
            pub const KIND: ::core::primitive::u8 = 2;
            pub const BORROWED: ::core::primitive::bool = true;
        }
        pub trait __TaskpoolPlain {
            /// 0: a plain value; 1: a `Result`; 2: a reference.
            const KIND: ::core::primitive::u8 = 0;
            /// Whether the type is a reference.
            const BORROWED: ::core::primitive::bool = false;
        }
        impl<T: ?::core::marker::Sized> __TaskpoolPlain for __TaskpoolProbe<T> {}
    }
}

/// `__TaskpoolSlot`: how an argument is stored in the task.
fn slot_helpers() -> TokenStream {
    let given = mixed("__taskpool_given");
    let stored = mixed("__taskpool_stored");
    quote! {
        /// An argument: stored as itself, or (a reference, already reported) as `()`.
        pub struct __TaskpoolArg<const BORROWED: ::core::primitive::bool, T>(
            ::core::marker::PhantomData<T>,
        );
        pub trait __TaskpoolSlot {
            type Given;
            type Stored;
            type Checked: ?::core::marker::Sized;
            fn store(#given: Self::Given) -> Self::Stored;
            fn take(#stored: Self::Stored) -> Self::Given;
        }
        impl<T> __TaskpoolSlot for __TaskpoolArg<false, T> {
            type Given = T;
            type Stored = T;
            type Checked = ();
            fn store(#given: T) -> T {
                #given
            }
            fn take(#stored: T) -> T {
                #stored
            }
        }
        impl<T> __TaskpoolSlot for __TaskpoolArg<true, T> {
            type Given = T;
            type Stored = ();
            type Checked = T;
            fn store(_: T) {}
            fn take(_: ()) -> T {
                ::core::unreachable!()
            }
        }
    }
}

/// `__TaskpoolOutcome`: what the task yields, and how a returned `Err` fails it.
fn outcome_helpers() -> TokenStream {
    let returned = mixed("__taskpool_returned");
    let fail = mixed("__taskpool_on_error");
    quote! {
        /// The result: a plain value, a `Result` (whose `Err` fails the task), or a reference
        /// (already reported).
        pub struct __TaskpoolRet<const KIND: ::core::primitive::u8, R>(
            ::core::marker::PhantomData<R>,
        );
        pub trait __TaskpoolOutcome {
            type Returned;
            type Output;
            type Failure;
            type Checked: ?::core::marker::Sized;
            fn settle(
                #returned: Self::Returned,
                #fail: fn(Self::Failure) -> ::taskpool::Error,
            ) -> ::core::result::Result<Self::Output, ::taskpool::Error>;
        }
        impl<R> __TaskpoolOutcome for __TaskpoolRet<0, R> {
            type Returned = R;
            type Output = R;
            type Failure = ::std::boxed::Box<
                dyn ::std::error::Error + ::core::marker::Send + ::core::marker::Sync,
            >;
            type Checked = ();
            fn settle(
                #returned: R,
                _: fn(Self::Failure) -> ::taskpool::Error,
            ) -> ::core::result::Result<R, ::taskpool::Error> {
                ::core::result::Result::Ok(#returned)
            }
        }
        impl<T, E> __TaskpoolOutcome for __TaskpoolRet<1, ::core::result::Result<T, E>> {
            type Returned = ::core::result::Result<T, E>;
            type Output = T;
            type Failure = E;
            type Checked = ();
            fn settle(
                #returned: ::core::result::Result<T, E>,
                #fail: fn(E) -> ::taskpool::Error,
            ) -> ::core::result::Result<T, ::taskpool::Error> {
                ::core::result::Result::map_err(#returned, #fail)
            }
        }
        impl<R> __TaskpoolOutcome for __TaskpoolRet<2, R> {
            type Returned = R;
            type Output = ();
            type Failure = ::std::boxed::Box<
                dyn ::std::error::Error + ::core::marker::Send + ::core::marker::Sync,
            >;
            type Checked = R;
            fn settle(
                _: R,
                _: fn(Self::Failure) -> ::taskpool::Error,
            ) -> ::core::result::Result<(), ::taskpool::Error> {
                ::core::unreachable!()
            }
        }
    }
}
