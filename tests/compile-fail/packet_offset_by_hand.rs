// A type of the program's own claiming a bound: `PacketOffset` is sealed,
// so only `usize`, `BoundedLen` and `Offset` are offsets.
// expect: cannot find trait `Parts`
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

use iu_ebpf::programs::{PacketOffset, XdpAction, XdpContext};

#[derive(Clone, Copy)]
struct Mine(usize);

impl iu_ebpf::programs::Parts for Mine {}
impl PacketOffset for Mine {}

#[iu_ebpf::xdp]
fn skip(ctx: XdpContext) -> XdpAction {
    match ctx.read::<u8>(Mine(usize::from(ctx.read::<u16>(14).unwrap_or(0)))) {
        Some(_) => XdpAction::Pass,
        None => XdpAction::Drop,
    }
}
