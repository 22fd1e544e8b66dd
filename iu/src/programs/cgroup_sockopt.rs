//! cgroup socket-option programs: attached to a cgroup v2 directory at
//! `getsockopt` or `setsockopt` (`BPF_CGROUP_GETSOCKOPT`, `BPF_CGROUP_SETSOCKOPT`).

use std::path::Path;

use aya_obj::{ProgramSection, generated::bpf_attach_type};

use super::Program;
use crate::error::{Error, Result};

/// A loaded cgroup socket-option program, ready to attach.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let link = ebpf.cgroup_sockopt("no_tos")?.attach("/sys/fs/cgroup/jail")?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CgroupSockopt<'a> {
    program: &'a Program,
    attach_type: bpf_attach_type,
}

impl<'a> CgroupSockopt<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        let attach_type = match program.section {
            ProgramSection::CgroupSockopt { attach_type } => bpf_attach_type::from(attach_type),
            _ => {
                return Err(Error::WrongProgramType {
                    name: program.name.clone(),
                    expected: "cgroup socket-option program (cgroup/getsockopt, cgroup/setsockopt)",
                    actual: program.section_name.clone(),
                });
            }
        };
        Ok(Self {
            program,
            attach_type,
        })
    }

    /// Attaches to the cgroup v2 directory `cgroup`: the program then runs
    /// for every process in it and in its descendants.
    pub fn attach(&self, cgroup: impl AsRef<Path>) -> Result<CgroupSockoptLink> {
        let hook = format!("cgroup {}", self.program.section_name);
        super::cgroup::attach(self.program, cgroup.as_ref(), self.attach_type, &hook)
    }
}

/// An attached cgroup socket-option program. Dropping it detaches the program.
pub type CgroupSockoptLink = super::FdLink;
