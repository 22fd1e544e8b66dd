//! A socket filter that drops UDP datagrams whose payload starts with `D`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{programs::SkBuffContext, socket_filter};

iu_ebpf::license!("GPL");

/// The UDP payload follows the 8-byte UDP header.
const PAYLOAD: usize = 8;

#[socket_filter]
fn drop_d(ctx: SkBuffContext) -> u32 {
    if ctx.read::<u8>(PAYLOAD) == Some(b'D') {
        0
    } else {
        u32::MAX
    }
}

/// Drops UDP datagrams with an `X` in their first 32 payload bytes, copied
/// with one `load_bytes` of the payload's run-time length.
#[socket_filter]
fn drop_x(ctx: SkBuffContext) -> u32 {
    let mut buf = [0u8; 32];
    let n = (ctx.len() as usize).saturating_sub(PAYLOAD).min(buf.len());
    let Some(payload) = ctx.load_bytes(PAYLOAD, &mut buf[..n]) else {
        return u32::MAX;
    };
    if payload.contains(&b'X') { 0 } else { u32::MAX }
}
