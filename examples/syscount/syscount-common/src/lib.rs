//! Map key and value types shared by syscount's program and daemon.
#![no_std]
#![forbid(unsafe_code)]

use iu_ebpf::Pod;

/// One process and one syscall.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod)]
#[repr(C)]
pub struct SyscallKey {
    /// The process id (`getpid()`).
    pub pid: u32,
    /// The syscall number.
    pub nr: u32,
}

/// What the program accumulates for a key, on each CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod)]
#[repr(C)]
pub struct SyscallStats {
    /// Completed calls.
    pub count: u64,
    /// Calls that returned an error (`-errno`).
    pub errors: u64,
    /// Total time between enter and exit, in nanoseconds.
    pub total_ns: u64,
    /// Longest call, in nanoseconds.
    pub max_ns: u64,
}

impl SyscallStats {
    /// Adds another CPU's (or interval's) figures.
    pub fn merge(&mut self, other: &SyscallStats) {
        self.count += other.count;
        self.errors += other.errors;
        self.total_ns += other.total_ns;
        self.max_ns = self.max_ns.max(other.max_ns);
    }
}

/// Name of the map of per-CPU statistics.
pub const STATS_MAP: &str = "STATS";
/// Size of the statistics map.
pub const MAX_KEYS: usize = 10240;
