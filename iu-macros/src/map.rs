//! `#[map]` and `#[derive(Pod)]`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, ItemStatic, LitStr, Meta};

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
    let ItemStatic {
        attrs,
        vis,
        ident,
        ty,
        expr,
        ..
    } = item;
    Ok(quote! {
        ::iu_ebpf::__map!(#(#attrs)* #vis static #ident: #ty = #expr; #name);
    })
}

/// `#[derive(Pod)]`.
pub fn derive_pod(input: TokenStream) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(input)?;
    let repr_c = input.attrs.iter().any(|a| {
        a.path().is_ident("repr")
            && matches!(&a.meta, Meta::List(list) if list.tokens.to_string().split(',').any(|t| matches!(t.trim(), "C" | "transparent")))
    });
    if !repr_c {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(Pod)] needs #[repr(C)] (or #[repr(transparent)]): Rust's default layout may reorder fields and is not shared with the other side",
        ));
    }
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "#[derive(Pod)] does not support generic types",
        ));
    }
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(Pod)] only supports structs: enums and unions have invalid bit patterns",
        ));
    };
    let types: Vec<_> = match &data.fields {
        Fields::Named(f) => f.named.iter().map(|f| &f.ty).collect(),
        Fields::Unnamed(f) => f.unnamed.iter().map(|f| &f.ty).collect(),
        Fields::Unit => vec![],
    };
    let name = &input.ident;
    Ok(quote! {
        ::iu_ebpf::__pod!(#name, [#(#types),*]);
    })
}
