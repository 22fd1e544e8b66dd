//! Attaching programs to a socket map (`BPF_PROG_ATTACH` with the map's
//! descriptor as the target), shared by sk_msg and sk_skb programs. The
//! attachment works on every kernel with socket maps (bpf_links for them
//! came only in 6.10); [`SockMapLink`] detaches on drop.

use std::os::fd::{AsFd, OwnedFd};

use super::Program;
use crate::{
    Error, Result,
    maps::SocketMap,
    sys::{self, SyscallError},
};

/// Attaches `program` to `map` at `attach_type` (`hook` names it).
pub(crate) fn attach(
    program: &Program,
    map: &impl SocketMap,
    attach_type: u32,
    hook: &str,
) -> Result<SockMapLink> {
    let map = map.map();
    let target = format!("{hook} of socket map `{}`", map.name());
    let dup = |fd: std::os::fd::BorrowedFd<'_>| {
        fd.try_clone_to_owned().map_err(|e| Error::Attach {
            program: program.name.clone(),
            target: target.clone(),
            source: SyscallError::new("dup", e),
            hint: None,
        })
    };
    let prog = dup(program.as_fd())?;
    let map_fd = dup(map.fd.as_fd())?;
    sys::prog_attach(map_fd.as_fd(), prog.as_fd(), attach_type, 0).map_err(|e| {
        let fix = match e.raw_os_error() {
            Some(libc::EBUSY) => {
                "the map already has a program at this hook that a link holds, or a stream verdict and an skb verdict both; drop the other link first"
            }
            Some(libc::EINVAL | libc::EOPNOTSUPP) => {
                "sk_msg and sk_skb programs attach to sockmaps and sockhashes only, each at its own hook"
            }
            Some(libc::EPERM) => {
                "attaching to a socket map needs CAP_NET_ADMIN and CAP_BPF (or root): run with `sudo`"
            }
            _ => "check that the map and the program come from the same object and are still loaded",
        };
        Error::SockMapAttach {
            program: program.name.clone(),
            map: map.name().to_owned(),
            fix,
            source: SyscallError::new("bpf(BPF_PROG_ATTACH)", e),
        }
    })?;
    Ok(SockMapLink {
        prog,
        map: map_fd,
        attach_type,
        target,
    })
}

/// A program attached to a socket map. Dropping it detaches the program
/// (`BPF_PROG_DETACH`).
///
/// A socket takes the map's programs when it is inserted and keeps them
/// while it stays in the map: attach the programs before inserting
/// sockets, and after detaching, remove and reinsert a socket to take it
/// off the program.
#[derive(Debug)]
pub struct SockMapLink {
    prog: OwnedFd,
    map: OwnedFd,
    attach_type: u32,
    target: String,
}

impl SockMapLink {
    /// The hook, for example `sk_msg verdict of socket map `SOCKS``.
    pub fn target(&self) -> &str {
        &self.target
    }
}

impl Drop for SockMapLink {
    fn drop(&mut self) {
        if let Err(e) = sys::prog_detach(self.map.as_fd(), self.prog.as_fd(), self.attach_type) {
            log::warn!("detaching the {} failed: {e}", self.target);
        }
    }
}

impl super::Link for SockMapLink {
    fn link_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        None
    }
}
