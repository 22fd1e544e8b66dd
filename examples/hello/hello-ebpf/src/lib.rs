//! Prints `Rust triggered from PID <pid> on CPU <cpu>.` to the trace pipe
//! each time a process calls `dup`.
//!
//! The programs and maps live in this library so that they can be tested on
//! the host with `cargo test`; `src/main.rs` turns them into the BPF object.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use iu_ebpf::{
    helpers, printk, programs::TracePointContext, tracepoint, tracepoints::syscalls::SysEnter,
};

iu_ebpf::license!("GPL");

#[tracepoint(category = "syscalls", name = "sys_enter_dup")]
pub fn hello(_ctx: TracePointContext<SysEnter>) -> u32 {
    printk!(
        "Rust triggered from PID {} on CPU {}.",
        helpers::pid(),
        helpers::cpu()
    );
    0
}

#[cfg(test)]
mod tests;
