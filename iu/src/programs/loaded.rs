//! Programs loaded in the kernel by anyone, opened by id or by bpffs pin:
//! what `iu-loader prog ...` (and `bpftool prog ...`) reads and does.

use std::{
    os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd},
    path::Path,
};

use super::{ProgramInfo, TcDirection, XdpMode};
use crate::{
    error::{Error, Result},
    loaded::{self, ObjKind},
    sys::{self, SyscallError},
};

/// A program loaded in the kernel, held by a descriptor: found by id
/// ([`LoadedProgram::from_id`]) or pin ([`LoadedProgram::from_pin`]),
/// whoever loaded it.
///
/// ```no_run
/// use iu::programs::LoadedProgram;
/// let program = LoadedProgram::from_id(42)?;
/// let info = program.info()?;
/// println!("{} {} maps {:?}", info.name, info.tag_hex(), info.map_ids);
/// program.pin("/sys/fs/bpf/my_prog")?;
/// # Ok::<(), iu::Error>(())
/// ```
#[derive(Debug)]
pub struct LoadedProgram {
    fd: OwnedFd,
    what: String,
}

/// One line info record of a program: which translated instruction starts
/// which Rust (or C) source line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLineInfo {
    /// Index of the first translated instruction of the line.
    pub insn: u32,
    /// The source file.
    pub file: String,
    /// The line number.
    pub line: u32,
    /// The column.
    pub column: u32,
    /// The text of the line, as the compiler recorded it.
    pub source: String,
}

/// A program's translated instructions (after the verifier's rewrites)
/// with its line info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XlatedProgram {
    /// The instructions, 8 bytes each (`struct bpf_insn`, little-endian).
    pub insns: Vec<[u8; 8]>,
    /// Line info records sorted by instruction (empty without BTF).
    pub lines: Vec<SourceLineInfo>,
}

impl LoadedProgram {
    /// Opens the program with id `id`: [`Error::UnknownId`] if none has
    /// it, [`Error::PermissionDenied`] without `CAP_SYS_ADMIN`.
    pub fn from_id(id: u32) -> Result<Self> {
        Ok(Self {
            fd: loaded::fd_by_id(ObjKind::Prog, id)?,
            what: format!("program {id}"),
        })
    }

    /// Opens the program pinned at `path` ([`Error::WrongPinKind`] if a map
    /// or link is pinned there).
    pub fn from_pin(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Ok(Self {
            fd: loaded::open_pin(ObjKind::Prog, path)?,
            what: format!("the program pinned at {}", path.display()),
        })
    }

    /// What the kernel reports about it, map ids included.
    pub fn info(&self) -> Result<ProgramInfo> {
        super::program_info(self.fd.as_fd()).map_err(|e| self.error("reading", e))
    }

    fn error(&self, what: &str, e: std::io::Error) -> Error {
        loaded::error(
            format!("{what} {}", self.what),
            "bpf(BPF_OBJ_GET_INFO_BY_FD)",
            e,
        )
    }

    /// Its translated instructions and line info (`bpftool prog dump
    /// xlated`). The kernel hides the instructions from processes without
    /// `CAP_SYS_ADMIN`, or when `kernel.kptr_restrict` is 2.
    ///
    /// ```no_run
    /// let xlated = iu::programs::LoadedProgram::from_id(42)?.xlated()?;
    /// for line in &xlated.lines {
    ///     println!("{}: {} @ {}:{}", line.insn, line.source, line.file, line.line);
    /// }
    /// # Ok::<(), iu::Error>(())
    /// ```
    pub fn xlated(&self) -> Result<XlatedProgram> {
        let info = sys::prog_info(self.fd.as_fd()).map_err(|e| self.error("reading", e))?;
        let mut buffers = sys::ProgInfoBuffers {
            xlated: vec![0; info.xlated_prog_len as usize],
            line_info: vec![0; (info.nr_line_info * info.line_info_rec_size) as usize],
            line_info_rec_size: info.line_info_rec_size,
            ..Default::default()
        };
        let again = sys::prog_info_buffers(self.fd.as_fd(), &mut buffers)
            .map_err(|e| self.error("reading the instructions of", e))?;
        if again.xlated_prog_len > 0 && again.xlated_prog_insns == 0 {
            return Err(Error::Io {
                context: format!("reading the instructions of {}", self.what),
                source: std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    "the kernel hid them: it shows them only to CAP_SYS_ADMIN, and not at all with kernel.kptr_restrict=2",
                ),
            });
        }
        let insns = buffers
            .xlated
            .chunks_exact(8)
            .map(|c| {
                let mut insn = [0u8; 8];
                insn.copy_from_slice(c);
                insn
            })
            .collect();
        let mut lines = vec![];
        if info.btf_id != 0 && info.line_info_rec_size >= 16 {
            let btf = loaded::btf(info.btf_id)?;
            let word = |rec: &[u8], i: usize| {
                rec.get(i * 4..i * 4 + 4)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_le_bytes)
                    .unwrap_or(0)
            };
            for rec in buffers
                .line_info
                .chunks_exact(info.line_info_rec_size as usize)
            {
                let line_col = word(rec, 3);
                lines.push(SourceLineInfo {
                    insn: word(rec, 0),
                    file: btf.string_at(word(rec, 1)).unwrap_or("").to_owned(),
                    source: btf.string_at(word(rec, 2)).unwrap_or("").trim().to_owned(),
                    line: line_col >> 10,
                    column: line_col & 0x3ff,
                });
            }
            lines.sort_by_key(|l| l.insn);
        }
        Ok(XlatedProgram { insns, lines })
    }

    /// The name of the program's function in its BTF (func info), or
    /// `None` for a program loaded without BTF. The kernel keeps only the
    /// first 15 bytes of a name ([`ProgramInfo::name`]); this is the whole
    /// one, as `bpftool prog show` prints it.
    ///
    /// ```no_run
    /// let program = iu::programs::LoadedProgram::from_id(42)?;
    /// let name = program.btf_name()?.unwrap_or(program.info()?.name);
    /// println!("{name}");
    /// # Ok::<(), iu::Error>(())
    /// ```
    pub fn btf_name(&self) -> Result<Option<String>> {
        let info = sys::prog_info(self.fd.as_fd()).map_err(|e| self.error("reading", e))?;
        // `struct bpf_func_info`: insn_off, type_id.
        if info.btf_id == 0 || info.nr_func_info == 0 || info.func_info_rec_size < 8 {
            return Ok(None);
        }
        let mut buffers = sys::ProgInfoBuffers {
            func_info: vec![0; (info.nr_func_info * info.func_info_rec_size) as usize],
            func_info_rec_size: info.func_info_rec_size,
            ..Default::default()
        };
        sys::prog_info_buffers(self.fd.as_fd(), &mut buffers)
            .map_err(|e| self.error("reading the func info of", e))?;
        let main = buffers
            .func_info
            .chunks_exact(info.func_info_rec_size as usize)
            .find(|rec| rec.get(..4) == Some(&[0; 4]))
            .and_then(|rec| rec.get(4..8)?.try_into().ok())
            .map(u32::from_le_bytes);
        let Some(type_id) = main else {
            return Ok(None);
        };
        let btf = loaded::btf(info.btf_id)?;
        Ok(btf
            .get(type_id)
            .map(|t| t.name.clone())
            .filter(|n| !n.is_empty()))
    }

    /// Pins the program at `path` in bpffs: it stays loaded until the pin
    /// is removed ([`LoadedProgram::unpin`]).
    pub fn pin(&self, path: impl AsRef<Path>) -> Result<()> {
        loaded::pin(ObjKind::Prog, &self.fd, path.as_ref())
    }

    /// Removes the program pin at `path` (refusing a map's or link's).
    ///
    /// ```no_run
    /// iu::programs::LoadedProgram::unpin("/sys/fs/bpf/my_prog")?;
    /// # Ok::<(), iu::Error>(())
    /// ```
    pub fn unpin(path: impl AsRef<Path>) -> Result<()> {
        loaded::unpin(ObjKind::Prog, path.as_ref())
    }

    fn attach_error(&self, target: String, call: &'static str, e: std::io::Error) -> Error {
        let hint = match e.raw_os_error() {
            Some(libc::EINVAL) => Some(
                "the program's type does not fit this hook (an XDP program for XDP, a cgroup program of the matching attach type for a cgroup hook)",
            ),
            Some(libc::EBUSY | libc::EEXIST) => Some("another program is attached there"),
            Some(libc::EOPNOTSUPP) => {
                Some("the driver does not support this XDP mode: try generic mode")
            }
            _ => None,
        };
        Error::from_syscall(
            format!("attaching {} to {target}", self.what),
            SyscallError::new(call, e),
            "Attaching programs needs CAP_NET_ADMIN and CAP_BPF (or root): run with `sudo`.",
            |_, source| Error::Attach {
                program: self.what.clone(),
                target,
                source,
                hint,
            },
        )
    }

    /// Attaches this XDP program to `interface` through rtnetlink, the way
    /// `bpftool net attach` does: the attachment stays after this process
    /// exits, until [`detach_xdp`]. It replaces a program attached the same
    /// way, and is refused where a bpf_link holds the interface.
    ///
    /// ```no_run
    /// use iu::programs::{LoadedProgram, XdpMode};
    /// LoadedProgram::from_pin("/sys/fs/bpf/fw")?.attach_xdp("eth0", XdpMode::Generic)?;
    /// iu::programs::detach_xdp("eth0", XdpMode::Generic)?;
    /// # Ok::<(), iu::Error>(())
    /// ```
    pub fn attach_xdp(&self, interface: &str, mode: XdpMode) -> Result<()> {
        let ifindex = ifindex(interface)?;
        sys::netlink::xdp_set(ifindex, self.fd.as_raw_fd(), None, mode.flags()).map_err(|e| {
            self.attach_error(format!("XDP on {interface}"), "rtnetlink(RTM_SETLINK)", e)
        })
    }

    /// Attaches this tc classifier to `interface` in `direction` with TCX
    /// and `BPF_PROG_ATTACH` (Linux 6.6), the way `bpftool net attach
    /// tcx_ingress|tcx_egress` does: after the programs already there, and
    /// staying after this process exits, until [`LoadedProgram::detach_tc`].
    ///
    /// ```no_run
    /// use iu::programs::{LoadedProgram, TcDirection};
    /// let program = LoadedProgram::from_pin("/sys/fs/bpf/count")?;
    /// program.attach_tc("eth0", TcDirection::Ingress)?;
    /// program.detach_tc("eth0", TcDirection::Ingress)?;
    /// # Ok::<(), iu::Error>(())
    /// ```
    pub fn attach_tc(&self, interface: &str, direction: TcDirection) -> Result<()> {
        let (ifindex, attach_type, target) = tcx_target(interface, direction)?;
        sys::prog_attach_to(ifindex, self.fd.as_fd(), attach_type, 0)
            .map_err(|e| self.attach_error(target, "bpf(BPF_PROG_ATTACH)", e))
    }

    /// The ids of the programs attached to `interface` in `direction` with
    /// TCX (`BPF_PROG_QUERY`: by [`LoadedProgram::attach_tc`] and by TCX
    /// links alike), in the order they run.
    ///
    /// ```no_run
    /// use iu::programs::{LoadedProgram, TcDirection};
    /// println!("{:?}", LoadedProgram::tc_programs("eth0", TcDirection::Ingress)?);
    /// # Ok::<(), iu::Error>(())
    /// ```
    pub fn tc_programs(interface: &str, direction: TcDirection) -> Result<Vec<u32>> {
        let (ifindex, attach_type, target) = tcx_target(interface, direction)?;
        let mut ids = vec![0u32; 64];
        loop {
            match sys::prog_query_of(ifindex, attach_type, &mut ids) {
                Ok(n) => {
                    ids.truncate(n as usize);
                    return Ok(ids);
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                    ids = vec![0; ids.len() * 4];
                }
                Err(e) => {
                    return Err(loaded::error(
                        format!("listing the programs of {target}"),
                        "bpf(BPF_PROG_QUERY)",
                        e,
                    ));
                }
            }
        }
    }

    /// Detaches the program from `interface` in `direction` (attached by
    /// [`LoadedProgram::attach_tc`] or `bpftool net attach tcx_*`; a TCX
    /// link detaches when its pin and its process are gone).
    pub fn detach_tc(&self, interface: &str, direction: TcDirection) -> Result<()> {
        let (ifindex, attach_type, target) = tcx_target(interface, direction)?;
        sys::prog_detach_from(ifindex, self.fd.as_fd(), attach_type).map_err(|e| {
            let not_attached = e.raw_os_error() == Some(libc::ENOENT);
            match self.attach_error(target, "bpf(BPF_PROG_DETACH)", e) {
                Error::Attach {
                    program,
                    target,
                    source,
                    ..
                } if not_attached => Error::Attach {
                    program,
                    target,
                    source,
                    hint: Some("it is not attached there with BPF_PROG_ATTACH (a TCX link goes away with its pin and process)"),
                },
                e => e,
            }
        })
    }

    /// Attaches the program to the cgroup v2 directory `cgroup` at
    /// `attach_type` (`BPF_CGROUP_*`) with `BPF_PROG_ATTACH` and
    /// `BPF_F_ALLOW_MULTI`, the way `bpftool cgroup attach ... multi` does:
    /// the attachment lives as long as the cgroup, until
    /// [`LoadedProgram::detach_cgroup`].
    ///
    /// ```no_run
    /// use iu::programs::LoadedProgram;
    /// let program = LoadedProgram::from_pin("/sys/fs/bpf/count_egress")?;
    /// program.attach_cgroup("/sys/fs/cgroup/app", 1)?; // BPF_CGROUP_INET_EGRESS
    /// program.detach_cgroup("/sys/fs/cgroup/app", 1)?;
    /// # Ok::<(), iu::Error>(())
    /// ```
    pub fn attach_cgroup(&self, cgroup: impl AsRef<Path>, attach_type: u32) -> Result<()> {
        let cgroup = cgroup.as_ref();
        let dir = open_cgroup(cgroup)?;
        sys::prog_attach(
            dir.as_fd(),
            self.fd.as_fd(),
            attach_type,
            sys::BPF_F_ALLOW_MULTI,
        )
        .map_err(|e| {
            self.attach_error(
                format!("cgroup {} (attach type {attach_type})", cgroup.display()),
                "bpf(BPF_PROG_ATTACH)",
                e,
            )
        })
    }

    /// The ids of the programs attached to the cgroup v2 directory
    /// `cgroup` at `attach_type` (`BPF_CGROUP_*`) with `BPF_PROG_ATTACH`
    /// (`BPF_PROG_QUERY`, as `bpftool cgroup show` lists them; links
    /// show in [`crate::links::loaded`]).
    ///
    /// ```no_run
    /// let ids = iu::programs::LoadedProgram::cgroup_programs("/sys/fs/cgroup/app", 1)?;
    /// println!("egress: {ids:?}");
    /// # Ok::<(), iu::Error>(())
    /// ```
    pub fn cgroup_programs(cgroup: impl AsRef<Path>, attach_type: u32) -> Result<Vec<u32>> {
        let cgroup = cgroup.as_ref();
        let dir = open_cgroup(cgroup)?;
        let mut ids = vec![0u32; 64];
        loop {
            match sys::prog_query(dir.as_fd(), attach_type, &mut ids) {
                Ok(n) => {
                    ids.truncate(n as usize);
                    return Ok(ids);
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                    ids = vec![0; ids.len() * 4];
                }
                Err(e) => {
                    return Err(loaded::error(
                        format!(
                            "listing the programs of cgroup {} (attach type {attach_type})",
                            cgroup.display()
                        ),
                        "bpf(BPF_PROG_QUERY)",
                        e,
                    ));
                }
            }
        }
    }

    /// Detaches the program from `cgroup` at `attach_type`.
    pub fn detach_cgroup(&self, cgroup: impl AsRef<Path>, attach_type: u32) -> Result<()> {
        let cgroup = cgroup.as_ref();
        let dir = open_cgroup(cgroup)?;
        sys::prog_detach(dir.as_fd(), self.fd.as_fd(), attach_type).map_err(|e| {
            let not_attached = e.raw_os_error() == Some(libc::ENOENT);
            let error = self.attach_error(
                format!("cgroup {} (attach type {attach_type})", cgroup.display()),
                "bpf(BPF_PROG_DETACH)",
                e,
            );
            match error {
                Error::Attach {
                    program,
                    target,
                    source,
                    ..
                } if not_attached => Error::Attach {
                    program,
                    target,
                    source,
                    hint: Some("it is not attached there"),
                },
                e => e,
            }
        })
    }
}

impl AsFd for LoadedProgram {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn ifindex(interface: &str) -> Result<u32> {
    nix::net::if_::if_nametoindex(interface).map_err(|e| Error::Attach {
        program: "XDP".into(),
        target: format!("interface {interface}"),
        source: SyscallError::new("if_nametoindex", e.into()),
        hint: Some("no interface with that name: list them with `ip link`"),
    })
}

/// The interface index, TCX attach type and description of a tc hook;
/// [`Error::MissingFeature`] before Linux 6.6.
fn tcx_target(interface: &str, direction: TcDirection) -> Result<(u32, u32, String)> {
    use aya_obj::generated::bpf_attach_type;
    if !crate::features::tcx_link() {
        return Err(Error::MissingFeature {
            feature: "TCX (Linux 6.6)",
            detail: format!(
                "attaching a loaded program to tc {direction:?} on {interface} needs TCX; on older kernels attach from the program's own process (`Classifier::attach` falls back to cls_bpf)"
            ),
        });
    }
    let attach_type = match direction {
        TcDirection::Ingress => bpf_attach_type::BPF_TCX_INGRESS,
        TcDirection::Egress => bpf_attach_type::BPF_TCX_EGRESS,
    } as u32;
    let ifindex = ifindex(interface)?;
    Ok((
        ifindex,
        attach_type,
        format!("tc {direction:?} on {interface}").to_lowercase(),
    ))
}

fn open_cgroup(cgroup: &Path) -> Result<std::fs::File> {
    std::fs::File::open(cgroup).map_err(|source| Error::Io {
        context: format!(
            "opening cgroup {} (give the directory of a cgroup v2, under the cgroup2 mount, usually /sys/fs/cgroup)",
            cgroup.display()
        ),
        source,
    })
}

/// Removes the XDP program attached to `interface` through rtnetlink (by
/// [`LoadedProgram::attach_xdp`], `bpftool net attach` or `ip link`).
pub fn detach_xdp(interface: &str, mode: XdpMode) -> Result<()> {
    let ifindex = ifindex(interface)?;
    sys::netlink::xdp_set(ifindex, -1, None, mode.flags()).map_err(|e| {
        Error::from_syscall(
            format!("detaching XDP from {interface}"),
            SyscallError::new("rtnetlink(RTM_SETLINK)", e),
            "Detaching XDP programs needs CAP_NET_ADMIN (or root): run with `sudo`.",
            |_, source| Error::Attach {
                program: "XDP".into(),
                target: format!("interface {interface}"),
                source,
                hint: Some(
                    "a bpf_link holds the interface: remove the link's pin or stop its process",
                ),
            },
        )
    })
}

/// Run statistics switched on for every program while this value lives
/// (`BPF_ENABLE_STATS`, Linux 5.8): [`ProgramInfo::run_cnt`] and
/// [`ProgramInfo::run_time_ns`] count from then on, as with
/// `kernel.bpf_stats_enabled=1` but ending with the process.
///
/// ```no_run
/// let stats = iu::programs::RunStats::enable()?;
/// // ... let the programs run ...
/// for p in iu::programs::loaded()? {
///     println!("{} ran {} times, {} ns", p.name, p.run_cnt, p.run_time_ns);
/// }
/// drop(stats);
/// # Ok::<(), iu::Error>(())
/// ```
#[derive(Debug)]
pub struct RunStats {
    _fd: OwnedFd,
}

impl RunStats {
    /// Switches the statistics on.
    pub fn enable() -> Result<Self> {
        sys::enable_stats().map(|fd| Self { _fd: fd }).map_err(|e| {
            Error::from_syscall(
                "enabling BPF run statistics",
                SyscallError::new("bpf(BPF_ENABLE_STATS)", e),
                "Enabling BPF run statistics needs CAP_SYS_ADMIN: run with `sudo`.",
                |context, source| Error::Io {
                    context: format!("{context} (Linux 5.8+)"),
                    source: source.source,
                },
            )
        })
    }
}
