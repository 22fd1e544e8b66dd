// A per-CPU scratch value kept past `with`: another program on the same
// CPU could then use the same slot. The `&mut` cannot leave the closure.
// expect: borrowed data escapes outside of closure
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

use iu_ebpf::{
    map,
    maps::PerCpuScratch,
    programs::{XdpAction, XdpContext},
};

#[map]
static SCRATCH: PerCpuScratch<[u64; 8]> = PerCpuScratch::new();

#[iu_ebpf::xdp]
fn keep(ctx: XdpContext) -> XdpAction {
    let mut kept: Option<&mut [u64; 8]> = None;
    SCRATCH.with(&ctx, |buf| kept = Some(buf));
    if let Some(buf) = kept {
        buf[0] = 1;
    }
    XdpAction::Pass
}
