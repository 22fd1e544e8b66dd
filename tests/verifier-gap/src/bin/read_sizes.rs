//! A uprobe on a user function `(bytes, calls)` that keeps a log2
//! histogram of the mean bytes per call.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{map, maps::Array, programs::ProbeContext, uprobe};

iu_ebpf::license!("GPL");

/// Calls per power of two of `bytes / calls`.
#[map]
static SIZES: Array<u64, 16> = Array::new();

#[uprobe]
fn read_sizes(ctx: ProbeContext) -> u32 {
    let bytes = ctx.arg(0).unwrap_or(0);
    let calls = ctx.arg(1).unwrap_or(0);
    let mean = bytes / calls;
    let bucket = mean.ilog2().min(15);
    SIZES.add(bucket, 1);
    0
}
