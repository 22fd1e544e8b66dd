// A counter in a `static mut`: programs run on every CPU at once, so its
// updates race. Only `unsafe` can touch it, and program crates forbid it;
// the fix is a per-CPU map or an atomic add on a map value.
// expect: unsafe
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

use iu_ebpf::programs::{XdpAction, XdpContext};

static mut HITS: u64 = 0;

#[iu_ebpf::xdp]
fn count(_ctx: XdpContext) -> XdpAction {
    unsafe { HITS += 1 };
    XdpAction::Pass
}
