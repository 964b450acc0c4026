//! Step 3: the expansion of a valid task function.
//!
//! For `#[concurrent] pub fn add(a: i32, b: i32) -> i32` this emits:
//!
//! * the function itself, renamed `__concurrent_add` and `#[doc(hidden)]`;
//! * `pub struct add;`, a zero-sized value that derefs to `fn(i32, i32) -> i32`, so `add(1, 2)`
//!   still calls the function directly;
//! * `add::task(a, b)`, which binds the arguments in a `taskpool::Task`;
//! * `impl taskpool::ConcurrentFunction for add`;
//! * a registry entry, so the function can be found by its stable name;
//! * type-level assertions that every argument and the result are `Transferable`, each spanned at
//!   the type it checks, for what the syntactic rules cannot see.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Pat, ReturnType, Type};

use crate::parse::ConcurrentFn;
use crate::types::is_result;

/// Generates the task machinery around a function that passed validation.
pub fn expand(function: &ConcurrentFn) -> TokenStream {
    let item = &function.item;
    let sig = &item.sig;
    let vis = &item.vis;
    let name = &sig.ident;
    let name_str = name.to_string();
    let hidden = format_ident!("__concurrent_{}", name);
    let is_async = sig.asyncness.is_some();

    // `cfg` attributes go on every generated item; doc attributes also describe the value.
    let cfgs: Vec<_> = item
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"))
        .collect();
    let docs: Vec<_> = item
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .collect();

    let mut renamed = item.clone();
    renamed.sig.ident = hidden.clone();

    let arg_types: Vec<&Type> = sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(typed) => Some(&*typed.ty),
            FnArg::Receiver(_) => None,
        })
        .collect();
    // Names for the `task` constructor: the parameter's own name when it is a plain identifier.
    let arg_names: Vec<syn::Ident> = sig
        .inputs
        .iter()
        .enumerate()
        .filter_map(|(index, input)| match input {
            FnArg::Typed(typed) => Some(match &*typed.pat {
                Pat::Ident(pat) if pat.subpat.is_none() => {
                    syn::Ident::new(&pat.ident.to_string(), Span::call_site())
                }
                _ => format_ident!("arg{}", index),
            }),
            FnArg::Receiver(_) => None,
        })
        .collect();
    // A generated `argN` must not collide with a parameter that is really called `argN`.
    let arg_names: Vec<syn::Ident> = if has_duplicates(&arg_names) {
        (0..arg_names.len())
            .map(|index| format_ident!("__arg{}", index))
            .collect()
    } else {
        arg_names
    };
    let locals: Vec<syn::Ident> = (0..arg_types.len())
        .map(|index| format_ident!("__arg{}", index))
        .collect();

    let ret: TokenStream = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    };
    let fallible = is_result(&sig.output);
    let output = if fallible {
        quote!(<#ret as ::taskpool::Fallible>::Ok)
    } else {
        ret.clone()
    };
    let args_tuple = quote!((#(#arg_types,)*));

    let call = quote!(#hidden(#(#locals),*));
    let invoke_body = match (is_async, fallible) {
        (false, false) => quote! {
            ::taskpool::Invocation::Ready(::core::result::Result::Ok(#call))
        },
        (false, true) => quote! {
            ::taskpool::Invocation::Ready(::taskpool::Fallible::into_task_result(#call))
        },
        (true, false) => quote! {
            ::taskpool::Invocation::Pending(::std::boxed::Box::pin(async move {
                ::core::result::Result::Ok(#call.await)
            }))
        },
        (true, true) => quote! {
            ::taskpool::Invocation::Pending(::std::boxed::Box::pin(async move {
                ::taskpool::Fallible::into_task_result(#call.await)
            }))
        },
    };

    let (target, pointer) = if is_async {
        (
            quote!(fn(#(#arg_types),*) -> ::taskpool::BoxFuture<#ret>),
            quote!(|#(#locals),*| ::std::boxed::Box::pin(#call)),
        )
    } else {
        (quote!(fn(#(#arg_types),*) -> #ret), quote!(#hidden))
    };

    // Type-level checks, each spanned at the type it checks so the error points there.
    let arg_checks = arg_types.iter().map(|ty| {
        quote_spanned! {ty.span()=>
            __assert_transferable::<#ty>();
        }
    });
    let output_check = match &sig.output {
        ReturnType::Default => quote!(),
        ReturnType::Type(_, ty) => quote_spanned! {ty.span()=>
            __assert_transferable::<#output>();
        },
    };

    let debug_name = format!("#[concurrent] fn {name_str}");
    let task_doc = format!(
        " Binds [`{name_str}`] to its arguments in a `taskpool::Task`, ready to execute on a pool."
    );
    let default_doc = if docs.is_empty() {
        let text = format!(" The `#[concurrent]` function `{name_str}`.");
        quote!(#[doc = #text])
    } else {
        quote!()
    };
    let async_doc = if is_async {
        quote! {
            #[doc = ""]
            #[doc = " Called directly, this `async fn` returns a boxed `Send` future (`taskpool::BoxFuture`)."]
        }
    } else {
        quote!()
    };

    quote! {
        #(#cfgs)*
        #[doc(hidden)]
        #renamed

        #(#docs)*
        #default_doc
        #async_doc
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy)]
        #(#cfgs)*
        #vis struct #name;

        #(#cfgs)*
        impl ::core::fmt::Debug for #name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(#debug_name)
            }
        }

        #(#cfgs)*
        impl ::core::ops::Deref for #name {
            type Target = #target;
            fn deref(&self) -> &Self::Target {
                static __FUNCTION: #target = #pointer;
                &__FUNCTION
            }
        }

        #(#cfgs)*
        impl #name {
            #[doc = #task_doc]
            #[allow(clippy::too_many_arguments, dead_code)]
            #vis fn task(#(#arg_names: #arg_types),*)
                -> ::taskpool::Task<<#name as ::taskpool::ConcurrentFunction>::Output>
            {
                ::taskpool::Task::new(#name, (#(#arg_names,)*))
            }
        }

        #(#cfgs)*
        impl ::taskpool::ConcurrentFunction for #name {
            type Args = #args_tuple;
            type Output = #output;
            const NAME: &'static str = ::core::concat!(::core::module_path!(), "::", #name_str);
            fn invoke(args: Self::Args) -> ::taskpool::Invocation<Self::Output> {
                let (#(#locals,)*) = args;
                #invoke_body
            }
            // Clone the arguments for each run when they are `Clone` (a `Shared<T>` stays
            // shared), otherwise copy them through serde: the `&&Copier` receiver selects.
            #[allow(clippy::needless_borrow)]
            fn copy_args(
                args: &Self::Args,
            ) -> ::core::result::Result<Self::Args, ::taskpool::Error> {
                #[allow(unused_imports)]
                use ::taskpool::__private::{ViaClone as _, ViaSerde as _};
                (&&::taskpool::__private::Copier(args))
                    .copy_args(::taskpool::__private::by_serialization::<Self>)
            }
        }

        #(#cfgs)*
        const _: () = {
            fn __assert_transferable<T: ::taskpool::Transferable>() {}
            #[allow(dead_code)]
            fn __check() {
                #(#arg_checks)*
                #output_check
            }
        };

        #(#cfgs)*
        ::taskpool::__private::inventory::submit! {
            ::taskpool::__private::FunctionEntry::of::<#name>()
        }
    }
}

fn has_duplicates(names: &[syn::Ident]) -> bool {
    let mut seen = std::collections::HashSet::new();
    names.iter().any(|name| !seen.insert(name.to_string()))
}
