// A `BoundedLen` made from a plain run-time value, without its mask: it
// would skip the run-time offset check with a bound the verifier cannot
// see. No conversion from `usize` exists (nor a public field:
// `bounded_len_from_usize.rs`).
// expect: the trait bound `BoundedLen<255>: From<usize>` is not satisfied
#![no_std]
#![no_main]

iu_ebpf::license!("GPL");

use iu_ebpf::programs::{BoundedLen, XdpAction, XdpContext};

#[iu_ebpf::xdp]
fn skip(ctx: XdpContext) -> XdpAction {
    let n = usize::from(ctx.read::<u16>(14).unwrap_or(0));
    let b: BoundedLen<0xff> = n.into();
    match ctx.read::<u8>(b) {
        Some(_) => XdpAction::Pass,
        None => XdpAction::Drop,
    }
}
