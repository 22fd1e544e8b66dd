//! BTF tracepoints (`tp_btf/<name>`, from `#[tp_btf]`): raw tracepoints
//! whose arguments the verifier types from the kernel's BTF. They load as
//! `BPF_PROG_TYPE_TRACING` with `BPF_TRACE_RAW_TP`, for the BTF id of the
//! typedef `btf_trace_<name>` in the kernel's BTF; the tracepoint is fixed
//! at load time, and attaching (`BPF_RAW_TRACEPOINT_OPEN` without a name)
//! creates the link.

use std::os::fd::AsFd;

use aya_obj::ProgramSection;

use super::Program;
use crate::{
    error::{CAP_PERFMON_HINT, Error, Result},
    sys,
};

/// What the kernel calls a BTF tracepoint's prototype: `btf_trace_<name>`.
pub(crate) const TYPEDEF_PREFIX: &str = "btf_trace_";

/// A loaded BTF tracepoint program, ready to attach.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let link = ebpf.btf_tracepoint("on_switch")?.attach()?;
/// drop(link); // detaches
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BtfTracePoint<'a> {
    program: &'a Program,
}

impl<'a> BtfTracePoint<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        match program.section {
            ProgramSection::BtfTracePoint => Ok(Self { program }),
            _ => Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "a BTF tracepoint (tp_btf) program",
                actual: program.section_name.clone(),
            }),
        }
    }

    /// The tracepoint the program was loaded for (`sched_switch`).
    pub fn tracepoint(&self) -> &str {
        self.program
            .section_name
            .split_once('/')
            .map_or("", |(_, name)| name)
    }

    /// Attaches to the tracepoint the program was loaded for.
    pub fn attach(&self) -> Result<BtfTracePointLink> {
        let target = format!("BTF tracepoint {}", self.tracepoint());
        let link = sys::raw_tracepoint_open(self.program.as_fd(), None).map_err(|e| {
            self.program.attach_error(
                &target,
                "bpf(BPF_RAW_TRACEPOINT_OPEN)",
                e,
                CAP_PERFMON_HINT,
                None,
            )
        })?;
        Ok(super::FdLink { link, target })
    }
}

/// An attached BTF tracepoint program. Dropping it detaches the program.
pub type BtfTracePointLink = super::FdLink;
