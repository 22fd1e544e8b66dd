//! Loaded programs and their attach APIs, one module per program type.

pub mod btf_tracepoint;
mod btf_tracing;
mod cgroup;
pub mod cgroup_device;
pub mod cgroup_skb;
pub mod cgroup_sock;
pub mod cgroup_sock_addr;
pub mod cgroup_sockopt;
pub mod cgroup_sysctl;
pub mod extension;
pub mod flow_dissector;
pub mod iter;
pub mod kprobe_multi;
mod loaded;
pub mod netfilter;
pub mod perf_event;
mod perf_link;
mod pin;
pub mod probe;
pub mod raw_tracepoint;
pub mod sk_lookup;
pub mod sk_msg;
pub mod sk_skb;
mod sock_map_attach;
pub mod sock_ops;
pub mod socket_filter;
pub mod struct_ops;
pub mod syscall;
pub mod tc;
mod test_run;
pub mod tracepoint;
pub mod uprobe_multi;
pub mod usdt;
pub mod xdp;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::sys;

use aya_obj::{
    generated::{bpf_attach_type, bpf_prog_type},
    programs::{CgroupSkbAttachType, XdpAttachType},
};

pub use aya_obj::ProgramSection;
pub use btf_tracepoint::{BtfTracePoint, BtfTracePointLink};
pub use btf_tracing::{BtfLink, BtfTracing};
pub use cgroup_device::{CgroupDevice, CgroupDeviceLink};
pub use cgroup_skb::{CgroupSkb, CgroupSkbLink};
pub use cgroup_sock::{CgroupSock, CgroupSockLink};
pub use cgroup_sock_addr::{CgroupSockAddr, CgroupSockAddrLink};
pub use cgroup_sockopt::{CgroupSockopt, CgroupSockoptLink};
pub use cgroup_sysctl::{CgroupSysctl, CgroupSysctlLink};
pub use extension::{Extension, ExtensionLink};
pub use flow_dissector::{FlowDissector, FlowDissectorLink};
pub use iter::{Iter, IterLink, IterRecords};
pub use kprobe_multi::{KProbeMulti, KProbeMultiLink};
pub use loaded::{LoadedProgram, RunStats, SourceLineInfo, XlatedProgram, detach_xdp};
pub use netfilter::{Netfilter, NetfilterFamily, NetfilterHook, NetfilterLink, NetfilterPoint};
pub use perf_event::{PerfEvent, PerfEventKind, SampleRate};
pub use perf_link::PerfLink;
pub use pin::{Link, PinnedLink, PinnedProgram};
pub use probe::{KProbe, UProbe};
pub use raw_tracepoint::{RawTracePoint, RawTracePointLink};
pub use sk_lookup::{SkLookup, SkLookupLink};
pub use sk_msg::SkMsg;
pub use sk_skb::SkSkb;
pub use sock_map_attach::SockMapLink;
pub use sock_ops::{SockOps, SockOpsLink};
pub use socket_filter::{SocketFilter, SocketFilterLink};
pub use struct_ops::{StructOps, StructOpsLink};
pub use syscall::Syscall;
pub use tc::{Classifier, TcDirection, TcLink};
pub use test_run::{TestRun, TestRunOutput};
pub use tracepoint::{TracePoint, TracePointLink};
pub(crate) use uprobe_multi::is_uprobe_multi;
pub use uprobe_multi::{UProbeMulti, UProbeMultiLink};
pub(crate) use usdt::is_usdt;
pub use usdt::{Usdt, UsdtLink, UsdtProbe};
pub use xdp::{Xdp, XdpLink, XdpMode};

/// `BPF_F_SLEEPABLE`.
const BPF_F_SLEEPABLE: u32 = 1 << 4;
/// `BPF_F_XDP_HAS_FRAGS`.
const BPF_F_XDP_HAS_FRAGS: u32 = 1 << 5;

/// A program loaded into the kernel. Attach it through its typed view, for
/// example [`crate::Ebpf::tracepoint`].
#[derive(Debug)]
pub struct Program {
    pub(crate) name: String,
    pub(crate) section_name: String,
    pub(crate) section: ProgramSection,
    /// `BPF_PROG_TYPE_*`.
    pub(crate) prog_type: u32,
    pub(crate) fd: OwnedFd,
}

impl Program {
    /// A failed attachment of this program to `target`: `Error::PermissionDenied`
    /// with `privilege` as the advice when that is the cause, otherwise
    /// `Error::Attach` with `hint`.
    pub(crate) fn attach_error(
        &self,
        target: &str,
        call: &'static str,
        e: std::io::Error,
        privilege: &'static str,
        hint: Option<&'static str>,
    ) -> crate::Error {
        crate::Error::from_syscall(
            format!("attaching `{}` to {target}", self.name),
            sys::SyscallError::new(call, e),
            privilege,
            |_, source| crate::Error::Attach {
                program: self.name.clone(),
                target: target.to_owned(),
                source,
                hint,
            },
        )
    }

    /// The name of the program's type, for messages: `XDP`,
    /// `tc classifier`, `tracepoint`, ...
    pub(crate) fn type_name(&self) -> &'static str {
        type_name(self.prog_type)
    }

    /// The program's name (its function's name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The ELF section it came from, for example
    /// `tracepoint/syscalls/sys_enter_dup`.
    pub fn section_name(&self) -> &str {
        &self.section_name
    }

    /// The program type, as aya-obj parsed it from the section name
    /// (fmod_ret and syscall programs, which aya-obj 0.3 does not know,
    /// show as `FEntry` and `FExit`; `section_name` tells them apart).
    pub fn section(&self) -> &ProgramSection {
        &self.section
    }

    /// What the kernel reports about the loaded program: its id, sizes and
    /// the number of instructions the verifier processed.
    pub fn info(&self) -> crate::Result<ProgramInfo> {
        program_info(self.fd.as_fd()).map_err(|source| crate::Error::Io {
            context: format!("reading the kernel's info on program `{}`", self.name),
            source,
        })
    }
}

/// What the kernel reports about a loaded program (what `bpftool prog
/// show` prints).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramInfo {
    /// The kernel's id for the program (as in `bpftool prog list`).
    pub id: u32,
    /// `BPF_PROG_TYPE_*`.
    pub prog_type: u32,
    /// The name the kernel keeps (at most 15 bytes).
    pub name: String,
    /// The program's tag: a hash of its instructions, as bpftool prints it.
    pub tag: [u8; 8],
    /// Number of translated BPF instructions.
    pub xlated_insns: u32,
    /// Size of the translated instructions in bytes (`bytes_xlated`).
    pub xlated_bytes: u32,
    /// Size of the JITed machine code in bytes.
    pub jited_bytes: u32,
    /// Instructions the verifier processed to accept the program.
    pub verified_insns: u32,
    /// When it was loaded, in nanoseconds since boot.
    pub load_time_ns: u64,
    /// The uid that loaded it.
    pub uid: u32,
    /// Whether its license is GPL-compatible.
    pub gpl_compatible: bool,
    /// The ids of the maps it uses.
    pub map_ids: Vec<u32>,
    /// The id of its BTF (0: none).
    pub btf_id: u32,
    /// Times it ran, counted only while `kernel.bpf_stats_enabled` is 1.
    pub run_cnt: u64,
    /// Time it ran in total, counted only while `kernel.bpf_stats_enabled`
    /// is 1.
    pub run_time_ns: u64,
    /// Runs skipped because the program was already running on that CPU.
    pub recursion_misses: u64,
    /// Number of line info records (source lines, from the program's BTF).
    pub nr_line_info: u32,
}

impl ProgramInfo {
    /// The tag in hex, as bpftool prints it.
    ///
    /// ```no_run
    /// for program in iu::programs::loaded()? {
    ///     println!("{} {}", program.id, program.tag_hex());
    /// }
    /// # Ok::<(), iu::Error>(())
    /// ```
    pub fn tag_hex(&self) -> String {
        self.tag.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// When it was loaded, as wall-clock time (from the load time since
    /// boot and the current boot time).
    ///
    /// ```no_run
    /// let program = iu::programs::LoadedProgram::from_id(1)?.info()?;
    /// println!("{:?}", program.loaded_at());
    /// # Ok::<(), iu::Error>(())
    /// ```
    pub fn loaded_at(&self) -> std::time::SystemTime {
        let since_boot = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
            .map(std::time::Duration::from)
            .unwrap_or_default();
        let load = std::time::Duration::from_nanos(self.load_time_ns);
        std::time::SystemTime::now() - since_boot.saturating_sub(load)
    }
}

impl From<sys::ProgInfo> for ProgramInfo {
    fn from(info: sys::ProgInfo) -> Self {
        let end = info
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(info.name.len());
        Self {
            id: info.id,
            prog_type: info.prog_type,
            name: String::from_utf8_lossy(&info.name[..end]).into_owned(),
            tag: info.tag,
            xlated_insns: info.xlated_prog_len / 8,
            xlated_bytes: info.xlated_prog_len,
            jited_bytes: info.jited_prog_len,
            verified_insns: info.verified_insns,
            load_time_ns: info.load_time,
            uid: info.created_by_uid,
            gpl_compatible: info.gpl_compatible & 1 != 0,
            map_ids: vec![],
            btf_id: info.btf_id,
            run_cnt: info.run_cnt,
            run_time_ns: info.run_time_ns,
            recursion_misses: info.recursion_misses,
            nr_line_info: info.nr_line_info,
        }
    }
}

/// The program's info with its map ids (a second call when it uses maps).
pub(crate) fn program_info(fd: BorrowedFd<'_>) -> std::io::Result<ProgramInfo> {
    let info = sys::prog_info(fd)?;
    let mut out = ProgramInfo::from(info);
    if info.nr_map_ids > 0 {
        let mut buffers = sys::ProgInfoBuffers {
            map_ids: vec![0; info.nr_map_ids as usize],
            ..Default::default()
        };
        let again = sys::prog_info_buffers(fd, &mut buffers)?;
        buffers
            .map_ids
            .truncate((again.nr_map_ids as usize).min(buffers.map_ids.len()));
        out.map_ids = buffers.map_ids;
    }
    Ok(out)
}

/// Every program loaded in the kernel, by anyone (needs `CAP_SYS_ADMIN`).
///
/// ```no_run
/// for program in iu::programs::loaded()? {
///     println!("{} {}", program.id, program.name);
/// }
/// # Ok::<(), iu::Error>(())
/// ```
pub fn loaded() -> crate::Result<Vec<ProgramInfo>> {
    let mut out = vec![];
    for id in crate::loaded::ids(crate::loaded::ObjKind::Prog)? {
        // A program can go away between the calls.
        match LoadedProgram::from_id(id) {
            Ok(program) => out.push(program.info()?),
            Err(crate::Error::UnknownId { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

impl AsFd for Program {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// An attachment that is a bpf_link file descriptor (XDP, tc, raw
/// tracepoints, fentry/fexit/LSM). Dropping it detaches the program,
/// unless it was pinned ([`Link::pin`]).
#[derive(Debug)]
pub struct FdLink {
    pub(crate) link: OwnedFd,
    pub(crate) target: String,
}

impl FdLink {
    /// The hook, for example `XDP on interface 3`.
    pub fn target(&self) -> &str {
        &self.target
    }
}

/// The name of a program type (`BPF_PROG_TYPE_*`), for messages.
pub(crate) fn type_name(prog_type: u32) -> &'static str {
    match prog_type {
        1 => "socket filter",
        2 => "kprobe",
        3 => "tc classifier",
        4 => "tc action",
        5 => "tracepoint",
        6 => "XDP",
        7 => "perf event",
        8 => "cgroup skb",
        9 => "cgroup sock",
        17 => "raw tracepoint",
        24 => "writable raw tracepoint",
        13 => "sock_ops",
        14 => "sk_skb",
        16 => "sk_msg",
        30 => "sk_lookup",
        22 => "flow dissector",
        32 => "netfilter",
        27 => "struct_ops",
        15 => "cgroup device",
        18 => "cgroup sock addr",
        23 => "cgroup sysctl",
        25 => "cgroup sockopt",
        26 => "tracing (fentry, fexit, tp_btf, iterators)",
        28 => "freplace",
        10 | 11 | 12 | 19 => "lightweight tunnel",
        21 => "sk_reuseport",
        29 => "LSM",
        31 => "syscall",
        _ => "BPF",
    }
}

/// How `BPF_PROG_LOAD` is told the type of a program from its section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LoadType {
    pub prog_type: u32,
    pub expected_attach_type: u32,
    pub prog_flags: u32,
}

impl LoadType {
    /// For BTF-attached programs, the kernel type whose BTF id the load
    /// needs: the section's target function, `bpf_lsm_<hook>` for LSM, the
    /// typedef `btf_trace_<name>` for BTF tracepoints.
    pub(crate) fn btf_target(
        section: &ProgramSection,
        section_name: &str,
    ) -> Option<(String, aya_obj::btf::BtfKind)> {
        use aya_obj::btf::BtfKind;
        let target = section_name.split_once('/').map(|(_, t)| t)?;
        match section {
            ProgramSection::FEntry { .. } | ProgramSection::FExit { .. } => {
                Some((target.to_owned(), BtfKind::Func))
            }
            ProgramSection::Lsm { .. } => Some((format!("bpf_lsm_{target}"), BtfKind::Func)),
            ProgramSection::BtfTracePoint => Some((
                format!("{}{target}", btf_tracepoint::TYPEDEF_PREFIX),
                BtfKind::Typedef,
            )),
            ProgramSection::Iter { .. } => Some((format!("bpf_iter_{target}"), BtfKind::Func)),
            _ => None,
        }
    }

    /// libbpf's section names of program types aya-obj 0.3 does not parse
    /// (`crate::section_alias` gives them a stand-in).
    fn of_libbpf_name(section_name: &str) -> Option<Self> {
        use bpf_attach_type::*;
        use bpf_prog_type::*;
        let with = |t: bpf_prog_type, a: u32| Self {
            prog_type: t as u32,
            expected_attach_type: a,
            prog_flags: 0,
        };
        Some(match section_name {
            "sk_skb" => with(BPF_PROG_TYPE_SK_SKB, 0),
            "sk_skb/verdict" => with(BPF_PROG_TYPE_SK_SKB, BPF_SK_SKB_VERDICT as u32),
            "lwt_in" => with(BPF_PROG_TYPE_LWT_IN, 0),
            "lwt_out" => with(BPF_PROG_TYPE_LWT_OUT, 0),
            "lwt_xmit" => with(BPF_PROG_TYPE_LWT_XMIT, 0),
            "lwt_seg6local" => with(BPF_PROG_TYPE_LWT_SEG6LOCAL, 0),
            "sk_reuseport" => with(BPF_PROG_TYPE_SK_REUSEPORT, BPF_SK_REUSEPORT_SELECT as u32),
            "sk_reuseport/migrate" => with(
                BPF_PROG_TYPE_SK_REUSEPORT,
                BPF_SK_REUSEPORT_SELECT_OR_MIGRATE as u32,
            ),
            "cgroup/connect_unix" => with(
                BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
                BPF_CGROUP_UNIX_CONNECT as u32,
            ),
            "cgroup/sendmsg_unix" => with(
                BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
                BPF_CGROUP_UNIX_SENDMSG as u32,
            ),
            "cgroup/recvmsg_unix" => with(
                BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
                BPF_CGROUP_UNIX_RECVMSG as u32,
            ),
            "cgroup/getpeername_unix" => with(
                BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
                BPF_CGROUP_UNIX_GETPEERNAME as u32,
            ),
            "cgroup/getsockname_unix" => with(
                BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
                BPF_CGROUP_UNIX_GETSOCKNAME as u32,
            ),
            _ => return None,
        })
    }

    /// Maps a section to its program type, or says why it cannot be loaded.
    /// `section_name` is the name in the object, which tells the sections
    /// that were renamed for aya-obj (`crate::section_alias`).
    pub(crate) fn of(section: &ProgramSection, section_name: &str) -> Result<Self, &'static str> {
        use bpf_prog_type::*;
        let plain = |t: bpf_prog_type| Self {
            prog_type: t as u32,
            expected_attach_type: 0,
            prog_flags: 0,
        };
        let with = |t: bpf_prog_type, a: bpf_attach_type| Self {
            prog_type: t as u32,
            expected_attach_type: a as u32,
            prog_flags: 0,
        };
        if section_name == "fmod_ret" || section_name.starts_with("fmod_ret/") {
            return Ok(with(
                BPF_PROG_TYPE_TRACING,
                bpf_attach_type::BPF_MODIFY_RETURN,
            ));
        }
        if section_name.starts_with("fmod_ret.s/") {
            return Ok(Self {
                prog_flags: BPF_F_SLEEPABLE,
                ..with(BPF_PROG_TYPE_TRACING, bpf_attach_type::BPF_MODIFY_RETURN)
            });
        }
        if let Some(load) = Self::of_libbpf_name(section_name) {
            return Ok(load);
        }
        if section_name.starts_with("kprobe.multi") || section_name.starts_with("kretprobe.multi") {
            return Ok(with(
                BPF_PROG_TYPE_KPROBE,
                bpf_attach_type::BPF_TRACE_KPROBE_MULTI,
            ));
        }
        if let Some(sleepable) = struct_ops::program_section(section_name) {
            // The member index (the expected attach type) and the struct
            // (attach_btf_id) come from the struct_ops that names the
            // program (a Rust record or a C `.struct_ops` variable).
            return Ok(Self {
                prog_flags: if sleepable { BPF_F_SLEEPABLE } else { 0 },
                ..plain(BPF_PROG_TYPE_STRUCT_OPS)
            });
        }
        if section_name == "netfilter" {
            return Ok(with(
                BPF_PROG_TYPE_NETFILTER,
                bpf_attach_type::BPF_NETFILTER,
            ));
        }
        if is_usdt(section_name) {
            // One uprobe.multi link on every site where the kernel has
            // them (`Usdt::attach_to` decides the same way).
            return Ok(if crate::features::uprobe_multi() {
                with(
                    BPF_PROG_TYPE_KPROBE,
                    bpf_attach_type::BPF_TRACE_UPROBE_MULTI,
                )
            } else {
                plain(BPF_PROG_TYPE_KPROBE)
            });
        }
        if is_uprobe_multi(section_name) {
            return Ok(Self {
                prog_flags: if uprobe_multi::is_sleepable_uprobe_multi(section_name) {
                    BPF_F_SLEEPABLE
                } else {
                    0
                },
                ..with(
                    BPF_PROG_TYPE_KPROBE,
                    bpf_attach_type::BPF_TRACE_UPROBE_MULTI,
                )
            });
        }
        if matches!(section_name, "raw_tp.w" | "raw_tracepoint.w")
            || section_name.starts_with("raw_tp.w/")
            || section_name.starts_with("raw_tracepoint.w/")
        {
            return Ok(plain(BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE));
        }
        if section_name == "syscall" {
            // Syscall programs are always sleepable.
            return Ok(Self {
                prog_flags: BPF_F_SLEEPABLE,
                ..plain(BPF_PROG_TYPE_SYSCALL)
            });
        }
        Ok(match section {
            ProgramSection::KProbe | ProgramSection::KRetProbe => plain(BPF_PROG_TYPE_KPROBE),
            ProgramSection::UProbe { sleepable } | ProgramSection::URetProbe { sleepable } => {
                Self {
                    prog_flags: if *sleepable { BPF_F_SLEEPABLE } else { 0 },
                    ..plain(BPF_PROG_TYPE_KPROBE)
                }
            }
            ProgramSection::TracePoint => plain(BPF_PROG_TYPE_TRACEPOINT),
            ProgramSection::RawTracePoint => plain(BPF_PROG_TYPE_RAW_TRACEPOINT),
            ProgramSection::BtfTracePoint => {
                with(BPF_PROG_TYPE_TRACING, bpf_attach_type::BPF_TRACE_RAW_TP)
            }
            ProgramSection::PerfEvent => plain(BPF_PROG_TYPE_PERF_EVENT),
            ProgramSection::SocketFilter => plain(BPF_PROG_TYPE_SOCKET_FILTER),
            ProgramSection::SchedClassifier => plain(BPF_PROG_TYPE_SCHED_CLS),
            ProgramSection::Xdp { frags, attach_type } => {
                let attach = match attach_type {
                    XdpAttachType::Interface => bpf_attach_type::BPF_XDP,
                    XdpAttachType::CpuMap => bpf_attach_type::BPF_XDP_CPUMAP,
                    XdpAttachType::DevMap => bpf_attach_type::BPF_XDP_DEVMAP,
                };
                Self {
                    prog_flags: if *frags { BPF_F_XDP_HAS_FRAGS } else { 0 },
                    ..with(BPF_PROG_TYPE_XDP, attach)
                }
            }
            ProgramSection::CgroupSkb { attach_type } => match attach_type {
                Some(CgroupSkbAttachType::Ingress) => with(
                    BPF_PROG_TYPE_CGROUP_SKB,
                    bpf_attach_type::BPF_CGROUP_INET_INGRESS,
                ),
                Some(CgroupSkbAttachType::Egress) => with(
                    BPF_PROG_TYPE_CGROUP_SKB,
                    bpf_attach_type::BPF_CGROUP_INET_EGRESS,
                ),
                None => plain(BPF_PROG_TYPE_CGROUP_SKB),
            },
            ProgramSection::CgroupSock { attach_type } => with(
                BPF_PROG_TYPE_CGROUP_SOCK,
                bpf_attach_type::from(*attach_type),
            ),
            ProgramSection::CgroupSockAddr { attach_type } => with(
                BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
                bpf_attach_type::from(*attach_type),
            ),
            ProgramSection::CgroupSysctl => with(
                BPF_PROG_TYPE_CGROUP_SYSCTL,
                bpf_attach_type::BPF_CGROUP_SYSCTL,
            ),
            ProgramSection::CgroupDevice => with(
                BPF_PROG_TYPE_CGROUP_DEVICE,
                bpf_attach_type::BPF_CGROUP_DEVICE,
            ),
            ProgramSection::CgroupSockopt { attach_type } => with(
                BPF_PROG_TYPE_CGROUP_SOCKOPT,
                bpf_attach_type::from(*attach_type),
            ),
            ProgramSection::Iter { sleepable } => Self {
                prog_flags: if *sleepable { BPF_F_SLEEPABLE } else { 0 },
                ..with(BPF_PROG_TYPE_TRACING, bpf_attach_type::BPF_TRACE_ITER)
            },
            ProgramSection::FEntry { sleepable } => Self {
                prog_flags: if *sleepable { BPF_F_SLEEPABLE } else { 0 },
                ..with(BPF_PROG_TYPE_TRACING, bpf_attach_type::BPF_TRACE_FENTRY)
            },
            ProgramSection::FExit { sleepable } => Self {
                prog_flags: if *sleepable { BPF_F_SLEEPABLE } else { 0 },
                ..with(BPF_PROG_TYPE_TRACING, bpf_attach_type::BPF_TRACE_FEXIT)
            },
            ProgramSection::Lsm { sleepable } => Self {
                prog_flags: if *sleepable { BPF_F_SLEEPABLE } else { 0 },
                ..with(BPF_PROG_TYPE_LSM, bpf_attach_type::BPF_LSM_MAC)
            },
            ProgramSection::SkMsg => plain(BPF_PROG_TYPE_SK_MSG),
            ProgramSection::SockOps => plain(BPF_PROG_TYPE_SOCK_OPS),
            ProgramSection::SkSkbStream { kind } => with(
                BPF_PROG_TYPE_SK_SKB,
                match kind {
                    aya_obj::programs::SkSkbKind::StreamParser => {
                        bpf_attach_type::BPF_SK_SKB_STREAM_PARSER
                    }
                    aya_obj::programs::SkSkbKind::StreamVerdict => {
                        bpf_attach_type::BPF_SK_SKB_STREAM_VERDICT
                    }
                },
            ),
            ProgramSection::SkLookup => {
                with(BPF_PROG_TYPE_SK_LOOKUP, bpf_attach_type::BPF_SK_LOOKUP)
            }
            ProgramSection::FlowDissector => with(
                BPF_PROG_TYPE_FLOW_DISSECTOR,
                bpf_attach_type::BPF_FLOW_DISSECTOR,
            ),
            ProgramSection::Extension => plain(BPF_PROG_TYPE_EXT),
            _ => {
                return Err(
                    "this program type is not supported by this version of iu's loader yet",
                );
            }
        })
    }
}
