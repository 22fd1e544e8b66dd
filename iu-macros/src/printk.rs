//! `printk!`: Rust format strings translated to `bpf_trace_printk` formats
//! at compile time.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{
    Expr, LitByteStr, LitStr, Token,
    parse::{Parse, ParseStream},
    punctuated::Punctuated,
};

/// The kernel accepts at most 12 arguments (`MAX_BPRINTF_VARARGS`).
const MAX_ARGS: usize = 12;

struct Input {
    format: LitStr,
    args: Vec<Expr>,
}

impl Parse for Input {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let format = input.parse()?;
        let args = if input.is_empty() {
            Vec::new()
        } else {
            input.parse::<Token![,]>()?;
            Punctuated::<Expr, Token![,]>::parse_terminated(input)?
                .into_iter()
                .collect()
        };
        Ok(Self { format, args })
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Conversion {
    Display,
    LowerHex,
    UpperHex,
}

struct Placeholder {
    arg: usize,
    flags: String,
    conversion: Conversion,
}

/// A format string split into literal pieces around placeholders.
struct Format {
    literals: Vec<Vec<u8>>,
    placeholders: Vec<Placeholder>,
    /// Names captured inline (`{pid}`), appended after the explicit arguments.
    captured: Vec<String>,
}

fn parse_format(format: &str, explicit: usize, span: &LitStr) -> syn::Result<Format> {
    let err = |msg: String| syn::Error::new_spanned(span, msg);
    let mut out = Format {
        literals: vec![Vec::new()],
        placeholders: Vec::new(),
        captured: Vec::new(),
    };
    let mut next_positional = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        let literal = out.literals.last_mut().ok_or_else(|| err("empty".into()))?;
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                literal.push(b'{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                literal.push(b'}');
            }
            '}' => return Err(err("unmatched `}` in format string; write `}}`".into())),
            '%' => literal.extend_from_slice(b"%%"),
            '{' => {
                let mut spec = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => spec.push(c),
                        None => return Err(err("unterminated `{` in format string".into())),
                    }
                }
                let (arg, options) = spec.split_once(':').unwrap_or((&spec, ""));
                let arg = if arg.is_empty() {
                    next_positional += 1;
                    next_positional - 1
                } else if let Ok(index) = arg.parse::<usize>() {
                    index
                } else if syn::parse_str::<syn::Ident>(arg).is_ok() {
                    let position = match out.captured.iter().position(|c| c == arg) {
                        Some(p) => p,
                        None => {
                            out.captured.push(arg.to_owned());
                            out.captured.len() - 1
                        }
                    };
                    explicit + position
                } else {
                    return Err(err(format!("invalid argument `{arg}` in format string")));
                };
                let (flags, conversion) = parse_options(options).map_err(err)?;
                out.placeholders.push(Placeholder {
                    arg,
                    flags,
                    conversion,
                });
                out.literals.push(Vec::new());
            }
            c => {
                let mut buf = [0; 4];
                literal.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Ok(out)
}

/// Translates `[[fill]align]['0'][width][type]` into printf flags.
fn parse_options(options: &str) -> Result<(String, Conversion), String> {
    let mut rest = options;
    let mut flags = String::new();
    if let Some(r) = rest.strip_prefix('<') {
        flags.push('-');
        rest = r;
    } else if let Some(r) = rest.strip_prefix('>') {
        rest = r;
    }
    if let Some(r) = rest.strip_prefix('0') {
        if !flags.is_empty() {
            return Err("`printk!` cannot combine `<` with `0` padding".into());
        }
        flags.push('0');
        rest = r;
    }
    let width_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    flags.push_str(&rest[..width_len]);
    let conversion = match &rest[width_len..] {
        "" | "?" => Conversion::Display,
        "x" => Conversion::LowerHex,
        "X" => Conversion::UpperHex,
        other => {
            return Err(format!(
                "`printk!` does not support `{other}` in `{{:{options}}}`: use width, `0`, `<`, `>`, `x` or `X`"
            ));
        }
    };
    Ok((flags, conversion))
}

pub fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let Input { format, args } = syn::parse2(input)?;
    let parsed = parse_format(&format.value(), args.len(), &format)?;
    let mut exprs = args;
    for name in &parsed.captured {
        let ident = format_ident!("{}", name);
        exprs.push(syn::parse_quote!(#ident));
    }
    if parsed.placeholders.len() > MAX_ARGS {
        return Err(syn::Error::new_spanned(
            &format,
            format!("`printk!` takes at most {MAX_ARGS} placeholders (the kernel's limit)"),
        ));
    }
    for (i, expr) in exprs.iter().enumerate() {
        if !parsed.placeholders.iter().any(|p| p.arg == i) {
            return Err(syn::Error::new_spanned(expr, "argument never used"));
        }
    }
    if let Some(p) = parsed.placeholders.iter().find(|p| p.arg >= exprs.len()) {
        return Err(syn::Error::new_spanned(
            &format,
            format!(
                "format string refers to argument {} but {} were given",
                p.arg,
                exprs.len()
            ),
        ));
    }

    let len: usize = parsed.literals.iter().map(Vec::len).sum::<usize>()
        + parsed
            .placeholders
            .iter()
            .map(|p| 1 + p.flags.len() + 3)
            .sum::<usize>()
        + 1;
    let literals = parsed
        .literals
        .iter()
        .map(|l| LitByteStr::new(l, format.span()));
    let flags = parsed
        .placeholders
        .iter()
        .map(|p| LitByteStr::new(p.flags.as_bytes(), format.span()));
    let params: Vec<_> = (0..exprs.len()).map(|i| format_ident!("A{}", i)).collect();
    let conversions = parsed.placeholders.iter().map(|p| {
        let param = &params[p.arg];
        match p.conversion {
            Conversion::Display => quote!(<#param as ::iu_ebpf::printk::Arg>::DISPLAY),
            Conversion::LowerHex => quote!(::iu_ebpf::printk::LOWER_HEX),
            Conversion::UpperHex => quote!(::iu_ebpf::printk::UPPER_HEX),
        }
    });
    let values = parsed.placeholders.iter().map(|p| {
        let index = syn::Index::from(p.arg);
        if p.conversion == Conversion::Display {
            quote!(::iu_ebpf::printk::Arg::to_u64(__iu_args.#index))
        } else {
            quote!(::iu_ebpf::printk::Arg::to_bits(__iu_args.#index))
        }
    });

    Ok(quote! {{
        let __iu_args = (#(#exprs,)*);
        #[inline(always)]
        fn __iu_format<#(#params: ::iu_ebpf::printk::Arg),*>(
            _: &(#(#params,)*),
        ) -> &'static [u8] {
            struct Format<#(#params),*>(::core::marker::PhantomData<(#(#params,)*)>);
            impl<#(#params: ::iu_ebpf::printk::Arg),*> Format<#(#params),*> {
                const BYTES: [u8; #len] = ::iu_ebpf::printk::build::<#len>(
                    &[#(#literals),*],
                    &[#(#flags),*],
                    &[#(#conversions),*],
                );
            }
            &Format::<#(#params),*>::BYTES
        }
        ::iu_ebpf::printk::trace_printk(__iu_format(&__iu_args), &[#(#values),*]);
    }})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> LitStr {
        LitStr::new(s, proc_macro2::Span::call_site())
    }

    #[test]
    fn splits_placeholders_and_escapes_percent() {
        let f = parse_format("a {} 100% {{x}} {:08x} {pid}", 2, &lit("")).unwrap();
        assert_eq!(f.literals.len(), 4);
        assert_eq!(f.literals[1], b" 100%% {x} ");
        assert_eq!(f.placeholders[0].arg, 0);
        assert_eq!(f.placeholders[1].flags, "08");
        assert!(f.placeholders[1].conversion == Conversion::LowerHex);
        assert_eq!(f.placeholders[2].arg, 2);
        assert_eq!(f.captured, vec!["pid".to_owned()]);
    }

    #[test]
    fn translates_alignment_and_rejects_unsupported() {
        assert_eq!(parse_options("<5").unwrap().0, "-5");
        assert_eq!(parse_options(">5X").unwrap().0, "5");
        assert!(parse_options(".3").is_err());
        assert!(parse_options("#x").is_err());
        assert!(parse_format("{", 0, &lit("")).is_err());
        assert!(parse_format("}", 0, &lit("")).is_err());
    }
}
