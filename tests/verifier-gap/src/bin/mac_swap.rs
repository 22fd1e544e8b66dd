//! Swaps the Ethernet addresses and sends the packet back (`XDP_TX`):
//! packet writes after reads, bounds checked once per access.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[xdp]
fn mac_swap(mut ctx: XdpContext) -> XdpAction {
    let (Some(destination), Some(source)) = (ctx.read::<[u8; 6]>(0), ctx.read::<[u8; 6]>(6)) else {
        return XdpAction::Pass;
    };
    if ctx.write(0, source) && ctx.write(6, destination) {
        XdpAction::Tx
    } else {
        XdpAction::Aborted
    }
}
