//! cgroup device programs: attached to a cgroup v2 directory, they allow or
//! deny its processes' access to device nodes (`BPF_CGROUP_DEVICE`).

use std::path::Path;

use aya_obj::{ProgramSection, generated::bpf_attach_type};

use super::Program;
use crate::error::{Error, Result};

/// A loaded cgroup device program, ready to attach.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let link = ebpf.cgroup_device("no_block_devices")?.attach("/sys/fs/cgroup/jail")?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CgroupDevice<'a> {
    program: &'a Program,
    attach_type: bpf_attach_type,
}

impl<'a> CgroupDevice<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        let attach_type = match program.section {
            ProgramSection::CgroupDevice => bpf_attach_type::BPF_CGROUP_DEVICE,
            _ => {
                return Err(Error::WrongProgramType {
                    name: program.name.clone(),
                    expected: "cgroup device program (cgroup/dev)",
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
    pub fn attach(&self, cgroup: impl AsRef<Path>) -> Result<CgroupDeviceLink> {
        let hook = format!("cgroup {}", self.program.section_name);
        super::cgroup::attach(self.program, cgroup.as_ref(), self.attach_type, &hook)
    }
}

/// An attached cgroup device program. Dropping it detaches the program.
pub type CgroupDeviceLink = super::FdLink;
