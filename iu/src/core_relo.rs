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

use std::collections::{BTreeMap, HashMap};
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
}

/// The kernel's BTF as this resolver reads it, parsed at most once per
/// process.
fn kernel_btf() -> Result<&'static Btf> {
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

/// Resolves the object's records against the running kernel and patches
/// every placeholder of every function. Objects without records cost one
/// scan of their sections, and no BTF.
pub(crate) fn relocate(file: &object::File<'_>, obj: &mut Object) -> Result<Poisoned> {
    let records = records(file)?;
    if records.is_empty() {
        return Ok(Poisoned::default());
    }
    relocate_with(&records, obj, kernel_btf()?)
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
        if self.sites.is_empty() {
            return error;
        }
        let Error::Verifier { name, log, .. } = &error else {
            return error;
        };
        let text = log.full();
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
