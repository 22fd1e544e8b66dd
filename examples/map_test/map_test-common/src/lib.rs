//! Types and constants shared by map_test's program and user side.
#![no_std]
#![forbid(unsafe_code)]

use iu_ebpf::Pod;

/// Slots of the `OUTPUT` array, where the program reports what it saw.
pub mod out {
    /// `INPUT[1] * MULTIPLIER`: user space wrote, the program read.
    pub const INPUT_TIMES_MULTIPLIER: u32 = 0;
    /// The value of the longest prefix matching 10.1.2.3 in `PREFIXES`.
    pub const LPM_MATCH: u32 = 1;
    /// The kernel stack id from `STACKS`, plus one.
    pub const STACK_ID: u32 = 2;
    /// 1 once the tail-called program ran.
    pub const TAIL_CALLED: u32 = 3;
    /// 1 when the bloom filter contained `fd + 1000`.
    pub const BLOOM_HIT: u32 = 4;
    /// The value `TOTALS.add(1, 5)` returned: the running total.
    pub const FETCH_ADD: u32 = 5;
}

/// The event the program sends through the ring buffer and the perf
/// buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod)]
#[repr(C)]
pub struct Event {
    /// The process that called `dup`.
    pub pid: u32,
    /// The CPU it ran on.
    pub cpu: u32,
    /// The descriptor it duplicated.
    pub fd: u64,
}
