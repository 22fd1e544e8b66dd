//! `#[map]` and `#[derive(Pod)]`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, ItemStatic, LitStr};

/// `#[map]` / `#[map(name = "...")]` on a static.
pub fn map(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let item: ItemStatic = syn::parse2(item)?;
    if !matches!(item.mutability, syn::StaticMutability::None) {
        return Err(syn::Error::new_spanned(
            &item.mutability,
            "a map static cannot be `mut`: maps are shared with other CPUs and user space",
        ));
    }
    let mut name = LitStr::new(&item.ident.to_string(), item.ident.span());
    if !attr.is_empty() {
        let meta: syn::MetaNameValue = syn::parse2(attr)?;
        if !meta.path.is_ident("name") {
            return Err(syn::Error::new_spanned(
                meta.path,
                "expected `name = \"...\"`",
            ));
        }
        match meta.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => name = s,
            other => return Err(syn::Error::new_spanned(other, "expected a string literal")),
        }
    }
    crate::symbol::check(&name.value(), name.span())?;
    let ItemStatic {
        attrs,
        vis,
        ident,
        ty,
        expr,
        ..
    } = item;
    let name = LitStr::new(&name.value(), proc_macro2::Span::call_site());
    // Emitted here with this macro's spans, so the attributes do not count
    // against `forbid(unsafe_code)`. The static's own type (by a reference
    // to it, not a re-spelling) must be one of iu-ebpf's map definitions:
    // the loader turns the static's address into a map descriptor.
    Ok(quote! {
        #(#attrs)*
        #[cfg_attr(target_arch = "bpf", unsafe(export_name = #name))]
        #[cfg_attr(target_arch = "bpf", unsafe(link_section = ".maps"))]
        #[cfg_attr(not(target_arch = "bpf"), allow(dead_code))]
        #vis static #ident: #ty = #expr;
        const _: () = ::iu_ebpf::__private::is_map_def(&#ident);
    })
}

/// `#[derive(Pod)]`.
///
/// The impl is emitted here, from the struct's real fields, not by a
/// `macro_rules!` helper that anyone could call with a made-up field list.
/// An `unsafe impl` that a proc macro of another crate emits with its own
/// (call-site) spans does not trip the user crate's `forbid(unsafe_code)`
/// (rustc reports no lint inside an external macro's expansion; checked on
/// rustc 1.95 and on the Debian 1.96 used for BPF). Tokens that carry the
/// user's spans, such as an `unsafe` block passed as an argument, are still
/// linted.
///
/// What makes the impl sound, all checked by the compiler on the real
/// struct:
/// - it is a struct (not an enum or union) with no generic parameters, and
///   `#[repr(C)]` or `#[repr(transparent)]`;
/// - each field is read *by value through a closure* (`|s: S| s.field`), so
///   the field's type is the compiler's, not a re-spelling of it, and must
///   be `Pod` (references, pointers, `bool`, `char`, `NonZero*`, `Option`,
///   enums and uninhabited types are not);
/// - the sum of the fields' sizes equals the struct's size: the fields do
///   not overlap, so no byte is padding.
///
/// Every path goes through `::iu_ebpf::__private` (no `::core`, no
/// `panic!` that a local macro could shadow).
pub fn derive_pod(input: TokenStream) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(input)?;
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(Pod)] only supports structs: enums and unions have invalid bit patterns",
        ));
    };
    let mut repr_c = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("repr")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("C") || meta.path.is_ident("transparent") {
                repr_c = true;
            }
            // `align(N)`, `packed(N)`: skip their arguments; the size check
            // below catches the padding they add.
            if meta.input.peek(syn::token::Paren) {
                let content;
                syn::parenthesized!(content in meta.input);
                let _: TokenStream = content.parse()?;
            }
            Ok(())
        })?;
    }
    if !repr_c {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(Pod)] needs #[repr(C)] (or #[repr(transparent)]): Rust's default layout may reorder fields and is not shared with the other side",
        ));
    }
    if !input.generics.params.is_empty() || input.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "#[derive(Pod)] does not support generic types",
        ));
    }
    let name = &input.ident;
    let members: Vec<syn::Member> = data.fields.members().collect();
    let krate = iu_ebpf_path();
    Ok(quote! {
        const _: () = #krate::__private::assert_no_padding(
            #krate::__private::size_of::<#name>(),
            &[#(#krate::__private::pod_field_size(|s: #name| s.#members)),*],
        );
        // SAFETY: the assertion above (evaluated at compile time) checks
        // that the fields, each `Pod` by `pod_field_size`'s bound, fill the
        // struct with no padding; the struct is neither generic, an enum nor
        // a union. So every bit pattern is a valid value and every byte is
        // initialized.
        unsafe impl #krate::Pod for #name {
            const __SPIN_LOCKED: bool = false
                #(|| #krate::__private::pod_field_spin_locked(|s: #name| s.#members))*;
        }
    })
}

/// How the deriving crate reaches `iu-ebpf`: `::iu_ebpf` when its manifest
/// names `iu-ebpf` (program crates, `*-common` crates, and iu-ebpf itself),
/// otherwise through `iu`'s hidden re-export (user-space crates that depend
/// on `iu` only).
fn iu_ebpf_path() -> TokenStream {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .and_then(|dir| std::fs::read_to_string(std::path::Path::new(&dir).join("Cargo.toml")).ok())
        .unwrap_or_default();
    let names_iu_ebpf = manifest.lines().any(|line| {
        let line = line.trim_start();
        line.starts_with("iu-ebpf") || line.starts_with("iu_ebpf") || line == "name = \"iu-ebpf\""
    });
    let names_iu = manifest.lines().any(|line| {
        let line = line.trim_start();
        line.starts_with("iu ") || line.starts_with("iu=") || line.starts_with("iu.")
    });
    if names_iu && !names_iu_ebpf {
        quote!(::iu::__iu_ebpf)
    } else {
        quote!(::iu_ebpf)
    }
}
