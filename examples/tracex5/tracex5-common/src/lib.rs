//! Types shared by tracex5's kernel and user sides.
#![no_std]
#![forbid(unsafe_code)]

use iu_ebpf::Pod;

/// One traced syscall: its process, number and first three arguments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod)]
#[repr(C)]
pub struct SyscallEvent {
    /// The process id.
    pub pid: u32,
    /// The syscall number.
    pub nr: u32,
    /// The first three arguments.
    pub args: [u64; 3],
}

/// Slots of the per-syscall program array (syscall numbers below it).
pub const MAX_SYSCALL: u32 = 512;
