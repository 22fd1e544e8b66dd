//! Makes `getppid()` return a chosen value in one chosen process, with a
//! kprobe and `bpf_override_return`, the counterpart of the original
//! system's `error_injector`.
//!
//! The programs and maps live in this library so that they can be tested on
//! the host with `cargo test`; `src/main.rs` turns them into the BPF object.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use iu_ebpf::{helpers, kprobe, map, maps::Array, programs::ProbeContext};

iu_ebpf::license!("GPL");

/// 0: the target process; 1: the value to return.
#[map]
pub static CONFIG: Array<u64, 2> = Array::new();

/// Calls overridden.
#[map]
pub static INJECTED: Array<u64, 1> = Array::new();

#[kprobe(function = "__x64_sys_getppid")]
pub fn error_injector(ctx: ProbeContext) -> u32 {
    if CONFIG.get(0) == Some(u64::from(helpers::pid())) {
        ctx.override_return(CONFIG.get(1).unwrap_or(0));
        INJECTED.add(0, 1);
    }
    0
}

#[cfg(test)]
mod tests;
