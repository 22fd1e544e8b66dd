//! A program the verifier rejects: it can panic while it holds a ring-buffer
//! reservation, and `bpf_throw` may not leave a reservation behind. The
//! test checks that the error names this file's line, not the panic handler
//! it was inlined into.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    map,
    maps::RingBuf,
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[map]
static EVENTS: RingBuf<4096> = RingBuf::new();

#[xdp]
fn rejected_reservation(ctx: XdpContext) -> XdpAction {
    let Some(mut entry) = EVENTS.reserve::<u64>() else {
        return XdpAction::Pass;
    };
    let table = [1u64, 2, 3, 4];
    let index = ctx.read::<u8>(0).unwrap_or(0) as usize;
    entry.write(table[index]); // REJECTED-LINE
    entry.submit();
    XdpAction::Pass
}
