//! kprobe.multi and kretprobe.multi programs (Linux 5.18, fprobe): one
//! bpf_link on many kernel functions, chosen by a glob pattern
//! (`kprobe.multi/tcp_*`) or a list, with `BPF_TRACE_KPROBE_MULTI`.

use std::{ffi::CString, os::fd::AsFd};

use super::{FdLink, Program};
use crate::{
    error::{CAP_PERFMON_HINT, Error, Result},
    sys::{self, SyscallError},
};

/// A loaded kprobe.multi (or kretprobe.multi) program, ready to attach.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// // #[kprobe_multi(pattern = "do_mk*at")] in the program.
/// let link = ebpf.kprobe_multi("mk")?.attach()?;
/// let other = ebpf.kprobe_multi("mk")?.attach_symbols(&["do_rmdir", "do_unlinkat"])?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct KProbeMulti<'a> {
    program: &'a Program,
    ret: bool,
    pattern: &'a str,
}

impl<'a> KProbeMulti<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        let name = program.section_name.as_str();
        let (ret, pattern) = match (
            name.strip_prefix("kprobe.multi/"),
            name.strip_prefix("kretprobe.multi/"),
        ) {
            (Some(p), _) => (false, p),
            (_, Some(p)) => (true, p),
            _ => {
                return Err(Error::WrongProgramType {
                    name: program.name.clone(),
                    expected: "a kprobe.multi program (`#[kprobe_multi]`, `#[kretprobe_multi]`)",
                    actual: program.section_name.clone(),
                });
            }
        };
        Ok(Self {
            program,
            ret,
            pattern,
        })
    }

    /// Whether it is a return probe (`kretprobe.multi`).
    pub fn is_return(&self) -> bool {
        self.ret
    }

    /// Attaches to every traceable function matching the section's
    /// pattern.
    pub fn attach(&self) -> Result<KProbeMultiLink> {
        self.attach_pattern(self.pattern)
    }

    /// Attaches to every traceable kernel function (in
    /// `available_filter_functions`, else `/proc/kallsyms`) whose name
    /// matches the glob `pattern` (`*` any run, `?` one character).
    pub fn attach_pattern(&self, pattern: &str) -> Result<KProbeMultiLink> {
        let symbols = traceable_functions()
            .map_err(|e| Error::Attach {
                program: self.program.name.clone(),
                target: format!("kernel functions matching `{pattern}`"),
                source: SyscallError::new("open", e),
                hint: Some(
                    "the functions are listed in tracefs (available_filter_functions) or /proc/kallsyms; mount tracefs or procfs",
                ),
            })?
            .into_iter()
            .filter(|f| glob(pattern.as_bytes(), f.as_bytes()))
            .collect::<Vec<_>>();
        if symbols.is_empty() {
            return Err(Error::Attach {
                program: self.program.name.clone(),
                target: format!("kernel functions matching `{pattern}`"),
                source: SyscallError::new(
                    "matching",
                    std::io::Error::from_raw_os_error(libc::ENOENT),
                ),
                hint: Some(
                    "no traceable kernel function matches the pattern: list them in /sys/kernel/tracing/available_filter_functions",
                ),
            });
        }
        let names: Vec<&str> = symbols.iter().map(String::as_str).collect();
        self.attach_named(&names, &format!("`{pattern}`"))
    }

    /// Attaches to the kernel functions `symbols`.
    pub fn attach_symbols(&self, symbols: &[&str]) -> Result<KProbeMultiLink> {
        self.attach_named(symbols, &format!("{} listed", symbols.len()))
    }

    fn attach_named(&self, symbols: &[&str], what: &str) -> Result<KProbeMultiLink> {
        let target = format!(
            "{} on {} kernel functions ({what})",
            if self.ret {
                "kretprobe.multi"
            } else {
                "kprobe.multi"
            },
            symbols.len()
        );
        let names = symbols
            .iter()
            .map(|s| CString::new(*s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Error::NoAttachTarget(self.program.name.clone()))?;
        let link = sys::link_create_kprobe_multi(self.program.as_fd(), &names, self.ret).map_err(
            |e| match e.raw_os_error() {
                Some(libc::EOPNOTSUPP) => Error::MissingFeature {
                    feature: "kprobe.multi (kernel built without CONFIG_FPROBE or CONFIG_KPROBES)",
                    detail: format!("bpf(BPF_LINK_CREATE) for {target}: {e}"),
                },
                errno => {
                    let hint = match errno {
                        Some(libc::ESRCH | libc::ENOENT) => Some(
                            "a function is not in the kernel, or not traceable (see available_filter_functions)",
                        ),
                        Some(libc::EINVAL) => {
                            Some("kprobe.multi needs Linux 5.18; a listed function may be a duplicate")
                        }
                        _ => None,
                    };
                    self.program.attach_error(
                        &target,
                        "bpf(BPF_LINK_CREATE)",
                        e,
                        CAP_PERFMON_HINT,
                        hint,
                    )
                }
            },
        )?;
        Ok(FdLink { link, target })
    }
}

/// An attached kprobe.multi program. Dropping it detaches it from every
/// function.
pub type KProbeMultiLink = FdLink;

/// The kernel's traceable functions: tracefs' `available_filter_functions`
/// (what fprobe can attach to), else the text symbols of `/proc/kallsyms`.
/// Module suffixes (` [mod]`) are dropped, and so are duplicates and
/// ftrace's placeholders.
fn traceable_functions() -> std::io::Result<Vec<String>> {
    let from_tracefs = crate::tracefs::root()
        .ok()
        .and_then(|root| std::fs::read_to_string(root.join("available_filter_functions")).ok());
    let mut names: Vec<String> = match from_tracefs {
        Some(list) => list
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect(),
        None => std::fs::read_to_string("/proc/kallsyms")?
            .lines()
            .filter_map(|l| {
                let mut fields = l.split_whitespace();
                let (_, kind, name) = (fields.next()?, fields.next()?, fields.next()?);
                matches!(kind, "t" | "T").then(|| name.to_owned())
            })
            .collect(),
    };
    names.retain(|n| !n.starts_with("__ftrace_invalid_address__") && !n.contains('.'));
    names.sort_unstable();
    names.dedup();
    Ok(names)
}

/// Whether `name` matches the glob `pattern` (`*`: any run, `?`: one
/// character).
pub(crate) fn glob(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs_match_like_libbpf() {
        assert!(glob(b"do_mk*at", b"do_mkdirat"));
        assert!(glob(b"do_mk*at", b"do_mknodat"));
        assert!(!glob(b"do_mk*at", b"do_mkdirat2"));
        assert!(glob(b"tcp_*", b"tcp_"));
        assert!(glob(b"*", b"anything"));
        assert!(glob(b"a?c", b"abc"));
        assert!(!glob(b"a?c", b"ac"));
        assert!(glob(b"exact", b"exact"));
        assert!(!glob(b"exact", b"exactly"));
    }
}
