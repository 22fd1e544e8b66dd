// A `BoundedLen` made from a plain run-time value, without its mask: it
// would skip the run-time offset check with a bound the verifier cannot
// see. Its field is private (and no conversion from `usize` exists:
// `bounded_len_into.rs`).
// expect: private field
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

use iu_ebpf::programs::{BoundedLen, XdpAction, XdpContext};

#[iu_ebpf::xdp]
fn skip(ctx: XdpContext) -> XdpAction {
    let n = usize::from(ctx.read::<u16>(14).unwrap_or(0));
    let a = BoundedLen::<0xff> { value: n };
    match ctx.read::<u8>(a) {
        Some(_) => XdpAction::Pass,
        None => XdpAction::Drop,
    }
}
