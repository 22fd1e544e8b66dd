//! XDP programs: attach to a network interface with a bpf_link (Linux
//! 5.9+) or through rtnetlink before that, in driver, generic (skb) or
//! offload mode.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use aya_obj::{ProgramSection, generated::bpf_attach_type};

use super::Program;
use crate::{
    error::{Error, Result},
    sys::{self, SyscallError},
};

/// How an XDP program is attached (`XDP_FLAGS_*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum XdpMode {
    /// Let the kernel choose: driver mode when the driver supports it.
    #[default]
    Auto,
    /// Generic mode, in the network stack (`XDP_FLAGS_SKB_MODE`): works on
    /// every interface, slower.
    Generic,
    /// Native driver mode (`XDP_FLAGS_DRV_MODE`).
    Driver,
    /// Offloaded to the NIC (`XDP_FLAGS_HW_MODE`).
    Offload,
}

impl XdpMode {
    pub(crate) fn flags(self) -> u32 {
        match self {
            XdpMode::Auto => 0,
            XdpMode::Generic => 1 << 1,
            XdpMode::Driver => 1 << 2,
            XdpMode::Offload => 1 << 3,
        }
    }
}

/// A loaded XDP program, ready to attach.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// use iu::programs::XdpMode;
/// let link = ebpf.xdp("firewall")?.attach("eth0", XdpMode::Auto)?;
/// drop(link); // detaches
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Xdp<'a> {
    program: &'a Program,
}

impl<'a> Xdp<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        match program.section {
            ProgramSection::Xdp { .. } => Ok(Self { program }),
            _ => Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "an XDP program",
                actual: program.section_name.clone(),
            }),
        }
    }

    /// Attaches to the interface called `interface`.
    pub fn attach(&self, interface: &str, mode: XdpMode) -> Result<XdpLink> {
        let ifindex = nix::net::if_::if_nametoindex(interface).map_err(|e| Error::Attach {
            program: self.program.name.clone(),
            target: format!("interface {interface}"),
            source: SyscallError::new("if_nametoindex", e.into()),
            hint: Some("no interface with that name: list them with `ip link`"),
        })?;
        self.attach_to_index(ifindex, mode)
    }

    /// Attaches to the interface with index `ifindex`: with a bpf_link
    /// (Linux 5.9+), or before that through rtnetlink
    /// ([`Xdp::attach_netlink`]).
    pub fn attach_to_index(&self, ifindex: u32, mode: XdpMode) -> Result<XdpLink> {
        if !crate::features::xdp_link() {
            return self.attach_netlink(ifindex, mode);
        }
        // A dead process's netlink program there would make this EBUSY.
        crate::cleanup::before_xdp_attach(ifindex);
        let target = format!("XDP on interface {ifindex}");
        let link = sys::link_create(
            self.program.as_fd(),
            ifindex,
            bpf_attach_type::BPF_XDP as u32,
            mode.flags(),
            0,
        )
        .map_err(|e| self.error(&target, "bpf(BPF_LINK_CREATE)", e))?;
        Ok(XdpLink {
            link: Some(link),
            _netlink: None,
            target,
        })
    }

    /// Attaches to the interface with index `ifindex` through rtnetlink
    /// (`RTM_SETLINK`), the way for kernels without XDP bpf_links, which
    /// [`Xdp::attach_to_index`] takes by itself there. It refuses an
    /// interface that has an XDP program already, and the link detaches
    /// only this program when dropped. Such an attachment cannot be pinned.
    pub fn attach_netlink(&self, ifindex: u32, mode: XdpMode) -> Result<XdpLink> {
        let target = format!("XDP on interface {ifindex} (netlink)");
        // The link keeps its own descriptor of the program, to name it as
        // the one to detach.
        let program = self
            .program
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| self.error(&target, "dup", e))?;
        let flags = mode.flags();
        crate::cleanup::before_xdp_attach(ifindex);
        sys::netlink::xdp_set(
            ifindex,
            program.as_raw_fd(),
            None,
            flags | sys::netlink::XDP_FLAGS_UPDATE_IF_NOEXIST,
        )
        .map_err(|e| self.error(&target, "rtnetlink(RTM_SETLINK)", e))?;
        // The mark that lets `iu::cleanup` remove it if this process dies
        // without detaching.
        let record = sys::prog_info(program.as_fd()).ok().and_then(|info| {
            crate::cleanup::record(&crate::cleanup::Entry::Xdp {
                netns: crate::cleanup::netns(),
                ifindex,
                flags,
                prog_id: info.id,
            })
        });
        Ok(XdpLink {
            link: None,
            _netlink: Some(NetlinkAttachment {
                ifindex,
                flags,
                program,
                _record: record,
            }),
            target,
        })
    }

    fn error(&self, target: &str, call: &'static str, e: std::io::Error) -> Error {
        let hint = match e.raw_os_error() {
            Some(libc::EOPNOTSUPP) => {
                Some("the driver does not support this XDP mode: try XdpMode::Generic")
            }
            Some(libc::EBUSY | libc::EEXIST) => {
                Some("another XDP program is attached to this interface")
            }
            _ => None,
        };
        self.program.attach_error(
            target,
            call,
            e,
            "Attaching XDP programs needs CAP_NET_ADMIN and CAP_BPF (or root): run with `sudo`.",
            hint,
        )
    }
}

/// An attached XDP program: a bpf_link, or an rtnetlink attachment on
/// kernels without XDP links. Dropping it detaches the program.
#[derive(Debug)]
pub struct XdpLink {
    pub(super) link: Option<OwnedFd>,
    _netlink: Option<NetlinkAttachment>,
    target: String,
}

impl XdpLink {
    /// The hook, for example `XDP on interface 3`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Whether the attachment is a bpf_link (as opposed to rtnetlink).
    pub fn is_bpf_link(&self) -> bool {
        self.link.is_some()
    }
}

/// A program set on an interface through rtnetlink, taken off when
/// dropped.
#[derive(Debug)]
struct NetlinkAttachment {
    ifindex: u32,
    flags: u32,
    program: OwnedFd,
    /// Dropped after the program is taken off.
    _record: Option<crate::cleanup::Record>,
}

impl Drop for NetlinkAttachment {
    fn drop(&mut self) {
        // Only if this program is still the one attached (Linux 5.7+);
        // older kernels cannot say which program to replace.
        let expected = sys::netlink::xdp_set(
            self.ifindex,
            -1,
            Some(self.program.as_raw_fd()),
            self.flags | sys::netlink::XDP_FLAGS_REPLACE,
        );
        let result = match expected {
            Err(e)
                if e.raw_os_error() == Some(libc::EINVAL) && !crate::features::at_least(5, 7) =>
            {
                sys::netlink::xdp_set(self.ifindex, -1, None, self.flags)
            }
            other => other,
        };
        if let Err(e) = result {
            log::warn!("cannot detach XDP from interface {}: {e}", self.ifindex);
        }
    }
}
