// `.addr()`, which the compiler's message suggests instead of a cast, is
// not caught by `lossy_provenance_casts`.
// expect: src/main.rs:18:
// expect: .addr()
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

use iu_ebpf::maps::Array;
use iu_ebpf::programs::{XdpAction, XdpContext};

#[iu_ebpf::map]
static LEAK: Array<u64, 1> = Array::new();

#[iu_ebpf::xdp]
fn leak(_ctx: XdpContext) -> XdpAction {
    let local = 1u64; let address = core::ptr::from_ref(&local).addr() as u64;
    let _ = LEAK.set(0, &address);
    XdpAction::Pass
}
