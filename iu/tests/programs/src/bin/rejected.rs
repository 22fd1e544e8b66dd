//! A program the verifier rejects: indexing with an unchecked value leaves a
//! panic path that the verifier refuses. The test checks that the error
//! carries the log and points at the Rust line below.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{programs::TracePointContext, tracepoint, tracepoints::syscalls::SysEnter};

iu_ebpf::license!("GPL");

#[tracepoint(category = "syscalls", name = "sys_enter_dup")]
fn rejected(ctx: TracePointContext<SysEnter>) -> u32 {
    let table = [1u32, 2, 3, 4];
    let index = ctx.args().args[0] as usize;
    table[index] // REJECTED-LINE
}
