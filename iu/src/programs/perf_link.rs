//! Attaching a program to a perf event (tracepoints, kprobes, uprobes):
//! a bpf_link where the kernel has perf links (5.15+), the perf ioctls
//! otherwise.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use aya_obj::generated::bpf_attach_type;

use super::Program;
use crate::{
    error::{CAP_PERFMON_HINT, Result},
    features,
    sys::{self, PerfEventAttr},
};

/// A program attached to a perf event. Dropping it detaches the program.
#[derive(Debug)]
pub struct PerfLink {
    /// The bpf_link, where the kernel supports perf links. Declared first so
    /// that it closes before the perf event.
    pub(super) link: Option<OwnedFd>,
    _perf: OwnedFd,
    target: String,
    /// The tracefs kprobe event the perf event was opened on, removed
    /// after the perf event closes (declared after it).
    pub(super) kprobe_event: Option<crate::tracefs::KProbeEvent>,
}

impl PerfLink {
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

/// Opens the perf event `attr` (on `pid`/`cpu`) and attaches `program`.
/// `eacces` explains what `EACCES` means for this kind of hook.
pub(crate) fn attach(
    program: &Program,
    attr: &PerfEventAttr,
    pid_cpu: (i32, i32),
    target: String,
    eacces: Option<&'static str>,
) -> Result<PerfLink> {
    attach_with_cookie(program, attr, pid_cpu, target, eacces, 0)
}

/// [`attach`] with BPF cookie `cookie` (`bpf_get_attach_cookie`), which
/// needs a perf link (5.15): without one the cookie is not set.
pub(crate) fn attach_with_cookie(
    program: &Program,
    attr: &PerfEventAttr,
    (pid, cpu): (i32, i32),
    target: String,
    eacces: Option<&'static str>,
    cookie: u64,
) -> Result<PerfLink> {
    let error = |call, e: std::io::Error| {
        let hint = match e.raw_os_error() {
            Some(libc::EACCES) => eacces,
            Some(libc::EEXIST) => Some(
                "The program is already attached to this hook, which runs each program once: keep the first link, or load the object again for a second copy",
            ),
            _ => None,
        };
        program.attach_error(&target, call, e, CAP_PERFMON_HINT, hint)
    };
    let perf = sys::perf_event_open(attr, pid, cpu).map_err(|e| error("perf_event_open", e))?;
    let link = if features::perf_link() {
        let link = sys::link_create(
            program.as_fd(),
            perf.as_raw_fd() as u32,
            bpf_attach_type::BPF_PERF_EVENT as u32,
            0,
            cookie,
        )
        .map_err(|e| error("bpf(BPF_LINK_CREATE)", e))?;
        Some(link)
    } else {
        sys::perf_event_attach_bpf(perf.as_fd(), program.as_fd())
            .map_err(|e| error("ioctl(PERF_EVENT_IOC_SET_BPF)", e))?;
        None
    };
    Ok(PerfLink {
        link,
        _perf: perf,
        target,
        kprobe_event: None,
    })
}
