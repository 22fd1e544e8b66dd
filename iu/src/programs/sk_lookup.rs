//! sk_lookup programs: attached to a network namespace with a bpf_link
//! (`BPF_SK_LOOKUP`, Linux 5.9), run when a connection request or a
//! datagram arrives, before the kernel looks for a listening socket.

use std::os::fd::{AsFd, AsRawFd};

use aya_obj::{ProgramSection, generated::bpf_attach_type};

use super::{FdLink, Program};
use crate::{
    error::{Error, Result},
    sys::{self, SyscallError},
};

/// A loaded sk_lookup program, ready to attach to a network namespace.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), Box<dyn std::error::Error>> {
/// let listener = std::net::TcpListener::bind("127.0.0.1:7000")?;
/// ebpf.sock_map("SERVER")?.insert(0, &listener)?;
/// let link = ebpf.sk_lookup("steer")?.attach_current()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SkLookup<'a> {
    program: &'a Program,
}

impl<'a> SkLookup<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        match program.section {
            ProgramSection::SkLookup => Ok(Self { program }),
            _ => Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "an sk_lookup program (`#[sk_lookup]`)",
                actual: program.section_name.clone(),
            }),
        }
    }

    /// Attaches to the network namespace `netns` (a descriptor of
    /// `/proc/<pid>/ns/net` or `/run/netns/<name>`): the program then runs
    /// for the connections and datagrams arriving in it, until the link
    /// drops. Several programs may attach to one namespace; they run in
    /// order until one assigns a socket or drops.
    pub fn attach(&self, netns: &impl AsFd) -> Result<SkLookupLink> {
        let target = "sk_lookup of a network namespace".to_owned();
        let link = sys::link_create(
            self.program.as_fd(),
            netns.as_fd().as_raw_fd() as u32,
            bpf_attach_type::BPF_SK_LOOKUP as u32,
            0,
            0,
        )
        .map_err(|e| {
            let hint = matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EBADF))
                .then_some("give a network namespace descriptor (open /proc/self/ns/net or /run/netns/<name>); sk_lookup needs Linux 5.9");
            self.program.attach_error(
                &target,
                "bpf(BPF_LINK_CREATE)",
                e,
                "Attaching sk_lookup programs needs CAP_NET_ADMIN and CAP_BPF (or root): run with `sudo`.",
                hint,
            )
        })?;
        Ok(FdLink { link, target })
    }

    /// Attaches to the calling thread's network namespace
    /// (`/proc/thread-self/ns/net`).
    pub fn attach_current(&self) -> Result<SkLookupLink> {
        let netns = std::fs::File::open("/proc/thread-self/ns/net").map_err(|e| Error::Attach {
            program: self.program.name.clone(),
            target: "sk_lookup of this thread's network namespace".to_owned(),
            source: SyscallError::new("open", e),
            hint: Some("/proc must be mounted"),
        })?;
        self.attach(&netns)
    }
}

/// An attached sk_lookup program. Dropping it detaches the program.
pub type SkLookupLink = FdLink;
