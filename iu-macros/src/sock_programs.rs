//! Attributes of the socket and cgroup hooks added for issue #15:
//! `#[sock_ops]`, `#[cgroup_sock_addr]`, `#[cgroup_sysctl]`,
//! `#[cgroup_device]` and `#[cgroup_sockopt]`.

use proc_macro2::TokenStream;
use syn::ItemFn;

use crate::program::{emit, parse_args, split_on_panic};

/// `#[sock_ops]`: section `sockops`.
pub fn sock_ops(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let func: ItemFn = syn::parse2(item)?;
    let (args, on_panic) = split_on_panic(parse_args(attr)?, "SockOps")?;
    if let Some((key, _)) = args.into_iter().next() {
        return Err(syn::Error::new_spanned(
            key,
            "sock_ops programs take no arguments: the cgroup is chosen when attaching",
        ));
    }
    emit("sockops".to_owned(), "SockOps", func, on_panic)
}

/// The hooks of `#[cgroup_sock_addr(attach = "...")]`.
const SOCK_ADDR_HOOKS: &[&str] = &[
    "connect4",
    "connect6",
    "sendmsg4",
    "sendmsg6",
    "recvmsg4",
    "recvmsg6",
    "bind4",
    "bind6",
    "getpeername4",
    "getpeername6",
    "getsockname4",
    "getsockname6",
];

/// `#[cgroup_sock_addr(attach = "connect4" | ...)]`: section `cgroup/<attach>`.
pub fn cgroup_sock_addr(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let expected = format!(
        "expected `attach = \"...\"` with one of {}",
        SOCK_ADDR_HOOKS
            .iter()
            .map(|h| format!("`{h}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let func: ItemFn = syn::parse2(item)?;
    let (args, on_panic) = split_on_panic(parse_args(attr)?, "CgroupSockAddr")?;
    let mut attach = None;
    for (key, value) in args {
        if key == "attach" && SOCK_ADDR_HOOKS.contains(&value.value().as_str()) {
            attach = Some(value.value());
        } else {
            return Err(syn::Error::new_spanned(key, &expected));
        }
    }
    let Some(attach) = attach else {
        return Err(syn::Error::new_spanned(&func.sig.ident, expected));
    };
    emit(format!("cgroup/{attach}"), "CgroupSockAddr", func, on_panic)
}

/// An attribute without arguments (other than `on_panic`).
fn plain(
    attr: TokenStream,
    item: TokenStream,
    section: &str,
    kind: &str,
    what: &str,
) -> syn::Result<TokenStream> {
    let func: ItemFn = syn::parse2(item)?;
    let (args, on_panic) = split_on_panic(parse_args(attr)?, kind)?;
    if let Some((key, _)) = args.into_iter().next() {
        return Err(syn::Error::new_spanned(
            key,
            format!("{what} programs take no arguments: the cgroup is chosen when attaching"),
        ));
    }
    emit(section.to_owned(), kind, func, on_panic)
}

/// `#[cgroup_sysctl]`: section `cgroup/sysctl`.
pub fn cgroup_sysctl(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    plain(attr, item, "cgroup/sysctl", "CgroupSysctl", "cgroup_sysctl")
}

/// `#[cgroup_device]`: section `cgroup/dev`.
pub fn cgroup_device(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    plain(attr, item, "cgroup/dev", "CgroupDevice", "cgroup_device")
}

/// `#[cgroup_sockopt(attach = "getsockopt" | "setsockopt")]`: section
/// `cgroup/<attach>`.
pub fn cgroup_sockopt(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    const EXPECTED: &str = "expected `attach = \"getsockopt\"` or `attach = \"setsockopt\"`";
    let func: ItemFn = syn::parse2(item)?;
    let (args, on_panic) = split_on_panic(parse_args(attr)?, "CgroupSockopt")?;
    let mut attach = None;
    for (key, value) in args {
        match (key.to_string().as_str(), value.value().as_str()) {
            ("attach", hook @ ("getsockopt" | "setsockopt")) => attach = Some(hook.to_owned()),
            _ => return Err(syn::Error::new_spanned(key, EXPECTED)),
        }
    }
    let Some(attach) = attach else {
        return Err(syn::Error::new_spanned(&func.sig.ident, EXPECTED));
    };
    emit(format!("cgroup/{attach}"), "CgroupSockopt", func, on_panic)
}

/// An attribute of a socket-map program, without arguments (other than
/// `on_panic`).
fn map_program(
    attr: TokenStream,
    item: TokenStream,
    section: &str,
    kind: &str,
    what: &str,
) -> syn::Result<TokenStream> {
    let func: ItemFn = syn::parse2(item)?;
    let (args, on_panic) = split_on_panic(parse_args(attr)?, kind)?;
    if let Some((key, _)) = args.into_iter().next() {
        return Err(syn::Error::new_spanned(
            key,
            format!(
                "{what} programs take no arguments: {}",
                match kind {
                    "SkLookup" => "the network namespace is chosen when attaching",
                    _ => "the socket map is chosen when attaching",
                }
            ),
        ));
    }
    emit(section.to_owned(), kind, func, on_panic)
}

/// `#[sk_msg]`: section `sk_msg`.
pub fn sk_msg(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    map_program(attr, item, "sk_msg", "SkMsg", "sk_msg")
}

/// `#[sk_lookup]`: section `sk_lookup`.
pub fn sk_lookup(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    map_program(attr, item, "sk_lookup", "SkLookup", "sk_lookup")
}

/// `#[sk_skb(stream_parser)]` or `#[sk_skb(stream_verdict)]`: section
/// `sk_skb/<kind>`.
pub fn sk_skb(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    const EXPECTED: &str = "expected `#[sk_skb(stream_parser)]` or `#[sk_skb(stream_verdict)]`";
    let func: ItemFn = syn::parse2(item)?;
    let mut tokens = attr.into_iter();
    let kind = match (tokens.next(), tokens.next()) {
        (Some(proc_macro2::TokenTree::Ident(ident)), None)
            if ident == "stream_parser" || ident == "stream_verdict" =>
        {
            ident.to_string()
        }
        (Some(token), _) => return Err(syn::Error::new_spanned(token, EXPECTED)),
        (None, _) => return Err(syn::Error::new_spanned(&func.sig.ident, EXPECTED)),
    };
    // A verdict that panics passes the data (as if it were not there); a
    // parser that panics reports an error (-EPROTO) on the socket, since
    // no length stands for "no parser".
    let on_panic = if kind == "stream_verdict" { 1 } else { -71 };
    emit(format!("sk_skb/{kind}"), "SkSkb", func, on_panic)
}

/// `#[flow_dissector]`: section `flow_dissector`.
pub fn flow_dissector(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let func: ItemFn = syn::parse2(item)?;
    let (args, on_panic) = split_on_panic(parse_args(attr)?, "FlowDissector")?;
    if let Some((key, _)) = args.into_iter().next() {
        return Err(syn::Error::new_spanned(
            key,
            "flow_dissector programs take no arguments: the network namespace is chosen when attaching",
        ));
    }
    emit("flow_dissector".to_owned(), "FlowDissector", func, on_panic)
}

/// `#[netfilter]`: section `netfilter`.
pub fn netfilter(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let func: ItemFn = syn::parse2(item)?;
    let (args, on_panic) = split_on_panic(parse_args(attr)?, "Netfilter")?;
    if let Some((key, _)) = args.into_iter().next() {
        return Err(syn::Error::new_spanned(
            key,
            "netfilter programs take no arguments: the family, hook and priority are chosen when attaching",
        ));
    }
    emit("netfilter".to_owned(), "Netfilter", func, on_panic)
}

/// `#[iter(task)]` (or `target = "task"`): section `iter/<target>`.
pub fn iter(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let func: ItemFn = syn::parse2(item)?;
    let target = match syn::parse2::<syn::Ident>(attr.clone()) {
        Ok(ident) => ident.to_string(),
        Err(_) => {
            let (args, _) = split_on_panic(parse_args(attr)?, "IterTask")?;
            match args.as_slice() {
                [(key, value)] if key == "target" => value.value(),
                _ => {
                    return Err(syn::Error::new_spanned(
                        &func.sig.ident,
                        "expected `#[iter(task)]` or `#[iter(target = \"task\")]`",
                    ));
                }
            }
        }
    };
    let kind = match target.as_str() {
        "task" => "IterTask",
        "bpf_map_elem" => "IterMapElem",
        "tcp" => "IterTcp",
        other => {
            return Err(syn::Error::new_spanned(
                &func.sig.ident,
                format!(
                    "iterator `{other}` is not supported yet: iu has `task`, `bpf_map_elem` and `tcp`"
                ),
            ));
        }
    };
    emit(format!("iter/{target}"), kind, func, 0)
}

#[cfg(test)]
mod tests {
    use quote::quote;

    #[test]
    fn sections_name_the_hook() {
        let item = quote! { fn f(ctx: SockOpsContext) -> CgroupAction { CgroupAction::Allow } };
        let out = super::sock_ops(quote! {}, item.clone())
            .unwrap()
            .to_string();
        assert!(out.contains("\"sockops\""), "{out}");
        assert!(super::sock_ops(quote! { attach = "x" }, item.clone()).is_err());
        let out = super::cgroup_sock_addr(quote! { attach = "connect6" }, item.clone())
            .unwrap()
            .to_string();
        assert!(out.contains("\"cgroup/connect6\""), "{out}");
        assert!(super::cgroup_sock_addr(quote! { attach = "connect5" }, item.clone()).is_err());
        assert!(super::cgroup_sock_addr(quote! {}, item.clone()).is_err());
        let out = super::cgroup_device(quote! {}, item.clone())
            .unwrap()
            .to_string();
        assert!(out.contains("\"cgroup/dev\""), "{out}");
        let out = super::cgroup_sysctl(quote! {}, item.clone())
            .unwrap()
            .to_string();
        assert!(out.contains("\"cgroup/sysctl\""), "{out}");
        let out = super::cgroup_sockopt(quote! { attach = "setsockopt" }, item.clone())
            .unwrap()
            .to_string();
        assert!(out.contains("\"cgroup/setsockopt\""), "{out}");
        assert!(super::cgroup_sockopt(quote! {}, item.clone()).is_err());
        let out = super::netfilter(quote! {}, item.clone())
            .unwrap()
            .to_string();
        assert!(out.contains("\"netfilter\""), "{out}");
        assert!(super::netfilter(quote! { hook = "x" }, item.clone()).is_err());
        let out = super::flow_dissector(quote! {}, item.clone())
            .unwrap()
            .to_string();
        assert!(out.contains("\"flow_dissector\""), "{out}");
        assert!(super::flow_dissector(quote! { netns = "x" }, item.clone()).is_err());
        let out = super::iter(quote! { task }, item.clone())
            .unwrap()
            .to_string();
        assert!(out.contains("\"iter/task\""), "{out}");
        let out = super::iter(quote! { target = "task" }, item.clone())
            .unwrap()
            .to_string();
        assert!(out.contains("\"iter/task\""), "{out}");
        let out = super::iter(quote! { tcp }, item.clone())
            .unwrap()
            .to_string();
        assert!(out.contains("\"iter/tcp\""), "{out}");
        let out = super::iter(quote! { bpf_map_elem }, item.clone())
            .unwrap()
            .to_string();
        assert!(out.contains("\"iter/bpf_map_elem\""), "{out}");
        assert!(super::iter(quote! { udp }, item.clone()).is_err());
        let out = super::sk_msg(quote! {}, item.clone()).unwrap().to_string();
        assert!(out.contains("\"sk_msg\""), "{out}");
        assert!(super::sk_msg(quote! { attach = "x" }, item.clone()).is_err());
        let out = super::sk_skb(quote! { stream_parser }, item.clone())
            .unwrap()
            .to_string();
        assert!(out.contains("\"sk_skb/stream_parser\""), "{out}");
        let out = super::sk_skb(quote! { stream_verdict }, item.clone())
            .unwrap()
            .to_string();
        assert!(out.contains("\"sk_skb/stream_verdict\""), "{out}");
        assert!(super::sk_skb(quote! {}, item.clone()).is_err());
        assert!(super::sk_skb(quote! { verdict }, item.clone()).is_err());
        let out = super::sk_lookup(quote! {}, item).unwrap().to_string();
        assert!(out.contains("\"sk_lookup\""), "{out}");
    }
}
