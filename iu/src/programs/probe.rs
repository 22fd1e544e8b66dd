//! kprobes and uprobes: attached through the `kprobe` and `uprobe` perf
//! PMUs (Linux 4.17+), with a bpf_link where the kernel has one.

use std::{
    ffi::CString,
    os::unix::ffi::OsStrExt,
    path::{Path, PathBuf},
};

use aya_obj::ProgramSection;
use object::{Object as _, ObjectSection as _, ObjectSymbol as _};

use super::{PerfLink, Program, perf_link};
use crate::{
    error::{Error, Result},
    sys::PerfEventAttr,
};

/// The type and return-probe bit of a dynamic PMU, from sysfs.
fn pmu(name: &'static str, feature: &'static str) -> Result<(u32, u64)> {
    let dir = Path::new("/sys/bus/event_source/devices").join(name);
    let missing = |detail: String| Error::MissingFeature { feature, detail };
    let kind = std::fs::read_to_string(dir.join("type"))
        .map_err(|_| missing(format!("no {}", dir.display())))?;
    let kind = kind
        .trim()
        .parse()
        .map_err(|_| missing(format!("bad {}/type", dir.display())))?;
    // `config:0`: the bit that makes it a return probe.
    let bit = std::fs::read_to_string(dir.join("format/retprobe"))
        .ok()
        .and_then(|f| f.trim().strip_prefix("config:")?.parse::<u32>().ok())
        .unwrap_or(0);
    Ok((kind, 1 << bit))
}

/// A loaded kprobe or kretprobe program, ready to attach.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let link = ebpf.kprobe("open")?.attach_to("do_sys_openat2", 0)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct KProbe<'a> {
    program: &'a Program,
    ret: bool,
}

impl<'a> KProbe<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        match program.section {
            // Netfilter and struct_ops programs parse as kprobes
            // (`section_alias`).
            _ if program.section_name == "netfilter"
                || program.section_name.starts_with("struct_ops/") =>
            {
                Err(Error::WrongProgramType {
                    name: program.name.clone(),
                    expected: "a kprobe program",
                    actual: program.section_name.clone(),
                })
            }
            ProgramSection::KProbe => Ok(Self {
                program,
                ret: false,
            }),
            ProgramSection::KRetProbe => Ok(Self { program, ret: true }),
            _ => Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "a kprobe program",
                actual: program.section_name.clone(),
            }),
        }
    }

    /// Attaches to the function (and offset) the program's section names
    /// (`kprobe/<function>[+offset]`).
    pub fn attach(&self) -> Result<PerfLink> {
        let target = self
            .program
            .section_name
            .split_once('/')
            .map(|(_, t)| t)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::NoAttachTarget(self.program.name.clone()))?;
        let (function, offset) = match target.split_once('+') {
            Some((f, o)) => (
                f,
                parse_offset(o).ok_or_else(|| Error::NoAttachTarget(self.program.name.clone()))?,
            ),
            None => (target, 0),
        };
        self.attach_to(function, offset)
    }

    /// Attaches to kernel function `function` at byte `offset`, through the
    /// kprobe perf PMU, or where the kernel has none (before 4.17) through a
    /// kprobe event in tracefs ([`KProbe::attach_via_tracefs`]).
    pub fn attach_to(&self, function: &str, offset: u64) -> Result<PerfLink> {
        let (kind, ret_bit) = match pmu("kprobe", "kprobes (kernel built without CONFIG_KPROBES)") {
            Ok(pmu) => pmu,
            Err(Error::MissingFeature { .. }) if crate::tracefs::KProbeEvent::supported() => {
                return self.attach_via_tracefs(function, offset);
            }
            Err(e) => return Err(e),
        };
        let name =
            CString::new(function).map_err(|_| Error::NoAttachTarget(self.program.name.clone()))?;
        let attr = PerfEventAttr {
            type_: kind,
            config: if self.ret { ret_bit } else { 0 },
            config1: name.as_ptr() as u64,
            config2: offset,
            ..Default::default()
        };
        let kind_name = if self.ret { "kretprobe" } else { "kprobe" };
        // `name` lives until after the call that reads it.
        let link = perf_link::attach(
            self.program,
            &attr,
            (-1, 0),
            format!("{kind_name} {function}+{offset}"),
            None,
        );
        drop(name);
        link.map_err(|e| match e {
            Error::Attach {
                program,
                target,
                source,
                ..
            } if source.errno() == Some(libc::ENOENT) => Error::Attach {
                program,
                target,
                source,
                hint: Some("no such kernel function, or it cannot be probed: check /proc/kallsyms"),
            },
            other => other,
        })
    }

    /// Attaches to kernel function `function` at byte `offset` through a
    /// kprobe event created in tracefs's `kprobe_events`, which the link
    /// removes when dropped: the way for kernels without the kprobe PMU,
    /// which [`KProbe::attach_to`] takes by itself there.
    pub fn attach_via_tracefs(&self, function: &str, offset: u64) -> Result<PerfLink> {
        let kind_name = if self.ret { "kretprobe" } else { "kprobe" };
        let target = format!("{kind_name} {function}+{offset} (tracefs kprobe_events)");
        let (event, id) =
            crate::tracefs::KProbeEvent::create(self.ret, function, offset).map_err(|e| {
                Error::Attach {
                    program: self.program.name.clone(),
                    target: target.clone(),
                    hint: match e.raw_os_error() {
                        Some(libc::ENOENT | libc::EINVAL) => Some(
                            "no such kernel function, or it cannot be probed: check /proc/kallsyms",
                        ),
                        Some(libc::EACCES | libc::EPERM) => {
                            Some("writing tracefs's kprobe_events needs root")
                        }
                        _ => None,
                    },
                    source: crate::sys::SyscallError::new("write(kprobe_events)", e),
                }
            })?;
        let attr = PerfEventAttr {
            type_: crate::sys::PERF_TYPE_TRACEPOINT,
            config: id,
            sample_period: 1,
            wakeup_events: 1,
            ..Default::default()
        };
        let mut link = perf_link::attach(self.program, &attr, (-1, 0), target, None)?;
        link.kprobe_event = Some(event);
        Ok(link)
    }
}

fn parse_offset(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// A loaded uprobe or uretprobe program, ready to attach.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let link = ebpf.uprobe("malloc_called")?.attach("libc.so.6", "malloc", None)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct UProbe<'a> {
    program: &'a Program,
    ret: bool,
}

impl<'a> UProbe<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        match program.section {
            // uprobe.multi sections parse as uprobes (`section_alias`).
            _ if super::is_uprobe_multi(&program.section_name) => Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "a uprobe program (this is a uprobe.multi program: use `uprobe_multi`)",
                actual: program.section_name.clone(),
            }),
            ProgramSection::UProbe { .. } => Ok(Self {
                program,
                ret: false,
            }),
            ProgramSection::URetProbe { .. } => Ok(Self { program, ret: true }),
            _ => Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "a uprobe program",
                actual: program.section_name.clone(),
            }),
        }
    }

    /// Attaches to `symbol` in `binary` (a path, or a name looked up in
    /// `PATH` and the usual library directories), for process `pid` or for
    /// every process.
    pub fn attach(
        &self,
        binary: impl AsRef<Path>,
        symbol: &str,
        pid: Option<i32>,
    ) -> Result<PerfLink> {
        let path = resolve_binary(binary.as_ref())?;
        let offset = symbol_offset(&path, symbol)?;
        self.attach_at(&path, offset, pid, symbol)
    }

    /// Attaches at file `offset` of `binary`.
    pub fn attach_at(
        &self,
        binary: &Path,
        offset: u64,
        pid: Option<i32>,
        label: &str,
    ) -> Result<PerfLink> {
        let (kind, ret_bit) = pmu(
            "uprobe",
            "uprobes (kernel built without CONFIG_UPROBE_EVENTS)",
        )?;
        let path = CString::new(binary.as_os_str().as_bytes())
            .map_err(|_| Error::NoAttachTarget(self.program.name.clone()))?;
        let attr = PerfEventAttr {
            type_: kind,
            config: if self.ret { ret_bit } else { 0 },
            config1: path.as_ptr() as u64,
            config2: offset,
            ..Default::default()
        };
        let kind_name = if self.ret { "uretprobe" } else { "uprobe" };
        let target = format!("{kind_name} {}:{label}", binary.display());
        let (pid, cpu) = match pid {
            Some(pid) => (pid, -1),
            None => (-1, 0),
        };
        let link = perf_link::attach(self.program, &attr, (pid, cpu), target, None);
        drop(path);
        link
    }
}

/// Finds a binary by path, in `PATH`, or in the library directories.
pub(crate) fn resolve_binary(binary: &Path) -> Result<PathBuf> {
    if binary.components().count() > 1 || binary.is_absolute() {
        return Ok(binary.to_owned());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(
        [
            "/lib/x86_64-linux-gnu",
            "/usr/lib/x86_64-linux-gnu",
            "/lib64",
            "/usr/lib64",
            "/lib",
            "/usr/lib",
        ]
        .into_iter()
        .map(PathBuf::from),
    );
    for dir in dirs {
        let candidate = dir.join(binary);
        if candidate.exists() {
            return Ok(candidate);
        }
    }
    Err(Error::Io {
        context: format!("finding {}", binary.display()),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "not in PATH or the library directories",
        ),
    })
}

/// The file offsets of the functions defined in the ELF file at `path`
/// whose names `wanted` accepts.
pub(crate) fn function_offsets(path: &Path, wanted: impl Fn(&str) -> bool) -> Result<Vec<u64>> {
    let io = |source| Error::Io {
        context: format!("reading {}", path.display()),
        source,
    };
    let bytes = std::fs::read(path).map_err(io)?;
    let file = object::File::parse(&*bytes)
        .map_err(|e| Error::Parse(format!("{}: {e}", path.display())))?;
    Ok(file
        .symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| {
            s.kind() == object::SymbolKind::Text && s.is_definition() && s.name().is_ok_and(&wanted)
        })
        .filter_map(|s| {
            let section = file.section_by_index(s.section_index()?).ok()?;
            let (file_offset, _) = section.file_range()?;
            Some(s.address() - section.address() + file_offset)
        })
        .collect())
}

/// The file offset of `symbol` in the ELF file at `path`.
pub(crate) fn symbol_offset(path: &Path, symbol: &str) -> Result<u64> {
    let io = |source| Error::Io {
        context: format!("reading {}", path.display()),
        source,
    };
    let bytes = std::fs::read(path).map_err(io)?;
    let file = object::File::parse(&*bytes)
        .map_err(|e| Error::Parse(format!("{}: {e}", path.display())))?;
    let found = file
        .symbols()
        .chain(file.dynamic_symbols())
        .find(|s| s.name() == Ok(symbol) && s.is_definition())
        .ok_or_else(|| Error::UnknownSymbol {
            symbol: symbol.to_owned(),
            binary: path.to_owned(),
        })?;
    let section = found
        .section_index()
        .and_then(|i| file.section_by_index(i).ok())
        .ok_or_else(|| Error::UnknownSymbol {
            symbol: symbol.to_owned(),
            binary: path.to_owned(),
        })?;
    let (file_offset, _) = section.file_range().unwrap_or((section.address(), 0));
    Ok(found.address() - section.address() + file_offset)
}
