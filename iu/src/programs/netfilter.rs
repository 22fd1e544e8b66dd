//! Netfilter programs (`BPF_PROG_TYPE_NETFILTER`, Linux 6.4): attached
//! with a bpf_link (`BPF_NETFILTER`) to one netfilter hook of the calling
//! thread's network namespace, for one protocol family, at a priority
//! among the hook's other functions (iptables and nftables chains).

use std::os::fd::AsFd;

use super::{FdLink, Program};
use crate::{
    error::{Error, Result},
    sys,
};

/// Where a netfilter program runs.
///
/// ```
/// use iu::programs::{NetfilterFamily, NetfilterHook, NetfilterPoint};
/// let input = NetfilterPoint::new(NetfilterFamily::Ipv4, NetfilterHook::LocalIn, -100);
/// assert!(!input.defrag);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetfilterPoint {
    /// The protocol family.
    pub family: NetfilterFamily,
    /// The hook.
    pub hook: NetfilterHook,
    /// The order among the hook's functions: lower runs first (iptables'
    /// filter table is at 0, conntrack at -200). `i32::MIN` and `i32::MAX`
    /// are reserved.
    pub priority: i32,
    /// Reassemble fragments before the program sees them
    /// (`BPF_F_NETFILTER_IP_DEFRAG`, Linux 6.6).
    pub defrag: bool,
}

impl NetfilterPoint {
    /// The hook `hook` of `family` at `priority`, without defragmentation.
    pub fn new(family: NetfilterFamily, hook: NetfilterHook, priority: i32) -> Self {
        Self {
            family,
            hook,
            priority,
            defrag: false,
        }
    }
}

/// A netfilter protocol family (`NFPROTO_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetfilterFamily {
    /// `NFPROTO_IPV4`.
    Ipv4 = 2,
    /// `NFPROTO_IPV6`.
    Ipv6 = 10,
}

/// A netfilter hook of the IP families (`NF_INET_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetfilterHook {
    /// Every packet received, before routing.
    PreRouting = 0,
    /// Packets for this host.
    LocalIn = 1,
    /// Packets routed through.
    Forward = 2,
    /// Packets this host sends.
    LocalOut = 3,
    /// Every packet sent, after routing.
    PostRouting = 4,
}

/// A loaded netfilter program, ready to attach.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// use iu::programs::{NetfilterFamily, NetfilterHook, NetfilterPoint};
/// let point = NetfilterPoint::new(NetfilterFamily::Ipv4, NetfilterHook::LocalIn, -100);
/// let link = ebpf.netfilter("no_discard")?.attach(point)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Netfilter<'a> {
    program: &'a Program,
}

impl<'a> Netfilter<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        if program.section_name == "netfilter" {
            return Ok(Self { program });
        }
        Err(Error::WrongProgramType {
            name: program.name.clone(),
            expected: "a netfilter program (`#[netfilter]`)",
            actual: program.section_name.clone(),
        })
    }

    /// Attaches at `point` in the calling thread's network namespace until
    /// the link drops.
    pub fn attach(&self, point: NetfilterPoint) -> Result<NetfilterLink> {
        let target = format!(
            "netfilter {:?} {:?} at priority {}",
            point.family, point.hook, point.priority
        );
        let link = sys::link_create_netfilter(
            self.program.as_fd(),
            point.family as u32,
            point.hook as u32,
            point.priority,
            point.defrag,
        )
        .map_err(|e| {
            let hint = match e.raw_os_error() {
                Some(libc::EINVAL) => Some(
                    "netfilter links need Linux 6.4 (defragmentation 6.6); the priority may not be i32::MIN or i32::MAX",
                ),
                Some(libc::EOPNOTSUPP | libc::EAFNOSUPPORT) => Some(
                    "the kernel lacks CONFIG_NETFILTER_BPF_LINK or the family's defragmentation",
                ),
                Some(libc::EBUSY) => {
                    Some("another netfilter program is at this hook with the same priority")
                }
                _ => None,
            };
            self.program.attach_error(
                &target,
                "bpf(BPF_LINK_CREATE)",
                e,
                "Attaching netfilter programs needs CAP_NET_ADMIN and CAP_BPF (or root): run with `sudo`.",
                hint,
            )
        })?;
        Ok(FdLink { link, target })
    }
}

/// An attached netfilter program. Dropping it unhooks the program.
pub type NetfilterLink = FdLink;
