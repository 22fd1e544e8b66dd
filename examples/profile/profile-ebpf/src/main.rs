//! Samples the kernel and user stacks of running tasks on every CPU clock
//! tick and counts each (process, kernel stack, user stack).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    helpers, map,
    maps::{HashMap, StackTrace, USER_STACK},
    perf_event,
    programs::PerfEventContext,
};
use profile_common::StackKey;

iu_ebpf::license!("GPL");

#[map]
static STACKS: StackTrace<16384> = StackTrace::new();

#[map]
static COUNTS: HashMap<StackKey, u64, 16384> = HashMap::new();

#[perf_event]
fn profile(ctx: PerfEventContext) -> u32 {
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
