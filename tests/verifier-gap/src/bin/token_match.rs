//! Drops packets that carry a blocked token: user space stores the token
//! (up to 32 bytes) and its length in a map, and the program compares that
//! many bytes at the start of the payload (slice equality of a run-time
//! length). Packets whose payload starts differently count as passed.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    Pod, map,
    maps::Array,
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Token {
    len: u32,
    bytes: [u8; 32],
}

#[map]
static BLOCKED: Array<Token, 1> = Array::new();

/// Slot 0: packets dropped; slot 1: packets compared and passed.
#[map]
static VERDICTS: Array<u64, 2> = Array::new();

#[xdp]
fn token_match(ctx: XdpContext) -> XdpAction {
    let Some(token) = BLOCKED.get(0) else {
        return XdpAction::Pass;
    };
    let Some(payload) = ctx.read::<[u8; 32]>(0) else {
        return XdpAction::Pass;
    };
    let len = (token.len as usize).min(32);
    if len == 0 {
        return XdpAction::Pass;
    }
    if payload[..len] != token.bytes[..len] {
        VERDICTS.add(1, 1);
        return XdpAction::Pass;
    }
    VERDICTS.add(0, 1);
    XdpAction::Drop
}
