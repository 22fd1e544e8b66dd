//! Static linkage for the memory builtins in an object's BTF.
//!
//! iu-ebpf defines `memcpy`, `memmove`, `memset`, `memcmp` and `bcmp` as
//! BPF functions (`iu-ebpf/src/builtins.rs`). Their debug info says
//! "global", and the kernel verifies a global function on its own, with
//! unknown arguments, where a copy needs its caller's bounds. aya-obj
//! makes four of them static but not `bcmp`, so this pass sets all five,
//! on the BTF bytes just before they are loaded.

/// The builtins that must be verified with their callers.
const BUILTINS: &[&[u8]] = &[b"memcpy", b"memmove", b"memset", b"memcmp", b"bcmp"];

const BTF_KIND_FUNC: u32 = 12;

/// Rewrites the linkage of every `FUNC` named like a builtin to static.
/// BTF it cannot walk (which the kernel would refuse anyway) is left as it
/// is.
pub(crate) fn make_builtins_static(btf: &mut [u8]) {
    let _ = walk(btf);
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn walk(btf: &mut [u8]) -> Option<()> {
    if btf.get(..2)? != [0x9f, 0xeb] {
        return None;
    }
    let hdr_len = u32_at(btf, 4)? as usize;
    let type_off = hdr_len + u32_at(btf, 8)? as usize;
    let type_len = u32_at(btf, 12)? as usize;
    let str_off = hdr_len + u32_at(btf, 16)? as usize;
    let end = type_off.checked_add(type_len)?;
    let mut at = type_off;
    while at + 12 <= end {
        let name_off = u32_at(btf, at)? as usize;
        let info = u32_at(btf, at + 4)?;
        let kind = (info >> 24) & 0x1f;
        let vlen = (info & 0xffff) as usize;
        if kind == BTF_KIND_FUNC {
            let name = btf.get(str_off + name_off..)?;
            let name = &name[..name.iter().position(|&b| b == 0)?];
            if BUILTINS.contains(&name) {
                // The FUNC's vlen is its linkage: 0 static, 1 global.
                btf.get_mut(at + 4..at + 8)?
                    .copy_from_slice(&(info & !0xffff).to_le_bytes());
            }
        }
        at += 12
            + match kind {
                1 | 14 | 17 => 4,             // INT, VAR, DECL_TAG
                3 => 12,                      // ARRAY
                4 | 5 | 15 | 19 => vlen * 12, // STRUCT, UNION, DATASEC, ENUM64
                6 | 13 => vlen * 8,           // ENUM, FUNC_PROTO
                _ => 0,
            };
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BTF blob with an INT, a FUNC_PROTO and two global FUNCs.
    fn blob() -> Vec<u8> {
        let strings = b"\0int\0bcmp\0keep\0";
        let mut types = vec![];
        let mut ty = |name: u32, info: u32, size: u32, extra: &[u32]| {
            for v in [name, info, size].iter().chain(extra) {
                types.extend_from_slice(&v.to_le_bytes());
            }
        };
        ty(1, 1 << 24, 4, &[32]); // int
        ty(0, 13 << 24, 1, &[]); // fn() -> int
        ty(5, (12 << 24) | 1, 2, &[]); // global bcmp
        ty(10, (12 << 24) | 1, 2, &[]); // global keep
        let mut btf = vec![0x9f, 0xeb, 1, 0];
        for v in [
            24u32,
            0,
            types.len() as u32,
            types.len() as u32,
            strings.len() as u32,
        ] {
            btf.extend_from_slice(&v.to_le_bytes());
        }
        btf.extend_from_slice(&types);
        btf.extend_from_slice(strings);
        btf
    }

    #[test]
    fn only_builtins_become_static() {
        let mut btf = blob();
        make_builtins_static(&mut btf);
        let linkage = |index: usize| u32_at(&btf, 24 + 16 + 12 + index * 12 + 4).unwrap() & 0xffff;
        assert_eq!(linkage(0), 0, "bcmp is static");
        assert_eq!(linkage(1), 1, "other functions keep their linkage");
    }

    #[test]
    fn malformed_btf_is_left_alone() {
        let mut btf = blob();
        btf.truncate(30);
        let before = btf.clone();
        make_builtins_static(&mut btf);
        assert_eq!(btf, before);
    }
}
