//! What clang writes in `.BTF.ext`, read with bounds checks (a malformed
//! object is an error, never a panic): the CO-RE relocation records
//! (`preserve_access_index`, `BPF_CORE_READ`, `bpf_core_field_exists`,
//! ...) and the line info of every function.
//!
//! Layout (`struct btf_ext_header`, libbpf's `btf.h`): a header whose
//! `func_info`, `line_info` and (when `hdr_len >= 32`) `core_relo` offsets
//! and lengths point, relative to the header's end, at a record size
//! followed by one block per ELF section: the section's name (an offset
//! into `.BTF`'s strings), a count, and that many records: `struct
//! bpf_line_info { insn_off, file_name_off, line_off, line_col }`, `struct
//! bpf_core_relo { insn_off, type_id, access_str_off, kind }`.

use std::collections::HashMap;

use aya_obj::{Object, generated::bpf_line_info};
use object::{Object as _, ObjectSection as _};

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

/// A block of `.BTF.ext`: where its header's offset and length are.
#[derive(Clone, Copy)]
enum Block {
    LineInfo,
    CoreRelo,
}

impl Block {
    fn header_field(self) -> usize {
        match self {
            Block::LineInfo => 16,
            Block::CoreRelo => 24,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Block::LineInfo => "line_info",
            Block::CoreRelo => "core_relo",
        }
    }
}

/// The file offset of the length of `ext`'s line-info block, if it has
/// one that is not empty: the parser's copy sets it to 0
/// ([`crate::section_alias::rename_for_parser`]), and the loader hands
/// each function its records ([`assign_line_info`]).
pub(crate) fn line_info_len_field(ext: &[u8]) -> Option<usize> {
    let field = Block::LineInfo.header_field() + 4;
    (ext.get(..2) == Some(&[0x9f, 0xeb][..]) && u32_at(ext, field).is_ok_and(|len| len > 0))
        .then_some(field)
}

/// Calls `record(section, bytes)` for every record of `block`, with the
/// section's name from `.BTF` (`btf`); `bytes` has the first 16 bytes of a
/// record at least.
fn for_each_record(
    btf: &[u8],
    ext: &[u8],
    block: Block,
    mut record: impl FnMut(&str, &[u8]) -> Result<()>,
) -> Result<()> {
    if ext.get(..2) != Some(&[0x9f, 0xeb][..]) {
        return Err(bad("bad magic (not little-endian BTF.ext)"));
    }
    let hdr_len = u32_at(ext, 4)? as usize;
    let field = block.header_field();
    if hdr_len < field + 8 {
        // Not in this header version.
        return Ok(());
    }
    let off = u32_at(ext, field)? as usize;
    let len = u32_at(ext, field + 4)? as usize;
    if len == 0 {
        return Ok(());
    }
    let what = block.name();
    let data = hdr_len
        .checked_add(off)
        .and_then(|start| ext.get(start..start.checked_add(len)?))
        .ok_or_else(|| bad(format!("{what} section out of bounds")))?;
    let rec_size = u32_at(data, 0)? as usize;
    if !(16..=1024).contains(&rec_size) {
        return Err(bad(format!("{what} record size {rec_size}")));
    }
    let mut at = 4;
    while at < data.len() {
        let section = btf_string(btf, u32_at(data, at)?)?;
        let count = u32_at(data, at + 4)? as usize;
        at += 8;
        let records = count
            .checked_mul(rec_size)
            .and_then(|n| data.get(at..at.checked_add(n)?))
            .ok_or_else(|| {
                bad(format!(
                    "{count} {what} records of section `{section}` overrun"
                ))
            })?;
        for bytes in records.chunks_exact(rec_size) {
            record(&section, bytes)?;
        }
        at += records.len();
    }
    Ok(())
}

/// The CO-RE records of `.BTF.ext` (`ext`), strings from `.BTF` (`btf`).
pub(crate) fn core_relos(btf: &[u8], ext: &[u8]) -> Result<Vec<ClangRelo>> {
    let mut out = Vec::new();
    for_each_record(btf, ext, Block::CoreRelo, |section, bytes| {
        out.push(ClangRelo {
            section: section.to_owned(),
            insn_off: u32_at(bytes, 0)?,
            type_id: u32_at(bytes, 4)?,
            access: btf_string(btf, u32_at(bytes, 8)?)?,
            kind: u32_at(bytes, 12)?,
        });
        Ok(())
    })?;
    Ok(out)
}

/// Gives every function of `obj` its line info from the object's
/// `.BTF.ext` (`bytes` is the object `file` was parsed from), as aya-obj
/// would: a program's records with offsets from its first instruction, a
/// `.text` function's with offsets in its section (the linker rebases
/// them). aya-obj copies a section's whole line info once for each of its
/// functions, which is quadratic for an object with many programs in one
/// section (100 programs: 1.9 M instructions a load, more than the rest of
/// its parse), so its copy of the object has none
/// ([`line_info_len_field`]) and this pass, one walk over the records,
/// does its part.
pub(crate) fn assign_line_info(file: &object::File<'_>, obj: &mut Object) -> Result<()> {
    let (Some(btf), Some(ext)) = (
        file.section_by_name(".BTF").and_then(|s| s.data().ok()),
        file.section_by_name(".BTF.ext").and_then(|s| s.data().ok()),
    ) else {
        return Ok(());
    };
    if line_info_len_field(ext).is_none() {
        return Ok(());
    }
    // Each section's functions by first instruction: (start, end, index in
    // `obj.functions`, whether it is a program).
    let programs: std::collections::HashSet<(usize, u64)> =
        obj.programs.values().map(|p| p.function_key()).collect();
    let mut by_section: HashMap<String, Vec<(u32, u32, usize, bool)>> = HashMap::new();
    for (index, (key, function)) in obj.functions.iter().enumerate() {
        let section = file
            .section_by_index(object::SectionIndex(function.section_index.0))
            .and_then(|s| s.name().map(str::to_owned))
            .map_err(|e| bad(format!("function `{}`: {e}", function.name)))?;
        let start = (function.section_offset / 8) as u32;
        let end = start.saturating_add(function.instructions.len() as u32);
        let program = programs.contains(key);
        by_section
            .entry(section)
            .or_default()
            .push((start, end, index, program));
    }
    for functions in by_section.values_mut() {
        functions.sort_unstable();
    }
    let mut lines: Vec<Vec<bpf_line_info>> = vec![Vec::new(); obj.functions.len()];
    let mut current: (String, &[(u32, u32, usize, bool)]) = (String::new(), &[]);
    for_each_record(btf, ext, Block::LineInfo, |section, bytes| {
        if current.0 != section {
            let functions = by_section.get(section).map_or(&[][..], Vec::as_slice);
            current = (section.to_owned(), functions);
        }
        let functions = current.1;
        // Byte offsets in the ELF, instructions for the kernel.
        let insn_off = u32_at(bytes, 0)? / 8;
        let found = functions
            .partition_point(|f| f.0 <= insn_off)
            .checked_sub(1)
            .and_then(|i| functions.get(i));
        let Some(&(start, end, index, program)) = found else {
            return Ok(());
        };
        if insn_off >= end {
            return Ok(());
        }
        if let Some(lines) = lines.get_mut(index) {
            lines.push(bpf_line_info {
                insn_off: if program { insn_off - start } else { insn_off },
                file_name_off: u32_at(bytes, 4)?,
                line_off: u32_at(bytes, 8)?,
                line_col: u32_at(bytes, 12)?,
            });
        }
        Ok(())
    })?;
    for (function, records) in obj.functions.values_mut().zip(lines) {
        function.line_info.num_info = records.len() as u32;
        function.line_info.line_info = records;
        function.line_info_rec_size = size_of::<bpf_line_info>();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_get_the_line_info_aya_obj_would_give_them() {
        let (mut objects, mut functions) = (0, 0);
        let dir = crate::object_dir();
        for entry in std::fs::read_dir(&dir).expect("built objects: run `cargo xtask build`") {
            let path = entry.expect("directory entry").path();
            if path.extension().is_some() || !path.is_file() {
                continue;
            }
            let bytes = std::fs::read(&path).expect("object");
            let Ok(file) = object::File::parse(&*bytes) else {
                continue;
            };
            let Some((offset, size)) = file
                .section_by_name(".BTF.ext")
                .and_then(|s| s.file_range())
            else {
                continue;
            };
            let ext = &bytes[offset as usize..(offset + size) as usize];
            let Some(field) = line_info_len_field(ext) else {
                continue;
            };
            let Ok((_, ours)) = crate::validate::parse(&bytes) else {
                continue;
            };
            // aya-obj's own parse of the parser's copy, line info put back.
            let mut copy = crate::section_alias::rename_for_parser(&bytes, &file).into_owned();
            let at = offset as usize + field;
            copy[at..at + 4].copy_from_slice(&ext[field..field + 4]);
            let theirs = aya_obj::Object::parse(&copy).expect("aya-obj parses the copy");
            let records = |f: &aya_obj::Function| -> Vec<[u32; 4]> {
                f.line_info
                    .line_info
                    .iter()
                    .map(|l| [l.insn_off, l.file_name_off, l.line_off, l.line_col])
                    .collect()
            };
            for (key, their) in &theirs.functions {
                let our = &ours.functions[key];
                assert_eq!(
                    records(our),
                    records(their),
                    "{}: function {}",
                    path.display(),
                    their.name
                );
                functions += 1;
            }
            objects += 1;
        }
        assert!(
            objects > 20 && functions > 100,
            "{objects} objects, {functions} functions in {}",
            dir.display()
        );
    }

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
