//! Section names that aya-obj 0.3 does not know, renamed for its parser.
//!
//! aya-obj refuses an object with a program section it cannot classify,
//! such as `fmod_ret/<function>` or `syscall`. Before parsing, such a name
//! is given a name aya-obj parses ([`alias`]): in the section headers,
//! which point into a copy of the section-name table appended to the file
//! (the linker shares strings between names, so the table itself is left
//! as it is), and in place, at the same length, in the BTF string table,
//! through which `.BTF.ext` ties function and line info to sections.
//! Every other offset in the object stays valid. The loader
//! then takes the program's real type from the original section name
//! ([`crate::programs::LoadType::of`]).
//!
//! libbpf's own names are read the same way: `tc` and the TCX forms
//! (`tc/ingress`, `tcx/egress`, ...) are classifiers, parsed under a
//! stand-in (`tp/___`); the program gets its real section from
//! [`libbpf_section`] and [`parse_section`]. A leading `?` turns the
//! program's autoload off: such a section's name is pointed one byte
//! further (in its header and in `.BTF.ext`), so aya-obj sees the name
//! without it. Renaming the string instead would break the sections whose
//! names the linker stored as its suffix (`?tp/x` and `tp/x` share one
//! string).

use std::borrow::Cow;

use object::{Object, ObjectSection};

/// The same-length name aya-obj parses that stands for section `name`:
/// `fmod_ret/<f>` becomes `fentry.s/<f>` and `fmod_ret.s/<f>` becomes
/// `fentry.s/__<f>` (BTF-attached tracing programs; iu takes the target
/// from the original name), and `syscall` becomes `fexit.s` (which needs
/// no target either).
fn alias(name: &[u8]) -> Option<Vec<u8>> {
    // USDT programs (`usdt`, `usdt/...`) too: the loader takes their type
    // from the original name.
    if is_tc(name) || name == b"usdt" || name.starts_with(b"usdt/") {
        // A stand-in aya-obj parses whatever follows `tp`; the loader takes
        // the program's real section from the original name
        // ([`libbpf_section`]).
        return Some(
            [
                b"tp".as_slice(),
                b"/",
                &vec![b'_'; name.len().saturating_sub(3)],
            ]
            .concat()[..name.len()]
                .to_vec(),
        );
    }
    // libbpf's names of program types aya-obj 0.3 does not know (cgroup
    // hooks of Unix sockets, bare `sk_skb` and `sk_skb/verdict`, the
    // lightweight tunnels, `sk_reuseport`) parse as kprobes; the loader
    // takes the type from the original name.
    if is_kprobe_stand_in(name) {
        let mut stand_in = b"kprobe/".to_vec();
        stand_in.resize(name.len().max(6), b'_');
        stand_in.truncate(name.len());
        return Some(stand_in);
    }
    // `ksyscall/<name>` is a kprobe on the syscall's entry
    // (`programs::probe`).
    if let Some(syscall) = name.strip_prefix(b"ksyscall/") {
        return Some([b"kprobe/__".as_slice(), syscall].concat());
    }
    if let Some(syscall) = name.strip_prefix(b"kretsyscall/") {
        return Some([b"kretprobe/__".as_slice(), syscall].concat());
    }
    // kprobe.multi programs parse as kprobes; the loader takes the type
    // (and the pattern) from the original name.
    if name == b"kprobe.multi" || name == b"kretprobe.multi" {
        let mut stand_in = name.to_vec();
        stand_in.fill(b'_');
        stand_in[..7].copy_from_slice(b"kprobe/");
        return Some(stand_in);
    }
    if let Some(pattern) = name.strip_prefix(b"kprobe.multi/") {
        return Some([b"kprobe/______".as_slice(), pattern].concat());
    }
    if let Some(pattern) = name.strip_prefix(b"kretprobe.multi/") {
        return Some([b"kretprobe/______".as_slice(), pattern].concat());
    }
    // uprobe.multi programs parse as uprobes; the loader takes the type
    // (and the binary and pattern) from the original name.
    for (multi, stand_in) in [
        (b"uprobe.multi.s".as_slice(), b"uprobe.s/_____".as_slice()),
        (b"uretprobe.multi.s", b"uretprobe.s/_____"),
        (b"uprobe.multi", b"uprobe/_____"),
        (b"uretprobe.multi", b"uretprobe/_____"),
    ] {
        if let Some(rest) = name.strip_prefix(multi)
            && (rest.is_empty() || rest.starts_with(b"/"))
        {
            return Some([stand_in, rest].concat());
        }
    }
    // struct_ops programs parse as kprobes; the loader takes the type and
    // the member from the original name (`programs::struct_ops`).
    if let Some(member) = name.strip_prefix(b"struct_ops/") {
        return Some([b"kprobe/____".as_slice(), member].concat());
    }
    if let Some(member) = name.strip_prefix(b"struct_ops.s/") {
        return Some([b"kprobe/______".as_slice(), member].concat());
    }
    match name {
        b"struct_ops" => return Some(b"kprobe/___".to_vec()),
        b"struct_ops.s" => return Some(b"kprobe/_____".to_vec()),
        // Writable raw tracepoints without a target (attached by hand).
        b"raw_tp.w" => return Some(b"raw_tp/_".to_vec()),
        b"raw_tracepoint.w" => return Some(b"raw_tracepoint/_".to_vec()),
        _ => {}
    }
    // Netfilter programs parse as kprobes; the loader takes the type from
    // the original name.
    if name == b"netfilter" {
        return Some(b"kprobe/__".to_vec());
    }
    // Writable raw tracepoints parse as raw tracepoints; the loader takes
    // the type from the original name.
    if let Some(tracepoint) = name.strip_prefix(b"raw_tp.w/") {
        return Some([b"raw_tp/__".as_slice(), tracepoint].concat());
    }
    if let Some(tracepoint) = name.strip_prefix(b"raw_tracepoint.w/") {
        return Some([b"raw_tracepoint/__".as_slice(), tracepoint].concat());
    }
    // Without a target (set before loading, as with libbpf's
    // `bpf_program__set_attach_target`).
    if name == b"fmod_ret" {
        return Some(b"fentry.s".to_vec());
    }
    if let Some(function) = name.strip_prefix(b"fmod_ret.s/") {
        return Some([b"fentry.s/__".as_slice(), function].concat());
    }
    if let Some(function) = name.strip_prefix(b"fmod_ret/") {
        return Some([b"fentry.s/".as_slice(), function].concat());
    }
    (name == b"syscall").then(|| b"fexit.s".to_vec())
}

/// Sections of libbpf's table that parse under a `kprobe/___` stand-in
/// (see [`alias`]).
fn is_kprobe_stand_in(name: &[u8]) -> bool {
    matches!(
        name,
        b"sk_skb"
            | b"sk_skb/verdict"
            | b"lwt_in"
            | b"lwt_out"
            | b"lwt_xmit"
            | b"lwt_seg6local"
            | b"sk_reuseport"
            | b"sk_reuseport/migrate"
    ) || name.strip_prefix(b"cgroup/").is_some_and(|hook| {
        [
            &b"connect_unix"[..],
            b"sendmsg_unix",
            b"recvmsg_unix",
            b"getpeername_unix",
            b"getsockname_unix",
        ]
        .contains(&hook)
    })
}

/// Whether `name` is libbpf's name for a tc classifier: `tc` (libbpf 1.0+)
/// and the TCX forms `tc/ingress`, `tc/egress`, `tcx/ingress`,
/// `tcx/egress`.
fn is_tc(name: &[u8]) -> bool {
    name == b"tc" || name.starts_with(b"tc/") || name.starts_with(b"tcx/")
}

/// A program section name as libbpf writes it, made one iu and aya-obj
/// know: the `?` that turns autoload off removed (and reported), and
/// libbpf's `tc` names written `classifier`.
///
/// Returns the name and whether the program is to be loaded by default.
pub(crate) fn libbpf_section(name: &str) -> (String, bool) {
    let (name, autoload) = match name.strip_prefix('?') {
        Some(rest) => (rest, false),
        None => (name, true),
    };
    let name = if is_tc(name.as_bytes()) {
        "classifier".to_owned()
    } else {
        name.to_owned()
    };
    (name, autoload)
}

/// The program section aya-obj gives the (unaliased, [`libbpf_section`])
/// name `name`, for programs whose section it parsed under a stand-in.
pub(crate) fn parse_section(name: &str) -> Option<aya_obj::ProgramSection> {
    let parsed = alias(name.as_bytes())
        .and_then(|a| String::from_utf8(a).ok())
        .unwrap_or_else(|| name.to_owned());
    parsed.parse().ok()
}

/// The object's bytes (`file` is their parse) with every aliased section
/// name renamed, the `.ksyms` and `.kconfig` DATASECs rewritten ([`crate::ksyms_btf`])
/// and DWARF's relocations hidden ([`debug_relocation_types`]), or the
/// bytes themselves when there is nothing to change.
pub(crate) fn rename_for_parser<'a>(bytes: &'a [u8], file: &object::File<'_>) -> Cow<'a, [u8]> {
    let aliased = file.sections().any(|s| {
        s.name_bytes()
            .is_ok_and(|name| name.starts_with(b"?") || alias(name).is_some())
    });
    let btf = file.section_by_name(".BTF");
    let btf_range = btf
        .as_ref()
        .and_then(|s| s.file_range())
        .map(|(offset, size)| (offset as usize, size as usize));
    let strings = btf_range.and_then(|(offset, size)| btf_strings_range(bytes, offset, size));
    let ksyms = strings
        .and_then(|(start, end)| bytes.get(start..end))
        .is_some_and(|names| {
            names
                .split(|&b| b == 0)
                .any(|name| name.ends_with(b".ksyms") || name.ends_with(b".kconfig"))
        });
    let ext_range = file
        .section_by_name(".BTF.ext")
        .and_then(|s| s.file_range())
        .map(|(offset, size)| (offset as usize, size as usize));
    let unparsed_kinds = ext_range.map_or(Vec::new(), |ext| core_kinds_beyond_parser(bytes, ext));
    // A program array's `.values`, which the parser refuses.
    let values = btf_range.is_some()
        && file
            .section_by_name(".maps")
            .is_some_and(|maps| maps.relocations().next().is_some());
    let debug_relocations = debug_relocation_types(bytes, file);
    // The line info, which the loader hands out itself
    // (`btf_ext::assign_line_info`).
    let line_info_len = ext_range.and_then(|(offset, size)| {
        let ext = bytes.get(offset..offset.checked_add(size)?)?;
        Some(offset + crate::btf_ext::line_info_len_field(ext)?)
    });
    if !aliased
        && !ksyms
        && !values
        && unparsed_kinds.is_empty()
        && debug_relocations.is_empty()
        && line_info_len.is_none()
    {
        return Cow::Borrowed(bytes);
    }
    let mut out = bytes.to_vec();
    for at in debug_relocations {
        put_u32(&mut out, at, SHT_PROGBITS);
    }
    if let Some(at) = line_info_len {
        put_u32(&mut out, at, 0);
    }
    if ksyms && let Some(range) = btf_range {
        crate::ksyms_btf::rewrite(&mut out, range);
    }
    if values
        && let Some((offset, size)) = btf_range
        && let Some(btf) = out.get_mut(offset..offset.saturating_add(size))
    {
        crate::loader::hide_program_values(btf);
    }
    // CO-RE kinds aya-obj 0.3 does not parse (it stops at `TYPE_MATCHES`):
    // iu's own engine applies every record from the original bytes
    // (`core_relo`), aya-obj's copy only needs to parse.
    for kind in unparsed_kinds {
        put_u32(&mut out, kind, TYPE_EXISTS);
    }
    if !aliased {
        return Cow::Owned(out);
    }
    // The places in `.BTF.ext` (func info, line info, CO-RE records) that
    // name a section, through `.BTF`'s strings.
    let ext_names = match (ext_range, strings) {
        (Some(ext), Some(_)) => btf_ext_section_names(bytes, ext),
        _ => Vec::new(),
    };
    skip_autoload_marks(&mut out, strings, &ext_names);
    rename_section_names(&mut out);
    // The same names where `.BTF.ext` points. Only there: the same string
    // may also name a type or a member elsewhere in `.BTF` (`netfilter` is
    // a member of `struct net`).
    if let Some((start, end)) = strings {
        for &field in &ext_names {
            let name = u32_at(&out, field).map_or(usize::MAX, |n| n as usize);
            if let Some(at) = start.checked_add(name).filter(|&at| at < end) {
                rename_string_at(&mut out[..end], at);
            }
        }
    }
    Cow::Owned(out)
}

/// `SHT_PROGBITS`: what the parser's copy calls a debug section's
/// relocations.
const SHT_PROGBITS: u32 = 1;

/// The file offsets of the `sh_type` fields of the relocation sections of
/// DWARF sections (`.rel.debug_*`). aya-obj collects every relocation
/// section's entries, and DWARF's are most of a Rust object's; nothing it
/// parses uses them (the loader reads DWARF from the original bytes,
/// `loader::debug_info`), so its copy of the file calls them plain data.
fn debug_relocation_types(bytes: &[u8], file: &object::File<'_>) -> Vec<usize> {
    const ELFCLASS64: u8 = 2;
    const ELFDATA2LSB: u8 = 1;
    // ELF64, little-endian: `e_shoff` at 0x28, `e_shentsize` at 0x3a;
    // `sh_type` is the second word of a section header.
    if bytes.get(4..6) != Some(&[ELFCLASS64, ELFDATA2LSB]) {
        return Vec::new();
    }
    let le_u16 = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let (Some(shoff), Some(entsize)) = (
        bytes
            .get(0x28..0x30)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes),
        le_u16(0x3a),
    ) else {
        return Vec::new();
    };
    file.sections()
        .filter(|s| {
            s.name_bytes().is_ok_and(|name| {
                name.starts_with(b".rel.debug_") || name.starts_with(b".rela.debug_")
            })
        })
        .filter_map(|s| {
            usize::try_from(shoff)
                .ok()?
                .checked_add(s.index().0.checked_mul(usize::from(entsize))?)?
                .checked_add(4)
        })
        .filter(|&at| at.checked_add(4).is_some_and(|end| end <= bytes.len()))
        .collect()
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        bytes.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    if let Some(slot) = at.checked_add(4).and_then(|end| bytes.get_mut(at..end)) {
        slot.copy_from_slice(&value.to_le_bytes());
    }
}

/// The file offsets of the section-name fields (`sec_name_off`) of the
/// `.BTF.ext` at `(offset, size)` of `bytes`: each block of func info,
/// line info and (with a 32-byte header) CO-RE records starts with a
/// record size, then per section its name, a count and the records. A
/// walk that runs off the section stops there.
fn btf_ext_section_names(bytes: &[u8], (ext, size): (usize, usize)) -> Vec<usize> {
    let mut fields = Vec::new();
    let ext_end = ext.saturating_add(size).min(bytes.len());
    let Some(header_len) = u32_at(bytes, ext + 4) else {
        return fields;
    };
    let blocks = if header_len >= 32 { 3 } else { 2 };
    for block in 0..blocks {
        let (Some(off), Some(len)) = (
            u32_at(bytes, ext + 8 + block * 8),
            u32_at(bytes, ext + 12 + block * 8),
        ) else {
            continue;
        };
        let start = ext
            .saturating_add(header_len as usize)
            .saturating_add(off as usize);
        let end = start.saturating_add(len as usize).min(ext_end);
        let Some(record_size) = u32_at(bytes, start) else {
            continue;
        };
        let mut at = start.saturating_add(4);
        while at.saturating_add(8) <= end {
            let Some(count) = u32_at(bytes, at + 4) else {
                break;
            };
            fields.push(at);
            let Some(next) = (count as usize)
                .checked_mul(record_size as usize)
                .and_then(|n| n.checked_add(at + 8))
            else {
                break;
            };
            at = next;
        }
    }
    fields
}

/// `BPF_CORE_TYPE_EXISTS`, and the last kind aya-obj 0.3 parses
/// (`BPF_CORE_ENUMVAL_VALUE`).
const TYPE_EXISTS: u32 = 8;
const LAST_PARSED_KIND: u32 = 11;

/// The file offsets of the `kind` fields of the CO-RE records (the third
/// block of the `.BTF.ext` at `(offset, size)`, 16-byte `struct
/// bpf_core_relo { insn_off, type_id, access_str_off, kind }`) whose kind
/// aya-obj does not parse.
fn core_kinds_beyond_parser(bytes: &[u8], (ext, size): (usize, usize)) -> Vec<usize> {
    let mut kinds = Vec::new();
    let ext_end = ext.saturating_add(size).min(bytes.len());
    let (Some(header_len), Some(off), Some(len)) = (
        u32_at(bytes, ext + 4),
        u32_at(bytes, ext + 24),
        u32_at(bytes, ext + 28),
    ) else {
        return kinds;
    };
    if header_len < 32 {
        return kinds;
    }
    let start = ext
        .saturating_add(header_len as usize)
        .saturating_add(off as usize);
    let end = start.saturating_add(len as usize).min(ext_end);
    let Some(record_size) = u32_at(bytes, start).map(|r| r as usize) else {
        return kinds;
    };
    if record_size < 16 {
        return kinds;
    }
    let mut at = start.saturating_add(4);
    while at.saturating_add(8) <= end {
        let Some(count) = u32_at(bytes, at + 4) else {
            break;
        };
        for record in 0..count as usize {
            let Some(kind_at) = record
                .checked_mul(record_size)
                .and_then(|r| r.checked_add(at + 8 + 12))
                .filter(|k| k.saturating_add(4) <= end)
            else {
                break;
            };
            if u32_at(bytes, kind_at).is_some_and(|k| k > LAST_PARSED_KIND) {
                kinds.push(kind_at);
            }
        }
        let Some(next) = (count as usize)
            .checked_mul(record_size)
            .and_then(|n| n.checked_add(at + 8))
        else {
            break;
        };
        at = next;
    }
    kinds
}

/// Points every section name that starts with `?` (autoload off) one byte
/// further: in the section headers, and in the `.BTF.ext` fields
/// (`ext_names`) that name sections through `.BTF`'s strings (at
/// `strings`).
fn skip_autoload_marks(out: &mut [u8], strings: Option<(usize, usize)>, ext_names: &[usize]) {
    if let Some((table, headers)) = section_headers(out) {
        for header in headers {
            let Some(name) = u32_at(out, header) else {
                continue;
            };
            if table.checked_add(name as usize).and_then(|at| out.get(at)) == Some(&b'?') {
                put_u32(out, header, name + 1);
            }
        }
    }
    let Some((start, end)) = strings else {
        return;
    };
    for &field in ext_names {
        let Some(name) = u32_at(out, field) else {
            continue;
        };
        let at = start.saturating_add(name as usize);
        if at < end && out.get(at) == Some(&b'?') {
            put_u32(out, field, name + 1);
        }
    }
}

/// Renames the NUL-terminated string at `at` if it is aliased; returns its
/// length.
fn rename_string_at(bytes: &mut [u8], at: usize) -> usize {
    let Some(rest) = bytes.get(at..) else {
        return 0;
    };
    let len = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    if let Some(new) = alias(&rest[..len]) {
        bytes[at..at + len].copy_from_slice(&new);
    }
    len
}

/// Renames the aliased section names, and nothing else: the section-name
/// string table is copied to the end of the file with the new names
/// appended, and the renamed sections' headers point at those. A linker
/// shares one string between names that end alike (the symbol
/// `global_mtu_tc` holds the section name `tc`, the section
/// `usdt/...:usdt3` the symbol `usdt3`), so a rename in place would
/// rename symbols too. Every other offset stays valid: the copy starts
/// with the old table.
fn rename_section_names(out: &mut Vec<u8>) {
    let Some((table, headers)) = section_headers(out) else {
        return;
    };
    let Some(table_header) = names_table_header(out) else {
        return;
    };
    let name_at = |out: &[u8], header: usize| {
        let at = table.checked_add(u32_at(out, header)? as usize)?;
        let rest = out.get(at..)?;
        Some(rest[..rest.iter().position(|&b| b == 0)?].to_vec())
    };
    let renames: Vec<(usize, Vec<u8>)> = headers
        .into_iter()
        .filter_map(|header| Some((header, alias(&name_at(out, header)?)?)))
        .collect();
    let size = u64_at(out, table_header + 0x20).map(|s| s as usize);
    let Some(old) = size.and_then(|size| out.get(table..table.checked_add(size)?)) else {
        return;
    };
    if renames.is_empty() {
        return;
    }
    let old = old.to_vec();
    let start = out.len().next_multiple_of(8);
    out.resize(start, 0);
    out.extend_from_slice(&old);
    for (header, new) in renames {
        let offset = (out.len() - start) as u32;
        out.extend_from_slice(&new);
        out.push(0);
        put_u32(out, header, offset);
    }
    let size = (out.len() - start) as u64;
    put_u64(out, table_header + 0x18, start as u64);
    put_u64(out, table_header + 0x20, size);
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        bytes.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

fn put_u64(bytes: &mut [u8], at: usize, value: u64) {
    if let Some(slot) = at.checked_add(8).and_then(|end| bytes.get_mut(at..end)) {
        slot.copy_from_slice(&value.to_le_bytes());
    }
}

/// File offset of the header of the section-name string table of a
/// 64-bit little-endian ELF (the only kind BPF objects are).
fn names_table_header(bytes: &[u8]) -> Option<usize> {
    // ELFCLASS64, ELFDATA2LSB.
    if bytes.get(4..6)? != [2, 1] {
        return None;
    }
    let headers = u64_at(bytes, 0x28)? as usize;
    let header_size = usize::from(u16_at(bytes, 0x3a)?);
    let names_index = usize::from(u16_at(bytes, 0x3e)?);
    headers.checked_add(names_index.checked_mul(header_size)?)
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        bytes.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

/// File offset of the section-name string table, and of each section
/// header (whose first word is its name's offset in that table).
fn section_headers(bytes: &[u8]) -> Option<(usize, Vec<usize>)> {
    let headers = u64_at(bytes, 0x28)? as usize;
    let header_size = usize::from(u16_at(bytes, 0x3a)?);
    let count = usize::from(u16_at(bytes, 0x3c)?);
    let table = u64_at(bytes, names_table_header(bytes)?.checked_add(0x18)?)? as usize;
    let headers = (0..count)
        .filter_map(|i| headers.checked_add(i.checked_mul(header_size)?))
        .filter(|&h| h.checked_add(4).is_some_and(|end| end <= bytes.len()))
        .collect();
    Some((table, headers))
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

/// libbpf's program section names (`section_defs` in libbpf.c) that iu
/// loads, each without what follows its `/` where libbpf takes a target
/// there: what an unknown section name is compared with.
const KNOWN_SECTIONS: &[&str] = &[
    "socket",
    "sk_reuseport",
    "sk_reuseport/migrate",
    "kprobe",
    "kretprobe",
    "uprobe",
    "uretprobe",
    "uprobe.s",
    "uretprobe.s",
    "kprobe.multi",
    "kretprobe.multi",
    "uprobe.multi",
    "uretprobe.multi",
    "uprobe.multi.s",
    "uretprobe.multi.s",
    "ksyscall",
    "kretsyscall",
    "usdt",
    "tc",
    "tc/ingress",
    "tc/egress",
    "tcx/ingress",
    "tcx/egress",
    "classifier",
    "action",
    "tracepoint",
    "tp",
    "raw_tracepoint",
    "raw_tp",
    "raw_tracepoint.w",
    "raw_tp.w",
    "tp_btf",
    "fentry",
    "fexit",
    "fmod_ret",
    "fentry.s",
    "fexit.s",
    "fmod_ret.s",
    "freplace",
    "lsm",
    "lsm.s",
    "iter",
    "iter.s",
    "syscall",
    "xdp",
    "xdp.frags",
    "xdp/devmap",
    "xdp/cpumap",
    "perf_event",
    "lwt_in",
    "lwt_out",
    "lwt_xmit",
    "lwt_seg6local",
    "sockops",
    "sk_skb",
    "sk_skb/stream_parser",
    "sk_skb/stream_verdict",
    "sk_skb/verdict",
    "sk_msg",
    "lirc_mode2",
    "flow_dissector",
    "cgroup_skb/ingress",
    "cgroup_skb/egress",
    "cgroup/skb",
    "cgroup/sock",
    "cgroup/sock_create",
    "cgroup/sock_release",
    "cgroup/post_bind4",
    "cgroup/post_bind6",
    "cgroup/bind4",
    "cgroup/bind6",
    "cgroup/connect4",
    "cgroup/connect6",
    "cgroup/connect_unix",
    "cgroup/sendmsg4",
    "cgroup/sendmsg6",
    "cgroup/sendmsg_unix",
    "cgroup/recvmsg4",
    "cgroup/recvmsg6",
    "cgroup/recvmsg_unix",
    "cgroup/getpeername4",
    "cgroup/getpeername6",
    "cgroup/getpeername_unix",
    "cgroup/getsockname4",
    "cgroup/getsockname6",
    "cgroup/getsockname_unix",
    "cgroup/sysctl",
    "cgroup/getsockopt",
    "cgroup/setsockopt",
    "cgroup/dev",
    "struct_ops",
    "sk_lookup",
    "netfilter",
];

/// The known section name nearest to `section` (by edit distance, over
/// the whole name and over the part before its first `/`), written with
/// `section`'s target where the known name takes one.
pub(crate) fn nearest_known(section: &str) -> String {
    let section = section.trim_start_matches('?');
    let (prefix, target) = match section.split_once('/') {
        Some((prefix, target)) => (prefix, Some(target)),
        None => (section, None),
    };
    let best = KNOWN_SECTIONS
        .iter()
        .map(|known| {
            let whole = edit_distance(section, known);
            let by_prefix = edit_distance(prefix, known);
            (whole.min(by_prefix), by_prefix < whole, *known)
        })
        .min_by_key(|(distance, _, _)| *distance);
    match (best, target) {
        (Some((_, true, known)), Some(target)) if !known.contains('/') => {
            format!("{known}/{target}")
        }
        (Some((_, _, known)), _) => known.to_owned(),
        (None, _) => String::new(),
    }
}

/// Edit distance of two names, by bytes: insertions, deletions,
/// substitutions and swaps of neighbours (typos) each count 1.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let width = b.len() + 1;
    let mut d: Vec<usize> = (0..(a.len() + 1) * width).collect();
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use object::{Object as _, ObjectSection as _};

    use super::{edit_distance, nearest_known};

    #[test]
    fn the_parsers_copy_keeps_code_relocations_and_drops_dwarfs() {
        // A `Vec`'s allocation is aligned enough for the ELF reader.
        let object = std::fs::read(crate::object_dir().join("loader_stages")).unwrap();
        let file = object::File::parse(&*object).unwrap();
        // Relocations per section, debug sections apart.
        let relocations = |file: &object::File<'_>, debug: bool| -> usize {
            file.sections()
                .filter(|s| s.name().is_ok_and(|n| n.starts_with(".debug_") == debug))
                .map(|s| s.relocations().count())
                .sum()
        };
        assert!(relocations(&file, true) > 0, "clang -g relocates its DWARF");
        let copy = super::rename_for_parser(&object, &file);
        let parsed = object::File::parse(&*copy).unwrap();
        assert_eq!(relocations(&parsed, true), 0);
        assert_eq!(relocations(&parsed, false), relocations(&file, false));
        assert!(relocations(&file, false) > 0);
    }

    #[test]
    fn aliases_keep_the_length() {
        assert_eq!(
            super::alias(b"fmod_ret/f").as_deref(),
            Some(&b"fentry.s/f"[..])
        );
        assert_eq!(
            super::alias(b"fmod_ret.s/f").as_deref(),
            Some(&b"fentry.s/__f"[..])
        );
        assert_eq!(super::alias(b"syscall").as_deref(), Some(&b"fexit.s"[..]));
        assert_eq!(super::alias(b"tracepoint/raw_syscalls/sys_enter"), None);
        assert_eq!(super::alias(b"fentry/f"), None);
        assert_eq!(super::alias(b"tc").as_deref(), Some(&b"tp"[..]));
        assert_eq!(
            super::alias(b"tc/ingress").as_deref(),
            Some(&b"tp/_______"[..])
        );
        // `?` is skipped, not renamed (`skip_autoload_marks`).
        assert_eq!(super::alias(b"?raw_tp"), None);
        assert_eq!(super::alias(b"tcp_thing"), None);
        assert_eq!(
            super::alias(b"struct_ops/ssthresh").as_deref(),
            Some(&b"kprobe/____ssthresh"[..])
        );
        assert_eq!(
            super::alias(b"struct_ops").as_deref(),
            Some(&b"kprobe/___"[..])
        );
        assert_eq!(
            super::alias(b"struct_ops.s/test_2").as_deref(),
            Some(&b"kprobe/______test_2"[..])
        );
        assert_eq!(
            super::alias(b"struct_ops.s").as_deref(),
            Some(&b"kprobe/_____"[..])
        );
        assert_eq!(super::alias(b"raw_tp.w").as_deref(), Some(&b"raw_tp/_"[..]));
        assert_eq!(
            super::alias(b"raw_tracepoint.w").as_deref(),
            Some(&b"raw_tracepoint/_"[..])
        );
        assert_eq!(
            super::alias(b"raw_tp.w/bpf_test_finish").as_deref(),
            Some(&b"raw_tp/__bpf_test_finish"[..])
        );
        assert_eq!(
            super::alias(b"uprobe.multi").as_deref(),
            Some(b"uprobe/_____".as_slice())
        );
        assert_eq!(
            super::alias(b"uretprobe.multi//bin/x:f*").as_deref(),
            Some(b"uretprobe/_____//bin/x:f*".as_slice())
        );
        assert_eq!(super::alias(b"uprobe.multiple"), None);
        assert_eq!(super::alias(b"usdt").as_deref(), Some(&b"tp/_"[..]));
        assert_eq!(super::alias(b"usdt/p:n").as_deref(), Some(&b"tp/_____"[..]));
        assert_eq!(super::alias(b"usdtx"), None);
        assert_eq!(
            super::alias(b"uprobe.multi.s//bin/x:f").as_deref(),
            Some(b"uprobe.s/_____//bin/x:f".as_slice())
        );
        assert_eq!(super::alias(b"fmod_ret").as_deref(), Some(&b"fentry.s"[..]));
        assert_eq!(
            super::alias(b"kprobe.multi/do_*").as_deref(),
            Some(&b"kprobe/______do_*"[..])
        );
        assert_eq!(
            super::alias(b"kretprobe.multi/x").as_deref(),
            Some(&b"kretprobe/______x"[..])
        );
        assert_eq!(
            super::alias(b"raw_tracepoint.w/x").as_deref(),
            Some(&b"raw_tracepoint/__x"[..])
        );
        assert_eq!(super::alias(b"sk_skb").as_deref(), Some(&b"kprobe"[..]));
        assert_eq!(
            super::alias(b"cgroup/connect_unix").as_deref(),
            Some(&b"kprobe/____________"[..])
        );
        assert_eq!(super::alias(b"lwt_out").as_deref(), Some(&b"kprobe/"[..]));
        assert_eq!(
            super::alias(b"ksyscall/prctl").as_deref(),
            Some(&b"kprobe/__prctl"[..])
        );
        assert_eq!(
            super::alias(b"kretsyscall/x").as_deref(),
            Some(&b"kretprobe/__x"[..])
        );
        assert_eq!(
            super::alias(b"kprobe.multi").as_deref(),
            Some(&b"kprobe/_____"[..])
        );
        assert_eq!(super::alias(b"cgroup/connect4"), None);
    }

    #[test]
    fn libbpf_names_become_iu_sections() {
        use aya_obj::ProgramSection as S;
        let parse = |name: &str| {
            let (name, autoload) = super::libbpf_section(name);
            (super::parse_section(&name), autoload)
        };
        assert!(matches!(parse("tc"), (Some(S::SchedClassifier), true)));
        assert!(matches!(
            parse("tcx/egress"),
            (Some(S::SchedClassifier), true)
        ));
        assert!(matches!(
            parse("?tc/ingress"),
            (Some(S::SchedClassifier), false)
        ));
        assert!(matches!(parse("?raw_tp"), (Some(S::RawTracePoint), false)));
        assert!(matches!(parse("?xdp"), (Some(S::Xdp { .. }), false)));
        assert!(matches!(
            parse("?fmod_ret/f"),
            (Some(S::FEntry { .. }), false)
        ));
        assert!(matches!(parse("xdp"), (Some(S::Xdp { .. }), true)));
    }

    #[test]
    fn renames_whole_strings_only() {
        let mut table = b"syscall\0.relsyscall\0syscall_x\0fmod_ret/f\0".to_vec();
        let mut at = 0;
        while at < table.len() {
            at += super::rename_string_at(&mut table, at) + 1;
        }
        assert_eq!(&table[..], b"fexit.s\0.relsyscall\0syscall_x\0fentry.s/f\0");
        // A section's name may start inside its relocation section's.
        super::rename_string_at(&mut table, 12);
        assert_eq!(&table[8..20], b".relfexit.s\0");
    }

    #[test]
    fn an_unknown_section_is_told_the_nearest_known_one() {
        assert_eq!(nearest_known("zz/ingress"), "tc/ingress");
        assert_eq!(nearest_known("kprob/do_unlinkat"), "kprobe/do_unlinkat");
        assert_eq!(
            nearest_known("?tracepont/syscalls/sys_enter_open"),
            "tracepoint/syscalls/sys_enter_open"
        );
        assert_eq!(nearest_known("xpd"), "xdp");
        assert_eq!(nearest_known("cgroup/conect4"), "cgroup/connect4");
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
