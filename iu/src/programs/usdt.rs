//! USDT probes (SystemTap SDT: `sys/sdt.h`, `DTRACE_PROBE`, the `probe`
//! and `usdt` crates): a `#[usdt]` program attached at every call site
//! of a probe in an executable or shared library.
//!
//! The sites come from the binary's `.note.stapsdt` notes (type 3, owner
//! `stapsdt`): per site, the probe's address, the link-time address of
//! `.stapsdt.base` (to undo prelink's moves), the semaphore's address (0
//! without one), the provider, the name and the argument spec, one
//! `[-]size@operand` per argument in AT&T syntax (`-4@%edi`, `8@$5`,
//! `-4@-20(%rbp)`, `1@(%rax,%rdx,4)`). Each site becomes a uprobe at the
//! file offset of its address (one uprobe.multi link where the kernel has
//! them, Linux 6.6, a perf uprobe per site otherwise), whose BPF cookie is
//! the index of its parsed spec in the object's `IU_USDT_SPECS` map, from
//! which `UsdtContext::arg` reads. A semaphore's file offset goes to the
//! kernel as the uprobe's reference counter (`ref_ctr_offset`), which
//! the kernel increments in every process while the probe is attached, so
//! the program's `if (provider_name_semaphore)` checks (`*_ENABLED()`)
//! turn on.

use std::{
    collections::HashMap,
    ffi::CString,
    os::{fd::AsFd, unix::ffi::OsStrExt},
    path::Path,
    sync::{Arc, Mutex},
};

use object::{Object as _, ObjectSection as _, ObjectSegment as _, ObjectSymbol as _};

use super::{FdLink, PerfLink, Program, perf_link, probe, uprobe_multi};
use crate::{
    error::{Error, Result},
    maps::Map,
    sys::{self, PerfEventAttr},
};

/// Most arguments of a probe (`STAP_PROBE12`); `UsdtContext` in iu-ebpf.
pub const MAX_ARGS: usize = 12;
/// Distinct argument specs one object holds at once (`IU_USDT_SPECS`).
pub const MAX_SPECS: usize = 256;
const WORDS_PER_SPEC: usize = 1 + MAX_ARGS;
/// The map iu-ebpf declares for the specs.
pub(crate) const SPECS_MAP: &str = "IU_USDT_SPECS";

const KIND_HEADER: u8 = 0xff;
const KIND_CONST: u8 = 1;
const KIND_REG: u8 = 2;
const KIND_REG_DEREF: u8 = 3;
const KIND_SIB: u8 = 4;

/// `NT_STAPSDT`.
const NOTE_TYPE: u32 = 3;

/// Whether `section` is a USDT section (`usdt`, `usdt/...`).
pub(crate) fn is_usdt(section: &str) -> bool {
    section == "usdt" || section.starts_with("usdt/")
}

/// A probe site listed in a binary's `.note.stapsdt` notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsdtProbe {
    /// The provider (`STAP_PROBE`'s first argument).
    pub provider: String,
    /// The probe's name.
    pub name: String,
    /// The site's virtual address, adjusted by `.stapsdt.base`.
    pub address: u64,
    /// The semaphore's virtual address, adjusted likewise; 0 without one.
    pub semaphore: u64,
    /// The argument spec, as written in the note (`-4@%edi 8@$5`).
    pub args: String,
}

/// One argument of a spec, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UsdtArg {
    /// Where the value is.
    pub location: UsdtArgLocation,
    /// Its size in bytes: 1, 2, 4 or 8.
    pub size: u8,
    /// Whether it is signed (a negative size in the spec).
    pub signed: bool,
}

/// Where an argument is at its site. Register offsets are in x86-64's
/// `struct pt_regs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UsdtArgLocation {
    /// A constant (`$5`).
    Constant(i64),
    /// A register (`%edi`).
    Register {
        /// Offset in `pt_regs`.
        offset: u16,
    },
    /// Memory at a register plus a displacement (`-20(%rbp)`).
    Memory {
        /// Offset in `pt_regs` of the base register.
        base: u16,
        /// The displacement.
        displacement: i64,
    },
    /// Memory at base + index * scale + displacement
    /// (`-96(%rbp,%rax,8)`).
    Indexed {
        /// Offset in `pt_regs` of the base register.
        base: u16,
        /// Offset in `pt_regs` of the index register.
        index: u16,
        /// The scale: 1, 2, 4 or 8.
        scale: u8,
        /// The displacement.
        displacement: i64,
    },
}

/// The offset in x86-64's `struct pt_regs` of register `name` (without
/// `%`), in any of its widths.
fn register_offset(name: &str) -> Option<u16> {
    const LEGACY: [(&[&str], u16); 9] = [
        (&["rip", "eip"], 128),
        (&["rax", "eax", "ax", "al"], 80),
        (&["rbx", "ebx", "bx", "bl"], 40),
        (&["rcx", "ecx", "cx", "cl"], 88),
        (&["rdx", "edx", "dx", "dl"], 96),
        (&["rsi", "esi", "si", "sil"], 104),
        (&["rdi", "edi", "di", "dil"], 112),
        (&["rbp", "ebp", "bp", "bpl"], 32),
        (&["rsp", "esp", "sp", "spl"], 152),
    ];
    if let Some((_, offset)) = LEGACY.iter().find(|(names, _)| names.contains(&name)) {
        return Some(*offset);
    }
    // r8 to r15, with the d/w/b suffixes: pt_regs holds r15 to r12, then
    // bp and bx, then r11 to r8.
    let number = name.strip_prefix('r')?;
    let digits = number.trim_end_matches(['d', 'w', 'b']);
    if digits.len() + 1 < number.len() || digits.starts_with('0') {
        return None;
    }
    match digits.parse::<u16>().ok()? {
        n @ 12..=15 => Some((15 - n) * 8),
        n @ 8..=11 => Some(48 + (11 - n) * 8),
        _ => None,
    }
}

/// A decimal or `0x` hexadecimal integer with an optional sign.
fn parse_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let magnitude = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u64::from_str_radix(hex, 16).ok()?
        }
        _ if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.parse::<u64>().ok()?
        }
        _ => return None,
    };
    // Constants may be written as unsigned 64-bit values: keep the bits.
    let value = magnitude as i64;
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// `%reg`.
fn register(text: &str) -> std::result::Result<u16, String> {
    let name = text
        .trim()
        .strip_prefix('%')
        .ok_or_else(|| format!("`{text}` is not a register (`%name`)"))?;
    register_offset(name).ok_or_else(|| format!("unknown x86-64 register `%{name}`"))
}

/// Parses one argument (`-4@-20(%rbp)`). A symbol operand
/// (`-4@counter(%rip)`) needs the binary's symbols: see [`parse_args_at`].
pub fn parse_arg(text: &str) -> std::result::Result<UsdtArg, String> {
    parse_arg_at(text, 0, &|_| None)
}

/// `rip` in `pt_regs`.
const RIP: u16 = 128;

/// Parses one argument of the site at address `site`, whose symbol
/// operands `symbol` resolves to addresses.
fn parse_arg_at(
    text: &str,
    site: u64,
    symbol: &dyn Fn(&str) -> Option<u64>,
) -> std::result::Result<UsdtArg, String> {
    let (size, operand) = text
        .split_once('@')
        .ok_or_else(|| format!("`{text}` has no `size@` prefix"))?;
    let size: i8 = size
        .parse()
        .map_err(|_| format!("`{size}` is not a size (1, 2, 4 or 8, negative when signed)"))?;
    let (signed, size) = (size < 0, size.unsigned_abs());
    if ![1, 2, 4, 8].contains(&size) {
        return Err(format!("size {size} is not 1, 2, 4 or 8"));
    }
    let location = if let Some(constant) = operand.strip_prefix('$') {
        UsdtArgLocation::Constant(
            parse_int(constant)
                .ok_or_else(|| format!("`${constant}` is not an integer constant"))?,
        )
    } else if operand.starts_with('%') {
        UsdtArgLocation::Register {
            offset: register(operand)?,
        }
    } else if let Some((displacement, rest)) = operand.split_once('(') {
        let inner = rest
            .strip_suffix(')')
            .ok_or_else(|| format!("`{operand}` has no closing `)`"))?;
        let displacement = match displacement {
            "" => 0,
            d => match parse_int(d) {
                Some(d) => d,
                // `symbol[+-offset](%rip)`, gcc's form for a global: the
                // symbol's address. At the probe `rip` holds the site's
                // address (the kernel sets it back to the breakpoint
                // before the handlers run), and both move together in a
                // position-independent binary, so the displacement from
                // `rip` is `symbol - site`.
                None if register(inner).ok() == Some(RIP) => {
                    let split = d
                        .char_indices()
                        .skip(1)
                        .filter(|&(_, c)| c == '+' || c == '-')
                        .last()
                        .map(|(i, _)| i);
                    let (name, extra) = match split {
                        Some(i) => (
                            &d[..i],
                            parse_int(&d[i..])
                                .ok_or_else(|| format!("`{d}` is not `symbol+offset`"))?,
                        ),
                        None => (d, 0),
                    };
                    let address = symbol(name).ok_or_else(|| {
                        format!(
                            "symbol `{name}` is not in the binary's symbol tables (a stripped binary keeps only exported ones)"
                        )
                    })?;
                    address.wrapping_add(extra as u64).wrapping_sub(site) as i64
                }
                None => return Err(format!("`{d}` is not a displacement")),
            },
        };
        let parts: Vec<&str> = inner.split(',').collect();
        match parts.as_slice() {
            [base] => UsdtArgLocation::Memory {
                base: register(base)?,
                displacement,
            },
            [base, index, scale @ ..] if scale.len() <= 1 => {
                let scale = match scale.first() {
                    None => 1,
                    Some(s) => match s.trim().parse::<u8>() {
                        Ok(s @ (1 | 2 | 4 | 8)) => s,
                        _ => return Err(format!("scale `{s}` is not 1, 2, 4 or 8")),
                    },
                };
                UsdtArgLocation::Indexed {
                    base: register(base)?,
                    index: register(index)?,
                    scale,
                    displacement,
                }
            }
            _ => return Err(format!("`{operand}` is not a memory operand")),
        }
    } else {
        return Err(format!(
            "`{operand}` is not a register, constant or memory operand"
        ));
    };
    Ok(UsdtArg {
        location,
        size,
        signed,
    })
}

/// Parses a site's argument spec (space-separated arguments). Symbol
/// operands need the binary's symbols: see [`parse_args_at`].
///
/// ```
/// use iu::programs::usdt::{UsdtArgLocation, parse_args};
/// let args = parse_args("-4@%edi 8@-24(%rbp)").unwrap();
/// assert_eq!((args[0].size, args[0].signed), (4, true));
/// assert_eq!(args[0].location, UsdtArgLocation::Register { offset: 112 });
/// assert_eq!(args[1].location, UsdtArgLocation::Memory { base: 32, displacement: -24 });
/// ```
pub fn parse_args(spec: &str) -> std::result::Result<Vec<UsdtArg>, String> {
    parse_args_at(spec, 0, |_| None)
}

/// Parses the argument spec of the site at address `site`, resolving
/// symbol operands (`-4@counter(%rip)`, gcc's form for a global
/// variable) to addresses with `symbol`: they become memory at `rip`
/// plus the symbol's distance from the site.
///
/// ```
/// use iu::programs::usdt::{UsdtArgLocation, parse_args_at};
/// let args = parse_args_at("-4@counter(%rip)", 0x1100, |s| (s == "counter").then_some(0x4010)).unwrap();
/// assert_eq!(args[0].location, UsdtArgLocation::Memory { base: 128, displacement: 0x2f10 });
/// ```
pub fn parse_args_at(
    spec: &str,
    site: u64,
    symbol: impl Fn(&str) -> Option<u64>,
) -> std::result::Result<Vec<UsdtArg>, String> {
    let args = spec
        .split_ascii_whitespace()
        .map(|arg| parse_arg_at(arg, site, &symbol).map_err(|e| format!("argument `{arg}`: {e}")))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    if args.len() > MAX_ARGS {
        return Err(format!(
            "{} arguments, more than the {MAX_ARGS} a USDT probe can have",
            args.len()
        ));
    }
    Ok(args)
}

/// The bytes of a spec in `IU_USDT_SPECS` (`WORDS_PER_SPEC` words of 16
/// bytes; the layout of iu-ebpf's `programs::usdt`).
fn encode(args: &[UsdtArg], cookie: u64) -> Vec<[u8; 16]> {
    let word = |value: u64, reg: u16, index: u16, kind: u8, shift: u8, signed: bool, scale: u8| {
        let mut w = [0u8; 16];
        w[0..8].copy_from_slice(&value.to_ne_bytes());
        w[8..10].copy_from_slice(&reg.to_ne_bytes());
        w[10..12].copy_from_slice(&index.to_ne_bytes());
        w[12] = kind;
        w[13] = shift;
        w[14] = u8::from(signed);
        w[15] = scale;
        w
    };
    let mut words = vec![[0u8; 16]; WORDS_PER_SPEC];
    words[0] = word(cookie, args.len() as u16, 0, KIND_HEADER, 0, false, 0);
    for (slot, arg) in words[1..].iter_mut().zip(args) {
        let shift = 64 - 8 * arg.size;
        *slot = match arg.location {
            UsdtArgLocation::Constant(v) => word(v as u64, 0, 0, KIND_CONST, shift, arg.signed, 0),
            UsdtArgLocation::Register { offset } => {
                word(0, offset, 0, KIND_REG, shift, arg.signed, 0)
            }
            UsdtArgLocation::Memory { base, displacement } => word(
                displacement as u64,
                base,
                0,
                KIND_REG_DEREF,
                shift,
                arg.signed,
                0,
            ),
            UsdtArgLocation::Indexed {
                base,
                index,
                scale,
                displacement,
            } => word(
                displacement as u64,
                base,
                index,
                KIND_SIB,
                shift,
                arg.signed,
                scale.trailing_zeros() as u8,
            ),
        };
    }
    words
}

/// The probes of `.note.stapsdt` section contents `notes` (little-endian
/// 64-bit notes), with addresses adjusted by the `.stapsdt.base`
/// section's address `base` when the binary has one.
pub fn parse_notes(notes: &[u8], base: Option<u64>) -> std::result::Result<Vec<UsdtProbe>, String> {
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(
            notes.get(at..at.checked_add(4)?)?.try_into().ok()?,
        ))
    };
    let align4 = |n: usize| n.checked_add(3).map(|n| n & !3);
    let mut probes = vec![];
    let mut at = 0;
    while at < notes.len() {
        let start = at;
        let bad = move |what: &str| format!("note at byte {start}: {what}");
        let (Some(name_size), Some(desc_size), Some(kind)) =
            (u32_at(at), u32_at(at + 4), u32_at(at + 8))
        else {
            return Err(bad("truncated header"));
        };
        let name_at = at + 12;
        let desc_at = align4(name_at + name_size as usize).ok_or_else(|| bad("too large"))?;
        let end = align4(desc_at + desc_size as usize).ok_or_else(|| bad("too large"))?;
        let (Some(owner), Some(desc)) = (
            notes.get(name_at..name_at + name_size as usize),
            notes.get(desc_at..desc_at + desc_size as usize),
        ) else {
            return Err(bad("runs past the section's end"));
        };
        at = end;
        if owner != b"stapsdt\0" || kind != NOTE_TYPE {
            continue;
        }
        let addr = |i: usize| -> Option<u64> {
            Some(u64::from_le_bytes(
                desc.get(i * 8..i * 8 + 8)?.try_into().ok()?,
            ))
        };
        let (Some(pc), Some(note_base), Some(semaphore)) = (addr(0), addr(1), addr(2)) else {
            return Err(bad("description shorter than its three addresses"));
        };
        let mut strings = desc[24..].split(|&b| b == 0);
        let mut text = |what| {
            strings
                .next()
                .and_then(|s| std::str::from_utf8(s).ok())
                .map(str::to_owned)
                .ok_or_else(|| bad(what))
        };
        let (provider, name, args) = (
            text("no provider")?,
            text("no name")?,
            text("no arguments")?,
        );
        // Prelink moves the code but not the notes: shift by how far
        // `.stapsdt.base` moved since the link.
        let shift = match base {
            Some(base) if note_base != 0 => base.wrapping_sub(note_base),
            _ => 0,
        };
        probes.push(UsdtProbe {
            provider,
            name,
            address: pc.wrapping_add(shift),
            semaphore: if semaphore == 0 {
                0
            } else {
                semaphore.wrapping_add(shift)
            },
            args,
        });
    }
    Ok(probes)
}

/// The USDT probes of the ELF file at `path` (an executable or a shared
/// library), from its `.note.stapsdt` notes: empty if it has none.
///
/// ```no_run
/// # fn run() -> Result<(), iu::Error> {
/// for p in iu::programs::usdt::probes("/usr/lib/x86_64-linux-gnu/libc.so.6")? {
///     println!("{}:{} at {:#x}: {}", p.provider, p.name, p.address, p.args);
/// }
/// # Ok(()) }
/// ```
pub fn probes(path: impl AsRef<Path>) -> Result<Vec<UsdtProbe>> {
    Ok(Binary::read(path.as_ref())?.probes)
}

/// A binary's probes, its loadable segments and its symbols.
struct Binary {
    probes: Vec<UsdtProbe>,
    /// Defined symbols' addresses, for `symbol(%rip)` operands.
    symbols: HashMap<String, u64>,
    /// `(address, size, file offset, executable)` of each PT_LOAD.
    segments: Vec<(u64, u64, u64, bool)>,
}

impl Binary {
    fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            context: format!("reading {}", path.display()),
            source,
        })?;
        let parse = |e: String| Error::Parse(format!("{}: {e}", path.display()));
        let file = object::File::parse(&*bytes).map_err(|e| parse(e.to_string()))?;
        let base = file.section_by_name(".stapsdt.base").map(|s| s.address());
        let probes = match file.section_by_name(".note.stapsdt") {
            Some(notes) => parse_notes(notes.data().map_err(|e| parse(e.to_string()))?, base)
                .map_err(|e| parse(format!(".note.stapsdt: {e}")))?,
            None => vec![],
        };
        let segments = file
            .segments()
            .map(|s| {
                let (offset, _) = s.file_range();
                let exec = match s.flags() {
                    object::SegmentFlags::Elf { p_flags } => p_flags & object::elf::PF_X != 0,
                    _ => false,
                };
                (s.address(), s.size(), offset, exec)
            })
            .collect();
        let symbols = file
            .symbols()
            .chain(file.dynamic_symbols())
            .filter(|s| s.is_definition())
            .filter_map(|s| Some((s.name().ok()?.to_owned(), s.address())))
            .collect();
        Ok(Self {
            probes,
            segments,
            symbols,
        })
    }

    /// The file offset of virtual address `address`, in an executable
    /// segment or not.
    fn file_offset(&self, address: u64, exec: bool) -> Option<u64> {
        self.segments
            .iter()
            .find(|&&(start, size, _, x)| x == exec && address >= start && address - start < size)
            .map(|&(start, _, offset, _)| address - start + offset)
    }
}

/// Spec slots of `IU_USDT_SPECS` in use, shared by an object's programs.
#[derive(Debug, Default)]
pub(crate) struct SpecSlots(Mutex<Vec<bool>>);

impl SpecSlots {
    /// `count` free slots, taken.
    fn take(self: &Arc<Self>, count: usize) -> Option<SlotLease> {
        let mut used = self.0.lock().unwrap_or_else(|e| e.into_inner());
        used.resize(MAX_SPECS, false);
        let free: Vec<u32> = (0..MAX_SPECS as u32)
            .filter(|&i| !used[i as usize])
            .take(count)
            .collect();
        if free.len() < count {
            return None;
        }
        for &i in &free {
            used[i as usize] = true;
        }
        Some(SlotLease {
            slots: Arc::clone(self),
            ids: free,
        })
    }
}

/// Slots held by a link, given back when it drops.
#[derive(Debug)]
struct SlotLease {
    slots: Arc<SpecSlots>,
    ids: Vec<u32>,
}

impl Drop for SlotLease {
    fn drop(&mut self) {
        let mut used = self.slots.0.lock().unwrap_or_else(|e| e.into_inner());
        for &i in &self.ids {
            if let Some(slot) = used.get_mut(i as usize) {
                *slot = false;
            }
        }
    }
}

/// A loaded `#[usdt]` program, ready to attach.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// // #[usdt(provider = "python", name = "function__entry")] in the program.
/// let link = ebpf.usdt("entries")?.attach_to("/usr/bin/python3", "python", "function__entry", None)?;
/// println!("{} call sites", link.sites());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Usdt<'a> {
    program: &'a Program,
    specs: Option<&'a Map>,
    slots: &'a Arc<SpecSlots>,
    cookie: u64,
}

impl<'a> Usdt<'a> {
    pub(crate) fn new(
        program: &'a Program,
        specs: Option<&'a Map>,
        slots: &'a Arc<SpecSlots>,
    ) -> Result<Self> {
        if !is_usdt(&program.section_name) {
            return Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "a USDT program (`#[usdt]`)",
                actual: program.section_name.clone(),
            });
        }
        Ok(Self {
            program,
            specs,
            slots,
            cookie: 0,
        })
    }

    /// The same program, attaching with `cookie`, which the program reads
    /// with `UsdtContext::cookie` (to tell apart several probes one
    /// program is attached to).
    pub fn with_cookie(self, cookie: u64) -> Self {
        Self { cookie, ..self }
    }

    /// Attaches to the probe the section names (`usdt/<provider>:<name>`
    /// with `binary`, or `usdt/<binary>:<provider>:<name>` with `binary`
    /// `None`), for process `pid` or every process.
    pub fn attach(&self, binary: Option<&Path>, pid: Option<i32>) -> Result<UsdtLink> {
        let no_target = || Error::NoAttachTarget(self.program.name.clone());
        let target = self
            .program
            .section_name
            .strip_prefix("usdt/")
            .ok_or_else(no_target)?;
        let (rest, name) = target.rsplit_once(':').ok_or_else(no_target)?;
        let (in_section, provider) = match rest.rsplit_once(':') {
            Some((binary, provider)) => (Some(Path::new(binary)), provider),
            None => (None, rest),
        };
        let binary = binary.or(in_section).ok_or_else(no_target)?;
        self.attach_to(binary, provider, name, pid)
    }

    /// Attaches to every site of probe `provider:name` in `binary` (a
    /// path, or a name looked up in `PATH` and the library directories),
    /// for process `pid` or every process. [`Error::UnknownUsdtProbe`]
    /// lists the probes the binary has when it lacks this one;
    /// [`Error::BadUsdtSpec`] names a site whose argument spec iu cannot
    /// read.
    pub fn attach_to(
        &self,
        binary: impl AsRef<Path>,
        provider: &str,
        name: &str,
        pid: Option<i32>,
    ) -> Result<UsdtLink> {
        let path = probe::resolve_binary(binary.as_ref())?;
        let elf = Binary::read(&path)?;
        let sites: Vec<&UsdtProbe> = elf
            .probes
            .iter()
            .filter(|p| p.provider == provider && p.name == name)
            .collect();
        if sites.is_empty() {
            let mut available: Vec<String> = elf
                .probes
                .iter()
                .map(|p| format!("{}:{}", p.provider, p.name))
                .collect();
            available.sort();
            available.dedup();
            return Err(Error::UnknownUsdtProbe {
                probe: format!("{provider}:{name}"),
                binary: path,
                available,
            });
        }
        let bad = |site: &UsdtProbe, reason: String| Error::BadUsdtSpec {
            probe: format!("{provider}:{name}"),
            binary: path.clone(),
            address: site.address,
            spec: site.args.clone(),
            reason,
        };
        // Sites sharing a spec share its slot.
        let mut distinct: HashMap<Vec<UsdtArg>, usize> = HashMap::new();
        let mut parsed = vec![];
        let mut offsets = vec![];
        let mut ref_ctrs = vec![];
        let mut site_spec = vec![];
        for site in &sites {
            let args = parse_args_at(&site.args, site.address, |name| {
                elf.symbols.get(name).copied()
            })
            .map_err(|e| bad(site, e))?;
            let offset = elf.file_offset(site.address, true).ok_or_else(|| {
                bad(
                    site,
                    format!("address {:#x} is in no executable segment", site.address),
                )
            })?;
            let ref_ctr = match site.semaphore {
                0 => 0,
                s => elf.file_offset(s, false).ok_or_else(|| {
                    bad(
                        site,
                        format!("semaphore address {s:#x} is in no data segment"),
                    )
                })?,
            };
            let next = distinct.len();
            let index = *distinct.entry(args.clone()).or_insert_with(|| {
                parsed.push(args);
                next
            });
            offsets.push(offset);
            ref_ctrs.push(ref_ctr);
            site_spec.push(index);
        }
        if ref_ctrs.iter().any(|&r| r != 0)
            && !Path::new("/sys/bus/event_source/devices/uprobe/format/ref_ctr_offset").exists()
        {
            return Err(Error::MissingFeature {
                feature: "uprobe reference counters for USDT semaphores (Linux 4.20)",
                detail: format!(
                    "probe {provider}:{name} in {} has a semaphore",
                    path.display()
                ),
            });
        }
        let lease = self
            .slots
            .take(parsed.len())
            .ok_or_else(|| Error::UsdtSpecsFull {
                program: self.program.name.clone(),
                needed: parsed.len(),
                max: MAX_SPECS,
            })?;
        if let Some(map) = self.specs {
            for (args, &slot) in parsed.iter().zip(&lease.ids) {
                for (i, word) in encode(args, self.cookie).iter().enumerate() {
                    let key = slot * WORDS_PER_SPEC as u32 + i as u32;
                    sys::map_update_elem(map.fd.as_fd(), &key.to_ne_bytes(), word, 0).map_err(
                        |e| Error::Io {
                            context: format!(
                                "writing the USDT spec of {provider}:{name} into {SPECS_MAP}"
                            ),
                            source: e,
                        },
                    )?;
                }
            }
        }
        let cookies: Vec<u64> = site_spec.iter().map(|&i| u64::from(lease.ids[i])).collect();
        let target = format!(
            "USDT {provider}:{name} at {} sites in {}",
            offsets.len(),
            path.display()
        );
        let links = if crate::features::uprobe_multi() {
            // The program was loaded for it (`BPF_TRACE_UPROBE_MULTI`,
            // `LoadType::of`).
            let sites = uprobe_multi::Sites {
                offsets: &offsets,
                ref_ctrs: &ref_ctrs,
                cookies: &cookies,
            };
            Links::Multi(uprobe_multi::link(
                self.program,
                &path,
                &sites,
                false,
                pid,
                target.clone(),
            )?)
        } else {
            Links::Sites(self.attach_sites(&path, &offsets, &ref_ctrs, &cookies, pid, &target)?)
        };
        Ok(UsdtLink {
            links,
            sites: offsets.len(),
            target,
            _lease: lease,
        })
    }

    /// A perf uprobe per site, each with its cookie (perf links, 5.15).
    fn attach_sites(
        &self,
        path: &Path,
        offsets: &[u64],
        ref_ctrs: &[u64],
        cookies: &[u64],
        pid: Option<i32>,
        target: &str,
    ) -> Result<Vec<PerfLink>> {
        if !crate::features::perf_link() {
            return Err(Error::MissingFeature {
                feature: "BPF cookies on perf links (Linux 5.15), which USDT argument specs need",
                detail: target.to_owned(),
            });
        }
        let (kind, _) = probe::pmu(
            "uprobe",
            "uprobes (kernel built without CONFIG_UPROBE_EVENTS)",
        )?;
        let c_path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| Error::NoAttachTarget(self.program.name.clone()))?;
        let (pid, cpu) = match pid {
            Some(pid) => (pid, -1),
            None => (-1, 0),
        };
        let mut links = Vec::with_capacity(offsets.len());
        for ((&offset, &ref_ctr), &cookie) in offsets.iter().zip(ref_ctrs).zip(cookies) {
            let attr = PerfEventAttr {
                type_: kind,
                // PERF_UPROBE_REF_CTR_OFFSET_SHIFT
                config: ref_ctr << 32,
                config1: c_path.as_ptr() as u64,
                config2: offset,
                ..Default::default()
            };
            links.push(perf_link::attach_with_cookie(
                self.program,
                &attr,
                (pid, cpu),
                format!("{target}: site at file offset {offset:#x}"),
                None,
                cookie,
            )?);
        }
        drop(c_path);
        Ok(links)
    }
}

#[derive(Debug)]
enum Links {
    Multi(#[allow(dead_code)] FdLink),
    Sites(#[allow(dead_code)] Vec<PerfLink>),
}

/// An attached `#[usdt]` program. Dropping it removes the probe from
/// every site (and the semaphores' counts).
#[derive(Debug)]
pub struct UsdtLink {
    /// Declared first: detached before the spec slots are given back.
    links: Links,
    sites: usize,
    target: String,
    _lease: SlotLease,
}

impl UsdtLink {
    /// How many call sites the probe is attached at.
    pub fn sites(&self) -> usize {
        self.sites
    }

    /// Whether it is one uprobe.multi link (Linux 6.6) rather than a
    /// uprobe per site.
    pub fn is_multi(&self) -> bool {
        matches!(self.links, Links::Multi(_))
    }

    /// The hook, for example `USDT iu_test:regs at 1 sites in /bin/x`.
    pub fn target(&self) -> &str {
        &self.target
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(size: u8, signed: bool, location: UsdtArgLocation) -> UsdtArg {
        UsdtArg {
            location,
            size,
            signed,
        }
    }

    #[test]
    fn registers_of_every_width() {
        for (names, offset) in [
            (["rax", "eax", "ax", "al"], 80),
            (["rdi", "edi", "di", "dil"], 112),
            (["rsp", "esp", "sp", "spl"], 152),
            (["r8", "r8d", "r8w", "r8b"], 72),
            (["r11", "r11d", "r11w", "r11b"], 48),
            (["r15", "r15d", "r15w", "r15b"], 0),
            (["r12", "r12d", "r12w", "r12b"], 24),
        ] {
            for name in names {
                assert_eq!(register_offset(name), Some(offset), "{name}");
            }
        }
        assert_eq!(register_offset("rip"), Some(128));
        for bad in ["r7", "r16", "r08", "r8q", "r8dd", "ah", "xmm0", "", "r"] {
            assert_eq!(register_offset(bad), None, "{bad}");
        }
    }

    #[test]
    fn specs_of_every_shape() {
        use UsdtArgLocation::*;
        assert_eq!(
            parse_args("-4@%edi 8@%rax -4@$5 8@-8(%rbp) 4@16(%rsp) 1@%r9b -2@$-7 8@(%rdx)")
                .unwrap(),
            vec![
                arg(4, true, Register { offset: 112 }),
                arg(8, false, Register { offset: 80 }),
                arg(4, true, Constant(5)),
                arg(
                    8,
                    false,
                    Memory {
                        base: 32,
                        displacement: -8
                    }
                ),
                arg(
                    4,
                    false,
                    Memory {
                        base: 152,
                        displacement: 16
                    }
                ),
                arg(1, false, Register { offset: 64 }),
                arg(2, true, Constant(-7)),
                arg(
                    8,
                    false,
                    Memory {
                        base: 96,
                        displacement: 0
                    }
                ),
            ]
        );
        assert_eq!(
            parse_args("1@-96(%rbp,%rax,8) -2@(%rbx,%rcx) 8@$0xffffffffffffffff").unwrap(),
            vec![
                arg(
                    1,
                    false,
                    Indexed {
                        base: 32,
                        index: 80,
                        scale: 8,
                        displacement: -96
                    }
                ),
                arg(
                    2,
                    true,
                    Indexed {
                        base: 40,
                        index: 88,
                        scale: 1,
                        displacement: 0
                    }
                ),
                arg(8, false, Constant(-1)),
            ]
        );
        assert_eq!(parse_args("").unwrap(), vec![]);
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (spec, says) in [
            ("%edi", "no `size@`"),
            ("3@%edi", "size 3"),
            ("x@%edi", "not a size"),
            ("4@%xmm0", "unknown x86-64 register `%xmm0`"),
            (
                "8@sym(%rip)",
                "symbol `sym` is not in the binary's symbol tables",
            ),
            ("8@sym(%rbp)", "`sym` is not a displacement"),
            ("4@$x", "not an integer"),
            ("4@-8(%rbp", "closing"),
            ("4@(%rbp,%rax,3)", "scale"),
            ("4@edi", "not a register, constant or memory"),
            (
                "4@%eax 4@%eax 4@%eax 4@%eax 4@%eax 4@%eax 4@%eax 4@%eax 4@%eax 4@%eax 4@%eax 4@%eax 4@%eax",
                "13 arguments",
            ),
        ] {
            let e = parse_args(spec).unwrap_err();
            assert!(e.contains(says), "{spec}: {e}");
        }
    }

    #[test]
    fn symbol_operands_are_rip_relative_to_the_site() {
        let symbol = |name: &str| match name {
            "counter" => Some(0x4010),
            "table.0" => Some(0x5000),
            _ => None,
        };
        let at = |spec| parse_args_at(spec, 0x1100, symbol).map(|a| a[0].location);
        let memory = |displacement| UsdtArgLocation::Memory {
            base: RIP,
            displacement,
        };
        assert_eq!(at("-4@counter(%rip)"), Ok(memory(0x2f10)));
        assert_eq!(at("8@table.0+16(%rip)"), Ok(memory(0x3f10)));
        assert_eq!(at("8@table.0-8(%rip)"), Ok(memory(0x3ef8)));
        assert_eq!(at("8@16(%rip)"), Ok(memory(16)));
        assert!(at("4@nope(%rip)").unwrap_err().contains("`nope`"));
    }

    #[test]
    fn encoding_matches_iu_ebpf() {
        let words = encode(&parse_args("-4@-20(%rbp) 2@$7").unwrap(), 99);
        assert_eq!(words.len(), WORDS_PER_SPEC);
        assert_eq!(u64::from_ne_bytes(words[0][..8].try_into().unwrap()), 99);
        assert_eq!(u16::from_ne_bytes([words[0][8], words[0][9]]), 2);
        assert_eq!(words[0][12], KIND_HEADER);
        assert_eq!(i64::from_ne_bytes(words[1][..8].try_into().unwrap()), -20);
        assert_eq!(u16::from_ne_bytes([words[1][8], words[1][9]]), 32);
        assert_eq!(words[1][12..], [KIND_REG_DEREF, 32, 1, 0]);
        assert_eq!(words[2][12..], [KIND_CONST, 48, 0, 0]);
        assert_eq!(words[3], [0; 16]);
    }

    /// A note as the assembler writes it.
    fn note(pc: u64, base: u64, sema: u64, strings: &[&str]) -> Vec<u8> {
        let mut desc = [pc, base, sema]
            .iter()
            .flat_map(|a| a.to_le_bytes())
            .collect::<Vec<u8>>();
        for s in strings {
            desc.extend_from_slice(s.as_bytes());
            desc.push(0);
        }
        let mut out = vec![];
        out.extend_from_slice(&8u32.to_le_bytes());
        out.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(b"stapsdt\0");
        out.extend_from_slice(&desc);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out
    }

    #[test]
    fn notes_give_sites_adjusted_by_the_base() {
        let mut notes = note(0x1100, 0x2000, 0, &["app", "start", "-4@%edi"]);
        notes.extend(note(0x1200, 0x2000, 0x4010, &["app", "done", ""]));
        // A note of another owner is skipped.
        notes.extend_from_slice(&4u32.to_le_bytes());
        notes.extend_from_slice(&4u32.to_le_bytes());
        notes.extend_from_slice(&1u32.to_le_bytes());
        notes.extend_from_slice(b"GNU\0abcd");
        let probes = parse_notes(&notes, Some(0x2000)).unwrap();
        assert_eq!(probes.len(), 2);
        assert_eq!(probes[0].provider, "app");
        assert_eq!(probes[0].name, "start");
        assert_eq!(probes[0].args, "-4@%edi");
        assert_eq!((probes[0].address, probes[0].semaphore), (0x1100, 0));
        assert_eq!((probes[1].address, probes[1].semaphore), (0x1200, 0x4010));
        // Prelinked 0x10000 higher.
        let moved = parse_notes(&notes, Some(0x12000)).unwrap();
        assert_eq!((moved[1].address, moved[1].semaphore), (0x11200, 0x14010));
        // No `.stapsdt.base`: addresses as written.
        assert_eq!(parse_notes(&notes, None).unwrap()[1].address, 0x1200);
    }

    #[test]
    fn broken_notes_are_errors_not_panics() {
        let notes = note(1, 2, 3, &["p", "n", "1@%al"]);
        for cut in 0..notes.len() {
            let _ = parse_notes(&notes[..cut], None);
        }
        assert!(
            parse_notes(&notes[..10], None)
                .unwrap_err()
                .contains("truncated")
        );
        assert!(
            parse_notes(&notes[..30], None)
                .unwrap_err()
                .contains("past")
        );
        let mut huge = notes.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse_notes(&huge, None).is_err());
        let mut short = note(1, 2, 3, &[]);
        short.truncate(12 + 8 + 16);
        short[4..8].copy_from_slice(&16u32.to_le_bytes());
        assert!(
            parse_notes(&short, None)
                .unwrap_err()
                .contains("three addresses")
        );
    }
}
