//! Per-queue flow statistics in a per-CPU array of a large struct (a
//! packet count, a byte count, a size histogram and the first bytes of
//! the last packet), updated in place.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    Pod, map,
    maps::{PerCpuArray, PerCpuCell},
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Flow {
    packets: u64,
    bytes: u64,
    sizes: [u64; 64],
    last: [u8; 64],
}

#[map]
static FLOWS: PerCpuArray<PerCpuCell<Flow>, 4> = PerCpuArray::new();

#[xdp]
fn flow_cells(ctx: XdpContext) -> XdpAction {
    let queue = ctx.read::<u8>(0).map_or(0, |b| u32::from(b % 4));
    let len = ctx.len();
    FLOWS.with(&ctx, queue, |flow| {
        flow.packets += 1;
        flow.bytes += len as u64;
        flow.sizes[(len / 32).min(63)] += 1;
        if let Some(head) = ctx.read::<[u8; 64]>(0) {
            flow.last = head;
        }
    });
    XdpAction::Pass
}
