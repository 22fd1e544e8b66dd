//! CO-RE relocations of iu programs, resolved without compiler support.
//!
//! `iu_ebpf::kernel` access sites leave two things in the object (see that
//! module): a record per site, in a section `iu_core.<hash>`
//! (`kind|type|path|local size|shape`), and a 64-bit constant load
//! `rX = iu_ebpf::kernel::MAGIC << 32 | hash` where the program uses the
//! value. Here each record is resolved against the running kernel's BTF
//! with libbpf's rules (`relo_core.c`):
//!
//! - a type matches when its name, `___flavor` suffix removed, is the
//!   record's, and its kind is compatible (struct or union for fields);
//! - each field of the path matches a member by name, searching through
//!   anonymous struct and union members;
//! - the field's type must be compatible with the local one (int with int,
//!   enum with enum, pointer with pointer, composite with composite, array
//!   with array) and, for reads, of the same size;
//! - several candidate types (flavors) must agree, or the load fails.
//!
//! Each placeholder load becomes `rX = value` (a `mov` and a `ja +0` the
//! verifier drops, or a 64-bit load if the value needs it). A site whose
//! field or type the kernel lacks becomes `call 0xbadc000 + n` instead:
//! the verifier refuses it only if it is reachable, so sites behind a
//! `field_exists!` check cost nothing, and an unconditional one is turned
//! into [`Error::CoreRelocation`], naming the Rust line.
//!
//! The kernel's BTF is parsed at most once per process, and only for
//! objects that have records.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use aya_obj::{Object, generated::bpf_insn};
use iu_ebpf::kernel::{MAGIC, RECORD_TAG, SECTION_PREFIX, record_hash};

use crate::btf::{Btf, Kind, essential_name};
use crate::{Error, Result, SourceLine};

/// `BPF_LD | BPF_IMM | BPF_DW`.
const LD_IMM64: u8 = 0x18;
/// `BPF_ALU64 | BPF_MOV | BPF_K`.
const MOV64_IMM: u8 = 0xb7;
/// `BPF_JMP | BPF_JA`.
const JA: u8 = 0x05;
/// `BPF_JMP | BPF_CALL`.
const CALL: u8 = 0x85;
/// The helper id of the first poisoned site; the verifier calls it
/// `unknown#<id>`.
const POISON: u32 = 0x0bad_c000;
/// At most this many distinct sites per object.
const MAX_RECORDS: usize = 0x1000;

/// One access site's record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    /// `o` offset, `s` size, `e` exists, `g` signed, `v` enum value, `V`
    /// enum value exists, `t` type exists, `z` type size, `i` type id.
    kind: char,
    /// The root type (`task_struct`, or `struct task_struct` for type
    /// kinds).
    ty: String,
    /// The field path (`real_parent`, `se.vruntime`) or enumerator.
    path: String,
    /// The size of the field the program reads (0: any).
    local_size: u64,
    /// The field's local shape: `i` int, `E` enum, `p` pointer, `c`
    /// struct or union, `a` array, `-` any.
    shape: char,
    /// Where the macro was invoked: `file:line:column`.
    site: String,
}

impl Record {
    fn parse(text: &str) -> Option<Record> {
        let mut parts = text.split('|');
        let kind = parts.next()?.chars().next()?;
        let ty = parts.next()?.to_owned();
        let path = parts.next()?.to_owned();
        let local_size = parts.next()?.parse().ok()?;
        let shape = parts.next()?.chars().next()?;
        let site = parts.next().unwrap_or_default().to_owned();
        if parts.next().is_some() || !"osegvVtzi".contains(kind) || ty.is_empty() {
            return None;
        }
        Some(Record {
            kind,
            ty,
            path,
            local_size,
            shape,
            site,
        })
    }

    /// The invocation site as a source line, if the record has one.
    fn site_line(&self) -> Option<SourceLine> {
        let mut parts = self.site.rsplitn(3, ':');
        let _column = parts.next()?;
        let line = parts.next()?.parse().ok()?;
        let file = parts.next()?.to_owned();
        Some(SourceLine {
            file,
            line,
            code: String::new(),
        })
    }

    /// `task_struct.real_parent`, `enum pid_type::PIDTYPE_TGID`,
    /// `struct task_struct`.
    fn target(&self) -> String {
        match self.kind {
            'v' | 'V' => format!("enum {}::{}", self.ty, self.path),
            't' | 'z' | 'i' => self.ty.clone(),
            _ => format!("{}.{}", self.ty, self.path),
        }
    }
}

/// The records of an object, by hash.
pub(crate) fn records(file: &object::File<'_>) -> Result<BTreeMap<u32, Record>> {
    use object::{Object as _, ObjectSection as _};
    let mut out: BTreeMap<u32, Record> = BTreeMap::new();
    let bad = |why: String| Error::Parse(format!("CO-RE records (`iu_core.*` sections): {why}"));
    for section in file.sections() {
        if !section.name().is_ok_and(|n| n.starts_with(SECTION_PREFIX)) {
            continue;
        }
        let data = section.data().map_err(|e| bad(e.to_string()))?;
        let mut at = 0;
        while at + 10 <= data.len() {
            if data[at..at + 4] != RECORD_TAG {
                at += 1;
                continue;
            }
            let hash = u32::from_le_bytes([data[at + 4], data[at + 5], data[at + 6], data[at + 7]]);
            let len = usize::from(u16::from_le_bytes([data[at + 8], data[at + 9]]));
            let text = data
                .get(at + 10..at + 10 + len)
                .and_then(|t| std::str::from_utf8(t).ok())
                .ok_or_else(|| bad(format!("truncated record at byte {at}")))?;
            if record_hash(text) != hash {
                return Err(bad(format!(
                    "record `{text}` does not match its hash {hash:#x}"
                )));
            }
            let record =
                Record::parse(text).ok_or_else(|| bad(format!("malformed record `{text}`")))?;
            if let Some(old) = out.insert(hash, record.clone())
                && old != record
            {
                return Err(bad(format!(
                    "two records share hash {hash:#x}: {old:?} and {record:?}"
                )));
            }
            at += 10 + len;
        }
    }
    if out.len() > MAX_RECORDS {
        return Err(bad(format!(
            "{} distinct access sites; iu supports at most {MAX_RECORDS} per object",
            out.len()
        )));
    }
    Ok(out)
}

/// What a site becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Resolution {
    /// The value the program sees.
    Value(u64),
    /// The site cannot be resolved on this kernel: why.
    Missing(String),
}

fn composite(kind: Kind) -> bool {
    matches!(kind, Kind::Struct | Kind::Union)
}

/// Finds member `name` in composite `id`, through anonymous members:
/// its bit offset from `id`'s start and the member.
fn find_member<'b>(
    btf: &'b Btf,
    id: u32,
    name: &str,
    depth: u32,
) -> Option<(u64, &'b crate::btf::Member)> {
    let ty = btf.get(btf.skip_mods_and_typedefs(id))?;
    if !composite(ty.kind) || depth > 32 {
        return None;
    }
    for m in &ty.members {
        if m.name == name {
            return Some((u64::from(m.bit_offset), m));
        }
        if m.name.is_empty()
            && let Some((off, found)) = find_member(btf, m.type_id, name, depth + 1)
        {
            return Some((u64::from(m.bit_offset) + off, found));
        }
    }
    None
}

/// Whether a kernel field's type fits the local shape.
fn shape_fits(btf: &Btf, id: u32, shape: char) -> bool {
    let Some(ty) = btf.get(btf.skip_mods_and_typedefs(id)) else {
        return false;
    };
    match shape {
        'i' => ty.kind == Kind::Int,
        'E' => matches!(ty.kind, Kind::Enum | Kind::Enum64),
        'p' => ty.kind == Kind::Ptr,
        'c' => composite(ty.kind),
        'a' => ty.kind == Kind::Array,
        _ => true,
    }
}

/// A field path resolved in one candidate type.
fn resolve_field(btf: &Btf, root: u32, record: &Record) -> std::result::Result<u64, String> {
    let mut id = root;
    let mut bit_offset = 0u64;
    let mut member = None;
    for name in record.path.split('.') {
        let Some((off, m)) = find_member(btf, id, name, 0) else {
            return Err(format!("no field `{name}`"));
        };
        bit_offset += off;
        id = m.type_id;
        member = Some(m);
    }
    let Some(m) = member else {
        return Err("empty field path".into());
    };
    if !shape_fits(btf, m.type_id, record.shape) {
        return Err(format!(
            "the kernel's field has an incompatible type (local: {})",
            shape_name(record.shape)
        ));
    }
    let bitfield = m.bitfield_size != 0 || !bit_offset.is_multiple_of(8);
    let size = btf.size_of(m.type_id).unwrap_or(0);
    Ok(match record.kind {
        'e' => 1,
        'o' | 's' if bitfield => {
            return Err("the kernel's field is a bitfield, which iu does not read".into());
        }
        'o' => {
            if record.local_size != 0 && size != record.local_size {
                return Err(format!(
                    "the kernel's field is {size} bytes, the program reads {}",
                    record.local_size
                ));
            }
            bit_offset / 8
        }
        's' => size,
        'g' => {
            let ty = btf.get(btf.skip_mods_and_typedefs(m.type_id));
            u64::from(ty.is_some_and(|t| t.signed))
        }
        _ => return Err("not a field relocation".into()),
    })
}

fn shape_name(shape: char) -> &'static str {
    match shape {
        'i' => "integer",
        'E' => "enum",
        'p' => "pointer",
        'c' => "struct or union",
        'a' => "array",
        _ => "any",
    }
}

/// Resolves one record against `btf`. Candidates that disagree (two
/// flavors with different answers) are an error, as in libbpf.
pub(crate) fn resolve(btf: &Btf, record: &Record) -> std::result::Result<Resolution, String> {
    let mut answers: Vec<u64> = Vec::new();
    let mut why = None;
    match record.kind {
        'o' | 's' | 'e' | 'g' => {
            for id in btf.by_name(&record.ty) {
                if !btf.get(id).is_some_and(|t| composite(t.kind)) {
                    continue;
                }
                match resolve_field(btf, id, record) {
                    Ok(v) => answers.push(v),
                    Err(e) => why = Some(e),
                }
            }
        }
        't' | 'z' | 'i' => {
            let (keyword, name) = record.ty.split_once(' ').unwrap_or(("struct", &record.ty));
            for id in btf.by_name(name) {
                let Some(ty) = btf.get(id) else { continue };
                if ty.kind.keyword() != keyword {
                    continue;
                }
                answers.push(match record.kind {
                    't' => 1,
                    'z' => btf.size_of(id).unwrap_or(0),
                    _ => u64::from(id),
                });
            }
        }
        'v' | 'V' => {
            for id in btf.by_name(&record.ty) {
                let Some(ty) = btf.get(id) else { continue };
                if !matches!(ty.kind, Kind::Enum | Kind::Enum64) {
                    continue;
                }
                let wanted = essential_name(&record.path);
                match ty
                    .enumerators
                    .iter()
                    .find(|(n, _)| essential_name(n) == wanted)
                {
                    Some((_, v)) => answers.push(if record.kind == 'V' { 1 } else { *v }),
                    None => why = Some(format!("no enumerator `{}`", record.path)),
                }
            }
        }
        _ => return Err(format!("unknown kind `{}`", record.kind)),
    }
    answers.dedup();
    match answers.as_slice() {
        [] if matches!(record.kind, 'e' | 't' | 'V') => Ok(Resolution::Value(0)),
        [] => Ok(Resolution::Missing(
            why.unwrap_or_else(|| "no such type in the kernel".into()),
        )),
        [v] => Ok(Resolution::Value(*v)),
        many => Err(format!("the kernel's candidate types disagree ({many:?})")),
    }
}

fn insn(code: u8, dst: u8, off: i16, imm: i32) -> bpf_insn {
    bpf_insn {
        code,
        _bitfield_align_1: [],
        _bitfield_1: bpf_insn::new_bitfield_1(dst, 0),
        off,
        imm,
    }
}

/// The sites of an object that could not be resolved on this kernel, by
/// poison id, to explain a refusal.
#[derive(Debug, Default)]
pub(crate) struct Poisoned {
    sites: HashMap<u32, (Record, String)>,
    /// Poisoned `.BTF.ext` relocations of clang-built objects.
    clang: Vec<ClangPoison>,
}

/// The kernel's BTF as this resolver reads it, parsed at most once per
/// process.
pub(crate) fn kernel_btf() -> Result<&'static Btf> {
    static BTF: OnceLock<std::result::Result<Btf, String>> = OnceLock::new();
    BTF.get_or_init(|| Btf::from_file("/sys/kernel/btf/vmlinux").map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| Error::KernelBtf(e.clone()))
}

/// Whether `insns[i]` is a placeholder load, and its hash.
fn placeholder(insns: &[bpf_insn], i: usize) -> Option<u32> {
    let first = insns.get(i)?;
    let second = insns.get(i + 1)?;
    (first.code == LD_IMM64
        && first.src_reg() == 0
        && second.imm as u32 == MAGIC
        && second.code == 0)
        .then_some(first.imm as u32)
}

/// The hashes of the placeholders in `functions`' instructions.
fn placeholders_in<'a>(functions: impl IntoIterator<Item = &'a [bpf_insn]>) -> BTreeSet<u32> {
    let mut used = BTreeSet::new();
    for insns in functions {
        let mut i = 0;
        while i < insns.len() {
            match placeholder(insns, i) {
                Some(hash) => {
                    used.insert(hash);
                    i += 2;
                }
                None => i += 1,
            }
        }
    }
    used
}

/// Resolves the object's records against `target` (the running kernel
/// when `None`) and patches every placeholder of every function. Only the
/// records of placeholders the programs still hold count: the linker keeps
/// every record of iu-ebpf's code (a `struct_ops` accessor, say) even when
/// the code itself was dropped, and an object without a placeholder needs
/// no kernel BTF (its parse is most of a first load).
pub(crate) fn relocate(
    file: &object::File<'_>,
    obj: &mut Object,
    target: Option<&Btf>,
) -> Result<Poisoned> {
    let clang = relocate_clang(file, obj, target)?;
    let used = placeholders_in(obj.functions.values().map(|f| f.instructions.as_slice()));
    let mut poisoned = if used.is_empty() {
        Poisoned::default()
    } else {
        let mut records = records(file)?;
        records.retain(|hash, _| used.contains(hash));
        let btf = match target {
            Some(btf) => btf,
            None => kernel_btf()?,
        };
        relocate_with(&records, obj, btf)?
    };
    poisoned.clang = clang;
    Ok(poisoned)
}

/// [`relocate`] against a given BTF.
pub(crate) fn relocate_with(
    records: &BTreeMap<u32, Record>,
    obj: &mut Object,
    btf: &Btf,
) -> Result<Poisoned> {
    let mut poisoned = Poisoned::default();
    let mut resolved: HashMap<u32, Resolution> = HashMap::new();
    for (n, (&hash, record)) in records.iter().enumerate() {
        let resolution = resolve(btf, record).map_err(|reason| Error::CoreRecord {
            target: record.target(),
            reason,
        })?;
        if let Resolution::Missing(why) = &resolution {
            poisoned
                .sites
                .insert(POISON + n as u32, (record.clone(), why.clone()));
        }
        resolved.insert(hash, resolution);
    }
    let poison_id: HashMap<u32, u32> = records
        .keys()
        .enumerate()
        .map(|(n, &hash)| (hash, POISON + n as u32))
        .collect();
    for function in obj.functions.values_mut() {
        let insns = &mut function.instructions;
        let mut i = 0;
        while i < insns.len() {
            let Some(hash) = placeholder(insns, i) else {
                i += 1;
                continue;
            };
            let dst = insns[i].dst_reg();
            match resolved.get(&hash) {
                Some(Resolution::Value(v)) => match i32::try_from(*v) {
                    Ok(imm) => {
                        insns[i] = insn(MOV64_IMM, dst, 0, imm);
                        // Removed by the verifier (`opt_remove_nops`).
                        insns[i + 1] = insn(JA, 0, 0, 0);
                    }
                    Err(_) => {
                        insns[i].imm = *v as u32 as i32;
                        insns[i + 1].imm = (*v >> 32) as u32 as i32;
                    }
                },
                Some(Resolution::Missing(_)) => {
                    let id = poison_id.get(&hash).copied().unwrap_or(POISON);
                    insns[i] = insn(CALL, 0, 0, id as i32);
                    insns[i + 1] = insn(JA, 0, 0, 0);
                }
                None => {
                    return Err(Error::CoreRecord {
                        target: format!("placeholder {hash:#010x}"),
                        reason:
                            "the object has no `iu_core` record for it (was the object stripped?)"
                                .into(),
                    });
                }
            }
            i += 2;
        }
    }
    Ok(poisoned)
}

impl Poisoned {
    /// Turns a verifier refusal at a poisoned site into
    /// [`Error::CoreRelocation`]; other errors pass through. `lines` is
    /// the program's line info, by instruction.
    pub(crate) fn explain(
        &self,
        error: Error,
        insns: &[bpf_insn],
        lines: impl FnOnce() -> Vec<(u32, SourceLine)>,
    ) -> Error {
        if self.sites.is_empty() && self.clang.is_empty() {
            return error;
        }
        let Error::Verifier { name, log, .. } = &error else {
            return error;
        };
        let text = log.full();
        if text.contains(&format!("unknown#{CLANG_POISON}")) {
            return match self.explain_clang(name, text, lines) {
                Some(e) => e,
                None => error,
            };
        }
        let Some(id) = text
            .match_indices("unknown#")
            .filter_map(|(at, m)| {
                let digits: String = text[at + m.len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                digits.parse::<u32>().ok()
            })
            .filter(|id| self.sites.contains_key(id))
            .last()
        else {
            return error;
        };
        let Some((record, reason)) = self.sites.get(&id) else {
            return error;
        };
        // The instruction the verifier stopped at, or the first copy.
        let at = text
            .lines()
            .rev()
            .find(|l| l.contains(&format!("call unknown#{id}")))
            .and_then(|l| l.trim().split(':').next()?.parse::<u32>().ok())
            .or_else(|| {
                insns
                    .iter()
                    .position(|i| i.code == CALL && i.imm as u32 == id)
                    .map(|p| p as u32)
            });
        // The Rust line: the macro's own site, unless that is generated
        // code (an accessor), whose caller is the program line nearest to
        // the instruction (optimized line info may put it after).
        let site = record.site_line();
        let line = match (&site, at) {
            (Some(s), _) if !s.file.contains("/generated/") => site.clone(),
            (_, Some(at)) => lines()
                .into_iter()
                .filter(|(_, l)| {
                    !crate::verifier::in_library(&l.file) && !l.file.contains("/generated/")
                })
                .min_by_key(|(off, _)| {
                    if *off <= at {
                        (at - off) * 2
                    } else {
                        (off - at) * 2 + 1
                    }
                })
                .map(|(_, l)| l),
            _ => None,
        };
        Error::CoreRelocation {
            program: name.clone(),
            target: record.target(),
            reason: reason.clone(),
            line: line.or(site).map(Box::new),
        }
    }
}

// --- clang-built objects: `.BTF.ext` CO-RE relocations -------------------
//
// libbpf's `relo_core.c`, over iu's BTF reader: the access string is
// parsed into a spec over the object's own BTF (member indices, array
// indices), matched against each kernel type of the same essential name
// and kind, and the instruction is patched (ALU imm, LDX/ST/STX offset and
// size, LD_IMM64). A relocation that does not resolve poisons its
// instruction with `call 0xbad2310`, as libbpf does; the verifier refuses
// it only if it is reachable, and [`Poisoned::explain`] then names it.

/// libbpf's poison helper id (`0xbad2310`, "bad relo").
const CLANG_POISON: u32 = 0x0bad_2310;
/// libbpf's `BPF_CORE_SPEC_MAX_LEN`.
const SPEC_MAX_LEN: usize = 64;

/// `enum bpf_core_relo_kind`.
mod relo_kind {
    pub const FIELD_BYTE_OFFSET: u32 = 0;
    pub const FIELD_BYTE_SIZE: u32 = 1;
    pub const FIELD_EXISTS: u32 = 2;
    pub const FIELD_SIGNED: u32 = 3;
    pub const FIELD_LSHIFT_U64: u32 = 4;
    pub const FIELD_RSHIFT_U64: u32 = 5;
    pub const TYPE_ID_LOCAL: u32 = 6;
    pub const TYPE_ID_TARGET: u32 = 7;
    pub const TYPE_EXISTS: u32 = 8;
    pub const TYPE_SIZE: u32 = 9;
    pub const ENUMVAL_EXISTS: u32 = 10;
    pub const ENUMVAL_VALUE: u32 = 11;
    pub const TYPE_MATCHES: u32 = 12;
}

fn is_field_kind(kind: u32) -> bool {
    kind <= relo_kind::FIELD_RSHIFT_U64
}

fn is_enum_kind(kind: u32) -> bool {
    matches!(kind, relo_kind::ENUMVAL_EXISTS | relo_kind::ENUMVAL_VALUE)
}

fn is_existence_kind(kind: u32) -> bool {
    matches!(
        kind,
        relo_kind::FIELD_EXISTS
            | relo_kind::TYPE_EXISTS
            | relo_kind::ENUMVAL_EXISTS
            | relo_kind::TYPE_MATCHES
    )
}

/// One step of a spec (libbpf's `bpf_core_accessor`): a named member
/// (`type_id` is its struct or union, `idx` its index) or an array
/// index (`type_id` is the element type).
#[derive(Clone, Debug)]
struct Access {
    type_id: u32,
    idx: u32,
    name: Option<String>,
}

/// A relocation's access path in one BTF (libbpf's `bpf_core_spec`).
#[derive(Clone, Debug)]
struct Spec {
    root_type_id: u32,
    access: Vec<Access>,
    bit_offset: u64,
}

fn kinds_compatible(a: Kind, b: Kind) -> bool {
    a == b || (matches!(a, Kind::Enum | Kind::Enum64) && matches!(b, Kind::Enum | Kind::Enum64))
}

/// libbpf's `is_flex_arr`: an array of zero elements that is the last
/// member of the struct the previous (named) access went into. This is the
/// rule aya#1662 gets wrong: only then may an index exceed `nelems`.
fn is_flex_array(btf: &Btf, previous: Option<&Access>, nelems: u32) -> bool {
    let Some(acc) = previous else { return false };
    if acc.name.is_none() || nelems > 0 {
        return false;
    }
    btf.get(acc.type_id)
        .is_some_and(|t| (acc.idx as usize) + 1 == t.members.len())
}

/// libbpf's `bpf_core_parse_spec` over the object's BTF.
fn parse_spec(
    btf: &Btf,
    type_id: u32,
    access: &str,
    kind: u32,
) -> std::result::Result<Spec, String> {
    let raw: Vec<u32> = access
        .split(':')
        .map(|s| s.parse::<u32>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| format!("malformed access string `{access}`"))?;
    if raw.is_empty() || raw.len() > SPEC_MAX_LEN {
        return Err(format!("access string `{access}` has {} steps", raw.len()));
    }
    let mut spec = Spec {
        root_type_id: type_id,
        access: Vec::new(),
        bit_offset: 0,
    };
    let mut id = btf.skip_mods_and_typedefs(type_id);
    let root = btf
        .get(id)
        .ok_or_else(|| format!("no local type {type_id}"))?;
    if !is_field_kind(kind) {
        if is_enum_kind(kind) {
            let name = root
                .enumerators
                .get(raw[0] as usize)
                .filter(|_| matches!(root.kind, Kind::Enum | Kind::Enum64) && raw.len() == 1)
                .map(|(n, _)| n.clone())
                .ok_or_else(|| format!("access `{access}` is no enumerator"))?;
            spec.access.push(Access {
                type_id: id,
                idx: raw[0],
                name: Some(name),
            });
        } else if raw != [0] {
            return Err(format!("type relocation with access `{access}`"));
        }
        return Ok(spec);
    }
    let size = btf.size_of(id).ok_or("the root type has no size")?;
    spec.bit_offset = u64::from(raw[0]) * size * 8;
    spec.access.push(Access {
        type_id: id,
        idx: raw[0],
        name: None,
    });
    for &idx in &raw[1..] {
        let ty = btf.get(id).ok_or_else(|| format!("no local type {id}"))?;
        if composite(ty.kind) {
            let m = ty
                .members
                .get(idx as usize)
                .ok_or_else(|| format!("member {idx} of a {}-member type", ty.members.len()))?;
            spec.bit_offset += u64::from(m.bit_offset);
            if !m.name.is_empty() {
                spec.access.push(Access {
                    type_id: id,
                    idx,
                    name: Some(m.name.clone()),
                });
            }
            id = btf.skip_mods_and_typedefs(m.type_id);
        } else if ty.kind == Kind::Array {
            let nelems = ty.nelems;
            id = btf.skip_mods_and_typedefs(ty.type_id);
            if !is_flex_array(btf, spec.access.last(), nelems) && idx >= nelems {
                return Err(format!("index {idx} of a {nelems}-element array"));
            }
            spec.access.push(Access {
                type_id: id,
                idx,
                name: None,
            });
            let size = btf.size_of(id).ok_or("an array element has no size")?;
            spec.bit_offset += u64::from(idx) * size * 8;
        } else {
            return Err(format!("access `{access}` steps into a {:?}", ty.kind));
        }
    }
    Ok(spec)
}

/// `task_struct.real_parent`, `trace_event_raw_sys_enter.args[0]`,
/// `struct task_struct`, `enum pid_type::PIDTYPE_TGID`.
fn spec_target(btf: &Btf, spec: &Spec, kind: u32) -> String {
    let root = btf.get(spec.root_type_id);
    // `task_struct___old` names the kernel's `task_struct`.
    let name = root.map(|t| essential_name(&t.name)).unwrap_or("?");
    if is_enum_kind(kind) {
        let en = spec.access.first().and_then(|a| a.name.as_deref());
        return format!("enum {name}::{}", en.unwrap_or("?"));
    }
    if !is_field_kind(kind) {
        let keyword = root.map(|t| t.kind.keyword()).unwrap_or("");
        return format!("{keyword} {name}").trim().to_owned();
    }
    let mut out = name.to_owned();
    for (i, a) in spec.access.iter().enumerate() {
        match &a.name {
            Some(n) => {
                out.push('.');
                out.push_str(n);
            }
            None if i == 0 && a.idx == 0 => {}
            None => out.push_str(&format!("[{}]", a.idx)),
        }
    }
    out
}

/// libbpf's `bpf_core_fields_are_compat`.
fn fields_compatible(local: &Btf, lid: u32, target: &Btf, tid: u32, depth: u32) -> bool {
    let (Some(l), Some(t)) = (
        local.get(local.skip_mods_and_typedefs(lid)),
        target.get(target.skip_mods_and_typedefs(tid)),
    ) else {
        return false;
    };
    if composite(l.kind) && composite(t.kind) {
        return true;
    }
    if !kinds_compatible(l.kind, t.kind) || depth > 32 {
        return false;
    }
    match l.kind {
        Kind::Ptr | Kind::Float | Kind::Int => true,
        Kind::Fwd | Kind::Enum | Kind::Enum64 => {
            l.name.is_empty()
                || t.name.is_empty()
                || essential_name(&l.name) == essential_name(&t.name)
        }
        Kind::Array => fields_compatible(local, l.type_id, target, t.type_id, depth + 1),
        _ => false,
    }
}

/// libbpf's `bpf_core_types_are_compat`, for type-based relocations.
fn types_compatible(local: &Btf, lid: u32, target: &Btf, tid: u32, depth: u32) -> bool {
    let (Some(l), Some(t)) = (
        local.get(local.skip_mods_and_typedefs(lid)),
        target.get(target.skip_mods_and_typedefs(tid)),
    ) else {
        return false;
    };
    if !kinds_compatible(l.kind, t.kind) || depth > 32 {
        return false;
    }
    match l.kind {
        Kind::Ptr | Kind::Array => types_compatible(local, l.type_id, target, t.type_id, depth + 1),
        _ => true,
    }
}

/// libbpf's `bpf_core_match_member`: finds the local access's member in
/// target composite `tid`, through anonymous members.
fn match_member(
    local: &Btf,
    acc: &Access,
    target: &Btf,
    tid: u32,
    spec: &mut Spec,
    depth: u32,
) -> Option<u32> {
    let tid = target.skip_mods_and_typedefs(tid);
    let t = target.get(tid)?;
    if !composite(t.kind) || depth > 32 {
        return None;
    }
    let lm = local.get(acc.type_id)?.members.get(acc.idx as usize)?;
    for (i, m) in t.members.iter().enumerate() {
        spec.bit_offset += u64::from(m.bit_offset);
        if m.name.is_empty() {
            if let Some(next) = match_member(local, acc, target, m.type_id, spec, depth + 1) {
                return Some(next);
            }
        } else if m.name == lm.name {
            if !fields_compatible(local, lm.type_id, target, m.type_id, 0) {
                return None;
            }
            spec.access.push(Access {
                type_id: tid,
                idx: i as u32,
                name: Some(m.name.clone()),
            });
            return Some(m.type_id);
        }
        spec.bit_offset -= u64::from(m.bit_offset);
    }
    None
}

/// libbpf's `bpf_core_spec_match`: the local spec in target type `tid`.
fn match_spec(local: &Btf, lspec: &Spec, target: &Btf, tid: u32, kind: u32) -> Option<Spec> {
    let mut spec = Spec {
        root_type_id: tid,
        access: Vec::new(),
        bit_offset: 0,
    };
    if is_enum_kind(kind) {
        let t = target.get(target.skip_mods_and_typedefs(tid))?;
        let wanted = essential_name(lspec.access.first()?.name.as_deref()?);
        let idx = t
            .enumerators
            .iter()
            .position(|(n, _)| essential_name(n) == wanted)?;
        spec.access.push(Access {
            type_id: tid,
            idx: idx as u32,
            name: Some(t.enumerators[idx].0.clone()),
        });
        return Some(spec);
    }
    if !is_field_kind(kind) {
        return types_compatible(local, lspec.root_type_id, target, tid, 0).then_some(spec);
    }
    let mut id = tid;
    for (i, acc) in lspec.access.iter().enumerate() {
        id = target.skip_mods_and_typedefs(id);
        if acc.name.is_some() {
            id = match_member(local, acc, target, id, &mut spec, 0)?;
        } else {
            if i > 0 {
                let t = target.get(id)?;
                if t.kind != Kind::Array {
                    return None;
                }
                if !is_flex_array(target, spec.access.last(), t.nelems) && acc.idx >= t.nelems {
                    return None;
                }
                id = target.skip_mods_and_typedefs(t.type_id);
            }
            spec.access.push(Access {
                type_id: id,
                idx: acc.idx,
                name: None,
            });
            spec.bit_offset += u64::from(acc.idx) * target.size_of(id)? * 8;
        }
    }
    Some(spec)
}

/// A relocation's value in one spec: the value, and for plain (not
/// bitfield) byte offsets the field's size and type, for load-size
/// adjustment.
#[derive(Debug)]
struct Calc {
    value: u64,
    size: Option<(u64, u32)>,
    validate: bool,
}

/// libbpf's `bpf_core_calc_{field,type,enumval}_relo`; `spec` is `None`
/// when the target has no match.
fn calc(btf: &Btf, spec: Option<&Spec>, kind: u32) -> std::result::Result<Calc, String> {
    use relo_kind::*;
    let plain = |value| {
        Ok(Calc {
            value,
            size: None,
            validate: true,
        })
    };
    // No match: 0 for the existence kinds and, as libbpf has it, for every
    // type-based kind (a size or id the program only uses behind an
    // existence test); the others are poisoned.
    let Some(spec) = spec else {
        return match kind {
            FIELD_EXISTS | TYPE_EXISTS | ENUMVAL_EXISTS | TYPE_MATCHES | TYPE_ID_TARGET
            | TYPE_SIZE => plain(0),
            _ => Err("no match".into()),
        };
    };
    if is_enum_kind(kind) {
        let acc = spec.access.first().ok_or("empty enum spec")?;
        let t = btf
            .get(btf.skip_mods_and_typedefs(acc.type_id))
            .ok_or("no enum")?;
        let value = t
            .enumerators
            .get(acc.idx as usize)
            .ok_or("no enumerator")?
            .1;
        return plain(if kind == ENUMVAL_EXISTS { 1 } else { value });
    }
    if !is_field_kind(kind) {
        return match kind {
            TYPE_ID_LOCAL | TYPE_ID_TARGET => plain(u64::from(spec.root_type_id)),
            TYPE_EXISTS | TYPE_MATCHES => plain(1),
            TYPE_SIZE => plain(
                btf.size_of(spec.root_type_id)
                    .ok_or("the type has no size")?,
            ),
            _ => Err(format!("unknown relocation kind {kind}")),
        };
    }
    if kind == FIELD_EXISTS {
        return plain(1);
    }
    let acc = spec.access.last().ok_or("empty field spec")?;
    let Some(_) = &acc.name else {
        // An array element.
        let size = btf
            .size_of(acc.type_id)
            .ok_or("an array element has no size")?;
        return match kind {
            FIELD_BYTE_OFFSET => Ok(Calc {
                value: spec.bit_offset / 8,
                size: Some((size, acc.type_id)),
                validate: true,
            }),
            FIELD_BYTE_SIZE => plain(size),
            _ => Err("this relocation kind cannot apply to an array element".into()),
        };
    };
    let m = btf
        .get(acc.type_id)
        .and_then(|t| t.members.get(acc.idx as usize))
        .ok_or("no member")?;
    let field_id = btf.skip_mods_and_typedefs(m.type_id);
    let mt = btf.get(field_id).ok_or("no field type")?;
    let bit_off = spec.bit_offset;
    let bitfield = m.bitfield_size > 0;
    let (byte_off, byte_sz, bit_sz) = if bitfield {
        let bit_sz = u64::from(m.bitfield_size);
        let mut byte_sz = u64::from(mt.size).max(1);
        let mut byte_off = bit_off / 8 / byte_sz * byte_sz;
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8 {
            if byte_sz >= 8 {
                return Err("the bitfield cannot be read with a 64-bit load".into());
            }
            byte_sz *= 2;
            byte_off = bit_off / 8 / byte_sz * byte_sz;
        }
        (byte_off, byte_sz, bit_sz)
    } else {
        let byte_sz = btf.size_of(field_id).ok_or("the field has no size")?;
        (bit_off / 8, byte_sz, byte_sz * 8)
    };
    let value = match kind {
        FIELD_BYTE_OFFSET => byte_off,
        FIELD_BYTE_SIZE => byte_sz,
        FIELD_SIGNED => u64::from(
            (matches!(mt.kind, Kind::Enum | Kind::Enum64) || mt.kind == Kind::Int) && mt.signed,
        ),
        FIELD_LSHIFT_U64 => 64u64.wrapping_sub(bit_off + bit_sz - byte_off * 8),
        FIELD_RSHIFT_U64 => 64 - bit_sz,
        _ => return Err(format!("unknown relocation kind {kind}")),
    };
    Ok(Calc {
        value,
        size: (kind == FIELD_BYTE_OFFSET && !bitfield).then_some((byte_sz, field_id)),
        validate: !bitfield || kind == FIELD_SIGNED,
    })
}

/// What one clang relocation resolves to.
#[derive(Debug)]
struct ClangResolution {
    /// The value the object was compiled with (checked against the
    /// instruction).
    local: Calc,
    /// The kernel's value, or why there is none.
    target: std::result::Result<Calc, String>,
}

/// Resolves one relocation; `Err` is an object or ambiguity error that
/// fails the load (libbpf fails those too).
fn resolve_clang(
    local: &Btf,
    target: &Btf,
    type_id: u32,
    access: &str,
    kind: u32,
) -> std::result::Result<(Spec, ClangResolution), String> {
    let lspec = parse_spec(local, type_id, access, kind)?;
    let lcalc = calc(local, Some(&lspec), kind)?;
    if kind == relo_kind::TYPE_ID_LOCAL {
        let value = Calc {
            value: u64::from(type_id),
            size: None,
            validate: true,
        };
        let local = Calc {
            value: u64::from(type_id),
            size: None,
            validate: true,
        };
        return Ok((
            lspec,
            ClangResolution {
                local,
                target: Ok(value),
            },
        ));
    }
    let lty = local.get(type_id).ok_or("no local root type")?;
    if lty.name.is_empty() {
        return Err("the relocation's root type is anonymous".into());
    }
    let mut found: Option<(Calc, u32)> = None;
    let mut why = String::from("no type of that name in the kernel");
    for tid in target.by_name(&lty.name) {
        let Some(tty) = target.get(tid) else { continue };
        if !kinds_compatible(lty.kind, tty.kind) {
            continue;
        }
        let Some(tspec) = match_spec(local, &lspec, target, tid, kind) else {
            why = match is_field_kind(kind) {
                true => "no such field (or an incompatible one) in the kernel's type".into(),
                false => "no compatible type or enumerator in the kernel".into(),
            };
            continue;
        };
        let tcalc = calc(target, Some(&tspec), kind)?;
        match &found {
            Some((prev, _)) if prev.value != tcalc.value => {
                return Err(format!(
                    "the kernel's candidate types disagree ({} and {})",
                    prev.value, tcalc.value
                ));
            }
            Some(_) => {}
            None => found = Some((tcalc, tid)),
        }
    }
    let target = match found {
        Some((calc, _)) => Ok(calc),
        None if is_existence_kind(kind)
            || matches!(kind, relo_kind::TYPE_ID_TARGET | relo_kind::TYPE_SIZE) =>
        {
            calc(target, None, kind)
        }
        None => Err(why),
    };
    Ok((
        lspec,
        ClangResolution {
            local: lcalc,
            target,
        },
    ))
}

/// `insn`'s memory access size in bytes (LDX/ST/STX).
fn mem_size(code: u8) -> u64 {
    match code & 0x18 {
        0x00 => 4,
        0x08 => 2,
        0x10 => 1,
        _ => 8,
    }
}

fn mem_size_bits(bytes: u64) -> Option<u8> {
    Some(match bytes {
        4 => 0x00,
        2 => 0x08,
        1 => 0x10,
        8 => 0x18,
        _ => return None,
    })
}

/// libbpf's `bpf_core_patch_insn`: `Ok(Some(reason))` when the site must be
/// poisoned instead.
fn patch(
    insns: &mut [bpf_insn],
    i: usize,
    res: &ClangResolution,
    local: &Btf,
    target: &Btf,
) -> std::result::Result<Option<String>, String> {
    let t = match &res.target {
        Ok(t) => t,
        Err(why) => return Ok(Some(why.clone())),
    };
    let code = insns[i].code;
    match code & 0x07 {
        // BPF_ALU, BPF_ALU64
        0x04 | 0x07 => {
            if code & 0x08 != 0 {
                return Err("ALU instruction with a register source".into());
            }
            if res.local.validate
                && insns[i].imm as i64 as u64 != res.local.value
                && insns[i].imm as u32 as u64 != res.local.value
            {
                return Err(format!(
                    "instruction imm {} is not the local value {}",
                    insns[i].imm, res.local.value
                ));
            }
            insns[i].imm = t.value as u32 as i32;
        }
        // BPF_LDX, BPF_ST, BPF_STX
        0x01..=0x03 => {
            if res.local.validate && insns[i].off as i64 as u64 != res.local.value {
                return Err(format!(
                    "instruction offset {} is not the local value {}",
                    insns[i].off, res.local.value
                ));
            }
            let off = i16::try_from(t.value)
                .map_err(|_| format!("field offset {} does not fit an instruction", t.value))?;
            insns[i].off = off;
            if let (Some((lsz, lid)), Some((tsz, tid))) = (res.local.size, t.size)
                && lsz != tsz
            {
                let (lt, tt) = (local.get(lid), target.get(tid));
                let adjustable = match (lt, tt) {
                    (Some(l), Some(t)) => {
                        (l.kind == Kind::Ptr && t.kind == Kind::Ptr)
                            || (l.kind == Kind::Int && t.kind == Kind::Int && l.signed == t.signed)
                            || (matches!(l.kind, Kind::Enum | Kind::Enum64)
                                && matches!(t.kind, Kind::Enum | Kind::Enum64))
                    }
                    _ => false,
                };
                if !adjustable {
                    return Ok(Some(format!(
                        "the field is {tsz} bytes in the kernel, {lsz} in the object, and the access cannot be resized"
                    )));
                }
                if mem_size(code) != lsz {
                    return Err("the access size is not the field's size".into());
                }
                let bits = mem_size_bits(tsz).ok_or_else(|| format!("a {tsz}-byte field"))?;
                insns[i].code = (code & !0x18) | bits;
            }
        }
        // BPF_LD: only LD_IMM64.
        0x00 => {
            if code != LD_IMM64 || insns.get(i + 1).is_none() || insns[i].src_reg() != 0 {
                return Err("LD instruction that is not a 64-bit constant load".into());
            }
            let imm = u64::from(insns[i].imm as u32) | u64::from(insns[i + 1].imm as u32) << 32;
            if res.local.validate && imm != res.local.value {
                return Err(format!(
                    "constant {imm} is not the local value {}",
                    res.local.value
                ));
            }
            insns[i].imm = t.value as u32 as i32;
            insns[i + 1].imm = (t.value >> 32) as u32 as i32;
        }
        _ => return Err(format!("instruction code {code:#04x} cannot be relocated")),
    }
    Ok(None)
}

/// A poisoned clang relocation, to explain a refusal.
#[derive(Debug)]
struct ClangPoison {
    /// The function (program) whose instruction it is.
    function: String,
    /// Its index there.
    insn: usize,
    target: String,
    reason: String,
}

/// Resolves and patches the `.BTF.ext` CO-RE relocations of a clang-built
/// object; `Ok(None)` when it has none (no BTF is read then).
fn relocate_clang(
    file: &object::File<'_>,
    obj: &mut Object,
    target: Option<&Btf>,
) -> Result<Vec<ClangPoison>> {
    use object::{Object as _, ObjectSection as _};
    let (Some(btf_section), Some(ext_section)) = (
        file.section_by_name(".BTF"),
        file.section_by_name(".BTF.ext"),
    ) else {
        return Ok(Vec::new());
    };
    let parse_err = |e: object::Error| Error::Parse(format!("CO-RE relocations: {e}"));
    let btf_data = btf_section.data().map_err(parse_err)?;
    let ext_data = ext_section.data().map_err(parse_err)?;
    let relos = crate::btf_ext::core_relos(btf_data, ext_data)?;
    if relos.is_empty() {
        return Ok(Vec::new());
    }
    let local =
        Btf::parse(btf_data).map_err(|e| Error::Parse(format!("the object's `.BTF`: {e}")))?;
    let target = match target {
        Some(t) => t,
        None => kernel_btf()?,
    };
    let mut poisoned = Vec::new();
    for relo in &relos {
        let record_err = |target: String, reason: String| Error::CoreRecord {
            target: format!(
                "{target} (section `{}`, byte {})",
                relo.section, relo.insn_off
            ),
            reason,
        };
        let section = file
            .section_by_name(&relo.section)
            .ok_or_else(|| record_err("?".into(), "no such section".into()))?
            .index()
            .0;
        let function = obj
            .functions
            .range_mut((section, 0)..=(section, u64::MAX))
            .map(|(_, f)| f)
            .find(|f| {
                let off = relo.insn_off as usize;
                off >= f.section_offset && off < f.section_offset + f.instructions.len() * 8
            })
            .ok_or_else(|| record_err("?".into(), "no function holds the instruction".into()))?;
        let i = (relo.insn_off as usize - function.section_offset) / 8;
        let (spec, res) = resolve_clang(&local, target, relo.type_id, &relo.access, relo.kind)
            .map_err(|reason| {
                record_err(
                    format!("type {} access {}", relo.type_id, relo.access),
                    reason,
                )
            })?;
        let what = spec_target(&local, &spec, relo.kind);
        let insns = &mut function.instructions;
        match patch(insns, i, &res, &local, target)
            .map_err(|reason| record_err(what.clone(), reason))?
        {
            None => {}
            Some(reason) => {
                let poison = insn(CALL, 0, 0, CLANG_POISON as i32);
                if insns[i].code == LD_IMM64 && i + 1 < insns.len() {
                    insns[i + 1] = poison;
                }
                insns[i] = poison;
                poisoned.push(ClangPoison {
                    function: function.name.clone(),
                    insn: i,
                    target: what,
                    reason,
                });
            }
        }
    }
    Ok(poisoned)
}

impl Poisoned {
    /// [`Poisoned::explain`] for clang relocations: the poisoned site the
    /// verifier reached, with the C line from the program's line info.
    fn explain_clang(
        &self,
        program: &str,
        log: &str,
        lines: impl FnOnce() -> Vec<(u32, SourceLine)>,
    ) -> Option<Error> {
        let call = format!("call unknown#{CLANG_POISON}");
        let at = log
            .lines()
            .rev()
            .find(|l| l.contains(&call))
            .and_then(|l| l.trim().split(':').next()?.parse::<usize>().ok());
        let site = self
            .clang
            .iter()
            .find(|p| p.function == program && Some(p.insn) == at)
            .or_else(|| self.clang.iter().find(|p| p.function == program))
            .or_else(|| self.clang.first())?;
        let at = at.unwrap_or(site.insn) as u32;
        let line = lines()
            .into_iter()
            .filter(|(off, _)| *off <= at)
            .max_by_key(|(off, _)| *off)
            .map(|(_, l)| Box::new(l));
        Some(Error::CoreRelocation {
            program: program.to_owned(),
            target: site.target.clone(),
            reason: site.reason.clone(),
            line,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel() -> Option<Btf> {
        // Every kernel iu runs on has BTF (the host's is checked here).
        Some(Btf::from_file("/sys/kernel/btf/vmlinux").expect("the host kernel's BTF"))
    }

    fn record(text: &str) -> Record {
        Record::parse(text).expect("record")
    }

    #[test]
    fn only_placeholders_left_in_the_code_count() {
        let load = |hash: u32| {
            [
                insn(LD_IMM64, 3, 0, hash as i32),
                insn(0, 0, 0, MAGIC as i32),
            ]
        };
        let exit = insn(0x95, 0, 0, 0);
        let first = [load(7).as_slice(), &[exit]].concat();
        // An `ld_imm64` of another constant is not a placeholder.
        let second = [
            &[exit],
            load(9).as_slice(),
            &[insn(LD_IMM64, 1, 0, 5), exit],
        ]
        .concat();
        assert_eq!(
            placeholders_in([first.as_slice(), &second]),
            BTreeSet::from([7, 9])
        );
        assert!(placeholders_in([[exit, exit].as_slice()]).is_empty());
    }

    #[test]
    fn type_based_kinds_are_zero_for_a_missing_type_as_libbpf_has_them() {
        let Some(btf) = kernel() else { return };
        for kind in [
            relo_kind::TYPE_ID_TARGET,
            relo_kind::TYPE_EXISTS,
            relo_kind::TYPE_SIZE,
            relo_kind::TYPE_MATCHES,
        ] {
            assert_eq!(
                calc(&btf, None, kind).map(|c| c.value),
                Ok(0),
                "kind {kind}"
            );
        }
        // A field of a missing type is poisoned.
        assert!(calc(&btf, None, relo_kind::FIELD_BYTE_OFFSET).is_err());
    }

    #[test]
    fn resolves_task_struct_fields_like_the_kernel_layout() {
        let Some(btf) = kernel() else { return };
        let pid = resolve(&btf, &record("o|task_struct|pid|4|i")).expect("resolve");
        let tgid = resolve(&btf, &record("o|task_struct|tgid|4|i")).expect("resolve");
        // pid and tgid are adjacent `pid_t`s in every kernel since 2.6.
        match (pid, tgid) {
            (Resolution::Value(p), Resolution::Value(t)) => assert_eq!(t, p + 4),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            resolve(&btf, &record("s|task_struct|comm|0|-")),
            Ok(Resolution::Value(16))
        );
        assert_eq!(
            resolve(&btf, &record("e|task_struct|no_such_field|0|-")),
            Ok(Resolution::Value(0))
        );
        assert_eq!(
            resolve(&btf, &record("e|task_struct___flavor|pid|0|-")),
            Ok(Resolution::Value(1))
        );
        assert!(matches!(
            resolve(&btf, &record("o|task_struct|state|8|i")),
            Ok(Resolution::Missing(_))
        ));
        // Wrong size: pid is 4 bytes.
        assert!(matches!(
            resolve(&btf, &record("o|task_struct|pid|8|i")),
            Ok(Resolution::Missing(_))
        ));
        // Wrong shape: pid is no pointer.
        assert!(matches!(
            resolve(&btf, &record("o|task_struct|pid|4|p")),
            Ok(Resolution::Missing(_))
        ));
        assert_eq!(
            resolve(&btf, &record("t|struct task_struct||0|-")),
            Ok(Resolution::Value(1))
        );
        assert_eq!(
            resolve(&btf, &record("t|union task_struct||0|-")),
            Ok(Resolution::Value(0))
        );
        assert_eq!(
            resolve(&btf, &record("V|pid_type|PIDTYPE_TGID|0|-")),
            Ok(Resolution::Value(1))
        );
        assert_eq!(
            resolve(&btf, &record("v|pid_type|PIDTYPE_PID|0|-")),
            Ok(Resolution::Value(0))
        );
    }

    #[test]
    fn finds_fields_through_anonymous_members() {
        let Some(btf) = kernel() else { return };
        // `struct sk_buff` keeps `len` inside anonymous unions/structs
        // on every kernel iu supports (`__sk_buff`'s source).
        let skb = resolve(&btf, &record("e|sk_buff|len|0|-")).expect("resolve");
        assert_eq!(skb, Resolution::Value(1));
    }

    /// A clang relocation resolved with the host's BTF as both the
    /// object's and the kernel's: its kernel value.
    fn clang_value(
        btf: &Btf,
        ty: &str,
        access: &str,
        kind: u32,
    ) -> std::result::Result<u64, String> {
        let id = btf
            .by_name(ty)
            .find(|&id| {
                btf.get(id).is_some_and(|t| {
                    composite(t.kind) || matches!(t.kind, Kind::Enum | Kind::Enum64)
                })
            })
            .ok_or("no type")?;
        let (_, res) = resolve_clang(btf, btf, id, access, kind)?;
        res.target.map(|c| c.value)
    }

    #[test]
    fn clang_access_strings_follow_libbpf_including_flexible_arrays() {
        let Some(btf) = kernel() else { return };
        use relo_kind::*;
        // struct trace_event_raw_sys_enter { struct trace_entry ent; long id;
        // unsigned long args[6]; char __data[]; }: args[0] at 16, args[5]
        // at 56 (aya#1662 got this access wrong).
        assert_eq!(
            clang_value(
                &btf,
                "trace_event_raw_sys_enter",
                "0:2:0",
                FIELD_BYTE_OFFSET
            ),
            Ok(16)
        );
        assert_eq!(
            clang_value(
                &btf,
                "trace_event_raw_sys_enter",
                "0:2:5",
                FIELD_BYTE_OFFSET
            ),
            Ok(56)
        );
        assert_eq!(
            clang_value(&btf, "trace_event_raw_sys_enter", "0:2:0", FIELD_BYTE_SIZE),
            Ok(8)
        );
        // args has 6 elements and is not the last member: no index 6.
        assert!(
            clang_value(
                &btf,
                "trace_event_raw_sys_enter",
                "0:2:6",
                FIELD_BYTE_OFFSET
            )
            .is_err()
        );
        // __data[] is the last member with zero length: any index.
        assert_eq!(
            clang_value(
                &btf,
                "trace_event_raw_sys_enter",
                "0:3:9",
                FIELD_BYTE_OFFSET
            ),
            Ok(64 + 9)
        );
        assert_eq!(clang_value(&btf, "pid_type", "1", ENUMVAL_VALUE), Ok(1));
        assert_eq!(clang_value(&btf, "task_struct", "0", TYPE_EXISTS), Ok(1));
        assert!(clang_value(&btf, "task_struct", "0:1:2:3", TYPE_EXISTS).is_err());
    }

    #[test]
    fn record_text_round_trips() {
        let r = record("o|task_struct|se.vruntime|8|i|src/lib.rs:3:9");
        assert_eq!(
            r.site_line().map(|l| (l.file, l.line)),
            Some(("src/lib.rs".into(), 3))
        );
        assert_eq!(r.target(), "task_struct.se.vruntime");
        assert!(Record::parse("x|a|b|0|-").is_none());
        assert!(Record::parse("o|a|b|zz|-").is_none());
    }
}
