//! struct_ops (`BPF_PROG_TYPE_STRUCT_OPS`, `BPF_MAP_TYPE_STRUCT_OPS`,
//! Linux 5.6): a kernel struct of function pointers — a TCP congestion
//! control, `struct tcp_congestion_ops` — filled with BPF programs and
//! registered with its subsystem.
//!
//! The program side (`#[struct_ops(name = "...")]` on an impl of
//! `iu_ebpf::programs::TcpCongestionOps`) emits one program per callback,
//! in section `struct_ops/<member>`, and a record in section
//! `iu_struct_ops.<name>`: `IUSO`, a `u16` length, and the text
//! `struct|name|flags|member=program,...`. At load, the loader finds
//! `struct <struct>` and its wrapper `struct bpf_struct_ops_<struct>` in
//! the kernel's BTF, and loads each program with `attach_btf_id` = the
//! struct's type id and `expected_attach_type` = the member's index.
//! [`StructOps::register`] then creates the struct_ops map (key `u32`,
//! value the wrapper), writes the wrapper's `data` member laid out as the
//! kernel's struct (program fds in the function-pointer slots, the name,
//! the flags), and registers it: with a link (`BPF_F_LINK`, Linux 6.4)
//! that unregisters when closed, or, before 6.4, by the map update itself,
//! undone by deleting the element (as libbpf does).

use std::{
    collections::HashMap,
    os::fd::{AsFd, OwnedFd},
};

use object::{Object, ObjectSection};

use crate::{
    btf::{Btf, Kind},
    error::{Error, Result},
    sys,
};

/// The 4 bytes that start a record (`iu_macros::struct_ops`).
const RECORD_TAG: &[u8; 4] = b"IUSO";
/// Section-name prefix of the records.
const RECORD_PREFIX: &str = "iu_struct_ops.";
/// The prefix of each program's section.
pub(crate) const SECTION_PREFIX: &str = "struct_ops/";
/// The prefix the kernel gives the wrapper of a struct_ops value type.
const VALUE_PREFIX: &str = "bpf_struct_ops_";

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
    /// The member's index in the struct (the program's
    /// `expected_attach_type`).
    pub index: u32,
    /// The byte offset of the function pointer in the wrapper's value.
    pub offset: u32,
}

/// A record resolved against a kernel's BTF: everything the programs' load
/// and the map need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    /// The record.
    pub record: Record,
    /// The type id of `struct <kernel_struct>` (the programs'
    /// `attach_btf_id`).
    pub struct_id: u32,
    /// The type id of `struct bpf_struct_ops_<kernel_struct>` (the map's
    /// `btf_vmlinux_value_type_id`).
    pub value_type_id: u32,
    /// The wrapper's size (the map's value size).
    pub value_size: u32,
    /// Byte offset and length of the `name` char array in the value.
    pub name_field: Option<(u32, u32)>,
    /// Byte offset and size of the `flags` member in the value.
    pub flags_field: Option<(u32, u32)>,
    /// One per program.
    pub slots: Vec<Slot>,
}

/// Resolves `record` against `btf` (the kernel's).
pub(crate) fn resolve(btf: &Btf, record: &Record) -> Result<Layout> {
    let find_struct = |name: &str| {
        btf.by_name(name).find(|&id| {
            btf.get(id)
                .is_some_and(|t| t.kind == Kind::Struct && t.name == name)
        })
    };
    let unknown = || Error::StructOpsUnknownStruct {
        name: record.name.clone(),
        kernel_struct: record.kernel_struct.clone(),
    };
    let struct_id = find_struct(&record.kernel_struct).ok_or_else(unknown)?;
    let value_type_id =
        find_struct(&format!("{VALUE_PREFIX}{}", record.kernel_struct)).ok_or_else(unknown)?;
    let wrapper = btf.get(value_type_id).ok_or_else(unknown)?;
    let data = wrapper
        .members
        .iter()
        .find(|m| m.name == "data")
        .ok_or_else(unknown)?;
    let data_offset = data.bit_offset / 8;
    let kernel_struct = btf.get(struct_id).ok_or_else(unknown)?;
    let member = |name: &str| {
        kernel_struct
            .members
            .iter()
            .enumerate()
            .find(|(_, m)| m.name == name)
    };
    let mut slots = Vec::new();
    for (name, program) in &record.members {
        let Some((index, m)) = member(name) else {
            return Err(Error::StructOpsUnknownMember {
                name: record.name.clone(),
                kernel_struct: record.kernel_struct.clone(),
                member: name.clone(),
                program: program.clone(),
                available: function_members(btf, &kernel_struct.members),
            });
        };
        let is_fn_ptr = btf
            .get(btf.skip_mods_and_typedefs(m.type_id))
            .is_some_and(|t| t.kind == Kind::Ptr)
            && btf
                .get(
                    btf.skip_mods_and_typedefs(
                        btf.get(btf.skip_mods_and_typedefs(m.type_id))
                            .map_or(0, |t| t.type_id),
                    ),
                )
                .is_some_and(|t| t.kind == Kind::FuncProto);
        if !is_fn_ptr {
            return Err(Error::StructOpsUnknownMember {
                name: record.name.clone(),
                kernel_struct: record.kernel_struct.clone(),
                member: name.clone(),
                program: program.clone(),
                available: function_members(btf, &kernel_struct.members),
            });
        }
        slots.push(Slot {
            member: name.clone(),
            program: program.clone(),
            index: index as u32,
            offset: data_offset + m.bit_offset / 8,
        });
    }
    let field = |name: &str| {
        member(name).and_then(|(_, m)| {
            let size = btf.size_of(m.type_id)?;
            Some((data_offset + m.bit_offset / 8, size as u32))
        })
    };
    Ok(Layout {
        record: record.clone(),
        struct_id,
        value_type_id,
        value_size: wrapper.size,
        name_field: field("name"),
        flags_field: field("flags"),
        slots,
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

impl Layout {
    /// The map value: zeros, with each program's fd in its slot, the name
    /// and the flags. `fds` gives each program's descriptor by name.
    pub(crate) fn value(&self, fds: &HashMap<&str, i32>) -> Result<Vec<u8>> {
        let mut value = vec![0u8; self.value_size as usize];
        let mut put = |offset: u32, bytes: &[u8]| {
            let at = offset as usize;
            value
                .get_mut(at..at + bytes.len())
                .map(|dst| dst.copy_from_slice(bytes))
                .ok_or_else(|| {
                    Error::Parse(format!(
                        "struct_ops `{}`: a member lies outside the kernel's {}-byte value",
                        self.record.name, self.value_size
                    ))
                })
        };
        for slot in &self.slots {
            let fd = fds.get(slot.program.as_str()).copied().ok_or_else(|| {
                Error::Relocation(format!(
                    "struct_ops `{}`: program `{}` (member `{}`) was not loaded; do not skip it",
                    self.record.name, slot.program, slot.member
                ))
            })?;
            // The kernel reads the fd from the pointer-sized slot.
            put(slot.offset, &u64::from(fd as u32).to_le_bytes())?;
        }
        if let Some((offset, len)) = self.name_field {
            let name = self.record.name.as_bytes();
            if name.len() >= len as usize {
                return Err(Error::Parse(format!(
                    "struct_ops name `{}` is longer than the kernel's {} bytes",
                    self.record.name,
                    len.saturating_sub(1)
                )));
            }
            put(offset, name)?;
        }
        match (self.flags_field, self.record.flags) {
            (_, 0) => {}
            (Some((offset, 4)), flags) => put(offset, &flags.to_le_bytes())?,
            _ => {
                return Err(Error::Parse(format!(
                    "struct_ops `{}` sets flags, which `struct {}` has no 32-bit member for",
                    self.record.name, self.record.kernel_struct
                )));
            }
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

/// Creates the struct_ops map of `layout` (with `BPF_F_LINK` if `link`)
/// and writes its value. Shared with the feature probe.
pub(crate) fn create_map(
    layout: &Layout,
    value: &[u8],
    link: bool,
) -> std::result::Result<OwnedFd, (&'static str, std::io::Error)> {
    let btf = sys::btf_load(&placeholder_btf(), &mut []).map_err(|e| ("bpf(BPF_BTF_LOAD)", e))?;
    let map = sys::map_create_struct_ops(
        &layout.record.name,
        layout.value_size,
        layout.value_type_id,
        btf.as_fd(),
        link,
    )
    .map_err(|e| ("bpf(BPF_MAP_CREATE)", e))?;
    sys::map_update_elem(map.as_fd(), &0u32.to_le_bytes(), value, 0)
        .map_err(|e| ("bpf(BPF_MAP_UPDATE_ELEM)", e))?;
    Ok(map)
}

/// A struct_ops of a loaded object, ready to register.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// // `#[struct_ops(name = "iu_reno")] impl TcpCongestionOps for IuReno { ... }`
/// let registration = ebpf.struct_ops("iu_reno")?.register()?;
/// // Sockets can now select it: setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "iu_reno").
/// drop(registration); // unregistered
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct StructOps<'a> {
    pub(crate) layout: &'a Layout,
    pub(crate) programs: &'a HashMap<String, super::Program>,
}

impl StructOps<'_> {
    /// The name it registers under.
    pub fn name(&self) -> &str {
        &self.layout.record.name
    }

    /// The kernel struct it fills (`tcp_congestion_ops`).
    pub fn kernel_struct(&self) -> &str {
        &self.layout.record.kernel_struct
    }

    /// The members it fills and their programs, in the object's order.
    pub fn members(&self) -> impl Iterator<Item = (&str, &str)> {
        self.layout
            .slots
            .iter()
            .map(|s| (s.member.as_str(), s.program.as_str()))
    }

    /// Registers the struct with its subsystem (a TCP congestion control
    /// becomes selectable by name) until the returned handle drops. Linux
    /// 6.4+ registers through a link; older kernels through the map
    /// update, undone by deleting the element on drop.
    pub fn register(&self) -> Result<StructOpsLink> {
        let layout = self.layout;
        let name = &layout.record.name;
        let fds: HashMap<&str, i32> = layout
            .slots
            .iter()
            .filter_map(|s| {
                use std::os::fd::AsRawFd;
                let program = self.programs.get(&s.program)?;
                Some((s.program.as_str(), program.fd.as_raw_fd()))
            })
            .collect();
        let value = layout.value(&fds)?;
        let link = crate::features::struct_ops_link();
        let fail = |call: &'static str, e: std::io::Error| {
            let hint = match e.raw_os_error() {
                Some(libc::EEXIST) => Some(
                    "a struct of this name is already registered (another TCP congestion control called so, or this one still registered)",
                ),
                Some(libc::EINVAL) => Some(
                    "the kernel refused the struct: a required member is missing (a TCP congestion control needs ssthresh, undo_cwnd and cong_avoid) or the name is invalid",
                ),
                // 524: the kernel's internal ENOTSUPP.
                Some(524 | libc::EOPNOTSUPP) => {
                    Some("the kernel lacks struct_ops for this struct (CONFIG_BPF_JIT)")
                }
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
        let map = create_map(layout, &value, link).map_err(|(call, e)| fail(call, e))?;
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
    /// The name it is registered under.
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

/// Each struct_ops program's `(attach_btf_id, member index)`, by name.
pub(crate) type ProgramSlots = HashMap<String, (u32, u32)>;

/// The struct_ops of an object, resolved against the running kernel, and
/// each program's `(attach_btf_id, member index)`.
pub(crate) fn resolve_all(file: &object::File<'_>) -> Result<(Vec<Layout>, ProgramSlots)> {
    let records = records(file)?;
    if records.is_empty() {
        return Ok((Vec::new(), HashMap::new()));
    }
    let btf = crate::core_relo::kernel_btf()?;
    let mut layouts = Vec::new();
    let mut programs = HashMap::new();
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
        let layout = resolve(btf, record)?;
        for slot in &layout.slots {
            programs.insert(slot.program.clone(), (layout.struct_id, slot.index));
        }
        layouts.push(layout);
    }
    Ok((layouts, programs))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A crafted BTF: `int`, a function prototype and a pointer to it,
    /// `struct ops { fn *a; fn *b; char name[8]; int flags; }` and its
    /// wrapper `struct bpf_struct_ops_ops { int common; struct ops data; }`.
    fn crafted() -> Btf {
        let mut strings =
            b"\0int\0ops\0a\0b\0name\0flags\0bpf_struct_ops_ops\0common\0data\0char\0".to_vec();
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
        // 6: struct ops (4 members, 24 bytes)
        types.extend([off("ops", &strings), (4 << 24) | 4, 24]);
        types.extend([off("a", &strings), 3, 0]);
        types.extend([off("b", &strings), 3, 64]);
        types.extend([off("name", &strings), 5, 128]);
        types.extend([off("flags", &strings), 1, 192]);
        // 7: struct bpf_struct_ops_ops (2 members, 32 bytes)
        types.extend([off("bpf_struct_ops_ops", &strings), (4 << 24) | 2, 32]);
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
        assert_eq!(layout.value_size, 32);
        assert_eq!(layout.slots[0].index, 1);
        assert_eq!(layout.slots[0].offset, 16);
        assert_eq!(layout.slots[1].index, 0);
        assert_eq!(layout.slots[1].offset, 8);
        assert_eq!(layout.name_field, Some((24, 8)));
        assert_eq!(layout.flags_field, Some((32, 4)));
        // `flags` at 32 lies past the 32-byte value of this crafted
        // wrapper: refused, not written out of bounds.
        let fds = HashMap::from([("cc_a", 7), ("cc_b", 9)]);
        assert!(matches!(layout.value(&fds), Err(Error::Parse(_))));
        let mut no_flags = layout.clone();
        no_flags.record.flags = 0;
        let value = no_flags.value(&fds).unwrap();
        assert_eq!(&value[8..16], &7u64.to_le_bytes());
        assert_eq!(&value[16..24], &9u64.to_le_bytes());
        assert_eq!(&value[24..27], b"cc\0");
        assert!(
            value[..8].iter().all(|&b| b == 0),
            "the common part stays 0"
        );
        // A program that was not loaded.
        assert!(matches!(
            no_flags.value(&HashMap::from([("cc_a", 7)])),
            Err(Error::Relocation(_))
        ));
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
