//! Tracepoint programs: attach through a perf event, with a bpf_link where
//! the kernel has perf links (5.15+) and the perf ioctls otherwise.

use std::os::fd::{AsFd, OwnedFd};

use aya_obj::{ProgramSection, generated::bpf_attach_type};

use super::Program;
use crate::{
    error::{CAP_PERFMON_HINT, Error, Result},
    features,
    sys::{self, PERF_TYPE_TRACEPOINT, PerfEventAttr, SyscallError},
    tracefs,
};

/// A loaded tracepoint program, ready to attach.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let link = ebpf.tracepoint("hello")?.attach_to("syscalls", "sys_enter_dup")?;
/// drop(link); // detaches
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TracePoint<'a> {
    program: &'a Program,
}

impl<'a> TracePoint<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        match program.section {
            ProgramSection::TracePoint => Ok(Self { program }),
            _ => Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "tracepoint",
                actual: program.section_name.clone(),
            }),
        }
    }

    /// The tracepoint named by the program's section
    /// (`tracepoint/<category>/<name>` or `tp/<category>/<name>`), if any.
    pub fn target(&self) -> Option<(&'a str, &'a str)> {
        let mut parts = self.program.section_name.splitn(3, '/');
        let _kind = parts.next()?;
        Some((parts.next()?, parts.next()?))
    }

    /// Attaches to the tracepoint the program's section names.
    pub fn attach(&self) -> Result<TracePointLink> {
        let (category, name) = self
            .target()
            .ok_or_else(|| Error::NoAttachTarget(self.program.name.clone()))?;
        self.attach_to(category, name)
    }

    /// Attaches to tracepoint `category/name`. The program runs on every
    /// CPU until the returned link is dropped.
    pub fn attach_to(&self, category: &str, name: &str) -> Result<TracePointLink> {
        let target = format!("tracepoint {category}/{name}");
        let id = tracefs::tracepoint_id(category, name)?;
        let attr = PerfEventAttr {
            type_: PERF_TYPE_TRACEPOINT,
            config: id,
            sample_period: 1,
            wakeup_events: 1,
            ..Default::default()
        };
        let attach_error = |call, e: std::io::Error| {
            let hint = (e.raw_os_error() == Some(libc::EACCES)).then_some(
                "EACCES here means the program reads past the end of the tracepoint's record: its context type is larger than the tracepoint's `format`",
            );
            Error::from_syscall(
                format!("attaching `{}` to {target}", self.program.name),
                SyscallError::new(call, e),
                CAP_PERFMON_HINT,
                |_, source| Error::Attach {
                    program: self.program.name.clone(),
                    target: target.clone(),
                    source,
                    hint,
                },
            )
        };
        let perf =
            sys::perf_event_open(&attr, -1, 0).map_err(|e| attach_error("perf_event_open", e))?;
        if features::perf_link() {
            let link = sys::link_create(
                self.program.as_fd(),
                std::os::fd::AsRawFd::as_raw_fd(&perf) as u32,
                bpf_attach_type::BPF_PERF_EVENT as u32,
                0,
                0,
            )
            .map_err(|e| attach_error("bpf(BPF_LINK_CREATE)", e))?;
            return Ok(TracePointLink {
                link: Some(link),
                _perf: perf,
                target,
            });
        }
        sys::perf_event_attach_bpf(perf.as_fd(), self.program.as_fd())
            .map_err(|e| attach_error("ioctl(PERF_EVENT_IOC_SET_BPF)", e))?;
        Ok(TracePointLink {
            link: None,
            _perf: perf,
            target,
        })
    }
}

/// An attached tracepoint program. Dropping it detaches the program.
#[derive(Debug)]
pub struct TracePointLink {
    /// The bpf_link, where the kernel supports perf links. Declared first so
    /// that it closes before the perf event.
    link: Option<OwnedFd>,
    _perf: OwnedFd,
    target: String,
}

impl TracePointLink {
    /// Whether the attachment is a bpf_link (as opposed to the older perf
    /// event ioctl).
    pub fn is_bpf_link(&self) -> bool {
        self.link.is_some()
    }

    /// The hook, for example `tracepoint syscalls/sys_enter_dup`.
    pub fn target(&self) -> &str {
        &self.target
    }
}
