//! A task iterator: one record per task (pid, tgid, comm), read from user
//! space through the iterator's link.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

#[path = "../generated/vmlinux.rs"]
#[allow(dead_code)]
mod vmlinux;

use iu_ebpf::{Pod, iter, programs::IterTaskContext};
use vmlinux::TaskStruct;

iu_ebpf::license!("GPL");

/// One task.
#[repr(C)]
#[derive(Clone, Copy, Pod)]
pub struct Task {
    pid: i32,
    tgid: i32,
    comm: [u8; 16],
}

#[iter(task)]
fn tasks(mut ctx: IterTaskContext) {
    let Some(task) = ctx.task::<TaskStruct>() else {
        return;
    };
    let record = Task {
        pid: task.pid().unwrap_or(-1),
        tgid: task.tgid().unwrap_or(-1),
        comm: task.comm().unwrap_or([0; 16]),
    };
    let _ = ctx.write(&record);
}
