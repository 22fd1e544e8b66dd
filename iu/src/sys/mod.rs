//! The syscall layer: one function per kernel command, each filling its
//! attribute struct and returning `io::Result` with owned file descriptors.
//! Everything above this module is safe code that never touches `bpf_attr`.
//!
//! Constants come from aya-obj's bindings, generated from the kernel's UAPI
//! headers; the attribute structs are written out here per command, with
//! offsets checked against `include/uapi/linux/bpf.h` by unit tests.

mod bpf;
mod mmap;
mod perf_event;

pub use bpf::*;
pub use mmap::*;
pub use perf_event::*;

use std::{fmt, io};

/// A failed system call: which call, and what the kernel said.
#[derive(Debug)]
pub struct SyscallError {
    /// The call that failed, for example `bpf(BPF_PROG_LOAD)`.
    pub call: &'static str,
    /// The error the kernel returned.
    pub source: io::Error,
}

impl SyscallError {
    pub(crate) fn new(call: &'static str, source: io::Error) -> Self {
        Self { call, source }
    }

    /// The errno, if the kernel returned one.
    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

impl fmt::Display for SyscallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errno() {
            Some(errno) => {
                let errno = nix::errno::Errno::from_raw(errno);
                write!(f, "{} failed: {errno:?} ({})", self.call, errno.desc())
            }
            None => write!(f, "{} failed: {}", self.call, self.source),
        }
    }
}

impl std::error::Error for SyscallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The running kernel's version as `KERNEL_VERSION(major, minor, patch)`,
/// from `uname`.
pub fn kernel_version() -> Option<(u32, u32, u32)> {
    let uname = nix::sys::utsname::uname().ok()?;
    let release = uname.release().to_str()?;
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// Whether the process runs with effective uid 0.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Registers a file with tokio's reactor, for files that support `poll`
/// (the trace pipe, ring buffers, perf buffers).
///
/// Fails instead of panicking when called outside a tokio runtime.
pub fn async_fd<T: std::os::fd::AsRawFd>(inner: T) -> io::Result<tokio::io::unix::AsyncFd<T>> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(io::Error::other(
            "not inside a tokio runtime: call this from async code run by tokio",
        ));
    }
    // SAFETY: the types passed here (`File`, `OwnedFd`) own their descriptor,
    // which stays open and unchanged until the `AsyncFd` drops them, and
    // return that same descriptor from every `as_raw_fd` call.
    unsafe { tokio::io::unix::AsyncFd::register(inner) }.map_err(io::Error::from)
}
