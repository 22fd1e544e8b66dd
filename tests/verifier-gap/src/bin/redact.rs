//! Masks a secret before a packet's first bytes are kept for debugging:
//! the first byte of the packet says how long the secret that follows
//! it is, and those bytes are overwritten with `*` (a run-time length for
//! `fill`).
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

/// Slot 0: the packet's first 48 bytes after the length byte, secret masked.
#[map]
static KEPT: Array<[u8; 48], 1> = Array::new();

#[xdp]
fn redact(ctx: XdpContext) -> XdpAction {
    let Some(len) = ctx.read::<u8>(0) else {
        return XdpAction::Pass;
    };
    let Some(mut bytes) = ctx.read::<[u8; 48]>(1) else {
        return XdpAction::Pass;
    };
    let secret = usize::from(len).min(bytes.len());
    bytes[..secret].fill(b'*');
    let _ = KEPT.set(0, &bytes);
    XdpAction::Pass
}
