//! Compares the IPv4 total length (16 bits, from the packet) with the
//! packet's length (64 bits): 32/64-bit bounds mixed. Drops packets whose
//! header claims more bytes than arrived.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[xdp]
fn length_bounds(ctx: XdpContext) -> XdpAction {
    let Some(total) = ctx.read::<[u8; 2]>(16) else {
        return XdpAction::Pass;
    };
    let claimed = u64::from(u16::from_be_bytes(total)) + 14;
    if claimed > ctx.len() as u64 {
        XdpAction::Drop
    } else {
        XdpAction::Pass
    }
}
