//! cgroup socket-buffer programs: attached with a bpf_link to a cgroup v2
//! directory, on the direction their section names.

use std::{
    os::fd::{AsFd, AsRawFd},
    path::Path,
};

use aya_obj::{ProgramSection, generated::bpf_attach_type, programs::CgroupSkbAttachType};

use super::Program;
use crate::{
    error::{Error, Result},
    sys::{self, SyscallError},
};

/// A loaded cgroup socket-buffer program, ready to attach.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let link = ebpf.cgroup_skb("no_telnet")?.attach("/sys/fs/cgroup/system.slice")?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CgroupSkb<'a> {
    program: &'a Program,
    attach_type: bpf_attach_type,
}

impl<'a> CgroupSkb<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        let attach_type = match program.section {
            ProgramSection::CgroupSkb {
                attach_type: Some(CgroupSkbAttachType::Ingress),
            } => bpf_attach_type::BPF_CGROUP_INET_INGRESS,
            ProgramSection::CgroupSkb {
                attach_type: Some(CgroupSkbAttachType::Egress),
            } => bpf_attach_type::BPF_CGROUP_INET_EGRESS,
            _ => {
                return Err(Error::WrongProgramType {
                    name: program.name.clone(),
                    expected: "cgroup_skb/ingress or cgroup_skb/egress",
                    actual: program.section_name.clone(),
                });
            }
        };
        Ok(Self {
            program,
            attach_type,
        })
    }

    /// Attaches to the cgroup v2 directory `cgroup` (for example
    /// `/sys/fs/cgroup/user.slice`): the program then sees the packets of
    /// every socket of the processes in it and in its descendants, after
    /// the programs already attached there.
    pub fn attach(&self, cgroup: impl AsRef<Path>) -> Result<CgroupSkbLink> {
        let cgroup = cgroup.as_ref();
        let direction = match self.attach_type {
            bpf_attach_type::BPF_CGROUP_INET_INGRESS => "ingress",
            _ => "egress",
        };
        let target = format!("cgroup_skb {direction} on {}", cgroup.display());
        let dir = std::fs::File::open(cgroup).map_err(|e| Error::Attach {
            program: self.program.name.clone(),
            target: target.clone(),
            source: SyscallError::new("open", e),
            hint: Some("give the directory of a cgroup v2 (under the cgroup2 mount, usually /sys/fs/cgroup)"),
        })?;
        let link = sys::link_create(
            self.program.as_fd(),
            dir.as_raw_fd() as u32,
            self.attach_type as u32,
            0,
            0,
        )
        .map_err(|e| {
            let hint = matches!(e.raw_os_error(), Some(libc::EBADF | libc::EINVAL))
                .then_some("the directory must be a cgroup v2 (cgroup2 mount), not a v1 hierarchy");
            Error::from_syscall(
                format!("attaching `{}` to {target}", self.program.name),
                SyscallError::new("bpf(BPF_LINK_CREATE)", e),
                "Attaching cgroup programs needs CAP_NET_ADMIN and CAP_BPF (or root): run with `sudo`.",
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

/// An attached cgroup socket-buffer program. Dropping it detaches the
/// program.
pub type CgroupSkbLink = super::FdLink;
