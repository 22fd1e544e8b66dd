//! Counts packets per (protocol, destination port) in a hash map and per
//! protocol in a per-CPU array indexed by the protocol byte (a checked
//! index: the array has 32 slots, higher protocols are not counted there).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    Pod, map,
    maps::{HashMap, PerCpuArray},
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Flow {
    protocol: u16,
    port: u16,
}

#[map]
static BY_FLOW: HashMap<Flow, u64, 1024> = HashMap::new();

#[map]
static BY_PROTOCOL: PerCpuArray<u64, 32> = PerCpuArray::new();

#[xdp]
fn port_counts(ctx: XdpContext) -> XdpAction {
    let (Some(version_ihl), Some(protocol)) = (ctx.read::<u8>(14), ctx.read::<u8>(14 + 9)) else {
        return XdpAction::Pass;
    };
    let _ = BY_PROTOCOL.add(u32::from(protocol), 1);
    if !matches!(protocol, 6 | 17) {
        return XdpAction::Pass;
    }
    let ports = 14 + usize::from(version_ihl & 0x0f) * 4;
    let Some(port) = ctx.read::<[u8; 2]>(ports + 2) else {
        return XdpAction::Pass;
    };
    let flow = Flow {
        protocol: u16::from(protocol),
        port: u16::from_be_bytes(port),
    };
    if BY_FLOW.add(&flow, 1).is_err() {
        let _ = BY_FLOW.insert(&flow, &1, 0);
    }
    XdpAction::Pass
}
