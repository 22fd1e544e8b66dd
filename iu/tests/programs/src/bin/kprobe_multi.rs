//! kprobe.multi and kretprobe.multi: one link on every kernel function
//! matching `do_mk*at` (do_mkdirat, do_mknodat), counting this process's
//! calls and returns.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{helpers, kprobe_multi, kretprobe_multi, map, maps::Array, programs::ProbeContext};

iu_ebpf::license!("GPL");

/// 0: the process to count.
#[map]
static CONFIG: Array<u32, 1> = Array::new();

/// 0: calls, 1: returns.
#[map]
static HITS: Array<u64, 2> = Array::new();

fn mine() -> bool {
    CONFIG.get(0) == Some(helpers::tgid())
}

#[kprobe_multi(pattern = "do_mk*at")]
fn made(_ctx: ProbeContext) -> u32 {
    if mine() {
        HITS.add(0, 1);
    }
    0
}

#[kretprobe_multi(pattern = "do_mk*at")]
fn made_ret(_ctx: ProbeContext) -> u32 {
    if mine() {
        HITS.add(1, 1);
    }
    0
}
