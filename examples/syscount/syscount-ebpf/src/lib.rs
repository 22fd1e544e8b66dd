//! Counts syscalls, errors and latency per process and syscall, the
//! counterpart of the original system's `syscount`.
//!
//! The programs and maps live in this library so that they can be tested on
//! the host with `cargo test`; `src/main.rs` turns them into the BPF object.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use iu_ebpf::{
    helpers, map,
    maps::{BPF_ANY, HashMap, PerCpuHashMap},
    programs::TracePointContext,
    tracepoint,
    tracepoints::raw_syscalls::{SysEnter, SysExit},
};
use syscount_common::{MAX_KEYS, SyscallKey, SyscallStats};

iu_ebpf::license!("GPL");

/// Enter time of the syscall each thread is in.
#[map]
pub static START: HashMap<u32, u64, 16384> = HashMap::new();

/// Per-CPU statistics: each CPU updates its own copy, so plain
/// read-modify-write needs no atomics.
#[map]
pub static STATS: PerCpuHashMap<SyscallKey, SyscallStats, MAX_KEYS> = PerCpuHashMap::new();

#[tracepoint(category = "raw_syscalls", name = "sys_enter")]
pub fn sys_enter(_ctx: TracePointContext<SysEnter>) -> u32 {
    let _ = START.insert(&helpers::tid(), &helpers::ktime(), BPF_ANY);
    0
}

#[tracepoint(category = "raw_syscalls", name = "sys_exit")]
pub fn sys_exit(ctx: TracePointContext<SysExit>) -> u32 {
    let tid = helpers::tid();
    // Calls that started before the program was attached have no start.
    let Some(start) = START.get(&tid) else {
        return 0;
    };
    let _ = START.remove(&tid);
    let args = ctx.args();
    let latency = helpers::ktime().saturating_sub(start);
    let key = SyscallKey {
        pid: helpers::pid(),
        nr: args.id as u32,
    };
    let mut stats = STATS.get(&key).unwrap_or_default();
    stats.count += 1;
    if args.ret < 0 {
        stats.errors += 1;
    }
    stats.total_ns += latency;
    stats.max_ns = stats.max_ns.max(latency);
    let _ = STATS.insert(&key, &stats, BPF_ANY);
    0
}

#[cfg(test)]
mod tests;
