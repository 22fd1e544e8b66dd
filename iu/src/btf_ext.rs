//! The CO-RE relocation records clang writes in `.BTF.ext`
//! (`preserve_access_index`, `BPF_CORE_READ`, `bpf_core_field_exists`, ...),
//! read with bounds checks (a malformed object is an error, never a panic).
//!
//! Layout (`struct btf_ext_header`, libbpf's `btf.h`): a header whose
//! `core_relo_off`/`core_relo_len` (present when `hdr_len >= 32`) point,
//! relative to the header's end, at a record size followed by one block per
//! ELF section: the section's name (an offset into `.BTF`'s strings), a
//! count, and that many `struct bpf_core_relo { insn_off, type_id,
//! access_str_off, kind }`.

use crate::{Error, Result};

/// One `struct bpf_core_relo`, with its strings looked up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClangRelo {
    /// The ELF section of the instruction.
    pub section: String,
    /// Byte offset of the instruction in its section.
    pub insn_off: u32,
    /// The local (object BTF) root type.
    pub type_id: u32,
    /// The access string: `0:2:0` (field indices), `0` (types), `N`
    /// (enumerator index).
    pub access: String,
    /// `enum bpf_core_relo_kind`.
    pub kind: u32,
}

fn bad(why: impl std::fmt::Display) -> Error {
    Error::Parse(format!("CO-RE relocations (`.BTF.ext`): {why}"))
}

fn u32_at(data: &[u8], at: usize) -> Result<u32> {
    at.checked_add(4)
        .and_then(|end| data.get(at..end))
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| bad(format!("truncated at byte {at}")))
}

/// The string at `off` in raw BTF's string section.
pub(crate) fn btf_string(btf: &[u8], off: u32) -> Result<String> {
    let hdr_len = u32_at(btf, 4)? as usize;
    let str_off = u32_at(btf, 16)? as usize;
    let str_len = u32_at(btf, 20)? as usize;
    let strings = hdr_len
        .checked_add(str_off)
        .and_then(|start| btf.get(start..start.checked_add(str_len)?))
        .ok_or_else(|| bad("`.BTF` string section out of bounds"))?;
    let rest = strings
        .get(off as usize..)
        .ok_or_else(|| bad(format!("string offset {off} out of bounds")))?;
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    std::str::from_utf8(&rest[..end])
        .map(str::to_owned)
        .map_err(|_| bad(format!("string at {off} is not UTF-8")))
}

/// The CO-RE records of `.BTF.ext` (`ext`), strings from `.BTF` (`btf`).
pub(crate) fn core_relos(btf: &[u8], ext: &[u8]) -> Result<Vec<ClangRelo>> {
    if ext.get(..2) != Some(&[0x9f, 0xeb][..]) {
        return Err(bad("bad magic (not little-endian BTF.ext)"));
    }
    let hdr_len = u32_at(ext, 4)? as usize;
    if hdr_len < 32 {
        // No CO-RE section in this header version.
        return Ok(Vec::new());
    }
    let off = u32_at(ext, 24)? as usize;
    let len = u32_at(ext, 28)? as usize;
    if len == 0 {
        return Ok(Vec::new());
    }
    let data = hdr_len
        .checked_add(off)
        .and_then(|start| ext.get(start..start.checked_add(len)?))
        .ok_or_else(|| bad("core_relo section out of bounds"))?;
    let rec_size = u32_at(data, 0)? as usize;
    if !(16..=1024).contains(&rec_size) {
        return Err(bad(format!("core_relo record size {rec_size}")));
    }
    let mut out = Vec::new();
    let mut at = 4;
    while at < data.len() {
        let section = btf_string(btf, u32_at(data, at)?)?;
        let count = u32_at(data, at + 4)? as usize;
        at += 8;
        let end = count
            .checked_mul(rec_size)
            .and_then(|n| n.checked_add(at))
            .filter(|&end| end <= data.len())
            .ok_or_else(|| bad(format!("{count} records of section `{section}` overrun")))?;
        while at < end {
            out.push(ClangRelo {
                section: section.clone(),
                insn_off: u32_at(data, at)?,
                type_id: u32_at(data, at + 4)?,
                access: btf_string(btf, u32_at(data, at + 8)?)?,
                kind: u32_at(data, at + 12)?,
            });
            at += rec_size;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_or_foreign_data_is_an_error_not_a_panic() {
        assert!(core_relos(&[], &[]).is_err());
        assert!(core_relos(&[], &[0x9f, 0xeb, 1, 0, 32]).is_err());
        // A header claiming a core_relo section past the end.
        let mut ext = vec![0x9f, 0xeb, 1, 0];
        ext.extend(32u32.to_le_bytes());
        ext.extend([0u8; 16]);
        ext.extend(0u32.to_le_bytes());
        ext.extend(64u32.to_le_bytes());
        assert!(core_relos(&[], &ext).is_err());
    }
}
