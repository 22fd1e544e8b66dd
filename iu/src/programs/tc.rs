//! tc classifiers: attached with TCX links (Linux 6.6+) to an interface's
//! ingress or egress.

use std::os::fd::AsFd;

use aya_obj::{ProgramSection, generated::bpf_attach_type};

use super::Program;
use crate::{
    error::{Error, Result},
    sys::{self, SyscallError},
};

/// Where on an interface a classifier runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcDirection {
    /// Packets the interface receives.
    Ingress,
    /// Packets the interface sends.
    Egress,
}

/// A loaded tc classifier, ready to attach.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// use iu::programs::TcDirection;
/// let link = ebpf.classifier("count")?.attach("eth0", TcDirection::Ingress)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Classifier<'a> {
    program: &'a Program,
}

impl<'a> Classifier<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        match program.section {
            ProgramSection::SchedClassifier => Ok(Self { program }),
            _ => Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "tc classifier",
                actual: program.section_name.clone(),
            }),
        }
    }

    /// Attaches to `interface` in `direction`, after the classifiers
    /// already there.
    pub fn attach(&self, interface: &str, direction: TcDirection) -> Result<TcLink> {
        let target = format!("tc {direction:?} on {interface}").to_lowercase();
        let ifindex = nix::net::if_::if_nametoindex(interface).map_err(|e| Error::Attach {
            program: self.program.name.clone(),
            target: target.clone(),
            source: SyscallError::new("if_nametoindex", e.into()),
            hint: Some("no interface with that name: list them with `ip link`"),
        })?;
        let attach_type = match direction {
            TcDirection::Ingress => bpf_attach_type::BPF_TCX_INGRESS,
            TcDirection::Egress => bpf_attach_type::BPF_TCX_EGRESS,
        };
        let link = sys::link_create(self.program.as_fd(), ifindex, attach_type as u32, 0, 0).map_err(|e| {
            let hint = matches!(e.raw_os_error(), Some(libc::EINVAL))
                .then_some("TCX links need Linux 6.6 or later");
            Error::from_syscall(
                format!("attaching `{}` to {target}", self.program.name),
                SyscallError::new("bpf(BPF_LINK_CREATE)", e),
                "Attaching tc programs needs CAP_NET_ADMIN and CAP_BPF (or root): run with `sudo`.",
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

/// An attached classifier. Dropping it detaches the program.
pub type TcLink = super::FdLink;
