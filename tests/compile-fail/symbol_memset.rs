// A program exported as `memset`: LLVM's zero-fill calls would resolve to
// the program's entry stub.
// expect: `memset` cannot be an exported symbol
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

use iu_ebpf::programs::{XdpAction, XdpContext};

#[iu_ebpf::xdp]
fn memset(_ctx: XdpContext) -> XdpAction {
    XdpAction::Pass
}
