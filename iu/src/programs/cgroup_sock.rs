//! cgroup socket programs: attached to a cgroup v2 directory, at the hook
//! their section names (socket creation, release or bind).

use std::path::Path;

use aya_obj::{ProgramSection, generated::bpf_attach_type, programs::CgroupSockAttachType};

use super::Program;
use crate::error::{Error, Result};

/// A loaded cgroup socket program, ready to attach.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let link = ebpf.cgroup_sock("no_raw")?.attach("/sys/fs/cgroup/user.slice")?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CgroupSock<'a> {
    program: &'a Program,
    attach_type: CgroupSockAttachType,
}

impl<'a> CgroupSock<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        match program.section {
            ProgramSection::CgroupSock { attach_type } => Ok(Self {
                program,
                attach_type,
            }),
            _ => Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "a cgroup socket program (cgroup/sock_create, ...)",
                actual: program.section_name.clone(),
            }),
        }
    }

    /// Attaches to the cgroup v2 directory `cgroup`: the program then runs
    /// for the sockets of every process in it and in its descendants, after
    /// the programs already attached there.
    pub fn attach(&self, cgroup: impl AsRef<Path>) -> Result<CgroupSockLink> {
        let hook = match self.attach_type {
            CgroupSockAttachType::SockCreate => "cgroup sock_create",
            CgroupSockAttachType::SockRelease => "cgroup sock_release",
            CgroupSockAttachType::PostBind4 => "cgroup post_bind4",
            CgroupSockAttachType::PostBind6 => "cgroup post_bind6",
        };
        super::cgroup::attach(
            self.program,
            cgroup.as_ref(),
            bpf_attach_type::from(self.attach_type),
            hook,
        )
    }
}

/// An attached cgroup socket program. Dropping it detaches the program.
pub type CgroupSockLink = super::FdLink;
