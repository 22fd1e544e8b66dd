//! Follows the Collatz sequence of a packet word with a plain `while`
//! until it reaches 1. Zero never gets there: for that input only the
//! kernel's loop budget ends the loop.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[xdp]
fn collatz(ctx: XdpContext) -> XdpAction {
    let Some(word) = ctx.read::<[u8; 4]>(14) else {
        return XdpAction::Pass;
    };
    let mut x = u32::from_be_bytes(word);
    while x != 1 {
        x = if x % 2 == 0 {
            x / 2
        } else {
            x.wrapping_mul(3).wrapping_add(1)
        };
    }
    XdpAction::Pass
}
