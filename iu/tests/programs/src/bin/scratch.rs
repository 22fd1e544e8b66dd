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

/// Borrows the slot and tail-calls slot 0 of `NEXT` while holding it.
#[xdp]
fn scratch_tail_call(ctx: XdpContext) -> XdpAction {
    let Some(mut big) = SCRATCH.borrow() else {
        return XdpAction::Pass;
    };
    big.runs += 1;
    NEXT.tail_call(&ctx, 0);
    XdpAction::Aborted
}

/// Borrows the slot and leaks the guard without naming `forget`.
#[xdp]
fn scratch_leak(_ctx: XdpContext) -> XdpAction {
    let _ = core::mem::MaybeUninit::new(SCRATCH.borrow());
    XdpAction::Drop
}

/// Whether the slot is free: drop if it could be borrowed.
#[xdp]
fn scratch_probe(_ctx: XdpContext) -> XdpAction {
    match SCRATCH.borrow() {
        Some(mut big) => {
            big.runs += 1;
            XdpAction::Drop
        }
        None => XdpAction::Pass,
    }
}
