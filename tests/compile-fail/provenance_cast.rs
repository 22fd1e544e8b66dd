// A stack address cast to an integer and stored in a map reaches user
// space: it defeats KASLR.
// expect: lossy_provenance_casts
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

use iu_ebpf::maps::Array;
use iu_ebpf::programs::{XdpAction, XdpContext};

#[iu_ebpf::map]
static LEAK: Array<u64, 1> = Array::new();

#[iu_ebpf::xdp]
fn leak(_ctx: XdpContext) -> XdpAction {
    let local = 1u64;
    let _ = LEAK.set(0, &(&local as *const u64 as u64));
    XdpAction::Pass
}
