//! Flow dissectors: attached to a network namespace with a bpf_link
//! (`BPF_FLOW_DISSECTOR`, links since Linux 5.8), they replace the
//! kernel's packet parsing wherever it dissects a flow in that namespace.

use std::os::fd::{AsFd, AsRawFd};

use aya_obj::{ProgramSection, generated::bpf_attach_type};

use super::{FdLink, Program};
use crate::{
    error::{Error, Result},
    sys::{self, SyscallError},
};

/// A loaded flow dissector, ready to attach to a network namespace.
/// Try it on a packet first with [`Program::test_run`] (`TestRun::packet`
/// with an Ethernet frame): the output data is the `struct bpf_flow_keys`
/// it filled.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), iu::Error> {
/// let link = ebpf.flow_dissector("dissect")?.attach_current()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FlowDissector<'a> {
    program: &'a Program,
}

impl<'a> FlowDissector<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        match program.section {
            ProgramSection::FlowDissector => Ok(Self { program }),
            _ => Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "a flow dissector (`#[flow_dissector]`)",
                actual: program.section_name.clone(),
            }),
        }
    }

    /// Attaches to the network namespace `netns` (a descriptor of
    /// `/proc/<pid>/ns/net` or `/run/netns/<name>`) until the link drops.
    /// A namespace has one flow dissector; while the initial namespace has
    /// one, no other namespace may attach (`EEXIST`).
    pub fn attach(&self, netns: &impl AsFd) -> Result<FlowDissectorLink> {
        let target = "flow dissector of a network namespace".to_owned();
        let link = sys::link_create(
            self.program.as_fd(),
            netns.as_fd().as_raw_fd() as u32,
            bpf_attach_type::BPF_FLOW_DISSECTOR as u32,
            0,
            0,
        )
        .map_err(|e| {
            let hint = match e.raw_os_error() {
                Some(libc::EEXIST) => Some(
                    "the namespace already has a flow dissector, or the initial namespace has one (which then applies everywhere)",
                ),
                Some(libc::EINVAL | libc::EBADF) => Some(
                    "give a network namespace descriptor (open /proc/self/ns/net or /run/netns/<name>); flow dissector links need Linux 5.8",
                ),
                _ => None,
            };
            self.program.attach_error(
                &target,
                "bpf(BPF_LINK_CREATE)",
                e,
                "Attaching flow dissectors needs CAP_NET_ADMIN and CAP_BPF (or root): run with `sudo`.",
                hint,
            )
        })?;
        Ok(FdLink { link, target })
    }

    /// Attaches to the calling thread's network namespace
    /// (`/proc/thread-self/ns/net`).
    pub fn attach_current(&self) -> Result<FlowDissectorLink> {
        let netns = std::fs::File::open("/proc/thread-self/ns/net").map_err(|e| Error::Attach {
            program: self.program.name.clone(),
            target: "flow dissector of this thread's network namespace".to_owned(),
            source: SyscallError::new("open", e),
            hint: Some("/proc must be mounted"),
        })?;
        self.attach(&netns)
    }
}

/// An attached flow dissector. Dropping it detaches the program.
pub type FlowDissectorLink = FdLink;
