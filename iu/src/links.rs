//! The bpf_links loaded in the kernel, by anyone: which program each one
//! attaches, and where, as far as the kernel reports it (what `iu-loader
//! link list` and `bpftool link list` print).
//!
//! ```no_run
//! for link in iu::links::loaded()? {
//!     println!("{} {} prog {} {:?}", link.id, link.type_name(), link.prog_id, link.attach);
//! }
//! # Ok::<(), iu::Error>(())
//! ```

use std::os::fd::AsFd;

use crate::{
    error::{Error, Result},
    loaded::{self, ObjKind},
    sys,
};

/// Where a link attaches its program, per link type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkAttach {
    /// A raw tracepoint (or BTF tracepoint) by name.
    RawTracepoint {
        /// The tracepoint.
        tp_name: String,
    },
    /// fentry/fexit/fmod_ret/LSM/tp_btf: the attach type and target.
    Tracing {
        /// `BPF_*` attach type.
        attach_type: u32,
        /// The id of the target's BTF object (0: vmlinux).
        target_obj_id: u32,
        /// The target function's type id in it.
        target_btf_id: u32,
    },
    /// A cgroup hook.
    Cgroup {
        /// The cgroup's id (its inode number in cgroup2).
        cgroup_id: u64,
        /// `BPF_CGROUP_*` attach type.
        attach_type: u32,
    },
    /// A network namespace hook (flow dissector, sk_lookup).
    Netns {
        /// The namespace's inode.
        netns_ino: u32,
        /// The attach type.
        attach_type: u32,
    },
    /// XDP on an interface.
    Xdp {
        /// The interface index.
        ifindex: u32,
    },
    /// TCX on an interface (Linux 6.6+).
    Tcx {
        /// The interface index.
        ifindex: u32,
        /// `BPF_TCX_INGRESS` or `BPF_TCX_EGRESS`.
        attach_type: u32,
    },
    /// A perf event (kprobe, uprobe, tracepoint, perf counter).
    PerfEvent {
        /// `BPF_PERF_EVENT_*` kind.
        event_type: u32,
    },
    /// Another link type: nothing decoded.
    Other,
}

/// What the kernel reports about a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// The kernel's id for the link.
    pub id: u32,
    /// `BPF_LINK_TYPE_*`.
    pub link_type: u32,
    /// The id of the program it attaches.
    pub prog_id: u32,
    /// Where, as far as the kernel reports it.
    pub attach: LinkAttach,
}

impl LinkInfo {
    /// The link type as bpftool spells it: `raw_tracepoint`, `tracing`,
    /// `cgroup`, `xdp`, `perf_event`, ...
    pub fn type_name(&self) -> &'static str {
        match self.link_type {
            1 => "raw_tracepoint",
            2 => "tracing",
            3 => "cgroup",
            4 => "iter",
            5 => "netns",
            6 => "xdp",
            7 => "perf_event",
            8 => "kprobe_multi",
            9 => "struct_ops",
            10 => "netfilter",
            11 => "tcx",
            12 => "uprobe_multi",
            13 => "netkit",
            14 => "sockmap",
            _ => "unknown",
        }
    }
}

impl From<(sys::LinkInfo, &[u8])> for LinkInfo {
    fn from((info, name): (sys::LinkInfo, &[u8])) -> Self {
        let attach = match info.link_type {
            1 => {
                let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
                LinkAttach::RawTracepoint {
                    tp_name: String::from_utf8_lossy(&name[..end]).into_owned(),
                }
            }
            2 => LinkAttach::Tracing {
                attach_type: info.word(0),
                target_obj_id: info.word(1),
                target_btf_id: info.word(2),
            },
            3 => LinkAttach::Cgroup {
                cgroup_id: info.dword(0),
                attach_type: info.word(2),
            },
            5 => LinkAttach::Netns {
                netns_ino: info.word(0),
                attach_type: info.word(1),
            },
            6 => LinkAttach::Xdp {
                ifindex: info.word(0),
            },
            7 => LinkAttach::PerfEvent {
                event_type: info.word(0),
            },
            11 => LinkAttach::Tcx {
                ifindex: info.word(0),
                attach_type: info.word(1),
            },
            _ => LinkAttach::Other,
        };
        Self {
            id: info.id,
            link_type: info.link_type,
            prog_id: info.prog_id,
            attach,
        }
    }
}

/// The link with id `id` ([`Error::UnknownId`] if none has it).
///
/// ```no_run
/// let link = iu::links::info(3)?;
/// println!("program {}", link.prog_id);
/// # Ok::<(), iu::Error>(())
/// ```
pub fn info(id: u32) -> Result<LinkInfo> {
    let fd = loaded::fd_by_id(ObjKind::Link, id)?;
    let mut name = [0u8; 128];
    let raw = sys::link_info(fd.as_fd(), &mut name).map_err(|e| {
        loaded::error(
            format!("reading link {id}"),
            "bpf(BPF_OBJ_GET_INFO_BY_FD)",
            e,
        )
    })?;
    Ok(LinkInfo::from((raw, &name[..])))
}

/// Every bpf_link in the kernel (needs `CAP_SYS_ADMIN`). Attachments made
/// without links (tc filters, netlink XDP, `BPF_PROG_ATTACH` to cgroups,
/// perf events on kernels before 5.15) are not listed.
pub fn loaded() -> Result<Vec<LinkInfo>> {
    let mut out = vec![];
    for id in loaded::ids(ObjKind::Link)? {
        match info(id) {
            Ok(link) => out.push(link),
            Err(Error::UnknownId { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
