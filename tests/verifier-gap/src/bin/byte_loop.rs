//! Visits every byte of a packet of up to 4 KiB in a `for_range` loop
//! (`bpf_loop`: the verifier checks the body once, not 4096 times) and
//! drops packets that are mostly zero bytes.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::ops::ControlFlow;

use iu_ebpf::{
    loops,
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[xdp]
fn byte_loop(ctx: XdpContext) -> XdpAction {
    let len = ctx.len() as u32;
    let mut zeros = 0u32;
    loops::for_range::<4096, _>(len, &mut zeros, |i, zeros| {
        match ctx.read::<u8>(i as usize) {
            Some(0) => *zeros += 1,
            Some(_) => {}
            None => return ControlFlow::Break(()),
        }
        ControlFlow::Continue(())
    });
    if zeros > len / 2 {
        XdpAction::Drop
    } else {
        XdpAction::Pass
    }
}
