//! A sleepable fmod_ret program (`fmod_ret.s`): it may call helpers that
//! sleep, and replaces `bpf_modify_return_test`'s return value as the
//! non-sleepable kind does.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{fmod_ret, map, maps::Array, programs::BtfContext};

iu_ebpf::license!("GPL");

/// 0: calls seen; 1: the replacement return value (0: let it run).
#[map]
static STATE: Array<u64, 2> = Array::new();

#[fmod_ret(function = "bpf_modify_return_test", sleepable = "true")]
fn sleepy_modify_return(ctx: BtfContext) -> i32 {
    STATE.add(0, 1);
    if ctx.arg(0) == 1 {
        STATE.get(1).unwrap_or(0) as i32
    } else {
        0
    }
}
