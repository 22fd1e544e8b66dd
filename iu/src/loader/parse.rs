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
