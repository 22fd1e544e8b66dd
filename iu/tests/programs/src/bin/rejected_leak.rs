//! A program the verifier rejects: it leaks a ring-buffer reservation
//! without naming `forget` (issue #21, item 5). The build does not scan
//! for leaks; the verifier's reference tracking refuses the compiled code.
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
fn rejected_leak(_ctx: XdpContext) -> XdpAction {
    if let Some(mut entry) = EVENTS.reserve::<u64>() {
        entry.write(7);
        let _ = core::mem::MaybeUninit::new(entry);
    }
    XdpAction::Pass
}
