//! Run-queue latency: how long tasks wait, runnable, before they get a CPU,
//! as a log2 histogram of microseconds (bcc's `runqlat`).
//!
//! A task is enqueued when it wakes up (`sched_wakeup`), when it is new
//! (`sched_wakeup_new`), or when it is switched out while still runnable
//! (`sched_switch` with `prev` in `TASK_RUNNING`); the time until
//! `sched_switch` picks it as `next` is its latency. All three are BTF
//! tracepoints (`#[tp_btf]`): the tasks are typed `task_struct` handles
//! whose fields are direct loads at offsets the loader relocates (CO-RE),
//! and the task's state is read as `__state` (Linux 5.14+) or `state`
//! (before), whichever the running kernel has. One object runs on every
//! kernel with BTF.
//!
//! The programs and maps live in this library so that they can be tested on
//! the host with `cargo test`; `src/main.rs` turns them into the BPF object.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use generated::vmlinux::TaskStruct;
use iu_ebpf::{
    field_exists, helpers,
    kernel::{self, BtfAddr, KernelType},
    map,
    maps::{Array, BPF_ANY, HashMap},
    programs::BtfContext,
    tp_btf,
};
use runqlat_common::{MAX_SLOTS, slot};

mod generated;

iu_ebpf::license!("GPL");

iu_ebpf::global!(
    /// Only the tasks of this process (tgid); 0: every task.
    static TARGET_TGID: u32 = 0
);

/// Thread id -> when it was enqueued (ns).
#[map]
pub static START: HashMap<u32, u64, 10240> = HashMap::new();

/// The histogram: slot `i` counts latencies of `[2^i, 2^(i+1))` µs.
#[map]
pub static HIST: Array<u64, MAX_SLOTS> = Array::new();

// ANCHOR: flavor
/// `task_struct` as kernels before 5.14 have it (`long state`): a flavor
/// whose relocations match `task_struct`.
#[derive(Clone, Copy)]
struct TaskStructOld(BtfAddr);

impl KernelType for TaskStructOld {
    const TYPE_NAME: &'static str = "task_struct___old";
    type Addr = BtfAddr;
    #[inline(always)]
    fn from_kernel_addr(addr: BtfAddr) -> Self {
        TaskStructOld(addr)
    }
    #[inline(always)]
    fn kernel_addr(self) -> BtfAddr {
        self.0
    }
}

/// `TASK_RUNNING`.
const TASK_RUNNING: u64 = 0;

/// The task's state, under the name the running kernel gives it: one of
/// the two reads is dead code for the verifier.
#[inline(always)]
fn state(task: TaskStruct<BtfAddr>) -> Option<u64> {
    if field_exists!(task_struct.__state) {
        task.__state().map(u64::from)
    } else {
        let old = kernel::cast::<_, TaskStructOld>(task);
        kernel::__read::<i64>(old.0, iu_ebpf::core_value!("o|task_struct___old|state|8|i"))
            .map(|s| s as u64)
    }
}
// ANCHOR_END: flavor

/// Notes when `task` became runnable.
#[inline(always)]
fn enqueue(task: TaskStruct<BtfAddr>) {
    let (Some(tgid), Some(pid)) = (task.tgid(), task.pid()) else {
        return;
    };
    // The idle task is never waiting.
    if pid == 0 {
        return;
    }
    let target = TARGET_TGID.get();
    if target != 0 && tgid as u32 != target {
        return;
    }
    let _ = START.insert(&(pid as u32), &helpers::ktime(), BPF_ANY);
}

/// `sched_wakeup(struct task_struct *p)`.
#[tp_btf(name = "sched_wakeup")]
pub fn sched_wakeup(ctx: BtfContext) -> u32 {
    if let Some(task) = ctx.arg_ptr::<TaskStruct>(0) {
        enqueue(task);
    }
    0
}

/// `sched_wakeup_new(struct task_struct *p)`.
#[tp_btf(name = "sched_wakeup_new")]
pub fn sched_wakeup_new(ctx: BtfContext) -> u32 {
    if let Some(task) = ctx.arg_ptr::<TaskStruct>(0) {
        enqueue(task);
    }
    0
}

// ANCHOR: sched_switch
/// `sched_switch(bool preempt, struct task_struct *prev, struct
/// task_struct *next, ...)`.
#[tp_btf(name = "sched_switch")]
pub fn sched_switch(ctx: BtfContext) -> u32 {
    if let Some(prev) = ctx.arg_ptr::<TaskStruct>(1) {
        // Preempted while runnable: it waits again from now.
        if state(prev) == Some(TASK_RUNNING) {
            enqueue(prev);
        }
    }
    let Some(pid) = ctx.arg_ptr::<TaskStruct>(2).and_then(|next| next.pid()) else {
        return 0;
    };
    let pid = pid as u32;
    let Some(start) = START.get(&pid) else {
        return 0;
    };
    let waited_us = helpers::ktime().saturating_sub(start) / 1000;
    HIST.add(slot(waited_us), 1);
    let _ = START.remove(&pid);
    0
}
// ANCHOR_END: sched_switch

#[cfg(test)]
mod tests;
