//! Section names that aya-obj 0.3 does not know, renamed for its parser.
//!
//! aya-obj refuses an object with a program section it cannot classify,
//! such as `fmod_ret/<function>` or `syscall`. Before parsing, such a name
//! is rewritten in place to a name of the same length that aya-obj parses
//! ([`alias`]), both in the section-name table and in the BTF string table,
//! through which `.BTF.ext` ties function and line info to sections.
//! Nothing moves, so every offset in the object stays valid. The loader
//! then takes the program's real type from the original section name
//! ([`crate::programs::LoadType::of`]).
//!
//! libbpf's own names are read the same way: `tc` and the TCX forms
//! (`tc/ingress`, `tcx/egress`, ...) are classifiers, and a leading `?`
//! turns the program's autoload off. Both are parsed under a stand-in
//! (`tp/___`), and the program gets its real section from
//! [`libbpf_section`] and [`parse_section`].

use std::borrow::Cow;

use object::{Object, ObjectSection};

/// The same-length name aya-obj parses that stands for section `name`:
/// `fmod_ret/<f>` becomes `fentry.s/<f>` and `fmod_ret.s/<f>` becomes
/// `fentry.s/__<f>` (BTF-attached tracing programs; iu takes the target
/// from the original name), and `syscall` becomes `fexit.s` (which needs
/// no target either).
fn alias(name: &[u8]) -> Option<Vec<u8>> {
    if name.starts_with(b"?") || is_tc(name) {
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
    // kprobe.multi programs parse as kprobes; the loader takes the type
    // (and the pattern) from the original name.
    if let Some(pattern) = name.strip_prefix(b"kprobe.multi/") {
        return Some([b"kprobe/______".as_slice(), pattern].concat());
    }
    if let Some(pattern) = name.strip_prefix(b"kretprobe.multi/") {
        return Some([b"kretprobe/______".as_slice(), pattern].concat());
    }
    // uprobe.multi programs parse as uprobes; the loader takes the type
    // (and the binary and pattern) from the original name.
    for (multi, stand_in) in [
        (b"uprobe.multi".as_slice(), b"uprobe/_____".as_slice()),
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
    if let Some(function) = name.strip_prefix(b"fmod_ret.s/") {
        return Some([b"fentry.s/__".as_slice(), function].concat());
    }
    if let Some(function) = name.strip_prefix(b"fmod_ret/") {
        return Some([b"fentry.s/".as_slice(), function].concat());
    }
    (name == b"syscall").then(|| b"fexit.s".to_vec())
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
/// name renamed and the `.ksyms` and `.kconfig` DATASECs rewritten ([`crate::ksyms_btf`]),
/// or the bytes themselves when there is nothing to change.
pub(crate) fn rename_for_parser<'a>(bytes: &'a [u8], file: &object::File<'_>) -> Cow<'a, [u8]> {
    let aliased = file
        .sections()
        .any(|s| s.name_bytes().is_ok_and(|name| alias(name).is_some()));
    let btf = file.section_by_name(".BTF");
    let btf_range = btf
        .as_ref()
        .and_then(|s| s.file_range())
        .map(|(offset, size)| (offset as usize, size as usize));
    let ksyms = btf.and_then(|s| s.data().ok()).is_some_and(|data| {
        data.windows(7).any(|w| w == b".ksyms\0") || data.windows(9).any(|w| w == b".kconfig\0")
    });
    if !aliased && !ksyms {
        return Cow::Borrowed(bytes);
    }
    let mut out = bytes.to_vec();
    if ksyms && let Some(range) = btf_range {
        crate::ksyms_btf::rewrite(&mut out, range);
    }
    if !aliased {
        return Cow::Owned(out);
    }
    // Section names, where the headers point: a linker may share one
    // string between a section and its relocations (`.relsyscall`).
    if let Some((table, names)) = section_names(bytes) {
        for name in names {
            if let Some(at) = table.checked_add(name) {
                rename_string_at(&mut out, at);
            }
        }
    }
    // BTF strings, whole: `.BTF.ext` names sections with them.
    if let Some((start, end)) =
        btf_range.and_then(|(offset, size)| btf_strings_range(bytes, offset, size))
    {
        let mut at = start;
        while at < end {
            let len = rename_string_at(&mut out[..end], at);
            at += len + 1;
        }
    }
    Cow::Owned(out)
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

/// File offset of the section-name string table of a 64-bit
/// little-endian ELF (the only kind BPF objects are), and each section's
/// name offset in it.
fn section_names(bytes: &[u8]) -> Option<(usize, Vec<usize>)> {
    // ELFCLASS64, ELFDATA2LSB.
    if bytes.get(4..6)? != [2, 1] {
        return None;
    }
    let u16_at = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
    let headers = u64_at(0x28)? as usize;
    let header_size = usize::from(u16_at(0x3a)?);
    let count = usize::from(u16_at(0x3c)?);
    let names_index = usize::from(u16_at(0x3e)?);
    let header = |i: usize| headers.checked_add(i.checked_mul(header_size)?);
    let table = u64_at(header(names_index)?.checked_add(0x18)?)? as usize;
    let names = (0..count)
        .filter_map(|i| u32_at(header(i)?).map(|name| name as usize))
        .collect();
    Some((table, names))
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
        assert_eq!(super::alias(b"?tc").as_deref(), Some(&b"tp/"[..]));
        assert_eq!(
            super::alias(b"tc/ingress").as_deref(),
            Some(&b"tp/_______"[..])
        );
        assert_eq!(super::alias(b"?raw_tp").as_deref(), Some(&b"tp/____"[..]));
        assert_eq!(super::alias(b"tcp_thing"), None);
        assert_eq!(
            super::alias(b"struct_ops/ssthresh").as_deref(),
            Some(&b"kprobe/____ssthresh"[..])
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
}
