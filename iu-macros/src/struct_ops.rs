//! `#[struct_ops(name = "...")]` on an impl of a struct_ops trait of
//! `iu_ebpf::programs` (`TcpCongestionOps`): one program per callback
//! written in the impl, and a record the loader reads to build the
//! kernel's struct (`iu/src/programs/struct_ops.rs`).

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{ImplItem, ItemImpl, LitStr};

use crate::program::parse_args;

/// The bytes that start a struct_ops record (section
/// `iu_struct_ops.<name>`), followed by the text
/// `struct|name|flags|member=program,member=program`.
const RECORD_TAG: &[u8; 4] = b"IUSO";

/// The longest name a TCP congestion control may have
/// (`TCP_CA_NAME_MAX` is 16 with the NUL).
const MAX_NAME: usize = 15;

/// `TcpCongestionOps` -> `tcp_congestion_ops`.
fn snake(ident: &str) -> String {
    let mut out = String::new();
    for (i, c) in ident.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

pub fn struct_ops(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let imp: ItemImpl = syn::parse2(item)?;
    let Some((None, trait_path, _)) = &imp.trait_ else {
        return Err(syn::Error::new_spanned(
            &imp.self_ty,
            "#[struct_ops] goes on an impl of a struct_ops trait: `impl TcpCongestionOps for MyCc { ... }`",
        ));
    };
    if !imp.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &imp.generics,
            "a struct_ops impl cannot be generic",
        ));
    }
    let Some(last) = trait_path.segments.last() else {
        return Err(syn::Error::new_spanned(trait_path, "expected a trait"));
    };
    let kernel_struct = snake(&last.ident.to_string());
    if kernel_struct != "tcp_congestion_ops" {
        return Err(syn::Error::new_spanned(
            trait_path,
            "iu supports one struct_ops type so far: `TcpCongestionOps` (struct tcp_congestion_ops)",
        ));
    }
    let mut name = None;
    let mut flags = 0u32;
    for (key, value) in parse_args(attr)? {
        match key.to_string().as_str() {
            "name" => name = Some(value),
            "flags" => {
                let text = value.value();
                let parsed = match text.strip_prefix("0x") {
                    Some(hex) => u32::from_str_radix(hex, 16),
                    None => text.parse(),
                };
                flags = parsed.map_err(|_| {
                    syn::Error::new_spanned(
                        &value,
                        "`flags` is a number (`\"0x2\"`: TCP_CONG_NON_RESTRICTED)",
                    )
                })?;
            }
            _ => {
                return Err(syn::Error::new_spanned(
                    key,
                    "unknown key: expected `name` (and optionally `flags`)",
                ));
            }
        }
    }
    let Some(name) = name else {
        return Err(syn::Error::new(
            Span::call_site(),
            "#[struct_ops] needs `name = \"...\"`: the name sockets select it by (TCP_CONGESTION)",
        ));
    };
    let ops_name = name.value();
    let valid = !ops_name.is_empty()
        && ops_name.len() <= MAX_NAME
        && ops_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        return Err(syn::Error::new_spanned(
            &name,
            "the name must be 1 to 15 ASCII letters, digits or `_` (the kernel's TCP_CA_NAME_MAX is 16 with the NUL)",
        ));
    }
    let self_ty = &imp.self_ty;
    let module = syn::Ident::new(&kernel_struct, Span::call_site());
    let mut members = Vec::new();
    let mut stubs = Vec::new();
    for item in &imp.items {
        let ImplItem::Fn(method) = item else {
            continue;
        };
        let member = method.sig.ident.to_string();
        let program = format!("{ops_name}_{member}");
        crate::symbol::check(&program, method.sig.ident.span())?;
        members.push(format!("{member}={program}"));
        let member_ident = syn::Ident::new(&member, Span::call_site());
        let stub = syn::Ident::new(&program, Span::call_site());
        let on_panic = syn::Ident::new(&format!("ON_PANIC_{program}"), Span::call_site());
        let export = LitStr::new(&program, Span::call_site());
        let section = LitStr::new(&format!("struct_ops/{member}"), Span::call_site());
        let on_panic_export = LitStr::new(&format!("__iu_on_panic_{program}"), Span::call_site());
        let on_panic_section = LitStr::new(&format!("iu_on_panic.{program}"), Span::call_site());
        stubs.push(quote! {
            // What the callback returns when it panics (see `iu_ebpf::panic`).
            #[cfg(target_arch = "bpf")]
            #[used]
            #[unsafe(export_name = #on_panic_export)]
            #[unsafe(link_section = #on_panic_section)]
            #[allow(non_upper_case_globals)]
            static #on_panic: i64 = 0;

            #[cfg(target_arch = "bpf")]
            #[unsafe(export_name = #export)]
            #[unsafe(link_section = #section)]
            extern "C" fn #stub(ctx: *mut ::core::ffi::c_void) -> u32 {
                // SAFETY: the kernel calls this entry point, a struct_ops
                // program loaded for member `#member` of the struct (the
                // section names it, and the loader sets the member index
                // from it), with that member's argument array.
                let args = unsafe { ::iu_ebpf::programs::StructOpsArgs::from_raw(ctx) };
                ::iu_ebpf::programs::#module::glue::#member_ident::<#self_ty>(args)
            }
        });
    }
    let text = format!("{kernel_struct}|{ops_name}|{flags}|{}", members.join(","));
    let mut bytes = RECORD_TAG.to_vec();
    bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
    let len = bytes.len();
    let record_section = LitStr::new(&format!("iu_struct_ops.{ops_name}"), Span::call_site());
    Ok(quote! {
        #imp
        const _: () = {
            // What the loader builds the kernel's struct from: the struct,
            // the name, the flags and each member's program.
            #[cfg(target_arch = "bpf")]
            #[used]
            #[unsafe(link_section = #record_section)]
            static RECORD: [u8; #len] = [#(#bytes),*];
            #(#stubs)*
        };
    })
}

#[cfg(test)]
mod tests {
    use quote::quote;

    #[test]
    fn one_program_per_callback_and_a_record() {
        let item = quote! {
            impl TcpCongestionOps for Reno {
                fn ssthresh(sk: TcpSock) -> u32 { 2 }
                fn cong_avoid(sk: TcpSock, ack: u32, acked: u32) {}
            }
        };
        let out = super::struct_ops(quote! { name = "iu_reno" }, item.clone())
            .unwrap()
            .to_string();
        assert!(out.contains("\"struct_ops/ssthresh\""), "{out}");
        assert!(out.contains("\"iu_reno_cong_avoid\""), "{out}");
        assert!(out.contains("\"iu_struct_ops.iu_reno\""), "{out}");
        assert!(super::struct_ops(quote! {}, item.clone()).is_err());
        assert!(super::struct_ops(quote! { name = "much_too_long_a_name" }, item.clone()).is_err());
        assert!(super::struct_ops(quote! { name = "a-b" }, item.clone()).is_err());
        let not_a_trait = quote! { impl Reno { fn ssthresh() {} } };
        assert!(super::struct_ops(quote! { name = "x" }, not_a_trait).is_err());
        let other = quote! { impl SchedExtOps for X { fn init() {} } };
        assert!(super::struct_ops(quote! { name = "x" }, other).is_err());
    }
}
