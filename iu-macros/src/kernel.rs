//! CO-RE access sites: `core_value!` and the user-facing `field_exists!`,
//! `field_size!`, `type_exists!`, `type_size!` and `enum_value!`.
//!
//! Each site becomes a relocation record in its own section
//! `iu_core.<hash>` and a placeholder constant the loader patches (see
//! `iu_ebpf::kernel`). Records are emitted here, with this crate's spans,
//! so their `link_section` does not count against the program crate's
//! `forbid(unsafe_code)`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitStr, Token};

/// The record kinds, as the first field of a record's text.
const KINDS: &str = "osegvVtzi";

/// FNV-1a, 32 bits (the same as `iu_ebpf::kernel::record_hash`).
fn hash(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The expression for one record: its section and its placeholder.
pub(crate) fn site(text: &str, at: &str) -> TokenStream {
    // The invocation site makes the record unique: one variable per
    // section, as the kernel's BTF checks want.
    let text = &format!("{text}|{}", at.replace('|', "/"));
    let hash = hash(text);
    let mut bytes = b"IUCR".to_vec();
    bytes.extend_from_slice(&hash.to_le_bytes());
    bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
    let len = bytes.len();
    let section = LitStr::new(
        &format!("iu_core.{hash:08x}"),
        proc_macro2::Span::call_site(),
    );
    let text = LitStr::new(text, proc_macro2::Span::call_site());
    quote! {{
        #[cfg(target_arch = "bpf")]
        const _: () = {
            #[used]
            #[unsafe(link_section = #section)]
            static RECORD: [u8; #len] = [#(#bytes),*];
        };
        ::iu_ebpf::kernel::__value::<#hash>(#text)
    }}
}

/// `core_value!("kind|type|path|size|shape")`: the raw form, used by
/// generated code.
pub(crate) fn core_value(input: TokenStream, at: &str) -> syn::Result<TokenStream> {
    let lit: LitStr = syn::parse2(input)?;
    let text = lit.value();
    let fields: Vec<&str> = text.split('|').collect();
    let valid = fields.len() == 5
        && fields[0].len() == 1
        && KINDS.contains(fields[0])
        && !fields[1].is_empty()
        && fields[3].parse::<u32>().is_ok();
    if !valid {
        return Err(syn::Error::new(
            lit.span(),
            "core_value!: expected \"kind|type|path|local size|shape\" (kind one of o s e g v V t z i)",
        ));
    }
    Ok(site(&text, at))
}

/// `type.field.field`: a root type and a field path.
struct FieldPath {
    root: Ident,
    path: Vec<Ident>,
}

impl Parse for FieldPath {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let root: Ident = input.call(Ident::parse_any_ident)?;
        let mut path = Vec::new();
        while input.peek(Token![.]) {
            input.parse::<Token![.]>()?;
            path.push(input.call(Ident::parse_any_ident)?);
        }
        if path.is_empty() {
            return Err(input.error("expected `type.field` (for example `task_struct.pid`)"));
        }
        if !input.is_empty() {
            return Err(input.error("expected `type.field.field...`"));
        }
        Ok(FieldPath { root, path })
    }
}

trait ParseAny {
    fn parse_any_ident(input: ParseStream<'_>) -> syn::Result<Ident>;
}

impl ParseAny for Ident {
    fn parse_any_ident(input: ParseStream<'_>) -> syn::Result<Ident> {
        use syn::ext::IdentExt;
        Ident::parse_any(input)
    }
}

fn unraw(ident: &Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}

fn field_text(kind: char, input: TokenStream) -> syn::Result<String> {
    let f: FieldPath = syn::parse2(input)?;
    let path: Vec<String> = f.path.iter().map(unraw).collect();
    Ok(format!("{kind}|{}|{}|0|-", unraw(&f.root), path.join(".")))
}

/// `field_exists!(task_struct.__state)`: `bool`.
pub(crate) fn field_exists(input: TokenStream, at: &str) -> syn::Result<TokenStream> {
    let site = site(&field_text('e', input)?, at);
    Ok(quote! { (#site != 0) })
}

/// `field_size!(task_struct.state)`: the field's size in bytes, `u64`.
pub(crate) fn field_size(input: TokenStream, at: &str) -> syn::Result<TokenStream> {
    Ok(site(&field_text('s', input)?, at))
}

/// `field_signed!(task_struct.pid)`: `bool`.
pub(crate) fn field_signed(input: TokenStream, at: &str) -> syn::Result<TokenStream> {
    let site = site(&field_text('g', input)?, at);
    Ok(quote! { (#site != 0) })
}

/// `struct task_struct`, `union x`, `enum x` or `typedef x`.
struct TypeRef {
    kind: String,
    name: String,
}

impl Parse for TypeRef {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let kind = if input.peek(Token![struct]) {
            input.parse::<Token![struct]>()?;
            "struct".to_owned()
        } else if input.peek(Token![union]) {
            input.parse::<Token![union]>()?;
            "union".to_owned()
        } else if input.peek(Token![enum]) {
            input.parse::<Token![enum]>()?;
            "enum".to_owned()
        } else {
            let kind: Ident = input.parse()?;
            if kind != "typedef" {
                return Err(syn::Error::new(
                    kind.span(),
                    "expected `struct`, `union`, `enum` or `typedef` before the type name",
                ));
            }
            "typedef".to_owned()
        };
        let name: Ident = input.call(Ident::parse_any_ident)?;
        Ok(TypeRef {
            kind,
            name: unraw(&name),
        })
    }
}

fn type_text(kind: char, input: TokenStream) -> syn::Result<String> {
    let t: TypeRef = syn::parse2(input)?;
    Ok(format!("{kind}|{} {}||0|-", t.kind, t.name))
}

/// `type_exists!(struct task_struct)`: `bool`.
pub(crate) fn type_exists(input: TokenStream, at: &str) -> syn::Result<TokenStream> {
    let site = site(&type_text('t', input)?, at);
    Ok(quote! { (#site != 0) })
}

/// `type_size!(struct task_struct)`: `u64`.
pub(crate) fn type_size(input: TokenStream, at: &str) -> syn::Result<TokenStream> {
    Ok(site(&type_text('z', input)?, at))
}

/// `type_id!(struct task_struct)`: the kernel's BTF id, `u64`.
pub(crate) fn type_id(input: TokenStream, at: &str) -> syn::Result<TokenStream> {
    Ok(site(&type_text('i', input)?, at))
}

/// `enum_value!(pid_type::PIDTYPE_TGID)`: `Option<u64>`.
pub(crate) fn enum_value(input: TokenStream, at: &str) -> syn::Result<TokenStream> {
    struct EnumRef(Ident, Ident);
    impl Parse for EnumRef {
        fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
            let e = input.call(Ident::parse_any_ident)?;
            input.parse::<Token![::]>()?;
            let v = input.call(Ident::parse_any_ident)?;
            Ok(EnumRef(e, v))
        }
    }
    let EnumRef(e, v) = syn::parse2(input)?;
    let (e, v) = (unraw(&e), unraw(&v));
    let exists = site(&format!("V|{e}|{v}|0|-"), at);
    let value = site(&format!("v|{e}|{v}|0|-"), at);
    Ok(quote! {
        if #exists != 0 { ::core::option::Option::Some(#value) } else { ::core::option::Option::None }
    })
}
