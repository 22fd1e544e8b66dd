//! fentry, fexit and BPF LSM programs for the process in `CONFIG[0]`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

#[path = "../generated/vmlinux.rs"]
#[allow(dead_code)]
mod vmlinux;

use iu_ebpf::{fentry, fexit, fmod_ret, helpers, lsm, map, maps::Array, programs::BtfContext};
use vmlinux::TaskStruct;

iu_ebpf::license!("GPL");

/// `EPERM`.
const EPERM: i32 = 1;

/// 0: the pid to watch; 1: 1 while `file_open` should be denied.
#[map]
static CONFIG: Array<u32, 2> = Array::new();

/// 0: fentry hits, 1: fexit's last return value (as i64), 2: denied
/// opens, 3 and 4: `bpf_fentry_test2`'s arguments, 5: its return value,
/// 6: `bpf_modify_return_test` calls skipped, 7 (set by the test): what
/// they return instead (0: run them), 8: the pid of the last task this
/// process made, 9: its parent's tgid.
#[map]
static SEEN: Array<u64, 10> = Array::new();

fn mine() -> bool {
    CONFIG.get(0) == Some(helpers::pid())
}

// ANCHOR: fentry_fexit
#[fentry(function = "do_unlinkat")]
fn enter_unlinkat(_ctx: BtfContext) -> u32 {
    if mine() {
        SEEN.add(0, 1);
    }
    0
}

#[fexit(function = "do_unlinkat")]
fn exit_unlinkat(ctx: BtfContext) -> u32 {
    if mine() {
        // `int do_unlinkat(int dfd, struct filename *name)`: two arguments,
        // then the return value.
        let ret = ctx.ret(2) as i32 as i64;
        let _ = SEEN.set(1, &(ret as u64));
    }
    0
}
// ANCHOR_END: fentry_fexit

// ANCHOR: lsm
#[lsm(hook = "file_open")]
fn file_open(_ctx: BtfContext) -> i32 {
    if mine() && CONFIG.get(1) == Some(1) {
        SEEN.add(2, 1);
        return -EPERM;
    }
    0
}
// ANCHOR_END: lsm

/// `u64 bpf_fentry_test2(int a, u64 b)`, which `BPF_PROG_TEST_RUN` of a
/// tracing program calls with (2, 3).
#[fexit(function = "bpf_fentry_test2")]
fn exit_fentry_test2(ctx: BtfContext) -> u32 {
    let _ = SEEN.set(3, &ctx.arg(0));
    let _ = SEEN.set(4, &ctx.arg(1));
    let _ = SEEN.set(5, &ctx.ret(2));
    0
}

/// `int bpf_modify_return_test(int a, int *b)`, which `BPF_PROG_TEST_RUN` of
/// an fmod_ret program calls with a = 1: skipped while `SEEN[7]` is not 0,
/// returning it.
#[fmod_ret(function = "bpf_modify_return_test")]
fn skip_modify_return_test(ctx: BtfContext) -> i32 {
    let replacement = SEEN.get(7).unwrap_or(0) as i32;
    if ctx.arg(0) == 1 && replacement != 0 {
        SEEN.add(6, 1);
        return replacement;
    }
    0
}

/// `void wake_up_new_task(struct task_struct *p)`: the new task as a
/// typed handle over a BTF pointer (direct loads).
#[fentry(function = "wake_up_new_task")]
fn new_task(ctx: BtfContext) -> u32 {
    if !mine() {
        return 0;
    }
    if let Some(task) = ctx.arg_ptr::<TaskStruct>(0) {
        let _ = SEEN.set(8, &(task.pid().unwrap_or(-1) as u64));
        let parent = task.real_parent().and_then(|p| p.tgid());
        let _ = SEEN.set(9, &(parent.unwrap_or(-1) as u64));
    }
    0
}
