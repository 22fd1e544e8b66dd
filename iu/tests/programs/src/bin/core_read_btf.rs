//! One `task_struct` field read as a direct load from a BTF pointer (the
//! current task in a `tp_btf` program), for the xlated-size comparison of
//! `cargo xtask bench --only core` (`core_bench.rs` has the probe read).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

#[path = "../generated/vmlinux.rs"]
#[allow(dead_code)]
mod vmlinux;

use iu_ebpf::{map, maps::Array, programs::BtfContext, tp_btf};
use vmlinux::TaskStruct;

iu_ebpf::license!("GPL");

#[map]
static TOTAL: Array<u64, 2> = Array::new();

#[tp_btf(name = "sys_enter")]
fn core_read_btf(ctx: BtfContext) -> u32 {
    let task = ctx.current_task::<TaskStruct>();
    let _ = TOTAL.set(1, &(task.tgid().unwrap_or(0) as u64));
    0
}
