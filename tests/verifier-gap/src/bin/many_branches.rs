//! A `match` over twenty destination ports with different decisions.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[xdp]
fn many_branches(ctx: XdpContext) -> XdpAction {
    let Some(port) = ctx.read::<[u8; 2]>(36) else {
        return XdpAction::Pass;
    };
    match u16::from_be_bytes(port) {
        22 | 23 | 25 | 110 | 143 => XdpAction::Drop,
        53 | 67 | 68 | 123 | 161 => XdpAction::Pass,
        80 | 443 | 8080 | 8443 => XdpAction::Pass,
        135..=139 | 445 => XdpAction::Drop,
        1024..=2047 => XdpAction::Aborted,
        _ => XdpAction::Pass,
    }
}
