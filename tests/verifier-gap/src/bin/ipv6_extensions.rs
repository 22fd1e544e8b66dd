//! Walks up to four IPv6 extension headers (each says how long it is and
//! what follows) to find UDP, and drops UDP to port 53.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

const IPV6: usize = 14;

#[xdp]
fn ipv6_extensions(ctx: XdpContext) -> XdpAction {
    if ctx.read::<[u8; 2]>(12) != Some([0x86, 0xdd]) {
        return XdpAction::Pass;
    }
    let Some(mut next) = ctx.read::<u8>(IPV6 + 6) else {
        return XdpAction::Pass;
    };
    let mut offset = IPV6 + 40;
    for _ in 0..4 {
        // Hop-by-hop, routing, destination options.
        if !matches!(next, 0 | 43 | 60) {
            break;
        }
        let Some([following, length]) = ctx.read::<[u8; 2]>(offset) else {
            return XdpAction::Pass;
        };
        next = following;
        offset += (usize::from(length) + 1) * 8;
    }
    if next != 17 {
        return XdpAction::Pass;
    }
    match ctx.read::<[u8; 2]>(offset + 2) {
        Some(port) if u16::from_be_bytes(port) == 53 => XdpAction::Drop,
        _ => XdpAction::Pass,
    }
}
