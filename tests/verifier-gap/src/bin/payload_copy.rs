//! Copies a UDP payload of run-time length (at most 64 bytes) in one helper
//! call (`XdpContext::load_bytes`) and scans the copy: drops payloads with
//! three or more `!`. Counting over a run-time length, written as
//! `payload.iter().filter(..).count()`, makes the verifier walk every
//! (position, count) pair past its budget; `loops::for_range` checks the
//! body once.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::ops::ControlFlow;

use iu_ebpf::{
    loops,
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

/// Ethernet, IPv4 without options, UDP.
const PAYLOAD: usize = 14 + 20 + 8;

#[xdp]
fn payload_copy(ctx: XdpContext) -> XdpAction {
    let mut buf = [0u8; 64];
    let len = ctx.len().saturating_sub(PAYLOAD).min(buf.len());
    let Some(payload) = ctx.load_bytes(PAYLOAD, &mut buf[..len]) else {
        return XdpAction::Pass;
    };
    let mut bangs = 0u32;
    loops::for_range::<64, _>(payload.len() as u32, &mut bangs, |i, bangs| {
        if payload.get(i as usize) == Some(&b'!') {
            *bangs += 1;
        }
        ControlFlow::Continue(())
    });
    if bangs >= 3 {
        XdpAction::Drop
    } else {
        XdpAction::Pass
    }
}
