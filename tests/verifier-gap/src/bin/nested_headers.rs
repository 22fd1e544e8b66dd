//! Ethernet, an optional VLAN tag, IPv4, UDP, then the payload's first
//! byte: drops UDP payloads starting with `X`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[xdp]
fn nested_headers(ctx: XdpContext) -> XdpAction {
    let mut offset = 12;
    let Some(mut ethertype) = ctx.read::<[u8; 2]>(offset) else {
        return XdpAction::Pass;
    };
    if ethertype == [0x81, 0x00] {
        offset += 4;
        match ctx.read::<[u8; 2]>(offset) {
            Some(t) => ethertype = t,
            None => return XdpAction::Pass,
        }
    }
    if ethertype != [0x08, 0x00] {
        return XdpAction::Pass;
    }
    let ip = offset + 2;
    let Some([version_ihl, _]) = ctx.read::<[u8; 2]>(ip) else {
        return XdpAction::Pass;
    };
    if ctx.read::<u8>(ip + 9) != Some(17) {
        return XdpAction::Pass;
    }
    let udp = ip + usize::from(version_ihl & 0x0f) * 4;
    match ctx.read::<u8>(udp + 8) {
        Some(b'X') => XdpAction::Drop,
        _ => XdpAction::Pass,
    }
}
