//! XDP redirects through a DevMap, a DevMapHash and a CpuMap, and a
//! counter on the receiving end.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    map,
    maps::{Array, CpuMap, DevMap, DevMapHash},
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

/// Slot 0: which map `router` redirects through (0: `PORTS`, 1:
/// `BY_IFINDEX` under key `CONFIG[1]`, 2: `CPUS` to CPU `CONFIG[1]`).
#[map]
static CONFIG: Array<u32, 2> = Array::new();

#[map]
static PORTS: DevMap<4> = DevMap::new();

#[map]
static BY_IFINDEX: DevMapHash<4> = DevMapHash::new();

#[map]
static CPUS: CpuMap<64> = CpuMap::new();

/// 0: ICMP packets `router` redirected; 1: ICMP packets to `TARGET` that
/// `counter` saw.
#[map]
static COUNTS: Array<u64, 2> = Array::new();

/// 10.201.1.99, as it sits in the packet.
const TARGET: u32 = u32::from_ne_bytes([10, 201, 1, 99]);

/// Whether the frame is IPv4 ICMP, and its destination.
fn icmp_destination(ctx: &XdpContext) -> Option<u32> {
    if ctx.read::<u16>(12)? != u16::from_ne_bytes([0x08, 0x00]) {
        return None;
    }
    if ctx.read::<u8>(23)? != 1 {
        return None;
    }
    ctx.read::<u32>(30)
}

#[xdp]
fn router(ctx: XdpContext) -> XdpAction {
    let mode = CONFIG.get(0).unwrap_or(0);
    let key = CONFIG.get(1).unwrap_or(0);
    let action = match mode {
        0 => PORTS.redirect(0, XdpAction::Aborted),
        1 => BY_IFINDEX.redirect(key, XdpAction::Aborted),
        _ => CPUS.redirect(key, XdpAction::Aborted),
    };
    if action == XdpAction::Redirect && icmp_destination(&ctx).is_some() {
        COUNTS.add(0, 1);
    }
    action
}

#[xdp]
fn counter(ctx: XdpContext) -> XdpAction {
    if icmp_destination(&ctx) == Some(TARGET) {
        COUNTS.add(1, 1);
        return XdpAction::Drop;
    }
    XdpAction::Pass
}
