//! A program the verifier rejects: a loop that waits for a condition that
//! nothing bounds, so the verifier cannot prove it ends (the fix is
//! `iu_ebpf::loops`). The test checks that the error carries the log and
//! points at the Rust line below.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{helpers, programs::TracePointContext, tracepoint, tracepoints::syscalls::SysEnter};

iu_ebpf::license!("GPL");

#[tracepoint(category = "syscalls", name = "sys_enter_dup")]
fn rejected(_ctx: TracePointContext<SysEnter>) -> u32 {
    // Spin until the clock reaches a multiple of 1024 ns.
    while helpers::ktime() % 1024 != 0 {} // REJECTED-LINE
    0
}
