// A map of maps whose inner type is not a map iu can hold there: the
// template the loader builds would not match what programs use.
// expect: cannot be the inner map of a map of maps
#![no_std]
#![no_main]

use iu_ebpf::maps::{ArrayOfMaps, RingBuf};

iu_ebpf::license!("GPL");

#[iu_ebpf::map]
static RINGS: ArrayOfMaps<RingBuf<4096>, 1> = ArrayOfMaps::new();

#[iu_ebpf::xdp]
fn f(_ctx: iu_ebpf::programs::XdpContext) -> iu_ebpf::programs::XdpAction {
    let _ = RINGS.get(&0);
    iu_ebpf::programs::XdpAction::Pass
}
