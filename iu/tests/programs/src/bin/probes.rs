//! kprobe, kretprobe, uprobe, uretprobe and raw tracepoint programs that
//! record what they see in `SEEN`, for the thread in `CONFIG[0]`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    helpers, kprobe, kretprobe, map,
    maps::Array,
    programs::{ProbeContext, RawTracePointContext},
    raw_tracepoint, uprobe, uretprobe,
};

iu_ebpf::license!("GPL");

/// x86-64's `getppid` syscall number.
const NR_GETPPID: u64 = 110;

#[map]
static CONFIG: Array<u32, 1> = Array::new();

/// 0: raw tracepoint hits, 1: kprobe hits, 2: kretprobe's last return
/// value, 3: uprobe hits, 4: uprobe's last argument, 5: uretprobe's last
/// return value.
#[map]
static SEEN: Array<u64, 6> = Array::new();

/// The test's own thread: the tests of one binary run in parallel threads
/// of one process, and each counts only its own calls.
fn mine() -> bool {
    CONFIG.get(0) == Some(helpers::tid())
}

#[raw_tracepoint(name = "sys_enter")]
fn raw_enter(ctx: RawTracePointContext) -> u32 {
    if mine() && ctx.arg(1) == NR_GETPPID {
        SEEN.add(0, 1);
    }
    0
}

#[kprobe(function = "__x64_sys_getppid")]
fn kprobe_getppid(_ctx: ProbeContext) -> u32 {
    if mine() {
        SEEN.add(1, 1);
    }
    0
}

#[kretprobe(function = "__x64_sys_getppid")]
fn kretprobe_getppid(ctx: ProbeContext) -> u32 {
    if mine() {
        let _ = SEEN.set(2, &ctx.ret());
    }
    0
}

#[uprobe]
fn uprobe_target(ctx: ProbeContext) -> u32 {
    if mine() {
        SEEN.add(3, 1);
        let _ = SEEN.set(4, &ctx.arg(0).unwrap_or(0));
    }
    0
}

#[uretprobe]
fn uretprobe_target(ctx: ProbeContext) -> u32 {
    if mine() {
        let _ = SEEN.set(5, &ctx.ret());
    }
    0
}
