//! Checks an object's bytes before aya-obj parses them, and turns a panic
//! of aya-obj (or of iu's own object code) into an error.
//!
//! aya-obj 0.3 trusts the ELF it parses: symbol ranges, BTF headers and
//! `.BTF.ext` record counts are used as slice bounds, and string offsets
//! are unwrapped. Mutated objects made it panic (issue #21). [`parse`]
//! first checks, with the `object` crate and by hand, everything those
//! code paths rely on, and refuses the object with an error that names
//! the section or symbol. What the checks miss is caught by [`guarded`],
//! which runs a stage under `catch_unwind` with the panic message kept
//! off stderr, and reports it as [`Error::Parse`].

use std::{
    cell::{Cell, RefCell},
    panic::{AssertUnwindSafe, catch_unwind},
    sync::Once,
};

use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolSection};

use crate::{Error, Result, error::chain};

/// The longest license the kernel accepts (`license[128]` in
/// `bpf_prog_load`).
const MAX_LICENSE: usize = 128;
/// The largest global data section accepted. aya-obj allocates a `.bss`
/// section's declared size up front (an allocation failure aborts the
/// process), and the kernel refuses map values above `KMALLOC_MAX_SIZE`
/// (a few MiB) anyway.
const MAX_DATA_SECTION: u64 = 64 << 20;
/// `BTF_MAGIC`.
const BTF_MAGIC: u16 = 0xeb9f;

/// Parses `bytes` with the `object` crate and aya-obj (which sees the
/// sections that aya-obj 0.3 does not know renamed, `section_alias`),
/// after checking what aya-obj relies on.
pub(crate) fn parse(bytes: &[u8]) -> Result<(object::File<'_>, aya_obj::Object)> {
    let file = object::File::parse(bytes).map_err(|e| {
        Error::Parse(format!(
            "not an ELF file ({}); build Rust programs with `cargo xtask build` and C programs with `clang -target bpf`",
            chain(&e)
        ))
    })?;
    check(&file)?;
    let renamed = crate::section_alias::rename_for_parser(bytes, &file);
    let mut obj =
        guarded("parsing the object", || aya_obj::Object::parse(&renamed))?.map_err(|e| {
            match &e {
                aya_obj::ParseError::InvalidProgramSection { section } => {
                    unknown_section(&file, section)
                }
                _ => None,
            }
            .unwrap_or_else(|| Error::Parse(chain(&e)))
        })?;
    crate::btf_ext::assign_line_info(&file, &mut obj)?;
    Ok((file, obj))
}

/// The error for a program in section `section`, which the parser could
/// not classify (it sees a `?` section without its `?`), naming the
/// program and the nearest known section name.
fn unknown_section(file: &object::File<'_>, section: &str) -> Option<Error> {
    let (index, name) = file.sections().find_map(|s| {
        let name = s.name().ok()?;
        (name.trim_start_matches('?') == section).then(|| (s.index(), name.to_owned()))
    })?;
    let program = file
        .symbols()
        .find(|s| s.section_index() == Some(index) && s.kind() == object::SymbolKind::Text)
        .and_then(|s| s.name().ok().map(str::to_owned))
        .unwrap_or_default();
    Some(Error::UnknownSection {
        program,
        nearest: crate::section_alias::nearest_known(&name),
        section: name,
    })
}

/// Refuses an object with a program the parser did not take as one (a
/// global function in an executable section other than `.text`, which
/// libbpf would load), instead of loading the rest as if it were not
/// there.
pub(crate) fn refuse_unknown_programs(
    file: &object::File<'_>,
    obj: &aya_obj::Object,
) -> Result<()> {
    for symbol in file.symbols() {
        if symbol.kind() != object::SymbolKind::Text || !symbol.is_global() {
            continue;
        }
        let (Some(index), Ok(name)) = (symbol.section_index(), symbol.name()) else {
            continue;
        };
        let Ok(section) = file.section_by_index(index) else {
            continue;
        };
        let section = section.name().unwrap_or_default();
        if section.starts_with(".text") || obj.programs.contains_key(name) {
            continue;
        }
        return Err(Error::UnknownSection {
            program: name.to_owned(),
            section: section.to_owned(),
            nearest: crate::section_alias::nearest_known(section),
        });
    }
    Ok(())
}

/// Runs `f`, turning a panic into [`Error::Parse`] naming `stage`. The
/// panic's message is kept from the panic hook, so nothing is printed.
pub(crate) fn guarded<T>(stage: &str, f: impl FnOnce() -> T) -> Result<T> {
    install_quiet_hook();
    QUIET.with(|q| q.set(q.get() + 1));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(q.get() - 1));
    outcome.map_err(|_| {
        let message = LAST_PANIC
            .with(|m| m.borrow_mut().take())
            .unwrap_or_default();
        Error::Parse(crate::error::capped(format!(
            "the object parser panicked while {stage} ({message}); the object is malformed"
        )))
    })
}

thread_local! {
    /// Depth of [`guarded`] calls on this thread: panics are quiet while
    /// it is above 0.
    static QUIET: Cell<u32> = const { Cell::new(0) };
    /// The message of the last quiet panic on this thread.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs, once per process, a panic hook that keeps quiet about panics
/// inside [`guarded`] (recording their message and location) and hands
/// every other panic to the hook that was there before.
fn install_quiet_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) > 0 {
                let payload = info.payload();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let location = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                LAST_PANIC.with(|m| *m.borrow_mut() = Some(format!("{message}{location}")));
            } else {
                previous(info);
            }
        }));
    });
}

/// Checks sections, symbols, the license and the BTF sections.
fn check(file: &object::File<'_>) -> Result<()> {
    let bad = |what: String| Err(Error::Parse(crate::error::capped(what)));
    for section in file.sections() {
        let name = section.name().unwrap_or("?");
        if section.kind() == SectionKind::UninitializedData && section.size() > MAX_DATA_SECTION {
            return bad(format!(
                "section `{name}` declares {} bytes of zeroed data; a global data section holds at most {} MiB (the kernel refuses larger map values)",
                section.size(),
                MAX_DATA_SECTION >> 20
            ));
        }
        if section.kind() != SectionKind::UninitializedData && section.data().is_err() {
            return bad(format!(
                "section `{name}` ({} bytes) lies outside the file",
                section.size()
            ));
        }
    }
    for symbol in file.symbols() {
        let SymbolSection::Section(index) = symbol.section() else {
            continue;
        };
        let name = symbol.name().unwrap_or("?");
        let Ok(section) = file.section_by_index(index) else {
            return bad(format!(
                "symbol `{name}` names section {}, which does not exist",
                index.0
            ));
        };
        if section.kind() == SectionKind::UninitializedData {
            continue;
        }
        let len = section.data().map(<[u8]>::len).unwrap_or(0) as u64;
        // aya-obj slices the section's data from the symbol's address.
        let end = symbol.address().checked_add(symbol.size());
        if symbol.address() < section.address() || end.is_none_or(|end| end > len) {
            return bad(format!(
                "symbol `{name}` ({} bytes at {:#x}) does not fit in section `{}` ({len} bytes)",
                symbol.size(),
                symbol.address(),
                section.name().unwrap_or("?")
            ));
        }
    }
    if let Some(license) = file.section_by_name("license") {
        let data = license.data().unwrap_or_default();
        if data.len() > MAX_LICENSE || data.len() < 2 || data.last() != Some(&0) {
            return bad(format!(
                "the `license` section is {} bytes; a license is a NUL-terminated string of at most {MAX_LICENSE} bytes (`iu_ebpf::license!(\"GPL\")`)",
                data.len()
            ));
        }
    }
    let strings = match file.section_by_name(".BTF") {
        Some(btf) => match check_btf(btf.data().unwrap_or_default()) {
            Ok(strings) => Some(strings),
            Err(e) => return bad(format!(".BTF: {e}")),
        },
        None => None,
    };
    if let Some(btf) = file.section_by_name(".BTF") {
        check_map_pinning(btf.data().unwrap_or_default()).or_else(bad)?;
    }
    if let (Some(ext), Some(strings)) = (file.section_by_name(".BTF.ext"), strings)
        && let Err(e) = check_btf_ext(ext.data().unwrap_or_default(), strings)
    {
        return bad(format!(".BTF.ext: {e}"));
    }
    check_code_relocations(file).or_else(bad)
}

/// `LIBBPF_PIN_BY_NAME`, the only pinning besides none (0).
const PIN_BY_NAME: u32 = 1;

/// Refuses a BTF map definition whose `pinning` is neither none nor by
/// name, as libbpf does ("invalid pinning value"); aya-obj treats it as no
/// pinning, so the map would be silently left unpinned.
fn check_map_pinning(data: &[u8]) -> std::result::Result<(), String> {
    use crate::btf::{Btf, Kind};
    // Most objects pin nothing: no member is named `pinning`.
    if !data.split(|&b| b == 0).any(|name| name == b"pinning") {
        return Ok(());
    }
    // BTF that does not parse is refused with its own message later.
    let Ok(btf) = Btf::parse(data) else {
        return Ok(());
    };
    for id in 1..btf.len() as u32 {
        let Some(var) = btf.get(id).filter(|t| t.kind == Kind::Var) else {
            continue;
        };
        let Some(def) = btf
            .get(btf.skip_mods_and_typedefs(var.type_id))
            .filter(|t| t.kind == Kind::Struct)
        else {
            continue;
        };
        // `__uint(pinning, N)` is `int (*pinning)[N]`.
        let value = def
            .members
            .iter()
            .filter(|m| m.name == "pinning")
            .filter_map(|m| btf.get(btf.skip_mods_and_typedefs(m.type_id)))
            .filter(|ptr| ptr.kind == Kind::Ptr)
            .filter_map(|ptr| btf.get(btf.skip_mods_and_typedefs(ptr.type_id)))
            .find(|array| array.kind == Kind::Array)
            .map(|array| array.nelems);
        if let Some(value) = value.filter(|&v| v > PIN_BY_NAME) {
            return Err(format!(
                "map `{}`: invalid pinning value {value}; it is 0 (none) or 1 (LIBBPF_PIN_BY_NAME)",
                var.name
            ));
        }
    }
    Ok(())
}

/// A relocation in code that points into code is a call or a function
/// address: aya-obj handles a function symbol, or a section symbol with a
/// 32-bit (call) or 64-bit (`ld_imm64`) relocation, and panicked in an
/// unfinished branch on anything else, and unwrapped the section of a function outside any
/// section (both found by the `object` fuzz target, issue #17).
fn check_code_relocations(file: &object::File<'_>) -> std::result::Result<(), String> {
    use object::{ObjectSection as _, RelocationTarget, SymbolKind};
    for section in file.sections().filter(|s| s.kind() == SectionKind::Text) {
        for (offset, relocation) in section.relocations() {
            let RelocationTarget::Symbol(index) = relocation.target() else {
                continue;
            };
            let Ok(symbol) = file.symbol_by_index(index) else {
                continue;
            };
            // A function that is neither in a section nor an extern
            // (absolute, common or a reserved index) cannot be linked.
            if symbol.kind() == SymbolKind::Text
                && symbol.section_index().is_none()
                && !symbol.is_undefined()
            {
                return Err(format!(
                    "section `{}`: the relocation at {offset:#x} calls function `{}`, which is outside any section ({:?})",
                    section.name().unwrap_or("?"),
                    symbol.name().unwrap_or("?"),
                    symbol.section()
                ));
            }
            let in_code = symbol
                .section_index()
                .and_then(|i| file.section_by_index(i).ok())
                .is_some_and(|s| s.kind() == SectionKind::Text);
            let handled = match symbol.kind() {
                SymbolKind::Text => true,
                SymbolKind::Section => matches!(relocation.size(), 32 | 64),
                _ => !in_code,
            };
            if in_code && !handled {
                return Err(format!(
                    "section `{}`: the relocation at {offset:#x} points into code through symbol `{}` ({:?}, {}-bit), which is neither a function nor a section (a call or a function address)",
                    section.name().unwrap_or("?"),
                    symbol.name().unwrap_or("?"),
                    symbol.kind(),
                    relocation.size()
                ));
            }
        }
    }
    Ok(())
}

/// Reads a little-endian u32 at `at`.
fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        data.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// `data[start..start + len]`, if it is inside `data`.
fn range(data: &[u8], start: u32, len: u32) -> Option<&[u8]> {
    data.get(start as usize..(start as usize).checked_add(len as usize)?)
}

/// The common header of `.BTF` and `.BTF.ext`, magic and length checked.
struct BtfHeader<'a> {
    data: &'a [u8],
}

impl<'a> BtfHeader<'a> {
    fn check(data: &'a [u8], bad_magic: &str) -> std::result::Result<Self, String> {
        let magic = data.get(0..2).map(|m| u16::from_le_bytes([m[0], m[1]]));
        if magic != Some(BTF_MAGIC) {
            return Err(bad_magic.into());
        }
        let header = Self { data };
        let len = header.field(4)?;
        if len < 24 || len as usize > data.len() {
            return Err(format!(
                "header length {len} in a {}-byte section",
                data.len()
            ));
        }
        Ok(header)
    }

    /// The header's `u32` at byte `at`.
    fn field(&self, at: usize) -> std::result::Result<u32, String> {
        u32_at(self.data, at).ok_or_else(|| format!("truncated header ({} bytes)", self.data.len()))
    }

    /// The header's length.
    fn len(&self) -> u32 {
        self.field(4).unwrap_or(0)
    }

    /// What follows the header.
    fn body(&self) -> &'a [u8] {
        self.data.get(self.len() as usize..).unwrap_or_default()
    }
}

/// Checks the BTF header and the bounds of its type and string sections;
/// returns the string section.
fn check_btf(data: &[u8]) -> std::result::Result<&[u8], String> {
    let header = BtfHeader::check(data, "not little-endian BTF (bad magic)")?;
    let field = |at| header.field(at);
    let body = header.body();
    let (type_off, type_len, str_off, str_len) = (field(8)?, field(12)?, field(16)?, field(20)?);
    if range(body, type_off, type_len).is_none() {
        return Err(format!(
            "types at {type_off}+{type_len} past the end ({} bytes)",
            body.len()
        ));
    }
    let strings = range(body, str_off, str_len).ok_or_else(|| {
        format!(
            "strings at {str_off}+{str_len} past the end ({} bytes)",
            body.len()
        )
    })?;
    if strings.last().is_some_and(|&b| b != 0) {
        return Err("the string section does not end with NUL".into());
    }
    let types = range(body, type_off, type_len).unwrap_or_default();
    check_btf_names(types, strings)?;
    Ok(strings)
}

/// Walks the BTF types and checks that every name offset (of a type, a
/// member, an enum value, a parameter) is inside the string section:
/// aya-obj 0.3's `string_at` bounds the offset by the wrong length and
/// slices past the strings.
fn check_btf_names(types: &[u8], strings: &[u8]) -> std::result::Result<(), String> {
    let name_ok = |offset: u32| (offset as usize) < strings.len().max(1);
    let mut at = 0usize;
    let mut id = 1u32;
    while at < types.len() {
        let (Some(name), Some(info)) = (u32_at(types, at), u32_at(types, at + 4)) else {
            return Err(format!("type {id} is truncated"));
        };
        if !name_ok(name) {
            return Err(format!("type {id}: name offset {name} outside the strings"));
        }
        let kind = (info >> 24) & 0x1f;
        let vlen = (info & 0xffff) as usize;
        // Bytes after the 12-byte header, and the size of each entry that
        // starts with a name offset.
        let (extra, named_entry) = match kind {
            // int, var, decl tag: one u32.
            1 | 14 | 17 => (4, None),
            // ptr, fwd, typedef, volatile, const, restrict, func, float,
            // type tag.
            2 | 7 | 8 | 9 | 10 | 11 | 12 | 16 | 18 => (0, None),
            // array.
            3 => (12, None),
            // struct, union; enum64.
            4 | 5 | 19 => (vlen * 12, Some(12)),
            // enum; func proto.
            6 | 13 => (vlen * 8, Some(8)),
            // datasec: (type, offset, size) per variable.
            15 => (vlen * 12, None),
            _ => return Err(format!("type {id}: unknown kind {kind}")),
        };
        let start = at + 12;
        let end = start + extra;
        if end > types.len() {
            return Err(format!("type {id} is truncated"));
        }
        if let Some(entry) = named_entry {
            for member in (start..end).step_by(entry) {
                let name = u32_at(types, member).unwrap_or(u32::MAX);
                if !name_ok(name) {
                    return Err(format!(
                        "type {id}: member name offset {name} outside the strings"
                    ));
                }
            }
        }
        at = end;
        id += 1;
    }
    Ok(())
}

/// Checks the `.BTF.ext` header and walks its func-info, line-info and
/// CO-RE relocation records: record sizes, counts and name offsets.
fn check_btf_ext(data: &[u8], strings: &[u8]) -> std::result::Result<(), String> {
    let header = BtfHeader::check(data, "bad magic")?;
    let field = |at| header.field(at);
    let (hdr_len, body) = (header.len(), header.body());
    // (offset of the field pair, kind, smallest record).
    let mut parts = vec![(8, "func info", 8), (16, "line info", 16)];
    if hdr_len >= 32 {
        parts.push((24, "CO-RE relocations", 16));
    }
    for (at, kind, min_record) in parts {
        let (off, len) = (field(at)?, field(at + 4)?);
        if len == 0 {
            continue;
        }
        let part = range(body, off, len)
            .ok_or_else(|| format!("{kind} at {off}+{len} past the end ({} bytes)", body.len()))?;
        let record = u32_at(part, 0).ok_or_else(|| format!("{kind}: no record size"))?;
        if record < min_record {
            return Err(format!(
                "{kind}: record size {record} (at least {min_record})"
            ));
        }
        let mut rest = &part[4..];
        while !rest.is_empty() {
            let (Some(name), Some(count)) = (u32_at(rest, 0), u32_at(rest, 4)) else {
                return Err(format!("{kind}: truncated section header"));
            };
            let name_ok = strings.get(name as usize..).is_some_and(|s| s.contains(&0));
            if !name_ok {
                return Err(format!(
                    "{kind}: section name offset {name} outside the strings"
                ));
            }
            let size = (count as usize)
                .checked_mul(record as usize)
                .and_then(|n| n.checked_add(8))
                .filter(|&n| n <= rest.len())
                .ok_or_else(|| {
                    format!(
                        "{kind}: {count} records of {record} bytes in {} bytes",
                        rest.len() - 8
                    )
                })?;
            rest = &rest[size..];
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_quiet_error_and_other_panics_still_reach_the_old_hook() {
        let err = guarded("testing", || -> u32 { panic!("boom {}", 7) }).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("while testing (boom 7 at"), "{message}");
        assert_eq!(guarded("testing", || 5).unwrap(), 5);
        assert_eq!(QUIET.with(Cell::get), 0);
    }
}
