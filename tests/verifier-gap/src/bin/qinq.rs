//! Skips up to two VLAN tags (802.1Q or 802.1ad), then drops ICMP.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[xdp]
fn qinq(ctx: XdpContext) -> XdpAction {
    let mut offset = 12;
    let mut ethertype = ctx.read::<[u8; 2]>(offset).map(u16::from_be_bytes);
    for _ in 0..2 {
        match ethertype {
            Some(0x8100 | 0x88a8) => {
                offset += 4;
                ethertype = ctx.read::<[u8; 2]>(offset).map(u16::from_be_bytes);
            }
            _ => break,
        }
    }
    if ethertype != Some(0x0800) {
        return XdpAction::Pass;
    }
    match ctx.read::<u8>(offset + 2 + 9) {
        Some(1) => XdpAction::Drop,
        _ => XdpAction::Pass,
    }
}
