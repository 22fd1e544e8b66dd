//! The chain of inlined calls at an instruction, from the object's DWARF.
//!
//! BTF line info gives each instruction only its innermost line: a
//! `RingBuf::reserve` inlined into a program reports iu-ebpf's
//! `helpers.rs`, and the user's own call appears nowhere. DWARF keeps every
//! inlined call (`DW_TAG_inlined_subroutine` with its call site), so an
//! error can name the user's line and then the library lines below it.
//!
//! Objects are relocatable, and their DWARF addresses are relocated against
//! the text sections: an address here is `section index << 32 | offset`.

use std::{borrow::Cow, collections::BTreeMap};

use gimli::{EndianSlice, LittleEndian, Reader as _, Relocate, RelocateReader};
use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget};

use crate::verifier::SourceLine;

/// Relocations of one debug section: at a section offset, the target
/// symbol's section (for addresses) and value.
#[derive(Debug, Default, Clone)]
struct Relocations(BTreeMap<usize, (Option<usize>, u64)>);

impl Relocate<usize> for &Relocations {
    fn relocate_address(&self, offset: usize, value: u64) -> gimli::Result<u64> {
        Ok(match self.0.get(&offset) {
            Some(&(Some(section), symbol)) => ((section as u64) << 32) | (symbol + value),
            Some(&(None, symbol)) => symbol + value,
            None => value,
        })
    }

    fn relocate_offset(&self, offset: usize, value: usize) -> gimli::Result<usize> {
        Ok(match self.0.get(&offset) {
            Some(&(_, symbol)) => value + symbol as usize,
            None => value,
        })
    }
}

type Reader<'a> = RelocateReader<EndianSlice<'a, LittleEndian>, &'a Relocations>;

/// The debug sections of an object, ready to read.
pub(crate) struct Dwarf<'a> {
    sections: Vec<(Cow<'a, [u8]>, Relocations)>,
    names: Vec<&'static str>,
}

impl<'a> Dwarf<'a> {
    /// The DWARF sections of `file` (empty if it has none).
    pub(crate) fn new(file: &object::File<'a>) -> Self {
        let names: Vec<&'static str> = vec![
            ".debug_abbrev",
            ".debug_info",
            ".debug_line",
            ".debug_line_str",
            ".debug_str",
            ".debug_str_offsets",
            ".debug_addr",
            ".debug_ranges",
            ".debug_rnglists",
        ];
        let sections = names
            .iter()
            .map(|name| {
                let Some(section) = file.section_by_name(name) else {
                    return (Cow::Borrowed(&[][..]), Relocations::default());
                };
                let data = section
                    .uncompressed_data()
                    .unwrap_or(Cow::Borrowed(&[][..]));
                let mut relocations = Relocations::default();
                for (offset, relocation) in section.relocations() {
                    let RelocationTarget::Symbol(index) = relocation.target() else {
                        continue;
                    };
                    let Ok(symbol) = file.symbol_by_index(index) else {
                        continue;
                    };
                    let target = symbol
                        .section_index()
                        .filter(|s| {
                            file.section_by_index(*s)
                                .is_ok_and(|s| s.kind() == object::SectionKind::Text)
                        })
                        .map(|s| s.0);
                    let addend = if relocation.has_implicit_addend() {
                        0
                    } else {
                        relocation.addend() as u64
                    };
                    if let Ok(offset) = usize::try_from(offset) {
                        relocations
                            .0
                            .insert(offset, (target, symbol.address().wrapping_add(addend)));
                    }
                }
                (data, relocations)
            })
            .collect();
        Self { sections, names }
    }

    fn load(&'a self) -> Option<gimli::Dwarf<Reader<'a>>> {
        let section = |id: gimli::SectionId| -> Result<Reader<'a>, gimli::Error> {
            let (data, relocations): (&'a [u8], &'a Relocations) =
                match self.names.iter().position(|n| *n == id.name()) {
                    Some(i) => (&self.sections[i].0, &self.sections[i].1),
                    None => (&[], &EMPTY),
                };
            Ok(RelocateReader::new(
                EndianSlice::new(data, LittleEndian),
                relocations,
            ))
        };
        gimli::Dwarf::load(section).ok()
    }

    /// The call sites of the functions inlined at `offset` of text section
    /// `section`, outermost first: the first is in the function the code
    /// was inlined into, each next one in the function inlined before it.
    /// Empty when the object has no DWARF for that address.
    pub(crate) fn call_sites(&'a self, section: usize, offset: u64) -> Vec<SourceLine> {
        let address = ((section as u64) << 32) | offset;
        let Some(dwarf) = self.load() else {
            return vec![];
        };
        let mut units = dwarf.units();
        while let Ok(Some(header)) = units.next() {
            let Ok(unit) = dwarf.unit(header) else {
                continue;
            };
            let mut sites = vec![];
            if let Ok(mut tree) = unit.entries_tree(None)
                && let Ok(root) = tree.root()
                && walk(&dwarf, &unit, root, address, &mut sites).unwrap_or(false)
            {
                return sites;
            }
        }
        vec![]
    }
}

/// Relocations of a section that has none.
static EMPTY: Relocations = Relocations(BTreeMap::new());

/// Walks `node`'s children; where one contains `address`, records its call
/// site (for an inlined call) and goes on into it. Whether a function
/// containing the address was found.
fn walk<'a>(
    dwarf: &gimli::Dwarf<Reader<'a>>,
    unit: &gimli::Unit<Reader<'a>>,
    node: gimli::EntriesTreeNode<'_, '_, Reader<'a>>,
    address: u64,
    sites: &mut Vec<SourceLine>,
) -> gimli::Result<bool> {
    let mut children = node.children();
    while let Some(child) = children.next()? {
        let entry = child.entry();
        let tag = entry.tag();
        if matches!(
            tag,
            gimli::DW_TAG_namespace | gimli::DW_TAG_structure_type | gimli::DW_TAG_union_type
        ) {
            // Rust puts functions inside their module's namespace and
            // their type's DIE.
            if walk(dwarf, unit, child, address, sites)? {
                return Ok(true);
            }
            continue;
        }
        if !matches!(
            tag,
            gimli::DW_TAG_subprogram
                | gimli::DW_TAG_inlined_subroutine
                | gimli::DW_TAG_lexical_block
        ) {
            continue;
        }
        let mut ranges = dwarf.die_ranges(unit, entry)?;
        let mut contains = false;
        while let Some(range) = ranges.next()? {
            if (range.begin..range.end).contains(&address) {
                contains = true;
                break;
            }
        }
        if !contains {
            continue;
        }
        if tag == gimli::DW_TAG_inlined_subroutine
            && let Some(site) = call_site(dwarf, unit, entry)
        {
            sites.push(site);
        }
        walk(dwarf, unit, child, address, sites)?;
        return Ok(true);
    }
    Ok(false)
}

/// Where an inlined call was made: `DW_AT_call_file` and `DW_AT_call_line`.
fn call_site<'a>(
    dwarf: &gimli::Dwarf<Reader<'a>>,
    unit: &gimli::Unit<Reader<'a>>,
    entry: &gimli::DebuggingInformationEntry<Reader<'a>>,
) -> Option<SourceLine> {
    let file = match entry.attr_value(gimli::DW_AT_call_file)? {
        gimli::AttributeValue::FileIndex(index) => index,
        gimli::AttributeValue::Udata(index) => index,
        _ => return None,
    };
    let line = entry.attr_value(gimli::DW_AT_call_line)?.udata_value()?;
    let program = unit.line_program.as_ref()?;
    let header = program.header();
    let file_entry = header.file(file)?;
    let string = |value| -> Option<String> {
        Some(
            dwarf
                .attr_string(unit, value)
                .ok()?
                .to_string_lossy()
                .ok()?
                .into_owned(),
        )
    };
    let mut path = std::path::PathBuf::new();
    // A relative file is relative to its directory, and that to the
    // compilation's directory.
    if let Some(dir) = &unit.comp_dir {
        path.push(&*dir.to_string_lossy().ok()?);
    }
    if let Some(dir) = file_entry.directory(header) {
        path.push(string(dir)?);
    }
    path.push(string(file_entry.path_name())?);
    let path = path.to_string_lossy().into_owned();
    Some(SourceLine {
        file: path,
        line: u32::try_from(line).ok()?,
        code: String::new(),
    })
}
