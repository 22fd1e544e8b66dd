//! A parser split into three programs chained by tail calls, passing the
//! offset it reached through a per-CPU array: Ethernet, then IPv4, then
//! UDP, which drops port 9.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    map,
    maps::{PerCpuArray, ProgramArray},
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

const IPV4_STAGE: u32 = 0;
const UDP_STAGE: u32 = 1;

#[map]
static STAGES: ProgramArray<2> = ProgramArray::new();

/// Slot 0: the offset of the next header.
#[map]
static OFFSET: PerCpuArray<u64, 1> = PerCpuArray::new();

#[xdp]
fn tail_chain(mut ctx: XdpContext) -> XdpAction {
    if ctx.read::<[u8; 2]>(12) == Some([0x08, 0x00]) && OFFSET.set(0, &14).is_ok() {
        STAGES.tail_call(&mut ctx, IPV4_STAGE);
    }
    XdpAction::Pass
}

#[xdp]
fn ipv4_stage(mut ctx: XdpContext) -> XdpAction {
    let Some(offset) = OFFSET.get(0) else {
        return XdpAction::Pass;
    };
    let offset = (offset & 0xff) as usize;
    let (Some(version_ihl), Some(17)) = (ctx.read::<u8>(offset), ctx.read::<u8>(offset + 9)) else {
        return XdpAction::Pass;
    };
    let next = offset + usize::from(version_ihl & 0x0f) * 4;
    if OFFSET.set(0, &(next as u64)).is_ok() {
        STAGES.tail_call(&mut ctx, UDP_STAGE);
    }
    XdpAction::Pass
}

#[xdp]
fn udp_stage(ctx: XdpContext) -> XdpAction {
    let Some(offset) = OFFSET.get(0) else {
        return XdpAction::Pass;
    };
    match ctx.read::<[u8; 2]>((offset & 0xff) as usize + 2) {
        Some([0, 9]) => XdpAction::Drop,
        _ => XdpAction::Pass,
    }
}
