//! `license!`, `version!`, `global!` and `logger!`: the statics the kernel
//! ABI and iu's loader look for by symbol and section.
//!
//! They are proc macros so that the `export_name`/`link_section` attributes
//! they emit carry this crate's spans and do not count against the program
//! crate's `forbid(unsafe_code)` — without `allow_internal_unsafe`, a
//! nightly feature that would keep `iu-ebpf` off stable Rust. Every value
//! they take is the user's own code, with the user's spans, so an `unsafe`
//! block passed in is still refused.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{
    Attribute, Expr, Ident, LitByteStr, LitStr, Token, Type, Visibility, parse::Parse,
    parse::ParseStream,
};

/// `license!("GPL")`: the `license` section.
pub fn license(input: TokenStream) -> syn::Result<TokenStream> {
    let license: LitStr = syn::parse2(input)?;
    let mut bytes = license.value().into_bytes();
    if bytes.contains(&0) {
        return Err(syn::Error::new_spanned(
            &license,
            "a license cannot contain NUL",
        ));
    }
    bytes.push(0);
    let len = bytes.len();
    let bytes = LitByteStr::new(&bytes, Span::call_site());
    Ok(quote! {
        const _: () = {
            #[cfg(target_arch = "bpf")]
            #[unsafe(export_name = "_license")]
            #[unsafe(link_section = "license")]
            static _LICENSE: [u8; #len] = *#bytes;
        };
    })
}

/// `version!(expr)`: the `version` section.
pub fn version(input: TokenStream) -> syn::Result<TokenStream> {
    let version: Expr = syn::parse2(input)?;
    Ok(quote! {
        const _: () = {
            #[cfg(target_arch = "bpf")]
            #[unsafe(export_name = "_version")]
            #[unsafe(link_section = "version")]
            static _VERSION: u32 = #version;
        };
    })
}

/// `global!(static NAME: T = value)`.
struct GlobalInput {
    attrs: Vec<Attribute>,
    vis: Visibility,
    name: Ident,
    ty: Type,
    init: Expr,
}

impl Parse for GlobalInput {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        input.parse::<Token![static]>()?;
        let name = input.parse()?;
        input.parse::<Token![:]>()?;
        let ty = input.parse()?;
        input.parse::<Token![=]>()?;
        let init = input.parse()?;
        let _ = input.parse::<Option<Token![;]>>()?;
        Ok(Self {
            attrs,
            vis,
            name,
            ty,
            init,
        })
    }
}

pub fn global(input: TokenStream) -> syn::Result<TokenStream> {
    let GlobalInput {
        attrs,
        vis,
        name,
        ty,
        init,
    } = syn::parse2(input)?;
    crate::symbol::check(&name.to_string(), name.span())?;
    let export = LitStr::new(&name.to_string(), Span::call_site());
    Ok(quote! {
        #(#attrs)*
        #[cfg_attr(target_arch = "bpf", unsafe(export_name = #export))]
        #vis static #name: ::iu_ebpf::Global<#ty> = ::iu_ebpf::Global::new(#init);
    })
}

/// `logger!()`: the `IU_LOGS` ring buffer and the `IU_LOG_LEVEL` global.
pub fn logger(input: TokenStream) -> syn::Result<TokenStream> {
    if !input.is_empty() {
        return Err(syn::Error::new_spanned(
            input,
            "`logger!()` takes no arguments",
        ));
    }
    Ok(quote! {
        #[cfg_attr(target_arch = "bpf", unsafe(export_name = "IU_LOGS"))]
        #[cfg_attr(target_arch = "bpf", unsafe(link_section = ".maps"))]
        #[cfg_attr(not(target_arch = "bpf"), allow(dead_code))]
        static IU_LOGS: ::iu_ebpf::maps::RingBuf<{ 256 * 1024 }> = ::iu_ebpf::maps::RingBuf::new();
        #[cfg_attr(target_arch = "bpf", unsafe(export_name = "IU_LOG_LEVEL"))]
        static IU_LOG_LEVEL: ::iu_ebpf::Global<u8> = ::iu_ebpf::Global::new(::iu_ebpf::log::level::INFO);
    })
}
