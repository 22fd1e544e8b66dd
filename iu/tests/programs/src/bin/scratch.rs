//! `PerCpuScratch` slots must not outlive the program run that borrowed
//! them: not across a tail call, not through a leak. Each XDP program
//! returns `XDP_DROP` when it got the slot and `XDP_PASS` when it found it
//! busy.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    Pod, map,
    maps::{PerCpuScratch, ProgramArray},
    programs::{XdpAction, XdpContext},
    xdp,
};

iu_ebpf::license!("GPL");

#[derive(Clone, Copy, Pod)]
#[repr(C)]
struct Big {
    runs: u64,
    bytes: [u8; 1024],
}

#[map]
static SCRATCH: PerCpuScratch<Big> = PerCpuScratch::new();

#[map]
static NEXT: ProgramArray<1> = ProgramArray::new();

/// Uses the slot, then tail-calls slot 0 of `NEXT` (a tail call inside
/// the closure does not compile: see `PerCpuScratch::with`).
#[xdp]
fn scratch_tail_call(mut ctx: XdpContext) -> XdpAction {
    if SCRATCH.with(&ctx, |big| big.runs += 1).is_none() {
        return XdpAction::Pass;
    }
    NEXT.tail_call(&mut ctx, 0);
    XdpAction::Aborted
}

/// Leaks what a program can leak without naming `forget`: the reference
/// inside the closure, and a value holding it. The slot is released all
/// the same when the closure returns.
#[xdp]
fn scratch_leak(ctx: XdpContext) -> XdpAction {
    match SCRATCH.with(&ctx, |big| {
        big.runs += 1;
        let _ = core::mem::MaybeUninit::new(big);
    }) {
        Some(()) => XdpAction::Drop,
        None => XdpAction::Pass,
    }
}

/// Whether the slot is free: drop if it could be borrowed.
#[xdp]
fn scratch_probe(ctx: XdpContext) -> XdpAction {
    match SCRATCH.with(&ctx, |big| big.runs += 1) {
        Some(()) => XdpAction::Drop,
        None => XdpAction::Pass,
    }
}
