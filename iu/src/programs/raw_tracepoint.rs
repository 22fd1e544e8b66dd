//! Raw tracepoints: attached with `BPF_RAW_TRACEPOINT_OPEN`, whose file
//! descriptor is the link.

use std::os::fd::AsFd;

use aya_obj::ProgramSection;

use super::Program;
use crate::{
    error::{CAP_PERFMON_HINT, Error, Result},
    sys,
};

/// A loaded raw tracepoint program, ready to attach.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let link = ebpf.raw_tracepoint("enter")?.attach_to("sys_enter")?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RawTracePoint<'a> {
    program: &'a Program,
}

impl<'a> RawTracePoint<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        match program.section {
            ProgramSection::RawTracePoint => Ok(Self { program }),
            _ => Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "a raw tracepoint program",
                actual: program.section_name.clone(),
            }),
        }
    }

    /// Attaches to the tracepoint the section names (`raw_tp/<name>`, or
    /// `raw_tp.w/<name>` for a writable one).
    pub fn attach(&self) -> Result<RawTracePointLink> {
        let name = self
            .program
            .section_name
            .split_once('/')
            .map(|(_, n)| n.to_owned())
            .ok_or_else(|| Error::NoAttachTarget(self.program.name.clone()))?;
        self.attach_to(&name)
    }

    /// Attaches to raw tracepoint `name` (for example `sys_enter`).
    pub fn attach_to(&self, name: &str) -> Result<RawTracePointLink> {
        let target = format!("raw tracepoint {name}");
        let c_name = std::ffi::CString::new(name)
            .map_err(|_| Error::NoAttachTarget(self.program.name.clone()))?;
        let link = sys::raw_tracepoint_open(self.program.as_fd(), Some(&c_name)).map_err(|e| {
            let hint = match e.raw_os_error() {
                Some(libc::ENOENT) => {
                    Some("no such tracepoint: list them in /sys/kernel/tracing/available_events")
                }
                Some(libc::EACCES) => {
                    Some("the program reads more arguments than the tracepoint has")
                }
                Some(libc::EINVAL) if self.program.prog_type == 24 => Some(
                    "a writable raw tracepoint program attaches only to a writable tracepoint (bpf_test_finish, nbd_send_request), and may not reach past its buffer",
                ),
                _ => None,
            };
            self.program.attach_error(
                &target,
                "bpf(BPF_RAW_TRACEPOINT_OPEN)",
                e,
                CAP_PERFMON_HINT,
                hint,
            )
        })?;
        Ok(super::FdLink { link, target })
    }
}

/// An attached raw tracepoint program. Dropping it detaches the program.
pub type RawTracePointLink = super::FdLink;
