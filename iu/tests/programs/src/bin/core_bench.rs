//! The Rust side of the CO-RE load benchmark (`cargo xtask bench --only
//! core`): the reads of `xtask/peers/core_bench.bpf.c` (17 `task_struct`
//! fields of the current task and the same 17 of its `real_parent`)
//! through generated handles, and one field read through a probe read for
//! the xlated-size comparison (as `BPF_CORE_READ`; `core_read_btf.rs` has
//! the direct-load one).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

#[path = "../generated/vmlinux.rs"]
#[allow(dead_code)]
mod vmlinux;

use iu_ebpf::{
    kernel::{self, Address},
    map,
    maps::Array,
    programs::TracePointContext,
    tracepoint,
    tracepoints::syscalls::SysEnter,
};
use vmlinux::TaskStruct;

iu_ebpf::license!("GPL");

/// 0: the sum of the reads, 1: the one read.
#[map]
static TOTAL: Array<u64, 2> = Array::new();

/// The 17 fields, summed as the C program sums them.
#[inline(always)]
fn fields<A: Address>(task: TaskStruct<A>) -> u64 {
    let i = |v: Option<i32>| v.unwrap_or(0) as u64;
    let u = |v: Option<u32>| u64::from(v.unwrap_or(0));
    i(task.pid())
        + i(task.tgid())
        + i(task.prio())
        + i(task.static_prio())
        + i(task.normal_prio())
        + u(task.rt_priority())
        + u(task.flags())
        + i(task.exit_code())
        + i(task.exit_signal())
        + i(task.pdeath_signal())
        + i(task.on_cpu())
        + i(task.wake_cpu())
        + i(task.on_rq())
        + u(task.policy())
        + i(task.nr_cpus_allowed())
        + u(task.personality())
        + u(task.__state())
}

#[tracepoint(category = "syscalls", name = "sys_enter_dup")]
fn core_bench(_ctx: TracePointContext<SysEnter>) -> u32 {
    let task: TaskStruct = kernel::current_task();
    let mut sum = fields(task);
    if let Some(parent) = task.real_parent() {
        sum += fields(parent);
    }
    let _ = TOTAL.set(0, &sum);
    0
}

/// One field read through a probe read, as C's `BPF_CORE_READ(task, tgid)`.
#[tracepoint(category = "syscalls", name = "sys_enter_dup")]
fn core_one_read(_ctx: TracePointContext<SysEnter>) -> u32 {
    let task: TaskStruct = kernel::current_task();
    let _ = TOTAL.set(1, &(task.tgid().unwrap_or(0) as u64));
    0
}
