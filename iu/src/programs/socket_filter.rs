//! Socket filters: attached to one socket with `SO_ATTACH_BPF`.

use std::os::fd::{AsFd, OwnedFd};

use aya_obj::ProgramSection;

use super::Program;
use crate::{
    error::{Error, Result},
    sys::{self, SyscallError},
};

/// A loaded socket filter, ready to attach.
///
/// ```no_run
/// # fn run(ebpf: &iu::Ebpf) -> Result<(), Box<dyn std::error::Error>> {
/// let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let filter = ebpf.socket_filter("only_udp")?.attach(&socket)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SocketFilter<'a> {
    program: &'a Program,
}

impl<'a> SocketFilter<'a> {
    pub(crate) fn new(program: &'a Program) -> Result<Self> {
        match program.section {
            ProgramSection::SocketFilter => Ok(Self { program }),
            _ => Err(Error::WrongProgramType {
                name: program.name.clone(),
                expected: "a socket filter",
                actual: program.section_name.clone(),
            }),
        }
    }

    /// Attaches to `socket`, replacing any filter it had. The filter stays
    /// until the returned link is dropped (or the socket is closed).
    pub fn attach(&self, socket: &impl AsFd) -> Result<SocketFilterLink> {
        let io = |call, e| Error::Attach {
            program: self.program.name.clone(),
            target: "a socket".into(),
            source: SyscallError::new(call, e),
            hint: None,
        };
        let socket = socket
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| io("dup", e))?;
        sys::socket_attach_bpf(socket.as_fd(), self.program.as_fd())
            .map_err(|e| io("setsockopt(SO_ATTACH_BPF)", e))?;
        Ok(SocketFilterLink { socket })
    }
}

/// A socket filter attached to a socket. Dropping it removes the filter.
#[derive(Debug)]
pub struct SocketFilterLink {
    socket: OwnedFd,
}

impl Drop for SocketFilterLink {
    fn drop(&mut self) {
        if let Err(e) = sys::socket_detach_bpf(self.socket.as_fd()) {
            log::warn!("removing a socket filter failed: {e}");
        }
    }
}
