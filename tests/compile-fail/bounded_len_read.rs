// A `BoundedLen` read from the packet (or a map): its bytes would carry
// no bound at all. It is not `Pod`, so nothing can produce one from bytes.
// expect: the trait bound `BoundedLen<255>: Pod` is not satisfied
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

use iu_ebpf::programs::{BoundedLen, XdpAction, XdpContext};

#[iu_ebpf::xdp]
fn skip(ctx: XdpContext) -> XdpAction {
    let Some(len) = ctx.read::<BoundedLen<0xff>>(14) else {
        return XdpAction::Drop;
    };
    match ctx.read::<u8>(len) {
        Some(_) => XdpAction::Pass,
        None => XdpAction::Drop,
    }
}
