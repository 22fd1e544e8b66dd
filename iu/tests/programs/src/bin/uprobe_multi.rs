//! uprobe.multi and uretprobe.multi: one link on several functions of the
//! test binary, told apart by their cookies; counts this thread's calls
//! per cookie and sums the returned values.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{helpers, map, maps::Array, programs::ProbeContext, uprobe_multi, uretprobe_multi};

iu_ebpf::license!("GPL");

/// 0: the thread to count.
#[map]
static CONFIG: Array<u32, 1> = Array::new();

/// Calls per cookie (0 to 7).
#[map]
static CALLS: Array<u64, 8> = Array::new();

/// 0: returns seen, 1: the sum of the returned values.
#[map]
static RETURNS: Array<u64, 2> = Array::new();

fn mine() -> bool {
    CONFIG.get(0) == Some(helpers::tid())
}

#[uprobe_multi]
fn calls(ctx: ProbeContext) -> u32 {
    if mine() {
        let _ = CALLS.add(ctx.cookie() as u32, 1);
    }
    0
}

#[uretprobe_multi]
fn returns(ctx: ProbeContext) -> u32 {
    if mine() {
        let _ = RETURNS.add(0, 1);
        let _ = RETURNS.add(1, ctx.ret());
    }
    0
}
