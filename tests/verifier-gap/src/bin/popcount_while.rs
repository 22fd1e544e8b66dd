//! Counts the set bits of a packet word with a plain
//! `while x != 0 { x &= x - 1 }` and drops words with more than 16 set.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[xdp]
fn popcount_while(ctx: XdpContext) -> XdpAction {
    let Some(word) = ctx.read::<[u8; 4]>(14) else {
        return XdpAction::Pass;
    };
    let mut x = u32::from_be_bytes(word);
    let mut bits = 0;
    while x != 0 {
        x &= x - 1;
        bits += 1;
    }
    if bits > 16 {
        XdpAction::Drop
    } else {
        XdpAction::Pass
    }
}
