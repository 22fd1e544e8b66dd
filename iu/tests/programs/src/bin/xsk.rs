//! Hands UDP packets to one port to the AF_XDP socket of their receive
//! queue; everything else goes up the stack.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    map,
    maps::{Array, XskMap},
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

/// Slot 0: the UDP destination port to redirect (host order).
#[map]
static PORT: Array<u16, 1> = Array::new();

// ANCHOR: xsk_program
#[map]
static SOCKETS: XskMap<4> = XskMap::new();

/// 0: packets to `PORT` seen; 1: of those, redirected.
#[map]
static COUNTS: Array<u64, 2> = Array::new();

/// The UDP destination port of an IPv4 packet without options.
fn udp_port(ctx: &XdpContext) -> Option<u16> {
    if ctx.read::<[u8; 2]>(12)? != [0x08, 0x00] || ctx.read::<u8>(14)? != 0x45 {
        return None;
    }
    if ctx.read::<u8>(23)? != 17 {
        return None;
    }
    Some(u16::from_be_bytes(ctx.read::<[u8; 2]>(36)?))
}

#[xdp]
fn to_socket(ctx: XdpContext) -> XdpAction {
    let port = PORT.get(0).unwrap_or(0);
    if port == 0 || udp_port(&ctx) != Some(port) {
        return XdpAction::Pass;
    }
    COUNTS.add(0, 1);
    let action = SOCKETS.redirect(ctx.rx_queue_index(), XdpAction::Pass);
    if action == XdpAction::Redirect {
        COUNTS.add(1, 1);
    }
    action
}
// ANCHOR_END: xsk_program
