// `core::ptr::hash` takes a reference (coerced to a pointer) and hands
// its address to the hasher: no cast and no `.addr()` in sight.
// expect: src/main.rs:28:
// expect: ptr::
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

use core::hash::Hasher;
use iu_ebpf::maps::Array;
use iu_ebpf::programs::{XdpAction, XdpContext};

#[iu_ebpf::map]
static LEAK: Array<u64, 1> = Array::new();

struct Keep(u64);
impl Hasher for Keep {
    fn finish(&self) -> u64 { self.0 }
    fn write(&mut self, _: &[u8]) {}
    fn write_usize(&mut self, i: usize) { self.0 = i as u64 }
}

#[iu_ebpf::xdp]
fn leak(_ctx: XdpContext) -> XdpAction {
    let local = 1u64;
    let mut keep = Keep(0);
    core::ptr::hash(&local, &mut keep);
    let _ = LEAK.set(0, &keep.finish());
    XdpAction::Pass
}
