//! Packet statistics shared by all CPUs in one `Array` slot under a spin
//! lock: the count, the total bytes, and the smallest and largest size.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    Pod, map,
    maps::{Array, SpinLocked},
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Stats {
    packets: u64,
    bytes: u64,
    smallest: u64,
    largest: u64,
}

#[map]
static STATS: Array<SpinLocked<Stats>, 1> = Array::new();

#[xdp]
fn locked_stats(ctx: XdpContext) -> XdpAction {
    let len = ctx.len() as u64;
    if let Some(mut stats) = STATS.lock(0) {
        if stats.packets == 0 || len < stats.smallest {
            stats.smallest = len;
        }
        stats.largest = stats.largest.max(len);
        stats.packets += 1;
        stats.bytes += len;
    }
    XdpAction::Pass
}
