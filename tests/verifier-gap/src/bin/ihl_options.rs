//! Skips IPv4 options (a header length read from the packet) to reach the
//! UDP destination port: a variable packet offset. Drops DNS (port 53).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[xdp]
fn ihl_options(ctx: XdpContext) -> XdpAction {
    let Some(version_ihl) = ctx.read::<u8>(14) else {
        return XdpAction::Pass;
    };
    let header_len = usize::from(version_ihl & 0x0f) * 4;
    match ctx.read::<[u8; 2]>(14 + header_len + 2) {
        Some(port) if u16::from_be_bytes(port) == 53 => XdpAction::Drop,
        _ => XdpAction::Pass,
    }
}
