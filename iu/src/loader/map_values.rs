//! Initial slots of maps, libbpf's `.values`: a program array's programs
//! and a map of maps' inner maps, written in C as
//! `.values = { [i] = &program_or_map }` in the map's definition, which
//! the compiler keeps as relocations against `.maps`. Inner maps are put
//! in once every map exists, programs once every program is loaded.

use std::{collections::HashMap, os::fd::AsFd};

use object::{Object as _, ObjectSection as _, ObjectSymbol as _};

use crate::{
    btf::{Btf, Kind},
    btf_linkage::{records, skip_modifiers, u32_at},
    error::{Error, Result},
    maps::Map,
    programs::Program,
    sys,
};

/// What one slot holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    Program(String),
    Map(String),
}

/// One slot of a map's `.values`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct InitialSlot {
    pub map: String,
    pub index: u32,
    pub target: Target,
}

/// The initial slots of the object's maps, read from the relocations
/// against `.maps` and the maps' BTF definitions.
pub(super) fn collect(file: &object::File<'_>) -> Result<Vec<InitialSlot>> {
    let Some(maps) = file.section_by_name(".maps") else {
        return Ok(vec![]);
    };
    if maps.relocations().next().is_none() {
        return Ok(vec![]);
    }
    let bad = |what: String| Error::Parse(format!("`.maps`: {what}"));
    let btf = file
        .section_by_name(".BTF")
        .and_then(|s| s.data().ok())
        .ok_or_else(|| bad("initial values without BTF".into()))
        .and_then(|data| Btf::parse(data).map_err(|e| bad(e.to_string())))?;
    // The map variables: name, offset and size in `.maps`.
    let variables: Vec<(String, u64, u64)> = file
        .symbols()
        .filter(|s| s.section_index() == Some(maps.index()))
        .filter_map(|s| Some((s.name().ok()?.to_owned(), s.address(), s.size())))
        .collect();
    let mut slots = vec![];
    for (offset, relocation) in maps.relocations() {
        let object::RelocationTarget::Symbol(index) = relocation.target() else {
            continue;
        };
        let symbol = file
            .symbol_by_index(index)
            .map_err(|e| bad(format!("a relocation's symbol: {e}")))?;
        let name = symbol.name().unwrap_or_default().to_owned();
        let target = if symbol.section_index() == Some(maps.index()) {
            Target::Map(name)
        } else if symbol.kind() == object::SymbolKind::Text {
            Target::Program(name)
        } else {
            return Err(bad(format!(
                "a map's initial value `{name}` is neither a program nor a map"
            )));
        };
        let (map, start, _) = variables
            .iter()
            .find(|(_, start, size)| (*start..start + size).contains(&offset))
            .ok_or_else(|| bad(format!("a relocation at {offset} outside every map")))?;
        let values = values_offset(&btf, map).ok_or_else(|| {
            bad(format!(
                "map `{map}` has initial values but no `values` member"
            ))
        })?;
        let at = offset
            .checked_sub(start + values)
            .filter(|at| at % 8 == 0)
            .ok_or_else(|| bad(format!("map `{map}`: a relocation off its `values` slots")))?;
        slots.push(InitialSlot {
            map: map.clone(),
            index: u32::try_from(at / 8).map_err(|_| bad(format!("map `{map}`: slot {at}")))?,
            target,
        });
    }
    Ok(slots)
}

/// The byte offset of the `values` member in map `map`'s definition.
fn values_offset(btf: &Btf, map: &str) -> Option<u64> {
    let var = btf
        .by_name(map)
        .filter_map(|id| btf.get(id))
        .find(|t| t.kind == Kind::Var)?;
    let definition = btf.get(btf.skip_mods_and_typedefs(var.type_id))?;
    let values = definition.members.iter().find(|m| m.name == "values")?;
    Some(u64::from(values.bit_offset / 8))
}

/// Puts each map of maps' initial inner maps in.
pub(super) fn fill_maps(slots: &[InitialSlot], maps: &HashMap<String, Map>) -> Result<()> {
    for slot in slots {
        if let Target::Map(inner) = &slot.target {
            let fd = maps.get(inner).map(|m| m.fd.as_fd());
            put(slot, inner, fd, maps)?;
        }
    }
    Ok(())
}

/// Puts each program array's initial programs in.
pub(super) fn fill_programs(
    slots: &[InitialSlot],
    maps: &HashMap<String, Map>,
    programs: &HashMap<String, Program>,
) -> Result<()> {
    for slot in slots {
        if let Target::Program(program) = &slot.target {
            let fd = programs.get(program).map(|p| p.fd.as_fd());
            put(slot, program, fd, maps)?;
        }
    }
    Ok(())
}

fn put(
    slot: &InitialSlot,
    target: &str,
    fd: Option<std::os::fd::BorrowedFd<'_>>,
    maps: &HashMap<String, Map>,
) -> Result<()> {
    let problem = |problem: String| Error::InitialValue {
        map: slot.map.clone(),
        index: slot.index,
        target: target.to_owned(),
        problem,
    };
    let map = maps
        .get(&slot.map)
        .ok_or_else(|| problem("the map was not created".into()))?;
    let fd = fd.ok_or_else(|| {
        problem("it was not loaded: turn its autoload on (`EbpfLoader::autoload`)".into())
    })?;
    let value = (std::os::fd::AsRawFd::as_raw_fd(&fd) as u32).to_ne_bytes();
    sys::map_update_elem(map.fd.as_fd(), &slot.index.to_ne_bytes(), &value, 0)
        .map_err(|e| problem(format!("the kernel refused it: {e}")))
}

/// `BTF_KIND_*` of the types [`hide_program_values`] follows.
const PTR: u32 = 2;
const ARRAY: u32 = 3;
const STRUCT: u32 = 4;
const FUNC_PROTO: u32 = 13;

/// In the copy of the object's BTF the parser reads (aya-obj 0.3 takes
/// every `values` member for a map of maps' and refuses a program
/// array's, an array of function pointers): such a member is renamed
/// `alues`, by pointing its name one byte further, so the parser skips
/// it. The loader reads the slots itself ([`collect`]).
pub(crate) fn hide_program_values(btf: &mut [u8]) {
    let Some((types, str_off)) = records(btf) else {
        return;
    };
    let kind_of = |btf: &[u8], id: u32| {
        skip_modifiers(&types, btf, id)
            .flatten()
            .map(|r| (r.kind, r.at))
    };
    let mut renames = vec![];
    for record in types.iter().filter(|r| r.kind == STRUCT) {
        for member in 0..record.vlen {
            let at = record.at + 12 + member * 12;
            let (Some(name_off), Some(member_type)) = (u32_at(btf, at), u32_at(btf, at + 4)) else {
                break;
            };
            let name = str_off
                .checked_add(name_off as usize)
                .and_then(|n| btf.get(n..n + 7));
            if name != Some(b"values\0") {
                continue;
            }
            let element = match kind_of(btf, member_type) {
                Some((ARRAY, array_at)) => u32_at(btf, array_at + 12),
                _ => None,
            };
            let pointee = match element.and_then(|e| kind_of(btf, e)) {
                Some((PTR, ptr_at)) => u32_at(btf, ptr_at + 8),
                _ => None,
            };
            if pointee.and_then(|p| kind_of(btf, p)).map(|(kind, _)| kind) == Some(FUNC_PROTO) {
                renames.push((at, name_off + 1));
            }
        }
    }
    for (at, name_off) in renames {
        btf[at..at + 4].copy_from_slice(&name_off.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

    use super::*;
    use crate::loader::{parse::parse, test_objects};

    #[test]
    fn initial_slots_are_read_from_the_relocations() {
        let object = test_objects::bytes("map_values");
        let parsed = parse(object.bytes()).unwrap();
        let mut slots = collect(&parsed.file).unwrap();
        slots.sort_by(|a, b| (&a.map, a.index).cmp(&(&b.map, b.index)));
        let slot = |map: &str, index, target| InitialSlot {
            map: map.to_owned(),
            index,
            target,
        };
        assert_eq!(
            slots,
            [
                slot("jumps", 1, Target::Program("tail_drop".into())),
                slot("jumps", 3, Target::Program("tail_tx".into())),
                slot("outer", 0, Target::Map("inner_a".into())),
                slot("outer", 2, Target::Map("inner_b".into())),
            ]
        );
        // The parser still reads both maps: the program array without its
        // `values`, the map of maps with its inner maps' shape.
        assert!(parsed.obj.maps.contains_key("jumps"));
        assert!(parsed.obj.maps["outer"].inner().is_some());
    }

    #[test]
    fn objects_without_initial_values_have_no_slots() {
        let object = test_objects::bytes("loader_stages");
        let parsed = parse(object.bytes()).unwrap();
        assert!(collect(&parsed.file).unwrap().is_empty());
    }
}
