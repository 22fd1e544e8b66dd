//! cgroup sysctl programs: attached to a cgroup v2 directory, they allow or
//! deny its processes' reads and writes of `/proc/sys` (`BPF_CGROUP_SYSCTL`).

use std::path::Path;

use aya_obj::{ProgramSection, generated::bpf_attach_type};

use super::Program;
use crate::error::{Error, Result};

/// A loaded cgroup sysctl program, ready to attach.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let link = ebpf.cgroup_sysctl("read_only")?.attach("/sys/fs/cgroup/jail")?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CgroupSysctl<'a> {
    program: &'a Program,
    attach_type: bpf_attach_type,
}

impl<'a> CgroupSysctl<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        let attach_type = match program.section {
            ProgramSection::CgroupSysctl => bpf_attach_type::BPF_CGROUP_SYSCTL,
            _ => {
                return Err(Error::WrongProgramType {
                    name: program.name.clone(),
                    expected: "cgroup sysctl program (cgroup/sysctl)",
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
    pub fn attach(&self, cgroup: impl AsRef<Path>) -> Result<CgroupSysctlLink> {
        let hook = format!("cgroup {}", self.program.section_name);
        super::cgroup::attach(self.program, cgroup.as_ref(), self.attach_type, &hook)
    }
}

/// An attached cgroup sysctl program. Dropping it detaches the program.
pub type CgroupSysctlLink = super::FdLink;
