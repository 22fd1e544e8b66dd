//! cgroup socket-buffer programs: attached to a cgroup v2 directory, on
//! the direction their section names.

use std::path::Path;

use aya_obj::{ProgramSection, generated::bpf_attach_type, programs::CgroupSkbAttachType};

use super::Program;
use crate::error::{Error, Result};

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
                    expected: "a cgroup_skb/ingress or cgroup_skb/egress program",
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
        let direction = match self.attach_type {
            bpf_attach_type::BPF_CGROUP_INET_INGRESS => "ingress",
            _ => "egress",
        };
        super::cgroup::attach(
            self.program,
            cgroup.as_ref(),
            self.attach_type,
            &format!("cgroup_skb {direction}"),
        )
    }
}

/// An attached cgroup socket-buffer program. Dropping it detaches the
/// program.
pub type CgroupSkbLink = super::FdLink;
