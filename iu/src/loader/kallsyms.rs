//! Addresses of kernel symbols from `/proc/kallsyms`, for typeless
//! `__ksym` externs (`extern const void name __ksym;`), which libbpf
//! resolves there rather than in BTF.

use std::{collections::HashMap, sync::OnceLock};

/// The address of kernel symbol `name`, if `/proc/kallsyms` shows it (to
/// root; others see zeros, which count as absent). Read once per process.
pub(super) fn address(name: &str) -> Option<u64> {
    static SYMBOLS: OnceLock<HashMap<String, u64>> = OnceLock::new();
    SYMBOLS
        .get_or_init(|| {
            std::fs::read_to_string("/proc/kallsyms")
                .map(|text| parse(&text))
                .unwrap_or_default()
        })
        .get(name)
        .copied()
}

/// `address type name [module]` lines; the first address of a name wins,
/// as libbpf takes it, and zero addresses are left out.
fn parse(text: &str) -> HashMap<String, u64> {
    let mut symbols = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(address), Some(_), Some(name)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if let Ok(address) = u64::from_str_radix(address, 16)
            && address != 0
        {
            symbols.entry(name.to_owned()).or_insert(address);
        }
    }
    symbols
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_as_the_kernel_writes_them() {
        let symbols = parse(
            "ffffffff81000000 T _stext\n\
             ffffffff82e0a940 D init_task\n\
             0000000000000000 t hidden\n\
             ffffffffc0a01000 t veth_open\t[veth]\n\
             ffffffff82e0a941 D init_task\n\
             garbage\n",
        );
        assert_eq!(symbols.get("init_task"), Some(&0xffff_ffff_82e0_a940));
        assert_eq!(symbols.get("veth_open"), Some(&0xffff_ffff_c0a0_1000));
        assert_eq!(symbols.get("hidden"), None);
        assert_eq!(symbols.len(), 3);
    }
}
