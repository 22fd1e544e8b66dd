//! Static linkage in an object's BTF for the functions no other object
//! can call.
//!
//! The kernel verifies a global function on its own, with unknown
//! arguments (a pointer argument may be NULL), and a static one with its
//! caller's. libbpf gives every global function of hidden or internal
//! visibility static linkage in BTF (libbpf's own `usdt.bpf.h` helpers
//! need it: they write through a pointer argument without a NULL test),
//! and so does this pass, on the BTF bytes just before they are loaded.
//! It also covers iu-ebpf's `memcpy`, `memmove`, `memset`, `memcmp` and
//! `bcmp` (`iu-ebpf/src/builtins.rs`), where a copy needs its caller's
//! bounds, whatever their visibility.

/// The builtins that must be verified with their callers.
const BUILTINS: &[&[u8]] = &[b"memcpy", b"memmove", b"memset", b"memcmp", b"bcmp"];

const BTF_KIND_FUNC: u32 = 12;

/// Rewrites the linkage of every `FUNC` named like a builtin or in
/// `hidden` to static. BTF it cannot walk (which the kernel would refuse
/// anyway) is left as it is.
pub(crate) fn make_static(btf: &mut [u8], hidden: &[Vec<u8>]) {
    let _ = walk(btf, hidden);
}

/// Gives every `VAR` of type `void` (a typeless `__ksym` extern, `extern
/// const void x __ksym`) an integer type, as libbpf does: the kernel
/// refuses a variable of type `void` in the object's BTF, and the program
/// reads the address the loader put in, not the variable.
pub(crate) fn type_typeless_vars(btf: &mut [u8]) {
    let _ = retype(btf);
}

fn retype(btf: &mut [u8]) -> Option<()> {
    const INT: u32 = 1;
    const VAR: u32 = 14;
    let (records, _) = records(btf)?;
    let int = records.iter().find(|r| r.kind == INT)?.id;
    let typeless: Vec<usize> = records
        .iter()
        .filter(|r| r.kind == VAR)
        .filter(|r| {
            u32_at(btf, r.at + 8)
                .is_some_and(|t| matches!(skip_modifiers(&records, btf, t), Some(None)))
        })
        .map(|r| r.at + 8)
        .collect();
    for at in typeless {
        btf.get_mut(at..at + 4)?.copy_from_slice(&int.to_le_bytes());
    }
    Some(())
}

/// The global and weak functions of `file` whose visibility is hidden or
/// internal: no other object can call them.
pub(crate) fn hidden_functions(file: &object::File<'_>) -> Vec<Vec<u8>> {
    use object::{Object as _, ObjectSymbol as _, SymbolFlags};
    /// `STV_INTERNAL`, `STV_HIDDEN`.
    const RESTRICTED: [u8; 2] = [1, 2];
    file.symbols()
        .filter(|s| s.kind() == object::SymbolKind::Text && (s.is_global() || s.is_weak()))
        .filter(|s| {
            matches!(s.flags(), SymbolFlags::Elf { st_other, .. } if RESTRICTED.contains(&(st_other & 3)))
        })
        .filter_map(|s| Some(s.name_bytes().ok()?.to_vec()))
        .collect()
}

pub(crate) fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// The record type `id` of raw BTF names, through typedefs and modifiers
/// (kinds 8 to 11): `Some(None)` for `void` (id 0), `None` where the BTF
/// cannot be walked (an unknown id, or a chain longer than 16).
pub(crate) fn skip_modifiers<'r>(
    records: &'r [Record],
    btf: &[u8],
    mut id: u32,
) -> Option<Option<&'r Record>> {
    for _ in 0..16 {
        if id == 0 {
            return Some(None);
        }
        let record = records.get(id as usize - 1)?;
        if !(8..=11).contains(&record.kind) {
            return Some(Some(record));
        }
        id = u32_at(btf, record.at + 8)?;
    }
    None
}

/// One type record of raw BTF: its id, its offset in the bytes, its kind
/// and `vlen`.
pub(crate) struct Record {
    pub id: u32,
    pub at: usize,
    pub kind: u32,
    pub vlen: usize,
}

/// The type records of the raw BTF `btf`, and the offset of its string
/// section; `None` if it is not BTF or a record runs past the end.
pub(crate) fn records(btf: &[u8]) -> Option<(Vec<Record>, usize)> {
    if btf.get(..2)? != [0x9f, 0xeb] {
        return None;
    }
    let hdr_len = u32_at(btf, 4)? as usize;
    let type_off = hdr_len.checked_add(u32_at(btf, 8)? as usize)?;
    let type_len = u32_at(btf, 12)? as usize;
    let str_off = hdr_len.checked_add(u32_at(btf, 16)? as usize)?;
    let end = type_off.checked_add(type_len)?;
    let mut records = vec![];
    let (mut at, mut id) = (type_off, 1);
    while at + 12 <= end {
        let info = u32_at(btf, at + 4)?;
        let (kind, vlen) = ((info >> 24) & 0x1f, (info & 0xffff) as usize);
        records.push(Record { id, at, kind, vlen });
        at += 12
            + match kind {
                1 | 14 | 17 => 4,             // INT, VAR, DECL_TAG
                3 => 12,                      // ARRAY
                4 | 5 | 15 | 19 => vlen * 12, // STRUCT, UNION, DATASEC, ENUM64
                6 | 13 => vlen * 8,           // ENUM, FUNC_PROTO
                _ => 0,
            };
        id += 1;
    }
    (at <= btf.len()).then_some((records, str_off))
}

/// The name of the record at `at` (its `name_off` into the strings at
/// `str_off`).
pub(crate) fn name_of(btf: &[u8], at: usize, str_off: usize) -> Option<&[u8]> {
    let name = btf.get(str_off.checked_add(u32_at(btf, at)? as usize)?..)?;
    Some(&name[..name.iter().position(|&b| b == 0)?])
}

fn walk(btf: &mut [u8], hidden: &[Vec<u8>]) -> Option<()> {
    let (records, str_off) = records(btf)?;
    for record in records.iter().filter(|r| r.kind == BTF_KIND_FUNC) {
        let name = name_of(btf, record.at, str_off)?;
        if BUILTINS.contains(&name) || hidden.iter().any(|h| h == name) {
            // The FUNC's vlen is its linkage: 0 static, 1 global.
            let info = u32_at(btf, record.at + 4)?;
            btf.get_mut(record.at + 4..record.at + 8)?
                .copy_from_slice(&(info & !0xffff).to_le_bytes());
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BTF blob with an INT, a FUNC_PROTO and two global FUNCs.
    fn blob() -> Vec<u8> {
        let strings = b"\0int\0bcmp\0keep\0hide\0";
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
        ty(15, (12 << 24) | 1, 2, &[]); // global hide
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
    fn builtins_and_hidden_functions_become_static() {
        let mut btf = blob();
        make_static(&mut btf, &[b"hide".to_vec()]);
        let linkage = |index: usize| u32_at(&btf, 24 + 16 + 12 + index * 12 + 4).unwrap() & 0xffff;
        assert_eq!(linkage(0), 0, "bcmp is static");
        assert_eq!(linkage(1), 1, "other functions keep their linkage");
        assert_eq!(linkage(2), 0, "hidden functions are static");
    }

    #[test]
    fn malformed_btf_is_left_alone() {
        let mut btf = blob();
        btf.truncate(30);
        let before = btf.clone();
        make_static(&mut btf, &[b"keep".to_vec()]);
        assert_eq!(btf, before);
    }
}
