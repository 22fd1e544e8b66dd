//! An XDP program whose verdict comes from a global function that an
//! freplace program can replace while it runs (`iu/tests/freplace.rs`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{programs::XdpContext, replaceable, xdp};

iu_ebpf::license!("GPL");

/// `XDP_PASS` for every packet.
#[replaceable]
fn verdict(len: u32) -> u32 {
    // Not a constant: the verifier checks this function alone, and the
    // caller must not be able to fold its result.
    if len > u32::MAX - 1 { 1 } else { 2 }
}

#[xdp]
fn decide(ctx: XdpContext) -> u32 {
    verdict(ctx.len() as u32)
}
