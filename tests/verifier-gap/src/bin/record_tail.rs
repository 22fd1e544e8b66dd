//! Copies what follows a record's variable-length prefix: the first byte
//! of the packet says how many bytes to skip, and the rest of the 64-byte
//! record is copied to the front of an output buffer (a run-time length
//! for `copy_from_slice`).
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

/// Slot 0: the copied tail, zero-padded.
#[map]
static TAIL: Array<[u8; 64], 1> = Array::new();

/// Slot 0: how many bytes were copied.
#[map]
static TAIL_LEN: Array<u64, 1> = Array::new();

#[xdp]
fn record_tail(ctx: XdpContext) -> XdpAction {
    let Some(record) = ctx.read::<[u8; 64]>(0) else {
        return XdpAction::Pass;
    };
    let skip = usize::from(record[0]).min(64);
    let tail = &record[skip..];
    let mut out = [0u8; 64];
    out[..tail.len()].copy_from_slice(tail);
    let _ = TAIL.set(0, &out);
    let _ = TAIL_LEN.set(0, &(tail.len() as u64));
    XdpAction::Pass
}
