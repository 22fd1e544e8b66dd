//! The sample key shared by profile's program and user side.
#![no_std]
#![forbid(unsafe_code)]

use iu_ebpf::Pod;

/// One process and one pair of stacks; the count is the map's value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod)]
#[repr(C)]
pub struct StackKey {
    /// The sampled process.
    pub pid: u32,
    /// Kernel stack id in `STACKS`, or -1 (the task was in user space).
    pub kernel_stack: i32,
    /// User stack id in `STACKS`, or -1.
    pub user_stack: i32,
}
