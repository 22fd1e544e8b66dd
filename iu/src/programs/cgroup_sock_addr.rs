//! cgroup socket-address programs: attached to a cgroup v2 directory at
//! the hook their section names (connect, sendmsg, recvmsg, bind,
//! getpeername, getsockname; IPv4 or IPv6).

use std::path::Path;

use aya_obj::{ProgramSection, generated::bpf_attach_type, programs::CgroupSockAddrAttachType};

use super::Program;
use crate::error::{Error, Result};

/// A loaded cgroup socket-address program, ready to attach.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let link = ebpf.cgroup_sock_addr("connect4")?.attach("/sys/fs/cgroup/web")?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CgroupSockAddr<'a> {
    program: &'a Program,
    attach_type: CgroupSockAddrAttachType,
}

impl<'a> CgroupSockAddr<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        match program.section {
            ProgramSection::CgroupSockAddr { attach_type } => Ok(Self {
                program,
                attach_type,
            }),
            _ => Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "cgroup socket-address program (cgroup/connect4, ...)",
                actual: program.section_name.clone(),
            }),
        }
    }

    /// Attaches to the cgroup v2 directory `cgroup`, at the program's hook.
    pub fn attach(&self, cgroup: impl AsRef<Path>) -> Result<CgroupSockAddrLink> {
        let hook = format!("cgroup {}", self.program.section_name);
        super::cgroup::attach(
            self.program,
            cgroup.as_ref(),
            bpf_attach_type::from(self.attach_type),
            &hook,
        )
    }
}

/// An attached cgroup socket-address program. Dropping it detaches the
/// program.
pub type CgroupSockAddrLink = super::FdLink;
