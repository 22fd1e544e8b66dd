//! Mixes 16-, 32- and 64-bit bounds: the IPv4 total length (u16) widened to
//! u32, minus the header length, compared with the packet length (usize),
//! then used as an offset to read the last byte of the payload.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

const IPV4: usize = 14;

#[xdp]
fn bounds_mixing(ctx: XdpContext) -> XdpAction {
    let (Some(version_ihl), Some(total)) = (ctx.read::<u8>(IPV4), ctx.read::<[u8; 2]>(IPV4 + 2))
    else {
        return XdpAction::Pass;
    };
    let header = u32::from(version_ihl & 0x0f) * 4;
    let total = u32::from(u16::from_be_bytes(total));
    let Some(payload) = total.checked_sub(header) else {
        return XdpAction::Drop;
    };
    // The IP datagram claims more bytes than the frame holds: truncated.
    if u64::from(total) > (ctx.len() as u64).saturating_sub(IPV4 as u64) {
        return XdpAction::Drop;
    }
    if payload == 0 {
        return XdpAction::Pass;
    }
    let last = IPV4 + header as usize + payload as usize - 1;
    match ctx.read::<u8>(last) {
        Some(0xff) => XdpAction::Drop,
        _ => XdpAction::Pass,
    }
}
