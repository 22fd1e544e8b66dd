//! The `.ksyms` and `.kconfig` DATASECs of a C object, made acceptable to
//! aya-obj and the kernel before the object is parsed.
//!
//! clang lists a C object's `__ksym` externs (kfunc declarations) in a BTF
//! DATASEC named `.ksyms` that no ELF section backs: aya-obj cannot size
//! it ("Unable to determine the size of section `.ksyms`"), and the kernel
//! refuses a DATASEC whose entries are functions. libbpf rewrites its
//! entries into plain variables. Here the DATASEC becomes, in place and
//! with the same length, an anonymous union of `int` members: nothing
//! refers to it, every offset in the object stays valid, and each kfunc
//! keeps its own `FUNC` type, which is what the kernel checks a call
//! against.

use crate::btf_linkage::{Record, name_of, records, u32_at};

/// BTF kinds, from `info >> 24`.
const INT: u32 = 1;
const UNION: u32 = 5;
const FUNC: u32 = 12;
const FUNC_PROTO: u32 = 13;
const VAR: u32 = 14;
const DATASEC: u32 = 15;
/// A VAR's linkage: `BTF_VAR_GLOBAL_ALLOCATED` and `BTF_VAR_GLOBAL_EXTERN`.
const VAR_GLOBAL_ALLOCATED: u32 = 1;
const VAR_EXTERN: u32 = 2;
/// A FUNC's linkage (its vlen): `BTF_FUNC_GLOBAL` and `BTF_FUNC_EXTERN`.
const FUNC_GLOBAL: u32 = 1;
const FUNC_EXTERN: u32 = 2;

/// Gives the unnamed parameters of FUNC `func`'s prototype the function's
/// own name: the kernel checks a global function's parameters for names
/// ("Invalid arg"), and kfunc declarations often have none (libbpf names
/// them too).
fn name_unnamed_params(btf: &mut [u8], types: &[Record], func: &Record) -> Option<()> {
    let name = u32_at(btf, func.at)?;
    let proto = types.get((u32_at(btf, func.at + 8)? as usize).checked_sub(1)?)?;
    if proto.kind != FUNC_PROTO {
        return Some(());
    }
    for param in 0..proto.vlen {
        let at = proto.at + 12 + 8 * param;
        if u32_at(btf, at)? == 0 && u32_at(btf, at + 4)? != 0 {
            put_u32(btf, at, name)?;
        }
    }
    Some(())
}

/// Rewrites the `.ksyms` and `.kconfig` DATASECs of the BTF at `range` of
/// `bytes` (the same way: `__kconfig` externs live in a map the loader
/// makes, [`crate::kconfig`]), if it has them; returns whether it did.
pub(crate) fn rewrite(bytes: &mut [u8], (offset, size): (usize, usize)) -> bool {
    let Some(end) = offset.checked_add(size) else {
        return false;
    };
    let Some(btf) = bytes.get_mut(offset..end) else {
        return false;
    };
    rewrite_btf(btf).is_some()
}

fn put_u32(bytes: &mut [u8], at: usize, value: u32) -> Option<()> {
    bytes
        .get_mut(at..at.checked_add(4)?)?
        .copy_from_slice(&value.to_le_bytes());
    Some(())
}

/// The rewrite on the `.BTF` section's bytes; `None` if there is nothing
/// to do or the BTF is not as expected (then nothing is changed).
fn rewrite_btf(btf: &mut [u8]) -> Option<()> {
    let (types, str_off) = records(btf)?;
    let int = types.iter().find(|r| r.kind == INT)?;
    let (int_id, int_size) = (int.id, u32_at(btf, int.at + 8)?);
    let mut done = None;
    for section in [&b".ksyms"[..], b".kconfig"] {
        let Some(datasec) = types
            .iter()
            .find(|r| r.kind == DATASEC && name_of(btf, r.at, str_off) == Some(section))
        else {
            continue;
        };
        let (at, vlen) = (datasec.at, datasec.vlen);
        // Its extern variables become allocated globals, and its extern
        // functions (kfuncs) global ones, as libbpf makes them: the kernel
        // refuses extern linkage in a program's BTF ("Invalid func
        // linkage"), and checks a kfunc call against its own BTF anyway.
        for member in 0..vlen {
            let var = u32_at(btf, at + 12 + 12 * member)?;
            let Some(r) = types.get((var as usize).checked_sub(1)?) else {
                continue;
            };
            if r.kind == VAR && u32_at(btf, r.at + 12) == Some(VAR_EXTERN) {
                put_u32(btf, r.at + 12, VAR_GLOBAL_ALLOCATED)?;
            }
            if r.kind == FUNC && u32_at(btf, r.at + 4)? & 0xffff == FUNC_EXTERN {
                put_u32(btf, r.at + 4, (FUNC << 24) | FUNC_GLOBAL)?;
                name_unnamed_params(btf, &types, r)?;
            }
        }
        // An anonymous union of `vlen` ints: name, info (kind, vlen),
        // size, then each member's name (none), type and bit offset.
        put_u32(btf, at, 0)?;
        put_u32(btf, at + 4, (UNION << 24) | vlen as u32)?;
        put_u32(btf, at + 8, int_size)?;
        for member in 0..vlen {
            let m = at + 12 + 12 * member;
            put_u32(btf, m, 0)?;
            put_u32(btf, m + 4, int_id)?;
            put_u32(btf, m + 8, 0)?;
        }
        done = Some(());
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BTF with `int`, a FUNC_PROTO, a FUNC and a `.ksyms` DATASEC of one
    /// entry.
    fn btf() -> Vec<u8> {
        let strings = b"\0int\0f\0.ksyms\0";
        let mut types = vec![];
        let mut push = |words: &[u32]| {
            for w in words {
                types.extend_from_slice(&w.to_le_bytes());
            }
        };
        push(&[1, INT << 24, 4, 32]); // [1] int
        push(&[0, 13 << 24, 1]); // [2] int (void)
        push(&[5, (12 << 24) | 2, 2]); // [3] FUNC f, extern
        push(&[7, (DATASEC << 24) | 1, 0, 3, 0, 0]); // [4] .ksyms
        let mut out = vec![0x9f, 0xeb, 1, 0];
        for w in [
            24u32,
            0,
            types.len() as u32,
            types.len() as u32,
            strings.len() as u32,
        ] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&types);
        out.extend_from_slice(strings);
        out
    }

    #[test]
    fn the_ksyms_datasec_becomes_a_union_of_ints_in_place() {
        let mut bytes = btf();
        let len = bytes.len();
        assert!(rewrite(&mut bytes, (0, len)));
        assert_eq!(bytes.len(), len);
        let datasec = 24 + 16 + 12 + 12;
        assert_eq!(u32_at(&bytes, datasec), Some(0));
        assert_eq!(u32_at(&bytes, datasec + 4), Some((UNION << 24) | 1));
        assert_eq!(u32_at(&bytes, datasec + 8), Some(4));
        assert_eq!(u32_at(&bytes, datasec + 16), Some(1), "member type: int");
        // The FUNC itself is kept, with global linkage.
        assert_eq!(u32_at(&bytes, 24 + 16 + 12 + 4), Some((12 << 24) | 1));
        // Nothing left to do the second time.
        assert!(!rewrite(&mut bytes, (0, len)));
    }
}
