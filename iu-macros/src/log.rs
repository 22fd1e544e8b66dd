//! `info!`, `warn!`, `debug!`, `error!`, `trace!`: the format string is
//! checked and normalized here, stored once in the object (a site
//! descriptor emitted here), and rendered by user space.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Expr, LitStr, Token, parse::Parser, punctuated::Punctuated};

/// The display hints user space knows how to render.
const HINTS: &[&str] = &["", "x", "X", "ipv4", "ipv6", "mac", "?"];

pub fn expand(level: u8, input: TokenStream) -> syn::Result<TokenStream> {
    let parser = |stream: syn::parse::ParseStream| -> syn::Result<(LitStr, Vec<Expr>)> {
        let format: LitStr = stream.parse()?;
        if stream.is_empty() {
            return Ok((format, vec![]));
        }
        stream.parse::<Token![,]>()?;
        let args = Punctuated::<Expr, Token![,]>::parse_terminated(stream)?;
        Ok((format, args.into_iter().collect()))
    };
    let (format, args) = parser.parse2(input)?;
    let err = |msg: String| syn::Error::new_spanned(&format, msg);

    // Normalize to positional `{}` / `{:hint}` with one argument per
    // placeholder, in order.
    let text = format.value();
    let mut normalized = String::new();
    let mut values: Vec<Expr> = vec![];
    let mut next = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                normalized.push_str("{{");
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                normalized.push_str("}}");
            }
            '}' => return Err(err("unmatched `}` in format string; write `}}`".into())),
            '{' => {
                let mut spec = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => spec.push(c),
                        None => return Err(err("unterminated `{` in format string".into())),
                    }
                }
                let (arg, hint) = spec.split_once(':').unwrap_or((&spec, ""));
                if !HINTS.contains(&hint) {
                    return Err(err(format!(
                        "unknown display hint `{hint}`: use one of `x`, `X`, `ipv4`, `ipv6`, `mac`"
                    )));
                }
                let value: Expr = if arg.is_empty() {
                    next += 1;
                    args.get(next - 1)
                        .cloned()
                        .ok_or_else(|| err(format!("missing argument {}", next - 1)))?
                } else if let Ok(i) = arg.parse::<usize>() {
                    args.get(i)
                        .cloned()
                        .ok_or_else(|| err(format!("no argument {i}")))?
                } else {
                    let ident = format_ident!("{}", arg);
                    syn::parse_quote!(#ident)
                };
                values.push(value);
                normalized.push('{');
                if !hint.is_empty() {
                    normalized.push(':');
                    normalized.push_str(hint);
                }
                normalized.push('}');
            }
            c => normalized.push(c),
        }
    }
    if next < args.len() && !text.contains("{0") {
        return Err(syn::Error::new_spanned(&args[next], "argument never used"));
    }

    // A site id unique within the object: the location and the format.
    let span = proc_macro2::Span::call_site().unwrap();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in format!(
        "{}:{}:{}:{}",
        span.file(),
        span.line(),
        span.column(),
        normalized
    )
    .bytes()
    {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let id = proc_macro2::Literal::u64_unsuffixed(hash);
    let normalized = LitStr::new(&normalized, format.span());
    let site_export = LitStr::new(&format!("__iu_log_{hash}"), proc_macro2::Span::call_site());
    let site_section = LitStr::new(&format!("iu_log.{hash}"), proc_macro2::Span::call_site());
    // Emitted here with this macro's spans, so the site's `export_name` and
    // `link_section` do not count against `forbid(unsafe_code)`; the
    // arguments are the user's expressions, with the user's spans.
    Ok(quote! {{
        const _: () = {
            const LEN: usize = ::iu_ebpf::log::site_len(::core::file!(), ::core::module_path!(), #normalized);
            #[cfg_attr(target_arch = "bpf", unsafe(export_name = #site_export))]
            #[cfg_attr(target_arch = "bpf", unsafe(link_section = #site_section))]
            #[used]
            static SITE: [u8; LEN] = ::iu_ebpf::log::site::<LEN>(
                #id,
                #level,
                ::core::line!(),
                ::core::file!(),
                ::core::module_path!(),
                #normalized,
            );
        };
        if #level <= IU_LOG_LEVEL.get() {
            let mut buf = [0u8; ::iu_ebpf::log::RECORD_SIZE];
            #[allow(unused_mut)]
            let mut at = ::iu_ebpf::log::start(&mut buf, #id);
            #(at = ::iu_ebpf::log::LogArg::encode(&#values, &mut buf, at);)*
            #[cfg(target_arch = "bpf")]
            let _ = IU_LOGS.output(&buf);
            // On the host the record is rendered for `iu_ebpf::sim::log`.
            #[cfg(not(target_arch = "bpf"))]
            ::iu_ebpf::sim::log_record(#level, #normalized, buf.get(8..at).unwrap_or_default());
            let _ = at;
        }
    }})
}
