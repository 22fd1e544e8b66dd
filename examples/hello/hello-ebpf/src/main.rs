//! Prints `Rust triggered from PID <pid> on CPU <cpu>.` to the trace pipe
//! each time a process calls `dup`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    helpers, printk, programs::TracePointContext, tracepoint, tracepoints::syscalls::SysEnter,
};

iu_ebpf::license!("GPL");

#[tracepoint(category = "syscalls", name = "sys_enter_dup")]
fn hello(_ctx: TracePointContext<SysEnter>) -> u32 {
    printk!(
        "Rust triggered from PID {} on CPU {}.",
        helpers::pid(),
        helpers::cpu()
    );
    0
}
