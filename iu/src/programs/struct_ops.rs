//! struct_ops (`BPF_PROG_TYPE_STRUCT_OPS`, `BPF_MAP_TYPE_STRUCT_OPS`,
//! Linux 5.6): a kernel struct of function pointers — a TCP congestion
//! control, `struct tcp_congestion_ops` — filled with BPF programs and
//! registered with its subsystem.
//!
//! Two kinds of objects describe one, and both end in the same `Layout`:
//! - Rust (`#[struct_ops(name = "...")]` on an impl of
//!   `iu_ebpf::programs::TcpCongestionOps`): one program per callback, in
//!   section `struct_ops/<member>`, and a record in section
//!   `iu_struct_ops.<name>`: `IUSO`, a `u16` length, and the text
//!   `struct|name|flags|member=program,...` (`records`, `resolve`).
//! - C, as libbpf reads it: each variable of a `.struct_ops` or
//!   `.struct_ops.link` section is one struct_ops, named by the variable.
//!   The section's DATASEC in the object's BTF gives each variable's type
//!   (`struct tcp_congestion_ops`, maybe `___flavor`-suffixed) and offset;
//!   ELF relocations against the section put programs (sections
//!   `struct_ops[.s][/...]`) in function-pointer members; the other
//!   members (`name`, `flags`) are data, copied by name into the kernel's
//!   layout (`variables`, `resolve_variable`).
//!
//! At load, the loader finds `struct <struct>` and its wrapper `struct
//! bpf_struct_ops_<struct>` in the kernel's BTF, loads each program with
//! `attach_btf_id` = the struct's type id and `expected_attach_type` = the
//! member's index, and creates the struct_ops map (key `u32`, value the
//! wrapper) as libbpf does. [`StructOps::register`] then writes the map's
//! value (program fds in the function-pointer slots) and registers it:
//! with a link (`BPF_F_LINK`, Linux 6.4) that unregisters when closed, or
//! by the map update itself, undone by deleting the element (as libbpf
//! does). Rust struct_ops and C `.struct_ops.link` variables take a link
//! where the kernel has them; C `.struct_ops` variables never do (libbpf's
//! rule).

use std::{
    collections::{HashMap, HashSet},
    os::fd::{AsFd, AsRawFd, OwnedFd},
    sync::Mutex,
};

use object::{Object, ObjectSection, ObjectSymbol};

use crate::{
    btf::{Btf, Kind},
    error::{Error, Result},
    sys,
};

/// The 4 bytes that start a record (`iu_macros::struct_ops`).
const RECORD_TAG: &[u8; 4] = b"IUSO";
/// Section-name prefix of the records.
const RECORD_PREFIX: &str = "iu_struct_ops.";
/// The prefix the kernel gives the wrapper of a struct_ops value type.
const VALUE_PREFIX: &str = "bpf_struct_ops_";
/// Why a struct_ops program no struct_ops names is refused (libbpf: "isn't
/// referenced anywhere").
const UNREFERENCED: &str = "a struct_ops program that no struct_ops names: in Rust, write the callbacks in an impl under `#[struct_ops(name = \"...\")]`; in C, put the program in a member of a `SEC(\".struct_ops\")` variable, or mark its section `?` to leave it out";

/// Whether `section` (without libbpf's `?`) is a struct_ops program's:
/// `struct_ops`, `struct_ops/<anything>`, or the sleepable `struct_ops.s`
/// and `struct_ops.s/<anything>` (libbpf's `struct_ops+` and
/// `struct_ops.s+`). Gives whether it is sleepable.
pub(crate) fn program_section(section: &str) -> Option<bool> {
    let sleepable = |rest: &str| rest.is_empty() || rest.starts_with('/');
    if let Some(rest) = section.strip_prefix("struct_ops.s") {
        return sleepable(rest).then_some(true);
    }
    section
        .strip_prefix("struct_ops")
        .filter(|rest| sleepable(rest))
        .map(|_| false)
}

/// Whether `section` holds libbpf's struct_ops variables: `.struct_ops`
/// or `.struct_ops.link`, `?`-prefixed when the maps are not to be
/// created. Gives (link, created).
fn variable_section(section: &str) -> Option<(bool, bool)> {
    let (rest, created) = match section.strip_prefix('?') {
        Some(rest) => (rest, false),
        None => (section, true),
    };
    match rest {
        ".struct_ops" => Some((false, created)),
        ".struct_ops.link" => Some((true, created)),
        _ => None,
    }
}

/// What the object says of one struct_ops: which kernel struct it fills,
/// under which name, and which program goes in which member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    /// `tcp_congestion_ops`.
    pub kernel_struct: String,
    /// The name it registers under (`iu_reno`).
    pub name: String,
    /// The struct's `flags` member.
    pub flags: u32,
    /// (member, program), in the object's order.
    pub members: Vec<(String, String)>,
}

/// Reads the struct_ops records of an object (sections
/// `iu_struct_ops.<name>`).
pub(crate) fn records(file: &object::File<'_>) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for section in file.sections() {
        let Ok(name) = section.name() else { continue };
        if !name.starts_with(RECORD_PREFIX) {
            continue;
        }
        let bad = |why: &str| Error::Parse(format!("struct_ops record in section `{name}`: {why}"));
        let data = section.data().map_err(|e| bad(&e.to_string()))?;
        out.push(parse_record(data).map_err(bad)?);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Parses one record's bytes.
pub(crate) fn parse_record(data: &[u8]) -> std::result::Result<Record, &'static str> {
    let rest = data.strip_prefix(RECORD_TAG).ok_or("no `IUSO` tag")?;
    let len = rest.get(..2).ok_or("truncated")?;
    let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
    let text = rest.get(2..2 + len).ok_or("truncated")?;
    let text = std::str::from_utf8(text).map_err(|_| "not UTF-8")?;
    let mut fields = text.splitn(4, '|');
    let (Some(kernel_struct), Some(name), Some(flags), Some(members)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err("expected `struct|name|flags|members`");
    };
    let flags = flags.parse().map_err(|_| "bad flags")?;
    let members = members
        .split(',')
        .filter(|m| !m.is_empty())
        .map(|m| {
            m.split_once('=')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .ok_or("expected `member=program`")
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    if kernel_struct.is_empty() || name.is_empty() || members.is_empty() {
        return Err("empty struct, name or member list");
    }
    Ok(Record {
        kernel_struct: kernel_struct.to_owned(),
        name: name.to_owned(),
        flags,
        members,
    })
}

/// Where a program goes in the kernel's struct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Slot {
    /// The member's name.
    pub member: String,
    /// The program's name.
    pub program: String,
    /// The member's index in the kernel's struct (the program's
    /// `expected_attach_type`).
    pub index: u32,
    /// The byte offset of the function pointer in the wrapper's value.
    pub offset: u32,
}

/// A struct_ops resolved against a kernel's BTF: everything the programs'
/// load and the map need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Its name in the object: the Rust record's name, or the C variable's.
    pub name: String,
    /// The kernel struct it fills (`tcp_congestion_ops`).
    pub kernel_struct: String,
    /// The type id of `struct <kernel_struct>` (the programs'
    /// `attach_btf_id`).
    pub struct_id: u32,
    /// The type id of `struct bpf_struct_ops_<kernel_struct>` (the map's
    /// `btf_vmlinux_value_type_id`).
    pub value_type_id: u32,
    /// The map's value without the program fds: zeros, with the data
    /// members (`name`, `flags`) in place. Its length is the wrapper's
    /// size.
    pub template: Vec<u8>,
    /// One per program.
    pub slots: Vec<Slot>,
    /// Whether it registers through a link where the kernel has them
    /// (Rust struct_ops, C `.struct_ops.link`).
    pub link: bool,
}

/// The kernel's side of a struct_ops: the struct, its wrapper and where
/// the struct lies in the wrapper.
struct KernelStruct<'a> {
    id: u32,
    ty: &'a crate::btf::Type,
    value_type_id: u32,
    value_size: u32,
    /// Byte offset of the struct (the wrapper's `data`) in the wrapper.
    data_offset: u32,
}

/// Finds `struct <kernel_struct>`, its wrapper and the wrapper's member of
/// its type (libbpf's `find_struct_ops_kern_types`).
fn kernel_struct<'a>(btf: &'a Btf, name: &str, kernel_struct: &str) -> Result<KernelStruct<'a>> {
    let find_struct = |wanted: &str| {
        btf.by_name(wanted).find(|&id| {
            btf.get(id)
                .is_some_and(|t| t.kind == Kind::Struct && t.name == wanted)
        })
    };
    let unknown = || Error::StructOpsUnknownStruct {
        name: name.to_owned(),
        kernel_struct: kernel_struct.to_owned(),
    };
    let id = find_struct(kernel_struct).ok_or_else(unknown)?;
    let value_type_id =
        find_struct(&format!("{VALUE_PREFIX}{kernel_struct}")).ok_or_else(unknown)?;
    let wrapper = btf.get(value_type_id).ok_or_else(unknown)?;
    let data = wrapper
        .members
        .iter()
        .find(|m| m.type_id == id)
        .ok_or_else(unknown)?;
    Ok(KernelStruct {
        id,
        ty: btf.get(id).ok_or_else(unknown)?,
        value_type_id,
        value_size: wrapper.size,
        data_offset: data.bit_offset / 8,
    })
}

/// Whether type `id` is a pointer to a function prototype.
fn is_fn_ptr(btf: &Btf, id: u32) -> bool {
    btf.get(btf.skip_mods_and_typedefs(id))
        .filter(|t| t.kind == Kind::Ptr)
        .and_then(|t| btf.get(btf.skip_mods_and_typedefs(t.type_id)))
        .is_some_and(|t| t.kind == Kind::FuncProto)
}

/// Writes `bytes` at `offset` of `value`, refusing what lies outside.
fn put(value: &mut [u8], name: &str, offset: u32, bytes: &[u8]) -> Result<()> {
    let at = offset as usize;
    let size = value.len();
    value
        .get_mut(at..at + bytes.len())
        .map(|dst| dst.copy_from_slice(bytes))
        .ok_or_else(|| {
            Error::Parse(format!(
                "struct_ops `{name}`: a member lies outside the kernel's {size}-byte value"
            ))
        })
}

/// Resolves the Rust `record` against `btf` (the kernel's).
pub(crate) fn resolve(btf: &Btf, record: &Record) -> Result<Layout> {
    let k = kernel_struct(btf, &record.name, &record.kernel_struct)?;
    let member = |name: &str| {
        k.ty.members
            .iter()
            .enumerate()
            .find(|(_, m)| m.name == name)
    };
    let mut slots = Vec::new();
    for (name, program) in &record.members {
        match member(name) {
            Some((index, m)) if is_fn_ptr(btf, m.type_id) => slots.push(Slot {
                member: name.clone(),
                program: program.clone(),
                index: index as u32,
                offset: k.data_offset + m.bit_offset / 8,
            }),
            _ => {
                return Err(Error::StructOpsUnknownMember {
                    name: record.name.clone(),
                    kernel_struct: record.kernel_struct.clone(),
                    member: name.clone(),
                    program: program.clone(),
                    available: function_members(btf, &k.ty.members),
                });
            }
        }
    }
    let field = |name: &str| {
        member(name).and_then(|(_, m)| {
            let size = btf.size_of(m.type_id)?;
            Some((k.data_offset + m.bit_offset / 8, size as u32))
        })
    };
    let mut template = vec![0u8; k.value_size as usize];
    if let Some((offset, len)) = field("name") {
        let name = record.name.as_bytes();
        if name.len() >= len as usize {
            return Err(Error::Parse(format!(
                "struct_ops name `{}` is longer than the kernel's {} bytes",
                record.name,
                len.saturating_sub(1)
            )));
        }
        put(&mut template, &record.name, offset, name)?;
    }
    match (field("flags"), record.flags) {
        (_, 0) => {}
        (Some((offset, 4)), flags) => {
            put(&mut template, &record.name, offset, &flags.to_le_bytes())?
        }
        _ => {
            return Err(Error::Parse(format!(
                "struct_ops `{}` sets flags, which `struct {}` has no 32-bit member for",
                record.name, record.kernel_struct
            )));
        }
    }
    Ok(Layout {
        name: record.name.clone(),
        kernel_struct: record.kernel_struct.clone(),
        struct_id: k.id,
        value_type_id: k.value_type_id,
        template,
        slots,
        link: true,
    })
}

/// The names of the function-pointer members, for error messages.
fn function_members(btf: &Btf, members: &[crate::btf::Member]) -> Vec<String> {
    members
        .iter()
        .filter(|m| {
            btf.get(btf.skip_mods_and_typedefs(m.type_id))
                .is_some_and(|t| t.kind == Kind::Ptr)
        })
        .map(|m| m.name.clone())
        .collect()
}

/// A C object's struct_ops variable (libbpf's `.struct_ops` sections), as
/// the object has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Variable {
    /// The variable's name: the struct_ops' name.
    pub name: String,
    /// Its section (`.struct_ops`, `.struct_ops.link`, maybe `?`-prefixed).
    pub section: String,
    /// Whether it asks for a link (`.struct_ops.link`).
    pub link: bool,
    /// Whether its map is created (no `?` before the section's name).
    pub created: bool,
    /// Its struct's type id in the object's BTF.
    pub type_id: u32,
    /// Its bytes in the section.
    pub data: Vec<u8>,
    /// The program in each member, by the member's index in the object's
    /// struct.
    pub programs: Vec<Option<String>>,
}

/// The object's BTF, where it has a `.BTF` section.
fn object_btf(file: &object::File<'_>) -> Result<Option<Btf>> {
    let Some(section) = file.section_by_name(".BTF") else {
        return Ok(None);
    };
    let data = section
        .data()
        .map_err(|e| Error::Parse(format!("section `.BTF`: {e}")))?;
    Btf::parse(data)
        .map(Some)
        .map_err(|e| Error::Parse(format!("the object's BTF: {e}")))
}

/// Reads the struct_ops variables of libbpf's `.struct_ops` and
/// `.struct_ops.link` sections (`init_struct_ops_maps` and
/// `bpf_object__collect_st_ops_relos` in libbpf).
pub(crate) fn variables(file: &object::File<'_>, btf: Option<&Btf>) -> Result<Vec<Variable>> {
    let mut out: Vec<Variable> = Vec::new();
    for section in file.sections() {
        let Ok(section_name) = section.name() else {
            continue;
        };
        let Some((link, created)) = variable_section(section_name) else {
            continue;
        };
        let bad = |why: String| Error::Parse(format!("struct_ops section `{section_name}`: {why}"));
        let btf = btf.ok_or_else(|| {
            bad("the object has no BTF to describe its variables; compile with `-g`".to_owned())
        })?;
        let data = section.data().map_err(|e| bad(e.to_string()))?;
        let datasec = btf
            .by_name(section_name)
            .find(|&id| {
                btf.get(id)
                    .is_some_and(|t| t.kind == Kind::Datasec && t.name == section_name)
            })
            .ok_or_else(|| bad("no DATASEC of this name in the object's BTF".to_owned()))?;
        let first = out.len();
        for (var_id, var_offset, _) in btf.datasec_vars(datasec) {
            let var = btf
                .get(var_id)
                .filter(|v| v.kind == Kind::Var)
                .ok_or_else(|| bad(format!("type {var_id} is not a variable")))?;
            let type_id = btf.skip_mods_and_typedefs(var.type_id);
            let ty = btf
                .get(type_id)
                .ok_or_else(|| bad(format!("variable `{}` has no type", var.name)))?;
            if ty.kind != Kind::Struct || ty.name.is_empty() {
                return Err(bad(format!(
                    "variable `{}` is not of a named struct type; a struct_ops variable is a kernel struct such as `struct tcp_congestion_ops`",
                    var.name
                )));
            }
            // The symbol's offset where there is one (the linker's word),
            // the DATASEC's otherwise.
            let offset = file
                .symbols()
                .find(|s| {
                    s.section_index() == Some(section.index()) && s.name() == Ok(var.name.as_str())
                })
                .map_or(u64::from(var_offset), |s| s.address());
            let bytes = usize::try_from(offset)
                .ok()
                .and_then(|at| data.get(at..at.checked_add(ty.size as usize)?))
                .ok_or_else(|| {
                    bad(format!(
                        "variable `{}` lies beyond the end of the section",
                        var.name
                    ))
                })?;
            out.push(Variable {
                name: var.name.clone(),
                section: section_name.to_owned(),
                link,
                created,
                type_id,
                data: bytes.to_vec(),
                programs: vec![None; ty.members.len()],
            });
        }
        // The variables' offsets, to find the one a relocation lands in.
        let starts: Vec<(u64, u64)> = out[first..]
            .iter()
            .map(|v| {
                let offset = file
                    .symbols()
                    .find(|s| {
                        s.section_index() == Some(section.index())
                            && s.name() == Ok(v.name.as_str())
                    })
                    .map(|s| s.address())
                    .unwrap_or_default();
                (offset, v.data.len() as u64)
            })
            .collect();
        for (at, relocation) in section.relocations() {
            let Some(i) = starts
                .iter()
                .position(|&(start, len)| start <= at && at - start < len)
            else {
                return Err(bad(format!(
                    "a relocation at offset {at} lies in no variable"
                )));
            };
            let var = &mut out[first + i];
            let moff = at - starts[i].0;
            let ty = btf.get(var.type_id).ok_or_else(|| bad("no type".into()))?;
            let Some((index, member)) = ty
                .members
                .iter()
                .enumerate()
                .find(|(_, m)| u64::from(m.bit_offset) == moff * 8)
            else {
                return Err(bad(format!(
                    "variable `{}`: a relocation at byte {moff} is at no member",
                    var.name
                )));
            };
            let member_error = |problem: String| Error::StructOpsMember {
                name: var.name.clone(),
                kernel_struct: crate::btf::essential_name(&ty.name).to_owned(),
                member: member.name.clone(),
                problem,
            };
            if !is_fn_ptr(btf, member.type_id) {
                return Err(member_error(
                    "a relocation sets it, but it is no function pointer".to_owned(),
                ));
            }
            let object::RelocationTarget::Symbol(symbol) = relocation.target() else {
                return Err(member_error("its relocation names no symbol".to_owned()));
            };
            let symbol = file
                .symbol_by_index(symbol)
                .map_err(|e| member_error(format!("its relocation's symbol: {e}")))?;
            let Some(target_section) = symbol.section_index() else {
                return Err(member_error(format!(
                    "it points at `{}`, which the object does not define; a struct_ops member takes a struct_ops program of the object",
                    symbol.name().unwrap_or("?")
                )));
            };
            // The program: the function the symbol names, or the one at
            // the symbol's place in its section.
            let program = if symbol.kind() == object::SymbolKind::Text
                && symbol.name().is_ok_and(|n| !n.is_empty())
            {
                Some(symbol)
            } else {
                file.symbols().find(|s| {
                    s.kind() == object::SymbolKind::Text
                        && s.section_index() == Some(target_section)
                        && s.address() == symbol.address()
                        && s.name().is_ok_and(|n| !n.is_empty())
                })
            };
            let name = program
                .as_ref()
                .and_then(|p| p.name().ok())
                .unwrap_or("?")
                .to_owned();
            let in_section = file
                .section_by_index(target_section)
                .ok()
                .and_then(|s| s.name().ok().map(str::to_owned))
                .unwrap_or_default();
            if program.is_none() || program_section(in_section.trim_start_matches('?')).is_none() {
                return Err(member_error(format!(
                    "it points at `{name}` in section `{in_section}`, which is not a struct_ops program; put the callback in `SEC(\"struct_ops\")` (or `struct_ops/<name>`)"
                )));
            }
            var.programs[index] = Some(name);
        }
    }
    Ok(out)
}

/// Resolves the C struct_ops `var` (of the object's BTF `local`) against
/// the kernel's BTF (`bpf_map__init_kern_struct_ops` in libbpf): the
/// kernel's struct is found by the local one's name without its
/// `___flavor`; programs go in the kernel's member of the same name, data
/// members are copied by name. A member the kernel lacks is skipped if it
/// is zero and refused otherwise.
pub(crate) fn resolve_variable(local: &Btf, kernel: &Btf, var: &Variable) -> Result<Layout> {
    let local_ty = local
        .get(var.type_id)
        .ok_or_else(|| Error::Parse(format!("struct_ops `{}` has no type", var.name)))?;
    let struct_name = crate::btf::essential_name(&local_ty.name).to_owned();
    let k = kernel_struct(kernel, &var.name, &struct_name)?;
    let mut template = vec![0u8; k.value_size as usize];
    let mut slots = Vec::new();
    for (i, m) in local_ty.members.iter().enumerate() {
        let program = var.programs.get(i).cloned().flatten();
        let problem = |problem: String| Error::StructOpsMember {
            name: var.name.clone(),
            kernel_struct: struct_name.clone(),
            member: m.name.clone(),
            problem,
        };
        let size = local
            .size_of(m.type_id)
            .ok_or_else(|| problem("its size cannot be resolved in the object's BTF".into()))?;
        let at = (m.bit_offset / 8) as usize;
        let bytes = var
            .data
            .get(at..at + size as usize)
            .ok_or_else(|| problem("it lies outside the variable".into()))?;
        let unknown_member = |program| Error::StructOpsUnknownMember {
            name: var.name.clone(),
            kernel_struct: struct_name.clone(),
            member: m.name.clone(),
            program,
            available: function_members(kernel, &k.ty.members),
        };
        let Some((kernel_index, km)) =
            k.ty.members
                .iter()
                .enumerate()
                .find(|(_, km)| km.name == m.name)
        else {
            if let Some(program) = program {
                return Err(unknown_member(program));
            }
            if bytes.iter().any(|&b| b != 0) {
                return Err(problem(
                    "it is set, and this kernel's struct has no such member; leave it 0 (or use a `___flavor` of the struct without it) for this kernel".into(),
                ));
            }
            continue;
        };
        if m.bitfield_size != 0 || km.bitfield_size != 0 {
            return Err(problem(
                "it is a bitfield, which struct_ops cannot set".into(),
            ));
        }
        let kind = |btf: &Btf, id: u32| btf.get(btf.skip_mods_and_typedefs(id)).map(|t| t.kind);
        let (local_kind, kernel_kind) = (kind(local, m.type_id), kind(kernel, km.type_id));
        if local_kind != kernel_kind {
            return Err(problem(format!(
                "it is {} in the object and {} in the kernel",
                kind_name(local_kind),
                kind_name(kernel_kind)
            )));
        }
        let offset = k.data_offset + km.bit_offset / 8;
        if local_kind == Some(Kind::Ptr) {
            let Some(program) = program else {
                // A NULL callback.
                continue;
            };
            if !is_fn_ptr(kernel, km.type_id) {
                return Err(unknown_member(program));
            }
            slots.push(Slot {
                member: m.name.clone(),
                program,
                index: kernel_index as u32,
                offset,
            });
            continue;
        }
        let kernel_size = kernel.size_of(km.type_id);
        if kernel_size != Some(size) {
            return Err(problem(format!(
                "it is {size} bytes in the object and {} in the kernel",
                kernel_size.map_or("unsized".to_owned(), |s| format!("{s} bytes"))
            )));
        }
        put(&mut template, &var.name, offset, bytes)?;
    }
    Ok(Layout {
        name: var.name.clone(),
        kernel_struct: struct_name,
        struct_id: k.id,
        value_type_id: k.value_type_id,
        template,
        slots,
        link: var.link,
    })
}

/// A kind's name for messages.
fn kind_name(kind: Option<Kind>) -> &'static str {
    match kind {
        Some(Kind::Ptr) => "a pointer",
        Some(Kind::Int) => "an integer",
        Some(Kind::Array) => "an array",
        Some(Kind::Struct) => "a struct",
        Some(Kind::Union) => "a union",
        Some(Kind::Enum | Kind::Enum64) => "an enum",
        Some(_) => "another kind",
        None => "unknown",
    }
}

impl Layout {
    /// The map value: the template, with each program's fd in its slot.
    /// `fds` gives each program's descriptor by name.
    pub(crate) fn value(&self, fds: &HashMap<&str, i32>) -> Result<Vec<u8>> {
        let mut value = self.template.clone();
        for slot in &self.slots {
            let fd = fds.get(slot.program.as_str()).copied().ok_or_else(|| {
                Error::Relocation(format!(
                    "struct_ops `{}`: program `{}` (member `{}`) was not loaded; do not skip it",
                    self.name, slot.program, slot.member
                ))
            })?;
            // The kernel reads the fd from the pointer-sized slot.
            put(
                &mut value,
                &self.name,
                slot.offset,
                &u64::from(fd as u32).to_le_bytes(),
            )?;
        }
        Ok(value)
    }
}

/// A minimal BTF (one `int`): `BPF_MAP_CREATE` wants a BTF descriptor
/// beside a struct_ops map's vmlinux value type, whatever it holds.
pub(crate) fn placeholder_btf() -> Vec<u8> {
    let mut btf = Vec::new();
    // Header: magic, version 1, flags 0, hdr_len 24, type_off 0,
    // type_len 16, str_off 16, str_len 5.
    btf.extend_from_slice(&0xeb9f_u16.to_le_bytes());
    btf.extend_from_slice(&[1, 0]);
    for word in [24u32, 0, 16, 16, 5] {
        btf.extend_from_slice(&word.to_le_bytes());
    }
    // Type 1: `int`, BTF_KIND_INT, 4 bytes, 32 bits.
    for word in [1u32, 1 << 24, 4, 32] {
        btf.extend_from_slice(&word.to_le_bytes());
    }
    btf.extend_from_slice(b"\0int\0");
    btf
}

/// Creates the struct_ops map of `layout` (with `BPF_F_LINK` if `link`),
/// its value not yet written. Shared with the feature probe.
pub(crate) fn create_map(
    layout: &Layout,
    link: bool,
) -> std::result::Result<OwnedFd, (&'static str, std::io::Error)> {
    let btf = sys::btf_load(&placeholder_btf(), &mut []).map_err(|e| ("bpf(BPF_BTF_LOAD)", e))?;
    sys::map_create_struct_ops(
        &layout.name,
        layout.template.len() as u32,
        layout.value_type_id,
        btf.as_fd(),
        link,
    )
    .map_err(|e| ("bpf(BPF_MAP_CREATE)", e))
}

/// A struct_ops of a loaded object: its layout, and the map the load
/// created, until a registration takes it.
#[derive(Debug)]
pub(crate) struct Loaded {
    layout: Layout,
    /// Whether it registers through a link on this kernel.
    link: bool,
    /// The map created at load. The first registration uses it; later
    /// ones create their own (a struct_ops map registers once).
    map: Mutex<Option<OwnedFd>>,
}

/// Creates the maps of an object's struct_ops, as libbpf creates them at
/// load.
pub(crate) fn create_maps(layouts: Vec<Layout>) -> Result<Vec<Loaded>> {
    layouts
        .into_iter()
        .map(|layout| {
            // Without struct_ops links (before 6.4) a `.struct_ops.link`
            // variable registers through the map, as Rust struct_ops do.
            let link = layout.link && crate::features::struct_ops_link();
            let map = create_map(&layout, link).map_err(|(call, e)| {
                Error::from_syscall(
                    format!("creating struct_ops map `{}`", layout.name),
                    sys::SyscallError::new(call, e),
                    crate::error::CAP_BPF_HINT,
                    |_, source| Error::MapCreate {
                        name: layout.name.clone(),
                        source,
                    },
                )
            })?;
            Ok(Loaded {
                layout,
                link,
                map: Mutex::new(Some(map)),
            })
        })
        .collect()
}

/// The struct_ops `name` of `all` (`Ebpf::struct_ops`).
pub(crate) fn find<'a>(
    all: &'a [Loaded],
    programs: &'a HashMap<String, super::Program>,
    name: &str,
) -> Result<StructOps<'a>> {
    let loaded =
        all.iter()
            .find(|l| l.layout.name == name)
            .ok_or_else(|| Error::UnknownStructOps {
                name: name.to_owned(),
                available: all.iter().map(|l| l.layout.name.clone()).collect(),
            })?;
    Ok(StructOps { loaded, programs })
}

/// Every struct_ops of `all`, in name order (`Ebpf::all_struct_ops`).
pub(crate) fn iter<'a>(
    all: &'a [Loaded],
    programs: &'a HashMap<String, super::Program>,
) -> impl Iterator<Item = StructOps<'a>> {
    all.iter().map(move |loaded| StructOps { loaded, programs })
}

/// A struct_ops of a loaded object, ready to register: a Rust
/// `#[struct_ops(name = "...")]`, or a C object's `.struct_ops` or
/// `.struct_ops.link` variable (named by the variable, as libbpf names
/// its map).
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// // `#[struct_ops(name = "iu_reno")] impl TcpCongestionOps for IuReno { ... }`,
/// // or in C: `SEC(".struct_ops.link") struct tcp_congestion_ops iu_reno = { ... };`
/// let registration = ebpf.struct_ops("iu_reno")?.register()?;
/// // Sockets can now select it: setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "iu_reno").
/// drop(registration); // unregistered
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct StructOps<'a> {
    loaded: &'a Loaded,
    programs: &'a HashMap<String, super::Program>,
}

impl<'a> StructOps<'a> {
    /// Its name in the object: the Rust struct_ops' `name`, or the C
    /// variable's (a C struct's `name` member, which a TCP congestion
    /// control registers under, may differ).
    pub fn name(&self) -> &'a str {
        &self.loaded.layout.name
    }

    /// The kernel struct it fills (`tcp_congestion_ops`).
    pub fn kernel_struct(&self) -> &'a str {
        &self.loaded.layout.kernel_struct
    }

    /// The members it fills and their programs, in the object's order.
    pub fn members(&self) -> impl Iterator<Item = (&'a str, &'a str)> + use<'a> {
        self.loaded
            .layout
            .slots
            .iter()
            .map(|s| (s.member.as_str(), s.program.as_str()))
    }

    /// Registers the struct with its subsystem (a TCP congestion control
    /// becomes selectable by name) until the returned handle drops,
    /// as libbpf's `bpf_map__attach_struct_ops`. Through a link where it
    /// takes one (Linux 6.4+: Rust struct_ops and C `.struct_ops.link`
    /// variables); otherwise through the map update, undone by deleting
    /// the element on drop.
    pub fn register(&self) -> Result<StructOpsLink> {
        let layout = &self.loaded.layout;
        let name = &layout.name;
        let fds: HashMap<&str, i32> = layout
            .slots
            .iter()
            .filter_map(|s| {
                let program = self.programs.get(&s.program)?;
                Some((s.program.as_str(), program.fd.as_raw_fd()))
            })
            .collect();
        let value = layout.value(&fds)?;
        let link = self.loaded.link;
        let fail = |call: &'static str, e: std::io::Error| {
            let hint = match e.raw_os_error() {
                Some(libc::EEXIST) => Some(
                    "a struct of this name is already registered (another TCP congestion control called so, or this one still registered)",
                ),
                Some(libc::EINVAL) => Some(
                    "the kernel refused the struct: a required member is missing (a TCP congestion control needs ssthresh, undo_cwnd and cong_avoid or cong_control) or the name is invalid",
                ),
                // 524: the kernel's internal ENOTSUPP.
                Some(524 | libc::EOPNOTSUPP) => Some(
                    "the kernel cannot register this struct (some, such as bpf_dummy_ops, only run through BPF_PROG_TEST_RUN), or lacks struct_ops (CONFIG_BPF_JIT)",
                ),
                _ => None,
            };
            Error::from_syscall(
                format!("registering struct_ops `{name}`"),
                sys::SyscallError::new(call, e),
                "Registering struct_ops needs CAP_BPF and CAP_NET_ADMIN (or root): run with `sudo`.",
                |_, source| Error::StructOpsRegister {
                    name: name.clone(),
                    source,
                    hint,
                },
            )
        };
        let created_at_load = self.loaded.map.lock().ok().and_then(|mut map| map.take());
        let map = match created_at_load {
            Some(map) => map,
            None => create_map(layout, link).map_err(|(call, e)| fail(call, e))?,
        };
        sys::map_update_elem(map.as_fd(), &0u32.to_le_bytes(), &value, 0)
            .map_err(|e| fail("bpf(BPF_MAP_UPDATE_ELEM)", e))?;
        let link = if link {
            Some(
                sys::link_create_struct_ops(map.as_fd())
                    .map_err(|e| fail("bpf(BPF_LINK_CREATE)", e))?,
            )
        } else {
            None
        };
        Ok(StructOpsLink {
            name: name.clone(),
            map,
            link,
        })
    }
}

/// A registered struct_ops. Dropping it unregisters the struct: sockets
/// that use a TCP congestion control keep it until they close, but no new
/// socket can select it.
#[derive(Debug)]
pub struct StructOpsLink {
    name: String,
    map: OwnedFd,
    /// The link (Linux 6.4+); without one, the map's element is the
    /// registration.
    link: Option<OwnedFd>,
}

impl StructOpsLink {
    /// The struct_ops' name in the object.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it is registered through a link (Linux 6.4+) rather than
    /// by the map's element.
    pub fn has_link(&self) -> bool {
        self.link.is_some()
    }
}

impl Drop for StructOpsLink {
    fn drop(&mut self) {
        match self.link.take() {
            // Closing the link unregisters.
            Some(link) => drop(link),
            None => {
                if let Err(e) = sys::map_delete_elem(self.map.as_fd(), &0u32.to_le_bytes()) {
                    log::warn!("unregistering struct_ops `{}`: {e}", self.name);
                }
            }
        }
    }
}

/// Which struct_ops program goes where: each named program's
/// `(attach_btf_id, member index)`, and the programs that only struct_ops
/// whose maps are not created name.
#[derive(Debug, Default)]
pub(crate) struct ProgramSlots {
    slots: HashMap<String, (u32, u32)>,
    unused: HashSet<String>,
}

impl ProgramSlots {
    /// The struct and member of program `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&(u32, u32)> {
        self.slots.get(name)
    }

    /// libbpf's autoload rule for struct_ops programs
    /// (`bpf_object_adjust_struct_ops_autoload`): a program that a created
    /// struct_ops names loads, `?` or not; one that only struct_ops left
    /// uncreated (`?.struct_ops`) name does not. `off` is the set of
    /// programs not loaded by default.
    pub(crate) fn autoload(&self, mut off: HashSet<String>) -> HashSet<String> {
        off.retain(|name| !self.slots.contains_key(name));
        off.extend(self.unused.iter().cloned());
        off
    }

    /// For a struct_ops program `name` (section `section`), its struct's
    /// type id (the load's `attach_btf_id`), with the member index set as
    /// `load`'s expected attach type; `None` for other programs. A
    /// struct_ops program that no struct_ops names is refused, as libbpf
    /// refuses it.
    pub(crate) fn attach(
        &self,
        name: &str,
        section: &str,
        load: &mut super::LoadType,
    ) -> Result<Option<u32>> {
        if load.prog_type != aya_obj::generated::bpf_prog_type::BPF_PROG_TYPE_STRUCT_OPS as u32 {
            return Ok(None);
        }
        let (struct_id, member) =
            self.get(name)
                .copied()
                .ok_or_else(|| Error::UnsupportedProgram {
                    name: name.to_owned(),
                    section: section.to_owned(),
                    reason: UNREFERENCED,
                })?;
        load.expected_attach_type = member;
        Ok(Some(struct_id))
    }
}

/// The struct_ops of an object (Rust records and C `.struct_ops`
/// variables), resolved against the running kernel, and where each
/// program goes.
pub(crate) fn resolve_all(file: &object::File<'_>) -> Result<(Vec<Layout>, ProgramSlots)> {
    let records = records(file)?;
    let local = if file
        .sections()
        .any(|s| s.name().is_ok_and(|n| variable_section(n).is_some()))
    {
        object_btf(file)?
    } else {
        None
    };
    let variables = variables(file, local.as_ref())?;
    let mut programs = ProgramSlots::default();
    if records.is_empty() && variables.is_empty() {
        return Ok((Vec::new(), programs));
    }
    let btf = crate::core_relo::kernel_btf()?;
    let mut layouts = Vec::new();
    for record in &records {
        if !crate::features::struct_ops(&record.kernel_struct) {
            return Err(Error::MissingFeature {
                feature: "struct_ops (BPF_PROG_TYPE_STRUCT_OPS, Linux 5.6 with CONFIG_BPF_JIT)",
                detail: format!(
                    "no `{VALUE_PREFIX}{}` in the kernel's BTF, for struct_ops `{}`",
                    record.kernel_struct, record.name
                ),
            });
        }
        layouts.push(resolve(btf, record)?);
    }
    for var in &variables {
        if !var.created {
            // libbpf neither resolves nor creates it; its programs stay
            // unloaded unless a created one names them.
            programs
                .unused
                .extend(var.programs.iter().flatten().cloned());
            continue;
        }
        if let Some(local) = &local {
            layouts.push(resolve_variable(local, btf, var)?);
        }
    }
    for layout in &layouts {
        for slot in &layout.slots {
            let place = (layout.struct_id, slot.index);
            match programs.slots.insert(slot.program.clone(), place) {
                Some(before) if before != place => {
                    return Err(Error::StructOpsMember {
                        name: layout.name.clone(),
                        kernel_struct: layout.kernel_struct.clone(),
                        member: slot.member.clone(),
                        problem: format!(
                            "program `{}` fills another member (or another struct) elsewhere; a struct_ops program fills one member of one kernel struct, so write one program per member",
                            slot.program
                        ),
                    });
                }
                _ => {}
            }
        }
    }
    programs.unused.retain(|p| !programs.slots.contains_key(p));
    layouts.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((layouts, programs))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A crafted BTF: `int`, a function prototype and a pointer to it,
    /// `struct ops { fn *a; fn *b; char name[8]; int flags; }` and its
    /// wrapper `struct bpf_struct_ops_ops { int common; struct ops data; }`.
    fn crafted() -> Btf {
        crafted_as("ops", "flags")
    }

    /// [`crafted`] with the struct named `ops` and its last member `last`
    /// (an object's own struct, as clang writes it).
    fn crafted_as(ops: &str, last: &str) -> Btf {
        let mut strings =
            format!("\0int\0{ops}\0a\0b\0name\0{last}\0bpf_struct_ops_ops\0common\0data\0char\0")
                .into_bytes();
        let off = |s: &str, strings: &[u8]| {
            strings
                .windows(s.len() + 2)
                .position(|w| w[0] == 0 && &w[1..=s.len()] == s.as_bytes() && w[s.len() + 1] == 0)
                .map(|p| p as u32 + 1)
                .unwrap()
        };
        let mut types: Vec<u32> = Vec::new();
        // 1: int
        types.extend([off("int", &strings), 1 << 24, 4, 32]);
        // 2: func proto returning int, no params
        types.extend([0, 13 << 24, 1]);
        // 3: pointer to 2
        types.extend([0, 2 << 24, 2]);
        // 4: char
        types.extend([off("char", &strings), 1 << 24, 1, 8]);
        // 5: char[8]
        types.extend([0, 3 << 24, 0, 4, 1, 8]);
        // 6: struct ops (4 members, 32 bytes)
        types.extend([off(ops, &strings), (4 << 24) | 4, 32]);
        types.extend([off("a", &strings), 3, 0]);
        types.extend([off("b", &strings), 3, 64]);
        types.extend([off("name", &strings), 5, 128]);
        types.extend([off(last, &strings), 1, 192]);
        // 7: struct bpf_struct_ops_ops (2 members, 40 bytes)
        types.extend([off("bpf_struct_ops_ops", &strings), (4 << 24) | 2, 40]);
        types.extend([off("common", &strings), 1, 0]);
        types.extend([off("data", &strings), 6, 64]);
        let types: Vec<u8> = types.iter().flat_map(|w| w.to_le_bytes()).collect();
        strings.push(0);
        let mut btf = Vec::new();
        btf.extend_from_slice(&0xeb9f_u16.to_le_bytes());
        btf.extend_from_slice(&[1, 0]);
        for word in [
            24u32,
            0,
            types.len() as u32,
            types.len() as u32,
            strings.len() as u32,
        ] {
            btf.extend_from_slice(&word.to_le_bytes());
        }
        btf.extend_from_slice(&types);
        btf.extend_from_slice(&strings);
        Btf::parse(btf).unwrap()
    }

    fn record(members: &[(&str, &str)]) -> Record {
        Record {
            kernel_struct: "ops".into(),
            name: "cc".into(),
            flags: 2,
            members: members
                .iter()
                .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn records_round_trip() {
        let text = b"tcp_congestion_ops|iu_reno|0|ssthresh=iu_reno_ssthresh,init=iu_reno_init";
        let mut bytes = b"IUSO".to_vec();
        bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
        bytes.extend_from_slice(text);
        let r = parse_record(&bytes).unwrap();
        assert_eq!(r.kernel_struct, "tcp_congestion_ops");
        assert_eq!(r.name, "iu_reno");
        assert_eq!(r.members[1], ("init".into(), "iu_reno_init".into()));
        assert!(parse_record(&bytes[..bytes.len() - 1]).is_err());
        assert!(parse_record(b"IUSX\x01\x00a").is_err());
        assert!(parse_record(b"IUSO\x05\x00a|b|0|").is_err());
    }

    #[test]
    fn layout_places_programs_name_and_flags() {
        let btf = crafted();
        let layout = resolve(&btf, &record(&[("b", "cc_b"), ("a", "cc_a")])).unwrap();
        assert_eq!(layout.template.len(), 40);
        assert_eq!(&layout.template[32..36], &2u32.to_le_bytes(), "flags");
        assert_eq!(layout.slots[0].index, 1);
        assert_eq!(layout.slots[0].offset, 16);
        assert_eq!(layout.slots[1].index, 0);
        assert_eq!(layout.slots[1].offset, 8);
        assert!(
            layout.link,
            "Rust struct_ops take a link where there are links"
        );
        let fds = HashMap::from([("cc_a", 7), ("cc_b", 9)]);
        let value = layout.value(&fds).unwrap();
        assert_eq!(&value[8..16], &7u64.to_le_bytes());
        assert_eq!(&value[16..24], &9u64.to_le_bytes());
        assert_eq!(&value[24..27], b"cc\0");
        assert!(
            value[..8].iter().all(|&b| b == 0),
            "the common part stays 0"
        );
        // A program that was not loaded.
        assert!(matches!(
            layout.value(&HashMap::from([("cc_a", 7)])),
            Err(Error::Relocation(_))
        ));
    }

    /// A C variable of `local`'s struct (type 6): `name` = "cc", program
    /// `cc_b` in `b`, `last` = `last_value`.
    fn variable(last_value: u8) -> Variable {
        let mut data = vec![0u8; 32];
        data[16..18].copy_from_slice(b"cc");
        data[24] = last_value;
        Variable {
            name: "my_cc".into(),
            section: ".struct_ops.link".into(),
            link: true,
            created: true,
            type_id: 6,
            data,
            programs: vec![None, Some("cc_b".into()), None, None],
        }
    }

    #[test]
    fn c_variables_fill_the_kernel_struct_by_member_name() {
        let kernel = crafted();
        // The object's struct is a `___flavor` of the kernel's; its members
        // keep their names.
        let local = crafted_as("ops___mine", "flags");
        let layout = resolve_variable(&local, &kernel, &variable(7)).unwrap();
        assert_eq!(layout.name, "my_cc");
        assert_eq!(layout.kernel_struct, "ops");
        assert!(layout.link);
        assert_eq!(
            layout.slots,
            [Slot {
                member: "b".into(),
                program: "cc_b".into(),
                index: 1,
                offset: 16
            }]
        );
        // `name` copied into the kernel's layout (data at 8).
        assert_eq!(&layout.template[24..27], b"cc\0");
        assert_eq!(layout.template[32], 7, "`flags` copied");
        let value = layout.value(&HashMap::from([("cc_b", 5)])).unwrap();
        assert_eq!(&value[16..24], &5u64.to_le_bytes());
        assert!(value[8..16].iter().all(|&b| b == 0), "`a` stays NULL");
    }

    #[test]
    fn c_members_the_kernel_lacks_must_be_zero() {
        let kernel = crafted();
        // The object's struct has `extra` where the kernel's has `flags`.
        let local = crafted_as("ops", "extra");
        let layout = resolve_variable(&local, &kernel, &variable(0)).unwrap();
        assert_eq!(layout.slots.len(), 1, "a zero `extra` is skipped");
        let err = resolve_variable(&local, &kernel, &variable(3)).unwrap_err();
        assert!(
            matches!(&err, Error::StructOpsMember { member, .. } if member == "extra"),
            "{err}"
        );
        // A program in a member the kernel lacks.
        let mut var = variable(0);
        var.programs[3] = Some("cc_x".into());
        assert!(matches!(
            resolve_variable(&local, &kernel, &var),
            Err(Error::StructOpsUnknownMember { member, .. }) if member == "extra"
        ));
        // A struct the kernel lacks, named as libbpf names it.
        let local = crafted_as("sched_ext_ops", "flags");
        assert!(matches!(
            resolve_variable(&local, &kernel, &variable(0)),
            Err(Error::StructOpsUnknownStruct { kernel_struct, .. }) if kernel_struct == "sched_ext_ops"
        ));
    }

    #[test]
    fn struct_ops_program_sections_are_libbpfs() {
        assert_eq!(program_section("struct_ops"), Some(false));
        assert_eq!(program_section("struct_ops/ssthresh"), Some(false));
        assert_eq!(program_section("struct_ops.s"), Some(true));
        assert_eq!(program_section("struct_ops.s/test_2"), Some(true));
        assert_eq!(program_section("struct_opsx"), None);
        assert_eq!(program_section("kprobe/x"), None);
        assert_eq!(variable_section(".struct_ops"), Some((false, true)));
        assert_eq!(variable_section("?.struct_ops.link"), Some((true, false)));
        assert_eq!(variable_section(".struct_ops.linkx"), None);
    }

    #[test]
    fn autoload_follows_the_struct_ops_that_name_programs() {
        let slots = ProgramSlots {
            slots: HashMap::from([("named".to_owned(), (6, 1))]),
            unused: HashSet::from(["uncreated".to_owned()]),
        };
        let off = slots.autoload(HashSet::from(["named".to_owned(), "other".to_owned()]));
        assert_eq!(
            off,
            HashSet::from(["other".to_owned(), "uncreated".to_owned()])
        );
    }

    #[test]
    fn unknown_struct_and_member_are_typed_errors() {
        let btf = crafted();
        let mut r = record(&[("a", "cc_a")]);
        r.kernel_struct = "sched_ext_ops".into();
        assert!(matches!(
            resolve(&btf, &r),
            Err(Error::StructOpsUnknownStruct { kernel_struct, .. }) if kernel_struct == "sched_ext_ops"
        ));
        let err = resolve(&btf, &record(&[("cong_control", "cc_x")])).unwrap_err();
        let Error::StructOpsUnknownMember {
            member, available, ..
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!(member, "cong_control");
        assert_eq!(available, &["a", "b"]);
        assert!(err.to_string().contains("cong_control"), "{err}");
        // `name` is a member, but not a function pointer.
        assert!(matches!(
            resolve(&btf, &record(&[("name", "cc_x")])),
            Err(Error::StructOpsUnknownMember { .. })
        ));
    }

    #[test]
    fn placeholder_btf_parses() {
        let btf = Btf::parse(placeholder_btf()).unwrap();
        assert_eq!(btf.get(1).map(|t| t.name.as_str()), Some("int"));
    }
}
