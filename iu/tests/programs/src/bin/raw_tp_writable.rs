//! A writable raw tracepoint on `bpf_test_finish`: while armed, it makes
//! every BPF test run fail with the errno in `CONFIG[0]`, by writing the
//! run's result (`int *err`, the tracepoint's writable buffer).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    map,
    maps::Array,
    programs::{RawTracePointWritableContext, XdpAction, XdpContext},
    raw_tracepoint_writable, xdp,
};

iu_ebpf::license!("GPL");

/// 0: the errno to make test runs fail with (0: leave them).
#[map]
static CONFIG: Array<u32, 1> = Array::new();

/// 0: hits, 1: the last result seen before the write.
#[map]
static SEEN: Array<u64, 2> = Array::new();

#[raw_tracepoint_writable(name = "bpf_test_finish")]
fn finish(mut ctx: RawTracePointWritableContext) {
    SEEN.add(0, 1);
    let err: i32 = ctx.read_buffer(0);
    let _ = SEEN.set(1, &(err as i64 as u64));
    match CONFIG.get(0) {
        Some(errno) if errno != 0 => ctx.write_buffer(0, &-(errno as i32)),
        _ => {}
    }
}

/// A program to test-run.
#[xdp]
fn pass(_ctx: XdpContext) -> XdpAction {
    XdpAction::Pass
}
