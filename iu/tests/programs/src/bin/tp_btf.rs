//! BTF tracepoints (`#[tp_btf]`): pointer arguments and the current task
//! as typed handles that read with direct loads, relocated by CO-RE, for
//! the thread in `CONFIG[0]`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

#[path = "../generated/vmlinux.rs"]
#[allow(dead_code)]
mod vmlinux;

use iu_ebpf::{kernel::BtfAddr, map, maps::Array, programs::BtfContext, tp_btf};
use vmlinux::TaskStruct;

iu_ebpf::license!("GPL");

/// x86-64's `getppid` syscall number.
const NR_GETPPID: u64 = 110;

/// 0: the thread to watch.
#[map]
static CONFIG: Array<u32, 1> = Array::new();

/// 0: `sys_enter` hits for getppid, 1: the current task's tgid, 2: its
/// parent's tgid, 3: forks seen, 4: the child's pid, 5: its tgid, 6: its
/// parent's tgid, 7: the parent argument's pid.
#[map]
static SEEN: Array<u64, 8> = Array::new();

/// The parent's and the child's `comm` at the fork.
#[map]
static COMM: Array<[u8; 16], 2> = Array::new();

fn set(i: u32, v: Option<i32>) {
    let _ = SEEN.set(i, &(v.unwrap_or(-1) as u64));
}

fn mine(task: TaskStruct<BtfAddr>) -> bool {
    CONFIG
        .get(0)
        .is_some_and(|tid| task.pid() == Some(tid as i32))
}

/// `sys_enter(struct pt_regs *regs, long id)`.
#[tp_btf(name = "sys_enter")]
fn enter(ctx: BtfContext) -> u32 {
    let task = ctx.current_task::<TaskStruct>();
    if !mine(task) || ctx.arg(1) != NR_GETPPID {
        return 0;
    }
    SEEN.add(0, 1);
    set(1, task.tgid());
    set(2, task.real_parent().and_then(|p| p.tgid()));
    0
}

/// `sched_process_fork(struct task_struct *parent, struct task_struct *child)`.
#[tp_btf(name = "sched_process_fork")]
fn fork(ctx: BtfContext) -> u32 {
    let (Some(parent), Some(child)) = (ctx.arg_ptr::<TaskStruct>(0), ctx.arg_ptr::<TaskStruct>(1))
    else {
        return 0;
    };
    if !mine(parent) {
        return 0;
    }
    SEEN.add(3, 1);
    set(4, child.pid());
    set(5, child.tgid());
    set(6, child.real_parent().and_then(|p| p.tgid()));
    set(7, parent.pid());
    let _ = COMM.set(0, &parent.comm().unwrap_or([0; 16]));
    let _ = COMM.set(1, &child.comm().unwrap_or([0; 16]));
    0
}

/// A tracepoint no kernel has: loading it is a typed error (the tests
/// leave it out otherwise).
#[tp_btf(name = "iu_no_such_tracepoint")]
fn missing(_ctx: BtfContext) -> u32 {
    0
}
