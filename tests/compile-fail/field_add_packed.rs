// An atomic add on a misaligned field of a packed value: refused when the
// program is compiled (the kernel refuses misaligned atomics). `field!`
// borrows the field in its type-only closure, which Rust refuses for a
// packed field of alignment above 1; a `Field` built by hand would be
// refused by its `ATOMIC` check ("not an aligned u32/u64").
// expect: reference to field of packed struct is unaligned
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

use iu_ebpf::{
    Pod, field, map,
    maps::Array,
    programs::{XdpAction, XdpContext},
};

#[derive(Clone, Copy, Pod)]
#[repr(C, packed)]
struct Stats {
    kind: u8,
    bytes: u64,
}

#[map]
static STATS: Array<Stats, 1> = Array::new();

#[iu_ebpf::xdp]
fn count(_ctx: XdpContext) -> XdpAction {
    STATS.in_place(0, |v| v.add(field!(Stats, bytes), 1));
    XdpAction::Pass
}
