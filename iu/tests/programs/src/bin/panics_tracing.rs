//! A panic in every program type that is not XDP or tc (those are in
//! `panics.rs`): each program indexes a table of four with a value the
//! test chooses, so 4 and above panic. The panic leaves the program with
//! its `on_panic` value (an `exit` from the program's own frame, which
//! every program type and kernel allows) and counts in `IU_ABORTS`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use iu_ebpf::{
    cgroup_skb, helpers, kprobe, kretprobe, map,
    maps::Array,
    perf_event,
    programs::{
        CgroupAction, PerfEventContext, ProbeContext, RawTracePointContext, SkBuffContext,
        SyscallContext,
    },
    raw_tracepoint, socket_filter, syscall, uprobe, uretprobe,
};

iu_ebpf::license!("GPL");

/// 0: the thread the probes look at; 1: the index the probes and the
/// perf_event program use (4 and above panic).
#[map]
static CONFIG: Array<u32, 2> = Array::new();

/// 0: kprobe runs, 1: kretprobe runs, 2: perf_event runs, 3: uprobe runs,
/// 4: uretprobe runs, that did not panic.
#[map]
static RAN: Array<u64, 5> = Array::new();

const TABLE: [u32; 4] = [10, 20, 30, 40];

fn mine() -> bool {
    CONFIG.get(0) == Some(helpers::tid())
}

fn chosen() -> usize {
    CONFIG.get(1).unwrap_or(0) as usize
}

/// Returns `TABLE[args[1]]`: `BPF_PROG_TEST_RUN` passes the arguments.
#[raw_tracepoint(name = "sys_enter")]
fn raw_tp_index(ctx: RawTracePointContext) -> u32 {
    let index = ctx.arg(1) as usize;
    TABLE[index]
}

#[kprobe(function = "__x64_sys_getppid")]
fn kprobe_index(_ctx: ProbeContext) -> u32 {
    if mine() {
        let value = TABLE[chosen()];
        RAN.add(0, 1);
        return value & 0;
    }
    0
}

#[kretprobe(function = "__x64_sys_getppid")]
fn kretprobe_index(_ctx: ProbeContext) -> u32 {
    if mine() {
        let value = TABLE[chosen()];
        RAN.add(1, 1);
        return value & 0;
    }
    0
}

#[perf_event]
fn perf_event_index(_ctx: PerfEventContext) -> u32 {
    if CONFIG.get(0) == Some(helpers::pid()) {
        let value = TABLE[chosen()];
        RAN.add(2, 1);
        return value & 0;
    }
    0
}

/// The uprobe's first argument is the index.
#[uprobe]
fn uprobe_index(ctx: ProbeContext) -> u32 {
    if mine() {
        let value = TABLE[ctx.arg(0).unwrap_or(0) as usize];
        RAN.add(3, 1);
        return value & 0;
    }
    0
}

/// The probed function returns its argument: the index.
#[uretprobe]
fn uretprobe_index(ctx: ProbeContext) -> u32 {
    if mine() {
        let value = TABLE[ctx.ret() as usize];
        RAN.add(4, 1);
        return value & 0;
    }
    0
}

/// The first byte after the Ethernet header picks an entry of the table:
/// above 25 denies; on a panic, deny.
#[cgroup_skb(attach = "egress", on_panic = "deny")]
fn cgroup_skb_index(ctx: SkBuffContext) -> CgroupAction {
    if TABLE[usize::from(ctx.read::<u8>(0).unwrap_or(0))] > 25 {
        CgroupAction::Deny
    } else {
        CgroupAction::Allow
    }
}

/// Keeps `TABLE[byte]` bytes; on a panic, the default: keep everything.
#[socket_filter]
fn socket_filter_index(ctx: SkBuffContext) -> u32 {
    TABLE[usize::from(ctx.read::<u8>(0).unwrap_or(0))]
}

/// Returns `TABLE[args[0]]`; on a panic, 0.
#[syscall]
fn syscall_index(ctx: SyscallContext<[u64; 2]>) -> i32 {
    TABLE[ctx.args()[0] as usize] as i32
}
