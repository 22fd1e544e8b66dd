//! A histogram of packet sizes in 64 buckets of 32 bytes, kept in one
//! 512-byte `Array` value and updated in place for every packet.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    map,
    maps::Array,
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[map]
static SIZES: Array<[u64; 64], 1> = Array::new();

#[xdp]
fn size_histogram(ctx: XdpContext) -> XdpAction {
    let bucket = (ctx.len() / 32).min(63);
    SIZES.add_at(0, bucket, 1);
    XdpAction::Pass
}
