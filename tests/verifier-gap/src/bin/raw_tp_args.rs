//! A raw tracepoint on `sys_enter` that counts the calls whose first
//! arguments match a watched pattern. How many arguments to compare comes
//! from user space; a slice compare (`==` on slices) does the work.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{map, maps::Array, programs::RawTracePointContext, raw_tracepoint};

iu_ebpf::license!("GPL");

/// 0: the syscall number to watch; 1: how many of its arguments to
/// compare with `PATTERN`.
#[map]
static CONFIG: Array<u64, 2> = Array::new();

/// The watched argument values.
#[map]
static PATTERN: Array<[u64; 2], 1> = Array::new();

/// 0: matching calls.
#[map]
static MATCHES: Array<u64, 1> = Array::new();

#[raw_tracepoint(name = "sys_enter")]
fn raw_tp_args(ctx: RawTracePointContext) -> u32 {
    // sys_enter's arguments: the registers, then the syscall number.
    let nr = ctx.arg(1);
    if Some(nr) != CONFIG.get(0) {
        return 0;
    }
    let compare = CONFIG.get(1).unwrap_or(0) as usize;
    let pattern = PATTERN.get(0).unwrap_or_default();
    let seen = [nr, ctx.arg(0)];
    if seen[..compare] == pattern[..compare] {
        MATCHES.add(0, 1);
        return 1;
    }
    0
}
