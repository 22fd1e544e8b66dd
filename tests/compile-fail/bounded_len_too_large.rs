// A `BoundedLen` whose maximum passes the packet size limit: the verifier
// would refuse the packet pointer it is added to, so the build refuses it.
// expect: MASK * SCALE must be at most 0xffff
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

use iu_ebpf::programs::{BoundedLen, XdpAction, XdpContext};

#[iu_ebpf::xdp]
fn skip(ctx: XdpContext) -> XdpAction {
    let len = BoundedLen::<0xffff, 2>::new(ctx.read::<u16>(14).unwrap_or(0));
    match ctx.read::<u8>(len) {
        Some(_) => XdpAction::Pass,
        None => XdpAction::Drop,
    }
}
