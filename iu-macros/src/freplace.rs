//! `#[replaceable]` global functions and the `#[freplace]` programs that
//! replace them (`BPF_PROG_TYPE_EXT`).

use proc_macro2::TokenStream;
use quote::quote;
use syn::{FnArg, ItemFn, LitStr, Pat, ReturnType, Type};

use crate::program::{parse_args, required_key};

/// The integer types a global function may take and return: the verifier
/// checks a global function on its own, with unknown scalars for its
/// arguments, and matches an extension's signature with its target's
/// through BTF (same kinds, same sizes).
const SCALARS: &[&str] = &["u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64"];

fn is_scalar(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none()
        && p.path.get_ident().is_some_and(|id| SCALARS.contains(&id.to_string().as_str())))
}

/// Checks that `func` has the shape of a function BPF programs can call
/// as a global function: plain, with integer arguments bound to plain
/// names and an integer result.
fn check_signature(func: &ItemFn, what: &str) -> syn::Result<()> {
    let sig = &func.sig;
    if !sig.generics.params.is_empty()
        || sig.asyncness.is_some()
        || sig.unsafety.is_some()
        || sig.abi.is_some()
        || sig.variadic.is_some()
    {
        return Err(syn::Error::new_spanned(
            sig,
            format!("{what} must be a plain, non-generic, safe Rust function"),
        ));
    }
    if sig.inputs.len() > 5 {
        return Err(syn::Error::new_spanned(
            &sig.inputs,
            "BPF functions take at most 5 arguments",
        ));
    }
    for input in &sig.inputs {
        let FnArg::Typed(arg) = input else {
            return Err(syn::Error::new_spanned(input, "no `self` here"));
        };
        if !matches!(&*arg.pat, Pat::Ident(_)) || !is_scalar(&arg.ty) {
            return Err(syn::Error::new_spanned(
                arg,
                format!(
                    "{what} takes integers (`name: u32`): the kernel checks it with unknown arguments and matches replacements by their BTF types"
                ),
            ));
        }
    }
    match &sig.output {
        ReturnType::Type(_, ty) if is_scalar(ty) => Ok(()),
        _ => Err(syn::Error::new_spanned(
            &sig.output,
            format!("{what} returns an integer (`u8` to `u64`, `i8` to `i64`)"),
        )),
    }
}

/// `#[replaceable]`: the function becomes a global BPF function (its own
/// symbol, never inlined), which the kernel verifies on its own and which
/// a `#[freplace]` program can replace while the program runs.
pub fn replaceable(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    if !attr.is_empty() {
        return Err(syn::Error::new_spanned(
            attr,
            "`#[replaceable]` takes no arguments",
        ));
    }
    let mut func: ItemFn = syn::parse2(item)?;
    check_signature(&func, "a replaceable function")?;
    let name = func.sig.ident.to_string();
    crate::symbol::check(&name, func.sig.ident.span())?;
    let export = LitStr::new(&name, func.sig.ident.span());
    // `extern "C"` and its own symbol: the C ABI the kernel's BTF
    // signature describes, and a global function in the object's BTF.
    func.sig.abi = Some(syn::parse_quote!(extern "C"));
    func.attrs.push(syn::parse_quote!(#[inline(never)]));
    // The symbol only on BPF: host builds (unit tests) may define the same
    // name twice across test binaries.
    func.attrs
        .push(syn::parse_quote!(#[cfg_attr(target_arch = "bpf", unsafe(export_name = #export))]));
    Ok(quote!(#func))
}

/// `#[freplace(function = "...")]`: a program (section
/// `freplace/<function>`) with the same signature as the `#[replaceable]`
/// function it replaces in a loaded program.
pub fn freplace(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut func: ItemFn = syn::parse2(item)?;
    let target = required_key(
        parse_args(attr)?,
        "function",
        &func,
        "the name of the `#[replaceable]` function this replaces",
    )?;
    if target.value().is_empty() || target.value().contains(char::is_whitespace) {
        return Err(syn::Error::new_spanned(
            &target,
            "the function is a symbol name, without spaces",
        ));
    }
    check_signature(&func, "an freplace program")?;
    let name = func.sig.ident.clone();
    crate::symbol::check(&name.to_string(), name.span())?;
    let section = LitStr::new(
        &format!("freplace/{}", target.value()),
        proc_macro2::Span::call_site(),
    );
    let export = LitStr::new(&name.to_string(), proc_macro2::Span::call_site());
    let on_panic_export = LitStr::new(
        &format!("__iu_on_panic_{name}"),
        proc_macro2::Span::call_site(),
    );
    let on_panic_section = LitStr::new(
        &format!("iu_on_panic.{name}"),
        proc_macro2::Span::call_site(),
    );
    let params: Vec<_> = func.sig.inputs.iter().cloned().collect();
    let args: Vec<_> = func
        .sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(arg) => match &*arg.pat {
                Pat::Ident(ident) => Some(ident.ident.clone()),
                _ => None,
            },
            FnArg::Receiver(_) => None,
        })
        .collect();
    let output = func.sig.output.clone();
    func.attrs.push(syn::parse_quote!(#[inline(always)]));
    func.attrs
        .push(syn::parse_quote!(#[cfg_attr(not(target_arch = "bpf"), allow(dead_code))]));
    // The entry point takes the replaced function's arguments, not a
    // context: its BTF signature must match the target's.
    Ok(quote! {
        #func
        const _: () = {
            // What the program returns when it panics (see `iu_ebpf::panic`).
            #[cfg(target_arch = "bpf")]
            #[used]
            #[unsafe(export_name = #on_panic_export)]
            #[unsafe(link_section = #on_panic_section)]
            static ON_PANIC: i64 = 0;

            #[cfg(target_arch = "bpf")]
            #[unsafe(export_name = #export)]
            #[unsafe(link_section = #section)]
            extern "C" fn #name(#(#params),*) #output {
                self::#name(#(#args),*)
            }
        };
    })
}
