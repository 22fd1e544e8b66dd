//! Panics inside a function the compiler did not inline into the program
//! (`#[inline(never)]`): an `exit` there would only return from the
//! function, so these need `bpf_throw`, which the kernel allows in XDP
//! (Linux 6.7+) and refuses in raw tracepoints. The test loads one program
//! at a time.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    programs::{RawTracePointContext, XdpAction, XdpContext},
    raw_tracepoint, xdp,
};

iu_ebpf::license!("GPL");

#[inline(never)]
fn lookup(index: u64) -> u32 {
    let table = [1u32, 2, 3, 2];
    table[index as usize] // NESTED-PANIC
}

/// Byte 0 indexes the table: 0 drop, 2 tx, others pass; 4 and above
/// panic.
#[xdp(on_panic = "aborted")]
fn nested_xdp(ctx: XdpContext) -> XdpAction {
    match lookup(u64::from(ctx.read::<u8>(0).unwrap_or(0))) {
        1 => XdpAction::Drop,
        3 => XdpAction::Tx,
        _ => XdpAction::Pass,
    }
}

#[raw_tracepoint(name = "sys_enter")]
fn nested_raw_tp(ctx: RawTracePointContext) -> u32 {
    lookup(ctx.arg(1))
}
