//! Sends one event per `execve` — pid, parent pid and command, uid, command
//! and path — through a ring buffer. The parent comes from the current
//! task's `real_parent`, read through CO-RE handles (`generated/`), so the
//! one object runs on every kernel with BTF.
//!
//! The programs and maps live in this library so that they can be tested on
//! the host with `cargo test`; `src/main.rs` turns them into the BPF object.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use execsnoop_common::{ExecEvent, FILENAME_LEN};
use generated::vmlinux::TaskStruct;
use iu_ebpf::{
    helpers, kernel, map,
    maps::{BPF_ANY, LruHashMap, RingBuf},
    programs::TracePointContext,
    tracepoint,
    tracepoints::sched::{ProcessExec, ProcessFork},
};

mod generated;

iu_ebpf::license!("GPL");

/// Child pid -> parent pid, learned from forks.
#[map]
pub static PARENTS: LruHashMap<u32, u32, 16384> = LruHashMap::new();

/// One `ExecEvent` per exec.
#[map]
pub static EVENTS: RingBuf<{ 256 * 1024 }> = RingBuf::new();

iu_ebpf::global!(
    /// Offset of `child_pid` in the `sched_process_fork` record: 20 since
    /// Linux 6.10, 44 before; user space reads it from the format file.
    static FORK_CHILD_PID: u32 = 20
);

#[tracepoint(category = "sched", name = "sched_process_fork")]
pub fn fork(ctx: TracePointContext<ProcessFork>) -> u32 {
    let child = ctx.read_at::<u32>(FORK_CHILD_PID.get() as usize);
    // The parent's process id, not the forking thread's.
    let _ = PARENTS.insert(&child, &helpers::pid(), BPF_ANY);
    0
}

// ANCHOR: exec
#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn execsnoop(ctx: TracePointContext<ProcessExec>) -> u32 {
    let args = ctx.args();
    let pid = args.pid as u32;
    let parent = kernel::current_task::<TaskStruct>().real_parent();
    let ppid = parent.and_then(|p| p.tgid()).map(|tgid| tgid as u32);
    let mut event = ExecEvent {
        pid,
        ppid: ppid.or_else(|| PARENTS.get(&pid)).unwrap_or(0),
        uid: helpers::uid_gid().0,
        _pad: 0,
        comm: helpers::comm(),
        parent_comm: parent.and_then(|p| p.comm()).unwrap_or([0; 16]),
        filename: [0; FILENAME_LEN],
    };
    ctx.read_str(args.filename, &mut event.filename);
    let _ = EVENTS.output(&event);
    0
}
// ANCHOR_END: exec

#[cfg(test)]
mod tests;
