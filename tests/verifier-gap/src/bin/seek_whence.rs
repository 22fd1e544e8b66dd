//! A tracepoint on `lseek` that keeps a histogram of the `whence`
//! argument (SEEK_SET, SEEK_CUR, SEEK_END, SEEK_DATA) in one map value,
//! indexed by the value from the tracepoint record.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    helpers, map, maps::Array, programs::TracePointContext, tracepoint,
    tracepoints::syscalls::SysEnter,
};

iu_ebpf::license!("GPL");

iu_ebpf::global!(
    /// The thread to watch.
    static TARGET_TID: u32 = 0
);

/// Calls per `whence`.
#[map]
static WHENCE: Array<[u64; 4], 1> = Array::new();

#[tracepoint(category = "syscalls", name = "sys_enter_lseek")]
fn seek_whence(ctx: TracePointContext<SysEnter>) -> u32 {
    if helpers::tid() != TARGET_TID.get() {
        return 0;
    }
    let whence = ctx.args().args[2];
    let mut counts = WHENCE.get(0).unwrap_or_default();
    counts[whence as usize] += 1;
    let _ = WHENCE.set(0, &counts);
    0
}
