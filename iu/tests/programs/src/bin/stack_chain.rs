//! Two functions the compiler keeps apart, each with a 320-byte local,
//! called one from the other: each frame fits BPF's 512-byte stack, the
//! chain does not. iu must name each function of the chain, its frame and
//! the Rust line of each call (iu/tests/kernel.rs).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{helpers, programs::TracePointContext, tracepoint, tracepoints::syscalls::SysEnter};

iu_ebpf::license!("GPL");

/// Sums a buffer filled from `seed`, after `inner` did the same.
#[inline(never)]
fn outer(seed: u64) -> u64 {
    let mut buf = [0u64; 40];
    for (i, slot) in buf.iter_mut().enumerate() {
        *slot = seed ^ i as u64;
    }
    core::hint::black_box(&mut buf);
    buf.iter().sum::<u64>() + inner(seed) // OUTER-CALL-LINE
}

#[inline(never)]
fn inner(seed: u64) -> u64 {
    let mut buf = [0u64; 40];
    for (i, slot) in buf.iter_mut().enumerate() {
        *slot = seed.wrapping_mul(i as u64);
    }
    core::hint::black_box(&mut buf);
    buf.iter().sum()
}

#[tracepoint(category = "syscalls", name = "sys_enter_dup")]
fn stack_chain(_ctx: TracePointContext<SysEnter>) -> u32 {
    outer(helpers::ktime()) as u32 // ENTRY-CALL-LINE
}
