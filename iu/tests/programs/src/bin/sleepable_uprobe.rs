//! A sleepable uprobe (`uprobe.s`): counts calls of the probed function in
//! one thread and keeps the last first argument.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{helpers, map, maps::Array, programs::ProbeContext, uprobe};

iu_ebpf::license!("GPL");

iu_ebpf::global!(
    /// The thread whose calls count.
    static TARGET_TID: u32 = 0
);

/// 0: calls; 1: the last first argument.
#[map]
static SEEN: Array<u64, 2> = Array::new();

#[uprobe(sleepable = "true")]
fn sleepy_uprobe(ctx: ProbeContext) -> u32 {
    if helpers::tid() == TARGET_TID.get() {
        SEEN.add(0, 1);
        let _ = SEEN.set(1, &ctx.arg(0).unwrap_or(0));
    }
    0
}
