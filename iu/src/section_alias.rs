//! Section names that aya-obj 0.3 does not know, renamed for its parser.
//!
//! aya-obj refuses an object with a program section it cannot classify,
//! such as `fmod_ret/<function>`. Before parsing, such a name is rewritten
//! in place to a name of the same length that aya-obj parses to the same
//! kind of program (`fentry.s/<function>`: a BTF-attached tracing program),
//! both in the section-name table and in the BTF string table, through
//! which `.BTF.ext` ties function and line info to sections. Nothing moves,
//! so every offset in the object stays valid. The loader
//! then takes the program's real type from the original section name
//! ([`crate::programs::LoadType::of`]).

use std::borrow::Cow;

use object::{Object, ObjectSection};

/// Original section-name prefix and the same-length prefix aya-obj parses.
const ALIASES: &[(&[u8], &[u8])] = &[(b"fmod_ret/", b"fentry.s/")];

/// The object's bytes with every aliased section name renamed, or the
/// bytes themselves when it has none.
pub(crate) fn rename_for_parser(bytes: &[u8]) -> Cow<'_, [u8]> {
    let Ok(file) = object::File::parse(bytes) else {
        // aya-obj reports the malformed object.
        return Cow::Borrowed(bytes);
    };
    let aliased = file.sections().any(|s| {
        s.name_bytes()
            .is_ok_and(|name| ALIASES.iter().any(|(from, _)| name.starts_with(from)))
    });
    if !aliased {
        return Cow::Borrowed(bytes);
    }
    let mut tables = Vec::new();
    if let Some(range) = section_names_range(bytes) {
        tables.push(range);
    }
    if let Some(range) = file
        .section_by_name(".BTF")
        .and_then(|s| s.file_range())
        .and_then(|(offset, size)| btf_strings_range(bytes, offset as usize, size as usize))
    {
        tables.push(range);
    }
    let mut out = bytes.to_vec();
    for (start, end) in tables {
        if let Some(table) = out.get_mut(start..end) {
            rename_strings(table);
        }
    }
    Cow::Owned(out)
}

/// Renames every aliased prefix in a string table. Not only at the start
/// of a string: linkers share string tails, so a section's name may be the
/// end of its relocation section's (`.relfmod_ret/f`). No symbol name holds
/// a `/`, so nothing else matches.
fn rename_strings(table: &mut [u8]) {
    for (from, to) in ALIASES {
        let mut at = 0;
        while let Some(found) = table[at..].windows(from.len()).position(|w| w == *from) {
            let start = at + found;
            table[start..start + to.len()].copy_from_slice(to);
            at = start + to.len();
        }
    }
}

/// File range of the section-name string table of a 64-bit little-endian
/// ELF (the only kind BPF objects are).
fn section_names_range(bytes: &[u8]) -> Option<(usize, usize)> {
    // ELFCLASS64, ELFDATA2LSB.
    if bytes.get(4..6)? != [2, 1] {
        return None;
    }
    let u16_at = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
    let section_headers = u64_at(0x28)? as usize;
    let header_size = usize::from(u16_at(0x3a)?);
    let names_index = usize::from(u16_at(0x3e)?);
    let header = section_headers.checked_add(names_index.checked_mul(header_size)?)?;
    let offset = u64_at(header.checked_add(0x18)?)? as usize;
    let size = u64_at(header.checked_add(0x20)?)? as usize;
    Some((offset, offset.checked_add(size)?))
}

/// File range of the string section of the `.BTF` section at
/// `[offset, offset + size)`.
fn btf_strings_range(bytes: &[u8], offset: usize, size: usize) -> Option<(usize, usize)> {
    let btf = bytes.get(offset..offset.checked_add(size)?)?;
    let u32_at =
        |at: usize| Some(u32::from_le_bytes(btf.get(at..at + 4)?.try_into().ok()?) as usize);
    if btf.get(..2)? != [0x9f, 0xeb] {
        return None;
    }
    let header_len = u32_at(4)?;
    let (strings, strings_len) = (u32_at(16)?, u32_at(20)?);
    let start = header_len.checked_add(strings)?;
    let end = start.checked_add(strings_len)?;
    (end <= btf.len()).then_some((offset + start, offset + end))
}

#[cfg(test)]
mod tests {
    #[test]
    fn renames_every_aliased_prefix() {
        let mut table = b"\0fmod_ret/f\0.relfmod_ret/g\0fentry/h\0fmod_ret/".to_vec();
        super::rename_strings(&mut table);
        assert_eq!(
            &table[..],
            b"\0fentry.s/f\0.relfentry.s/g\0fentry/h\0fentry.s/"
        );
    }
}
