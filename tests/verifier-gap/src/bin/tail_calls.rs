//! Dispatches on the IP protocol through a program array: a tail call per
//! protocol, falling back to pass when the slot is empty.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    map,
    maps::ProgramArray,
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[map]
static BY_PROTOCOL: ProgramArray<256> = ProgramArray::new();

#[xdp]
fn tail_calls(mut ctx: XdpContext) -> XdpAction {
    if let Some(protocol) = ctx.read::<u8>(23) {
        BY_PROTOCOL.tail_call(&mut ctx, u32::from(protocol));
    }
    XdpAction::Pass
}

/// Installed for UDP (17).
#[xdp]
fn drop_udp(_ctx: XdpContext) -> XdpAction {
    XdpAction::Drop
}
