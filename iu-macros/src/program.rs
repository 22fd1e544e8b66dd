//! Program attributes.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ItemFn, LitStr, Token, parse::Parser, punctuated::Punctuated};

/// `key = "value"` pairs of an attribute.
pub(crate) fn parse_args(attr: TokenStream) -> syn::Result<Vec<(syn::Ident, LitStr)>> {
    let pairs = Punctuated::<syn::MetaNameValue, Token![,]>::parse_terminated.parse2(attr)?;
    pairs
        .into_iter()
        .map(|pair| {
            let key =
                pair.path.get_ident().cloned().ok_or_else(|| {
                    syn::Error::new_spanned(&pair.path, "expected `key = \"value\"`")
                })?;
            match pair.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(value),
                    ..
                }) => Ok((key, value)),
                other => Err(syn::Error::new_spanned(other, "expected a string literal")),
            }
        })
        .collect()
}

/// What a program of context kind `kind` may return when it panics
/// (`on_panic = "..."`); the first is the default. Each default acts as if
/// the program were not there.
fn on_panic_choices(kind: &str) -> &'static [(&'static str, i64)] {
    match kind {
        "Xdp" => &[("pass", 2), ("aborted", 0), ("drop", 1)],
        "SchedCls" => &[("unspec", -1), ("ok", 0), ("shot", 2)],
        "CgroupSkb" | "CgroupSock" => &[("allow", 1), ("deny", 0)],
        // Issue #15's cgroup hooks: 1 lets the operation go on.
        "SockOps" | "CgroupSockAddr" | "CgroupSysctl" | "CgroupDevice" | "CgroupSockopt" => {
            &[("allow", 1), ("deny", 0)]
        }
        "SocketFilter" => &[("keep", 0xFFFF_FFFF), ("drop", 0)],
        // SK_PASS lets the message, data or lookup go on.
        "SkMsg" | "SkLookup" => &[("pass", 1), ("drop", 0)],
        // BPF_DROP: the flow is unknown; BPF_FLOW_DISSECTOR_CONTINUE.
        "FlowDissector" => &[("drop", 2), ("continue", 129)],
        // NF_ACCEPT lets the packet go on.
        "Netfilter" => &[("accept", 1), ("drop", 0)],
        // -EPERM
        "Lsm" => &[("allow", 0), ("deny", -1)],
        // Tracing programs' return value is ignored, or must be 0.
        _ => &[("zero", 0)],
    }
}

/// The value of `key`, the only key the attribute takes (`None` if it is
/// not given); any other key is refused.
pub(crate) fn only_key(args: Vec<(syn::Ident, LitStr)>, key: &str) -> syn::Result<Option<LitStr>> {
    let mut found = None;
    for (k, value) in args {
        if k != key {
            return Err(syn::Error::new_spanned(
                k,
                format!("unknown key: expected `{key}`"),
            ));
        }
        found = Some(value);
    }
    Ok(found)
}

/// The value of `key`, the only key the attribute takes and a required
/// one: without it, an error at the function's name says
/// "`key = \"...\"` is required: `why`".
pub(crate) fn required_key(
    args: Vec<(syn::Ident, LitStr)>,
    key: &str,
    func: &ItemFn,
    why: &str,
) -> syn::Result<LitStr> {
    only_key(args, key)?.ok_or_else(|| {
        syn::Error::new_spanned(
            &func.sig.ident,
            format!("`{key} = \"...\"` is required: {why}"),
        )
    })
}

/// Takes `on_panic = "..."` out of the attribute's arguments and returns
/// the value it stands for (the kind's default when absent).
pub(crate) fn split_on_panic(
    args: Vec<(syn::Ident, LitStr)>,
    kind: &str,
) -> syn::Result<(Vec<(syn::Ident, LitStr)>, i64)> {
    let choices = on_panic_choices(kind);
    let mut on_panic = choices[0].1;
    let mut rest = vec![];
    for (key, value) in args {
        if key != "on_panic" {
            rest.push((key, value));
            continue;
        }
        on_panic = choices
            .iter()
            .find(|(name, _)| *name == value.value())
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let names: Vec<String> = choices.iter().map(|(n, _)| format!("`{n}`")).collect();
                syn::Error::new_spanned(
                    &value,
                    format!("`on_panic` must be one of {} here", names.join(", ")),
                )
            })?;
    }
    Ok((rest, on_panic))
}

/// Checks that the function can be an entry point and emits it with its
/// stub and its `on_panic` value.
pub(crate) fn emit(
    section: String,
    kind: &str,
    mut func: ItemFn,
    on_panic: i64,
) -> syn::Result<TokenStream> {
    let sig = &func.sig;
    if sig.inputs.len() != 1 {
        return Err(syn::Error::new_spanned(
            &sig.inputs,
            "a program function takes exactly one argument: its context",
        ));
    }
    if !sig.generics.params.is_empty() || sig.asyncness.is_some() || sig.unsafety.is_some() {
        return Err(syn::Error::new_spanned(
            sig,
            "a program function must be a plain, non-generic, safe function",
        ));
    }
    let name = sig.ident.clone();
    crate::symbol::check(&name.to_string(), name.span())?;
    let kind = syn::Ident::new(kind, proc_macro2::Span::call_site());
    let section = LitStr::new(&section, proc_macro2::Span::call_site());
    let export = LitStr::new(&name.to_string(), proc_macro2::Span::call_site());
    let on_panic_export = LitStr::new(
        &format!("__iu_on_panic_{name}"),
        proc_macro2::Span::call_site(),
    );
    let on_panic_section = LitStr::new(
        &format!("iu_on_panic.{name}"),
        proc_macro2::Span::call_site(),
    );
    func.attrs.push(syn::parse_quote!(#[inline(always)]));
    func.attrs
        .push(syn::parse_quote!(#[cfg_attr(not(target_arch = "bpf"), allow(dead_code))]));
    // The stub is emitted here, with this macro's own spans: unsafe code
    // (and `export_name`/`link_section`) that a proc macro of another crate
    // emits does not count against the program crate's `forbid(unsafe_code)`.
    // The section and the context kind come from the same attribute, so
    // they always match; the user's function is called outside the
    // `unsafe` block.
    Ok(quote! {
        #func
        const _: () = {
            // What the program returns when it panics, read by the loader
            // (see `iu_ebpf::panic`). A section per program: the object's
            // BTF describes one variable per section correctly.
            #[cfg(target_arch = "bpf")]
            #[used]
            #[unsafe(export_name = #on_panic_export)]
            #[unsafe(link_section = #on_panic_section)]
            static ON_PANIC: i64 = #on_panic;

            // Named after the program: its debug info name becomes the
            // program's BTF func name, which the kernel uses for the
            // program's ksym (`bpf_prog_<tag>_<name>` in perf and stack
            // traces) and bpftool for names longer than the kernel's 15
            // bytes. (The user's function, shadowed in this block, is
            // `self::#name`.)
            #[cfg(target_arch = "bpf")]
            #[unsafe(export_name = #export)]
            #[unsafe(link_section = #section)]
            extern "C" fn #name(ctx: *mut ::core::ffi::c_void) -> u32 {
                // SAFETY: the kernel calls this entry point with the context
                // pointer of the program type named by the section, and the
                // `FromRawContext<kind>` bound makes the function's context
                // type match that program type at compile time.
                let ctx = unsafe {
                    <_ as ::iu_ebpf::programs::FromRawContext<::iu_ebpf::programs::kind::#kind>>::from_raw(ctx)
                };
                ::iu_ebpf::ProgramReturn::into_return_code(self::#name(ctx))
            }
        };
    })
}

pub fn tracepoint(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let func: ItemFn = syn::parse2(item)?;
    let (args, on_panic) = split_on_panic(parse_args(attr.clone())?, "TracePoint")?;
    let (mut category, mut name) = (None, None);
    for (key, value) in args {
        match key.to_string().as_str() {
            "category" => category = Some(value.value()),
            "name" => name = Some(value.value()),
            _ => {
                return Err(syn::Error::new_spanned(
                    key,
                    "unknown key: expected `category` or `name`",
                ));
            }
        }
    }
    let section = match (category, name) {
        (Some(category), Some(name)) => format!("tracepoint/{category}/{name}"),
        (None, None) => "tracepoint".to_owned(),
        _ => {
            return Err(syn::Error::new_spanned(
                attr,
                "give both `category` and `name`, or neither",
            ));
        }
    };
    emit(section, "TracePoint", func, on_panic)
}

pub fn xdp(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let func: ItemFn = syn::parse2(item)?;
    let (args, on_panic) = split_on_panic(parse_args(attr)?, "Xdp")?;
    let mut section = "xdp".to_owned();
    for (key, value) in args {
        match (key.to_string().as_str(), value.value().as_str()) {
            ("frags", "true") => section = "xdp.frags".to_owned(),
            ("frags", "false") => {}
            _ => {
                return Err(syn::Error::new_spanned(
                    key,
                    "unknown key: expected `frags = \"true\"` or none",
                ));
            }
        }
    }
    emit(section, "Xdp", func, on_panic)
}

/// `#[kprobe(function = "...", offset = "...")]` and `#[kretprobe(...)]`:
/// section `kprobe/<function>[+offset]`.
pub fn kprobe(attr: TokenStream, item: TokenStream, ret: bool) -> syn::Result<TokenStream> {
    let func: ItemFn = syn::parse2(item)?;
    let (args, on_panic) = split_on_panic(parse_args(attr)?, "Probe")?;
    let (mut function, mut offset) = (None, None);
    for (key, value) in args {
        match key.to_string().as_str() {
            "function" => function = Some(value.value()),
            "offset" if !ret => offset = Some(value.value()),
            _ => {
                return Err(syn::Error::new_spanned(
                    key,
                    "unknown key: expected `function` (and `offset` for kprobes)",
                ));
            }
        }
    }
    let kind = if ret { "kretprobe" } else { "kprobe" };
    let section = match (function, offset) {
        (Some(f), Some(o)) => format!("{kind}/{f}+{o}"),
        (Some(f), None) => format!("{kind}/{f}"),
        (None, _) => kind.to_owned(),
    };
    emit(section, "Probe", func, on_panic)
}

/// `#[uprobe]` / `#[uretprobe]`: the binary and symbol are given when
/// attaching.
pub fn uprobe(attr: TokenStream, item: TokenStream, ret: bool) -> syn::Result<TokenStream> {
    let func: ItemFn = syn::parse2(item)?;
    let (args, on_panic) = split_on_panic(parse_args(attr)?, "Probe")?;
    let mut sleepable = false;
    for (key, value) in args {
        match (key.to_string().as_str(), value.value().as_str()) {
            ("sleepable", "true") => sleepable = true,
            ("sleepable", "false") => {}
            _ => {
                return Err(syn::Error::new_spanned(
                    key,
                    "uprobes take only `sleepable = \"true\"`: name the binary and symbol when attaching",
                ));
            }
        }
    }
    let kind = if ret { "uretprobe" } else { "uprobe" };
    let suffix = if sleepable { ".s" } else { "" };
    emit(format!("{kind}{suffix}"), "Probe", func, on_panic)
}

/// `#[usdt(provider = "...", name = "...")]` (or `#[usdt("provider:name")]`,
/// optionally with `binary = "..."`, or no arguments): section `usdt`,
/// `usdt/<provider>:<name>` or libbpf's `usdt/<binary>:<provider>:<name>`.
pub fn usdt(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let func: ItemFn = syn::parse2(item)?;
    let (mut binary, mut provider, mut name) = (None, None, None);
    let on_panic;
    if let Ok(both) = syn::parse2::<LitStr>(attr.clone()) {
        let value = both.value();
        let Some((p, n)) = value.split_once(':') else {
            return Err(syn::Error::new_spanned(
                both,
                "expected `\"provider:name\"`, as in `#[usdt(\"libc:setjmp\")]`",
            ));
        };
        (provider, name) = (Some(p.to_owned()), Some(n.to_owned()));
        on_panic = split_on_panic(vec![], "Probe")?.1;
    } else {
        let (args, value) = split_on_panic(parse_args(attr)?, "Probe")?;
        on_panic = value;
        for (key, value) in args {
            match key.to_string().as_str() {
                "binary" => binary = Some(value.value()),
                "provider" => provider = Some(value.value()),
                "name" => name = Some(value.value()),
                _ => {
                    return Err(syn::Error::new_spanned(
                        key,
                        "unknown key: expected `provider`, `name` and optionally `binary`",
                    ));
                }
            }
        }
    }
    let word = |s: &String| {
        !s.is_empty() && !s.contains(':') && !s.contains(char::is_whitespace) && !s.contains('/')
    };
    let section = match (binary, provider, name) {
        (None, None, None) => "usdt".to_owned(),
        (None, Some(p), Some(n)) if word(&p) && word(&n) => format!("usdt/{p}:{n}"),
        (Some(b), Some(p), Some(n))
            if word(&p) && word(&n) && !b.is_empty() && !b.contains(char::is_whitespace) =>
        {
            format!("usdt/{b}:{p}:{n}")
        }
        _ => {
            return Err(syn::Error::new_spanned(
                &func.sig.ident,
                "give both `provider` and `name` (words without `:`, `/` or spaces), and `binary` only with them; or nothing, to name the probe when attaching",
            ));
        }
    };
    emit(section, "Probe", func, on_panic)
}

/// `#[raw_tracepoint(name = "...")]`: section `raw_tp/<name>`.
pub fn raw_tracepoint(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let func: ItemFn = syn::parse2(item)?;
    let (args, on_panic) = split_on_panic(parse_args(attr)?, "RawTracePoint")?;
    let section = match only_key(args, "name")? {
        Some(name) => format!("raw_tp/{}", name.value()),
        None => "raw_tp".to_owned(),
    };
    emit(section, "RawTracePoint", func, on_panic)
}

/// `#[kprobe_multi(pattern = "...")]` / `#[kretprobe_multi(pattern =
/// "...")]`: section `k[ret]probe.multi/<pattern>`.
pub fn kprobe_multi(attr: TokenStream, item: TokenStream, ret: bool) -> syn::Result<TokenStream> {
    let func: ItemFn = syn::parse2(item)?;
    let (args, on_panic) = split_on_panic(parse_args(attr)?, "Probe")?;
    let pattern = required_key(
        args,
        "pattern",
        &func,
        "a glob of kernel functions (`tcp_*`)",
    )?
    .value();
    if pattern.is_empty() || pattern.contains(char::is_whitespace) {
        return Err(syn::Error::new_spanned(
            &func.sig.ident,
            "the pattern is a glob of kernel function names, without spaces",
        ));
    }
    let kind = if ret {
        "kretprobe.multi"
    } else {
        "kprobe.multi"
    };
    emit(format!("{kind}/{pattern}"), "Probe", func, on_panic)
}

/// `#[uprobe_multi]` / `#[uretprobe_multi]`, optionally with `binary =
/// "..."` and `pattern = "..."`: section `u[ret]probe.multi` or
/// `u[ret]probe.multi/<binary>:<pattern>` (libbpf's form).
pub fn uprobe_multi(attr: TokenStream, item: TokenStream, ret: bool) -> syn::Result<TokenStream> {
    let func: ItemFn = syn::parse2(item)?;
    let (args, on_panic) = split_on_panic(parse_args(attr)?, "Probe")?;
    let (mut binary, mut pattern) = (None, None);
    for (key, value) in args {
        match key.to_string().as_str() {
            "binary" => binary = Some(value.value()),
            "pattern" => pattern = Some(value.value()),
            _ => {
                return Err(syn::Error::new_spanned(
                    key,
                    "unknown key: expected `binary` and `pattern`",
                ));
            }
        }
    }
    let kind = if ret {
        "uretprobe.multi"
    } else {
        "uprobe.multi"
    };
    let section = match (binary, pattern) {
        (None, None) => kind.to_owned(),
        (Some(binary), Some(pattern))
            if !binary.is_empty()
                && !pattern.is_empty()
                && !binary.contains(':')
                && !(binary.clone() + &pattern).contains(char::is_whitespace) =>
        {
            format!("{kind}/{binary}:{pattern}")
        }
        _ => {
            return Err(syn::Error::new_spanned(
                &func.sig.ident,
                "give both `binary = \"/path\"` and `pattern = \"glob\"` (no spaces, no `:` in the path), or neither and choose them when attaching",
            ));
        }
    };
    emit(section, "Probe", func, on_panic)
}

/// `#[raw_tracepoint_writable(name = "...")]`: section `raw_tp.w/<name>`
/// (the name is required: only a few tracepoints are writable).
pub fn raw_tracepoint_writable(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let func: ItemFn = syn::parse2(item)?;
    let (args, on_panic) = split_on_panic(parse_args(attr)?, "RawTracePointWritable")?;
    let name = required_key(
        args,
        "name",
        &func,
        "a writable tracepoint such as `bpf_test_finish`",
    )?
    .value();
    emit(
        format!("raw_tp.w/{name}"),
        "RawTracePointWritable",
        func,
        on_panic,
    )
}

/// `#[tp_btf(name = "...")]`: section `tp_btf/<name>`. The kernel needs
/// the name at load time (the BTF id of `btf_trace_<name>`), so it is
/// required.
pub fn tp_btf(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let func: ItemFn = syn::parse2(item)?;
    let (args, on_panic) = split_on_panic(parse_args(attr)?, "Tracing")?;
    let name = required_key(
        args,
        "name",
        &func,
        "the tracepoint (`sched_switch`) is fixed when the program loads",
    )?
    .value();
    emit(format!("tp_btf/{name}"), "Tracing", func, on_panic)
}

/// `#[fentry(function = "...")]`, `#[fexit(...)]`, `#[fmod_ret(...)]` and
/// `#[lsm(hook = "...")]`; `sleepable = "true"` makes the section
/// `<kind>.s/<target>`.
pub fn btf(attr: TokenStream, item: TokenStream, kind: &str) -> syn::Result<TokenStream> {
    let func: ItemFn = syn::parse2(item)?;
    let context_kind = if kind == "lsm" { "Lsm" } else { "Tracing" };
    let (args, on_panic) = split_on_panic(parse_args(attr)?, context_kind)?;
    let key_name = if kind == "lsm" { "hook" } else { "function" };
    let mut target = None;
    let mut sleepable = false;
    for (key, value) in args {
        match (key.to_string().as_str(), value.value().as_str()) {
            (k, _) if k == key_name => target = Some(value.value()),
            ("sleepable", "true") => sleepable = true,
            ("sleepable", "false") => {}
            _ => {
                return Err(syn::Error::new_spanned(
                    key,
                    format!("unknown key: expected `{key_name}` or `sleepable = \"true\"`"),
                ));
            }
        }
    }
    let target = target.ok_or_else(|| {
        syn::Error::new(
            proc_macro2::Span::call_site(),
            format!("`{key_name} = \"...\"` is required"),
        )
    })?;
    let suffix = if sleepable { ".s" } else { "" };
    emit(
        format!("{kind}{suffix}/{target}"),
        context_kind,
        func,
        on_panic,
    )
}

/// `#[classifier]`: section `classifier`; the direction is chosen when
/// attaching.
pub fn classifier(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let func: ItemFn = syn::parse2(item)?;
    let (args, on_panic) = split_on_panic(parse_args(attr)?, "SchedCls")?;
    if let Some((key, _)) = args.into_iter().next() {
        return Err(syn::Error::new_spanned(
            key,
            "classifiers take no arguments: choose ingress or egress when attaching",
        ));
    }
    emit("classifier".to_owned(), "SchedCls", func, on_panic)
}

/// `#[cgroup_skb(attach = "ingress" | "egress")]`: section
/// `cgroup_skb/<attach>`.
pub fn cgroup_skb(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let func: ItemFn = syn::parse2(item)?;
    let (args, on_panic) = split_on_panic(parse_args(attr)?, "CgroupSkb")?;
    let mut attach = None;
    for (key, value) in args {
        match (key.to_string().as_str(), value.value().as_str()) {
            ("attach", direction @ ("ingress" | "egress")) => attach = Some(direction.to_owned()),
            _ => {
                return Err(syn::Error::new_spanned(
                    key,
                    "expected `attach = \"ingress\"` or `attach = \"egress\"`",
                ));
            }
        }
    }
    let Some(attach) = attach else {
        return Err(syn::Error::new_spanned(
            &func.sig.ident,
            "cgroup_skb programs need `attach = \"ingress\"` or `attach = \"egress\"`",
        ));
    };
    emit(format!("cgroup_skb/{attach}"), "CgroupSkb", func, on_panic)
}

/// `#[cgroup_sock(attach = "sock_create" | "sock_release" | "post_bind4" |
/// "post_bind6")]`: section `cgroup/<attach>`.
pub fn cgroup_sock(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    const EXPECTED: &str = "expected `attach = \"sock_create\"`, `\"sock_release\"`, `\"post_bind4\"` or `\"post_bind6\"`";
    let func: ItemFn = syn::parse2(item)?;
    let (args, on_panic) = split_on_panic(parse_args(attr)?, "CgroupSock")?;
    let mut attach = None;
    for (key, value) in args {
        match (key.to_string().as_str(), value.value().as_str()) {
            ("attach", hook @ ("sock_create" | "sock_release" | "post_bind4" | "post_bind6")) => {
                attach = Some(hook.to_owned())
            }
            _ => return Err(syn::Error::new_spanned(key, EXPECTED)),
        }
    }
    let Some(attach) = attach else {
        return Err(syn::Error::new_spanned(&func.sig.ident, EXPECTED));
    };
    emit(format!("cgroup/{attach}"), "CgroupSock", func, on_panic)
}

/// `#[syscall]`: section `syscall`.
pub fn syscall(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let func: ItemFn = syn::parse2(item)?;
    let (args, on_panic) = split_on_panic(parse_args(attr)?, "Syscall")?;
    if let Some((key, _)) = args.into_iter().next() {
        return Err(syn::Error::new_spanned(
            key,
            "syscall programs take no arguments",
        ));
    }
    emit("syscall".to_owned(), "Syscall", func, on_panic)
}

/// `#[socket_filter]`: section `socket`.
pub fn socket_filter(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let func: ItemFn = syn::parse2(item)?;
    let (args, on_panic) = split_on_panic(parse_args(attr)?, "SocketFilter")?;
    if let Some((key, _)) = args.into_iter().next() {
        return Err(syn::Error::new_spanned(
            key,
            "socket filters take no arguments",
        ));
    }
    emit("socket".to_owned(), "SocketFilter", func, on_panic)
}

/// `#[perf_event]`: section `perf_event`; the event is chosen when
/// attaching.
pub fn perf_event(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let func: ItemFn = syn::parse2(item)?;
    let (args, on_panic) = split_on_panic(parse_args(attr)?, "PerfEvent")?;
    if let Some((key, _)) = args.into_iter().next() {
        return Err(syn::Error::new_spanned(
            key,
            "perf_event programs take no arguments: choose the event when attaching",
        ));
    }
    emit("perf_event".to_owned(), "PerfEvent", func, on_panic)
}

#[cfg(test)]
mod tests {
    use quote::quote;

    #[test]
    fn usdt_sections_name_provider_and_probe() {
        let item = quote! { fn f(ctx: UsdtContext) -> u32 { 0 } };
        let section = |attr| super::usdt(attr, item.clone()).map(|t| t.to_string());
        assert!(section(quote! {}).unwrap().contains("\"usdt\""));
        assert!(
            section(quote! { provider = "p", name = "n" })
                .unwrap()
                .contains("\"usdt/p:n\"")
        );
        assert!(section(quote! { "p:n" }).unwrap().contains("\"usdt/p:n\""));
        assert!(
            section(quote! { binary = "/bin/x", provider = "p", name = "n" })
                .unwrap()
                .contains("\"usdt//bin/x:p:n\"")
        );
        assert!(section(quote! { provider = "p" }).is_err());
        assert!(section(quote! { binary = "/bin/x" }).is_err());
        assert!(section(quote! { "pn" }).is_err());
        assert!(section(quote! { provider = "a:b", name = "n" }).is_err());
        assert!(section(quote! { pattern = "x" }).is_err());
    }

    #[test]
    fn uprobe_multi_sections_are_libbpfs() {
        let item = quote! { fn f(ctx: ProbeContext) -> u32 { 0 } };
        let out = super::uprobe_multi(quote! {}, item.clone(), false)
            .unwrap()
            .to_string();
        assert!(out.contains("\"uprobe.multi\""), "{out}");
        let out = super::uprobe_multi(
            quote! { binary = "/bin/true", pattern = "ma*" },
            item.clone(),
            true,
        )
        .unwrap()
        .to_string();
        assert!(out.contains("\"uretprobe.multi//bin/true:ma*\""), "{out}");
        assert!(super::uprobe_multi(quote! { binary = "/bin/true" }, item.clone(), false).is_err());
        assert!(super::uprobe_multi(quote! { offset = "1" }, item, false).is_err());
    }

    #[test]
    fn cgroup_skb_puts_the_direction_in_the_section() {
        let item = quote! { fn f(ctx: SkBuffContext) -> CgroupAction { CgroupAction::Allow } };
        let out = super::cgroup_skb(quote! { attach = "egress" }, item.clone())
            .unwrap()
            .to_string();
        assert!(out.contains("\"cgroup_skb/egress\""), "{out}");
        assert!(out.contains("CgroupSkb"), "{out}");

        let missing = super::cgroup_skb(quote! {}, item.clone()).unwrap_err();
        assert!(missing.to_string().contains("need `attach"), "{missing}");
        let wrong = super::cgroup_skb(quote! { attach = "sideways" }, item).unwrap_err();
        assert!(wrong.to_string().contains("expected `attach"), "{wrong}");
    }

    #[test]
    fn tp_btf_puts_the_tracepoint_in_the_section() {
        let item = quote! { fn f(ctx: BtfContext) -> u32 { 0 } };
        let out = super::tp_btf(quote! { name = "sched_switch" }, item.clone())
            .unwrap()
            .to_string();
        assert!(out.contains("\"tp_btf/sched_switch\""), "{out}");
        assert!(out.contains("kind :: Tracing"), "{out}");
        let missing = super::tp_btf(quote! {}, item).unwrap_err();
        assert!(missing.to_string().contains("is required"), "{missing}");
    }

    #[test]
    fn cgroup_sock_puts_the_hook_in_the_section() {
        let item = quote! { fn f(ctx: SockContext) -> CgroupAction { CgroupAction::Allow } };
        let out = super::cgroup_sock(quote! { attach = "sock_create" }, item.clone())
            .unwrap()
            .to_string();
        assert!(out.contains("\"cgroup/sock_create\""), "{out}");
        assert!(super::cgroup_sock(quote! {}, item).is_err());
    }

    #[test]
    fn on_panic_takes_the_program_types_choices_and_defaults() {
        let item = quote! { fn f(ctx: XdpContext) -> XdpAction { XdpAction::Pass } };
        let default = super::xdp(quote! {}, item.clone()).unwrap().to_string();
        assert!(
            default.contains("ON_PANIC : i64 = 2i64"),
            "XDP_PASS by default: {default}"
        );
        let drop = super::xdp(quote! { on_panic = "drop", frags = "true" }, item.clone())
            .unwrap()
            .to_string();
        assert!(drop.contains("ON_PANIC : i64 = 1i64"), "{drop}");
        assert!(drop.contains("\"xdp.frags\""), "{drop}");
        let wrong = super::xdp(quote! { on_panic = "allow" }, item).unwrap_err();
        assert!(
            wrong.to_string().contains("`pass`, `aborted`, `drop`"),
            "{wrong}"
        );

        let tc = quote! { fn f(ctx: SkBuffContext) -> TcAction { TcAction::Ok } };
        let out = super::classifier(quote! {}, tc).unwrap().to_string();
        assert!(
            out.contains("ON_PANIC : i64 = - 1i64"),
            "TC_ACT_UNSPEC by default: {out}"
        );
        let lsm = quote! { fn f(ctx: LsmContext) -> i32 { 0 } };
        let out = super::btf(quote! { hook = "file_open", on_panic = "deny" }, lsm, "lsm")
            .unwrap()
            .to_string();
        assert!(out.contains("ON_PANIC : i64 = - 1i64"), "-EPERM: {out}");
    }
}
