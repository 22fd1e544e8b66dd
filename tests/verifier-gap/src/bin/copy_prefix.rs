//! Copies as many leading packet bytes as the packet has, up to 64, into a
//! map value: a length computed at run time drives the loop and the
//! indexing.
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

/// Slot 0: the copied bytes; slot 1: their count in the first 8 bytes.
#[map]
static PREFIX: Array<[u8; 64], 2> = Array::new();

#[xdp]
fn copy_prefix(ctx: XdpContext) -> XdpAction {
    let len = ctx.len().min(64);
    let mut bytes = [0u8; 64];
    for (i, byte) in bytes.iter_mut().enumerate().take(len) {
        match ctx.read::<u8>(i) {
            Some(b) => *byte = b,
            None => break,
        }
    }
    let mut count = [0u8; 64];
    count[..8].copy_from_slice(&(len as u64).to_le_bytes());
    let _ = PREFIX.set(0, &bytes);
    let _ = PREFIX.set(1, &count);
    XdpAction::Pass
}
