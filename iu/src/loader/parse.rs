//! Stage 1: parse. The ELF checks (`crate::validate`) run before aya-obj
//! reads anything, then the program sections are named as libbpf names
//! them (`tc`, `?` for autoload off) and unknown program sections are
//! refused.

use std::collections::{HashMap, HashSet};

use aya_obj::Object;
use object::{Object as _, ObjectSection as _, ObjectSymbol as _};

use crate::{error::Result, trace_pipe::PrintkFormat};

/// A parsed object, before anything is resolved or created.
pub(super) struct Parsed<'a> {
    /// The ELF view, for what aya-obj does not keep (symbols, DWARF,
    /// relocations of undefined symbols).
    pub file: object::File<'a>,
    pub obj: Object,
    /// Each program's ELF section name, as libbpf names it.
    pub sections: HashMap<String, String>,
    /// The programs whose section turns autoload off (libbpf's `?`).
    pub autoload_off: HashSet<String>,
    /// The `iu_log.*` sections' bytes: the log call sites.
    pub log_section: Vec<u8>,
}

/// Checks and parses `bytes` (8-byte aligned).
pub(super) fn parse(bytes: &[u8]) -> Result<Parsed<'_>> {
    // Checked first, so that aya-obj never sees ranges it would trust
    // (docs/safety.md, "Malformed objects").
    let (file, mut obj) = crate::validate::parse(bytes)?;
    let (sections, log_section) = program_sections(&file);
    let (sections, autoload_off) = libbpf_sections(sections, &mut obj);
    crate::validate::refuse_unknown_programs(&file, &obj)?;
    Ok(Parsed {
        file,
        obj,
        sections,
        autoload_off,
        log_section,
    })
}

/// Maps program (function) names to their ELF section names, which carry
/// the attach target (`tracepoint/<category>/<name>`), and returns the
/// `iu_log` section (log call sites), if any.
fn program_sections(file: &object::File<'_>) -> (HashMap<String, String>, Vec<u8>) {
    let mut out = HashMap::new();
    for symbol in file.symbols() {
        if symbol.kind() != object::SymbolKind::Text {
            continue;
        }
        let (Some(index), Ok(name)) = (symbol.section_index(), symbol.name()) else {
            continue;
        };
        if let Ok(section) = file
            .section_by_index(index)
            .and_then(|s| s.name().map(str::to_owned))
        {
            out.insert(name.to_owned(), section);
        }
    }
    // One `iu_log.<id>` section per call site, each with its own BTF
    // DATASEC.
    let log_section: Vec<u8> = file
        .sections()
        .filter(|s| s.name().is_ok_and(|n| n.starts_with("iu_log.")))
        .filter_map(|s| s.data().ok())
        .flatten()
        .copied()
        .collect();
    (out, log_section)
}

/// Program section names as libbpf writes them, made iu's: `tc` is a
/// classifier, and `?` turns a program's autoload off (the programs so
/// marked are returned). Where aya-obj parsed such a section under a
/// stand-in name (`crate::section_alias`), the program gets its real one.
fn libbpf_sections(
    sections: HashMap<String, String>,
    obj: &mut Object,
) -> (HashMap<String, String>, HashSet<String>) {
    let mut autoload_off = HashSet::new();
    let sections = sections
        .into_iter()
        .map(|(name, section)| {
            let (clean, autoload) = crate::section_alias::libbpf_section(&section);
            if !autoload {
                autoload_off.insert(name.clone());
            }
            if clean != section
                && let (Some(program), Some(parsed)) = (
                    obj.programs.get_mut(&name),
                    crate::section_alias::parse_section(&clean),
                )
            {
                program.section = parsed;
            }
            (name, clean)
        })
        .collect();
    (sections, autoload_off)
}

/// The strings of the object's mergeable-string sections (`.rodata.str*`),
/// where the compiler puts `printk!` formats.
pub(super) fn printk_formats(obj: &Object) -> Vec<PrintkFormat> {
    obj.maps
        .iter()
        .filter(|(name, _)| name.starts_with(".rodata.str"))
        .flat_map(|(_, map)| map.data().split(|&b| b == 0))
        .filter(|s| !s.is_empty())
        .filter_map(|s| std::str::from_utf8(s).ok())
        .map(PrintkFormat::new)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

    use super::*;
    use crate::{Error, loader::test_objects};

    #[test]
    fn sections_are_named_as_libbpf_names_them() {
        let object = test_objects::bytes("libbpf_sections");
        let parsed = parse(object.bytes()).unwrap();
        // `tc` and the TCX forms are classifiers.
        assert_eq!(parsed.sections["tc_plain"], "classifier");
        assert_eq!(parsed.sections["tcx_ingress"], "classifier");
        // `?` is autoload off, and not part of the name.
        assert_eq!(parsed.sections["xdp_off"], "xdp");
        assert_eq!(parsed.sections["raw_tp_off"], "raw_tp/sys_enter");
        let mut off: Vec<&str> = parsed.autoload_off.iter().map(String::as_str).collect();
        off.sort();
        assert_eq!(off, ["raw_tp_off", "xdp_off"]);
        // aya-obj's parse of the renamed sections is the real one.
        assert!(matches!(
            parsed.obj.programs["xdp_off"].section,
            aya_obj::ProgramSection::Xdp { .. }
        ));
    }

    #[test]
    fn an_unknown_program_section_is_refused_with_its_name() {
        let object = test_objects::bytes("libbpf_sections");
        let mut bytes = object.bytes().to_vec();
        // Every copy (ELF and BTF strings), same length, so every offset
        // stays valid.
        let mut renamed = 0;
        while let Some(at) = bytes.windows(10).position(|w| w == b"tc/ingress") {
            bytes[at..at + 10].copy_from_slice(b"zz/ingress");
            renamed += 1;
        }
        assert!(renamed > 0, "the section name is in the string tables");
        let copy = crate::loader::AlignedCopy::new(&bytes);
        match parse(copy.bytes()) {
            Err(Error::UnknownSection {
                program,
                section,
                nearest,
            }) => {
                assert_eq!(program, "tcx_ingress");
                assert_eq!(section, "zz/ingress");
                assert_eq!(nearest, "tc/ingress");
            }
            Err(other) => panic!("wrong error: {other}"),
            Ok(_) => panic!("an unknown section was accepted"),
        }
    }

    #[test]
    fn printk_formats_come_from_the_string_sections() {
        let object = test_objects::bytes("hello");
        let parsed = parse(object.bytes()).unwrap();
        assert!(
            !printk_formats(&parsed.obj).is_empty(),
            "hello prints with printk!"
        );
    }
}
