//! XDP programs: attach to a network interface with a bpf_link (Linux
//! 5.9+), in driver, generic (skb) or offload mode.

use std::os::fd::AsFd;

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
    fn flags(self) -> u32 {
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
                expected: "XDP",
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

    /// Attaches to the interface with index `ifindex`.
    pub fn attach_to_index(&self, ifindex: u32, mode: XdpMode) -> Result<XdpLink> {
        let target = format!("XDP on interface {ifindex}");
        let link = sys::link_create(
            self.program.as_fd(),
            ifindex,
            bpf_attach_type::BPF_XDP as u32,
            mode.flags(),
            0,
        )
        .map_err(|e| {
            let hint = match e.raw_os_error() {
                Some(libc::EOPNOTSUPP) => Some("the driver does not support this XDP mode: try XdpMode::Generic"),
                Some(libc::EBUSY) => Some("another XDP program is attached to this interface"),
                _ => None,
            };
            Error::from_syscall(
                format!("attaching `{}` to {target}", self.program.name),
                SyscallError::new("bpf(BPF_LINK_CREATE)", e),
                "Attaching XDP programs needs CAP_NET_ADMIN and CAP_BPF (or root): run with `sudo`.",
                |_, source| Error::Attach {
                    program: self.program.name.clone(),
                    target: target.clone(),
                    source,
                    hint,
                },
            )
        })?;
        Ok(super::FdLink { link, target })
    }
}

/// An attached XDP program. Dropping it detaches the program.
pub type XdpLink = super::FdLink;
