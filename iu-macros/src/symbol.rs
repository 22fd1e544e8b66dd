//! Symbol names the program attributes, `#[map]` and `global!` export.

use proc_macro2::Span;

/// Symbols the compiler or the linker may call or define on their own:
/// a program, map or global exported under one of these names would be
/// linked in their place (LLVM lowers copies and fills to `memcpy` and
/// `memset` calls).
const RESERVED: &[&str] = &[
    "memcpy", "memmove", "memset", "memcmp", "bcmp", "strlen", "_license", "_version",
];

/// Refuses exported names that the toolchain or iu itself uses: the
/// memory builtins, `_license`/`_version`, and names starting with `__`,
/// `llvm.` or `rust_` (compiler and iu internals).
pub fn check(name: &str, span: Span) -> syn::Result<()> {
    if RESERVED.contains(&name)
        || name.starts_with("__")
        || name.starts_with("llvm.")
        || name.starts_with("rust_")
    {
        return Err(syn::Error::new(
            span,
            format!(
                "`{name}` cannot be an exported symbol of a BPF object: it is reserved for the compiler, \
                 the linker or iu (memory builtins, `_license`, `_version`, and names starting with `__`, \
                 `llvm.` or `rust_`); rename it"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn builtins_and_internal_prefixes_are_refused() {
        let span = proc_macro2::Span::call_site();
        for name in [
            "memset",
            "memcpy",
            "bcmp",
            "_license",
            "__iu_on_panic_x",
            "rust_begin_unwind",
        ] {
            assert!(super::check(name, span).is_err(), "{name}");
        }
        for name in ["xdp_firewall", "COUNTS", "memsetter", "IU_ABORTS"] {
            assert!(super::check(name, span).is_ok(), "{name}");
        }
    }
}
