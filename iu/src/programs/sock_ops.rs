//! sock_ops programs: attached to a cgroup v2 directory, run at TCP events
//! of its sockets (`BPF_CGROUP_SOCK_OPS`).

use std::path::Path;

use aya_obj::{ProgramSection, generated::bpf_attach_type};

use super::Program;
use crate::error::{Error, Result};

/// A loaded sock_ops program, ready to attach.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let link = ebpf.sock_ops("count_established")?.attach("/sys/fs/cgroup/web")?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SockOps<'a> {
    program: &'a Program,
}

impl<'a> SockOps<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        match program.section {
            ProgramSection::SockOps => Ok(Self { program }),
            _ => Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "sock_ops program (sockops)",
                actual: program.section_name.clone(),
            }),
        }
    }

    /// Attaches to the cgroup v2 directory `cgroup`: the program then runs
    /// for the TCP sockets of every process in it and its descendants.
    pub fn attach(&self, cgroup: impl AsRef<Path>) -> Result<SockOpsLink> {
        super::cgroup::attach(
            self.program,
            cgroup.as_ref(),
            bpf_attach_type::BPF_CGROUP_SOCK_OPS,
            "cgroup sock_ops",
        )
    }
}

/// An attached sock_ops program. Dropping it detaches the program.
pub type SockOpsLink = super::FdLink;
