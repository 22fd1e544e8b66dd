//! Samples the kernel and user stacks of running tasks on every CPU clock
//! tick and counts each (process, kernel stack, user stack).
//!
//! The programs and maps live in this library so that they can be tested on
//! the host with `cargo test`; `src/main.rs` turns them into the BPF object.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use iu_ebpf::{
    helpers, map,
    maps::{HashMap, StackTrace, USER_STACK},
    perf_event,
    programs::PerfEventContext,
};
use profile_common::StackKey;

iu_ebpf::license!("GPL");

/// The sampled stacks, by id.
#[map]
pub static STACKS: StackTrace<16384> = StackTrace::new();

/// Samples per (process, kernel stack, user stack).
#[map]
pub static COUNTS: HashMap<StackKey, u64, 16384> = HashMap::new();

#[perf_event]
pub fn profile(ctx: PerfEventContext) -> u32 {
    let pid = helpers::pid();
    if pid == 0 {
        // The idle task.
        return 0;
    }
    let key = StackKey {
        pid,
        kernel_stack: STACKS.get_stack_id(&ctx, 0).map_or(-1, |id| id as i32),
        user_stack: STACKS
            .get_stack_id(&ctx, USER_STACK)
            .map_or(-1, |id| id as i32),
    };
    let _ = COUNTS.add(&key, 1);
    0
}

#[cfg(test)]
mod tests;
