//! The exec event shared by execsnoop's (and perf_output's) program and
//! user side.
#![no_std]
#![forbid(unsafe_code)]

use iu_ebpf::Pod;

/// Bytes kept of the executed path.
pub const FILENAME_LEN: usize = 256;

/// One `execve`.
#[derive(Clone, Copy, Debug, Pod)]
#[repr(C)]
pub struct ExecEvent {
    /// The process id.
    pub pid: u32,
    /// The parent's process id: `task->real_parent->tgid`, read through
    /// CO-RE (or the fork the program saw, if that read fails; 0 if
    /// neither).
    pub ppid: u32,
    /// The user id.
    pub uid: u32,
    /// Explicit padding (`Pod` types have none implicitly).
    pub _pad: u32,
    /// The command name after exec, NUL-padded.
    pub comm: [u8; 16],
    /// The parent's command name (`task->real_parent->comm`), NUL-padded.
    pub parent_comm: [u8; 16],
    /// The executed path, NUL-terminated.
    pub filename: [u8; FILENAME_LEN],
}

impl ExecEvent {
    /// The command name as text.
    pub fn comm(&self) -> &str {
        until_nul(&self.comm)
    }

    /// The parent's command name as text.
    pub fn parent_comm(&self) -> &str {
        until_nul(&self.parent_comm)
    }

    /// The executed path as text.
    pub fn filename(&self) -> &str {
        until_nul(&self.filename)
    }
}

fn until_nul(bytes: &[u8]) -> &str {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    core::str::from_utf8(&bytes[..end]).unwrap_or("?")
}
