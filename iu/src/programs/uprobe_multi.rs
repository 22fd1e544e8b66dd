//! uprobe.multi and uretprobe.multi programs (Linux 6.6): one bpf_link on
//! several functions or offsets of a user binary, each with its own
//! cookie (`ProbeContext::cookie`), with `BPF_TRACE_UPROBE_MULTI`.

use std::{
    ffi::CString,
    os::{fd::AsFd, unix::ffi::OsStrExt},
    path::Path,
};

use super::{FdLink, Program, kprobe_multi::glob, probe};
use crate::{
    error::{CAP_PERFMON_HINT, Error, Result},
    sys,
};

/// Whether `section` is a uprobe.multi or uretprobe.multi section
/// (`uprobe.multi`, `uprobe.multi/<binary>:<pattern>`, and the sleepable
/// `uprobe.multi.s` forms).
pub(crate) fn is_uprobe_multi(section: &str) -> bool {
    split(section).is_some()
}

/// Whether `section` is a sleepable uprobe.multi section
/// (`u[ret]probe.multi.s`).
pub(crate) fn is_sleepable_uprobe_multi(section: &str) -> bool {
    ["uprobe.multi.s", "uretprobe.multi.s"].iter().any(|kind| {
        section
            .strip_prefix(kind)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Whether the section is a return probe, and its `<binary>:<pattern>`.
fn split(section: &str) -> Option<(bool, Option<&str>)> {
    let (ret, rest) = match (
        section.strip_prefix("uprobe.multi"),
        section.strip_prefix("uretprobe.multi"),
    ) {
        (Some(rest), _) => (false, rest),
        (_, Some(rest)) => (true, rest),
        _ => return None,
    };
    let rest = rest.strip_prefix(".s").unwrap_or(rest);
    match rest {
        "" => Some((ret, None)),
        _ => Some((ret, Some(rest.strip_prefix('/')?))),
    }
}

/// A loaded uprobe.multi (or uretprobe.multi) program, ready to attach.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// // #[uprobe_multi] in the program; `ctx.cookie()` tells the calls apart.
/// let link = ebpf
///     .uprobe_multi("allocs")?
///     .attach_symbols("libc.so.6", &[("malloc", 0), ("calloc", 1), ("realloc", 2)], None)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct UProbeMulti<'a> {
    program: &'a Program,
    ret: bool,
    target: Option<&'a str>,
}

impl<'a> UProbeMulti<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        let Some((ret, target)) = split(&program.section_name) else {
            return Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "a uprobe.multi program (`#[uprobe_multi]`, `#[uretprobe_multi]`)",
                actual: program.section_name.clone(),
            });
        };
        Ok(Self {
            program,
            ret,
            target,
        })
    }

    /// Whether it is a return probe (`uretprobe.multi`).
    pub fn is_return(&self) -> bool {
        self.ret
    }

    /// Attaches to the functions of the binary the section names
    /// (`uprobe.multi/<binary>:<pattern>`), for process `pid` or every
    /// process; [`Error::NoAttachTarget`] if the section names none.
    pub fn attach(&self, pid: Option<i32>) -> Result<UProbeMultiLink> {
        let (binary, pattern) = self
            .target
            .and_then(|t| t.rsplit_once(':'))
            .ok_or_else(|| Error::NoAttachTarget(self.program.name.clone()))?;
        self.attach_pattern(binary, pattern, pid)
    }

    /// Attaches to every function of `binary` (a path, or a name looked up
    /// in `PATH` and the library directories) whose name matches the glob
    /// `pattern` (`*` any run, `?` one character), all with cookie 0.
    pub fn attach_pattern(
        &self,
        binary: impl AsRef<Path>,
        pattern: &str,
        pid: Option<i32>,
    ) -> Result<UProbeMultiLink> {
        let path = probe::resolve_binary(binary.as_ref())?;
        let mut offsets =
            probe::function_offsets(&path, |name| glob(pattern.as_bytes(), name.as_bytes()))?;
        if offsets.is_empty() {
            return Err(Error::UnknownSymbol {
                symbol: format!("any function matching `{pattern}`"),
                binary: path,
            });
        }
        offsets.sort_unstable();
        offsets.dedup();
        self.attach_to(&path, &offsets, &[], &format!("`{pattern}`"), pid)
    }

    /// Attaches to the functions `symbols` of `binary`, each with its
    /// cookie (`(name, cookie)`).
    pub fn attach_symbols(
        &self,
        binary: impl AsRef<Path>,
        symbols: &[(&str, u64)],
        pid: Option<i32>,
    ) -> Result<UProbeMultiLink> {
        let path = probe::resolve_binary(binary.as_ref())?;
        let offsets = symbols
            .iter()
            .map(|(name, _)| probe::symbol_offset(&path, name))
            .collect::<Result<Vec<_>>>()?;
        let cookies: Vec<u64> = symbols.iter().map(|&(_, cookie)| cookie).collect();
        self.attach_to(&path, &offsets, &cookies, "listed", pid)
    }

    /// Attaches at file offsets of `binary`, each with its cookie
    /// (`(offset, cookie)`).
    pub fn attach_offsets(
        &self,
        binary: impl AsRef<Path>,
        offsets: &[(u64, u64)],
        pid: Option<i32>,
    ) -> Result<UProbeMultiLink> {
        let path = probe::resolve_binary(binary.as_ref())?;
        let (offsets, cookies): (Vec<u64>, Vec<u64>) = offsets.iter().copied().unzip();
        self.attach_to(&path, &offsets, &cookies, "offsets", pid)
    }

    fn attach_to(
        &self,
        path: &Path,
        offsets: &[u64],
        cookies: &[u64],
        what: &str,
        pid: Option<i32>,
    ) -> Result<UProbeMultiLink> {
        let kind = if self.ret {
            "uretprobe.multi"
        } else {
            "uprobe.multi"
        };
        let target = format!(
            "{kind} on {} places in {} ({what})",
            offsets.len(),
            path.display()
        );
        let sites = Sites {
            offsets,
            ref_ctrs: &[],
            cookies,
        };
        link(self.program, path, &sites, self.ret, pid, target)
    }
}

/// The places of one uprobe.multi link: file offsets, and per offset a
/// reference counter's file offset (a USDT semaphore; empty: none) and a
/// cookie (empty: all 0).
pub(crate) struct Sites<'s> {
    pub(crate) offsets: &'s [u64],
    pub(crate) ref_ctrs: &'s [u64],
    pub(crate) cookies: &'s [u64],
}

/// One uprobe.multi (`ret`: uretprobe.multi) link of `program` on `sites`
/// of the binary at `path`, for process `pid` or every process, named
/// `target` in errors and on the link. `#[uprobe_multi]` programs and
/// USDT probes (`programs/usdt.rs`) attach through it.
pub(crate) fn link(
    program: &Program,
    path: &Path,
    sites: &Sites<'_>,
    ret: bool,
    pid: Option<i32>,
    target: String,
) -> Result<FdLink> {
    if sites.offsets.is_empty() {
        return Err(Error::NoAttachTarget(program.name.clone()));
    }
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::NoAttachTarget(program.name.clone()))?;
    let pid = match pid {
        Some(pid) => u32::try_from(pid).map_err(|_| {
            program.attach_error(
                &target,
                "bpf(BPF_LINK_CREATE)",
                std::io::Error::from_raw_os_error(libc::EINVAL),
                CAP_PERFMON_HINT,
                Some("the process id is negative"),
            )
        })?,
        None => 0,
    };
    let link = sys::link_create_uprobe_multi(
        program.as_fd(),
        &c_path,
        sites.offsets,
        sites.ref_ctrs,
        sites.cookies,
        ret,
        pid,
    )
    .map_err(|e| match e.raw_os_error() {
        Some(libc::EOPNOTSUPP) if !crate::features::uprobe_multi() => Error::MissingFeature {
            feature: "uprobe.multi (Linux 6.6 with CONFIG_UPROBES)",
            detail: format!("bpf(BPF_LINK_CREATE) for {target}: {e}"),
        },
        Some(libc::EINVAL) if !crate::features::uprobe_multi() => Error::MissingFeature {
            feature: "uprobe.multi (Linux 6.6)",
            detail: format!("bpf(BPF_LINK_CREATE) for {target}: {e}"),
        },
        errno => {
            let hint = match errno {
                Some(libc::ESRCH) => Some("no process has that pid"),
                Some(libc::EBADF | libc::ENOENT) => {
                    Some("the path is not a regular file the kernel can open")
                }
                Some(libc::EINVAL) if sites.ref_ctrs.is_empty() => Some(
                    "an offset is not an instruction the kernel can probe (inside the file's executable segments)",
                ),
                Some(libc::EINVAL) => Some(
                    "a site is not an instruction the kernel can probe, or a semaphore offset is bad",
                ),
                _ => None,
            };
            program.attach_error(&target, "bpf(BPF_LINK_CREATE)", e, CAP_PERFMON_HINT, hint)
        }
    })?;
    Ok(FdLink { link, target })
}

/// An attached uprobe.multi program. Dropping it removes every probe.
pub type UProbeMultiLink = FdLink;

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn sections_name_the_binary_and_pattern() {
        assert_eq!(split("uprobe.multi"), Some((false, None)));
        assert_eq!(
            split("uretprobe.multi//bin/true:ma*"),
            Some((true, Some("/bin/true:ma*")))
        );
        assert_eq!(split("uprobe.multiple"), None);
        assert_eq!(split("uprobe/x"), None);
    }
}
