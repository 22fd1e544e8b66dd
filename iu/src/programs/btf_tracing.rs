//! BTF-attached programs: fentry, fexit, fmod_ret (`BPF_PROG_TYPE_TRACING`)
//! and BPF LSM. The target is fixed at load time (its BTF id in the kernel's BTF);
//! attaching creates the link.

use std::os::fd::AsFd;

use aya_obj::ProgramSection;

use super::Program;
use crate::{
    error::{Error, Result},
    sys,
};

/// A loaded fentry, fexit, fmod_ret or LSM program, ready to attach.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let link = ebpf.btf_tracing("file_open")?.attach()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BtfTracing<'a> {
    program: &'a Program,
}

impl<'a> BtfTracing<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        match program.section {
            ProgramSection::FEntry { .. }
            | ProgramSection::FExit { .. }
            | ProgramSection::Lsm { .. } => Ok(Self { program }),
            _ => Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "an fentry, fexit, fmod_ret or LSM program",
                actual: program.section_name.clone(),
            }),
        }
    }

    /// Attaches to the function or hook the program was loaded for.
    pub fn attach(&self) -> Result<BtfLink> {
        let target = self.program.section_name.clone();
        let link = sys::raw_tracepoint_open(self.program.as_fd(), None).map_err(|e| {
            let hint = match e.raw_os_error() {
                Some(libc::EPERM) if crate::sys::is_root() => None,
                Some(libc::EINVAL) if matches!(self.program.section, ProgramSection::Lsm { .. }) => {
                    Some("the BPF LSM is not active: the kernel needs `bpf` in its `lsm=` list")
                }
                _ => None,
            };
            self.program.attach_error(&target, "bpf(BPF_RAW_TRACEPOINT_OPEN)", e, "Attaching BTF tracing and LSM programs needs CAP_BPF and CAP_PERFMON (CAP_MAC_ADMIN for LSM), or root.", hint)
        })?;
        Ok(super::FdLink { link, target })
    }
}

/// An attached fentry, fexit, fmod_ret or LSM program. Dropping it detaches
/// the program.
pub type BtfLink = super::FdLink;
