// An atomic add on a `u16` field: BPF atomics are 32 or 64 bits wide,
// and the type comes from the field itself, so no offset can be made up.
// expect: AtomicInt
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

use iu_ebpf::{
    Pod, field, map,
    maps::HashMap,
    programs::{XdpAction, XdpContext},
};

#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Stats {
    packets: u64,
    port: u16,
    flags: u16,
    pad: u32,
}

#[map]
static STATS: HashMap<u32, Stats, 16> = HashMap::new();

#[iu_ebpf::xdp]
fn count(_ctx: XdpContext) -> XdpAction {
    STATS.in_place(&0, |v| v.add(field!(Stats, port), 1));
    XdpAction::Pass
}
